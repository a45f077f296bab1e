"""Fault injection: make LocalMistral misbehave on purpose, the ways real servers do.

A :class:`Fault` says *what* goes wrong and *when*. Build one with a constructor, give
``on=`` to pick requests and ``times=`` to limit how often it fires::

    LocalMistral(faults=[
        Fault.status(429, on=2),                 # the 2nd completion request is rate limited
        Fault.cut(after_tokens=5, on=lambda body: body.get("stream")),
        Fault.delay(2.0, times=1),               # the first request waits 2 s before any byte
    ])

``on`` is a 1-based request number (counting every ``POST /v1/chat/completions``, rejected
ones included, in arrival order: ``server.requests[n - 1]`` is request ``n``), a collection of
numbers, a predicate on the decoded JSON body (the raw text when the body is not JSON), or
None for every request. ``times`` caps how many requests a fault affects (None: no cap).

``status``, ``hang`` and ``delay`` act like a gateway, before the request is even read for
validity. ``slow``, ``cut``, ``malformed`` and ``error_finish`` shape a completion, so they only
fire on requests that pass validation. Several faults may fire on one request: delays add up,
the slowest ``slow`` wins, and the first ``status``/``hang`` and the first stream fault in list
order apply.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._errors import LocalMistralError
from ._wire import ERRORS, Era, case_body, error_body, to_era, unauthorized

__all__ = ["DEFAULT_BODY", "Fault", "FaultPlan", "default_error"]

Selector = int | Collection[int] | Callable[[Any], bool] | None

GATEWAY_KINDS = frozenset({"status", "hang", "delay"})
STREAM_KINDS = frozenset({"cut", "malformed", "error_finish"})

_MESSAGES = {
    400: ("Bad request", "invalid_request_error", None),
    403: ("Forbidden", "forbidden", None),
    429: ("Rate limit exceeded", "rate_limited", "1300"),
    500: ("Service unavailable.", "internal_server_error", "1000"),
    502: ("Bad gateway", "internal_server_error", "1000"),
    503: ("Service unavailable.", "internal_server_error", "1000"),
    504: ("Gateway timeout", "internal_server_error", "1000"),
}

DEFAULT_BODY: Any = object()
"""A fault's body when none was given: the era's own, made when the fault fires."""


def default_error(code: int, message: str | None, era: Era = "2026") -> Any:
    """The body Mistral's stack sends for an error status (``None``: an empty body; bytes:
    sent as they are)."""
    if code == 401:
        if message is None:
            return unauthorized(era)[0]
        return {"detail": message}
    if code == 429 and era == "2024" and message is None:
        return {"message": "Requests rate limit exceeded"}
    if code == 403 and message is None:
        return None
    if code == 404:
        return {"message": message or "no Route matched with those values", "request_id": ""}
    if code == 422:
        return {
            "detail": [
                {
                    "type": "value_error",
                    "loc": ["body"],
                    "msg": message or "Value error, injected by LocalMistral",
                    "input": None,
                }
            ]
        }
    text, type_, err_code = _MESSAGES.get(code, ("Error", "internal_server_error", None))
    return to_era(error_body(message or text, type_, err_code, code), era)


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour; build it with the class methods, not directly.

    ==========================================  ==============================================
    ``Fault.status(429, on=2)``                 answer with an error status and Mistral's body
    ``Fault.delay(2.0)``                        wait before the first byte
    ``Fault.slow(0.05)``                        wait between streamed tokens
    ``Fault.cut(after_tokens=5)``               drop the connection mid-stream
    ``Fault.malformed(after_tokens=2)``         send a broken SSE event, then carry on
    ``Fault.error_finish(after_tokens=3)``      end with ``finish_reason: "error"``
    ``Fault.hang()``                            never answer
    ==========================================  ==============================================

    Every constructor takes ``on=`` (a 1-based completion request number, a collection of
    them, a predicate on the JSON body, or None for all) and ``times=`` (how many requests
    it may affect; None for no limit). Status, delay and hang act before auth and validation;
    the others only on requests that pass validation. Faults apply to
    ``POST /v1/chat/completions`` only. ``LocalMistral.exchanges[i].faults`` shows what fired.

    Attributes:
        kind: ``status``, ``hang``, ``delay``, ``slow``, ``cut``, ``malformed`` or ``error_finish``.
        on: Which requests.
        times: At most this many requests are affected (None: no limit).
    """

    kind: str
    on: Selector = None
    times: int | None = None
    code: int | None = None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    after_tokens: int = 0
    line: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        kinds = GATEWAY_KINDS | STREAM_KINDS | {"slow"}
        if self.kind not in kinds:
            raise LocalMistralError(f"Unknown fault kind {self.kind!r}; use one of {sorted(kinds)}")
        on = self.on
        valid_on = (
            on is None
            or callable(on)
            or (isinstance(on, int) and not isinstance(on, bool) and on >= 1)
            or (
                isinstance(on, Collection)
                and not isinstance(on, (str, bytes))
                and all(isinstance(n, int) and n >= 1 for n in on)
            )
        )
        if not valid_on:
            raise LocalMistralError(
                f"Fault on= must be a 1-based request number, a collection of them, a "
                f"predicate on the request body, or None; got {on!r}"
            )
        if self.times is not None and (not isinstance(self.times, int) or self.times < 1):
            raise LocalMistralError(
                f"Fault times= must be a positive int or None, got {self.times!r}"
            )
        if self.seconds < 0 or self.after_tokens < 0:
            raise LocalMistralError("Fault delays and token counts must not be negative")

    # -- constructors ---------------------------------------------------------------

    @classmethod
    def status(
        cls,
        code: int,
        *,
        on: Selector = None,
        times: int | None = None,
        message: str | None = None,
        body: Any = ...,
        headers: Mapping[str, str] | None = None,
        retry_after: float | None = ...,  # type: ignore[assignment]
    ) -> Fault:
        """Answer with HTTP ``code`` and Mistral's body for it.

        429 is Mistral's ``{"object": "error", "message": "Rate limit exceeded", "type":
        "rate_limited", "param": null, "code": "1300", "raw_status_code": 429}`` with
        ``retry-after`` and the rate-limit headers; 401 is ``{"detail": "Invalid API Key"}``;
        403 has no body; 404 is the gateway's "no Route matched"; 422 a FastAPI detail list;
        500 is ``"Service unavailable."`` typed ``internal_server_error``, code ``"1000"``;
        other 4xx/5xx Mistral's envelope. Bodies follow the server's ``era``.
        :meth:`error` sends Mistral's other recorded errors by name.

        Args:
            code: Any HTTP error status (400-599).
            message: Replaces the default message in the body.
            body: Replaces the whole body (a dict/list is sent as JSON, a str as is, None
                as an empty body).
            headers: Extra response headers.
            retry_after: Seconds for ``retry-after`` (default 1 for 429 and 503, else none).
                Note the OpenAI client honours it when it retries.
        """
        if not isinstance(code, int) or not 400 <= code <= 599:
            raise LocalMistralError(f"Fault.status needs an HTTP error code 400-599, got {code!r}")
        if retry_after is ...:
            retry_after = 1 if code in (429, 503) else None
        extra = dict(headers or {})
        if retry_after is not None:
            extra.setdefault("retry-after", _seconds(retry_after))
        return cls(
            "status",
            on=on,
            times=times,
            code=code,
            body=DEFAULT_BODY if body is ... else body,
            message=message,
            headers=extra,
        )

    @classmethod
    def error(
        cls,
        case: str,
        *,
        on: Selector = None,
        times: int | None = None,
        retry_after: float | None = None,
        **values: Any,
    ) -> Fault:
        """Answer with one of Mistral's recorded errors, by name.

        ===================  ======  ====================================  ======
        case                 status  type                                  code
        ===================  ======  ====================================  ======
        ``message_order``    400     invalid_request_message_order         3230
        ``invalid_model``    400     invalid_model                         1500
        ``tool_call_id``     400     invalid_function_call                 3280
        ``context_window``   400     invalid_request_invalid_args          3051
        ``rate_limited``     429     rate_limited                          1300
        ``capacity``         429     service_tier_capacity_exceeded        3505
        ``internal``         500     internal_server_error                 1000
        ===================  ======  ====================================  ======

        The bodies carry ``raw_status_code`` as in 2026, and no ``retry-after`` (none was
        recorded) unless ``retry_after`` is given. Placeholders in the message take
        ``values`` (``model``, ``id``, ``prompt``, ``limit``), with defaults.
        """
        if case not in ERRORS:
            raise LocalMistralError(
                f"Unknown error case {case!r}; use one of {', '.join(sorted(ERRORS))}"
            )
        filled = {"model": "unknown-model", "id": "call_1", "prompt": 300000, "limit": 262144}
        filled.update(values)
        status, body = case_body(case, **filled)
        headers = {} if retry_after is None else {"retry-after": _seconds(retry_after)}
        return cls("status", on=on, times=times, code=status, body=body, headers=headers)

    @classmethod
    def delay(cls, seconds: float, *, on: Selector = None, times: int | None = None) -> Fault:
        """Wait ``seconds`` before sending the first byte of the answer."""
        return cls("delay", on=on, times=times, seconds=float(seconds))

    @classmethod
    def slow(cls, token_delay: float, *, on: Selector = None, times: int | None = None) -> Fault:
        """Wait ``token_delay`` seconds between streamed tokens (overrides the server's)."""
        return cls("slow", on=on, times=times, seconds=float(token_delay))

    @classmethod
    def cut(cls, after_tokens: int = 0, *, on: Selector = None, times: int | None = None) -> Fault:
        """Close the connection abruptly after ``after_tokens`` streamed tokens.

        No finish_reason, no usage, no ``[DONE]``: the client sees a broken chunked body.
        A non-streamed request gets its connection closed with no answer.
        """
        return cls("cut", on=on, times=times, after_tokens=int(after_tokens))

    @classmethod
    def malformed(
        cls,
        after_tokens: int = 0,
        *,
        line: str | None = None,
        on: Selector = None,
        times: int | None = None,
    ) -> Fault:
        """Send a malformed SSE event after ``after_tokens`` tokens, then carry on.

        By default the event is a chunk whose JSON is cut in half; ``line`` replaces it (sent
        as ``line`` followed by a blank line). A non-streamed request gets a truncated JSON body.
        """
        return cls("malformed", on=on, times=times, after_tokens=int(after_tokens), line=line)

    @classmethod
    def error_finish(
        cls, after_tokens: int = 0, *, on: Selector = None, times: int | None = None
    ) -> Fault:
        """End the reply after ``after_tokens`` tokens with ``finish_reason: "error"``.

        The last chunk still carries usage and ``[DONE]`` follows, as seen from Mistral.
        """
        return cls("error_finish", on=on, times=times, after_tokens=int(after_tokens))

    @classmethod
    def hang(cls, *, on: Selector = None, times: int | None = None) -> Fault:
        """Never answer: hold the connection until the client gives up or the server stops."""
        return cls("hang", on=on, times=times)

    # -- matching -------------------------------------------------------------------

    def matches(self, number: int, body: Any) -> bool:
        """Whether this fault selects request ``number`` with ``body`` (ignores ``times``)."""
        on = self.on
        if on is None:
            return True
        if isinstance(on, int):
            return number == on
        if callable(on):
            return bool(on(body))
        return number in on


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass
class FaultPlan:
    """What the faults that fired on one request add up to."""

    delay: float = 0.0
    terminal: Fault | None = None  # status or hang
    token_delay: float | None = None
    stream: Fault | None = None  # cut, malformed or error_finish
    fired: list[Fault] = field(default_factory=list)

    def add(self, fault: Fault) -> bool:
        """Fold ``fault`` in; False when an earlier fault of its kind already won."""
        if fault.kind == "delay":
            self.delay += fault.seconds
        elif fault.kind in ("status", "hang"):
            if self.terminal is not None:
                return False
            self.terminal = fault
        elif fault.kind == "slow":
            self.token_delay = max(self.token_delay or 0.0, fault.seconds)
        else:
            if self.stream is not None:
                return False
            self.stream = fault
        self.fired.append(fault)
        return True

    @property
    def names(self) -> list[str]:
        return [fault.kind for fault in self.fired]
