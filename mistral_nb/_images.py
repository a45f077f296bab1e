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

This module is the public API and its limits. The work is done below it:
:mod:`._image_sources` reads each kind of input (path, bytes, file object, PIL image,
``FileUpload`` entry, data URL) and words the errors about it; :mod:`._image_pixels`
orients, converts, resizes and encodes. :data:`SUPPORTED_FORMATS` and :data:`MIN_QUALITY`
live with the code that applies them and are re-exported here.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import math
import os
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image

from ._errors import ImageError
from ._image_pixels import MIN_QUALITY, encode_jpeg, fit_within
from ._image_sources import SUPPORTED_FORMATS, decode_to_rgb, read_source

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

DEFAULT_MAX_BYTES = 10_000_000
"""Mistral's documented per-image limit is 10 MB (one page says 20 MB; we keep the strict
figure, counted in decimal megabytes so either reading of "MB" is satisfied). It bounds the
JPEG bytes, before base64 (which adds a third)."""

MAX_IMAGES_PER_REQUEST = 8
"""Mistral accepts at most 8 images in one request."""

MAX_DIMENSION = 10_000
"""Mistral rejects images above 10000 x 10000; ``max_side`` may not exceed it."""

_THUMBNAIL_SIDE = 256
_WARNINGS_LOCK = threading.Lock()
_PIXTRAL_PATCH = 16  # Pixtral: 16 px patches, one token each
_MISTRAL3_PATCH = 28  # Small/Medium 3.x: 14 px patches merged 2 x 2


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
    w, h = fit_within((width, height), max_side_for(model))
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
            "images= takes a list of images; for one image pass images=[image] "
            "(or call prepare_image(image))"
        )
    try:
        items = list(sources)
    except TypeError as exc:
        raise ImageError(
            f"images= takes a list of images, not a {type(sources).__name__}"
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
    source = read_source(src)
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        # Scoped to this call: Pillow's bomb warning becomes an error, other warnings are
        # kept as notes instead of going to the notebook (or failing a strict test run).
        # catch_warnings swaps process-wide state; the lock keeps two of our calls in
        # different threads from restoring each other's filters.
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        rgb, fmt, mode, original = decode_to_rgb(source, max_side)
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
    jpeg, used = encode_jpeg(rgb, quality, max_bytes, source.label)
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


def _is_pixtral(model: str | None) -> bool:
    return bool(model) and "pixtral" in str(model).lower()


def _is_single_source(value: Any) -> bool:
    return isinstance(
        value, (str, bytes, bytearray, memoryview, os.PathLike, Image.Image, Mapping, PreparedImage)
    ) or hasattr(value, "read")


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
