"""Mistral's streamed chunks, of every era, reshaped into what pipecat 1.14's OpenAI loop reads.

pipecat's ``BaseOpenAILLMService._process_context`` reads ``delta.tool_calls[0]``
only, starts a new call whenever ``tool_call.index`` differs from a counter that
starts at 0, takes the call id from the fragment that has a name, and pushes
``delta.content`` as an ``LLMTextFrame`` whatever its type.  Real Mistral traffic
breaks each of those assumptions somewhere (see tests/fixtures/real_mistral):

- reasoning models stream ``content`` as a list of typed parts
  (``[{"type": "thinking", "thinking": [{"type": "text", "text": ...}]}, {"type": "text", ...}]``),
  sometimes mixed with the first answer text in one chunk, sometimes with an
  empty ``thinking: []`` part;
- through 2024 several calls came in one delta, without ``index`` (so pipecat
  saw ``None != 0`` and ran a phantom call with an empty name) and, in April 2024,
  without ``id``;
- a third-party model served by Mistral streams OpenAI/vLLM-style fragments whose
  continuation has ``name: ""`` and no id, and its ids are not Mistral's 9
  characters, which Mistral refuses when they come back in the next request.

:class:`StreamReshaper` turns every one of those into chunks that hold a string
(or no) content and at most one well-formed call each, and hands the reasoning
back separately as :class:`Thinking` items, in stream order.  It is pure: it
imports only openai's types and the standard library, and one instance serves
one completion.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import (
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)

__all__ = ["StreamReshaper", "Thinking", "cached_tokens", "mistral_call_id"]

MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Thinking:
    """A piece of the model's reasoning, streamed before (or beside) its answer.

    Attributes:
        text: The reasoning text of one thinking part, never empty.
    """

    text: str


_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def valid_name(name: str | None) -> str | None:
    """A tool name Mistral accepts back in the conversation.

    A name outside ``[A-Za-z0-9_-]{1,64}`` (``../../etc/passwd``, 65 characters) would
    make every later request a 400; as a valid name that matches no tool, the call is
    answered "rejected" and the conversation goes on.
    """
    if name is None or _FUNCTION_NAME.fullmatch(name):
        return name
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "_"


def mistral_call_id(seed: str) -> str:
    """A tool-call id in Mistral's format (9 characters ``[A-Za-z0-9]``), derived from ``seed``.

    Mistral refuses any other id when a call comes back in the next request
    ("Tool call id was ... but must be a-z, A-Z, 0-9, with a length of 9.").
    """
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:12], "big")
    chars = []
    for _ in range(9):
        number, rest = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[rest])
    return "".join(chars)


def _get(obj: Any, name: str) -> Any:
    """A field of a parsed part: a dict from a lenient parse, or a model."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _thinking_text(part: Any) -> str:
    inner = _get(part, "thinking")
    if isinstance(inner, str):
        return inner
    if not isinstance(inner, list):
        return ""
    return "".join(text for piece in inner if isinstance(text := _get(piece, "text"), str))


def _content_items(content: list[Any]) -> list[str | Thinking]:
    """The parts of a list content as answer strings and Thinking items, in order.

    ``closed`` flags are ignored: they appear on most thinking parts mid-stream,
    so they mark nothing.  Parts of any other type carry no answer text.
    """
    items: list[str | Thinking] = []
    for part in content:
        if isinstance(part, str):
            items.append(part)
            continue
        kind = _get(part, "type")
        if kind == "thinking":
            text = _thinking_text(part)
            if text:
                items.append(Thinking(text))
        elif kind == "text" and isinstance(text := _get(part, "text"), str):
            if items and isinstance(items[-1], str):
                items[-1] += text
            else:
                items.append(text)
    return items


