"""LocalMistral's batch service: ``/v1/batch/jobs`` create, get, list and cancel.

A job reads its input (uploaded JSONL files, or inline ``requests``), then runs in the
background on the server's loop: each line's ``body`` (with the job's ``model`` when it
names none) goes to the server's own ``POST /v1/chat/completions``, so batch answers
come from the same validation, replies and faults as any chat request (and show in
``server.requests``).  The counts move as lines finish; the output file is written in
an order of its own, as Mistral's is (a third-party report says the order is
arbitrary), and a failed line's ``error`` is a bare string, as Mistral sometimes sends.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from ._files import FileStore, file_routes
from ._wire import dumps, error_body

__all__ = ["JobStore", "add_batch_routes"]

_ENDPOINTS = ("/v1/chat/completions",)
_RUNNING_AT_ONCE = 4  # lines of one job in flight together
_DONE = ("SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED")


@dataclass
class Job:
    """One batch job and its counts (what ``GET /v1/batch/jobs/{id}`` answers)."""

    id: str
    input_files: list[str]
    endpoint: str
    model: str | None
    metadata: dict[str, Any] | None
    lines: list[Any]
    created_at: int
    status: str = "QUEUED"
    started_at: int | None = None
    completed_at: int | None = None
    completed: int = 0
    succeeded: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    output_file: str | None = None
    error_file: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def to_json(self, *, inline: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "input_files": self.input_files,
            "metadata": self.metadata,
            "endpoint": self.endpoint,
            "model": self.model,
            "agent_id": None,
            "output_file": self.output_file,
            "error_file": self.error_file,
            "errors": self.errors,
            "status": self.status,
            "created_at": self.created_at,
            "total_requests": len(self.lines),
            "completed_requests": self.completed,
            "succeeded_requests": self.succeeded,
            "failed_requests": self.failed,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }
        if inline:
            body["outputs"] = list(self.outputs)
        return body


class JobStore:
    """The batch jobs of one LocalMistral."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, body=dumps(body).encode(), content_type="application/json")


def _bad(message: str, status: int = 400) -> web.Response:
    return _json(status, error_body(message, "invalid_request_error", "3000", status))


def _read_lines(files: FileStore, file_ids: list[str]) -> list[Any] | str:
    lines: list[Any] = []
    for file_id in file_ids:
        stored = files.get(file_id)
        if stored is None:
            return f"Input file {file_id} not found"
        for number, raw in enumerate(stored.content.decode("utf-8", "replace").splitlines(), 1):
            if not raw.strip():
                continue
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"_invalid": f"line {number} of {stored.filename} is not JSON"})
    return lines


