"""What a session tells its listeners (panels, notebooks) as turns run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ._turn import CallRecord, TokenKind, Turn

__all__ = ["EventKind", "Listeners", "SessionEvent", "TokenKind"]

#: What a :class:`SessionEvent` reports.
EventKind = Literal[
    "turn_started",
    "token",
    "thinking",
    "call_started",
    "call",
    "retry",
    "turn_ended",
    "settings",
    "warning",
]

_log = logging.getLogger("mistral_nb")


@dataclass(frozen=True)
class SessionEvent:
    """Something that happened in a session; see :meth:`Session.subscribe`.

    ``kind`` is "turn_started", "token" (``text``, a piece of the answer), "thinking"
    (``text``, a piece of the model's reasoning), "call_started" (``call``, a tool call
    that just started: name, id, arguments), "call" (``call``, a finished tool call),
    "retry" (``text``: "retrying (429) in 3 s, attempt 2 of 3..." when an error the client
    will retry arrives, then "retrying (429), attempt 2 of 3..." as the attempt goes out),
    "turn_ended", "settings" (``settings``) or "warning" (``text``).  Events are delivered on the
    session's own thread (see ``_runtime.py``): a listener must be quick.
    """

    kind: EventKind
    turn: Turn | None = None
    text: str | None = None
    call: CallRecord | None = None
    settings: dict[str, Any] | None = None


class Listeners:
    """Callbacks for session events; one that raises is logged and skipped."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[SessionEvent], None]] = []

    def subscribe(self, listener: Callable[[SessionEvent], None]) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: SessionEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a panel's bug must not break the conversation
                _log.exception("mistral_nb: a session listener failed on %s", event.kind)
