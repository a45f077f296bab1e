"""ImageUpload: pick images, see what will be sent (sizes, estimated tokens), then send them.

Each picked file is converted at once with :func:`mistral_nb.prepare_image` (in a worker
thread, so the kernel stays free), for the model in force, so a bad file is reported
before anything is sent and the thumbnails show the JPEG that will go out.  The picker
keeps no bytes in its widget state (a saved notebook holds none), and its label counts
the images attached, which the chat empties once they are sent.
"""

from __future__ import annotations

import asyncio
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

from ipywidgets import HTML, Button, HBox, Image, Layout, VBox
from PIL import Image as PILImage

from .._documents import PreparedDocument, prepare_document
from .._errors import DocumentError, ImageError
from .._images import MAX_IMAGES_PER_REQUEST, PreparedImage, max_side_for, prepare_image
from .._session import Session, SessionEvent
from ._status import (
    ShownAsWidget,
    StatusLine,
    close_children,
    guarded,
    release,
    run_guarded,
    schedule,
)
from ._web import FilePicker

__all__ = ["ImageUpload", "caption"]

_THUMB_SIDE = 96


def _thumbnail(image: PreparedImage) -> bytes:
    with PILImage.open(io.BytesIO(image.jpeg)) as im:
        im.draft("RGB", (_THUMB_SIDE, _THUMB_SIDE))
        im.thumbnail((_THUMB_SIDE, _THUMB_SIDE))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=70)
    return out.getvalue()


def _is_pdf(entry: Mapping[str, Any]) -> bool:
    content = entry.get("content")
    head = bytes(content[:5]) if isinstance(content, (bytes, bytearray, memoryview)) else b""
    return (
        head == b"%PDF-"
        or str(entry.get("type") or "") == "application/pdf"
        or str(entry.get("name") or "").lower().endswith(".pdf")
    )


def _prepare_all(
    entries: Sequence[Mapping[str, Any]], model: str | None
) -> list[tuple[PreparedImage, bytes] | PreparedDocument | ImageError | DocumentError]:
    """Convert every entry (a PDF becomes a document); a bad one becomes its error."""
    results: list[tuple[PreparedImage, bytes] | PreparedDocument | ImageError | DocumentError] = []
    for entry in entries:
        try:
            if _is_pdf(entry):
                results.append(prepare_document(entry))
                continue
            image = prepare_image(entry, max_side=max_side_for(model))
            results.append((image, _thumbnail(image)))
        except (ImageError, DocumentError) as exc:
            results.append(exc)
    return results


def document_caption(document: PreparedDocument) -> list[str]:
    """What a document card says: name; pages and kB; estimated tokens."""
    pages = f"{document.pages} page{'s' if document.pages != 1 else ''}"
    return [
        document.name or "document.pdf",
        f"PDF · {pages} · {document.size_bytes / 1000:,.0f} kB",
        f"~{document.estimated_tokens:,} tokens",
    ]


def caption(image: PreparedImage, model: str | None) -> list[str]:
    """What a thumbnail says: name; original size → sent size; kB; estimated tokens."""
    size = f"{image.width}×{image.height}"
    original = f"{image.original_width}×{image.original_height}"
    resized = original != size
    sizes = f"{original} → {size} JPEG" if resized else f"{size} JPEG (as is)"
    tokens = f"~{image.estimated_tokens(model):,} tokens" + (f" on {model}" if model else "")
    return [image.source_name or "image", sizes, f"{image.n_bytes / 1000:,.0f} kB · {tokens}"]


