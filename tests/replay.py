"""A loopback HTTP server that answers chat completions with recorded Mistral exchanges.

It plays captures from ``tests/fixtures/real_mistral`` byte for byte: the status,
the recorded headers that a client reads (Content-Type, Www-Authenticate, the
rate-limit families, Retry-After when a test scripts one) and the exact body (a
stream's whole SSE text, an error's exact text).  A test scripts a queue of
captures (a 429, then a success); each ``POST /v1/chat/completions`` takes the
next one, and every request body is recorded.  When the queue is empty it answers
500 with a body saying so, so a test that sends more than it scripted fails loudly.

The HTTP is written by hand on asyncio streams, in a thread of its own, so that
nothing between the capture and the socket (no framework) adds, reorders or
re-encodes anything.  ``closed_url()`` gives a base URL where nothing listens,
for the "refused connection" case.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "real_mistral"

# The recorded headers a client acts on, and the request ids (which must never
# reach a message); the rest (Cloudflare, Kong timings, masked cookies) would be
# noise, and Transfer-Encoding / Content-Length are the server's own framing here.
_KEPT_PREFIXES = (
    "content-type",
    "www-authenticate",
    "retry-after",
    "x-ratelimit",
    "ratelimit",
    "mistral-correlation-id",
    "x-kong-request-id",
)
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def load_capture(name: str) -> dict[str, Any]:
    """A capture from tests/fixtures/real_mistral, by file name or number prefix ("010", "s027")."""
    matches = sorted(FIXTURES.glob(f"{name}*.json"))
    if len(matches) != 1:
        raise LookupError(f"{len(matches)} fixtures match {name!r} in {FIXTURES}")
    return json.loads(matches[0].read_text(encoding="utf-8"))


def stream_payloads(capture: dict[str, Any]) -> list[str]:
    """The ``data:`` payloads of a stream capture, ``[DONE]`` excluded."""
    return [payload for payload in capture["body"] if payload != "[DONE]"]


@dataclass
class Reply:
    """One scripted answer: a capture, and optionally a Retry-After to add."""

    capture: dict[str, Any]
    retry_after: float | None = None

    def encode(self) -> bytes:
        capture = self.capture
        status = int(capture["status"])
        if capture["kind"] == "stream":
            body = capture["raw_body"].encode("utf-8")
        else:
            body = capture["body"].encode("utf-8")
        headers: list[tuple[str, str]] = []
        for name, value in (capture.get("headers") or {}).items():
            if name.lower().startswith(_KEPT_PREFIXES) and isinstance(value, str):
                headers.append((name, value))
        if not any(name.lower() == "content-type" for name, _ in headers):
            kind = "text/event-stream; charset=utf-8" if capture["kind"] == "stream" else None
            headers.append(("Content-Type", kind or "application/json"))
        if self.retry_after is not None:
            headers.append(("Retry-After", f"{self.retry_after:g}"))
        headers.append(("Content-Length", str(len(body))))
        head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers)
        return (head + "\r\n").encode("latin-1") + body


class ReplayServer:
    """Plays scripted captures to ``POST /v1/chat/completions`` on 127.0.0.1.

    Attributes:
        requests: Every chat-completion request body received, parsed, in order.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def _stop() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            # Connections the client keeps alive: end them, and let each close its socket.
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- script ------------------------------------------------------------------

    def push(self, *captures: dict[str, Any] | str, retry_after: float | None = None) -> None:
        """Queue captures (dicts, or fixture names for :func:`load_capture`) to answer with."""
        with self._lock:
            for capture in captures:
                loaded = load_capture(capture) if isinstance(capture, str) else capture
                self._queue.append(Reply(loaded, retry_after))

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    # -- HTTP --------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                method, path, _ = request_line.decode("latin-1").split(" ", 2)
                writer.write(self._answer(method, path, body))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    def _answer(self, method: str, path: str, body: bytes) -> bytes:
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            return _plain(404, {"message": f"no route for {method} {path} in the replay server"})
        with self._lock:
            try:
                self.requests.append(json.loads(body))
            except ValueError:
                self.requests.append({"_raw": body.decode("utf-8", "replace")})
            reply = self._queue.popleft() if self._queue else None
        if reply is None:
            return _plain(500, {"message": "the replay server's script is empty"})
        return reply.encode()


def _plain(status: int, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode("latin-1") + data


def closed_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def replay_server() -> Iterator[ReplayServer]:
    """A started ReplayServer with an empty script, stopped after the test."""
    with ReplayServer() as server:
        yield server
