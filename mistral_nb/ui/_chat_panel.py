"""ChatPanel: a transcript that streams, a message box, Send and Stop, and turn statistics.

Send is disabled while a turn runs (whether it was started here or from a notebook cell):
one turn at a time is what the session does anyway, and a disabled button says so, where
a queue would hide messages the user can no longer take back.  The message box stays
editable, so the next message can be written while the reply streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ipywidgets import HTML, Button, HBox, Layout, Textarea, VBox

from .._images import PreparedImage
from .._session import Session, SessionEvent
from .._turn import Turn
from ._image_upload import ImageUpload
from ._status import StatusLine, guarded, release, run_guarded, schedule
from ._transcript import Throttle, TranscriptView

__all__ = ["ChatPanel"]

#: Seconds between transcript redraws while a reply streams.
REFRESH_INTERVAL = 0.1


def _turn_stats(turn: Turn) -> str:
    usage = turn.usage
    facts = [f"turn {turn.turn} {turn.status}"]
    if usage["completion_tokens"] is not None:
        facts.append(f"{usage['prompt_tokens']} → {usage['completion_tokens']} tokens")
    if turn.ttfb_s is not None:
        facts.append(f"ttfb {turn.ttfb_s:.2f} s")
    if turn.tokens_per_s is not None:
        facts.append(f"{turn.tokens_per_s:,.0f} tokens/s")
    if turn.duration_s is not None:
        facts.append(f"{turn.duration_s:.2f} s")
    return " · ".join(facts)


class ChatPanel(VBox):
    """Chat with a session: transcript, message box, images, Send, Stop and a status line.

    The transcript shows every turn of the session, those sent from code included: the
    user's message, the reply as it streams (redrawn at most every ``refresh_interval``
    seconds), tool calls inline, errors in red, a stopped turn marked cancelled.

    Args:
        session: The :class:`mistral_nb.Session` to talk to.
        image_upload: An :class:`ImageUpload` whose images go with the next message; one
            is made when omitted.
        refresh_interval: Seconds between transcript redraws while a reply streams.

    Attributes:
        transcript: The ``HTML`` widget showing the conversation.
        message: The ``Textarea`` to type in.
        send_button, stop_button: Send the message (and images); stop the running turn.
        image_upload: The :class:`ImageUpload`.
        pending: The task of the latest Send (await it in async code), or None.
        status: Model and the last turn's tokens, ttfb and tokens/s; or an error.
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
        self._last_turn: Turn | None = session.log[-1] if len(session.log) else None
        self._view = TranscriptView(list(session.log))
        self.transcript = HTML(layout=Layout(width="100%"))
        self._throttle = Throttle(self._refresh, refresh_interval)
        self._owns_upload = image_upload is None
        self.image_upload = image_upload if image_upload is not None else ImageUpload(session)
        self.message = Textarea(
            placeholder="Message Mistral (Send to send; images below go with it)",
            rows=3,
            layout=Layout(width="100%"),
        )
        self.send_button = Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop_button = Button(description="Stop", icon="stop", disabled=True)
        super().__init__(
            [
                self.transcript,
                self.message,
                self.image_upload,
                HBox([self.send_button, self.stop_button]),
                self.status,
            ],
            **kwargs,
        )
        self.send_button.on_click(self._on_send)
        self.stop_button.on_click(self._on_stop)
        self._unsubscribe: Callable[[], None] | None = session.subscribe(self._on_event)
        self._refresh()
        self._update_buttons()
        self._show_stats()

    # -- sending --------------------------------------------------------------------

    @guarded
    def _on_send(self, _button: Button) -> None:
        if self._sending or self._turn_running:
            # Button.click() from code fires even on a disabled button.
            self.status.warning("a turn is running: wait for it, or press Stop")
            return
        text = self.message.value
        images = self.image_upload.images
        if not text.strip() and not images:
            self.status.warning("type a message first")
            return
        self.pending = schedule(self._send(text, images), self.status, name="mistral_nb send")
        self._sending = True
        self.message.value = ""
        self.image_upload.clear()
        self._update_buttons()
        self.status.info("sending…")

    async def _send(self, text: str, images: list[PreparedImage]) -> Turn:
        self._turn_seen = False
        try:
            return await self.session.send(text, images=images or None)
        except BaseException:
            if not self._turn_seen and not self.message.value:
                # Nothing was sent (a closed session, a bad image): give the message back.
                self.message.value = text
                run_guarded(self.status, self.image_upload.add, images)
            raise
        finally:
            self._sending = False
            if not self.session.busy and self._turn_running:
                # send() failed without its "turn_ended" event: do not stay stuck.
                self._turn_running = False
                self._view.abandon()
                run_guarded(self.status, self._throttle.flush)
            run_guarded(self.status, self._update_buttons)

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
        if kind == "token" and event.text:
            self._view.token(turn, event.text)
            self._throttle.request()
        elif kind == "call" and event.call is not None:
            self._view.call(turn, event.call)
            self._throttle.request()
        elif kind == "turn_started" and turn is not None:
            self._turn_running = True
            self._turn_seen = self._turn_seen or self._sending
            self._view.started(turn)
            self._update_buttons()
            self._throttle.flush()
            self.status.info(f"turn {turn.turn} running on {turn.settings.get('model')}…")
        elif kind == "turn_ended" and turn is not None:
            self._turn_running = False
            self._last_turn = turn
            self._view.ended(turn)
            self._throttle.flush()
            self._update_buttons()
            self._show_stats()
        elif kind == "settings" and not self._turn_running:
            self._show_stats()

    @guarded
    def _refresh(self) -> None:
        value = self._view.render()
        if value != self.transcript.value:
            self.transcript.value = value

    def _update_buttons(self) -> None:
        running = self._sending or self._turn_running
        self.send_button.disabled = running
        self.stop_button.disabled = not running

    def _show_stats(self) -> None:
        model = self.session.settings.get("model")
        facts = f"model {model}"
        turn = self._last_turn
        if turn is None:
            self.status.info(facts)
            return
        facts += " · last " + _turn_stats(turn)
        if turn.status in ("ok", "cancelled"):
            self.status.info(facts)
        else:
            self.status.error(facts + (f"\n{turn.error}" if turn.error else ""))

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
        super().close()
