"""Builds one Turn from the events of its frames, and decides when it is over.

A turn is over when a completion ends without asking for tools and no tool
call is still running; or when an error ended a completion; or when the
session stops it (cancel, tool-round limit).  The session awaits ``done``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from ._events import TokenKind
from ._turn import CallRecord, Completion, Turn, TurnStatus

__all__ = ["TurnRecorder", "elide_images"]


class TurnRecorder:
    """Receives the events of one turn (from the observer and the service hooks)."""

    def __init__(
        self,
        turn: Turn,
        *,
        base_url: str,
        settings_reader: Callable[[], dict[str, Any]],
        emit: Callable[..., None] | None = None,
        max_attempts: int = 3,
    ) -> None:
        self.turn = turn
        self._emit = emit or (lambda kind, **payload: None)
        self._base_url = base_url
        self._read_settings = settings_reader
        self._t0 = time.perf_counter()
        self.done: asyncio.Future[Turn] = asyncio.get_running_loop().create_future()
        self._pending: set[str] = set()
        self._asked_for_tools = False
        self._completion_open = False
        self._stop_when_calls_settle: str | None = None
        self._n_requests = 0
        self._last_status: int | None = None
        # HTTP errors since the last answer: which attempt the client is on.  (Counting
        # completions instead races the observer, which may see a completion start only
        # after its request went out, and then calls every first request a retry.)
        self._failures_in_a_row = 0
        self._max_attempts = max_attempts

    # -- state ---------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.done.done()

    @property
    def completion_index(self) -> int:
        return max(len(self.turn.completions) - 1, 0)

    def elapsed(self, now: float | None = None) -> float:
        return (time.perf_counter() if now is None else now) - self._t0

    def finish(self, status: TurnStatus, error: str | None = None, **details: Any) -> None:
        """End the turn (first call wins)."""
        if self.finished:
            return
        turn = self.turn
        turn.status = status
        if error is not None:
            turn.error = error
        for key, value in details.items():
            setattr(turn, key, value)
        turn.duration_s = self.elapsed()
        turn.retries = max(self._n_requests - len(turn.completions), 0)
        self.done.set_result(turn)

    # -- frames (via TurnObserver) -------------------------------------------

    def completion_started(self, now: float) -> None:
        if self.finished:
            return
        self.turn.completions.append(Completion(len(self.turn.completions), self.elapsed(now)))
        self._asked_for_tools = False
        self._completion_open = True

    def text(self, text: str, now: float, kind: TokenKind = "text") -> None:
        if self.finished or not self._completion_open:
            return
        self.turn.add_token(text, self.elapsed(now), self.completion_index, kind)
        self._emit("thinking" if kind == "thinking" else "token", text=text)

    def ttfb(self, seconds: float) -> None:
        if self.turn.completions and self.turn.completions[-1].ttfb_s is None:
            self.turn.completions[-1].ttfb_s = seconds

    def usage(self, prompt_tokens: int, completion_tokens: int) -> None:
        if self.turn.completions:
            completion = self.turn.completions[-1]
            completion.prompt_tokens = prompt_tokens
            completion.completion_tokens = completion_tokens

    def calls_started(self, call_ids: list[str]) -> None:
        self._pending.update(call_ids)
        self._asked_for_tools = True

    def call_settled(self, call_id: str) -> None:
        self._pending.discard(call_id)
        self._maybe_stop_after_calls()

    def error(self, message: str, exception: BaseException | None) -> None:
        if self.finished:
            return
        # The OpenAI client's error types: loaded with the first failure, not the package.
        from ._api_errors import describe_failure

        failure = describe_failure(
            message, exception, base_url=self._base_url, model=self.turn.settings.get("model")
        )
        self.finish(
            failure.status,
            failure.message,
            error_status_code=failure.status_code,
            error_category=failure.category,
        )

    def completion_ended(self) -> None:
        if self.finished or not self._completion_open:
            return
        self._completion_open = False
        completion = self.turn.completions[-1]
        if self._asked_for_tools or self._pending:
            self._maybe_stop_after_calls()
            return
        if completion.finish_reason == "tool_calls":
            self.finish(
                "error",
                "the model asked for a tool call whose arguments are not valid JSON, so it "
                "was not run; ask again or rephrase",
            )
        elif completion.finish_reason == "error":
            self.finish("error", "Mistral ended the reply with finish_reason 'error'; try again")
        else:
            self.finish("ok")

    # -- the session's own events ----------------------------------------------

    def call_started(self, record: CallRecord) -> None:
        """A tool call begins (a panel shows it running); ``call_done`` follows."""
        record.completion = self.completion_index
        self._emit("call_started", call=record)

    def call_done(self, record: CallRecord) -> None:
        record.completion = self.completion_index
        self.turn.call_records.append(record)
        self._emit("call", call=record)

    def stop_after_calls(self, reason: str) -> None:
        """No further model request in this turn: end it once running calls settle."""
        self._stop_when_calls_settle = reason
        self._maybe_stop_after_calls()

    def _maybe_stop_after_calls(self) -> None:
        if self._stop_when_calls_settle and not self._pending and not self._completion_open:
            self.finish("error", self._stop_when_calls_settle)

    # -- HTTP (via ServiceHooks) ---------------------------------------------

    def request_sent(self, raw: bytes) -> None:
        self._n_requests += 1
        if not self.turn.requests:
            self.turn.settings = self._read_settings()
        attempt = self._failures_in_a_row + 1
        if attempt > 1 and not self.finished:
            why = f" ({self._last_status})" if self._last_status else ""
            self._emit(
                "retry",
                text=f"retrying{why}, attempt {attempt} of {self._max_attempts}...",
            )
        if raw:
            self.turn.requests.append(elide_images(request_body(raw)))

    def response_received(self, status_code: int, headers: Any) -> None:
        wait = retry_after(headers)
        if status_code == 429:
            self.turn.retry_after_s = wait
        if status_code < 400:
            self._failures_in_a_row, self._last_status = 0, None
            return
        self._failures_in_a_row += 1
        self._last_status = status_code
        attempt = self._failures_in_a_row  # the attempt that just failed
        retried = attempt < self._max_attempts and client_retries(status_code, headers)
        if retried and not self.finished:
            # The OpenAI client waits (retry-after, else its backoff), then retries on its
            # own: say so now, for the whole wait, not once the next attempt is out.
            when = f" in {wait:g} s" if wait is not None and wait > 0 else ""
            self._emit(
                "retry",
                text=f"retrying ({status_code}){when}, attempt {attempt + 1} of "
                f"{self._max_attempts}...",
            )

    def candidate(self, index: int, text: str, finish_reason: str | None) -> None:
        """A piece of candidate ``index`` (``n`` > 1); candidate 0 streams as usual."""
        if self.finished or not self._completion_open:
            return
        if text:
            self.turn.add_token(text, self.elapsed(), self.completion_index, "text", choice=index)

    def cached_tokens(self, tokens: int) -> None:
        if self.turn.completions:
            self.turn.completions[-1].cached_tokens = tokens

    def finish_reason(self, reason: str) -> None:
        if self.turn.completions:
            self.turn.completions[-1].finish_reason = reason


def request_body(raw: bytes) -> dict[str, Any]:
    """A request body as sent, parsed; a body that is not JSON is kept as text."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {"_raw": raw.decode("utf-8", "replace")}
    return body if isinstance(body, dict) else {"_raw": body}


