"""Documents in user messages: ``document_url`` chunks holding a base64 PDF, read with pypdf.

Mistral reads a PDF sent as ``{"type": "document_url", "document_url":
"data:application/pdf;base64,..."}``. LocalMistral decodes it for real: counts its pages,
extracts its text (which is what the prompt is charged for) and quotes the first page in
its reply. Limits are Mistral's document limits (50 MB, 1,000 pages); the wording of the
errors is ours. Remote ``http(s)`` URLs are not downloaded: the endpoint is offline.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_PAGES",
    "DocumentInfo",
    "DocumentRejected",
    "inspect_document",
]

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
MAX_PAGES = 1000
_TEXT_LIMIT = 200_000  # characters of extracted text kept for counting and quoting
_DATA_URL = re.compile(r"^data:application/pdf;base64,", re.IGNORECASE)


class DocumentRejected(ValueError):
    """A document the endpoint refuses; the message goes to the client as is."""


@dataclass(frozen=True)
class DocumentInfo:
    """What the endpoint learned about one document."""

    pages: int = 0
    text: str = ""  # the text of every page, up to a limit
    first_page: str = ""
    n_bytes: int = 0
    name: str | None = None
    url: str | None = None  # set for a remote document, which is never fetched

    def describe(self) -> str:
        label = f" ({self.name})" if self.name else ""
        if self.url is not None:
            return f"a document at {self.url}{label} (not downloaded: this endpoint is offline)"
        noun = "page" if self.pages == 1 else "pages"
        first = " ".join(self.first_page.split())
        quoted = f'; page 1 begins: "{first[:160]}"' if first else "; page 1 has no text"
        return f"a PDF{label} of {self.pages} {noun}{quoted}"


def inspect_document(url: str, where: str, name: str | None = None) -> DocumentInfo:
    """Decode one ``document_url`` value (a PDF data URL, or a remote URL).

    Raises:
        DocumentRejected: when it is not a readable PDF within Mistral's limits.
    """
    if url.startswith(("http://", "https://")):
        return DocumentInfo(url=url, name=name)
    if not _DATA_URL.match(url):
        raise DocumentRejected(
            f"Document at {where} is neither an http(s) URL nor a PDF data URL "
            "(expected data:application/pdf;base64,<data>)"
        )
    try:
        data = base64.b64decode(_DATA_URL.sub("", url, count=1), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DocumentRejected(f"Document at {where} is not valid base64 data") from exc
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentRejected(
            f"Document at {where} is {len(data)} bytes, over the 50 MB limit per document"
        )
    from pypdf import PdfReader  # loaded with the first document

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentRejected(f"Document at {where} is an encrypted PDF; send it decrypted")
        pages = len(reader.pages)
        if pages > MAX_PAGES:
            raise DocumentRejected(
                f"Document at {where} has {pages} pages, over the {MAX_PAGES} page limit"
            )
        texts: list[str] = []
        size = 0
        for page in reader.pages:
            if size >= _TEXT_LIMIT:
                break
            text = page.extract_text() or ""
            texts.append(text)
            size += len(text)
    except DocumentRejected:
        raise
    except Exception as exc:  # a parser fed hostile bytes fails in many ways
        raise DocumentRejected(f"Document at {where} could not be read as a PDF") from exc
    return DocumentInfo(
        pages=pages,
        text="\n".join(texts)[:_TEXT_LIMIT],
        first_page=texts[0] if texts else "",
        n_bytes=len(data),
        name=name,
    )
