"""ImageUpload: pick images, see what will be sent (size, estimated tokens), then send them.

Each uploaded file is converted at once with :func:`mistral_nb.prepare_image` (in a
worker thread, so the kernel stays free), so a bad file is reported before anything is
sent and the thumbnails show the JPEG that will go out.  The upload widget is emptied
after each batch: the file bytes would otherwise sit in the widget state, which a saved
notebook keeps.
"""

from __future__ import annotations

import asyncio
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

from ipywidgets import HTML, Button, FileUpload, HBox, Image, Layout, VBox
from PIL import Image as PILImage

from .._errors import ImageError
from .._images import MAX_IMAGES_PER_REQUEST, PreparedImage, prepare_image
from .._session import Session, SessionEvent
from ._status import StatusLine, close_children, guarded, release, run_guarded, schedule

__all__ = ["ImageUpload"]

_THUMB_SIDE = 96


def _thumbnail(image: PreparedImage) -> bytes:
    with PILImage.open(io.BytesIO(image.jpeg)) as im:
        im.draft("RGB", (_THUMB_SIDE, _THUMB_SIDE))
        im.thumbnail((_THUMB_SIDE, _THUMB_SIDE))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=70)
    return out.getvalue()


def _prepare_all(
    entries: Sequence[Mapping[str, Any]],
) -> list[tuple[PreparedImage, bytes] | ImageError]:
    """Convert every entry; a bad one becomes its ImageError, the others go on."""
    results: list[tuple[PreparedImage, bytes] | ImageError] = []
    for entry in entries:
        try:
            image = prepare_image(entry)
            results.append((image, _thumbnail(image)))
        except ImageError as exc:
            results.append(exc)
    return results


class ImageUpload(VBox):
    """A FileUpload for images, with thumbnails, sizes and estimated tokens before sending.

    Args:
        session: The session whose model the token estimates are for (and follow);
            None estimates for a Mistral Small/Medium 3.x model.
        max_images: The most images kept; Mistral takes at most 8 per request.

    Attributes:
        file_upload: The ipywidgets ``FileUpload(accept="image/*", multiple=True)``.
        clear_button: Drops every image.
        pending: The task converting the latest upload (await it in async code), or None.
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
        self.file_upload = FileUpload(
            accept="image/*", multiple=True, description="images", tooltip="attach images"
        )
        self.clear_button = Button(description="clear", disabled=True, tooltip="drop the images")
        self.thumbnails = HBox(layout=Layout(flex_flow="row wrap"))
        super().__init__(
            [HBox([self.file_upload, self.clear_button]), self.thumbnails, self.status],
            **kwargs,
        )
        self.file_upload.observe(self._on_upload, names="value")
        self.clear_button.on_click(self._on_clear)
        self._unsubscribe = session.subscribe(self._on_event) if session is not None else None

    # -- what the chat reads -----------------------------------------------------

    @property
    def images(self) -> list[PreparedImage]:
        """The images to send, in upload order."""
        return [image for image, _ in self._items]

    @property
    def model(self) -> str | None:
        return self.session.settings.get("model") if self.session is not None else None

    def clear(self) -> None:
        """Drop every image, and empty the upload widget."""
        self._items = []
        self.file_upload.value = ()
        self._render()

    def add(self, images: Sequence[PreparedImage]) -> None:
        """Add images prepared elsewhere (the chat puts back those of a failed send)."""
        self._items.extend((image, _thumbnail(image)) for image in images)
        self._render()

    # -- callbacks ----------------------------------------------------------------

    @guarded
    def _on_upload(self, change: dict[str, Any]) -> None:
        entries = tuple(change["new"])
        if not entries:
            return
        self.file_upload.value = ()  # the bytes are ours now; keep them out of widget state
        self.status.info(f"preparing {len(entries)} image(s)…")
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop (a plain script): convert right here
            self._take(_prepare_all(entries))
            return
        self.pending = schedule(self._prepare(entries), self.status, name="mistral_nb images")

    async def _prepare(self, entries: Sequence[Mapping[str, Any]]) -> None:
        results = await asyncio.to_thread(_prepare_all, entries)
        run_guarded(self.status, self._take, results)

    def _take(self, results: list[tuple[PreparedImage, bytes] | ImageError]) -> None:
        errors: list[BaseException | str] = [r for r in results if isinstance(r, ImageError)]
        good = [r for r in results if not isinstance(r, ImageError)]
        room = max(self.max_images - len(self._items), 0)
        if len(good) > room:
            errors.append(
                f"{len(good) - room} image(s) not added: Mistral accepts at most "
                f"{self.max_images} per request; clear some first"
            )
            good = good[:room]
        self._items.extend(good)
        self._render()
        if errors:
            self.status.error(*errors)
        else:
            self.status.ok(f"{len(good)} image(s) ready; they go with the next message")

    @guarded
    def _on_clear(self, _button: Button) -> None:
        self.clear()
        self.status.info("images cleared")

    @guarded
    def _on_remove(self, button: Button) -> None:
        cards = self.thumbnails.children
        index = next(i for i, card in enumerate(cards) if button in card.children[0].children)
        del self._items[index]
        self._render()

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
                description="×", tooltip="remove this image", layout=Layout(width="32px")
            )
            remove.on_click(self._on_remove)
            lines = (
                image.source_name or "image",
                f"{image.width}×{image.height} JPEG, {image.n_bytes / 1000:,.0f} kB",
                f"~{image.estimated_tokens(model):,} tokens" + (f" on {model}" if model else ""),
            )
            caption = "<br>".join(html.escape(line) for line in lines)
            cards.append(
                VBox(
                    [
                        HBox([Image(value=thumb, format="jpeg", width=_THUMB_SIDE), remove]),
                        HTML(f"<span style='font-size:smaller'>{caption}</span>"),
                    ],
                    layout=Layout(margin="0 8px 4px 0"),
                )
            )
        self.thumbnails.children = cards
        for card in old:
            close_children(card)
            card.close()
        self.clear_button.disabled = not self._items

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        """Stop following the session's model, and close the widgets."""
        release(self)
        super().close()
