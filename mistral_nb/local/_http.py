"""aiohttp's server, made safe to face hostile clients: quiet about bad requests, and
closing connections that idle or trickle; and the middleware that logs each exchange.

aiohttp answers a malformed request line or header with a 400 whose text quotes the bad
bytes, and logs the same with a traceback: a malformed ``Authorization`` header would be
echoed to the client and printed to stderr (a notebook's output, when LocalMistral runs in
the kernel). :class:`QuietRunner` serves through a request handler that answers such
requests with a fixed body and logs one line with no header value in it.

A connection that sends no request within ``idle_timeout`` seconds of opening, or of its
last answer, is closed; so is one whose body does not arrive within ``body_timeout`` (the
route handlers apply that one, see ``_server``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from ._state import LOGGER, Exchange

__all__ = ["EXCHANGE", "Abort", "QuietRunner", "middleware"]

EXCHANGE = web.RequestKey("exchange", Exchange)
"""Where a route handler leaves the request's :class:`Exchange`, for the log line."""

_BAD_REQUEST = (
    b'{"object":"error","message":"Bad request: the HTTP request could not be parsed",'
    b'"type":"invalid_request_error","param":null,"code":null,"raw_status_code":400}'
)


class _QuietHandler(RequestHandler):
    """A request handler that never repeats what the client sent in an error."""

    def __init__(self, manager: Any, *, idle_timeout: float | None, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._idle_timeout = idle_timeout
        self._idle: asyncio.TimerHandle | None = None
        self._began = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._idle_timeout is not None:
            loop = asyncio.get_running_loop()
            self._idle = loop.call_later(self._idle_timeout, self._close_if_idle)

    def began(self) -> None:
        """A request reached a route: the connection is not idle."""
        self._began = True

    def _close_if_idle(self) -> None:
        # Keep-alive connections are closed by aiohttp's own keepalive_timeout; this covers a
        # connection that never completes its first request line and headers.
        if not self._began and self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        super().connection_lost(exc)

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        LOGGER.info("LocalMistral refused a malformed HTTP request (%s)", type(exc).__name__)
        if status != 400:
            return super().handle_error(request, status, exc, "")
        response = web.Response(status=400, body=_BAD_REQUEST, content_type="application/json")
        response.force_close()
        return response


class _QuietServer(web.Server):
    def __init__(self, *args: Any, idle_timeout: float | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle_timeout = idle_timeout

    def __call__(self) -> RequestHandler:
        return _QuietHandler(self, loop=self._loop, idle_timeout=self._idle_timeout, **self._kwargs)


class QuietRunner(web.AppRunner):
    """An AppRunner whose connections use the quiet request handler.

    Args:
        app: The application.
        idle_timeout: Close a connection that has not sent a whole request this long after
            opening (aiohttp's ``keepalive_timeout`` covers the time between requests).
        **kwargs: For aiohttp's AppRunner and request handler (``keepalive_timeout``...).
    """

    def __init__(self, app: web.Application, *, idle_timeout: float | None, **kwargs: Any):
        super().__init__(app, **kwargs)
        self._idle_timeout = idle_timeout

    async def _make_server(self) -> web.Server:
        # aiohttp builds its Server in this hook; rebuild it around our handler class, with
        # the same request handler, request factory and options.
        plain = await super()._make_server()
        return _QuietServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            idle_timeout=self._idle_timeout,
            **self._kwargs,
        )


def mark_began(request: web.BaseRequest) -> None:
    """Tell the connection's handler that a request reached a route."""
    handler = request.protocol
    if isinstance(handler, _QuietHandler):
        handler.began()


class Abort(Exception):
    """Drop the connection without a complete answer."""


def _log(request: web.Request, status: int | None, started: float) -> None:
    exchange: Exchange | None = request.get(EXCHANGE)
    model = "-" if exchange is None or exchange.model is None else exchange.model
    prompt = "-" if exchange is None or exchange.prompt_tokens is None else exchange.prompt_tokens
    completion = "-"
    if exchange is not None and exchange.completion_tokens is not None and status == 200:
        completion = str(exchange.completion_tokens)
    elapsed = (time.monotonic() - started) * 1000
    if exchange is not None:
        exchange.duration_ms = elapsed
    # The path, never the query string or a header: neither may carry a secret to a log.
    LOGGER.info(
        "%s %s %s model=%s prompt_tokens=%s completion_tokens=%s %.1fms",
        request.method,
        request.path,
        "-" if status is None else status,
        model,
        prompt,
        completion,
        elapsed,
    )


@web.middleware
async def middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    mark_began(request)
    started = time.monotonic()
    status: int | None = None
    try:
        response = await handler(request)
        status = response.status
        return response
    except Abort:
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError from None
    except ConnectionResetError:  # the client left mid-answer (an interruption, a timeout)
        raise asyncio.CancelledError from None
    finally:
        _log(request, status, started)
