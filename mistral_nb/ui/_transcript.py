"""One turn of the chat transcript as HTML, and the throttle that bounds its redraws.

The transcript renders from the :class:`Turn` the session's events carry (one copy of
the truth): the streamed text is ``turn.token_text``, the finished tool calls
``turn.call_records``.  What a turn does not hold yet is kept here: tool calls that have
started but not finished (a ``call_started`` event), and the client's latest retry
notice.  Each turn is its own widget, so a finished turn is rendered once and never
redrawn (an opened "reasoning" section stays open), and a streaming reply costs one
turn's HTML per redraw, not the whole conversation's.

A reply streams as many small events; :class:`Throttle` redraws at most once per
interval (0.1 s by default) while they arrive, and once more, at once, when the turn ends.
"""

from __future__ import annotations

import asyncio
import html
import threading
import time
from collections.abc import Callable
from typing import Any

from .._turn import CallRecord, Turn
from ._format import call_card, turn_footer
from ._markdown import render_markdown

__all__ = ["Throttle", "TurnView", "marker"]


def _user_html(turn: Turn) -> str:
    attached = ""
    if turn.images:
        names = ", ".join(str(i.get("source_name") or "image") for i in turn.images)
        count = len(turn.images)
        attached = (
            f"<span class='mnb-quiet'> · with {count} image{'s' if count != 1 else ''}: "
            f"{html.escape(names)}</span>"
        )
    return (
        f"<div class='mnb-user'><span class='mnb-who'>You</span>"
        f"<span class='mnb-quiet'>turn {turn.turn}</span>{attached}\n"
        f"{html.escape(turn.user_text)}</div>"
    )


def _answer(turn: Turn, completion: int, completions: list[int]) -> str:
    """The answer text (not the reasoning) one model request of ``turn`` streamed."""
    joined = getattr(turn, "joined", None)
    if joined is not None:
        return str(joined("text", completion))
    pieces = zip(completions, turn.token_text, strict=False)
    return "".join(t for c, t in pieces if c == completion)


def marker(turn: Turn) -> str:
    """The line that says how a finished turn ended, when not simply "ok" (else "")."""
    status = turn.status
    if status == "cancelled":
        return (
            "<div class='mnb-marker mnb-cancelled'>⏹ cancelled: what streamed before Stop "
            "is kept</div>"
        )
    if status in ("error", "timeout"):
        what = "timed out" if status == "timeout" else "error"
        return (
            f"<div class='mnb-marker mnb-{status}'>⚠ {what}: "
            f"{html.escape(turn.error or 'the turn failed')}</div>"
        )
    if status == "length" or turn.finish_reason == "length":
        limit = turn.settings.get("max_tokens")
        said = f"max_tokens: {limit}" if limit is not None else "the model's length limit"
        return (
            f"<div class='mnb-marker mnb-length'>✂ stopped at {html.escape(said)} — "
            "raise it in settings</div>"
        )
    return ""


