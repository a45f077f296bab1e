"""A rendered reply as Mistral lays it out: SSE chunks and JSON bodies, in every recorded era.

Current (2026) stream: a role chunk ``{"role": "assistant", "content": ""}`` without ``p``;
then one delta per token, each chunk padded with ``p``; usage only on the last chunk, the
one with ``finish_reason``. A reasoning reply adds a ``{"content": ""}`` chunk, then thinking
deltas in list form, one of four transitions (``_script.TRANSITIONS``), then the answer as
plain strings. Tool calls arrive whole, all in one delta with the finish reason and usage,
except for a third-party model Mistral hosts (``tool_stream="vllm"``), which streams
OpenAI/vLLM fragments. The 2024 era adds ``logprobs: null``, ``usage: null`` and ``role:
null`` to every chunk and leaves ``index`` and ``type`` out of tool calls.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ._wire import Era, dumps, padding, usage, vllm_call_id

if TYPE_CHECKING:
    from aiohttp import web

    from ._faults import Fault
    from ._replies import Rendered

__all__ = ["Layout", "SSEWriter", "deltas", "outcome", "reasoning_content"]

_BATCH_BYTES = 16 * 1024

_TOOL_FRAGMENT_CHARS = 8  # vLLM sends arguments a few characters at a time


class Layout:
    """Lays out one completion (its id, model and era fixed) as chunks or a body.

    Args:
        completion_id: The 32-hex id shared by every chunk.
        created: Unix seconds, shared by every chunk.
        model: The model as requested (echoed, as Mistral does).
        era: ``"2026"`` or ``"2024"``.
        vllm: Tool calls in OpenAI/vLLM fragments (a third-party model).
    """

    def __init__(
        self, completion_id: str, created: int, model: str, era: Era, *, vllm: bool = False
    ) -> None:
        self.id = completion_id
        self.created = created
        self.model = model
        self.era = era
        self.vllm = vllm
        self.rng = random.Random(completion_id)
        self.head = (
            f'data: {{"id":"{completion_id}","object":"chat.completion.chunk",'
            f'"created":{created},"model":{dumps(model)},"choices":[{{"index":'
        )
        self.old = era == "2024"

    # -- one chunk ------------------------------------------------------------------

    def chunk(
        self,
        choice: int,
        delta: str,
        finish: str | None = None,
        usage_json: str | None = None,
        *,
        pad: bool = True,
    ) -> str:
        """One SSE event: ``delta`` is the delta's JSON text."""
        reason = "null" if finish is None else f'"{finish}"'
        text = f'{self.head}{choice},"delta":{delta},"finish_reason":{reason}'
        if self.old or self.vllm:
            text += ',"logprobs":null'
        text += "}]"
        if usage_json is not None:
            text += f',"usage":{usage_json}'
        elif self.old:
            text += ',"usage":null'
        if pad and not self.old and not self.vllm:
            text += f',"p":"{padding(self.rng)}"'
        return text + "}\n\n"

    def role(self, choice: int) -> str:
        return self.chunk(choice, '{"role":"assistant","content":""}', pad=False)

    def text(self, piece: str) -> str:
        """A plain-string content delta."""
        if self.old:
            return f'{{"role":null,"content":{dumps(piece)}}}'
        return f'{{"content":{dumps(piece)}}}'

    def usage_json(self, prompt: int, completion: int) -> str:
        return dumps(usage(prompt, completion, self.era, tier=not self.vllm))

    # -- reasoning ------------------------------------------------------------------

    def thinking_deltas(
        self, thinking: list[str], answer: list[str], transition: str, closed: bool
    ) -> tuple[list[str], list[str]]:
        """The thinking deltas (the transition included) and the answer pieces left."""
        deltas = []
        for index, piece in enumerate(thinking):
            flag = ',"closed":true' if closed and index > 0 else ""
            deltas.append(
                f'[{{"type":"thinking","thinking":[{{"type":"text","text":{dumps(piece)}}}]{flag}}}]'
            )
        rest = list(answer)
        if transition == "mixed" and deltas and rest:
            flag = ',"closed":true' if closed else ""
            last = dumps(thinking[-1])
            deltas[-1] = (
                f'[{{"type":"thinking","thinking":[{{"type":"text","text":{last}}}]{flag}}},'
                f'{{"type":"text","text":{dumps(rest.pop(0))}}}]'
            )
        elif transition == "empty" and rest:
            first = dumps(rest.pop(0))
            deltas.append(f'[{{"type":"thinking","thinking":[]}},{{"type":"text","text":{first}}}]')
        elif transition == "separate":
            deltas.append('[{"type":"thinking","thinking":[]}]')
        return [f'{{"content":{delta}}}' for delta in deltas], rest

    # -- tool calls -----------------------------------------------------------------

    def tool_call(self, call: dict[str, Any], index: int) -> dict[str, Any]:
        """A tool call object as the era writes it (``index`` last)."""
        if self.old:
            return {"id": call["id"], "function": call["function"]}
        return {**call, "index": index}

    def tool_call_deltas(
        self, calls: list[dict[str, Any]], seed: str
    ) -> Iterator[tuple[str, bool]]:
        """Tool-call deltas, each with whether it is the last (which carries the finish)."""
        if not self.vllm:
            objects = [self.tool_call(call, i) for i, call in enumerate(calls)]
            if self.old:
                yield dumps({"role": None, "content": None, "tool_calls": objects}), True
            else:
                yield dumps({"tool_calls": objects}), True
            return
        for i, call in enumerate(calls):
            name = call["function"]["name"]
            arguments = call["function"]["arguments"]
            opening = {
                "index": i,
                "id": vllm_call_id(f"{seed}#{i}"),
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            yield dumps({"tool_calls": [opening]}), False
            for start in range(0, len(arguments), _TOOL_FRAGMENT_CHARS):
                fragment = arguments[start : start + _TOOL_FRAGMENT_CHARS]
                more = {"index": i, "function": {"name": "", "arguments": fragment}}
                yield dumps({"tool_calls": [more]}), False
        yield '{"index":0,"content":""}', True

    def vllm_ids(self, calls: list[dict[str, Any]], seed: str) -> list[dict[str, Any]]:
        """The calls with the ids a vLLM-style stream gives them."""
        if not self.vllm:
            return calls
        return [{**call, "id": vllm_call_id(f"{seed}#{i}")} for i, call in enumerate(calls)]

    # -- a whole (non-streamed) body -----------------------------------------------------

    def body(
        self,
        choices: list[tuple[Any, list[dict[str, Any]] | None, str]],
        prompt: int,
        completion: int,
    ) -> dict[str, Any]:
        """A ``chat.completion`` body: one choice per ``(content, tool calls, finish)``."""
        used = usage(prompt, completion, self.era, tier=not self.vllm)
        laid_out = []
        for index, (content, calls, finish) in enumerate(choices):
            objects = None if calls is None else [self.tool_call(c, i) for i, c in enumerate(calls)]
            if self.old:
                message = {"role": "assistant", "content": content, "tool_calls": objects}
                laid_out.append(
                    {"index": index, "message": message, "finish_reason": finish, "logprobs": None}
                )
            else:
                message = {"role": "assistant", "tool_calls": objects, "content": content}
                laid_out.append({"index": index, "finish_reason": finish, "message": message})
        if self.old:
            return {
                "id": self.id,
                "object": "chat.completion",
                "created": self.created,
                "model": self.model,
                "choices": laid_out,
                "usage": used,
            }
        return {
            "id": self.id,
            "created": self.created,
            "model": self.model,
            "usage": used,
            "object": "chat.completion",
            "choices": laid_out,
        }


def reasoning_content(thinking: str, answer: str, era: Era) -> list[dict[str, Any]]:
    """The list form of a non-streamed reasoning reply (``closed`` from May 2026 on)."""
    chunk: dict[str, Any] = {"type": "thinking", "thinking": [{"type": "text", "text": thinking}]}
    if era != "2024":
        chunk["closed"] = True
    return [chunk, {"type": "text", "text": answer}]


def deltas(layout: Layout, rendered: Rendered, choice: int) -> Iterator[tuple[str, bool]]:
    """Every token delta of one choice, each with whether it is the last (with the finish).

    A generator: a 100,000-token reply is laid out as it streams, not all at once on the
    event loop.
    """
    if rendered.finish_reason == "tool_calls":
        yield from layout.tool_call_deltas(rendered.tool_calls, f"{layout.id}#{choice}")
        return
    pieces = rendered.pieces
    if rendered.thinking is not None:
        deltas, pieces = layout.thinking_deltas(
            rendered.thinking, pieces, rendered.transition, rendered.closed
        )
        for delta in deltas:
            yield delta, False
    if not pieces:
        yield layout.text(""), True
        return
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        yield layout.text(piece), index == last


def outcome(rendered: Rendered, fault: Fault | None) -> Rendered:
    """The reply after an ``error_finish`` fault: cut after that many tokens, thinking
    first, and finished with ``"error"``."""
    if fault is None or fault.kind != "error_finish":
        return rendered
    keep = fault.after_tokens
    thinking = rendered.thinking
    if thinking is not None:
        thinking = thinking[:keep]
        keep -= len(thinking)
    return replace(
        rendered,
        thinking=thinking,
        pieces=rendered.pieces[: max(keep, 0)],
        finish_reason="error",
        completion_tokens=min(rendered.completion_tokens, fault.after_tokens),
        tool_calls=[],
    )


class SSEWriter:
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
