"""What a LocalMistral remembers and what it was told to do, shared by two threads.

The server thread writes (requests, exchanges, script consumption, fault counters); the
caller's thread reads and adds (``push``, ``inject``, ``reset``). One lock guards it all.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .._errors import LocalMistralError
from ._catalogue import Catalogue
from ._faults import Fault, FaultPlan
from ._script import Transition, check_script_item
from ._wire import Era

__all__ = ["LOGGER", "Exchange", "State"]

LOGGER = logging.getLogger("mistral_nb.local")
"""Where each exchange is logged, one line each (``mistral-nb serve`` prints them)."""

_HIDDEN_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_EMPTY = object()


@dataclass
class Exchange:
    """One HTTP request LocalMistral received and how it answered.

    Attributes:
        method: ``GET`` or ``POST``...
        path: The URL path, e.g. ``/v1/chat/completions``.
        headers: The request headers, without ``Authorization`` (nor cookies).
        body: The decoded JSON body; the raw text when it is not JSON (or nests deeper
            than 200 levels, which is answered json_invalid); None when empty.
        status: The HTTP status sent, None while pending or when no answer was sent.
        number: For ``POST /v1/chat/completions``, the 1-based request number that
            ``Fault(on=...)`` counts; None for other paths.
        faults: The kinds of the faults that fired on this request.
        model: The model the body asked for, when it named one.
        prompt_tokens: Counted for a request that passed validation.
        completion_tokens: Of the answer given (all choices).
        duration_ms: From the request to the end of the answer.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int | None = None
    number: int | None = None
    faults: tuple[str, ...] = ()
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    duration_ms: float | None = None


@dataclass
class State:
    """Configuration and history of one LocalMistral (thread-safe through ``lock``)."""

    api_key: str | None
    catalogue: Catalogue
    reply_tokens: int | None = None
    token_delay: float = 0.0
    first_token_delay: float = 0.0
    allow_user_after_tool: bool = False
    era: Era = "2026"
    errors_422: str = "plain"
    reasoning_transition: Transition | None = None
    history: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: deque[Exchange] = field(default_factory=deque)  # the completion requests
    exchanges: deque[Exchange] = field(default_factory=deque)
    received: int = 0  # completion requests ever received: Fault(on=...) counts these
    filled: int = 0  # of which the body is recorded
    errors: list[str] = field(default_factory=list)
    script: deque[Any] = field(default_factory=deque)
    faults: list[Fault] = field(default_factory=list)
    fired: list[int] = field(default_factory=list)

    # -- caller side ----------------------------------------------------------------

    def push(self, items: Iterable[Any]) -> None:
        checked = [check_script_item(item) for item in items]
        with self.lock:
            self.script.extend(checked)

    def inject(self, faults: Iterable[Fault]) -> None:
        new = list(faults)
        for fault in new:
            if not isinstance(fault, Fault):
                raise LocalMistralError(f"inject() takes Fault objects, got {fault!r}")
        with self.lock:
            self.faults.extend(new)
            self.fired.extend(0 for _ in new)

    def __post_init__(self) -> None:
        # A long-running server keeps only the latest bodies (``history``).
        self.requests = deque(self.requests, maxlen=self.history)
        self.exchanges = deque(self.exchanges, maxlen=self.history)

    def reset(self) -> None:
        with self.lock:
            self.received = self.filled = 0
            self.requests.clear()
            self.exchanges.clear()
            self.errors.clear()
            self.script.clear()
            self.faults.clear()
            self.fired.clear()

    def snapshot_requests(self) -> list[Any]:
        with self.lock:
            return [copy.deepcopy(exchange.body) for exchange in self.requests]

    def snapshot_exchanges(self) -> list[Exchange]:
        with self.lock:
            return [
                replace(e, headers=dict(e.headers), body=copy.deepcopy(e.body))
                for e in self.exchanges
            ]

    # -- server side ----------------------------------------------------------------

    def record(
        self, method: str, path: str, headers: Mapping[str, str], body: Any, completion: bool
    ) -> Exchange:
        visible = {k: v for k, v in headers.items() if k.lower() not in _HIDDEN_HEADERS}
        with self.lock:
            number = None
            if completion:
                self.received += 1
                number = self.received
            exchange = Exchange(method, path, visible, copy.deepcopy(body), number=number)
            if completion:
                self.requests.append(exchange)
            self.exchanges.append(exchange)
            return exchange

    def fill(self, exchange: Exchange, body: Any) -> None:
        """Record the body of a request that was numbered before it was decoded (decoding
        runs on a worker thread; numbering stays in arrival order on the loop)."""
        copied = copy.deepcopy(body)
        with self.lock:
            exchange.body = copied
            if exchange.number is not None:
                self.filled += 1

    def plan(self, number: int, body: Any, kinds: frozenset[str], plan: FaultPlan) -> FaultPlan:
        """Fire the faults of ``kinds`` that select this request, respecting ``times``."""
        with self.lock:
            candidates = [
                (i, fault)
                for i, fault in enumerate(self.faults)
                if fault.kind in kinds and (fault.times is None or self.fired[i] < fault.times)
            ]
        for i, fault in candidates:
            try:
                selected = fault.matches(number, body)
            except Exception as exc:  # noqa: BLE001 - a user's predicate: report it, carry on
                self.note_error(f"Fault predicate {fault.on!r} raised {exc!r}")
                continue
            if not selected:
                continue
            with self.lock:
                if fault.times is not None and self.fired[i] >= fault.times:
                    continue
                if plan.add(fault):
                    self.fired[i] += 1
        return plan

    def next_script_item(self) -> Any:
        with self.lock:
            return self.script.popleft() if self.script else _EMPTY

    def note_error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    @staticmethod
    def is_empty(item: Any) -> bool:
        return item is _EMPTY
