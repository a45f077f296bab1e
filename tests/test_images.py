"""Image preparation on a generated corpus (every input kind, mode and format) and real photos.

Every test decodes the JPEG we would send and looks at its pixels: which corner a marker
lands in after EXIF orientation, what colour transparency becomes, the size and aspect.
Bad inputs and limits are in test_images_errors.py.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import datetime as dt
import hashlib
import io
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageOps, features

from mistral_nb._images import (
    DEFAULT_MAX_SIDE,
    MAX_DIMENSION,
    PIXTRAL_MAX_SIDE,
    PreparedImage,
    estimate_image_tokens,
    max_side_for,
    prepare_image,
    prepare_images,
    to_base64_jpeg,
)

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


# -- helpers ---------------------------------------------------------------------------


def encode(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def decoded(prepared: PreparedImage) -> Image.Image:
    with Image.open(io.BytesIO(prepared.jpeg)) as im:
        assert im.format == "JPEG"
        assert im.mode == "RGB"
        im.load()
        return im


def assert_colour(actual, expected, tol: int = 12) -> None:
    assert len(actual) == 3, actual
    assert all(abs(a - e) <= tol for a, e in zip(actual, expected)), (actual, expected)


def centre(im: Image.Image) -> tuple[int, ...]:
    return im.getpixel((im.width // 2, im.height // 2))


def flat(mode: str, colour, size=(48, 32)) -> Image.Image:
    return Image.new(mode, size, colour)


def jpeg_markers(data: bytes) -> list[int]:
    """The marker bytes of a JPEG's header segments, up to the start of scan."""
    assert data[:2] == b"\xff\xd8"
    markers, pos = [], 2
    while pos < len(data):
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    return markers


