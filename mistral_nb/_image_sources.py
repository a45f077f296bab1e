"""Read what the user passes as an image and decode it, with errors that say what to do.

:func:`read_source` turns each kind of input (a path, bytes, a binary file object, a PIL
image, an ipywidgets ``FileUpload`` entry, a base64 data URL) into a :class:`Source`: its
bytes or image plus the names messages use. :func:`decode_to_rgb` opens it with Pillow and
hands it to :func:`._image_pixels.to_upright_rgb`, turning Pillow's errors into an
:class:`ImageError` that tells "not an image" from "damaged" from "too large".

The engine never imports ipywidgets or IPython: an ipywidgets 8 ``FileUpload.value`` entry
is recognised by its shape (a mapping with ``name``, ``type`` and ``content``).
"""

from __future__ import annotations

import base64
import binascii
import io
import mimetypes
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from ._errors import ImageError
from ._files import read_regular_file
from ._image_pixels import DECODE_ERRORS, to_upright_rgb

__all__ = ["SUPPORTED_FORMATS", "Source", "decode_to_rgb", "read_source"]

SUPPORTED_FORMATS = frozenset(
    {"AVIF", "BMP", "DIB", "GIF", "HEIF", "ICO", "JPEG", "MPO", "PNG", "TIFF", "WEBP"}
)
"""Pillow format names we convert. Pillow reads more (PSD, TGA, EPS, ...), but those are
rare in a chat, some run external programs (EPS runs Ghostscript), and a short list keeps
the parsers we expose to untrusted uploads few. HEIF needs the pillow-heif plugin."""

_SEND = "send PNG, JPEG, WebP, GIF, BMP or TIFF"
_BASE64_IMAGE_STARTS = ("iVBORw0KGgo", "/9j/", "R0lGOD", "UklGR")  # PNG, JPEG, GIF, WebP
_MAGIC = (  # signatures of formats we read, to tell "damaged" from "not an image"
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


@dataclass
class Source:
    """What we know of an input before decoding: its bytes (or PIL image) and its names."""

    kind: str  # "path", "bytes", "file object", "upload", "data URL", "PIL image"
    data: bytes = b""
    image: Image.Image | None = None
    name: str | None = None
    mime: str | None = None  # as declared by an upload or a data URL

    def label(self, sniffed: str | None = None) -> str:
        """How messages name this input: ``notes.txt (text/plain)``."""
        what = self.name or (
            f"the {len(self.data):,} bytes given" if self.kind == "bytes" else f"the {self.kind}"
        )
        guessed = mimetypes.guess_type(self.name)[0] if self.name else None
        mime = self.mime or sniffed or guessed
        return f"{what} ({mime})" if mime else what


# -- reading sources -------------------------------------------------------------------


def read_source(src: Any) -> Source:
    """Read ``src`` into a :class:`Source`, or say why it cannot be an image."""
    if isinstance(src, Image.Image):
        filename = getattr(src, "filename", None)
        return Source("PIL image", image=src, name=_basename(filename))
    if isinstance(src, (bytes, bytearray, memoryview)):
        return Source("bytes", data=bytes(src))
    if isinstance(src, str) and src[:5].lower() == "data:":
        return _from_data_url(src)
    if isinstance(src, str) and re.match(r"(?i)https?://", src):
        raise ImageError(
            f"{_shorten(src)} is a URL; mistral_nb does not download images: "
            "download it and pass the file's path or bytes"
        )
    if isinstance(src, (str, os.PathLike)):
        return _from_path(src)
    if isinstance(src, Mapping):
        return _from_upload(src)
    if hasattr(src, "read"):
        return _from_file_object(src)
    hint = ""
    if hasattr(src, "__array_interface__"):
        hint = " (for an array, pass PIL.Image.fromarray(array))"
    raise ImageError(
        f"cannot read an image from a {type(src).__name__}{hint}; pass a path, bytes, a "
        "binary file object, a PIL image, a FileUpload value entry or a data: URL"
    )


# Photos are read whole before they are downscaled: a cap keeps /dev/zero-like input
# from filling memory.  Far above the 10 MB Mistral takes per image once prepared.
MAX_INPUT_BYTES = 200_000_000


def _from_path(src: str | os.PathLike[Any]) -> Source:
    path = os.fspath(src)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    name = os.path.basename(path)
    if not os.path.exists(path):
        where = "" if os.path.isabs(path) else f" (relative to {os.getcwd()})"
        hint = ""
        if path.startswith(_BASE64_IMAGE_STARTS) or (
            len(path) > 200 and re.fullmatch(r"[A-Za-z0-9+/=\s]+", path)
        ):
            hint = " it looks like base64 data: pass base64.b64decode(text) or a data: URL;"
        raise ImageError(
            f"{_shorten(path)} does not exist{where};{hint} pass the path of an image file, "
            "its bytes, a file object or a PIL image"
        )
    if os.path.isdir(path):
        raise ImageError(f"{path} is a directory; pass the path of an image file in it")
    def check(info: os.stat_result) -> None:
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(
                f"{_shorten(path)} is not a regular file (a device, a pipe or a socket); "
                "pass the path of an image file"
            )
        if info.st_size > MAX_INPUT_BYTES:
            raise _too_big(path, info.st_size)

    try:
        data = read_regular_file(path, limit=MAX_INPUT_BYTES, check=check)
    except OSError as exc:
        raise ImageError(f"{path} cannot be read ({exc.strerror or exc}); check it") from exc
    if len(data) > MAX_INPUT_BYTES:  # it grew while we read it
        raise _too_big(path, len(data))
    return Source("path", data=data, name=name)


def _too_big(what: str, size: int) -> ImageError:
    return ImageError(
        f"{_shorten(what)} is {size / 1e6:,.0f} MB; images over {MAX_INPUT_BYTES / 1e6:.0f} MB "
        "are not read (Mistral takes at most 10 MB per image): save a smaller copy first"
    )


def _from_upload(entry: Mapping[Any, Any]) -> Source:
    content = entry.get("content")
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise ImageError(
            f"the mapping given has no bytes under 'content' (keys: {sorted(map(str, entry))}); "
            "pass one FileUpload value entry, e.g. upload.value[0]"
        )
    name = entry.get("name")
    mime = entry.get("type")
    return Source(
        "upload",
        data=bytes(content),
        name=str(name) if name else None,
        mime=str(mime) if mime else None,
    )


def _from_file_object(fh: Any) -> Source:
    name = _basename(getattr(fh, "name", None))
    try:
        data = fh.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise ImageError(f"{name or 'the file object'} cannot be read ({exc})") from exc
    if isinstance(data, str):
        raise ImageError(f"{name or 'the file object'} was opened in text mode; open it with 'rb'")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(
            f"{name or 'the file object'}.read() returned a {type(data).__name__}, not bytes"
        )
    if len(data) > MAX_INPUT_BYTES:
        raise _too_big(name or "the file object", len(data))
    return Source("file object", data=bytes(data), name=name)


def _from_data_url(url: str) -> Source:
    header, comma, payload = url.partition(",")
    mime = header[5:].split(";")[0].strip().lower() or None
    if not comma or not header.lower().endswith(";base64"):
        raise ImageError(
            f"{_shorten(url)} is not a base64 data URL; pass 'data:image/png;base64,...'"
        )
    try:
        data = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"the data URL's payload is not valid base64 ({exc})") from exc
    return Source("data URL", data=data, mime=mime)


