"""Bad inputs and limits: each raises ImageError (a ValueError) saying what and what to do."""

from __future__ import annotations

import base64
import io
import struct
import warnings
import zlib

import pytest
from PIL import Image

from mistral_nb import ImageError, MistralNBError
from mistral_nb._images import (
    MAX_IMAGES_PER_REQUEST,
    prepare_image,
    prepare_images,
    to_base64_jpeg,
)


def encode(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height``: a decompression bomb's shape."""
    data = bytearray(encode(Image.new("1", (8, 8)), "PNG"))
    ihdr = 8  # after the signature: length, b"IHDR", then the chunk data
    struct.pack_into(">II", data, ihdr + 8, width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4 : ihdr + 8 + 13]))
    struct.pack_into(">I", data, ihdr + 8 + 13, crc)
    return bytes(data)


def error_for(src, **options) -> ImageError:
    with pytest.raises(ImageError) as info:
        prepare_image(src, **options)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, MistralNBError)
    return info.value


# -- not images ------------------------------------------------------------------------


def test_a_text_file_upload_is_named_with_its_type():
    entry = {
        "name": "notes.txt",
        "type": "text/plain",
        "size": 12,
        "last_modified": None,
        "content": memoryview(b"hello there\n"),
    }
    assert str(error_for(entry)) == (
        "notes.txt (text/plain) is not an image; send PNG, JPEG, WebP, GIF, BMP or TIFF"
    )


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", ["application/pdf", "is not an image"]),
        (b"just some text\n", ["text/plain", "is not an image"]),
        (b"PK\x03\x04\x14\x00\x00\x00", ["application/zip", "is not an image"]),
        (b"\x00\x01\x02\x03" * 20, ["is not an image", "send PNG, JPEG"]),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', ["vector", "PNG"]),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", ["HEIC", "pillow-heif"]),
    ],
    ids=["pdf", "text", "zip", "binary", "svg", "heic"],
)
def test_non_images_say_what_they_are(data, words):
    message = str(error_for(data))
    assert message.startswith(f"the {len(data):,} bytes given")
    for word in words:
        assert word in message


def test_a_text_file_on_disk(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    assert str(error_for(path)).startswith("notes.txt (text/plain) is not an image")


@pytest.mark.parametrize("fmt", ["PPM", "TGA", "PCX", "SGI"])
def test_formats_pillow_reads_but_we_do_not_send_are_named(fmt):
    message = str(error_for(encode(Image.new("RGB", (8, 8)), fmt)))
    assert f"is a {fmt} image, which mistral_nb does not convert" in message
    assert "send PNG, JPEG" in message


# -- empty, truncated, damaged ---------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "start"),
    [
        (b"", "the data given is empty"),
        (bytearray(), "the data given is empty"),
        (io.BytesIO(b""), "the file object is empty"),
        ({"name": "x.png", "type": "image/png", "size": 0, "content": memoryview(b"")}, "x.png is"),
    ],
)
def test_empty_inputs(src, start):
    message = str(error_for(src))
    assert message.startswith(start) and "empty (0 bytes)" in message


def test_an_empty_file(tmp_path):
    (tmp_path / "blank.png").write_bytes(b"")
    assert str(error_for(tmp_path / "blank.png")).startswith("blank.png is empty (0 bytes)")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"])
@pytest.mark.parametrize("keep", [0.5, 0.1, 0.0])
def test_truncated_files_are_reported_as_damaged(fmt, keep):
    data = encode(Image.effect_noise((64, 64), 50).convert("RGB"), fmt)
    cut = data[: max(20, int(len(data) * keep))]
    error = error_for(cut)
    assert "truncated or damaged: export or download it again" in str(error)


def test_damage_is_wrapped_with_its_cause():
    data = encode(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")
    error = error_for(data[: len(data) // 2])
    assert isinstance(error.__cause__, OSError)


def test_a_header_only_png():
    data = encode(Image.new("RGB", (8, 8)), "PNG")
    assert "starts like a PNG file" in str(error_for(data[:30]))


# -- paths, URLs, types ----------------------------------------------------------------


def test_a_path_that_does_not_exist(tmp_path):
    message = str(error_for("scan.png"))
    assert message.startswith("scan.png does not exist (relative to ")
    assert str(error_for(tmp_path / "missing.jpg")).startswith(f"{tmp_path}/missing.jpg does not")


def test_base64_text_passed_as_a_path_gets_a_hint():
    text = base64.b64encode(encode(Image.new("RGB", (40, 40)), "PNG")).decode()
    message = str(error_for(text))
    assert "does not exist" in message and "looks like base64" in message


def test_a_directory(tmp_path):
    assert "is a directory" in str(error_for(tmp_path))


def test_a_url_is_not_downloaded():
    message = str(error_for("https://example.com/cat.png"))
    assert "is a URL" in message and "download it" in message


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("data:image/png;base64,not*base64!", ["not valid base64"]),
        ("data:image/png,rawbytes", ["not a base64 data URL"]),
        (
            "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.4").decode(),
            ["the data URL (application/pdf) is not an image"],
        ),
    ],
)
def test_bad_data_urls(url, words):
    message = str(error_for(url))
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("src", "words"),
    [
        (42, ["from a int", "pass a path"]),
        (None, ["from a NoneType"]),
        ({"name": "a.png"}, ["no bytes under 'content'", "upload.value[0]"]),
    ],
)
def test_things_that_are_not_image_sources(src, words):
    message = str(error_for(src))
    for word in words:
        assert word in message


