"""Read a PDF from what the user passes, checking the size before reading the bytes.

:func:`read_document` takes a path, bytes, a binary file object, an ipywidgets 8
``FileUpload`` value entry (recognised by its shape: the engine never imports ipywidgets)
or a ``data:application/pdf;base64,...`` URL, and returns the bytes and the file's own
name. A path must be a regular file: a directory, FIFO, socket or device is refused from
``stat`` alone. Nothing larger than :data:`MAX_DOCUMENT_BYTES` is read: the size an upload
or ``fstat`` declares is checked first, and a file object is never read past the limit.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from collections.abc import Mapping
from typing import Any

from ._errors import DocumentError
from ._files import read_regular_file

__all__ = ["MAX_DOCUMENT_BYTES", "check_size", "read_document", "shorten"]

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
"""Mistral's size limit for one document (its Document QnA FAQ), read as 50 x 1024 x 1024."""

_MB = 1024 * 1024
_FIX_SIZE = "compress it, or split it (e.g. with pypdf's PdfWriter) and send the parts in turn"


def read_document(source: Any) -> tuple[bytes, str | None]:
    """The bytes of ``source`` and its own file name (None when it has none).

    Raises:
        DocumentError: ``source`` cannot be read, is not a regular file, or is too large.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        check_size("the bytes given", memoryview(source).nbytes)
        return bytes(source), None
    if isinstance(source, str) and source[:5].lower() == "data:":
        return _from_data_url(source), None
    if isinstance(source, str) and re.match(r"(?i)(https?|ftp)://", source):
        raise DocumentError(
            f"{shorten(source)} is a URL; mistral_nb does not download documents: download "
            "the PDF and pass its path or bytes"
        )
    if isinstance(source, (str, os.PathLike)):
        return _from_path(source)
    if isinstance(source, Mapping):
        return _from_upload(source)
    if hasattr(source, "read"):
        return _from_file_object(source)
    raise DocumentError(
        f"cannot read a document from a {type(source).__name__}; pass a PDF's path, its "
        "bytes, a binary file object, a FileUpload value entry or a data:application/pdf URL"
    )


def _from_path(source: str | os.PathLike[Any]) -> tuple[bytes, str]:
    path = os.fsdecode(os.fspath(source))
    name = os.path.basename(path) or path
    try:
        data = read_regular_file(
            path, limit=MAX_DOCUMENT_BYTES, check=lambda info: _check_regular(path, name, info)
        )
    except FileNotFoundError:
        where = "" if os.path.isabs(path) else f" (relative to {os.getcwd()})"
        raise DocumentError(
            f"{shorten(path)} does not exist{where}; pass the path of a PDF file, or its bytes"
        ) from None
    except OSError as exc:
        raise DocumentError(f"{path} cannot be read ({exc.strerror or exc}); check it") from exc
    check_size(name, len(data))  # the file grew while it was read
    return data, name


def _from_upload(entry: Mapping[Any, Any]) -> tuple[bytes, str | None]:
    raw_name = entry.get("name")
    name = str(raw_name) if raw_name else None
    content = entry.get("content")
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise DocumentError(
            f"the mapping given has no bytes under 'content' (keys: {sorted(map(str, entry))});"
            " pass one FileUpload value entry, e.g. upload.value[0]"
        )
    declared = entry.get("size")
    if isinstance(declared, int) and not isinstance(declared, bool):
        check_size(name or "the upload", declared)
    check_size(name or "the upload", memoryview(content).nbytes)
    return bytes(content), name


def _from_file_object(fh: Any) -> tuple[bytes, str | None]:
    raw_name = getattr(fh, "name", None)
    name = os.path.basename(os.fsdecode(raw_name)) if isinstance(raw_name, (str, bytes)) else None
    who = name or "the file object"
    try:
        data = fh.read(MAX_DOCUMENT_BYTES + 1)  # never more than the limit and one byte
    except OSError as exc:
        raise DocumentError(f"{who} cannot be read ({exc})") from exc
    if isinstance(data, str):
        raise DocumentError(f"{who} was opened in text mode; open it with 'rb'")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DocumentError(f"{who}.read() returned a {type(data).__name__}, not bytes")
    check_size(who, len(data))
    return bytes(data), name


def _from_data_url(url: str) -> bytes:
    header, comma, payload = url.partition(",")
    mime = header[5:].split(";")[0].strip().lower()
    if not comma or not header.lower().endswith(";base64"):
        raise DocumentError(
            f"{shorten(url)} is not a base64 data URL; pass 'data:application/pdf;base64,...'"
        )
    if mime and mime != "application/pdf":
        raise DocumentError(
            f"the data URL holds {mime}, not application/pdf; send a PDF"
            + (" (pass an image as images=[...])" if mime.startswith("image/") else "")
        )
    check_size("the data URL", len(payload) * 3 // 4)  # before decoding it
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DocumentError(f"the data URL's payload is not valid base64 ({exc})") from exc


# -- checks -----------------------------------------------------------------------------


def check_size(label: str, size: int) -> None:
    """Refuse ``size`` bytes over Mistral's limit, naming ``label`` and the fix."""
    if size > MAX_DOCUMENT_BYTES:
        raise DocumentError(
            f"{label} is {size / _MB:,.1f} MB; Mistral takes documents of at most "
            f"{MAX_DOCUMENT_BYTES // _MB} MB: {_FIX_SIZE}"
        )


def _check_regular(path: str, name: str, info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise DocumentError(f"{path} is a directory; pass the path of a PDF file in it")
    if not stat.S_ISREG(info.st_mode):
        raise DocumentError(
            f"{path} is not a regular file (a {_file_kind(info.st_mode)}); pass the path of a "
            "PDF file"
        )
    check_size(name, info.st_size)


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters for a message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