# -- decoding --------------------------------------------------------------------------


def decode_to_rgb(source: Source, max_side: int) -> tuple[Image.Image, str, str, tuple[int, int]]:
    """Decode ``source`` to an upright RGB image fitting ``max_side``.

    Returns the image, the source format, the source mode and the displayed source size.
    """
    if source.image is not None:
        im = source.image
        fmt, mode = im.format or "PIL.Image", im.mode
        try:
            rgb, shown = to_upright_rgb(im, max_side, own=False)
        except DECODE_ERRORS as exc:
            raise ImageError(f"{source.label()} cannot be converted ({exc})") from exc
        return rgb, fmt, mode, shown
    if not source.data:
        who = source.name or ("the data given" if source.kind == "bytes" else f"the {source.kind}")
        raise ImageError(f"{who} is empty (0 bytes); {_SEND}")
    try:
        im = Image.open(io.BytesIO(source.data))
    except UnidentifiedImageError as exc:
        raise _not_an_image(source) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb(source, exc) from exc
    except DECODE_ERRORS as exc:
        raise _damaged(source, exc) from exc
    with im:
        if im.format not in SUPPORTED_FORMATS:
            raise ImageError(
                f"{source.label()} is a {im.format} image, which mistral_nb does not convert; "
                f"{_SEND}"
            )
        fmt, mode = im.format, im.mode
        try:
            rgb, shown = to_upright_rgb(im, max_side, own=True)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _bomb(source, exc) from exc
        except DECODE_ERRORS as exc:
            raise _damaged(source, exc) from exc
    return rgb, fmt, mode, shown


# -- messages --------------------------------------------------------------------------


def _not_an_image(source: Source) -> ImageError:
    head = source.data[:512]
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return ImageError(
                f"{source.label()} starts like a {fmt} file but cannot be read; it is probably "
                "truncated or damaged: export or download it again"
            )
    sniffed = _sniff(head)
    if sniffed == "image/svg+xml":
        return ImageError(
            f"{source.label(sniffed)} is a vector image; rasterise it first "
            "(e.g. cairosvg.svg2png) and send the PNG"
        )
    if sniffed == "image/heic":
        return ImageError(
            f"{source.label(sniffed)} is a HEIC/HEIF photo, which Pillow reads only with the "
            "pillow-heif plugin: pip install pillow-heif and call "
            "pillow_heif.register_heif_opener(), or export it as JPEG"
        )
    return ImageError(f"{source.label(sniffed)} is not an image; {_SEND}")


def _damaged(source: Source, exc: BaseException) -> ImageError:
    return ImageError(
        f"{source.label()} cannot be decoded ({exc}); it is probably truncated or damaged: "
        "export or download it again"
    )


def _bomb(source: Source, exc: BaseException) -> ImageError:
    return ImageError(
        f"{source.label()} is too large to decode safely ({exc}); if you trust it, raise "
        "PIL.Image.MAX_IMAGE_PIXELS, or downscale it with another tool first"
    )


def _sniff(head: bytes) -> str | None:
    """A MIME type for common non-images, from their first bytes."""
    if head.startswith(b"%PDF"):
        return "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    if head[4:8] == b"ftyp" and head[8:12] in {b"heic", b"heix", b"heim", b"heis", b"mif1"}:
        return "image/heic"
    if b"<svg" in head.lower():
        return "image/svg+xml"
    if head and all(b >= 32 or b in b"\t\n\r\f" for b in head.rstrip(b"\x00")):
        return "text/plain"
    return None


def _basename(name: Any) -> str | None:
    if isinstance(name, (str, os.PathLike)) and str(name):
        return os.path.basename(os.fspath(name)) or None
    return None


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
