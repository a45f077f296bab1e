"""ImageUpload, alone and in the ChatPanel: uploads are checked before sending, then sent."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

import mistral_nb as mnb
from mistral_nb.ui import ChatPanel, ImageUpload


def _png(width: int = 64, height: int = 32, colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def _entry(name: str, mime: str, content: bytes) -> dict:
    """A file as the browser sends it (ipywidgets 8 FileUpload wire format)."""
    return {
        "name": name,
        "type": mime,
        "size": len(content),
        "last_modified": int(time.time() * 1000),
        "content": memoryview(content),
    }


def _pick(widget: ImageUpload, *entries: dict) -> None:
    """What the browser sends when files are chosen: their metadata, and the bytes as buffers."""
    metas = [{k: v for k, v in e.items() if k != "content"} for e in entries]
    widget.picker._handle_custom_msg(
        {"event": "files", "files": metas}, [e["content"] for e in entries]
    )


async def _upload(widget: ImageUpload, *entries: dict) -> None:
    _pick(widget, *entries)
    if widget.pending is not None:
        await widget.pending


@pytest.fixture
def upload(session):
    widget = ImageUpload(session)
    yield widget
    widget.close()


async def test_the_picker_takes_several_images_and_counts_what_is_attached(upload):
    assert upload.picker.accept == "image/*,application/pdf,.pdf" and upload.picker.multiple
    assert upload.picker.count == 0
    await _upload(upload, _entry("a.png", "image/png", _png()))
    await _upload(upload, _entry("b.png", "image/png", _png()))
    assert upload.picker.count == 2  # every image attached, not the last batch
    assert upload.status.text == "2 images attached: they go with the next message"
    assert "content" not in str(upload.picker.get_state())  # no bytes in widget state


async def test_an_upload_shows_thumbnails_sizes_and_tokens_before_sending(upload, session):
    await _upload(
        upload,
        _entry("red.png", "image/png", _png()),
        _entry("big.png", "image/png", _png(3000, 1500, "blue")),
    )

    images = upload.images
    assert [i.source_name for i in images] == ["red.png", "big.png"]
    assert (images[1].width, images[1].height) == (1540, 770)  # fitted before sending
    cards = upload.thumbnails.children
    assert len(cards) == 2
    thumb, caption = cards[1].children[0].children[0], cards[1].children[1].value
    assert thumb.format == "jpeg" and max(Image.open(io.BytesIO(thumb.value)).size) <= 96
    tokens = images[1].estimated_tokens("mistral-small-latest")
    assert "3000×1500 → 1540×770 JPEG" in caption  # downscaled, and it says so
    assert f"~{tokens:,} tokens on mistral-small-latest" in caption
    assert "64×32 JPEG (as is)" in cards[0].children[1].value
    assert upload.status.kind == "ok" and not upload.clear_button.disabled

    session.update_settings(model="pixtral-12b-latest")  # estimates follow the model
    caption = upload.thumbnails.children[1].children[1].value
    assert f"~{images[1].estimated_tokens('pixtral-12b-latest'):,} tokens on pixtral" in caption


async def test_a_bad_file_shows_an_image_error_and_the_good_ones_are_kept(upload):
    await _upload(
        upload,
        _entry("notes.txt", "text/plain", b"just some notes, not a picture"),
        _entry("red.png", "image/png", _png()),
    )
    assert [i.source_name for i in upload.images] == ["red.png"]
    assert upload.status.kind == "error"
    assert "notes.txt" in upload.status.text and "not an image" in upload.status.text
    assert "ImageError" not in upload.status.text


async def test_clear_and_remove(upload):
    await _upload(
        upload, _entry("a.png", "image/png", _png()), _entry("b.png", "image/png", _png())
    )
    remove_a = upload.thumbnails.children[0].children[0].children[1]
    remove_a.click()
    assert [i.source_name for i in upload.images] == ["b.png"]
    assert upload.picker.count == 1 and upload.status.text == "removed a.png"
    upload.clear_button.click()
    assert upload.images == [] and upload.thumbnails.children == ()
    assert upload.clear_button.disabled


async def test_more_than_mistral_takes_per_request_is_refused(session):
    upload = ImageUpload(session, max_images=2)
    await _upload(upload, *(_entry(f"{n}.png", "image/png", _png()) for n in "abc"))
    assert len(upload.images) == 2
    assert "1 image(s) not added" in upload.status.text
    upload.close()


def test_without_a_running_loop_the_upload_is_converted_at_once():
    upload = ImageUpload()
    _pick(upload, _entry("a.png", "image/png", _png()))
    assert upload.pending is None and len(upload.images) == 1
    assert "~" in upload.thumbnails.children[0].children[1].value
    upload.close()


async def test_the_chat_sends_uploaded_images_as_image_url_parts(session, local):
    chat = ChatPanel(session)
    await _upload(chat.image_upload, _entry("red.png", "image/png", _png()))

    chat.message.value = "What is this?"
    chat.send_button.click()
    turn = await chat.pending

    assert turn.status == "ok" and "64x32" in turn.text
    content = local.requests[-1]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is this?"}
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["url"].startswith("data:image/jpeg;base64,/9j/")
    assert chat.image_upload.images == []  # sent, then cleared
    assert chat.image_upload.picker.count == 0 and chat.image_upload.status.text == ""
    assert "with 1 image: red.png" in chat.transcript_html
    chat.close()


async def test_a_bad_upload_leaves_the_session_working(session, local):
    chat = ChatPanel(session)
    await _upload(chat.image_upload, _entry("notes.txt", "text/plain", b"hello"))
    assert chat.image_upload.status.kind == "error"

    chat.message.value = "Still there?"
    chat.send_button.click()
    turn = await chat.pending

    assert turn.status == "ok"
    assert local.requests[-1]["messages"][-1]["content"] == "Still there?"
    chat.close()


async def test_images_alone_can_be_sent(session, local):
    chat = ChatPanel(session)
    await _upload(chat.image_upload, _entry("red.png", "image/png", _png()))
    chat.send_button.click()
    turn = await chat.pending
    assert turn.status == "ok"
    content = local.requests[-1]["messages"][-1]["content"]
    assert [part["type"] for part in content] == ["image_url"]  # no empty text part
    chat.close()


async def test_a_send_that_fails_gives_the_images_back(local):
    session = mnb.Session(api_key="k", base_url=local.base_url)
    chat = ChatPanel(session)
    await _upload(chat.image_upload, _entry("red.png", "image/png", _png()))
    await session.aclose()
    chat.message.value = "Look"
    chat.send_button.click()
    with pytest.raises(mnb.SessionClosedError):
        await chat.pending
    assert chat.message.value == "Look"
    assert [i.source_name for i in chat.image_upload.images] == ["red.png"]
    chat.close()


async def test_a_pdf_through_the_picker_goes_as_a_document(local, tmp_path):
    import io

    from pypdf import PdfWriter

    from mistral_nb.ui import ChatPanel

    writer = PdfWriter()
    for _ in range(2):
        writer.add_blank_page(width=200, height=200)
    pdf = io.BytesIO()
    writer.write(pdf)
    async with mnb.Session(api_key="test-key-0123456789", base_url=local.base_url) as session:
        chat = ChatPanel(session, refresh_interval=0)
        task = chat.image_upload.upload(
            [{"name": "report.pdf", "type": "application/pdf", "content": pdf.getvalue()}]
        )
        if task is not None:
            await task
        assert [d.pages for d in chat.image_upload.documents] == [2]
        assert "1 document attached" in chat.image_upload.status.text
        assert chat.image_upload.picker.count == 1
        chat.message.value = "What is in this report?"
        chat.send_button.click()
        turn = await chat.pending
        assert turn.status == "ok", turn.error
        assert [d["pages"] for d in turn.documents] == [2]
        content = local.requests[-1]["messages"][-1]["content"]
        assert [part["type"] for part in content] == ["text", "document_url"]
        assert chat.image_upload.documents == []  # cleared once sent
        chat.close()