def upright_marker_image(size=(60, 40)) -> Image.Image:
    """Blue, with a red block in the top-left corner: asymmetric under every flip/rotation."""
    im = Image.new("RGB", size, BLUE)
    im.paste(RED, (0, 0, size[0] // 3, size[1] // 3))
    return im


def corners(im: Image.Image) -> dict[str, tuple[int, ...]]:
    w, h = im.size
    dx, dy = max(1, w // 10), max(1, h // 10)
    return {
        "top-left": im.getpixel((dx, dy)),
        "top-right": im.getpixel((w - 1 - dx, dy)),
        "bottom-left": im.getpixel((dx, h - 1 - dy)),
        "bottom-right": im.getpixel((w - 1 - dx, h - 1 - dy)),
    }


def assert_marker_top_left(im: Image.Image) -> None:
    seen = corners(im)
    assert_colour(seen["top-left"], RED, tol=40)
    for corner in ("top-right", "bottom-left", "bottom-right"):
        assert_colour(seen[corner], BLUE, tol=40)


# How a camera stores an upright picture for each EXIF orientation: the inverse of the
# transform a viewer applies (2, 3, 4, 5 and 7 are their own inverse).
STORED_AS = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def with_orientation(upright: Image.Image, orientation: int, fmt: str, **params) -> bytes:
    transform = STORED_AS[orientation]
    stored = upright if transform is None else upright.transpose(transform)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, fmt, exif=exif, **params)


# -- every input kind ------------------------------------------------------------------


@pytest.fixture
def png_bytes() -> bytes:
    return encode(upright_marker_image(), "PNG")


def file_upload_entry(name: str, mime: str, data: bytes) -> dict:
    """An entry of ipywidgets 8 ``FileUpload.value``, shaped as the widget builds it."""
    return {
        "name": name,
        "type": mime,
        "size": len(data),
        "last_modified": dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "content": memoryview(data),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "str path",
        "Path",
        "bytes",
        "bytearray",
        "memoryview",
        "BytesIO",
        "open file",
        "PIL image",
        "FileUpload entry",
        "data URL",
    ],
)
def test_every_input_kind_gives_the_same_picture(kind, png_bytes, tmp_path):
    path = tmp_path / "marker.png"
    path.write_bytes(png_bytes)
    if kind == "open file":
        with open(path, "rb") as fh:
            prepared = prepare_image(fh)
    else:
        src = {
            "str path": lambda: str(path),
            "Path": lambda: path,
            "bytes": lambda: png_bytes,
            "bytearray": lambda: bytearray(png_bytes),
            "memoryview": lambda: memoryview(png_bytes),
            "BytesIO": lambda: io.BytesIO(png_bytes),
            "PIL image": lambda: Image.open(io.BytesIO(png_bytes)),
            "FileUpload entry": lambda: file_upload_entry("marker.png", "image/png", png_bytes),
            "data URL": lambda: "data:image/png;base64," + base64.b64encode(png_bytes).decode(),
        }[kind]()
        prepared = prepare_image(src)
    assert (prepared.width, prepared.height) == (60, 40)
    assert prepared.source_format == "PNG"
    assert_marker_top_left(decoded(prepared))
    expected_name = (
        "marker.png" if kind in ("str path", "Path", "open file", "FileUpload entry") else None
    )
    assert prepared.source_name == expected_name


def test_a_file_upload_value_tuple_prepares_every_entry():
    value = (
        file_upload_entry("a.png", "image/png", encode(flat("RGB", RED), "PNG")),
        file_upload_entry("b.jpg", "image/jpeg", encode(flat("RGB", GREEN), "JPEG")),
    )
    prepared = prepare_images(value)
    assert [p.source_name for p in prepared] == ["a.png", "b.jpg"]
    assert_colour(centre(decoded(prepared[0])), RED)
    assert_colour(centre(decoded(prepared[1])), GREEN)


def test_a_pil_image_given_is_left_untouched():
    original = Image.open(io.BytesIO(encode(flat("RGB", RED, (800, 600)), "JPEG")))
    prepare_image(original, max_side=100)
    assert original.size == (800, 600)
    assert original.mode == "RGB"
    assert_colour(original.getpixel((400, 300)), RED, tol=4)


def test_a_prepared_image_passes_through_or_is_shrunk_keeping_its_source():
    prepared = prepare_image(encode(flat("RGB", RED, (400, 200)), "PNG"))
    assert prepare_image(prepared) is prepared
    smaller = prepare_image(prepared, max_side=100)
    assert (smaller.width, smaller.height) == (100, 50)
    assert (smaller.source_format, smaller.original_width) == ("PNG", 400)


# -- formats ---------------------------------------------------------------------------

FORMATS = [
    ("PNG", "PNG", {}),
    ("JPEG", "JPEG", {"quality": 95}),
    ("WEBP", "WEBP", {"lossless": True}),
    ("GIF", "GIF", {}),
    ("BMP", "BMP", {}),
    ("TIFF", "TIFF", {}),
    ("TIFF", "TIFF", {"compression": "tiff_lzw"}),
    ("ICO", "ICO", {"sizes": [(48, 48)]}),
    ("MPO", "MPO", {"quality": 95}),
]
if features.check("avif"):
    FORMATS.append(("AVIF", "AVIF", {"quality": 95}))


@pytest.mark.parametrize(("fmt", "pillow_name", "params"), FORMATS, ids=lambda v: str(v))
def test_each_format_decodes_to_its_colours(fmt, pillow_name, params):
    im = Image.new("RGB", (48, 48), GREEN)
    im.paste(RED, (0, 0, 24, 48))
    if fmt == "MPO":  # a stereo pair: the first frame is the picture
        data = encode(
            im, pillow_name, save_all=True, append_images=[flat("RGB", BLUE, (48, 48))], **params
        )
    else:
        data = encode(im, pillow_name, **params)
    prepared = prepare_image(data)
    assert prepared.source_format == fmt
    out = decoded(prepared)
    assert out.size == (48, 48)
    assert_colour(out.getpixel((8, 24)), RED, tol=24)
    assert_colour(out.getpixel((40, 24)), GREEN, tol=24)


@pytest.mark.parametrize(
    ("name", "mode", "colour", "params", "expected"),
    [
        ("baseline", "RGB", RED, {}, RED),
        ("progressive", "RGB", GREEN, {"progressive": True}, GREEN),
        ("greyscale", "L", 77, {}, (77, 77, 77)),
        ("cmyk", "CMYK", (255, 0, 255, 0), {}, GREEN),
        ("mpo", "RGB", BLUE, {"save_all": True, "append_images": [flat("RGB", RED)]}, BLUE),
    ],
)
def test_big_jpegs_take_the_draft_path_with_the_right_pixels(name, mode, colour, params, expected):
    fmt = "MPO" if name == "mpo" else "JPEG"
    data = encode(flat(mode, colour, (2000, 1000)), fmt, quality=90, **params)
    prepared = prepare_image(data, max_side=240)
    assert (prepared.width, prepared.height) == (240, 120)
    assert prepared.source_format == fmt
    assert_colour(centre(decoded(prepared)), expected, tol=14)


# -- modes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "value", "fmt", "expected"),
    [
        ("1", 1, "PNG", WHITE),
        ("1", 0, "BMP", BLACK),
        ("L", 128, "PNG", (128, 128, 128)),
        ("L", 200, "JPEG", (200, 200, 200)),
        ("P", None, "PNG", RED),
        ("RGB", (10, 120, 230), "TIFF", (10, 120, 230)),
        ("CMYK", (0, 255, 255, 0), "JPEG", RED),
        ("CMYK", (255, 0, 255, 0), "TIFF", GREEN),
        ("I;16", 65535, "PNG", WHITE),
        ("I;16", 128 * 257, "PNG", (128, 128, 128)),
        ("I;16", 64 * 257, "TIFF", (64, 64, 64)),
        ("I", 192 * 257, "TIFF", (192, 192, 192)),
        ("F", 0.5, "TIFF", (128, 128, 128)),
        ("YCbCr", (76, 85, 255), "JPEG", RED),
    ],
)
def test_each_mode_becomes_rgb_with_the_right_colour(mode, value, fmt, expected):
    if mode == "P":
        im = flat("RGB", RED).quantize(colors=4)
    else:
        im = flat(mode, value)
    prepared = prepare_image(encode(im, fmt))
    assert_colour(centre(decoded(prepared)), expected, tol=14)


