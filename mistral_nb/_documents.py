"""PDFs as Mistral ``document_url`` chunks, checked before anything is sent.

:func:`prepare_document` takes a PDF as a path, bytes, a binary file object, an ipywidgets 8
``FileUpload`` value entry (recognised by its shape: the engine never imports ipywidgets)
or a ``data:application/pdf;base64,...`` URL, and returns a :class:`PreparedDocument`, or
raises a :class:`DocumentError` that says what is wrong and what to do.

Checks, cheapest first, so a bad input costs nothing:

1. a path must name a regular file: a directory, a FIFO or a device (``/dev/zero``) is
   refused from ``stat`` alone, never opened;
2. at most :data:`MAX_DOCUMENT_BYTES` (50 MB), checked from the size an upload or ``fstat``
   declares before reading, and a file object is never read past the limit;
3. the bytes must start like a PDF (``%PDF-`` within the first 1,024 bytes, as PDF readers
   allow);
4. pypdf must open it and count its pages: 1 to :data:`MAX_DOCUMENT_PAGES` (1,000). A PDF
   that needs a password is refused; one encrypted with an empty user password (a PDF that
   only restricts printing or copying) opens in any reader, and is accepted.

The limits are Mistral's, from its Document QnA FAQ ("Uploaded document files must not
exceed 50 MB in size and should be no longer than 1,000 pages",
``public/studio-api/document-processing/document_qna.md`` in mistralai/platform-docs-public
@ 506076b5). We read 50 MB as 50 x 1024 x 1024 bytes; whether Mistral counts the limit on
the file or on its base64 form is not documented.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ._document_sources import MAX_DOCUMENT_BYTES, check_size, read_document, shorten
from ._errors import DocumentError

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_DOCUMENT_PAGES",
    "PreparedDocument",
    "prepare_document",
]

MAX_DOCUMENT_PAGES = 1_000
"""Mistral's page limit for one document (its Document QnA FAQ)."""

CHARS_PER_TOKEN = 4
"""Characters of extracted text per token in the estimate: about what Mistral's tekken
tokenizer gives on English prose (its docs example, a 10-page arXiv paper, was 13,707
prompt tokens: ~1,370 a page, in line with ~5,500 characters a page / 4)."""

SCANNED_PAGE_TOKENS = 1_000
"""Assumed tokens for a page with images and no text layer (a scan): Mistral OCRs it, and
we cannot see the text it will find. An assumption, not a measured figure."""

_SAMPLE_PAGES = 20  # text is extracted from at most this many pages, spread evenly
_FIRST_PAGE_CHARS = 2_000
_PYPDF_LOG_LOCK = threading.Lock()  # one document at a time sets pypdf's log level


@dataclass(frozen=True)
class PreparedDocument:
    """A checked PDF, ready to go out as a ``document_url`` chunk.

    Attributes:
        name: The file name sent as ``document_name`` and shown in the log.
        data: The PDF's bytes, unchanged.
        pages: The page count.
        size_bytes: The size of ``data``.
        sha256: The hex SHA-256 of ``data``: the same file gives the same digest.
        estimated_tokens: A rough guess of the prompt tokens Mistral will count: extracted
            text / :data:`CHARS_PER_TOKEN`, :data:`SCANNED_PAGE_TOKENS` per page with images
            but no text, from at most 20 evenly spread pages scaled to the whole document.
        first_page_text: The first page's extracted text (at most 2,000 characters; empty
            for a scan).
    """

    name: str
    data: bytes = field(repr=False)
    pages: int
    size_bytes: int
    sha256: str
    estimated_tokens: int
    first_page_text: str = field(repr=False)

    @property
    def data_url(self) -> str:
        """The PDF as a ``data:application/pdf;base64,...`` URL."""
        return "data:application/pdf;base64," + base64.b64encode(self.data).decode("ascii")

    def to_chunk(self) -> dict[str, str]:
        """The content chunk Mistral takes in a user message (OAS ``DocumentURLChunk``)."""
        return {
            "type": "document_url",
            "document_url": self.data_url,
            "document_name": self.name,
        }

    def to_log(self) -> dict[str, Any]:
        """What the turn log keeps of the document: everything but its bytes."""
        return {
            "name": self.name,
            "pages": self.pages,
            "bytes": self.size_bytes,
            "sha256": self.sha256,
            "estimated_tokens": self.estimated_tokens,
        }


def prepare_document(source: Any, *, name: str | None = None) -> PreparedDocument:
    """Check a PDF and make it ready to send.

    Args:
        source: A path (``str`` or ``os.PathLike``), ``bytes``/``bytearray``/``memoryview``,
            a binary file object, one ``FileUpload.value`` entry (a mapping with ``name``,
            ``type``, ``size`` and ``content``), or a ``data:application/pdf;base64,`` URL.
        name: The name to send and log; by default the file's own name, else
            ``document.pdf``.

    Returns:
        The :class:`PreparedDocument`.

    Raises:
        DocumentError: The input is not a readable PDF within Mistral's limits; the message
            says what is wrong and how to fix it.
    """
    data, own_name = read_document(source)
    label = name or own_name or "the document given"
    if not data:
        raise DocumentError(f"{label} is empty (0 bytes); send a PDF file")
    check_size(label, len(data))
    _check_magic(label, data)
    pages, first_text, tokens = _inspect(label, data)
    return PreparedDocument(
        name=name or own_name or "document.pdf",
        data=data,
        pages=pages,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        estimated_tokens=tokens,
        first_page_text=first_text,
    )


