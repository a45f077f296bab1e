"""Turn what the user has (a path, bytes, a PIL image, an upload) into a JPEG Mistral accepts.

Everything goes out as a baseline RGB JPEG whose longest side is at most ``max_side``:
EXIF orientation applied, transparency flattened onto white, 16-bit, CMYK, palette and
grayscale converted, an embedded ICC profile converted to sRGB, the first frame of an
animation, never upscaled, no metadata (no EXIF, no GPS) carried over. Big JPEGs are
decoded at a reduced scale (Pillow's ``draft``) and then resized with Lanczos, so a 12 MP
photo takes tens of milliseconds, not hundreds.

Limits (Mistral's vision docs): PNG, JPEG, WebP and single-frame GIF; at most 10 MB per
image and :data:`MAX_IMAGES_PER_REQUEST` images per request; an error above
:data:`MAX_DIMENSION` px a side. Images bigger than the model's maximum are downscaled by
the service (1540 px for Small/Medium 3.x, 1024 px for Pixtral), so sending more is waste.

Sources: Mistral's side limit applies to what it receives. We always downscale to
``max_side`` (itself at most :data:`MAX_DIMENSION`), so a 12000 x 300 panorama is fine to
send. What we refuse is a source beyond Pillow's decompression-bomb limit
(``PIL.Image.MAX_IMAGE_PIXELS``, ~89 megapixels by default): such a file could exhaust
memory before we get to resize it. Raise that Pillow setting to accept bigger photos you trust.

The engine never imports ipywidgets or IPython: an ipywidgets 8 ``FileUpload.value`` entry
is recognised by its shape (a mapping with ``name``, ``type`` and ``content``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import io
import math
import mimetypes
import os
import re
import struct
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image, UnidentifiedImageError

from ._errors import ImageError

try:  # Pillow can be built without littlecms; then colours are converted without profiles.
    from PIL import ImageCms
except ImportError:  # pragma: no cover - every wheel on PyPI ships littlecms
    ImageCms = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_SIDE",
    "DEFAULT_QUALITY",
    "MAX_DIMENSION",
    "MAX_IMAGES_PER_REQUEST",
    "MIN_QUALITY",
    "PIXTRAL_MAX_SIDE",
    "SUPPORTED_FORMATS",
    "PreparedImage",
    "estimate_image_tokens",
    "max_side_for",
    "prepare_image",
    "prepare_images",
    "to_base64_jpeg",
]

DEFAULT_MAX_SIDE = 1540
"""Longest side sent by default: Mistral Small/Medium 3.x downscale anything larger to
1540 px on the server, so more pixels only cost upload bytes and time."""

PIXTRAL_MAX_SIDE = 1024
"""Pixtral's server-side cap; :func:`max_side_for` returns it for Pixtral models."""

DEFAULT_QUALITY = 85
"""JPEG quality: the knee of libjpeg's size/quality curve. Text and edges stay clean for
the model; a 1540 px photo comes to a few hundred kB (quality 95 nearly doubles that)."""

MIN_QUALITY = 40
"""The lowest quality the ``max_bytes`` search goes to. Below ~40 JPEG blocking and ringing
blur small text; fewer pixels (a lower ``max_side``) is then the better trade."""

DEFAULT_MAX_BYTES = 10_000_000
"""Mistral's documented per-image limit is 10 MB (one page says 20 MB; we keep the strict
figure, counted in decimal megabytes so either reading of "MB" is satisfied). It bounds the
JPEG bytes, before base64 (which adds a third)."""

MAX_IMAGES_PER_REQUEST = 8
"""Mistral accepts at most 8 images in one request."""

MAX_DIMENSION = 10_000
"""Mistral rejects images above 10000 x 10000; ``max_side`` may not exceed it."""

SUPPORTED_FORMATS = frozenset(
    {"AVIF", "BMP", "DIB", "GIF", "HEIF", "ICO", "JPEG", "MPO", "PNG", "TIFF", "WEBP"}
)
"""Pillow format names we convert. Pillow reads more (PSD, TGA, EPS, ...), but those are
rare in a chat, some run external programs (EPS runs Ghostscript), and a short list keeps
the parsers we expose to untrusted uploads few. HEIF needs the pillow-heif plugin."""