class TurnView:
    """What the transcript shows of one turn; :meth:`render` gives its HTML.

    Args:
        turn: The turn (running or finished).
        finished: The turn has ended; its HTML is then computed once.
    """

    def __init__(self, turn: Turn, *, finished: bool = False) -> None:
        self.turn = turn
        self.finished = finished
        self.live_calls: list[CallRecord] = []  # started, no result yet
        self.retry: str | None = None
        self.replaced = False  # taken back by edit-and-resend or regenerate
        self._lock = threading.Lock()
        self._html: str | None = None

    # -- events ---------------------------------------------------------------

    def call_started(self, call: CallRecord) -> None:
        with self._lock:
            self.live_calls.append(call)

    def call_finished(self, call: CallRecord) -> None:
        with self._lock:
            for i, live in enumerate(self.live_calls):
                same_id = live.call_id and live.call_id == call.call_id
                if same_id or (not live.call_id and live.name == call.name):
                    del self.live_calls[i]
                    break

    def retrying(self, text: str) -> None:
        self.retry = text

    def streamed(self) -> None:
        self.retry = None  # tokens again: the retry worked

    def finish(self) -> None:
        with self._lock:
            self.finished = True
            self.live_calls = []
            self.retry = None
            self._html = None

    def mark_replaced(self) -> None:
        self.replaced = True
        self._html = None

    # -- view -----------------------------------------------------------------------

    def _reply_parts(self) -> list[str]:
        turn = self.turn
        n = len(turn.token_text)  # appended last: the other columns are at least this long
        completions = list(turn.token_completion[:n])
        calls = list(turn.call_records)
        parts: list[str] = []
        for completion in sorted({*completions, *(c.completion for c in calls)}):
            text = _answer(turn, completion, completions)
            if text:
                parts.append(f"<div class='mnb-md'>{render_markdown(text)}</div>")
            parts.extend(call_card(c) for c in calls if c.completion == completion)
        with self._lock:
            live = list(self.live_calls)
        parts.extend(call_card(c, running=True) for c in live)
        return parts

    def render(self) -> str:
        """The turn's HTML: your message, the reasoning (collapsed), the reply, and how
        it ended; the footer once finished."""
        if self._html is not None:
            return self._html
        turn = self.turn
        model = html.escape(str(turn.settings.get("model") or ""))
        parts = [
            f"<div class='mnb-turn mnb-turn-{turn.turn}{' mnb-replaced' * self.replaced}'>",
            _user_html(turn),
            "<div class='mnb-reply'><span class='mnb-who'>Mistral</span>"
            + f"<span class='mnb-quiet'>{model}</span>",
        ]
        thinking = str(getattr(turn, "thinking", "") or "")
        if thinking:
            words = f"{len(thinking.split()):,} words"
            state = "thinking…" if not self.finished and not turn.token_text else "reasoning"
            parts.append(
                f"<details class='mnb-thinking'><summary>{state} ({words})</summary>"
                f"<div class='mnb-thinking-text'>{html.escape(thinking)}</div></details>"
            )
        parts.extend(self._reply_parts())
        if not self.finished:
            if self.retry:
                parts.append(f"<div class='mnb-marker mnb-retry'>↻ {html.escape(self.retry)}</div>")
            parts.append("<span class='mnb-cursor'>▍</span>")
        else:
            parts.append(marker(turn))
            if self.replaced:
                parts.append(
                    "<div class='mnb-quiet'>taken back: not in the conversation any more "
                    "(the log keeps it)</div>"
                )
            parts.append(f"<div class='mnb-footer'>{html.escape(turn_footer(turn))}</div>")
        parts.append("</div></div>")
        text = "".join(parts)
        if self.finished:
            self._html = text
        return text


class Throttle:
    """Call ``action`` at most once per ``interval`` seconds; ``flush`` calls it now.

    ``request`` runs the action at once if the last run is old enough, otherwise once
    the interval is up; requests in between coalesce.  Session events may come from
    the session's own thread, so the state is locked, and the delayed run is a timer on
    the calling thread's running loop, or a ``threading.Timer`` where none runs.
    """

    def __init__(self, action: Callable[[], Any], interval: float = 0.1) -> None:
        self.action = action
        self.interval = interval
        self._last = float("-inf")
        self._timer: asyncio.TimerHandle | threading.Timer | None = None
        self._lock = threading.Lock()

    def request(self) -> None:
        with self._lock:
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                if self._timer is None:
                    self._timer = self._start_timer(wait)
                return
        self.flush()

    def _start_timer(self, wait: float) -> asyncio.TimerHandle | threading.Timer:
        try:
            return asyncio.get_running_loop().call_later(wait, self._on_timer)
        except RuntimeError:
            timer = threading.Timer(wait, self._on_timer)
            timer.daemon = True
            timer.start()
            return timer

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
        self.flush()

    def flush(self) -> None:
        self.cancel()
        with self._lock:
            self._last = time.monotonic()
        self.action()

    def cancel(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
