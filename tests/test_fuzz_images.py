"""Hostile image bytes: to_base64_jpeg and prepare_image answer with a JPEG or an ImageError.

The inputs are random bytes, random bytes behind a real format's signature, and small
valid PNG, JPEG, GIF, WebP, BMP and TIFF files made with Pillow and then damaged: bits
flipped, bytes inserted, deleted or overwritten, the file truncated, PNG chunk lengths and
other length or offset fields rewritten, and the declared width and height set to huge or
zero values (with the PNG CRC fixed, so the damage gets past the checksum to the decoder).

Whatever comes in, the only outcomes allowed are a baseline RGB JPEG that Pillow decodes
and that fits ``max_side`` (and ``max_bytes`` when given), or :class:`mistral_nb.ImageError`
with a message. Any other exception, or a warning (warnings are errors in this suite), fails.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import struct
import zlib
from collections.abc import Callable

import pytest
from fuzzing import SCALE, fuzz
from hypothesis import event, given
from hypothesis import strategies as st
from PIL import Image

import mistral_nb as mnb
from mistral_nb._images import DEFAULT_MAX_SIDE, SUPPORTED_FORMATS

pytestmark = pytest.mark.timeout(60 * SCALE)


# -- valid seeds -------------------------------------------------------------------------


def _pixels(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    """A small noisy image in ``mode`` (noise compresses badly: the files have real data)."""
    rgb = Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3))
    if mode == "RGBA":
        im = rgb.convert("RGBA")
        im.putalpha(rgb.getchannel("R"))
        return im
    if mode == "LA":
        return Image.merge("LA", (rgb.getchannel("G"), rgb.getchannel("B")))
    if mode == "I;16":
        return rgb.convert("L").convert("I").point(lambda v: v * 257).convert("I;16")
    return rgb.convert(mode)


def _save(im: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _animated_gif() -> bytes:
    frames = [_pixels("P", (6, 4), seed) for seed in (1, 2)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)


def _seeds() -> list[tuple[str, bytes]]:
    small, odd = (7, 5), (3, 11)
    seeds = [
        ("PNG RGB", _save(_pixels("RGB", small, 1), "PNG")),
        ("PNG RGBA", _save(_pixels("RGBA", odd, 2), "PNG")),
        ("PNG P", _save(_pixels("P", small, 3), "PNG", transparency=0)),
        ("PNG LA", _save(_pixels("LA", small, 4), "PNG")),
        ("PNG I;16", _save(_pixels("I;16", odd, 5), "PNG")),
        ("PNG 1", _save(_pixels("1", small, 6), "PNG")),
        ("PNG interlaced", _save(_pixels("RGB", (9, 9), 7), "PNG", interlace=1)),
        ("JPEG RGB", _save(_pixels("RGB", (16, 8), 8), "JPEG", quality=80)),
        ("JPEG L", _save(_pixels("L", small, 9), "JPEG")),
        ("JPEG CMYK", _save(_pixels("CMYK", small, 10), "JPEG")),
        ("JPEG progressive", _save(_pixels("RGB", (17, 9), 11), "JPEG", progressive=True)),
        ("JPEG EXIF 6", _save(_pixels("RGB", (12, 4), 12), "JPEG", exif=_exif(6))),
        ("GIF", _save(_pixels("P", small, 13), "GIF")),
        ("GIF animated", _animated_gif()),
        ("WEBP lossy", _save(_pixels("RGB", small, 14), "WEBP", quality=50)),
        ("WEBP lossless RGBA", _save(_pixels("RGBA", small, 15), "WEBP", lossless=True)),
        ("BMP RGB", _save(_pixels("RGB", small, 16), "BMP")),
        ("BMP P", _save(_pixels("P", odd, 17), "BMP")),
        ("BMP 1", _save(_pixels("1", odd, 18), "BMP")),
        ("TIFF RGB", _save(_pixels("RGB", small, 19), "TIFF")),
        ("TIFF deflate", _save(_pixels("RGB", small, 20), "TIFF", compression="tiff_deflate")),
        ("TIFF I;16", _save(_pixels("I;16", odd, 21), "TIFF")),
        ("TIFF CMYK", _save(_pixels("CMYK", small, 22), "TIFF")),
        ("TIFF EXIF 8", _save(_pixels("RGB", small, 23), "TIFF", exif=_exif(8))),
    ]
    return seeds


SEEDS = _seeds()
SIGNATURES = [
    b"\x89PNG\r\n\x1a\n",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"\xff\xd8\xff",
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    b"GIF87a",
    b"GIF89a",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"RIFF\x00\x00\x00\x00WEBPVP8L",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x01\x00",  # ICO
    b"\x00\x00\x00\x1cftypavif",
    b"%PDF-1.4",
    b"<svg",
]


def test_seeds_are_valid_images():
    """The mutations start from files that convert cleanly."""
    for name, data in SEEDS:
        prepared = mnb.prepare_image(data)
        assert prepared.jpeg.startswith(b"\xff\xd8"), name


# -- mutations ---------------------------------------------------------------------------

Draw = Callable[[st.SearchStrategy], object]
_DIMENSIONS = st.one_of(
    st.sampled_from(
        [0, 1, 2, 255, 256, 10_000, 10_001, 32_767, 32_768, 65_535, 65_536, 2**31 - 1, 2**32 - 1]
    ),
    st.integers(1, 12_000),  # around Mistral's 10000 px and Pillow's bomb limit
    st.integers(0, 2**32 - 1),
)


_SIGNATURE = 8  # mutations leave the first bytes alone, so the decoders see the damage


def _position(draw: Draw, data: bytearray, end: bool = False) -> int:
    last = len(data) if end else max(len(data) - 1, 0)
    return draw(st.integers(min(_SIGNATURE, last), last))


def _flip_bit(draw: Draw, data: bytearray) -> bytearray:
    if data:
        data[_position(draw, data)] ^= 1 << draw(st.integers(0, 7))
    return data


def _overwrite(draw: Draw, data: bytearray) -> bytearray:
    if data:
        at = _position(draw, data)
        new = draw(st.binary(min_size=1, max_size=8))
        data[at : at + len(new)] = new
    return data


def _insert(draw: Draw, data: bytearray) -> bytearray:
    at = _position(draw, data, end=True)
    data[at:at] = draw(st.binary(min_size=1, max_size=64))
    return data


def _delete(draw: Draw, data: bytearray) -> bytearray:
    if data:
        at = _position(draw, data)
        del data[at : at + draw(st.integers(1, 64))]
    return data


def _truncate(draw: Draw, data: bytearray) -> bytearray:
    return data[: _position(draw, data, end=True)]


def _duplicate(draw: Draw, data: bytearray) -> bytearray:
    if data:
        at = _position(draw, data)
        piece = data[at : at + draw(st.integers(1, 256))]
        to = _position(draw, data, end=True)
        data[to:to] = piece
    return data


def _png_chunks(data: bytearray) -> list[tuple[int, int, bytes]]:
    """(offset, length, type) of each PNG chunk that fits in ``data``."""
    chunks, at = [], 8
    while at + 8 <= len(data):
        length = struct.unpack(">I", data[at : at + 4])[0]
        chunks.append((at, length, bytes(data[at + 4 : at + 8])))
        if at + 12 + length > len(data):
            break
        at += 12 + length
    return chunks


def _fix_png_crcs(data: bytearray) -> bytearray:
    for at, length, kind in _png_chunks(data):
        end = at + 8 + length
        if end + 4 <= len(data):
            data[end : end + 4] = struct.pack(">I", zlib.crc32(kind + data[at + 8 : end]))
    return data


def _pack_at(data: bytearray, at: int, fmt: str, *values: int) -> None:
    """Write unsigned ``values`` (wrapped to their field's width) when the field is there."""
    if at + struct.calcsize(fmt) <= len(data):
        masks = {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFF_FFFF}
        codes = fmt.lstrip("<>")
        struct.pack_into(fmt, data, at, *(v & masks[c] for v, c in zip(values, codes)))


def _tiff_dimension_offsets(data: bytearray) -> list[tuple[int, str]]:
    """Where IFD0 keeps ImageWidth (256) and ImageLength (257): (offset, struct format)."""
    order = "<" if data[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, ifd)
        found = []
        for i in range(count):
            entry = ifd + 2 + 12 * i
            tag, kind = struct.unpack_from(order + "HH", data, entry)
            if tag in (256, 257):
                found.append((entry + 8, order + ("H" if kind == 3 else "I")))
        return found
    except struct.error:
        return []


def _huge_dimensions(draw: Draw, data: bytearray) -> bytearray:
    """Rewrite the declared width and height where each format keeps them."""
    width, height = draw(_DIMENSIONS), draw(_DIMENSIONS)
    if data.startswith(b"\x89PNG"):
        _pack_at(data, 16, ">II", width, height)
        return _fix_png_crcs(data)
    if data.startswith(b"GIF"):
        _pack_at(data, 6, "<HH", width, height)  # logical screen
        descriptor = data.find(b"\x2c", 13)
        if descriptor > 0 and draw(st.booleans()):
            _pack_at(data, descriptor + 5, "<HH", width, height)  # the image itself
        return data
    if data.startswith(b"BM"):
        _pack_at(data, 18, "<II", width, height)
        if draw(st.booleans()):  # a negative height means top-down rows
            _pack_at(data, 22, "<I", (-(height & 0x7FFF_FFFF)) & 0xFFFF_FFFF)
        return data
    if data.startswith(b"\xff\xd8"):
        for marker in (b"\xff\xc0", b"\xff\xc2"):
            sof = data.find(marker)
            if sof > 0:
                _pack_at(data, sof + 5, ">HH", height, width)
        return data
    if data.startswith(b"RIFF"):
        if data[12:16] == b"VP8L" and len(data) >= 25:  # 14-bit width-1, height-1
            bits = ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14)
            _pack_at(data, 21, "<I", (struct.unpack_from("<I", data, 21)[0] & ~0xFFFFFFF) | bits)
        elif data[12:16] == b"VP8 ":
            _pack_at(data, 26, "<HH", width, height)
        return data
    if data[:2] in (b"II", b"MM"):
        for at, fmt in _tiff_dimension_offsets(data):
            _pack_at(data, at, fmt, draw(st.sampled_from([width, height])))
        return data
    return data


