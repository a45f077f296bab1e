"""The aiohttp application: routes, auth, faults, JSON answers and the SSE stream.

A chat completion goes: record -> gateway faults (delay, status, hang) -> auth (401) ->
schema (422) -> model, serving rules, images, context (400) -> reply (script, else
deterministic) -> stream faults -> answer, streamed or not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ._faults import GATEWAY_KINDS, STREAM_KINDS, Fault, FaultPlan
from ._replies import Rendered, deterministic_reply, render, reply_from_item
from ._rules import Checked, check_request
from ._schema import SchemaError, load_body, parse_request
from ._state import Exchange, State
from ._tokens import load_tokenizer, tokenizer_loaded
from ._wire import (
    Rejection,
    completion_id,
    correlation_id,
    dumps,
    error_body,
    rate_limit_headers,
)

__all__ = ["build_app"]

_BATCH_BYTES = 16 * 1024
_COMPLETIONS = "/v1/chat/completions"


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


def _decode(raw: bytes) -> Any:
    """The body to record: its JSON, else (not JSON, or nested too deep to copy and hand
    to fault predicates safely) its text."""
    if not raw:
        return None
    try:
        return load_body(raw)
    except SchemaError:
        return raw.decode("utf-8", errors="replace")


class _Handlers:
    def __init__(self, state: State, stopping: asyncio.Event) -> None:
        self.state = state
        self.stopping = stopping

    # -- helpers --------------------------------------------------------------------

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server stops."""
        if seconds > 0 and not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
            except TimeoutError:
                pass

    def authorized(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        return self.state.api_key is None or token == self.state.api_key

    def answer(self, exchange: Exchange, response: web.StreamResponse) -> web.StreamResponse:
        exchange.status = response.status
        return response

    # -- routes ---------------------------------------------------------------------

    async def models(self, request: web.Request) -> web.StreamResponse:
        exchange = self.state.record("GET", request.path, request.headers, None, False)
        if not self.authorized(request):
            return self.answer(exchange, _json(401, {"detail": "Unauthorized"}))
        model_id = request.match_info.get("model_id")
        if model_id is None:
            return self.answer(exchange, _json(200, self.state.catalogue.to_json()))
        card = self.state.catalogue.get(model_id)
        if card is None:
            body = {
                "object": "error",
                "message": f"Invalid model: {model_id}",
                "type": "invalid_model",
                "param": None,
                "code": "1500",
            }
            return self.answer(exchange, _json(404, body))
        return self.answer(exchange, _json(200, card.to_json()))

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        exchange = self.state.record(
            request.method, request.path, request.headers, _decode(raw), False
        )
        body = {"message": "no Route matched with those values", "request_id": correlation_id()}
        return self.answer(exchange, _json(404, body))

    async def completions(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        raw = await request.read()
        body = _decode(raw)
        exchange = self.state.record("POST", request.path, request.headers, body, True)
        number = exchange.number or 0
        plan = self.state.plan(number, body, GATEWAY_KINDS, FaultPlan())
        exchange.faults = tuple(plan.names)
        await self.pause(plan.delay)
        if plan.terminal is not None and plan.terminal.kind == "hang":
            await self.hang(request)
            raise _Abort
        if plan.terminal is not None:
            fault = plan.terminal
            extra = dict(fault.headers)
            if fault.code == 429:
                extra = {**rate_limit_headers(None, exhausted=True), **extra}
            return self.answer(exchange, _json(fault.code or 500, fault.body, extra))
        if not self.authorized(request):
            return self.answer(exchange, _json(401, {"detail": "Unauthorized"}))
        try:
            payload, parsed = parse_request(raw)
        except SchemaError as exc:
            return self.answer(exchange, _json(422, {"detail": exc.detail}))
        if not tokenizer_loaded():
            await asyncio.get_running_loop().run_in_executor(None, load_tokenizer)
        try:
            checked = check_request(
                payload,
                parsed,
                self.state.catalogue,
                allow_user_after_tool=self.state.allow_user_after_tool,
            )
            rendered = self.reply(checked)
        except Rejection as exc:
            return self.answer(exchange, _json(exc.status, exc.body, exc.headers))
        except Exception as exc:  # noqa: BLE001 - a bug of ours: answer like a server, say so
            message = f"LocalMistral failed on this request: {exc!r}"
            self.state.note_error(message)
            return self.answer(exchange, _json(500, error_body(message, "server_error")))
        plan = self.state.plan(number, payload, STREAM_KINDS | {"slow"}, plan)
        exchange.faults = tuple(plan.names)
        token_delay = plan.token_delay if plan.token_delay is not None else self.state.token_delay
        await self.pause(self.state.first_token_delay - (time.monotonic() - started))
        if parsed.stream:
            return await self.stream(request, exchange, checked, rendered, plan, token_delay)
        return await self.complete(request, exchange, checked, rendered, plan, token_delay)

    # -- replies --------------------------------------------------------------------

    def reply(self, checked: Checked) -> Rendered:
        item = self.state.next_script_item()
        reply = None
        if not State.is_empty(item):
            try:
                reply = reply_from_item(item, checked.body)
            except Exception as exc:
                message = f"LocalMistral's scripted reply failed: {exc!r}"
                self.state.note_error(message)
                raise Rejection.mistral(500, message, "server_error") from exc
        if reply is None:
            reply = deterministic_reply(checked)
        return render(reply, checked.request, self.state.reply_tokens)

    async def hang(self, request: web.Request) -> None:
        """Hold the connection until the client leaves or the server stops."""
        while not self.stopping.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            await self.pause(0.05)

    async def complete(
        self,
        request: web.Request,
        exchange: Exchange,
        checked: Checked,
        rendered: Rendered,
        plan: FaultPlan,
        token_delay: float,
    ) -> web.StreamResponse:
        fault = plan.stream
        pieces, finish, completion_tokens = _outcome(rendered, fault)
        await self.pause(token_delay * max(len(pieces), 1))
        if fault is not None and fault.kind == "cut":
            raise _Abort
        n = checked.request.n or 1
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(pieces),
            "tool_calls": None,
        }
        if finish == "tool_calls":
            message = {"role": "assistant", "content": "", "tool_calls": rendered.tool_calls}
        body = {
            "id": completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": checked.request.model,
            "choices": [
                {"index": i, "message": message, "finish_reason": finish} for i in range(n)
            ],
            "usage": _usage(checked.prompt_tokens, completion_tokens * n),
        }
        if fault is not None and fault.kind == "malformed":
            text = fault.line if fault.line is not None else dumps(body)[: len(dumps(body)) // 2]
            return self.answer(exchange, _json(200, text, {"content-type": "application/json"}))
        return self.answer(exchange, _json(200, body, rate_limit_headers(None, exhausted=False)))

    async def stream(
        self,
        request: web.Request,
        exchange: Exchange,
        checked: Checked,
        rendered: Rendered,
        plan: FaultPlan,
        token_delay: float,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers=_headers(
                {
                    "content-type": "text/event-stream",
                    "cache-control": "no-cache",
                    **rate_limit_headers(None, exhausted=False),
                }
            ),
        )
        self.answer(exchange, response)
        await response.prepare(request)
        writer = _SSEWriter(response, batch=token_delay <= 0)
        head = (
            f'data: {{"id":"{completion_id()}","object":"chat.completion.chunk",'
            f'"created":{int(time.time())},"model":{dumps(checked.request.model)},'
            '"choices":[{"index":'
        )
        fault = plan.stream
        pending = fault if fault is not None and fault.kind in ("cut", "malformed") else None
        pieces, finish, tokens = _outcome(rendered, fault)
        n = checked.request.n or 1
        usage = f',"usage":{dumps(_usage(checked.prompt_tokens, tokens * n))}'
        sent = 0
        for choice in range(n):
            prefix = f"{head}{choice},"
            last_usage = usage if choice == n - 1 else ""
            await writer.write(
                f'{prefix}"delta":{{"role":"assistant","content":""}},"finish_reason":null}}]}}\n\n'
            )
            if finish == "tool_calls":
                if pending is not None and pending.after_tokens == 0:
                    await self.stream_fault(writer, pending, prefix)
                    pending = None
                calls = [{**call, "index": i} for i, call in enumerate(rendered.tool_calls)]
                delta = dumps({"content": "", "tool_calls": calls})
                await self.pause(token_delay)
                await writer.write(
                    f'{prefix}"delta":{delta},"finish_reason":"{finish}"}}]{last_usage}}}\n\n'
                )
                continue
            for position, piece in enumerate(pieces):
                if pending is not None and sent == pending.after_tokens:
                    await self.stream_fault(writer, pending, prefix)
                    pending = None
                if sent and token_delay > 0:
                    await self.pause(token_delay)
                delta = f'"delta":{{"content":{dumps(piece)}}},'
                if position == len(pieces) - 1:
                    tail = f'"finish_reason":"{finish}"}}]{last_usage}}}\n\n'
                else:
                    tail = '"finish_reason":null}]}\n\n'
                await writer.write(prefix + delta + tail)
                sent += 1
            if not pieces:
                await writer.write(
                    f'{prefix}"delta":{{"content":""}},"finish_reason":"{finish}"}}]'
                    f"{last_usage}}}\n\n"
                )
        if pending is not None:
            await self.stream_fault(writer, pending, head + "0,")
        await writer.write("data: [DONE]\n\n")
        await writer.flush()
        await response.write_eof()
        return response

    async def stream_fault(self, writer: _SSEWriter, fault: Fault, prefix: str) -> None:
        if fault.kind == "cut":
            await writer.flush()
            raise _Abort
        line = fault.line if fault.line is not None else f'{prefix}"delta":{{"content":"brok'
        await writer.write(line + "\n\n")


def _outcome(rendered: Rendered, fault: Fault | None) -> tuple[list[str], str, int]:
    """Pieces, finish reason and completion tokens, after an ``error_finish`` fault."""
    if fault is not None and fault.kind == "error_finish":
        pieces = rendered.pieces[: fault.after_tokens]
        return pieces, "error", min(rendered.completion_tokens, fault.after_tokens)
    return rendered.pieces, rendered.finish_reason, rendered.completion_tokens


class _Abort(Exception):
    """Drop the connection without a complete answer."""


class _SSEWriter:
    """Writes SSE events, batching them into larger writes when no delay separates them."""

    def __init__(self, response: web.StreamResponse, batch: bool) -> None:
        self.response = response
        self.batch = batch
        self.buffer: list[str] = []
        self.size = 0

    async def write(self, event: str) -> None:
        if not self.batch:
            await self.response.write(event.encode())
            return
        self.buffer.append(event)
        self.size += len(event)
        if self.size >= _BATCH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self.buffer:
            data = "".join(self.buffer).encode()
            self.buffer.clear()
            self.size = 0
            await self.response.write(data)


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
    }


@web.middleware
async def _abort_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except _Abort:
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError from None
    except ConnectionResetError:  # the client left mid-answer (an interruption, a timeout)
        raise asyncio.CancelledError from None


def build_app(state: State, stopping: asyncio.Event) -> web.Application:
    handlers = _Handlers(state, stopping)
    app = web.Application(middlewares=[_abort_middleware], client_max_size=64 * 1024 * 1024)
    app.router.add_post(_COMPLETIONS, handlers.completions)
    app.router.add_get("/v1/models", handlers.models)
    app.router.add_get("/v1/models/{model_id}", handlers.models)
    app.router.add_route("*", "/{tail:.*}", handlers.not_found)
    return app
