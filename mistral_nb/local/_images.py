"""Images in user messages: decode data URLs with Pillow, enforce Mistral's vision limits.

Limits from Mistral's vision docs: PNG, JPEG, WEBP and single-frame GIF; at most 8 images
per request and 10 MB per image; above 10000 x 10000 pixels is an error. The wording of
the errors is ours (the real server's is not on record). Remote ``http(s)`` URLs are not
downloaded: the endpoint is offline, so they are counted and described by their address.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
from dataclasses import dataclass

from PIL import GifImagePlugin, Image, ImageFile, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from .._image_pixels import DECODE_ERRORS

__all__ = ["MAX_IMAGES", "ImageInfo", "ImageRejected", "inspect_image"]

MAX_IMAGES = 8
MAX_BYTES = 10 * 1024 * 1024
MAX_SIDE = 10000

# Image.open would run Pillow's process-wide decompression-bomb check on the declared size:
# a DecompressionBombWarning from the server thread past ~89 megapixels (below Mistral's
# 10000 x 10000) and an error past ~179. Mistral's limits apply here instead, so the class
# of each accepted format is built directly: that reads the header, not the pixels. JPEG
# takes JpegImageFile rather than Pillow's jpeg_factory, which may turn it into an MPO and
# check (and warn) again.
_OPENERS: dict[str, type[ImageFile.ImageFile]] = {
    "PNG": PngImagePlugin.PngImageFile,
    "JPEG": JpegImagePlugin.JpegImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
    "GIF": GifImagePlugin.GifImageFile,
}
FORMATS = tuple(_OPENERS)
_DATA_URL = re.compile(r"^data:image/[\w.+-]+;base64,", re.IGNORECASE)


class ImageRejected(ValueError):
    """An image the endpoint refuses; the message goes to the client as is."""


@dataclass(frozen=True)
class ImageInfo:
    """What the endpoint learned about one image."""

    width: int = 0
    height: int = 0
    mode: str = ""
    format: str = ""
    n_bytes: int = 0
    url: str | None = None  # set for a remote image, which is never fetched
    image: Image.Image | None = None  # lazily opened: header read, pixels not decoded

    def describe(self) -> str:
        if self.url is not None:
            return f"an image at {self.url} (not downloaded: this endpoint is offline)"
        return f"{self.width}x{self.height} {self.mode} {self.format}"


def inspect_image(url: str, where: str) -> ImageInfo:
    """Decode one ``image_url`` value (data URL, bare base64, or remote URL).

    Args:
        url: The ``image_url`` string.
        where: Its place in the request, for messages (``messages[0].content[1]``).

    Raises:
        ImageRejected: when the image is unreadable or outside Mistral's limits.
    """
    if url.startswith(("http://", "https://")):
        return ImageInfo(url=url)
    payload = _DATA_URL.sub("", url, count=1)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageRejected(
            f"Image at {where} is neither an http(s) URL nor valid base64 data "
            "(expected data:image/<format>;base64,<data>)"
        ) from exc
    if len(data) > MAX_BYTES:
        raise ImageRejected(
            f"Image at {where} is {len(data)} bytes, over the 10 MB limit per image"
        )
    undecodable = f"Image at {where} could not be decoded as an image"
    fmt = _format_of(data[:16])
    if fmt is None:
        raise ImageRejected(undecodable)
    if fmt not in _OPENERS:
        raise ImageRejected(f"Image at {where} is {fmt}; send PNG, JPEG, WEBP or single-frame GIF")
    try:
        image = _OPENERS[fmt](io.BytesIO(data))
        frames = getattr(image, "n_frames", 1) if fmt == "GIF" else 1
    except Image.DecompressionBombError as exc:
        # WebP's plugin checks as it opens; at Pillow's default limit (2 x 89 megapixels
        # for the error) only an image with a side past 10000 gets here.
        raise ImageRejected(
            f"Image at {where} is above the 10000x10000 maximum resolution"
        ) from exc
    except DECODE_ERRORS as exc:
        raise ImageRejected(undecodable) from exc
    if frames > 1:
        raise ImageRejected(f"Image at {where} is an animated GIF; send a single-frame GIF")
    width, height = image.size
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageRejected(
            f"Image at {where} is {width}x{height}, above the 10000x10000 maximum resolution"
        )
    return ImageInfo(
        width=width, height=height, mode=image.mode, format=fmt, n_bytes=len(data), image=image
    )


def _format_of(prefix: bytes) -> str | None:
    """The first of Pillow's formats that claims a file starting with ``prefix``.

    Only the formats' accept tests run (Image.open's order, without its bomb check), so
    a refused format is named without its file being opened.
    """
    Image.init()
    for fmt in Image.ID:
        accept = Image.OPEN[fmt][1]
        try:
            claimed = accept is not None and accept(prefix)
        except (SyntaxError, IndexError, TypeError, struct.error):  # as Image.open skips
            continue
        if claimed and not isinstance(claimed, str):  # a str: the format's plugin is missing
            return fmt
    return None