def _length_fields(data: bytearray) -> list[tuple[int, str]]:
    """Length and offset fields a decoder trusts: (offset, struct format)."""
    if data.startswith(b"\x89PNG"):
        return [(at, ">I") for at, _, _ in _png_chunks(data)]
    if data.startswith(b"RIFF"):
        return [(4, "<I"), (16, "<I")]
    if data.startswith(b"BM"):
        return [(2, "<I"), (10, "<I"), (14, "<I"), (34, "<I"), (46, "<I")]
    if data[:2] in (b"II", b"MM"):
        return [(4, ("<" if data[:2] == b"II" else ">") + "I")]
    if data.startswith(b"\xff\xd8"):  # segment lengths after each marker
        return [(i + 2, ">H") for i in range(2, len(data) - 3) if data[i] == 0xFF][:32]
    if data.startswith(b"GIF"):
        return [(10, "<B"), (11, "<B")]  # packed flags (colour table size), background
    return []


def _corrupt_length(draw: Draw, data: bytearray) -> bytearray:
    fields = _length_fields(data)
    if not fields:
        return _overwrite(draw, data)
    at, fmt = draw(st.sampled_from(fields))
    value = draw(
        st.one_of(
            st.sampled_from([0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFF_FFFF]), st.integers(0, 2**32 - 1)
        )
    )
    _pack_at(data, at, fmt, value)
    if data.startswith(b"\x89PNG") and draw(st.booleans()):
        _fix_png_crcs(data)
    return data