def answer_text(content: Any) -> str:
    """The answer text of a delta's content: the string, or a list's text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(item for item in _content_items(content) if isinstance(item, str))
    return ""


@dataclass
class _Call:
    ordinal: int
    source_id: str | None
    call_id: str
    named: bool


class StreamReshaper:
    """Per completion. Turns Mistral's chunks, of every era, into what pipecat 1.14 reads.

    Feed it every chunk of one completion, in order; it returns what to hand on
    instead.  Guarantees on what it returns:

    - ``choices[0].delta.content`` is a ``str`` or ``None``; reasoning comes out
      as :class:`Thinking` items placed where it was in the stream;
    - at most one tool call per chunk; a delta with several is cut into several
      chunks, and ``finish_reason`` and ``usage`` ride on the last of them;
    - every tool call has an integer ``index``, 0, 1, 2... in order of
      appearance, the same on all its fragments; its first fragment has the id
      (one in Mistral's format) and the name, ``type="function"``; later
      fragments carry only arguments;
    - everything else of a chunk (id, model, created, usage, finish_reason) is kept.
    """

    def __init__(self, used_ids: Iterable[str] = ()) -> None:
        """``used_ids``: tool-call ids already in the conversation, never to be reused."""
        self._calls: list[_Call] = []
        self._by_index: dict[int, _Call] = {}
        self._salt: str | None = None
        self._used_ids = set(used_ids)

    def feed(self, chunk: ChatCompletionChunk) -> list[ChatCompletionChunk | Thinking]:
        """The chunks (and reasoning) to hand on for one chunk received.

        Args:
            chunk: One chunk as the OpenAI client parsed it (leniently: list
                content and missing ``index`` fields survive that parse).

        Returns:
            Zero or more chunks and Thinking items, in stream order.
        """
        if self._salt is None:
            # Ids derived from the completion are deterministic yet unique per
            # completion; pipecat skips a call whose id already has a result.
            self._salt = f"{chunk.id}/{chunk.created}" if chunk.id else uuid.uuid4().hex
        if not chunk.choices:
            return [chunk]
        delta = chunk.choices[0].delta
        content = getattr(delta, "content", None) if delta is not None else None
        tool_calls = getattr(delta, "tool_calls", None) if delta is not None else None
        if not isinstance(content, list) and not tool_calls:
            return [chunk]

        if isinstance(content, list):
            items = _content_items(content)
        else:
            items = [content] if isinstance(content, str) else []
        # An empty string beside a call or a thought says nothing; pipecat
        # would only see an extra chunk.
        items = [item for item in items if item != ""]
        calls = [self._shape_call(call) for call in tool_calls or []]
        return _lay_out(chunk, items, calls)

    # -- tool calls --------------------------------------------------------------

    def _shape_call(self, call: Any) -> ChoiceDeltaToolCall:
        function = getattr(call, "function", None)
        name = valid_name(getattr(function, "name", None) or None)
        arguments = getattr(function, "arguments", None)
        source_id = getattr(call, "id", None) or None
        index = getattr(call, "index", None)

        known = self._by_index.get(index) if isinstance(index, int) else None
        if known is not None and source_id is not None and known.source_id not in (None, source_id):
            known = None  # a second call under a reused index: a new call
        if known is None and not isinstance(index, int) and self._calls:
            current = self._calls[-1]
            # Without an index, an id or a name announces a new call; a fragment
            # with neither, or repeating the current id, continues the current one.
            if source_id is not None:
                continues = source_id == current.source_id
            else:
                continues = name is None
            if continues:
                known = current
        if known is not None:
            if name is not None and not known.named:
                # The name came after the first fragment: pipecat takes the id
                # from the fragment that has the name, so both go together.
                known.named = True
                return ChoiceDeltaToolCall(
                    index=known.ordinal,
                    id=known.call_id,
                    type="function",
                    function=ChoiceDeltaToolCallFunction(name=name, arguments=arguments or ""),
                )
            return ChoiceDeltaToolCall(
                index=known.ordinal,
                function=ChoiceDeltaToolCallFunction(arguments=arguments or ""),
            )

        ordinal = len(self._calls)
        if source_id is not None and MISTRAL_ID.fullmatch(source_id):
            call_id = source_id
        else:
            call_id = mistral_call_id(f"{self._salt}/{ordinal}/{source_id}")
        # Ids come from the model: one used twice (in this reply or earlier in the
        # conversation) would hang pipecat's bookkeeping and break every later request.
        retry = 0
        while call_id in self._used_ids:
            retry += 1
            call_id = mistral_call_id(f"{self._salt}/{ordinal}/{source_id}/{retry}")
        self._used_ids.add(call_id)
        record = _Call(ordinal, source_id, call_id, named=name is not None)
        self._calls.append(record)
        if isinstance(index, int):
            self._by_index[index] = record
        return ChoiceDeltaToolCall(
            index=ordinal,
            id=call_id,
            type="function",
            function=ChoiceDeltaToolCallFunction(name=name, arguments=arguments or ""),
        )


def _lay_out(
    chunk: ChatCompletionChunk, items: list[str | Thinking], calls: list[ChoiceDeltaToolCall]
) -> list[ChatCompletionChunk | Thinking]:
    """Chunks of one text or one call each, in stream order, finish and usage on the last."""
    out: list[ChatCompletionChunk | Thinking] = []
    pieces: list[str | ChoiceDeltaToolCall] = []
    for item in items:
        if isinstance(item, Thinking):
            out.extend(_chunks(chunk, pieces, last=False))
            pieces = []
            out.append(item)
        else:
            pieces.append(item)
    out.extend(_chunks(chunk, [*pieces, *calls], last=True))
    return out


def _chunks(
    chunk: ChatCompletionChunk, pieces: list[str | ChoiceDeltaToolCall], *, last: bool
) -> list[ChatCompletionChunk]:
    out: list[ChatCompletionChunk] = []
    for position, piece in enumerate(pieces):
        final = last and position == len(pieces) - 1
        if isinstance(piece, str):
            out.append(_copy(chunk, content=piece, tool_call=None, final=final))
        else:
            out.append(_copy(chunk, content=None, tool_call=piece, final=final))
    if last and not pieces:
        # A chunk that held only reasoning still matters when it carries the
        # role, the finish reason or the usage; otherwise it is dropped.
        choice = chunk.choices[0]
        if (
            choice.finish_reason is not None
            or chunk.usage is not None
            or getattr(choice.delta, "role", None) is not None
        ):
            out.append(_copy(chunk, content=None, tool_call=None, final=True))
    return out


def _copy(
    chunk: ChatCompletionChunk,
    *,
    content: str | None,
    tool_call: ChoiceDeltaToolCall | None,
    final: bool,
) -> ChatCompletionChunk:
    copy = chunk.model_copy(deep=True)
    choice = copy.choices[0]
    choice.delta.content = content
    choice.delta.tool_calls = [tool_call] if tool_call is not None else None
    if not final:
        choice.finish_reason = None
        copy.usage = None
    return copy


def cached_tokens(usage: Any) -> int | None:
    """How many prompt tokens Mistral served from its cache, in any era's usage shape.

    ``num_cached_tokens`` (February 2026) or ``prompt_tokens_details.cached_tokens``
    (March 2026 on); ``None`` when the usage says nothing about caching.

    Args:
        usage: A completion's usage: openai's ``CompletionUsage``, a dict, or None.
    """
    if usage is None:
        return None
    details = _get(usage, "prompt_tokens_details")
    cached = _get(details, "cached_tokens") if details is not None else None
    if cached is None:
        cached = _get(usage, "num_cached_tokens")
        if cached is None and not isinstance(usage, dict):
            cached = (getattr(usage, "model_extra", None) or {}).get("num_cached_tokens")
    return cached if isinstance(cached, int) and not isinstance(cached, bool) else None