def test_sixteen_bit_greyscale_keeps_its_gradient():
    im = Image.linear_gradient("L").resize((64, 64)).convert("I").point(lambda v: v * 257)
    data = encode(im.convert("I;16"), "PNG")
    out = decoded(prepare_image(data))
    assert out.getpixel((32, 2))[0] < 20
    assert out.getpixel((32, 61))[0] > 235


def test_ycbcr_and_other_modes_of_in_memory_images():
    assert_colour(centre(decoded(prepare_image(flat("RGB", RED).convert("HSV")))), RED, tol=6)
    assert_colour(centre(decoded(prepare_image(flat("RGBX", (1, 200, 3, 0))))), (1, 200, 3), tol=8)


# -- transparency ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "build", "fmt", "expected"),
    [
        ("RGBA clear", lambda: flat("RGBA", (0, 0, 0, 0)), "PNG", WHITE),
        ("RGBA half red", lambda: flat("RGBA", (255, 0, 0, 128)), "PNG", (255, 127, 127)),
        ("RGBA opaque", lambda: flat("RGBA", (0, 0, 255, 255)), "PNG", BLUE),
        ("RGBA webp", lambda: flat("RGBA", (0, 0, 0, 0)), "WEBP", WHITE),
        ("LA clear", lambda: flat("LA", (0, 0)), "PNG", WHITE),
        ("LA half black", lambda: flat("LA", (0, 128)), "PNG", (127, 127, 127)),
        ("PA in memory", lambda: flat("RGBA", (0, 0, 0, 0)).convert("PA"), None, WHITE),
        ("RGBa in memory", lambda: flat("RGBA", (0, 0, 0, 0)).convert("RGBa"), None, WHITE),
    ],
)
def test_transparency_is_flattened_onto_white(name, build, fmt, expected):
    im = build()
    src = im if fmt is None else encode(im, fmt)
    assert_colour(centre(decoded(prepare_image(src))), expected, tol=6)


