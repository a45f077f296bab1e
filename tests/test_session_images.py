"""Images end to end: prepared, sent as Mistral expects, described by LocalMistral, logged."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, datetime

import pytest
from PIL import Image

import mistral_nb as mnb


def png_bytes(size=(300, 200), colour="blue") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


async def test_every_input_kind_goes_out_as_image_url_parts(session, local, tmp_path):
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (4000, 1000), "green").save(path, "JPEG")
    raw = png_bytes()
    upload_entry = {
        "name": "upload.png",
        "type": "image/png",
        "size": len(raw),
        "last_modified": datetime.now(UTC),
        "content": memoryview(raw),
    }
    images = [str(path), raw, Image.new("L", (10, 20)), upload_entry, io.BytesIO(raw)]

    turn = await session.send("What is in these pictures?", images=images)

    assert turn.status == "ok"
    content = local.requests[-1]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is in these pictures?"}
    urls = [part["image_url"]["url"] for part in content[1:]]
    assert len(urls) == 5 and all(u.startswith("data:image/jpeg;base64,") for u in urls)
    first = Image.open(io.BytesIO(base64.b64decode(urls[0].split(",", 1)[1])))
    assert (first.format, first.mode, first.size) == ("JPEG", "RGB", (1540, 385))
    assert "5 images" in turn.text and "1540x385" in turn.text


async def test_each_image_is_logged_without_its_data(session, local):
    raw = png_bytes((640, 480))
    turn = await session.send("Describe", images=[raw])

    (entry,) = turn.images
    sent = base64.b64decode(
        local.requests[-1]["messages"][-1]["content"][1]["image_url"]["url"].split(",")[1]
    )
    assert entry["source_format"] == "PNG"
    assert (entry["original_width"], entry["original_height"]) == (640, 480)
    assert (entry["width"], entry["height"]) == (640, 480)
    assert entry["n_bytes"] == len(sent)
    assert entry["sha256"] == hashlib.sha256(sent).hexdigest()
    assert entry["estimated_tokens"] == mnb.estimate_image_tokens(640, 480, "mistral-small-latest")
    frame = session.log.images()
    assert frame.iloc[0]["turn"] == 1 and frame.iloc[0]["sha256"] == entry["sha256"]
    assert "base64" not in str(session.log.turns().iloc[0].to_dict())


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.7\n%binary", "not an image"),
        (png_bytes()[:60], "truncated"),
    ],
    ids=["empty", "pdf", "truncated"],
)
async def test_a_bad_image_raises_before_anything_is_sent_and_keeps_the_conversation(
    session, local, bad, message
):
    await session.send("Hello")
    before = (len(local.requests), session.messages)
    with pytest.raises(mnb.ImageError, match=message):
        await session.send("And this?", images=[png_bytes(), bad])
    assert (len(local.requests), session.messages) == before
    assert len(session.log) == 1
    assert (await session.send("Still there?")).status == "ok"


async def test_more_images_than_mistral_accepts_are_refused(session, local):
    with pytest.raises(mnb.ImageError, match="8"):
        await session.send("Many", images=[png_bytes()] * 9)
    assert local.requests == []


def test_to_base64_jpeg_gives_plain_base64_of_a_jpeg():
    text = mnb.to_base64_jpeg(png_bytes((2000, 1000)), max_side=1024, quality=85)
    image = Image.open(io.BytesIO(base64.b64decode(text)))
    assert (image.format, image.size) == ("JPEG", (1024, 512))


async def test_an_images_only_message_has_no_empty_text_part(session, local):
    turn = await session.send("", images=[png_bytes()])
    assert turn.status == "ok"
    content = local.requests[-1]["messages"][-1]["content"]
    assert [part["type"] for part in content] == ["image_url"]


async def test_images_held_by_the_history_count_against_mistrals_limit(session, local):
    await session.send("Five", images=[png_bytes()] * 5)
    with pytest.raises(mnb.ImageError, match="already holds 5 image.*send 3 or fewer"):
        await session.send("Four more", images=[png_bytes()] * 4)
    assert len(local.requests) == 1
    assert (await session.send("Three more", images=[png_bytes()] * 3)).status == "ok"
    session.reset()
    assert (await session.send("Fresh start", images=[png_bytes()] * 8)).status == "ok"