def elide_images(body: dict[str, Any]) -> dict[str, Any]:
    """The body with each base64 image or document replaced by its size and sha256 (in place)."""
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in ("image_url", "document_url"):
                continue
            value = part.get(kind)
            url = value.get("url") if isinstance(value, dict) else value
            if not isinstance(url, str) or not url.startswith("data:"):
                continue
            if isinstance(value, dict):
                value["url"] = _elided(url)
            else:
                part[kind] = _elided(url)
    return body


def _elided(url: str) -> str:
    head, _, data = url.partition(",")
    try:
        raw = base64.b64decode(data, validate=False)
    except ValueError:
        raw = data.encode()
    return f"{head},<{len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()}>"


#: The longest ``retry-after`` the OpenAI client waits for (``MAX_RETRY_AFTER_DELAY``);
#: past it, it does not retry at all.
CLIENT_MAX_RETRY_AFTER = 120.0


def client_retries(status_code: int, headers: Any) -> bool:
    """Whether the OpenAI client retries a response, by its own rules
    (``openai._base_client._should_retry``): not when ``retry-after`` is too long; as
    ``x-should-retry`` says when sent; else on 408, 409, 429 and 5xx."""
    wait = retry_after(headers)
    if wait is not None and wait > CLIENT_MAX_RETRY_AFTER:
        return False
    should = headers.get("x-should-retry") if headers is not None else None
    if should in ("true", "false"):
        return bool(should == "true")
    return status_code in (408, 409, 429) or status_code >= 500


def retry_after(headers: Any) -> float | None:
    """Seconds a 429 asks to wait: ``retry-after-ms``, ``retry-after`` (seconds), or None.

    Mistral sends neither in the recordings we have; other gateways in front of it may.
    """
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        try:
            seconds = float(str(value)) * scale
        except (TypeError, ValueError):
            continue
        if 0 <= seconds <= 3600:
            return seconds
    return None
