"""LocalMistral: the offline Mistral endpoint, served from its own thread and event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from .._errors import LocalMistralError
from ._catalogue import Catalogue
from ._faults import Fault
from ._script import TRANSITIONS, Transition
from ._state import Exchange, State
from ._wire import Era

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["LocalMistral"]

_ERAS = ("2026", "2024")
_STYLES_422 = ("plain", "wrapped", "encoded")

_ANY_KEY = "local-mistral"
_STOP_TIMEOUT = 10.0


def _mask(key: str) -> str:
    return "***" if len(key) <= 6 else f"{key[:3]}…{key[-2:]}"


class LocalMistral:
    """An offline, Mistral-compatible chat completions server on 127.0.0.1.

    It runs in a background thread with its own event loop, so it keeps answering while
    the caller's thread or loop is busy (a notebook cell blocked in ``run_until_complete``).
    It validates requests like Mistral's API (422 schema errors, 400 serving rules), counts
    tokens with mistral-common's tokenizer, streams real tokenizer pieces, and answers
    deterministically unless scripted.

    Args:
        port: The port to listen on; 0 (default) picks a free one.
        host: The interface, 127.0.0.1 by default.
        api_key: None accepts any non-empty bearer token; a string requires exactly it.
        script: Replies to give, one per valid completion request, before the
            deterministic ones: a str (text), a :class:`ToolCall`, a list of ToolCall (parallel
            calls in one response), or a callable(body) returning one of those (or None to
            let the deterministic rules answer).
        faults: :class:`Fault` objects to inject (``help(Fault)`` lists the kinds).
        reply_tokens: Stretch or cut every deterministic text reply to exactly this many
            tokens (benchmarks: ``reply_tokens=2000``). Scripted text is sent as written.
        token_delay: Seconds between streamed chunks (non-streamed: per token, in total).
        first_token_delay: Seconds from the request to the first byte of a completion.
        allow_user_after_tool: Accept a user message right after a tool message (newer
            mistral-common allows it; Mistral's API was seen rejecting it).
        models: Extra or overriding model cards, e.g. ``[{"id": "tiny", "max_context_length":
            512}]`` (partial cards inherit an existing card's fields or sensible defaults).
        era: The wire format: ``"2026"`` (Mistral's current shapes) or ``"2024"``
            (``logprobs``/``usage``/``role`` null on every chunk, tool calls without ``index``
            or ``type``, untyped error codes, the gateway's 401).
        errors_422: How a schema error is wrapped: ``"plain"`` (``{"detail": [...]}``, as
            today), ``"wrapped"`` (inside the error envelope) or ``"encoded"`` (as a JSON string
            in ``message``, 2024-01).
        reasoning_transition: How deterministic reasoning replies switch from thinking to the
            answer: ``"mixed"``, ``"direct"``, ``"empty"`` or ``"separate"``; None: as the
            model was recorded (mixed for Small/Medium, direct for Magistral).
        history: Keep only the latest this many request bodies and exchanges (None: all).
        max_body_bytes: Bodies above this size are answered 413 without being read.
        body_timeout: Seconds a request body may take to arrive (then 408); None: no limit.
        idle_timeout: Seconds a connection may stay open without a whole request, before its
            first one and between requests (then it is closed); None: no limit.

    Example:
        >>> with LocalMistral() as server:                        # doctest: +SKIP
        ...     client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
    """

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        api_key: str | None = None,
        script: Iterable[Any] = (),
        faults: Iterable[Fault] = (),
        reply_tokens: int | None = None,
        token_delay: float = 0.0,
        first_token_delay: float = 0.0,
        allow_user_after_tool: bool = False,
        models: Iterable[Mapping[str, Any] | str] | None = None,
        era: Era = "2026",
        errors_422: str = "plain",
        reasoning_transition: Transition | None = None,
        history: int | None = None,
        max_body_bytes: int = 128 * 1024 * 1024,
        body_timeout: float | None = 60.0,
        idle_timeout: float | None = 75.0,
    ) -> None:
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise LocalMistralError("api_key must be a non-empty string, or None to accept any key")
        if reply_tokens is not None and (not isinstance(reply_tokens, int) or reply_tokens < 0):
            raise LocalMistralError(f"reply_tokens must be an int >= 0, got {reply_tokens!r}")
        if token_delay < 0 or first_token_delay < 0:
            raise LocalMistralError("token_delay and first_token_delay must not be negative")
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise LocalMistralError(f"port must be an int in 0..65535, got {port!r}")
        _check_choice("era", era, _ERAS)
        _check_choice("errors_422", errors_422, _STYLES_422)
        if reasoning_transition is not None:
            _check_choice("reasoning_transition", reasoning_transition, TRANSITIONS)
        if history is not None and (not isinstance(history, int) or history < 1):
            raise LocalMistralError(f"history must be an int >= 1 or None, got {history!r}")
        if not isinstance(max_body_bytes, int) or max_body_bytes < 1:
            raise LocalMistralError(f"max_body_bytes must be an int >= 1, got {max_body_bytes!r}")
        for name, value in (("body_timeout", body_timeout), ("idle_timeout", idle_timeout)):
            if value is not None and not value > 0:
                raise LocalMistralError(f"{name} must be a number > 0 or None, got {value!r}")
        self._max_body_bytes = max_body_bytes
        self._body_timeout = body_timeout
        self._idle_timeout = idle_timeout
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._state = State(
            api_key=api_key,
            catalogue=Catalogue(models),
            reply_tokens=reply_tokens,
            token_delay=float(token_delay),
            first_token_delay=float(first_token_delay),
            allow_user_after_tool=allow_user_after_tool,
            era=era,
            errors_422=errors_422,
            reasoning_transition=reasoning_transition,
            history=history,
        )
        self._state.push(script)
        self._state.inject(faults)
        self._lifecycle = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving (idempotent); returns self once it can answer promptly.

        The first start in a process also loads the tokenizer (about a second), so that no
        request, however short its client's timeout, waits for it.
        """
        with self._lifecycle:
            if self._thread is not None:
                return self
            from ._tokens import load_tokenizer  # mistral-common: loaded when first served

            load_tokenizer()
            ready = threading.Event()
            failure: list[BaseException] = []
            thread = threading.Thread(
                target=self._run, args=(ready, failure), name="LocalMistral", daemon=True
            )
            thread.start()
            ready.wait()
            if failure:
                thread.join()
                hint = (
                    "; choose another port, or port=0 for a free one"
                    if isinstance(failure[0], OSError)
                    else ""
                )
                raise LocalMistralError(
                    f"LocalMistral could not listen on {self._host}:{self._requested_port}: "
                    f"{failure[0]}{hint}"
                ) from failure[0]
            self._thread = thread
            thread.name = f"LocalMistral:{self._port}"
            return self

    def stop(self) -> None:
        """Stop serving (idempotent): close connections, join the thread, free the port."""
        with self._lifecycle:
            thread, loop = self._thread, self._loop
            if thread is None or loop is None:
                return
            if threading.current_thread() is thread:
                raise LocalMistralError(
                    "LocalMistral.stop() was called from the server's own thread (a script "
                    "callable or fault predicate?); call it from your code instead"
                )
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                future.result(timeout=_STOP_TIMEOUT)
            except TimeoutError as exc:
                raise LocalMistralError(
                    f"LocalMistral did not close its connections within {_STOP_TIMEOUT} s; "
                    "its thread was stopped anyway"
                ) from exc
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=_STOP_TIMEOUT)
                self._thread = None
                self._port = None

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            failure.append(exc)
            self._close_loop(loop)
            ready.set()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            self._close_loop(loop)

    async def _startup(self) -> None:
        from aiohttp import web

        from ._http import QuietRunner
        from ._server import Limits, build_app

        self._stopping = asyncio.Event()
        limits = Limits(max_body_bytes=self._max_body_bytes, body_timeout=self._body_timeout)
        app = build_app(self._state, self._stopping, limits)
        runner = QuietRunner(
            app,
            idle_timeout=self._idle_timeout,
            access_log=None,
            shutdown_timeout=1.0,
            keepalive_timeout=self._idle_timeout or 3630.0,
            # After a 408 or 413, read what is still coming for a second (so the client can
            # see the answer), then close: aiohttp's default waits up to 10 s.
            lingering_time=1.0,
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._requested_port)
        try:
            await site.start()
            self._port = int(runner.addresses[0][1])
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def _shutdown(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @staticmethod
    def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
        try:
            tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- where and how to reach it --------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def port(self) -> int:
        """The port it listens on."""
        if self._port is None:
            raise LocalMistralError(
                "LocalMistral is not running, so it has no port yet; call start() first "
                "(or use it as a context manager)"
            )
        return self._port

    @property
    def server_url(self) -> str:
        """``http://127.0.0.1:PORT``: the mistralai SDK's ``server_url``."""
        host = self._host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: the OpenAI client's ``base_url``."""
        return f"{self.server_url}/v1"

    @property
    def api_key(self) -> str:
        """The key to give a client: the one required, or a placeholder when any is accepted."""
        return self._state.api_key or _ANY_KEY

    # -- what it received, what it will do -------------------------------------------

    @property
    def requests(self) -> list[Any]:
        """The JSON bodies received at /v1/chat/completions, in order, rejected ones included
        (the raw text for a body that is not JSON or nests deeper than 200 levels; None while
        one is still being decoded). Only the latest ``history`` ones when that is set. A
        copy, safe to keep."""
        return self._state.snapshot_requests()

    @property
    def exchanges(self) -> list[Exchange]:
        """Every HTTP exchange, in order: method, path, headers (no Authorization), body,
        status, request number and the faults that fired."""
        return self._state.snapshot_exchanges()

    @property
    def errors(self) -> list[str]:
        """Errors raised by your script callables or fault predicates (answered with 500)."""
        with self._state.lock:
            return list(self._state.errors)

    @property
    def pending_replies(self) -> int:
        """How many scripted replies are still queued."""
        with self._state.lock:
            return len(self._state.script)

    def push(self, *replies: Any) -> None:
        """Queue scripted replies (same forms as ``script=``), after those already queued."""
        self._state.push(replies)

    def inject(self, *faults: Fault) -> None:
        """Add faults; request numbers keep counting from the server's first request."""
        self._state.inject(faults)

    def reset(self) -> None:
        """Forget requests, exchanges and errors; drop queued replies and faults."""
        self._state.reset()

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[Any]:
        """Block until at least ``count`` completion requests arrived; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            with self._state.lock:
                if self._state.filled >= count:
                    break
            if time.monotonic() > deadline:
                raise LocalMistralError(
                    f"Timed out after {timeout} s waiting for {count} request(s); "
                    f"got {self._state.filled}"
                )
            time.sleep(0.01)
        return self.requests

    def __repr__(self) -> str:
        key = "any" if self._state.api_key is None else _mask(self._state.api_key)
        if self._port is None or self._thread is None:
            return f"<LocalMistral stopped api_key={key}>"
        with self._state.lock:
            count = len(self._state.requests)
        return f"<LocalMistral running {self.base_url} api_key={key} requests={count}>"


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise LocalMistralError(
            f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}"
        )
