"""The aiohttp application: routes, auth, faults, JSON answers and the SSE stream.

A chat completion goes: read the body (413 past the size limit, 408 when it trickles) ->
decode it (worker thread) -> record -> gateway faults (delay, status, hang) -> auth (401) ->
schema (422) -> model, serving rules, images, context (400) -> reply (script, else
deterministic) -> stream faults -> answer, streamed or not. Everything between reading
the body and answering that is not I/O runs on a worker thread (``_pipeline``), so a huge
body does not hold up other clients' streams. Each exchange is logged as one line on the
``mistral_nb.local`` logger, with no header value in it.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ._batch import add_batch_routes
from ._faults import DEFAULT_BODY, GATEWAY_KINDS, STREAM_KINDS, Fault, FaultPlan, default_error
from ._http import EXCHANGE, Abort, middleware
from ._state import Exchange, State
from ._stream import Layout, SSEWriter, deltas, outcome, reasoning_content
from ._wire import (
    Rejection,
    completion_id,
    correlation_id,
    detail_422,
    dumps,
    error_body,
    rate_limit_headers,
    to_era,
    unauthorized,
)

if TYPE_CHECKING:
    from ._pipeline import Prepared
    from ._replies import Rendered

__all__ = ["Limits", "build_app"]

_COMPLETIONS = "/v1/chat/completions"
_WORKERS = 4


@dataclass(frozen=True)
class Limits:
    """What one client may cost the server.

    Attributes:
        max_body_bytes: Larger bodies are answered 413 without being read.
        body_timeout: Seconds a body may take to arrive (then 408 and the connection closes).
    """

    max_body_bytes: int = 128 * 1024 * 1024
    body_timeout: float | None = 60.0


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    ident = correlation_id()
    headers = {
        "mistral-correlation-id": ident,
        "x-kong-request-id": ident,
        "access-control-allow-origin": "*",
        "x-envoy-upstream-service-time": "1",
        "x-content-type-options": "nosniff",
    }
    headers.update(extra or {})
    return headers


def _json(status: int, body: Any, extra: dict[str, str] | None = None) -> web.Response:
    if body is None:
        return web.Response(status=status, headers=_headers(extra))
    if isinstance(body, (str, bytes)):
        data = body.encode() if isinstance(body, str) else body
        return web.Response(status=status, body=data, headers=_headers(extra))
    return web.Response(
        status=status,
        body=dumps(body).encode(),
        content_type="application/json",
        headers=_headers(extra),
    )


class _Answer(Exception):
    """Answer at once with ``response`` (a body that could not be read)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _Handlers:
    def __init__(self, state: State, stopping: asyncio.Event, limits: Limits) -> None:
        self.state = state
        self.stopping = stopping
        self.limits = limits
        self.executor = ThreadPoolExecutor(_WORKERS, thread_name_prefix="LocalMistral-work")

    # -- helpers --------------------------------------------------------------------

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server stops."""
        if seconds > 0 and not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
            except TimeoutError:
                pass

    async def offload(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function`` on a worker thread, keeping the event loop free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, function, *args)

    def authorized(self, request: web.Request) -> bool:
        # The header's value is compared, never logged nor echoed.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        return self.state.api_key is None or token == self.state.api_key

    def unauthorized(self) -> web.Response:
        body, headers = unauthorized(self.state.era)
        return _json(401, body, headers)

    def error(self, status: int, body: Any, extra: dict[str, str] | None = None) -> web.Response:
        return _json(status, to_era(body, self.state.era), extra)

    def answer(self, exchange: Exchange, response: web.StreamResponse) -> web.StreamResponse:
        exchange.status = response.status
        return response

    async def read_body(self, request: web.Request) -> bytes:
        """The body, or an :class:`_Answer`: 413 past the size limit, 408 when too slow.

        Read piece by piece as it arrives, and joined on a worker thread: aiohttp's own
        ``read()`` copies the growing body on the event loop, stalling other clients for a
        tenth of a second at a time on a 50 MB body.
        """
        limit = self.limits.max_body_bytes
        declared = request.content_length
        size = 0
        pieces: list[bytes] = []
        try:
            if declared is not None and declared > limit:
                raise _TooLarge(declared)
            async with asyncio.timeout(self.limits.body_timeout):
                while piece := await request.content.readany():
                    size += len(piece)
                    if size > limit:
                        raise _TooLarge(size if declared is None else declared)
                    pieces.append(piece)
        except _TooLarge as exc:
            message = (
                f"Request body too large: {exc.size} bytes, over the {limit} byte limit; "
                "send fewer or smaller images"
            )
            response = self.error(413, error_body(message, "invalid_request_error", None, 413))
        except TimeoutError:
            message = (
                f"The request body did not arrive within {self.limits.body_timeout} s; "
                "the connection is closed"
            )
            response = self.error(408, error_body(message, "invalid_request_error", None, 408))
        else:
            if len(pieces) <= 1:
                return pieces[0] if pieces else b""
            return await self.offload(b"".join, pieces)
        response.force_close()
        raise _Answer(response)

    # -- routes ---------------------------------------------------------------------

    async def models(self, request: web.Request) -> web.StreamResponse:
        exchange = self.state.record("GET", request.path, request.headers, None, False)
        request[EXCHANGE] = exchange
        if not self.authorized(request):
            return self.answer(exchange, self.unauthorized())
        model_id = request.match_info.get("model_id")
        if model_id is None:
            return self.answer(exchange, _json(200, self.state.catalogue.to_json()))
        card = self.state.catalogue.get(model_id)
        if card is None:
            body = error_body(f"Invalid model: {model_id}", "invalid_model", "1500", 404)
            return self.answer(exchange, self.error(404, body))
        return self.answer(exchange, _json(200, card.to_json()))

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        exchange = self.state.record(request.method, request.path, request.headers, None, False)
        request[EXCHANGE] = exchange
        try:
            raw = await self.read_body(request)
        except _Answer as answer:
            return self.answer(exchange, answer.response)
        if raw:
            self.state.fill(exchange, raw.decode("utf-8", errors="replace")[:10_000])
        body = {"message": "no Route matched with those values", "request_id": correlation_id()}
        return self.answer(exchange, _json(404, body))

    async def completions(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        exchange = self.state.record("POST", request.path, request.headers, None, True)
        request[EXCHANGE] = exchange
        try:
            raw = await self.read_body(request)
        except _Answer as answer:
            self.state.fill(exchange, None)
            return self.answer(exchange, answer.response)
        from . import _pipeline  # the tokenizer's modules load on the first request

        body, invalid = await self.offload(_pipeline.decode, raw)
        await self.offload(self.state.fill, exchange, body)
        number = exchange.number or 0
        plan = self.state.plan(number, body, GATEWAY_KINDS, FaultPlan())
        exchange.faults = tuple(plan.names)
        await self.pause(plan.delay)
        if plan.terminal is not None and plan.terminal.kind == "hang":
            await self.hang(request)
            raise Abort
        if plan.terminal is not None:
            return self.answer(exchange, self.fault_response(plan.terminal))
        if not self.authorized(request):
            return self.answer(exchange, self.unauthorized())
        if invalid is not None:
            return self.answer(exchange, self.schema_error(invalid))
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            exchange.model = body["model"]
        try:
            prepared = await self.offload(_pipeline.prepare, body, self.state)
        except _pipeline.SchemaError as exc:
            return self.answer(exchange, self.schema_error(exc))
        except Rejection as exc:
            return self.answer(exchange, self.error(exc.status, exc.body, exc.headers))
        except Exception as exc:  # noqa: BLE001 - a bug of ours: answer like a server, say so
            message = f"LocalMistral failed on this request: {exc!r}"
            self.state.note_error(message)
            body_500 = error_body(message, "internal_server_error", "1000", 500)
            return self.answer(exchange, self.error(500, body_500))
        exchange.prompt_tokens = prepared.checked.prompt_tokens
        plan = self.state.plan(number, body, STREAM_KINDS | {"slow"}, plan)
        exchange.faults = tuple(plan.names)
        token_delay = plan.token_delay if plan.token_delay is not None else self.state.token_delay
        await self.pause(self.state.first_token_delay - (time.monotonic() - started))
        candidates = [outcome(rendered, plan.stream) for rendered in prepared.candidates]
        exchange.completion_tokens = sum(c.completion_tokens for c in candidates)
        if prepared.checked.request.stream:
            return await self.stream(request, exchange, prepared, candidates, plan, token_delay)
        return await self.complete(exchange, prepared, candidates, plan, token_delay)

    def schema_error(self, exc: Any) -> web.Response:
        return _json(422, detail_422(exc.detail, self.state.errors_422, self.state.era))

    def fault_response(self, fault: Fault) -> web.Response:
        extra = dict(fault.headers)
        if fault.code == 429:
            extra = {**rate_limit_headers(None, exhausted=True), **extra}
        code = fault.code or 500
        body = fault.body
        if body is DEFAULT_BODY:
            body = default_error(code, fault.message, self.state.era)
            if code == 401:
                extra = {**unauthorized(self.state.era)[1], **extra}
        return _json(code, body, extra)

    # -- replies --------------------------------------------------------------------

    async def hang(self, request: web.Request) -> None:
        """Hold the connection until the client leaves or the server stops."""
        while not self.stopping.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            await self.pause(0.05)

    def layout(self, prepared: Prepared) -> Layout:
        checked = prepared.checked
        return Layout(
            completion_id(),
            int(time.time()),
            checked.request.model,
            self.state.era,
            vllm=checked.card.tool_stream == "vllm",
        )

    async def complete(
        self,
        exchange: Exchange,
        prepared: Prepared,
        candidates: list[Rendered],
        plan: FaultPlan,
        token_delay: float,
    ) -> web.StreamResponse:
        fault = plan.stream
        pieces = sum(len(c.pieces) + len(c.thinking or ()) for c in candidates)
        await self.pause(token_delay * max(pieces, 1))
        if fault is not None and fault.kind == "cut":
            raise Abort
        layout = self.layout(prepared)
        choices = []
        for index, rendered in enumerate(candidates):
            content: Any = rendered.text
            if rendered.thinking is not None:
                content = reasoning_content(rendered.thinking_text, rendered.text, self.state.era)
            calls = None
            if rendered.finish_reason == "tool_calls":
                content, calls = "", layout.vllm_ids(rendered.tool_calls, f"{layout.id}#{index}")
            choices.append((content, calls, rendered.finish_reason))
        completion = sum(c.completion_tokens for c in candidates)
        body = layout.body(choices, prepared.checked.prompt_tokens, completion)
        if fault is not None and fault.kind == "malformed":
            text = fault.line if fault.line is not None else dumps(body)[: len(dumps(body)) // 2]
            return self.answer(exchange, _json(200, text, {"content-type": "application/json"}))
        return self.answer(exchange, _json(200, body, rate_limit_headers(None, exhausted=False)))

    async def stream(
        self,
        request: web.Request,
        exchange: Exchange,
        prepared: Prepared,
        candidates: list[Rendered],
        plan: FaultPlan,
        token_delay: float,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers=_headers(
                {
                    "content-type": "text/event-stream; charset=utf-8",
                    "cache-control": "no-cache",
                    **rate_limit_headers(None, exhausted=False),
                }
            ),
        )
        self.answer(exchange, response)
        await response.prepare(request)
        writer = SSEWriter(response, batch=token_delay <= 0)
        layout = self.layout(prepared)
        fault = plan.stream
        pending = fault if fault is not None and fault.kind in ("cut", "malformed") else None
        n = len(candidates)
        completion = sum(c.completion_tokens for c in candidates)
        usage = layout.usage_json(prepared.checked.prompt_tokens, completion)
        sent = 0
        for choice, rendered in enumerate(candidates):
            await writer.write(layout.role(choice))
            if rendered.thinking is not None:
                await writer.write(layout.chunk(choice, layout.text("")))
            for delta, last in deltas(layout, rendered, choice):
                if pending is not None and sent == pending.after_tokens:
                    await self.stream_fault(writer, pending, layout, choice)
                    pending = None
                if sent and token_delay > 0:
                    await self.pause(token_delay)
                if last:
                    final_usage = usage if choice == n - 1 else None
                    finish = rendered.finish_reason
                    await writer.write(layout.chunk(choice, delta, finish, final_usage))
                else:
                    await writer.write(layout.chunk(choice, delta))
                sent += 1
        if pending is not None:
            await self.stream_fault(writer, pending, layout, 0)
        await writer.write("data: [DONE]\n\n")
        await writer.flush()
        await response.write_eof()
        return response

    async def stream_fault(
        self, writer: SSEWriter, fault: Fault, layout: Layout, choice: int
    ) -> None:
        if fault.kind == "cut":
            await writer.flush()
            raise Abort
        line = fault.line
        if line is None:
            line = f'{layout.head}{choice},"delta":{{"content":"brok'
        await writer.write(line + "\n\n")


def build_app(state: State, stopping: asyncio.Event, limits: Limits) -> web.Application:
    handlers = _Handlers(state, stopping, limits)
    # Bodies are read by read_body, which applies the limit and answers in Mistral's shape.
    app = web.Application(middlewares=[middleware], client_max_size=limits.max_body_bytes + 1)
    app.router.add_post(_COMPLETIONS, handlers.completions)
    app.router.add_get("/v1/models", handlers.models)
    app.router.add_get("/v1/models/{model_id}", handlers.models)
    add_batch_routes(app, handlers)  # /v1/files and /v1/batch/jobs (_files.py, _batch.py)
    app.router.add_route("*", "/{tail:.*}", handlers.not_found)

    async def close_workers(_: web.Application) -> None:
        # Queued work is dropped; work under way (slices of tokenizing) is waited for, so
        # that stop() leaves no thread behind.
        shutdown = functools.partial(handlers.executor.shutdown, wait=True, cancel_futures=True)
        await asyncio.get_running_loop().run_in_executor(None, shutdown)

    app.on_cleanup.append(close_workers)
    return app