def add_batch_routes(app: web.Application, handlers: Any) -> None:
    """Register ``/v1/files`` and ``/v1/batch/jobs`` on ``app`` (before the catch-all)."""
    files, jobs = FileStore(), JobStore()
    authorized, unauthorized = handlers.authorized, handlers.unauthorized
    app.router.add_routes(file_routes(files, authorized, unauthorized))

    async def create(request: web.Request) -> web.Response:
        if not authorized(request):
            return unauthorized()
        try:
            body = await request.json()
        except ValueError:
            return _bad("The body is not JSON", 422)
        if not isinstance(body, dict):
            return _bad("The body is not a JSON object", 422)
        endpoint = body.get("endpoint")
        if endpoint not in _ENDPOINTS:
            return _bad(f"Unsupported endpoint {endpoint!r}: LocalMistral batches {_ENDPOINTS}")
        input_files = body.get("input_files") or []
        inline = body.get("requests")
        if bool(input_files) == bool(inline):
            return _bad("Give input_files or requests (one of them)")
        lines = list(inline) if inline else _read_lines(files, list(input_files))
        if isinstance(lines, str):
            return _bad(lines, 404)
        job = Job(
            id=str(uuid.uuid4()),
            input_files=list(input_files),
            endpoint=endpoint,
            model=body.get("model"),
            metadata=body.get("metadata"),
            lines=lines,
            created_at=int(time.time()),
        )
        with jobs.lock:
            jobs.jobs[job.id] = job
        origin = f"{request.scheme}://{request.host}"
        # Kept on the task only, never in a job body or a log: the token the job's own
        # chat requests carry, so that a key-checking LocalMistral accepts them.
        auth = request.headers.get("Authorization", "")
        job.task = asyncio.ensure_future(_run(job, files, origin, auth))
        return _json(200, job.to_json())

    def find(request: web.Request) -> Job | None:
        with jobs.lock:
            return jobs.jobs.get(request.match_info["job_id"])

    async def get(request: web.Request) -> web.Response:
        if not authorized(request):
            return unauthorized()
        job = find(request)
        if job is None:
            return _bad(f"Batch job {request.match_info['job_id']} not found", 404)
        inline = request.query.get("inline", "").lower() == "true"
        return _json(200, job.to_json(inline=inline))

    async def listing(request: web.Request) -> web.Response:
        if not authorized(request):
            return unauthorized()
        with jobs.lock:
            found = sorted(jobs.jobs.values(), key=lambda j: j.created_at, reverse=True)
        status = request.query.getall("status", [])
        data = [j.to_json() for j in found if not status or j.status in status]
        return _json(200, {"data": data, "object": "list", "total": len(data)})

    async def cancel(request: web.Request) -> web.Response:
        if not authorized(request):
            return unauthorized()
        job = find(request)
        if job is None:
            return _bad(f"Batch job {request.match_info['job_id']} not found", 404)
        if job.status not in _DONE:
            job.status = "CANCELLATION_REQUESTED"
            if job.task is not None:
                job.task.cancel()
        return _json(200, job.to_json())

    app.router.add_post("/v1/batch/jobs", create)
    app.router.add_get("/v1/batch/jobs", listing)
    app.router.add_get("/v1/batch/jobs/{job_id}", get)
    app.router.add_post("/v1/batch/jobs/{job_id}/cancel", cancel)

    async def stop_jobs(_: web.Application) -> None:
        with jobs.lock:
            tasks = [j.task for j in jobs.jobs.values() if j.task is not None and not j.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    app.on_shutdown.append(stop_jobs)


async def _run(job: Job, files: FileStore, origin: str, auth: str) -> None:
    job.status, job.started_at = "RUNNING", int(time.time())
    results: list[dict[str, Any]] = []
    slots = asyncio.Semaphore(_RUNNING_AT_ONCE)
    timeout = aiohttp.ClientTimeout(total=600)
    try:
        async with aiohttp.ClientSession(origin, timeout=timeout) as client:

            async def one(line: Any) -> None:
                async with slots:
                    result = await _answer(client, job, line, auth)
                results.append(result)
                job.completed += 1
                if result["response"] is not None and result["response"]["status_code"] == 200:
                    job.succeeded += 1
                else:
                    job.failed += 1

            await asyncio.gather(*(one(line) for line in job.lines))
        job.status = "SUCCESS" if job.succeeded or not job.lines else "FAILED"
    except asyncio.CancelledError:
        job.status = "CANCELLED"
    finally:
        job.completed_at = int(time.time())
        _write_results(job, files, results)


async def _answer(client: aiohttp.ClientSession, job: Job, line: Any, auth: str) -> dict[str, Any]:
    custom_id = line.get("custom_id") if isinstance(line, dict) else None
    result: dict[str, Any] = {
        "id": f"batch-{uuid.uuid4().hex[:8]}",
        "custom_id": custom_id,
        "response": None,
        "error": None,
    }
    body = line.get("body") if isinstance(line, dict) else None
    if not isinstance(body, dict):
        result["error"] = line.get("_invalid") if isinstance(line, dict) else None
        result["error"] = result["error"] or "the line has no 'body' object"
        return result
    body = {**body, "stream": False}
    if "model" not in body and job.model:
        body["model"] = job.model
    try:
        async with client.post(
            job.endpoint,
            data=dumps(body),
            headers={"Authorization": auth, "Content-Type": "application/json"},
        ) as response:
            text = await response.text()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        result["error"] = f"the request failed: {type(exc).__name__}"
        return result
    try:
        answer: Any = json.loads(text)
    except ValueError:
        answer = text
    result["response"] = {"status_code": status, "body": answer}
    if status != 200:
        # Mistral sometimes gives the error as a bare string, not an object.
        message = answer.get("message") if isinstance(answer, dict) else answer
        result["error"] = str(message)
    return result


def _write_results(job: Job, files: FileStore, results: list[dict[str, Any]]) -> None:
    random.Random(job.id).shuffle(results)  # Mistral's output is in no particular order
    job.outputs = results
    ok = [r for r in results if r["error"] is None]
    failed = [r for r in results if r["error"] is not None]
    if ok or not failed:
        content = "".join(dumps(r) + "\n" for r in ok + failed).encode()
        job.output_file = files.add(
            f"{job.id}.jsonl", content, "batch", "batch_result", "mistral"
        ).id
    if failed:
        content = "".join(dumps(r) + "\n" for r in failed).encode()
        job.error_file = files.add(
            f"{job.id}_error.jsonl", content, "batch", "batch_error", "mistral"
        ).id
        job.errors = [{"message": f"{len(failed)} request(s) failed", "count": len(failed)}]