def palette_with_transparent_index() -> Image.Image:
    """A P image: index 0 black and transparent (left half), index 1 red (right half)."""
    im = Image.new("P", (48, 32), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
    im.paste(1, (24, 0, 48, 32))
    im.info["transparency"] = 0
    return im


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_a_transparent_palette_index_becomes_white(fmt):
    data = encode(palette_with_transparent_index(), fmt, transparency=0)
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode == "P" and "transparency" in check.info
    out = decoded(prepare_image(data))
    assert_colour(out.getpixel((6, 16)), WHITE, tol=6)
    assert_colour(out.getpixel((42, 16)), RED, tol=10)


def test_png_palette_with_partial_alpha_trns_blends_onto_white():
    im = Image.new("P", (48, 32), 0)
    im.putpalette([0, 0, 255] + [0, 0, 0] * 255)
    data = encode(im, "PNG", transparency=bytes([64]))  # tRNS: index 0 is 25% opaque
    assert_colour(centre(decoded(prepare_image(data))), (191, 191, 255), tol=6)


@pytest.mark.parametrize(("mode", "key", "colour"), [("RGB", RED, RED), ("L", 50, (50, 50, 50))])
def test_a_trns_colour_key_becomes_white(mode, key, colour):
    im = Image.new(mode, (48, 32), key)
    other = GREEN if mode == "RGB" else 200
    im.paste(other, (24, 0, 48, 32))
    data = encode(im, "PNG", transparency=key)
    out = decoded(prepare_image(data))
    assert_colour(out.getpixel((6, 16)), WHITE, tol=6)
    expected = GREEN if mode == "RGB" else (200, 200, 200)
    assert_colour(out.getpixel((42, 16)), expected, tol=10)


# -- animations ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_an_animation_gives_its_first_frame(fmt):
    frames = [flat("RGB", c) for c in (RED, GREEN, BLUE)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(io.BytesIO(data)) as check:
        assert check.n_frames == 3
    assert_colour(centre(decoded(prepare_image(data))), RED, tol=10)


# -- EXIF orientation ------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied(orientation):
    data = with_orientation(upright_marker_image(), orientation, "JPEG", quality=95)
    prepared = prepare_image(data)
    assert (prepared.width, prepared.height) == (60, 40)
    assert (prepared.original_width, prepared.original_height) == (60, 40)
    out = decoded(prepared)
    assert_marker_top_left(out)
    assert "exif" not in out.info  # the orientation (and any GPS) is not sent on


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_in_other_formats(fmt, orientation):
    params = {"lossless": True} if fmt == "WEBP" else {}
    data = with_orientation(upright_marker_image(), orientation, fmt, **params)
    assert_marker_top_left(decoded(prepare_image(data)))


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_orientation_and_draft_downscale_together(orientation):
    upright = upright_marker_image((1600, 2400))  # portrait as shown, landscape as stored
    data = with_orientation(upright, orientation, "JPEG", quality=90)
    prepared = prepare_image(data, max_side=500)
    assert (prepared.original_width, prepared.original_height) == (1600, 2400)
    assert (prepared.width, prepared.height) == (333, 500)
    assert_marker_top_left(decoded(prepared))


def test_a_corrupt_exif_block_is_a_note_not_an_error():
    exif = Image.Exif()
    exif[0x0112] = 6
    raw = bytearray(exif.tobytes())
    raw[8:10] = b"\xff\xff"  # an absurd number of IFD entries
    data = encode(flat("RGB", RED), "JPEG", exif=bytes(raw))
    prepared = prepare_image(data)
    assert (prepared.width, prepared.height) == (48, 32)
    assert_colour(centre(decoded(prepared)), RED)


# -- size and encoding -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((100, 50), 1540, (100, 50)),  # never upscaled
        ((1540, 300), 1540, (1540, 300)),
        ((3000, 1000), 1540, (1540, 513)),
        ((1000, 3000), 1024, (341, 1024)),
        ((12000, 300), 1540, (1540, 38)),  # a panorama wider than Mistral's 10000 px is fine
        ((20000, 3), 1540, (1540, 1)),  # never rounded away to 0
        ((640, 480), 64, (64, 48)),
    ],
)
def test_downscaled_to_max_side_with_aspect_kept(size, max_side, expected):
    prepared = prepare_image(flat("L", 90, size), max_side=max_side)
    assert (prepared.width, prepared.height) == expected
    assert (prepared.original_width, prepared.original_height) == size
    assert decoded(prepared).size == expected


@given(
    w=st.integers(1, 3000),
    h=st.integers(1, 3000),
    max_side=st.integers(1, MAX_DIMENSION),
)
@settings(max_examples=40, deadline=None)
def test_size_rule_holds_for_any_shape(w, h, max_side):
    prepared = prepare_image(Image.new("L", (w, h), 100), max_side=max_side)
    assert max(prepared.width, prepared.height) <= max_side
    assert prepared.width <= w and prepared.height <= h
    if max(w, h) <= max_side:
        assert (prepared.width, prepared.height) == (w, h)
    else:
        scale = max_side / max(w, h)
        assert max(prepared.width, prepared.height) == max_side
        # each side rounded to the nearest pixel, but never to 0
        assert abs(prepared.width - max(1.0, w * scale)) <= 0.5 + 1e-9
        assert abs(prepared.height - max(1.0, h * scale)) <= 0.5 + 1e-9


