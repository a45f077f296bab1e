"""ChatPanel: a transcript that streams Markdown, a message box where Enter sends, Send,
Stop, edit-and-resend, regenerate, and images.

Send is disabled while a turn runs (whether it was started here or from a notebook cell):
one turn at a time is what the session does anyway, and a disabled button says so, where
a queue would hide messages the user can no longer take back.  The message box stays
editable, so the next message can be written while the reply streams.

Session events may arrive on the session's own thread: the listener only updates the
turn's view and asks the throttle for a redraw, which never blocks.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

from ipywidgets import HTML, Box, Button, HBox, Layout, VBox

from .._documents import PreparedDocument
from .._images import PreparedImage
from .._session import Session, SessionEvent
from .._turn import Turn
from ._image_upload import ImageUpload
from ._status import ShownAsWidget, StatusLine, guarded, release, run_guarded, schedule
from ._style import stylesheet
from ._transcript import Throttle, TurnView
from ._web import MessageBox

__all__ = ["ChatPanel"]

#: Seconds between transcript redraws while a reply streams.
REFRESH_INTERVAL = 0.1
_PLACEHOLDER = "Message Mistral: Enter sends, Shift+Enter starts a new line"
_EMPTY = "<div class='mnb-quiet' style='padding:8px'>No messages yet.</div>"


class ChatPanel(ShownAsWidget, VBox):
    """Chat with a session: transcript, message box, images, Send, Stop and a status line.

    The transcript shows every turn of the session, those sent from code included: your
    message, the reasoning (collapsed) when the model gives one, the reply as Markdown as
    it streams (redrawn at most every ``refresh_interval`` seconds), tool calls as cards
    that appear when they start, how the turn ended when not plainly (cut at
    ``max_tokens``, stopped, an error, a retry under way), and a footer with the turn's
    numbers.

    Args:
        session: The :class:`mistral_nb.Session` to talk to.
        image_upload: An :class:`ImageUpload` whose images go with the next message; one
            is made when omitted.
        refresh_interval: Seconds between transcript redraws while a reply streams.

    Attributes:
        transcript: A ``Box`` of one ``HTML`` widget per turn (newest last on screen).
        message: The message box (Enter sends, Shift+Enter adds a newline).
        send_button, stop_button: Send the message (and images); stop the running turn.
        edit_button: Put your last message back in the box; sending it then replaces
            that turn in the conversation (the log keeps both).
        regenerate_button: Ask again for the last reply, with the settings now in force.
        image_upload: The :class:`ImageUpload`.
        pending: The task of the latest send (await it in async code), or None.
        status: What is happening, or what went wrong.
    """

    def __init__(
        self,
        session: Session,
        *,
        image_upload: ImageUpload | None = None,
        refresh_interval: float = REFRESH_INTERVAL,
        **kwargs: Any,
    ) -> None:
        self.session = session
        self.status = StatusLine()
        self.pending: asyncio.Task[Turn] | None = None
        self._sending = False  # from a click until its send() returns
        self._turn_seen = False  # that send's turn has started
        self._turn_running = session.busy
        self._editing: int | None = None  # the turn an edit will replace
        self._documents: list[PreparedDocument] = []  # PDFs going with the next send
        self._sent_images: dict[int, list[PreparedImage]] = {}  # for regenerate
        self._lock = threading.Lock()
        self._views: dict[int, tuple[TurnView, HTML]] = {}
        self._dirty: set[int] = set()
        self._throttle = Throttle(self._refresh, refresh_interval)
        self._owns_upload = image_upload is None
        self.image_upload = image_upload if image_upload is not None else ImageUpload(session)
        self._empty = HTML(_EMPTY)
        self.transcript = Box(
            layout=Layout(
                display="flex",
                flex_flow="column-reverse",  # keeps the scroll position at the newest turn
                overflow="hidden auto",
                max_height="520px",
                width="100%",
            )
        )
        self.transcript.add_class("mnb-transcript")
        self.message = MessageBox(placeholder=_PLACEHOLDER, rows=3, layout=Layout(width="100%"))
        self.send_button = Button(
            description="Send", button_style="primary", icon="paper-plane", tooltip="Enter"
        )
        self.stop_button = Button(description="Stop", icon="stop", disabled=True)
        self.edit_button = Button(
            description="Edit last",
            icon="pencil",
            disabled=True,
            tooltip="put your last message back in the box; sending it replaces that turn",
        )
        self.regenerate_button = Button(
            description="Regenerate",
            icon="refresh",
            disabled=True,
            tooltip="ask again for the last reply, with the settings now in force",
        )
        for button in (self.send_button, self.stop_button):
            button.layout = Layout(width="auto", min_width="80px")
        for button in (self.edit_button, self.regenerate_button):
            button.layout = Layout(width="auto", min_width="110px")
        toolbar = HBox(
            [self.send_button, self.stop_button, self.edit_button, self.regenerate_button],
            layout=Layout(flex_flow="row wrap", grid_gap="4px"),
        )
        super().__init__(
            [stylesheet(), self.transcript, self.message, toolbar, self.image_upload, self.status],
            layout=kwargs.pop("layout", Layout(width="100%")),
            **kwargs,
        )
        for turn in list(session.log):
            self._add_view(TurnView(turn, finished=True))
        self._show_transcript()
        self.send_button.on_click(self._on_send)
        self.message.on_submit(self._on_submit)
        self.stop_button.on_click(self._on_stop)
        self.edit_button.on_click(self._on_edit)
        self.regenerate_button.on_click(self._on_regenerate)
        self._unsubscribe: Callable[[], None] | None = session.subscribe(self._on_event)
        self._update_buttons()
        self._show_ready()

    # -- the transcript ------------------------------------------------------------

    @property
    def transcript_html(self) -> str:
        """The transcript's HTML, oldest turn first (what the browser shows)."""
        with self._lock:
            widgets = [widget for _, (_, widget) in sorted(self._views.items())]
        return "".join(widget.value for widget in widgets)

    def _add_view(self, view: TurnView) -> None:
        widget = HTML(view.render(), layout=Layout(width="100%", flex="0 0 auto"))
        with self._lock:
            self._views[view.turn.turn] = (view, widget)

    def _show_transcript(self) -> None:
        with self._lock:
            widgets = [widget for _, (_, widget) in sorted(self._views.items(), reverse=True)]
        self.transcript.children = widgets or [self._empty]

    def _view(self, turn: Turn | None) -> TurnView | None:
        if turn is None:
            return None
        with self._lock:
            entry = self._views.get(turn.turn)
        return entry[0] if entry is not None and entry[0].turn is turn else None

    def _touch(self, turn: Turn, *, now: bool = False) -> None:
        with self._lock:
            self._dirty.add(turn.turn)
        if now:
            self._throttle.flush()
        else:
            self._throttle.request()

    @guarded
    def _refresh(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            entries = [self._views[n] for n in dirty if n in self._views]
        for view, widget in entries:
            value = view.render()
            if value != widget.value:
                widget.value = value

    # -- sending --------------------------------------------------------------------

    @guarded
    def _on_send(self, _button: Button) -> None:
        self._send_message()

    @guarded
    def _on_submit(self, _box: MessageBox) -> None:
        self._send_message()

    def _send_message(self) -> None:
        if self._sending or self._turn_running:
            # Enter and Button.click() from code fire even while Send is disabled.
            self.status.warning("a turn is running: wait for it, or press Stop")
            return
        text = self.message.value
        images = self.image_upload.images
        self._documents = self.image_upload.documents
        if not text.strip() and not images and not self._documents:
            self.status.warning("type a message first")
            return
        replaces, self._editing = self._editing, None
        self._start(text, images, replaces=replaces)
        self.message.clear()
        self.image_upload.clear()

    def _start(self, text: str, images: list[PreparedImage], *, replaces: int | None) -> None:
        self.pending = schedule(
            self._send_turn(text, images, replaces), self.status, name="mistral_nb send"
        )
        self._sending = True
        self._update_buttons()
        self.status.info("sending…")

    async def _send_turn(
        self, text: str, images: list[PreparedImage], replaces: int | None
    ) -> Turn:
        self._turn_seen = False
        documents, self._documents = self._documents, []
        try:
            if replaces is not None:
                await self._rewind(replaces)
            turn = await self.session.send(text, images=images or None, documents=documents or None)
            self._sent_images = {turn.turn: images} if images else {}
            return turn
        except BaseException:
            if not self._turn_seen and not self.message.value:
                # Nothing was sent (a closed session, a bad image): give the message back.
                self.message.value = text
                run_guarded(self.status, self.image_upload.add, images)
                run_guarded(self.status, self.image_upload.add_documents, documents)
            raise
        finally:
            self._sending = False
            if not self.session.busy and self._turn_running:
                # send() failed without its "turn_ended" event: do not stay stuck.
                self._turn_running = False
                self._finish_open_views()
            run_guarded(self.status, self._update_buttons)

    async def _rewind(self, turn_number: int) -> None:
        rewind = getattr(self.session, "rewind", None)
        if rewind is None:
            raise RuntimeError(
                "this Session cannot take a turn back yet (Session.rewind is missing): "
                "update mistral_nb, or send the message as a new turn"
            )
        result = rewind(turns=1)
        if inspect.isawaitable(result):
            await result
        view = self._view(self._turn_by_number(turn_number))
        if view is not None:
            view.mark_replaced()
            self._touch(view.turn, now=True)

    def _turn_by_number(self, number: int) -> Turn | None:
        with self._lock:
            entry = self._views.get(number)
        return entry[0].turn if entry is not None else None

    def _last_turn(self) -> Turn | None:
        with self._lock:
            if not self._views:
                return None
            view = self._views[max(self._views)][0]
        return None if view.replaced else view.turn

    @guarded
    def _on_edit(self, _button: Button) -> None:
        turn = self._last_turn()
        if turn is None or self._sending or self._turn_running:
            self.status.warning("nothing to edit: wait for the turn to end, or send one first")
            return
        if self._editing is not None:
            self._editing = None
            self.message.value = ""
            self.status.info("edit dropped")
            return
        self._editing = turn.turn
        self.message.value = turn.user_text
        self.message.focus()
        self.status.info(
            f"editing turn {turn.turn}: Enter sends it in that turn's place (the log keeps both); "
            "Edit last again drops the edit"
        )

    @guarded
    def _on_regenerate(self, _button: Button) -> None:
        turn = self._last_turn()
        if turn is None or self._sending or self._turn_running:
            self.status.warning("nothing to regenerate: wait for the turn to end, or send one")
            return
        images = self._sent_images.get(turn.turn, [])
        if turn.images and len(images) != len(turn.images):
            self.status.warning(
                f"turn {turn.turn} was sent with images this panel does not hold: attach them "
                "again and use Edit last"
            )
            return
        self._editing = None
        self._start(turn.user_text, images, replaces=turn.turn)

    @guarded
    def _on_stop(self, _button: Button) -> None:
        if self.session.cancel():
            self.status.info("stopping…")
        elif self.pending is not None and not self.pending.done():
            self.pending.cancel()  # still preparing images: the turn never starts
            self.status.info("cancelled before sending")
        else:
            self.status.info("no turn is running")

    # -- session events ---------------------------------------------------------------

    @guarded
    def _on_event(self, event: SessionEvent) -> None:
        kind, turn = event.kind, event.turn
        if kind == "turn_started" and turn is not None:
            self._turn_running = True
            self._turn_seen = self._turn_seen or self._sending
            self._add_view(TurnView(turn))
            self._show_transcript()
            self._update_buttons()
            model = turn.settings.get("model")
            self.status.info(f"turn {turn.turn} running on {model}… (Stop stops it)")
            return
        view = self._view(turn)
        if kind == "turn_ended" and turn is not None:
            self._turn_running = False
            if view is None:  # started before this panel existed
                self._add_view(TurnView(turn, finished=True))
                self._show_transcript()
            else:
                view.finish()
                self._touch(turn, now=True)
            self._update_buttons()
            self._show_ready()
        elif view is None or turn is None:
            if kind == "settings" and not self._turn_running:
                self._show_ready()
            elif kind == "warning" and event.text:
                self.status.warning(event.text)
        elif kind in ("token", "thinking"):
            view.streamed()
            self._touch(turn)
        elif kind == "call_started" and event.call is not None:
            view.call_started(event.call)
            self._touch(turn, now=True)
        elif kind == "call" and event.call is not None:
            view.call_finished(event.call)
            self._touch(turn)
        elif kind == "retry" and event.text:
            view.retrying(event.text)
            self._touch(turn, now=True)
        elif kind == "warning" and event.text:
            self.status.warning(event.text)

    def _finish_open_views(self) -> None:
        """End every view still open, as its turn stands (its end event never came)."""
        with self._lock:
            views = [view for view, _ in self._views.values() if not view.finished]
        for view in views:
            view.finish()
            self._touch(view.turn)
        run_guarded(self.status, self._throttle.flush)

    def _update_buttons(self) -> None:
        running = self._sending or self._turn_running
        last = self._last_turn()
        self.send_button.disabled = running
        self.stop_button.disabled = not running
        self.edit_button.disabled = running or last is None
        self.regenerate_button.disabled = running or last is None

    def _show_ready(self) -> None:
        """The status line between turns: the model, and how the last turn went."""
        facts = f"model {self.session.settings.get('model')}"
        with self._lock:
            last = self._views[max(self._views)][0].turn if self._views else None
        if last is None:
            self.status.info(f"{facts} · Enter sends, Shift+Enter adds a line")
            return
        facts += f" · last turn {last.turn} {last.status}"
        if last.status in ("error", "timeout"):
            self.status.error(facts + (f"\n{last.error}" if last.error else ""))
        else:
            self.status.info(facts)

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop following the session, and close the widgets (a running turn goes on)."""
        throttle = getattr(self, "_throttle", None)
        if throttle is not None:
            throttle.cancel()
        if not getattr(self, "_owns_upload", True):
            # Not ours to close: take it out before closing the rest.
            kept = [c for c in getattr(self, "children", ()) if c is not self.image_upload]
            self.children = kept
        release(self)
        for _, widget in getattr(self, "_views", {}).values():
            widget.close()
        empty = getattr(self, "_empty", None)
        if empty is not None:
            empty.close()
        super().close()