MUTATIONS = [
    _flip_bit,
    _overwrite,
    _insert,
    _delete,
    _truncate,
    _duplicate,
    _huge_dimensions,
    _corrupt_length,
]


@st.composite
def mutated_images(draw: Draw) -> bytes:
    _, seed = draw(st.sampled_from(SEEDS))
    data = bytearray(seed)
    for mutate in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=4)):
        data = mutate(draw, data)
    return bytes(data)


random_bytes = st.binary(max_size=2048)
signed_garbage = st.builds(
    lambda head, tail: head + tail, st.sampled_from(SIGNATURES), st.binary(max_size=512)
)
max_sides = st.sampled_from([1, 7, 64, 512, DEFAULT_MAX_SIDE])


# -- the property --------------------------------------------------------------------------


def check_jpeg(text: str, max_side: int) -> tuple[bytes, tuple[int, int]]:
    """``text`` is base64 of a baseline RGB JPEG that Pillow decodes and that fits."""
    jpeg = base64.b64decode(text, validate=True)
    assert jpeg.startswith(b"\xff\xd8\xff")
    with Image.open(io.BytesIO(jpeg)) as im:
        assert im.format == "JPEG"
        assert im.mode == "RGB"
        assert not im.info.get("progressive")
        assert 1 <= min(im.size) and max(im.size) <= max_side
        im.load()
        return jpeg, im.size