@pytest.mark.parametrize("progressive_source", [False, True])
def test_output_is_a_baseline_jpeg(progressive_source):
    source = encode(flat("RGB", GREEN, (800, 600)), "JPEG", progressive=progressive_source)
    prepared = prepare_image(source, max_side=300)
    markers = jpeg_markers(prepared.jpeg)
    assert 0xC0 in markers  # SOF0: baseline
    assert not {0xC2, 0xC6, 0xCA, 0xCE} & set(markers)  # no progressive frame
    with Image.open(io.BytesIO(prepared.jpeg)) as out:
        assert "progressive" not in out.info and "progression" not in out.info


def noise(size: tuple[int, int]) -> Image.Image:
    return Image.frombytes(
        "RGB", size, bytes(hashlib.shake_256(b"seed").digest(size[0] * size[1] * 3))
    )


def test_max_bytes_lowers_the_quality_until_it_fits():
    src = noise((400, 300))
    full = prepare_image(src, max_bytes=None)
    assert full.quality == 85
    limit = full.n_bytes * 3 // 4
    fitted = prepare_image(src, max_bytes=limit)
    assert fitted.n_bytes <= limit
    assert 40 <= fitted.quality < 85
    assert fitted.to_log()["quality"] == fitted.quality


def test_the_default_max_bytes_is_not_reached_by_a_normal_photo():
    prepared = prepare_image(noise((1600, 1200)))
    assert prepared.quality == 85
    assert prepared.n_bytes < 10_000_000


# -- token estimates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "model", "tokens"),
    [
        ((1540, 1540), "mistral-small-2506", 56 * 55),  # 55 x 55 patches + 55 row breaks
        ((1540, 1540), None, 56 * 55),
        ((3080, 3080), "mistral-medium-2508", 56 * 55),  # the server downscales first
        ((4000, 3000), "mistral-small-latest", 56 * 42),
        ((28, 28), "mistral-large-2512", 2),
        ((1, 1), "mistral-small-2506", 2),
        ((1024, 1024), "pixtral-12b-2409", 65 * 64),
        ((2048, 1024), "Pixtral-Large-Latest", 65 * 32),
        ((16, 16), "pixtral-12b-2409", 2),
    ],
)
def test_token_estimates(size, model, tokens):
    assert estimate_image_tokens(*size, model) == tokens


@given(w=st.integers(1, 1540), h=st.integers(1, 1540))
def test_token_estimate_is_about_w_h_over_784(w, h):
    tokens = estimate_image_tokens(w, h, "mistral-small-2506")
    assert w * h / 784 <= tokens <= (w + 28) * (h + 28) / 784 + h / 28 + 1


def test_max_side_follows_the_model():
    assert max_side_for("pixtral-large-2411") == PIXTRAL_MAX_SIDE == 1024
    assert max_side_for("mistral-small-2506") == DEFAULT_MAX_SIDE == 1540
    assert max_side_for(None) == 1540
    prepared = prepare_images([flat("RGB", RED, (3000, 2000))], model="pixtral-12b-2409")
    assert (prepared[0].width, prepared[0].height) == (1024, 683)
    assert prepared[0].estimated_tokens("pixtral-12b-2409") == 65 * 43


# -- the PreparedImage -----------------------------------------------------------------


def test_prepared_image_views_and_log(tmp_path):
    path = tmp_path / "scan.png"
    flat("RGBA", (0, 128, 0, 255), (300, 200)).save(path)
    prepared = prepare_image(path, max_side=150)
    assert base64.b64decode(prepared.base64) == prepared.jpeg
    assert prepared.data_url == "data:image/jpeg;base64," + prepared.base64
    assert prepared.to_chunk() == {"type": "image_url", "image_url": {"url": prepared.data_url}}
    assert prepared.sha256 == hashlib.sha256(prepared.jpeg).hexdigest()
    assert prepared.n_bytes == len(prepared.jpeg)
    assert prepared.to_log() == {
        "source_format": "PNG",
        "source_name": "scan.png",
        "source_mode": "RGBA",
        "original_width": 300,
        "original_height": 200,
        "width": 150,
        "height": 100,
        "n_bytes": prepared.n_bytes,
        "sha256": prepared.sha256,
        "quality": 85,
        "notes": [],
    }
    assert "jpeg" not in repr(prepared) and "/9j/" not in repr(prepared)
    with pytest.raises(dataclasses.FrozenInstanceError):
        prepared.width = 1  # type: ignore[misc]


