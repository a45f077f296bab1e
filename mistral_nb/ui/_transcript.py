"""The chat transcript as HTML, built from session events, and a throttle for redrawing it.

A reply streams in as many small events; redrawing the transcript widget on each would
send one comm message per token to the browser.  :class:`Throttle` redraws at most once
per interval (0.1 s by default) while tokens arrive, and once more, at once, when the turn
ends.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Callable
from typing import Any

from .._turn import CallRecord, Turn
from ._tools_panel import duration, shorten

__all__ = ["Throttle", "TranscriptView"]

_STATUS_COLOURS = {"cancelled": "#8d6e63", "error": "#c62828", "timeout": "#c62828"}
_CALL_COLOURS = {"ok": "#2e7d32", "timeout": "#b26a00", "rejected": "#757575"}


class _TurnView:
    """One turn as the transcript shows it: text and tool calls in the order they came."""

    def __init__(self, turn: Turn, *, finished: bool = False) -> None:
        self.turn = turn
        self.segments: list[list[str] | CallRecord] = []
        self.finished = finished
        self.html: str | None = None
        if finished:  # a turn from the log: rebuild the order from its records
            calls = turn.call_records
            for completion in sorted({*turn.token_completion, *(c.completion for c in calls)}):
                pieces = zip(turn.token_completion, turn.token_text, strict=True)
                self.segments.append([text for c, text in pieces if c == completion])
                self.segments.extend(c for c in calls if c.completion == completion)

    def add_text(self, text: str) -> None:
        if not self.segments or not isinstance(self.segments[-1], list):
            self.segments.append([])
        self.segments[-1].append(text)  # type: ignore[union-attr]

    def add_call(self, call: CallRecord) -> None:
        self.segments.append(call)

    def render(self) -> str:
        if self.html is not None:
            return self.html
        turn = self.turn
        parts = ["<div style='margin:0 0 10px 0'>"]
        attached = ""
        if turn.images:
            names = ", ".join(str(i.get("source_name") or "image") for i in turn.images)
            attached = (
                f" <span style='color:#666'>📎 {len(turn.images)} image(s): "
                f"{html.escape(names)}</span>"
            )
        parts.append(
            "<div style='background:#eef3fb;border-radius:6px;padding:4px 8px;margin-bottom:4px'>"
            f"<b>You</b> <span style='color:#999;font-size:smaller'>turn {turn.turn}</span>"
            f"{attached}<div style='white-space:pre-wrap'>{html.escape(turn.user_text)}</div></div>"
        )
        model = html.escape(str(turn.settings.get("model") or ""))
        parts.append(
            f"<div style='padding:0 8px'><b>Mistral</b> "
            f"<span style='color:#999;font-size:smaller'>{model}</span>"
        )
        for segment in self.segments:
            if isinstance(segment, CallRecord):
                colour = _CALL_COLOURS.get(segment.status, "#c62828")
                failed = segment.status != "ok" and segment.error
                result = segment.error if failed else segment.result
                parts.append(
                    "<div style='font-family:monospace;font-size:smaller;color:#444'>🔧 "
                    f"{html.escape(segment.name)}({html.escape(shorten(segment.arguments, 100))}) "
                    f"→ <span style='color:{colour}'>{html.escape(segment.status)}</span> "
                    f"{html.escape(shorten(result, 160))} "
                    f"<span style='color:#999'>({duration(segment.duration_s)})</span></div>"
                )
            elif segment:
                parts.append(
                    f"<div style='white-space:pre-wrap'>{html.escape(''.join(segment))}</div>"
                )
        if not self.finished:
            parts.append("<span style='color:#999'>▍</span>")
        elif turn.status != "ok":
            colour = _STATUS_COLOURS.get(turn.status, "#c62828")
            mark = "⏹ cancelled" if turn.status == "cancelled" else f"⚠ {turn.status}"
            error = "" if turn.status == "cancelled" or not turn.error else f": {turn.error}"
            parts.append(
                f"<div style='color:{colour}' class='mnb-{html.escape(turn.status)}'>"
                f"{html.escape(mark + error)}</div>"
            )
        parts.append("</div></div>")
        text = "".join(parts)
        if self.finished:
            self.html = text  # a finished turn never changes: render it once
        return text


class TranscriptView:
    """Turns of one session, fed by its events, rendered as one HTML string."""

    def __init__(self, turns: list[Turn] | None = None) -> None:
        self.turns = [_TurnView(t, finished=True) for t in turns or ()]

    def _view(self, turn: Turn | None) -> _TurnView | None:
        for view in reversed(self.turns):
            if view.turn is turn:
                return view
        return None

    def started(self, turn: Turn) -> None:
        if self._view(turn) is None:
            self.turns.append(_TurnView(turn))

    def token(self, turn: Turn | None, text: str) -> None:
        view = self._view(turn)
        if view is not None:
            view.add_text(text)

    def call(self, turn: Turn | None, call: CallRecord) -> None:
        view = self._view(turn)
        if view is not None:
            view.add_call(call)

    def ended(self, turn: Turn) -> None:
        # The turn's own record is the reference (a cancelled turn keeps what streamed).
        final = _TurnView(turn, finished=True)
        for i in range(len(self.turns) - 1, -1, -1):
            if self.turns[i].turn is turn:
                self.turns[i] = final
                return
        self.turns.append(final)

    def abandon(self) -> None:
        """End every turn still open, as its record stands (its end event never came)."""
        self.turns = [v if v.finished else _TurnView(v.turn, finished=True) for v in self.turns]

    def render(self) -> str:
        if not self.turns:
            body = "<em style='color:#999'>No messages yet.</em>"
        else:
            body = "".join(view.render() for view in self.turns)
        # column-reverse keeps the scroll position at the newest message.
        return (
            "<div style='display:flex;flex-direction:column-reverse;overflow-y:auto;"
            f"max-height:480px'><div>{body}</div></div>"
        )


class Throttle:
    """Call ``action`` at most once per ``interval`` seconds; ``flush`` calls it now.

    ``request`` runs the action at once if the last run is old enough, otherwise once
    the interval is up (a timer on the running loop); requests in between coalesce.
    """

    def __init__(self, action: Callable[[], Any], interval: float = 0.1) -> None:
        self.action = action
        self.interval = interval
        self._last = float("-inf")
        self._timer: asyncio.TimerHandle | None = None

    def request(self) -> None:
        wait = self._last + self.interval - time.monotonic()
        if wait <= 0:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(wait, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        self.cancel()
        self._last = time.monotonic()
        self.action()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
