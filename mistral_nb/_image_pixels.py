"""Pixel work on a decoded Pillow image: from whatever it holds to an upright sRGB JPEG.

:func:`to_upright_rgb` applies the EXIF orientation, maps 16-bit, float, bilevel, palette,
CMYK and other modes to ones Lanczos can resize, lets libjpeg decode big JPEGs at a reduced
scale (``draft``) before resizing, flattens transparency onto white and converts an embedded
ICC profile to sRGB. :func:`encode_jpeg` writes the baseline JPEG, lowering the quality
when a byte limit asks for it.

This module knows nothing of where an image came from: :mod:`._image_sources` opens the
inputs and words the errors about them; :mod:`._images` is the public API.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from collections.abc import Callable
from typing import Any

from PIL import Image

from ._errors import ImageError

try:  # Pillow can be built without littlecms; then colours are converted without profiles.
    from PIL import ImageCms
except ImportError:  # pragma: no cover - every wheel on PyPI ships littlecms
    ImageCms = None  # type: ignore[assignment]

__all__ = ["DECODE_ERRORS", "MIN_QUALITY", "encode_jpeg", "fit_within", "to_upright_rgb"]

MIN_QUALITY = 40
"""The lowest quality the ``max_bytes`` search goes to. Below ~40 JPEG blocking and ringing
blur small text; fewer pixels (a lower ``max_side``) is then the better trade."""

DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    MemoryError,
    NotImplementedError,
    OverflowError,
    # A mistyped TIFF tag (an IFDRational where an int belongs) fails inside load().
    TypeError,
)
"""What Pillow raises on damaged files, whether at open, at load or reading the EXIF."""

_WHITE = (255, 255, 255)
_REDUCING_GAP = 3.0  # resize() first reduces by an integer factor to within 3x, then Lanczos
_TRANSPOSE = {  # EXIF orientation -> the transpose that shows the image upright
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def to_upright_rgb(
    im: Image.Image, max_side: int, *, own: bool
) -> tuple[Image.Image, tuple[int, int]]:
    """Orient, scale, flatten and colour-convert ``im`` to RGB. ``own``: we opened it.

    Returns the RGB image and the source's size as displayed (after orientation).
    """
    orientation = _orientation(im)
    stored = im.size
    shown = (stored[1], stored[0]) if orientation >= 5 else stored
    icc = im.info.get("icc_profile")
    box = None
    if own and im.format in ("JPEG", "MPO") and fit_within(stored, max_side) != stored:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, still at least the target size.
        drafted = im.draft(None, fit_within(stored, max_side))
        if drafted is not None:
            box = drafted[1]
    im.load()  # decode now, inside the caller's error handling (a no-op when loaded)
    pending = _orientation(im)  # Pillow's TIFF loader applies (and drops) the tag itself
    target = fit_within(stored if pending == orientation else shown, max_side)
    work = _working_mode(im)
    if work.size != target:
        work = work.resize(target, Image.Resampling.LANCZOS, box=box, reducing_gap=_REDUCING_GAP)
    work = _flatten(work)
    work = _to_srgb(work, icc)
    if pending in _TRANSPOSE:
        work = work.transpose(_TRANSPOSE[pending])
    return work, shown


def fit_within(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` scaled to fit ``max_side`` x ``max_side``, aspect kept, never enlarged."""
    w, h = size
    ratio = max(w, h) / max_side
    if ratio <= 1:
        return w, h
    return max(1, round(w / ratio)), max(1, round(h / ratio))


def encode_jpeg(
    rgb: Image.Image, quality: int, max_bytes: int | None, label: Callable[[], str]
) -> tuple[bytes, int]:
    """Encode at ``quality``, stepping down by 10 to :data:`MIN_QUALITY` to fit ``max_bytes``.

    Returns the JPEG and the quality used. ``label`` names the source in the error; it is
    called only then, so an image that fits never pays for the name's MIME lookup.
    """
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
        f"{label()} is still {len(jpeg):,} bytes as a {rgb.width}x{rgb.height} JPEG at "
        f"quality {q}, above max_bytes={max_bytes:,}; lower max_side (e.g. max_side={suggest}) "
        "or raise max_bytes"
    )


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
    """littlecms's built-in sRGB profile, built on first use and then kept."""
    global _SRGB_PROFILE
    if _SRGB_PROFILE is None:
        _SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return _SRGB_PROFILE


def _orientation(im: Image.Image) -> int:
    """The EXIF (or XMP) orientation, 1 when absent or unreadable."""
    try:
        value = im.getexif().get(0x0112, 1)
    except DECODE_ERRORS + (KeyError, IndexError, TypeError):
        warnings.warn("the EXIF block is unreadable; orientation left as stored", stacklevel=2)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
