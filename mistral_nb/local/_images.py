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
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

__all__ = ["MAX_IMAGES", "ImageInfo", "ImageRejected", "inspect_image"]

MAX_IMAGES = 8
MAX_BYTES = 10 * 1024 * 1024
MAX_SIDE = 10000
FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
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
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageRejected(f"Image at {where} could not be decoded as an image") from exc
    fmt = (image.format or "").upper()
    if fmt not in FORMATS:
        raise ImageRejected(
            f"Image at {where} is {fmt or 'of an unknown format'}; "
            "send PNG, JPEG, WEBP or single-frame GIF"
        )
    if fmt == "GIF" and getattr(image, "n_frames", 1) > 1:
        raise ImageRejected(f"Image at {where} is an animated GIF; send a single-frame GIF")
    width, height = image.size
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageRejected(
            f"Image at {where} is {width}x{height}, above the 10000x10000 maximum resolution"
        )
    return ImageInfo(
        width=width, height=height, mode=image.mode, format=fmt, n_bytes=len(data), image=image
    )