def test_repr_html_is_a_small_thumbnail():
    prepared = prepare_image(noise((1500, 1000)))
    page = prepared._repr_html_()
    assert page.startswith("<figure") and "<img" in page and "1500x1000" in page
    thumb = page.split("base64,", 1)[1].split('"', 1)[0]
    with Image.open(io.BytesIO(base64.b64decode(thumb))) as im:
        assert max(im.size) <= 256
    assert len(page) < prepared.n_bytes


def test_to_base64_jpeg_is_plain_base64_of_the_jpeg():
    text = to_base64_jpeg(encode(flat("RGB", RED, (2000, 1000)), "PNG"), max_side=1024, quality=85)
    assert not text.startswith("data:")
    with Image.open(io.BytesIO(base64.b64decode(text))) as im:
        assert (im.format, im.size) == ("JPEG", (1024, 512))


# -- colour management -----------------------------------------------------------------


def icc_with_red_and_green_swapped() -> bytes:
    """Pillow's sRGB profile with its red and green primaries swapped, renamed."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (count,) = struct.unpack(">I", icc[128:132])
    table = {}
    for i in range(count):
        sig, offset, size = struct.unpack(">4sII", icc[132 + 12 * i : 144 + 12 * i])
        table[sig] = (i, offset, size)
    (ri, ro, rs), (gi, go, gs) = table[b"rXYZ"], table[b"gXYZ"]
    struct.pack_into(">4sII", icc, 132 + 12 * ri, b"rXYZ", go, gs)
    struct.pack_into(">4sII", icc, 132 + 12 * gi, b"gXYZ", ro, rs)
    return bytes(icc).replace("sRGB".encode("utf-16-be"), "swap".encode("utf-16-be"))


def test_an_embedded_icc_profile_is_converted_to_srgb():
    data = encode(flat("RGB", RED), "PNG", icc_profile=icc_with_red_and_green_swapped())
    assert_colour(centre(decoded(prepare_image(data))), GREEN, tol=10)


def test_an_srgb_profile_leaves_colours_alone():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(flat("RGB", (12, 150, 240)), "PNG", icc_profile=srgb)
    assert_colour(centre(decoded(prepare_image(data))), (12, 150, 240), tol=4)


def test_a_broken_icc_profile_is_a_note_not_an_error():
    data = encode(flat("RGB", (12, 150, 240)), "PNG", icc_profile=b"not a profile at all")
    prepared = prepare_image(data)
    assert_colour(centre(decoded(prepared)), (12, 150, 240), tol=4)
    assert any("ICC profile" in note for note in prepared.notes)


# -- real photographs ------------------------------------------------------------------

skimage_data = pytest.importorskip("skimage.data")


def psnr(a: Image.Image, b: Image.Image) -> float:
    import numpy as np

    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mse = float((diff**2).mean())
    return 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize("photo", ["astronaut", "chelsea", "coffee"])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_real_photos_match_a_careful_reference_resize(photo, fmt):
    upright = Image.fromarray(getattr(skimage_data, photo)())
    # Enlarged 4x so the draft path (JPEG decoded at reduced scale) is taken.
    big = upright.resize((upright.width * 4, upright.height * 4), Image.Resampling.BICUBIC)
    params = {"quality": 95} if fmt == "JPEG" else {"compress_level": 1}
    data = with_orientation(big, 6, fmt, **params)
    prepared = prepare_image(data, max_side=400)
    reference = big.resize((prepared.width, prepared.height), Image.Resampling.LANCZOS)
    assert (prepared.original_width, prepared.original_height) == big.size
    assert psnr(decoded(prepared), reference) > 30


def test_a_real_photo_keeps_its_orientation_against_pillow():
    photo = Image.fromarray(skimage_data.chelsea())
    for orientation in range(1, 9):
        data = with_orientation(photo, orientation, "JPEG", quality=95)
        with Image.open(io.BytesIO(data)) as im:
            expected = ImageOps.exif_transpose(im).convert("RGB")
        out = decoded(prepare_image(data))
        assert out.size == expected.size == photo.size
        assert psnr(out, expected) > 30


# -- layering --------------------------------------------------------------------------


def test_the_engine_does_not_import_ui_libraries():
    source = Path(__file__).resolve().parents[1] / "mistral_nb" / "_images.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module.split(".")[0])
    assert not imported & {"ipywidgets", "IPython", "ipykernel", "traitlets"}
