"""LocalMistral's ``/v1/files``: upload, list, retrieve, download and delete, in memory.

What the ``mistralai`` SDK's ``client.files`` calls, with the bodies its models read
(``CreateFileResponse``, ``GetFileResponse``, ``ListFilesResponse``): a multipart upload
with ``file`` and ``purpose``, the bytes back from ``/content``.  Batch jobs keep their
output and error files here too.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from ._wire import dumps, error_body

__all__ = ["FileStore", "StoredFile", "file_routes"]

_PURPOSES = ("fine-tune", "batch", "ocr")
_MAX_BYTES = 512 * 1024 * 1024  # Mistral's limit per file


@dataclass
class StoredFile:
    """One file: its bytes and what ``GET /v1/files/{id}`` says of it."""

    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int
    sample_type: str = "batch_request"
    source: str = "upload"
    deleted: bool = False

    def to_json(self, *, with_deleted: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "sample_type": self.sample_type,
            "source": self.source,
            "num_lines": self.content.count(b"\n") + (not self.content.endswith(b"\n")),
            "mimetype": "application/jsonl",
            "signature": None,
        }
        if with_deleted:
            body["deleted"] = self.deleted
        return body


class FileStore:
    """The files of one LocalMistral (thread-safe: the server's loop and job tasks)."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._lock = threading.Lock()

    def add(
        self, filename: str, content: bytes, purpose: str, sample_type: str, source: str
    ) -> StoredFile:
        stored = StoredFile(
            id=str(uuid.uuid4()),
            filename=filename,
            purpose=purpose,
            content=content,
            created_at=int(time.time()),
            sample_type=sample_type,
            source=source,
        )
        with self._lock:
            self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        with self._lock:
            found = self._files.get(file_id)
        return found if found is not None and not found.deleted else None

    def all(self) -> list[StoredFile]:
        with self._lock:
            return [f for f in self._files.values() if not f.deleted]


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, body=dumps(body).encode(), content_type="application/json")


def _not_found(file_id: str) -> web.Response:
    return _json(404, error_body(f"File {file_id} not found", "not_found", "3310", 404))


def file_routes(store: FileStore, authorized: Any, unauthorized: Any) -> list[web.RouteDef]:
    """The ``/v1/files`` routes; ``authorized(request)`` checks the bearer token."""

    async def upload(request: web.Request) -> web.Response:
        if not authorized(request):
            return unauthorized()
        if not request.content_type.startswith("multipart/"):
            return _json(422, _detail("body", "a multipart/form-data upload with a file field"))
        reader = await request.multipart()
        filename, content, purpose = None, None, "fine-tune"
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue  # a nested multipart: not what the SDK sends
            if part.name == "file":
                filename = part.filename or "upload.jsonl"
                content = bytes(await part.read(decode=False))
                if len(content) > _MAX_BYTES:
                    return _json(
                        413,
                        error_body(
                            "File too large (512 MB at most)", "invalid_request_error", None, 413
                        ),
                    )
            elif part.name == "purpose":
                purpose = (await part.text()).strip()
            else:
                await part.release()
        if content is None or filename is None:
            return _json(422, _detail("file", "Field required"))
        if purpose not in _PURPOSES:
            return _json(422, _detail("purpose", f"Input should be one of {_PURPOSES}"))
        stored = store.add(filename, content, purpose, "batch_request", "upload")
        return _json(200, stored.to_json())

    async def listing(request: web.Request) -> web.Response:
        if not authorized(request):
            return unauthorized()
        files = [f.to_json() for f in store.all()]
        return _json(200, {"data": files, "object": "list", "total": len(files)})

    async def retrieve(request: web.Request) -> web.Response:
        if not authorized(request):
            return unauthorized()
        stored = store.get(request.match_info["file_id"])
        if stored is None:
            return _not_found(request.match_info["file_id"])
        return _json(200, stored.to_json(with_deleted=True))

    async def content(request: web.Request) -> web.Response:
        if not authorized(request):
            return unauthorized()
        stored = store.get(request.match_info["file_id"])
        if stored is None:
            return _not_found(request.match_info["file_id"])
        return web.Response(body=stored.content, content_type="application/octet-stream")

    async def delete(request: web.Request) -> web.Response:
        if not authorized(request):
            return unauthorized()
        stored = store.get(request.match_info["file_id"])
        if stored is None:
            return _not_found(request.match_info["file_id"])
        stored.deleted = True
        return _json(200, {"id": stored.id, "object": "file", "deleted": True})

    return [
        web.post("/v1/files", upload),
        web.get("/v1/files", listing),
        web.get("/v1/files/{file_id}", retrieve),
        web.get("/v1/files/{file_id}/content", content),
        web.delete("/v1/files/{file_id}", delete),
    ]


def _detail(field: str, message: str) -> dict[str, Any]:
    return {
        "object": "error",
        "message": {"detail": [{"type": "value_error", "loc": ["body", field], "msg": message}]},
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
