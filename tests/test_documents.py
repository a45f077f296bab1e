"""PDFs become Mistral document chunks, and every bad input is a DocumentError that says why.

The PDFs are real: written by ``fixtures/documents/make_pdfs.py`` (by hand, text in
Helvetica) or by pypdf, and read back with pypdf by the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import math
import os
import socket
import zipfile

import pytest
from fixtures.documents.make_pdfs import INVOICE, locked_pdf, scan_pdf, text_pdf
from mistralai.client.models import DocumentURLChunk
from pypdf import PdfReader, PdfWriter

from mistral_nb._documents import (
    MAX_DOCUMENT_BYTES,
    MAX_DOCUMENT_PAGES,
    SCANNED_PAGE_TOKENS,
    PreparedDocument,
    prepare_document,
)
from mistral_nb._errors import DocumentError, MistralNBError

INVOICE_PDF = text_pdf([INVOICE])


@pytest.fixture
def invoice_path(tmp_path):
    path = tmp_path / "invoice.pdf"
    path.write_bytes(INVOICE_PDF)
    return path


def upload_entry(data: bytes, name: str = "upload.pdf") -> dict:
    # The shape of one ipywidgets 8 FileUpload.value entry.
    return {
        "name": name,
        "type": "application/pdf",
        "size": len(data),
        "last_modified": 1_767_000_000_000,
        "content": memoryview(data),
    }


def pdf_with_blank_pages(count: int) -> bytes:
    writer = PdfWriter()
    for _ in range(count):
        writer.add_blank_page(width=72, height=72)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# -- what a prepared document holds --------------------------------------------------------


def test_a_pdf_path_gives_its_pages_size_digest_text_and_estimate(invoice_path):
    doc = prepare_document(invoice_path)
    assert doc.name == "invoice.pdf"
    assert doc.pages == 1
    assert doc.size_bytes == len(INVOICE_PDF) == invoice_path.stat().st_size
    assert doc.sha256 == hashlib.sha256(INVOICE_PDF).hexdigest()
    assert doc.first_page_text == INVOICE
    assert doc.estimated_tokens == math.ceil(len(INVOICE) / 4)
    assert doc.data == INVOICE_PDF


def test_the_chunk_is_mistrals_document_url_with_a_base64_data_url(invoice_path):
    doc = prepare_document(invoice_path)
    chunk = doc.to_chunk()
    assert set(chunk) == {"type", "document_url", "document_name"}
    assert chunk["type"] == "document_url"
    assert chunk["document_name"] == "invoice.pdf"
    prefix = "data:application/pdf;base64,"
    assert chunk["document_url"].startswith(prefix)
    assert base64.b64decode(chunk["document_url"][len(prefix) :]) == INVOICE_PDF
    # The official SDK's model of the chunk (generated from Mistral's OpenAPI spec) takes it.
    parsed = DocumentURLChunk.model_validate(chunk)
    assert parsed.document_name == "invoice.pdf"


def test_the_log_entry_has_no_bytes_and_is_json(invoice_path):
    doc = prepare_document(invoice_path)
    entry = doc.to_log()
    assert entry == {
        "name": "invoice.pdf",
        "pages": 1,
        "bytes": len(INVOICE_PDF),
        "sha256": hashlib.sha256(INVOICE_PDF).hexdigest(),
        "estimated_tokens": doc.estimated_tokens,
    }
    text = json.dumps(entry)
    assert base64.b64encode(INVOICE_PDF).decode()[:40] not in text
    assert "JVBER" not in repr(doc)  # the base64 of "%PDF" never shows in a repr
    assert "Ada Lovelace" not in repr(doc)


@pytest.mark.parametrize(
    ("make_source", "expected_name"),
    [
        (lambda path: INVOICE_PDF, "document.pdf"),
        (lambda path: bytearray(INVOICE_PDF), "document.pdf"),
        (lambda path: memoryview(INVOICE_PDF), "document.pdf"),
        (lambda path: str(path), "invoice.pdf"),
        (lambda path: io.BytesIO(INVOICE_PDF), "document.pdf"),
        (lambda path: open(path, "rb"), "invoice.pdf"),  # noqa: SIM115 - closed by the test
        (lambda path: upload_entry(INVOICE_PDF, "scan 1.pdf"), "scan 1.pdf"),
        (
            lambda path: "data:application/pdf;base64," + base64.b64encode(INVOICE_PDF).decode(),
            "document.pdf",
        ),
    ],
    ids=[
        "bytes",
        "bytearray",
        "memoryview",
        "str path",
        "BytesIO",
        "open file",
        "upload",
        "data URL",
    ],
)
def test_every_kind_of_source_gives_the_same_document(invoice_path, make_source, expected_name):
    source = make_source(invoice_path)
    try:
        doc = prepare_document(source)
    finally:
        if hasattr(source, "close"):
            source.close()
    assert doc.name == expected_name
    assert doc.data == INVOICE_PDF
    assert doc.pages == 1
    assert doc.sha256 == hashlib.sha256(INVOICE_PDF).hexdigest()


def test_name_overrides_the_files_own_name(invoice_path):
    assert prepare_document(invoice_path, name="march.pdf").name == "march.pdf"
    assert prepare_document(INVOICE_PDF, name="march.pdf").to_chunk()["document_name"] == (
        "march.pdf"
    )


def test_several_pages_are_counted_and_only_the_first_is_the_first_page_text():
    doc = prepare_document(text_pdf(["First page: the summary.", "Second page: details."]))
    assert doc.pages == 2
    assert doc.first_page_text == "First page: the summary."
    assert doc.estimated_tokens == math.ceil(24 / 4) + math.ceil(21 / 4)


def test_a_scanned_page_is_estimated_at_the_scan_rate_and_has_no_text():
    doc = prepare_document(scan_pdf())
    assert doc.first_page_text == ""
    assert doc.estimated_tokens == SCANNED_PAGE_TOKENS


def test_blank_pages_estimate_to_nothing():
    doc = prepare_document(pdf_with_blank_pages(3))
    assert (doc.pages, doc.estimated_tokens, doc.first_page_text) == (3, 0, "")


def test_a_long_document_is_estimated_from_a_sample_scaled_to_all_pages():
    pages = [f"page {i:03d} " + "x" * 395 for i in range(60)]  # 404 characters: 101 tokens
    doc = prepare_document(text_pdf(pages))
    assert doc.pages == 60
    assert doc.estimated_tokens == 60 * 101


def test_a_pdf_that_only_restricts_copying_opens_and_is_accepted():
    # Encrypted with an empty user password: every reader opens it without asking.
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(INVOICE_PDF)))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    doc = prepare_document(buffer.getvalue(), name="restricted.pdf")
    assert doc.pages == 1
    assert doc.first_page_text == INVOICE


def test_the_largest_allowed_page_count_is_accepted():
    assert prepare_document(pdf_with_blank_pages(MAX_DOCUMENT_PAGES)).pages == MAX_DOCUMENT_PAGES


# -- what is refused, and what the message says -------------------------------------------


def refused(source, *, name=None) -> str:
    with pytest.raises(DocumentError) as info:
        prepare_document(source, name=name)
    error = info.value
    assert isinstance(error, ValueError) and isinstance(error, MistralNBError)
    return str(error)


def test_a_character_device_is_refused_without_reading_it():
    message = refused("/dev/zero")
    assert "not a regular file (a character device)" in message


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "pipe.pdf"
    os.mkfifo(fifo)
    assert "not a regular file (a FIFO)" in refused(fifo)


def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        message = refused(path)
    assert "not a regular file (a socket)" in message


def test_a_directory_is_refused(tmp_path):
    assert "is a directory" in refused(tmp_path)


def test_a_missing_file_says_where_it_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = refused("nowhere.pdf")
    assert f"nowhere.pdf does not exist (relative to {tmp_path})" in message


def test_an_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    assert "empty.pdf is empty (0 bytes)" in refused(path)


def test_a_file_over_50_mb_is_refused_from_its_size_before_reading(tmp_path):
    path = tmp_path / "huge.pdf"
    with open(path, "wb") as fh:
        fh.truncate(MAX_DOCUMENT_BYTES + 1)  # sparse: nothing is written
    message = refused(path)
    assert "huge.pdf is 50.0 MB" in message
    assert "at most 50 MB" in message
    assert "split it" in message


def test_an_upload_over_50_mb_is_refused_from_its_declared_size():
    entry = upload_entry(b"%PDF-1.4", "big.pdf")
    entry["size"] = 60 * 1024 * 1024
    assert "big.pdf is 60.0 MB" in refused(entry)


def test_bytes_and_a_file_object_over_50_mb_are_refused(tmp_path):
    too_big = b"%PDF-1.4\n" + bytes(MAX_DOCUMENT_BYTES)
    assert "at most 50 MB" in refused(too_big)
    path = tmp_path / "big.pdf"
    path.write_bytes(too_big)
    with open(path, "rb") as fh:
        assert "big.pdf is 50.0 MB" in refused(fh)


def test_more_than_1000_pages_is_refused():
    message = refused(pdf_with_blank_pages(MAX_DOCUMENT_PAGES + 1), name="book.pdf")
    assert "book.pdf has 1,001 pages" in message
    assert "at most 1,000 pages" in message


def test_a_pdf_with_no_pages_is_refused():
    assert "has no pages" in refused(text_pdf([]))


def test_a_password_protected_pdf_is_refused_with_the_fix():
    message = refused(locked_pdf("Confidential"), name="locked.pdf")
    assert "locked.pdf is password-protected" in message
    assert "unprotected copy" in message


@pytest.mark.parametrize("cut", [40, len(INVOICE_PDF) // 2, len(INVOICE_PDF) - 30])
def test_a_truncated_pdf_is_refused_as_damaged(cut, caplog):
    message = refused(INVOICE_PDF[:cut], name="cut.pdf")
    assert "cut.pdf starts like a PDF but pypdf cannot read it" in message
    assert "damaged or truncated" in message


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"Dear Ada,\nthe invoice is attached.\n", "is text, not a PDF"),
        (
            b"\x89PNG\r\n\x1a\n" + bytes(40),
            "is an image, not a PDF (no %PDF- header); send it as images=",
        ),
        (b"\xff\xd8\xff\xe0" + bytes(40), "is an image"),
        (
            zip_bytes(),
            "is a ZIP archive (a .docx, .xlsx or .pptx?), not a PDF (no %PDF- header); export it",
        ),
        (b"<!DOCTYPE html><html></html>", "is an HTML or XML page"),
        (bytes(range(256)), "is binary data of an unknown kind, not a PDF"),
    ],
    ids=["text", "png", "jpeg", "docx", "html", "binary"],
)
def test_what_is_not_a_pdf_is_named(data, expected):
    message = refused(data, name="x.pdf")
    assert message.startswith("x.pdf ")
    assert expected in message


def test_a_url_is_refused_with_what_to_do():
    message = refused("https://arxiv.org/pdf/1805.04770")
    assert "is a URL; mistral_nb does not download documents" in message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (42, "cannot read a document from a int"),
        (["a.pdf"], "cannot read a document from a list"),
        ({"name": "a.pdf"}, "no bytes under 'content'"),
        (io.StringIO("%PDF-1.4"), "opened in text mode; open it with 'rb'"),
        ("data:image/png;base64,iVBORw0KGgo=", "holds image/png, not application/pdf"),
        ("data:application/pdf;base64,%%%%", "not valid base64"),
        ("data:application/pdf,%PDF-1.4", "is not a base64 data URL"),
    ],
    ids=["int", "list", "mapping", "text file", "image data URL", "bad base64", "not base64"],
)
def test_unusable_sources_say_what_to_pass(source, expected):
    assert expected in refused(source)


def test_a_prepared_document_is_immutable(invoice_path):
    doc = prepare_document(invoice_path)
    assert isinstance(doc, PreparedDocument)
    with pytest.raises(AttributeError):
        doc.pages = 2  # type: ignore[misc]


def test_a_pdf_pypdf_repairs_is_accepted_without_printing_pypdfs_warnings(caplog):
    # A wrong startxref pointer: pypdf rebuilds the cross-reference table, and says so.
    start = INVOICE_PDF.rindex(b"startxref\n")
    repaired = INVOICE_PDF[:start] + b"startxref\n99\n%%EOF\n"
    with caplog.at_level(logging.WARNING):
        doc = prepare_document(repaired, name="repaired.pdf")
    assert doc.first_page_text == INVOICE
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    assert logging.getLogger("pypdf").level == logging.NOTSET  # put back as it was