def test_an_array_gets_a_hint():
    np = pytest.importorskip("numpy")
    assert "PIL.Image.fromarray" in str(error_for(np.zeros((4, 4, 3), dtype=np.uint8)))


def test_a_file_opened_in_text_mode(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"abc")
    with open(path) as fh:
        assert "opened in text mode; open it with 'rb'" in str(error_for(fh))


# -- decompression bombs ---------------------------------------------------------------


def test_a_header_claiming_gigapixels_is_refused():
    error = error_for(png_claiming(100_000, 100_000))
    assert "too large to decode safely" in str(error)
    assert "PIL.Image.MAX_IMAGE_PIXELS" in str(error)
    assert isinstance(error.__cause__, Image.DecompressionBombError)


@pytest.mark.parametrize("side", [120, 200])  # 1.4x and 4x the limit below: warning, error
def test_pillows_bomb_limit_is_ours_and_warnings_are_not_left_changed(monkeypatch, side):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    filters_before = list(warnings.filters)
    error = error_for(encode(Image.new("RGB", (side, side)), "PNG"))
    assert "too large to decode safely" in str(error)
    assert warnings.filters == filters_before
    assert prepare_image(encode(Image.new("RGB", (90, 90)), "PNG")).width == 90


def test_calls_from_several_threads_leave_the_warning_filters_as_they_were():
    from concurrent.futures import ThreadPoolExecutor

    filters_before = list(warnings.filters)
    png = encode(Image.effect_noise((300, 300), 60).convert("RGB"), "PNG")
    with ThreadPoolExecutor(4) as pool:
        sizes = list(pool.map(lambda _: prepare_image(png, max_side=100).width, range(16)))
    assert sizes == [100] * 16
    assert warnings.filters == filters_before


def test_a_wide_source_beyond_mistrals_10000_px_is_downscaled_not_refused():
    data = encode(Image.new("L", (12_000, 300), 128), "PNG")
    prepared = prepare_image(data)
    assert (prepared.width, prepared.height) == (1540, 38)


# -- limits ----------------------------------------------------------------------------


def test_more_than_eight_images_is_refused_before_any_work():
    too_many = [b"not an image"] * (MAX_IMAGES_PER_REQUEST + 1)  # none would decode
    with pytest.raises(ImageError) as info:
        prepare_images(too_many)
    assert str(info.value) == (
        "9 images given, but Mistral accepts at most 8 per request; send them over "
        "several turns, or combine some into one image"
    )


def test_eight_images_are_fine():
    png = encode(Image.new("RGB", (8, 8)), "PNG")
    assert len(prepare_images([png] * 8)) == 8
    assert prepare_images([]) == []


def test_which_image_failed_is_said():
    png = encode(Image.new("RGB", (8, 8)), "PNG")
    with pytest.raises(ImageError) as info:
        prepare_images([png, b"nope", png])
    assert str(info.value).startswith("image 2 of 3: the 4 bytes given (text/plain) is not")
    assert isinstance(info.value.__cause__, ImageError)


@pytest.mark.parametrize("single", ["photo.jpg", b"\x89PNG", Image.new("RGB", (2, 2))])
def test_prepare_images_wants_a_list(single):
    with pytest.raises(ImageError, match=r"takes a list of images"):
        prepare_images(single)


def test_max_bytes_that_cannot_be_met_says_what_to_do():
    noise = Image.effect_noise((800, 800), 120).convert("RGB")
    error = error_for(noise, max_bytes=5_000)
    message = str(error)
    assert "at quality 40, above max_bytes=5,000" in message
    assert "lower max_side (e.g. max_side=" in message


def test_to_base64_jpeg_has_no_byte_limit_unless_asked():
    noise = Image.effect_noise((300, 300), 120).convert("RGB")
    assert to_base64_jpeg(noise)
    with pytest.raises(ImageError, match="max_bytes=100"):
        to_base64_jpeg(noise, max_bytes=100)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"max_side": 0}, ["max_side=0 is out of range", "1 to 10000"]),
        ({"max_side": 10_001}, ["max_side=10001"]),
        ({"max_side": 512.0}, ["max_side=512.0"]),
        ({"max_side": True}, ["max_side=True"]),
        ({"quality": 0}, ["quality=0 is out of range"]),
        ({"quality": 101}, ["quality=101"]),
        ({"max_bytes": 0}, ["max_bytes=0 is not a byte count"]),
        ({"max_bytes": "10MB"}, ["max_bytes='10MB'"]),
    ],
)
def test_options_out_of_range(options, words):
    message = str(error_for(Image.new("RGB", (4, 4)), **options))
    for word in words:
        assert word in message


def test_token_estimate_wants_pixel_sizes():
    from mistral_nb._images import estimate_image_tokens

    with pytest.raises(ImageError, match="width=0"):
        estimate_image_tokens(0, 10, None)