def _gist(exc: Exception) -> str:
    """The kind of refusal, for hypothesis' statistics (--hypothesis-show-statistics)."""
    text = str(exc)
    for kind in (
        "cannot be decoded",
        "too large to decode",
        "not an image",
        "starts like",
        "does not convert",
        "is empty",
        "max_bytes",
        "not valid base64",
    ):
        if kind in text:
            return kind
    return text[:40]


def convert_or_refuse(data: bytes, max_side: int) -> None:
    try:
        text = mnb.to_base64_jpeg(data, max_side=max_side)
    except mnb.ImageError as exc:
        assert str(exc)
        event(f"ImageError: {_gist(exc)}")
        return
    check_jpeg(text, max_side)
    event("converted")


@fuzz(300)
@given(data=random_bytes, max_side=max_sides)
def test_random_bytes(data, max_side):
    convert_or_refuse(data, max_side)


@fuzz(300)
@given(data=signed_garbage, max_side=max_sides)
def test_garbage_behind_a_signature(data, max_side):
    convert_or_refuse(data, max_side)


@fuzz(1000)
@given(data=mutated_images(), max_side=max_sides)
def test_mutated_images(data, max_side):
    convert_or_refuse(data, max_side)


@fuzz(400)
@given(
    data=st.one_of(mutated_images(), signed_garbage),
    max_side=max_sides,
    quality=st.integers(1, 100),
    max_bytes=st.one_of(st.none(), st.integers(1, 4000)),
    as_data_url=st.booleans(),
)
def test_prepare_image_keeps_its_promises(data, max_side, quality, max_bytes, as_data_url):
    src = "data:image/png;base64," + base64.b64encode(data).decode() if as_data_url else data
    try:
        prepared = mnb.prepare_image(src, max_side=max_side, quality=quality, max_bytes=max_bytes)
    except mnb.ImageError as exc:
        assert str(exc)
        event(f"ImageError: {_gist(exc)}")
        return
    event(f"converted from {prepared.source_format}")
    jpeg, size = check_jpeg(prepared.base64, max_side)
    assert jpeg == prepared.jpeg
    assert size == (prepared.width, prepared.height)
    assert prepared.n_bytes == len(jpeg)
    assert prepared.sha256 == hashlib.sha256(jpeg).hexdigest()
    assert max_bytes is None or prepared.n_bytes <= max_bytes
    assert 1 <= prepared.quality <= quality
    assert prepared.original_width >= 1 and prepared.original_height >= 1
    assert prepared.source_format in SUPPORTED_FORMATS
    assert all(isinstance(note, str) for note in prepared.notes)


# -- what the fuzzing found ----------------------------------------------------------------


def _tiff_with_rational_strip_offsets() -> bytes:
    """A 4x4 RGB TIFF whose StripOffsets tag (273) is typed RATIONAL instead of LONG."""
    data = bytearray(_save(Image.new("RGB", (4, 4), (1, 2, 3)), "TIFF"))
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for i in range(count):
        entry = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, entry)[0] == 273:
            struct.pack_into("<H", data, entry + 2, 5)  # LONG -> RATIONAL
    return bytes(data)


def test_tiff_with_a_mistyped_tag_is_refused():
    with pytest.raises(mnb.ImageError, match="cannot be decoded"):
        mnb.to_base64_jpeg(_tiff_with_rational_strip_offsets())