def _check_magic(label: str, data: bytes) -> None:
    if b"%PDF-" in data[:1024]:
        return
    head = data[:16]
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF")):
        what, fix = "an image", "send it as images=[...], or save it as a PDF"
    elif head.startswith(b"PK\x03\x04"):
        what, fix = "a ZIP archive (a .docx, .xlsx or .pptx?)", "export it as PDF first"
    elif head.startswith(b"\xd0\xcf\x11\xe0"):
        what, fix = "an old Office file (.doc, .xls?)", "export it as PDF first"
    elif head.lstrip().startswith((b"<!DOCTYPE", b"<html", b"<HTML", b"<?xml")):
        what, fix = "an HTML or XML page", "print it to PDF, or paste its text into the message"
    elif all(b >= 32 or b in b"\t\n\r\f" for b in data[:512]):
        what, fix = "text", "paste the text into the message, or send a PDF"
    else:
        what, fix = "binary data of an unknown kind", "send a PDF file"
    raise DocumentError(f"{label} is {what}, not a PDF (no %PDF- header); {fix}")


def _inspect(label: str, data: bytes) -> tuple[int, str, int]:
    """Open ``data`` with pypdf: the page count, the first page's text, the token estimate."""
    with _pypdf_quiet():
        return _read_pdf(label, data)


@contextlib.contextmanager
def _pypdf_quiet() -> Iterator[None]:
    """pypdf's warnings about a PDF it repairs ("incorrect startxref pointer") off.

    Without a handler, Python prints them in the notebook cell; they say nothing the user
    can act on, and a PDF pypdf cannot repair is a DocumentError anyway. pypdf's loggers
    are children of ``pypdf``, so raising its level silences them all, for this call only.
    """
    logger = logging.getLogger("pypdf")
    with _PYPDF_LOG_LOCK:
        previous = logger.level
        logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            logger.setLevel(previous)


def _read_pdf(label: str, data: bytes) -> tuple[int, str, int]:
    from pypdf import PdfReader  # deferred: importing pypdf is only needed for documents
    from pypdf.errors import DependencyError, FileNotDecryptedError

    # pypdf raises many kinds of error on damaged files (KeyError, ValueError, its own
    # PdfReadError, RecursionError...): all of them mean "cannot read this PDF" here.
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise _locked(label)
        pages = len(reader.pages)
    except DocumentError:
        raise
    except (DependencyError, FileNotDecryptedError) as exc:
        raise _locked(label) from exc
    except Exception as exc:
        raise DocumentError(
            f"{label} starts like a PDF but pypdf cannot read it ({type(exc).__name__}: "
            f"{shorten(str(exc))}); it is probably damaged or truncated: export or download "
            "it again"
        ) from exc
    if pages == 0:
        raise DocumentError(f"{label} has no pages; send a PDF with at least one page")
    if pages > MAX_DOCUMENT_PAGES:
        raise DocumentError(
            f"{label} has {pages:,} pages; Mistral reads at most {MAX_DOCUMENT_PAGES:,} pages "
            "per document: split it into parts (e.g. with pypdf's PdfWriter) and send them in turn"
        )
    sample = sorted(
        {(i * pages) // min(pages, _SAMPLE_PAGES) for i in range(min(pages, _SAMPLE_PAGES))}
    )
    texts = {index: _page_text(reader.pages[index]) for index in sample}
    sampled_tokens = sum(_page_tokens(reader.pages[i], texts[i]) for i in sample)
    estimate = math.ceil(sampled_tokens * pages / len(sample))
    return pages, texts[0][:_FIRST_PAGE_CHARS], estimate


def _page_text(page: Any) -> str:
    try:
        return str(page.extract_text() or "").strip()
    except Exception:  # noqa: BLE001 - a page whose text pypdf cannot extract counts as a scan
        return ""


def _page_tokens(page: Any, text: str) -> int:
    if text:
        return math.ceil(len(text) / CHARS_PER_TOKEN)
    return SCANNED_PAGE_TOKENS if _has_images(page) else 0


def _has_images(page: Any) -> bool:
    try:
        xobjects = page["/Resources"]["/XObject"].get_object()
        return any(
            xobject.get_object().get("/Subtype") == "/Image" for xobject in xobjects.values()
        )
    except Exception:  # noqa: BLE001 - no resources, or unreadable ones: no image
        return False


def _locked(label: str) -> DocumentError:
    return DocumentError(
        f"{label} is password-protected (encrypted); Mistral cannot read it: save an "
        "unprotected copy (e.g. qpdf --decrypt --password=PASSWORD in.pdf out.pdf) and send that"
    )