_SEND = "send PNG, JPEG, WebP, GIF, BMP or TIFF"
_WHITE = (255, 255, 255)
_REDUCING_GAP = 3.0  # resize() first reduces by an integer factor to within 3x, then Lanczos
_THUMBNAIL_SIDE = 256
_WARNINGS_LOCK = threading.Lock()
_BASE64_IMAGE_STARTS = ("iVBORw0KGgo", "/9j/", "R0lGOD", "UklGR")  # PNG, JPEG, GIF, WebP
_PIXTRAL_PATCH = 16  # Pixtral: 16 px patches, one token each
_MISTRAL3_PATCH = 28  # Small/Medium 3.x: 14 px patches merged 2 x 2
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    MemoryError,
    NotImplementedError,
    OverflowError,
)  # what Pillow raises on damaged files
_TRANSPOSE = {  # EXIF orientation -> the transpose that shows the image upright
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_MAGIC = (  # signatures of formats we read, to tell "damaged" from "not an image"
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


@dataclass(frozen=True)
class PreparedImage:
    """One image ready to send: a baseline RGB JPEG and where it came from.

    Attributes:
        jpeg: The JPEG bytes that go over the wire.
        width: Width of the JPEG, in pixels.
        height: Height of the JPEG, in pixels.
        original_width: Width of the source as displayed (after EXIF orientation).
        original_height: Height of the source as displayed.
        source_format: Pillow's name for the source format ("PNG", "JPEG", ...), or
            "PIL.Image" for an in-memory image.
        source_name: The file name, when one is known.
        source_mode: Pillow's mode of the source ("RGBA", "P", "I;16", "CMYK", ...).
        quality: The JPEG quality used (lower than asked when ``max_bytes`` forced it).
        n_bytes: ``len(jpeg)``.
        sha256: Hex SHA-256 of ``jpeg``, to match the image in logs.
        notes: Warnings Pillow raised while decoding (a corrupt EXIF block, an ICC profile
            that could not be applied); the image was still converted.
    """

    jpeg: bytes = field(repr=False)
    width: int
    height: int
    original_width: int
    original_height: int
    source_format: str
    source_name: str | None
    source_mode: str
    quality: int
    n_bytes: int
    sha256: str
    notes: tuple[str, ...] = ()

    @property
    def base64(self) -> str:
        """The JPEG as plain base64 text (no ``data:`` prefix)."""
        return base64.b64encode(self.jpeg).decode("ascii")

    @property
    def data_url(self) -> str:
        """The JPEG as a ``data:image/jpeg;base64,...`` URL, the form Mistral's API takes."""
        return "data:image/jpeg;base64," + self.base64

    def to_chunk(self) -> dict[str, Any]:
        """The content chunk for a user message: ``{"type": "image_url", "image_url": {...}}``."""
        return {"type": "image_url", "image_url": {"url": self.data_url}}

    def estimated_tokens(self, model: str | None = None) -> int:
        """Prompt tokens this image costs on ``model`` (see :func:`estimate_image_tokens`)."""
        return estimate_image_tokens(self.width, self.height, model)

    def to_log(self) -> dict[str, Any]:
        """Everything but the pixels, for a turn log."""
        return {
            "source_format": self.source_format,
            "source_name": self.source_name,
            "source_mode": self.source_mode,
            "original_width": self.original_width,
            "original_height": self.original_height,
            "width": self.width,
            "height": self.height,
            "n_bytes": self.n_bytes,
            "sha256": self.sha256,
            "quality": self.quality,
            "notes": list(self.notes),
        }

    def _repr_html_(self) -> str:
        with Image.open(io.BytesIO(self.jpeg)) as im:
            im.draft("RGB", (_THUMBNAIL_SIDE, _THUMBNAIL_SIDE))
            im.thumbnail((_THUMBNAIL_SIDE, _THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=75)
        thumb = base64.b64encode(buf.getvalue()).decode("ascii")
        caption = (
            f"{self.source_name or 'image'}: {self.source_format} "
            f"{self.original_width}x{self.original_height} -> JPEG {self.width}x{self.height}, "
            f"{self.n_bytes / 1000:,.0f} kB, quality {self.quality}, "
            f"~{self.estimated_tokens():,} tokens"
        )
        return (
            f'<figure style="margin:0"><img src="data:image/jpeg;base64,{thumb}" '
            f'alt="{html.escape(self.source_name or "image")}"/>'
            f'<figcaption style="font-size:smaller">{html.escape(caption)}</figcaption></figure>'
        )


def max_side_for(model: str | None) -> int:
    """The longest side the service keeps for ``model``: 1024 for Pixtral, else 1540."""
    return PIXTRAL_MAX_SIDE if _is_pixtral(model) else DEFAULT_MAX_SIDE


def estimate_image_tokens(width: int, height: int, model: str | None = None) -> int:
    """Prompt tokens an image of ``width`` x ``height`` costs, as mistral-common counts them.

    The service first fits the image in the model's box (:func:`max_side_for`), then cuts
    it into square patches: 16 px for Pixtral (about W*H/256 tokens), 28 px for the other
    vision models (14 px patches merged 2 x 2, about W*H/784). Each row of patches ends
    with one break token: ``tokens = (ceil(w/p) + 1) * ceil(h/p)``. A model name counts as
    Pixtral when it contains "pixtral"; ``None`` means a Small/Medium 3.x model.
    """
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ImageError(f"{name}={value!r} is not a size in pixels; pass a positive int")
    patch = _PIXTRAL_PATCH if _is_pixtral(model) else _MISTRAL3_PATCH
    w, h = _fit((width, height), max_side_for(model))
    return (math.ceil(w / patch) + 1) * math.ceil(h / patch)


def to_base64_jpeg(
    src: Any,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    quality: int = DEFAULT_QUALITY,
    max_bytes: int | None = None,
) -> str:
    """Convert ``src`` to a JPEG and return it as plain base64 text (no ``data:`` prefix).

    Takes the same sources and options as :func:`prepare_image`; ``max_bytes`` is off
    unless given.
    """
    return prepare_image(src, max_side=max_side, quality=quality, max_bytes=max_bytes).base64


def prepare_images(
    sources: Iterable[Any],
    *,
    model: str | None = None,
    max_side: int | None = None,
    quality: int = DEFAULT_QUALITY,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> list[PreparedImage]:
    """Prepare the images of one request, checking Mistral's per-request limit first.

    Args:
        sources: The images, anything :func:`prepare_image` takes; a ``FileUpload.value``
            tuple works as is.
        model: The model they go to; sets ``max_side`` when that is not given.
        max_side: Longest side; defaults to :func:`max_side_for` ``(model)``.
        quality: JPEG quality, as in :func:`prepare_image`.
        max_bytes: Byte limit per image, as in :func:`prepare_image`.

    Raises:
        ImageError: More than :data:`MAX_IMAGES_PER_REQUEST` images (before any work), or
            an image that cannot be converted (the message says which one).
    """
    if _is_single_source(sources):
        raise ImageError(
            "prepare_images takes a list of images; for one image pass [image] "
            "or call prepare_image(image)"
        )
    try:
        items = list(sources)
    except TypeError as exc:
        raise ImageError(
            f"prepare_images takes a list of images, not a {type(sources).__name__}"
        ) from exc
    if len(items) > MAX_IMAGES_PER_REQUEST:
        raise ImageError(
            f"{len(items)} images given, but Mistral accepts at most {MAX_IMAGES_PER_REQUEST} "
            "per request; send them over several turns, or combine some into one image"
        )
    side = max_side_for(model) if max_side is None else max_side
    prepared = []
    for i, item in enumerate(items, 1):
        try:
            prepared.append(
                prepare_image(item, max_side=side, quality=quality, max_bytes=max_bytes)
            )
        except ImageError as exc:
            raise ImageError(f"image {i} of {len(items)}: {exc}") from exc
    return prepared


def prepare_image(
    src: Any,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    quality: int = DEFAULT_QUALITY,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> PreparedImage:
    """Convert one image to a baseline RGB JPEG no larger than ``max_side`` on its longest side.

    Args:
        src: A path (``str`` or ``os.PathLike``), ``bytes``/``bytearray``/``memoryview``, a
            binary file object, a ``PIL.Image.Image``, an ipywidgets 8 ``FileUpload.value``
            entry (a mapping with ``name``, ``type`` and ``content``), a base64
            ``data:image/...`` URL, or a :class:`PreparedImage` (returned as is when it
            already fits).
        max_side: Longest side of the result, 1 to :data:`MAX_DIMENSION`. Smaller images
            are never upscaled.
        quality: JPEG quality, 1 to 100.
        max_bytes: The most JPEG bytes allowed, or None for no limit. When the JPEG is
            bigger, it is re-encoded at quality steps of 10 down to :data:`MIN_QUALITY`.

    Raises:
        ImageError: ``src`` is missing, empty, damaged, not an image, in an unsupported
            format, a decompression bomb, or does not fit ``max_bytes``; or an option is
            out of range. The message says which and what to do.
    """
    _check_options(max_side, quality, max_bytes)
    if isinstance(src, PreparedImage):
        return _reprepare(src, max_side=max_side, quality=quality, max_bytes=max_bytes)
    source = _read_source(src)
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        # Scoped to this call: Pillow's bomb warning becomes an error, other warnings are
        # kept as notes instead of going to the notebook (or failing a strict test run).
        # catch_warnings swaps process-wide state; the lock keeps two of our calls in
        # different threads from restoring each other's filters.
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        rgb, fmt, mode, original = _decode(source, max_side)
    notes = []
    for caught_warning in caught:
        if issubclass(caught_warning.category, (DeprecationWarning, FutureWarning)):
            # Meant for us, not for the user's notes: let the caller's filters see it.
            warnings.warn_explicit(
                caught_warning.message,
                caught_warning.category,
                caught_warning.filename,
                caught_warning.lineno,
            )
        else:
            notes.append(str(caught_warning.message))
    jpeg, used = _encode(rgb, quality, max_bytes, source)
    return PreparedImage(
        jpeg=jpeg,
        width=rgb.width,
        height=rgb.height,
        original_width=original[0],
        original_height=original[1],
        source_format=fmt,
        source_name=source.name,
        source_mode=mode,
        quality=used,
        n_bytes=len(jpeg),
        sha256=hashlib.sha256(jpeg).hexdigest(),
        notes=tuple(dict.fromkeys(notes)),
    )


# -- reading sources -------------------------------------------------------------------


@dataclass
class _Source:
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


def _read_source(src: Any) -> _Source:
    if isinstance(src, Image.Image):
        filename = getattr(src, "filename", None)
        return _Source("PIL image", image=src, name=_basename(filename))
    if isinstance(src, (bytes, bytearray, memoryview)):
        return _Source("bytes", data=bytes(src))
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


def _from_path(src: str | os.PathLike[Any]) -> _Source:
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
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ImageError(f"{path} cannot be read ({exc.strerror or exc}); check it") from exc
    return _Source("path", data=data, name=name)


def _from_upload(entry: Mapping[Any, Any]) -> _Source:
    content = entry.get("content")
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise ImageError(
            f"the mapping given has no bytes under 'content' (keys: {sorted(map(str, entry))}); "
            "pass one FileUpload value entry, e.g. upload.value[0]"
        )
    name = entry.get("name")
    mime = entry.get("type")
    return _Source(
        "upload",
        data=bytes(content),
        name=str(name) if name else None,
        mime=str(mime) if mime else None,
    )


def _from_file_object(fh: Any) -> _Source:
    name = _basename(getattr(fh, "name", None))
    try:
        data = fh.read()
    except OSError as exc:
        raise ImageError(f"{name or 'the file object'} cannot be read ({exc})") from exc
    if isinstance(data, str):
        raise ImageError(f"{name or 'the file object'} was opened in text mode; open it with 'rb'")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(
            f"{name or 'the file object'}.read() returned a {type(data).__name__}, not bytes"
        )
    return _Source("file object", data=bytes(data), name=name)


def _from_data_url(url: str) -> _Source:
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
    return _Source("data URL", data=data, mime=mime)


# -- decoding --------------------------------------------------------------------------


def _decode(source: _Source, max_side: int) -> tuple[Image.Image, str, str, tuple[int, int]]:
    """Decode ``source`` to an upright RGB image fitting ``max_side``.

    Returns the image, the source format, the source mode and the displayed source size.
    """
    if source.image is not None:
        im = source.image
        fmt, mode = im.format or "PIL.Image", im.mode
        try:
            rgb, shown = _convert(im, max_side, own=False)
        except _DECODE_ERRORS as exc:
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
    except _DECODE_ERRORS as exc:
        raise _damaged(source, exc) from exc
    with im:
        if im.format not in SUPPORTED_FORMATS:
            raise ImageError(
                f"{source.label()} is a {im.format} image, which mistral_nb does not convert; "
                f"{_SEND}"
            )
        fmt, mode = im.format, im.mode
        try:
            rgb, shown = _convert(im, max_side, own=True)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _bomb(source, exc) from exc
        except _DECODE_ERRORS as exc:
            raise _damaged(source, exc) from exc
    return rgb, fmt, mode, shown


def _convert(im: Image.Image, max_side: int, *, own: bool) -> tuple[Image.Image, tuple[int, int]]:
    """Orient, scale, flatten and colour-convert ``im`` to RGB. ``own``: we opened it.

    Returns the RGB image and the source's size as displayed (after orientation).
    """
    orientation = _orientation(im)
    stored = im.size
    shown = (stored[1], stored[0]) if orientation >= 5 else stored
    icc = im.info.get("icc_profile")
    box = None
    if own and im.format in ("JPEG", "MPO") and _fit(stored, max_side) != stored:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, still at least the target size.
        drafted = im.draft(None, _fit(stored, max_side))
        if drafted is not None:
            box = drafted[1]
    im.load()  # decode now, inside the caller's error handling (a no-op when loaded)
    pending = _orientation(im)  # Pillow's TIFF loader applies (and drops) the tag itself
    target = _fit(stored if pending == orientation else shown, max_side)
    work = _working_mode(im)
    if work.size != target:
        work = work.resize(target, Image.Resampling.LANCZOS, box=box, reducing_gap=_REDUCING_GAP)
    work = _flatten(work)
    work = _to_srgb(work, icc)
    if pending in _TRANSPOSE:
        work = work.transpose(_TRANSPOSE[pending])
    return work, shown


def _working_mode(im: Image.Image) -> Image.Image:
    """``im`` in a mode Lanczos can resize: RGB, RGBA, L, LA or CMYK."""
    mode = im.mode
    if mode.startswith("I"):  # 16- or 32-bit grayscale: map 0..65535 onto 0..255
        wide = im if mode == "I" else im.convert("I")
        return wide.point(lambda v: v / 257).convert("L")
    if mode == "F":  # float grayscale: 0..1 when normalised, else taken as 0..255
        high = im.getextrema()[1]
        scale = 255.0 if isinstance(high, float) and high <= 1.0 else 1.0
        return im.point(lambda v: v * scale).convert("L")
    if mode == "1":
        return im.convert("L")
    if mode in ("RGBA", "LA"):
        return im
    if mode in ("RGBa", "La", "PA") or im.has_transparency_data:
        return im.convert("LA" if mode == "La" else "RGBA")
    if mode in ("RGB", "L", "CMYK"):
        return im
    return im.convert("RGB")  # P, YCbCr, HSV, LAB, RGBX, ...


def _flatten(im: Image.Image) -> Image.Image:
    """Composite transparency onto white (what a viewer shows on a light page)."""
    if im.mode == "RGBA":
        white = Image.new("RGB", im.size, _WHITE)
        white.paste(im.convert("RGB"), mask=im.getchannel("A"))
        return white
    if im.mode == "LA":
        white = Image.new("L", im.size, 255)
        white.paste(im.getchannel("L"), mask=im.getchannel("A"))
        return white
    return im


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB in sRGB: apply an embedded ICC profile when there is one and it is not sRGB."""
    if icc and ImageCms is not None and im.mode in ("RGB", "CMYK"):
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if "srgb" not in ImageCms.getProfileDescription(profile).lower():
                converted = ImageCms.profileToProfile(im, profile, _srgb(), outputMode="RGB")
                if converted is not None:  # None only for inPlace=True
                    return converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
            warnings.warn(
                f"the embedded ICC profile was not applied ({exc}); colours converted without it",
                stacklevel=2,
            )
    return im if im.mode == "RGB" else im.convert("RGB")


_SRGB_PROFILE: Any = None


def _srgb() -> Any:
    global _SRGB_PROFILE
    if _SRGB_PROFILE is None:
        _SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return _SRGB_PROFILE


def _orientation(im: Image.Image) -> int:
    """The EXIF (or XMP) orientation, 1 when absent or unreadable."""
    try:
        value = im.getexif().get(0x0112, 1)
    except _DECODE_ERRORS + (KeyError, IndexError, TypeError):
        warnings.warn("the EXIF block is unreadable; orientation left as stored", stacklevel=2)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` scaled to fit ``max_side`` x ``max_side``, aspect kept, never enlarged."""
    w, h = size
    ratio = max(w, h) / max_side
    if ratio <= 1:
        return w, h
    return max(1, round(w / ratio)), max(1, round(h / ratio))


# -- encoding --------------------------------------------------------------------------


def _encode(
    rgb: Image.Image, quality: int, max_bytes: int | None, source: _Source
) -> tuple[bytes, int]:
    """Encode at ``quality``, stepping down by 10 to :data:`MIN_QUALITY` to fit ``max_bytes``."""
    steps = [quality] + list(range(quality - 10, MIN_QUALITY, -10))
    if quality > MIN_QUALITY:
        steps.append(MIN_QUALITY)
    for q in steps:
        buf = io.BytesIO()
        # optimize=True would save ~1% of the bytes for twice the encoding time.
        rgb.save(buf, "JPEG", quality=q, progressive=False)
        jpeg = buf.getvalue()
        if max_bytes is None or len(jpeg) <= max_bytes:
            return jpeg, q
    assert max_bytes is not None  # without a limit the first encoding is returned
    shrink = math.sqrt(max_bytes / len(jpeg)) * 0.9  # bytes grow about with the pixel count
    suggest = max(16, int(max(rgb.size) * shrink))
    raise ImageError(
        f"{source.label()} is still {len(jpeg):,} bytes as a {rgb.width}x{rgb.height} JPEG at "
        f"quality {q}, above max_bytes={max_bytes:,}; lower max_side (e.g. max_side={suggest}) "
        "or raise max_bytes"
    )


def _reprepare(
    prepared: PreparedImage, *, max_side: int, quality: int, max_bytes: int | None
) -> PreparedImage:
    if max(prepared.width, prepared.height) <= max_side and (
        max_bytes is None or prepared.n_bytes <= max_bytes
    ):
        return prepared
    again = prepare_image(prepared.jpeg, max_side=max_side, quality=quality, max_bytes=max_bytes)
    return replace(
        again,
        original_width=prepared.original_width,
        original_height=prepared.original_height,
        source_format=prepared.source_format,
        source_name=prepared.source_name,
        source_mode=prepared.source_mode,
        notes=prepared.notes + again.notes,
    )


# -- messages --------------------------------------------------------------------------


def _not_an_image(source: _Source) -> ImageError:
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


def _damaged(source: _Source, exc: BaseException) -> ImageError:
    return ImageError(
        f"{source.label()} cannot be decoded ({exc}); it is probably truncated or damaged: "
        "export or download it again"
    )


def _bomb(source: _Source, exc: BaseException) -> ImageError:
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


def _is_pixtral(model: str | None) -> bool:
    return bool(model) and "pixtral" in str(model).lower()


def _is_single_source(value: Any) -> bool:
    return isinstance(
        value, (str, bytes, bytearray, memoryview, os.PathLike, Image.Image, Mapping, PreparedImage)
    ) or hasattr(value, "read")


def _basename(name: Any) -> str | None:
    if isinstance(name, (str, os.PathLike)) and str(name):
        return os.path.basename(os.fspath(name)) or None
    return None


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_options(max_side: Any, quality: Any, max_bytes: Any) -> None:
    if (
        isinstance(max_side, bool)
        or not isinstance(max_side, int)
        or not (1 <= max_side <= MAX_DIMENSION)
    ):
        raise ImageError(
            f"max_side={max_side!r} is out of range; pass an int from 1 to {MAX_DIMENSION} "
            f"(Mistral rejects larger images; {DEFAULT_MAX_SIDE} is what it keeps anyway)"
        )
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ImageError(
            f"quality={quality!r} is out of range; pass an int from 1 to 100 "
            f"(default {DEFAULT_QUALITY})"
        )
    if max_bytes is not None and (
        isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1
    ):
        raise ImageError(
            f"max_bytes={max_bytes!r} is not a byte count; pass a positive int, or None for no limit"
        )