class ImageUpload(ShownAsWidget, VBox):
    """An image picker with thumbnails, sizes and estimated tokens before sending.

    Args:
        session: The session whose model the conversion and the token estimates are for
            (and follow); None estimates for a Mistral Small/Medium 3.x model.
        max_images: The most images kept; Mistral takes at most 8 per request.

    Attributes:
        picker: The "attach images" button (its label counts the images attached).
        clear_button: Drops every image.
        thumbnails: One card per image: thumbnail, a remove button, the caption.
        pending: The task converting the latest pick (await it in async code), or None.
        status: The status line: errors of skipped files, or what was added.
    """

    def __init__(
        self,
        session: Session | None = None,
        *,
        max_images: int = MAX_IMAGES_PER_REQUEST,
        **kwargs: Any,
    ) -> None:
        self.session = session
        self.max_images = max_images
        self.status = StatusLine()
        self.pending: asyncio.Task[None] | None = None
        self._items: list[tuple[PreparedImage, bytes]] = []
        self._documents: list[PreparedDocument] = []
        self.picker = FilePicker(
            description="attach images",
            tooltip=f"PNG, JPEG, WebP, GIF, BMP or TIFF (at most {max_images} per message), "
            "or PDF documents",
            accept="image/*,application/pdf,.pdf",
        )
        self.clear_button = Button(
            description="clear images",
            disabled=True,
            tooltip="drop every attached image",
            layout=Layout(width="auto"),
        )
        self.thumbnails = HBox(layout=Layout(flex_flow="row wrap"))
        super().__init__(
            [
                HBox([self.picker, self.clear_button], layout=Layout(grid_gap="4px")),
                self.thumbnails,
                self.status,
            ],
            **kwargs,
        )
        self.picker.on_files(self._on_files)
        self.clear_button.on_click(self._on_clear)
        self._unsubscribe = session.subscribe(self._on_event) if session is not None else None

    # -- what the chat reads -----------------------------------------------------

    @property
    def images(self) -> list[PreparedImage]:
        """The images to send, in upload order."""
        return [image for image, _ in self._items]

    @property
    def documents(self) -> list[PreparedDocument]:
        """The PDFs to send, in upload order."""
        return list(self._documents)

    @property
    def model(self) -> str | None:
        return self.session.settings.get("model") if self.session is not None else None

    def clear(self) -> None:
        """Drop every image and document (the chat calls this once they are sent)."""
        self._items = []
        self._documents = []
        self._render()
        self.status.clear()

    def add(self, images: Sequence[PreparedImage]) -> None:
        """Add images prepared elsewhere (the chat puts back those of a failed send)."""
        self._items.extend((image, _thumbnail(image)) for image in images)
        self._render()

    def upload(self, entries: Sequence[Mapping[str, Any]]) -> asyncio.Task[None] | None:
        """Take files as the browser sends them (``name``, ``type``, ``content``, ...).

        Returns the conversion task (None when no loop runs: converted here and now).
        """
        self._on_files([dict(entry) for entry in entries])
        return self.pending

    # -- callbacks ----------------------------------------------------------------

    @guarded
    def _on_files(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        self.status.info(f"preparing {len(entries)} image(s)…")
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop (a plain script): convert right here
            self.pending = None
            self._take(_prepare_all(entries, self.model))
            return
        self.pending = schedule(self._prepare(entries), self.status, name="mistral_nb images")

    async def _prepare(self, entries: Sequence[Mapping[str, Any]]) -> None:
        results = await asyncio.to_thread(_prepare_all, entries, self.model)
        run_guarded(self.status, self._take, results)

    def add_documents(self, documents: Sequence[PreparedDocument]) -> None:
        """Add documents prepared elsewhere (the chat puts back those of a failed send)."""
        self._documents.extend(documents)
        self._render()

    def _take(
        self,
        results: list[tuple[PreparedImage, bytes] | PreparedDocument | ImageError | DocumentError],
    ) -> None:
        errors: list[BaseException | str] = [
            r for r in results if isinstance(r, (ImageError, DocumentError))
        ]
        self._documents.extend(r for r in results if isinstance(r, PreparedDocument))
        good = [r for r in results if isinstance(r, tuple)]
        room = max(self.max_images - len(self._items), 0)
        if len(good) > room:
            errors.append(
                f"{len(good) - room} image(s) not added: Mistral accepts at most "
                f"{self.max_images} per request; remove some first"
            )
            good = good[:room]
        self._items.extend(good)
        self._render()
        if errors:
            self.status.error(*errors)
        else:
            n, d = len(self._items), len(self._documents)
            parts = [f"{n} image{'s' if n != 1 else ''}"] if n else []
            parts += [f"{d} document{'s' if d != 1 else ''}"] if d else []
            self.status.ok(f"{' and '.join(parts)} attached: they go with the next message")

    @guarded
    def _on_clear(self, _button: Button) -> None:
        self.clear()
        self.status.info("images cleared")

    @guarded
    def _on_remove(self, button: Button) -> None:
        cards = self.thumbnails.children
        index = next(i for i, card in enumerate(cards) if button in card.children[0].children)
        if index < len(self._items):
            name = self._items.pop(index)[0].source_name or "the image"
        else:
            name = self._documents.pop(index - len(self._items)).name or "the document"
        self._render()
        self.status.info(f"removed {name}")

    @guarded
    def _on_event(self, event: SessionEvent) -> None:
        if event.kind == "settings" and self._items:
            self._render()  # token estimates depend on the model

    # -- view -----------------------------------------------------------------------

    def _render(self) -> None:
        model = self.model
        old = self.thumbnails.children
        cards = []
        for image, thumb in self._items:
            remove = Button(
                description="×",
                tooltip=f"remove {image.source_name or 'this image'}",
                layout=Layout(width="28px", padding="0"),
            )
            remove.on_click(self._on_remove)
            text = "<br>".join(html.escape(line) for line in caption(image, model))
            cards.append(
                VBox(
                    [
                        HBox([Image(value=thumb, format="jpeg", width=_THUMB_SIDE), remove]),
                        HTML(f"<div class='mnb-hint' style='line-height:1.3'>{text}</div>"),
                    ],
                    layout=Layout(margin="0 10px 4px 0", max_width="220px"),
                )
            )
        for document in self._documents:
            remove = Button(
                description="×",
                tooltip=f"remove {document.name or 'this document'}",
                layout=Layout(width="28px", padding="0"),
            )
            remove.on_click(self._on_remove)
            text = "<br>".join(html.escape(line) for line in document_caption(document))
            cards.append(
                VBox(
                    [
                        HBox([HTML("<div style='font-size:40px;line-height:1'>📄</div>"), remove]),
                        HTML(f"<div class='mnb-hint' style='line-height:1.3'>{text}</div>"),
                    ],
                    layout=Layout(margin="0 10px 4px 0", max_width="220px"),
                )
            )
        self.thumbnails.children = cards
        for card in old:
            close_children(card)
            card.close()
        self.picker.count = len(self._items) + len(self._documents)
        self.clear_button.disabled = not (self._items or self._documents)

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        """Stop following the session's model, and close the widgets."""
        release(self)
        super().close()
