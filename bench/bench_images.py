"""Time mistral_nb's image preparation against the naive Pillow path on a 12 MP photo.

Run by hand: ``python bench/bench_images.py``. It builds a 4000 x 3000 photo-like JPEG
(scikit-image's coffee photo, upsampled, with sensor-like grain so it compresses like a
phone photo, ~3-5 MB), then times, in the same run:

- naive: open, convert to RGB, Lanczos resize from full size, save JPEG, base64;
- ours: ``mistral_nb._images.to_base64_jpeg`` (JPEG draft decode, then Lanczos).

Each path runs several times; the median is printed with the ratio.
"""

from __future__ import annotations

import base64
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mistral_nb._images import DEFAULT_QUALITY, to_base64_jpeg

REPEATS = 9
SIZE = (4000, 3000)


def make_photo() -> bytes:
    """A 12 MP JPEG that decodes like a phone photo (detail and grain, quality 92)."""
    from skimage import data

    base = Image.fromarray(data.coffee()).resize(SIZE, Image.Resampling.BICUBIC)
    rng = np.random.default_rng(0)
    grain = rng.normal(0, 6, (SIZE[1], SIZE[0], 3))
    pixels = np.clip(np.asarray(base, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def naive(jpeg: bytes, max_side: int) -> str:
    with Image.open(io.BytesIO(jpeg)) as im:
        rgb = ImageOps.exif_transpose(im).convert("RGB")
    ratio = max(rgb.size) / max_side
    small = rgb.resize(
        (round(rgb.width / ratio), round(rgb.height / ratio)), Image.Resampling.LANCZOS
    )
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=DEFAULT_QUALITY)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def ours(jpeg: bytes, max_side: int) -> str:
    return to_base64_jpeg(jpeg, max_side=max_side)


def median_ms(fn: Callable[[bytes, int], str], jpeg: bytes, max_side: int) -> float:
    fn(jpeg, max_side)  # warm up
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn(jpeg, max_side)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    jpeg = make_photo()
    print(
        f"source: {SIZE[0]}x{SIZE[1]} JPEG, {len(jpeg) / 1e6:.1f} MB; "
        f"Pillow {Image.__version__}; median of {REPEATS} runs"
    )
    for max_side in (1024, 1540):
        t_naive = median_ms(naive, jpeg, max_side)
        t_ours = median_ms(ours, jpeg, max_side)
        print(
            f"-> {max_side} px base64 JPEG: naive {t_naive:6.1f} ms   ours {t_ours:6.1f} ms   "
            f"naive/ours {t_naive / t_ours:.1f}x"
        )


if __name__ == "__main__":
    main()
