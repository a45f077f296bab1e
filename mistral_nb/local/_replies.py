"""What LocalMistral answers: scripted replies first, then deterministic ones.

The deterministic rules, in order (the same request always gets the same reply):

1. After tool results (the conversation ends with ``tool`` messages, possibly followed by an
   assistant prefix): a text answer that quotes each result, by function name.
2. Tools offered and ``tool_choice`` not ``"none"``: a named ``tool_choice`` calls that
   function; else every offered function the last user message names (by name, or with
   spaces for ``_``/``-``) is called, all in one response when ``parallel_tool_calls``
   (else the first); else the tool the message clearly asks for (words of its name, its
   parameters' nouns and its description: "What's the status of my transaction T1001?"
   calls ``retrieve_payment_status``); ``"any"``/``"required"`` with none of those calls
   the first tool. Arguments come from the message, see :mod:`._arguments`.
3. Documents in the last user message: "I read 1 document: a PDF of 3 pages; page 1
   begins: ..." plus the text; else images: "I see 1 image: 640x480 RGB JPEG." plus the text.
4. Otherwise a reply that characterises the last user message and the settings received.

``response_format`` ``json_object`` / ``json_schema`` turns a text reply into JSON.

A request that reasons (``reasoning_effort`` on a model that takes it, or a Magistral model)
gets a short thinking about the last user message before a text answer.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _schema as s
from ._choices import as_json, choose_tools
from ._rules import Checked, text_of
from ._script import Reply, Transition
from ._tokens import count_text, decode, encode_text, stream_pieces
from ._wire import call_id

__all__ = ["Rendered", "deterministic_reply", "render"]

_QUOTE_LIMIT = 300
_RESULT_LIMIT = 500


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(part.text for part in content if isinstance(part, s.TextChunk))
    return text_of(content)


def _thinking(user_text: str, results: list[s.ToolMessage], images: int) -> str:
    """A short, deterministic reasoning about what to answer."""
    if results:
        noun = "result" if len(results) == 1 else "results"
        return (
            f"The tool returned {len(results)} {noun}. I should answer from "
            f"{'it' if len(results) == 1 else 'them'} and quote what came back."
        )
    if images:
        return (
            f"The user sent {images} image{'s' * (images != 1)}. I should describe what I "
            "can tell about each one: its size, mode and format."
        )
    if not user_text.strip():
        return "The message is empty. I should say that I received nothing to answer."
    words = len(user_text.split())
    kind = "a question" if "?" in user_text else "a statement"
    return (
        f'The user wrote "{_quote(user_text, 80)}", {kind} of {words} '
        f"word{'s' * (words != 1)}. I am an offline endpoint, so the honest answer is to "
        "say what I received and with which settings."
    )


def _last_user(request: s.ChatCompletionRequest) -> tuple[int, s.UserMessage | None]:
    for index in range(len(request.messages) - 1, -1, -1):
        message = request.messages[index]
        if isinstance(message, s.UserMessage):
            return index, message
    return -1, None


def _quote(text: str, limit: int = _QUOTE_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _trailing_tool_results(request: s.ChatCompletionRequest) -> list[s.ToolMessage]:
    messages = list(request.messages)
    if messages and isinstance(messages[-1], s.AssistantMessage) and messages[-1].prefix:
        messages.pop()
    results: list[s.ToolMessage] = []
    while messages and isinstance(last := messages[-1], s.ToolMessage):
        results.insert(0, last)
        messages.pop()
    return results


def _answer_tool_results(request: s.ChatCompletionRequest, results: list[s.ToolMessage]) -> str:
    names: dict[str, str] = {}
    for message in request.messages:
        if isinstance(message, s.AssistantMessage):
            for call in message.tool_calls or ():
                names[call.id] = call.function.name
    parts = []
    for result in results:
        name = result.name or names.get(result.tool_call_id or "", "the tool")
        parts.append(f'{name} returned "{_quote(_text_of(result.content), _RESULT_LIMIT)}"')
    if len(parts) == 1:
        return f"Based on the tool result: {parts[0]}."
    return f"Based on {len(parts)} tool results: " + "; ".join(parts) + "."


def _describe_images(checked: Checked, index: int) -> str:
    infos = checked.images.get(index, [])
    described = "; ".join(info.describe() for info in infos)
    noun = "image" if len(infos) == 1 else "images"
    return f"I see {len(infos)} {noun}: {described}."


def _settings(request: s.ChatCompletionRequest, checked: Checked) -> str:
    card = checked.card
    if request.temperature is None:
        temperature = f"{card.default_model_temperature} (the model's default)"
    else:
        temperature = f"{request.temperature}"
    parts = [
        f"model {request.model} ({card.max_context_length:,} tokens of context)",
        f"temperature {temperature}",
        f"top_p {request.top_p if request.top_p is not None else 1.0}",
        f"random_seed {request.random_seed if request.random_seed is not None else 'not set'}",
    ]
    if request.max_tokens is not None:
        parts.append(f"max_tokens {request.max_tokens}")
    return "Settings: " + ", ".join(parts) + "."


def _echo(checked: Checked, index: int, user: s.UserMessage | None) -> str:
    request = checked.request
    text = _text_of(user.content) if user else ""
    sentences = []
    if user is None:
        sentences.append("I received no user message, only instructions.")
    elif text.strip():
        words = len(text.split())
        sentences.append(
            f'You said: "{_quote(text)}" ({words} word{"s" * (words != 1)}, '
            f"{len(text)} characters)."
        )
    else:
        sentences.append("Your message was empty.")
    count = len(request.messages)
    sentences.append(
        f"This is message {index + 1} of {count} in the conversation I received."
        if user
        else f"The conversation I received has {count} message{'s' * (count != 1)}."
    )
    if request.tools and request.tool_choice != "none":
        names = ", ".join(tool.function.name for tool in request.tools)
        sentences.append(f"Tools on offer: {names}; name one and I will call it.")
    sentences.append(_settings(request, checked))
    sentences.append(
        "This is a deterministic reply from LocalMistral, the offline Mistral-compatible "
        "endpoint of mistral_nb: the same request always gets the same answer."
    )
    return " ".join(sentences)


def deterministic_reply(checked: Checked) -> Reply:
    """The reply the rules above give for a checked request."""
    request = checked.request
    results = _trailing_tool_results(request)
    index, user = _last_user(request)
    user_text = _text_of(user.content) if user else ""
    calls = [] if results else choose_tools(checked, user_text)
    if calls:
        seed = json.dumps(checked.body, sort_keys=True, default=str)
        return Reply(
            tool_calls=tuple(
                (call_id(f"{seed}#{n}"), name, json.dumps(arguments, ensure_ascii=False))
                for n, (name, arguments) in enumerate(calls)
            )
        )
    if results:
        text = _answer_tool_results(request, results)
    elif checked.documents.get(index):
        infos = checked.documents[index]
        noun = "document" if len(infos) == 1 else "documents"
        text = f"I read {len(infos)} {noun}: " + "; ".join(i.describe() for i in infos) + "."
        if user_text.strip():
            text += f' You asked: "{_quote(user_text)}".'
    elif checked.images.get(index):
        text = _describe_images(checked, index)
        if user_text.strip():
            text += f' You asked: "{_quote(user_text)}".'
        text += " " + _settings(request, checked)
    else:
        text = _echo(checked, index, user)
    as_text = request.response_format is None or request.response_format.type == "text"
    thinking = None
    if checked.thinks:
        thinking = _thinking(user_text, results, len(checked.images.get(index, [])))
    return Reply(text=as_json(request, text, user_text), sized=as_text, thinking=thinking)


@functools.lru_cache(maxsize=8)
def _filler(n_tokens: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """``n_tokens`` tokens of ASCII filler text and their pieces (one per token), cached so a
    long benchmark reply starts streaming at once."""
    sentences = [
        f" Sentence {number}: LocalMistral keeps this reply going so that a stream of "
        "the requested length can be measured."
        for number in range(1, n_tokens // 12 + 3)
    ]
    ids = encode_text("".join(sentences))[:n_tokens]
    pieces = stream_pieces(ids)
    assert len(pieces) == len(ids), "the filler must be one piece per token"
    return tuple(ids), tuple(pieces)


@dataclass(frozen=True)
class Rendered:
    """A reply laid out for the wire: stream pieces, token count, finish reason.

    ``thinking`` holds the reasoning's pieces (None when the reply does not reason); the
    answer's pieces are ``pieces``. ``transition`` and ``closed`` say how to stream them.
    """

    pieces: list[str]
    completion_tokens: int
    finish_reason: str
    tool_calls: list[dict[str, Any]]
    thinking: list[str] | None = None
    transition: Transition = "mixed"
    closed: bool = True
    arguments: list[list[str]] = field(default_factory=list)  # each call's in token pieces

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def thinking_text(self) -> str:
        return "".join(self.thinking or ())


def render(
    reply: Reply,
    request: s.ChatCompletionRequest,
    reply_tokens: int | None,
    *,
    transition: Transition = "mixed",
    closed: bool = True,
) -> Rendered:
    """Tokenize a reply: stretch to ``reply_tokens``, cut at ``stop``, cap at ``max_tokens``
    (the thinking, with its two control tokens, counts against ``max_tokens`` first)."""
    if reply.tool_calls:
        calls = [
            {"id": ident, "type": "function", "function": {"name": name, "arguments": args}}
            for ident, name, args in reply.tool_calls
        ]
        emitted = [{"name": name, "arguments": args} for _, name, args in reply.tool_calls]
        tokens = 1 + count_text(json.dumps(emitted, ensure_ascii=False))  # [TOOL_CALLS] + JSON
        return Rendered(
            pieces=[],
            completion_tokens=tokens,
            finish_reason="tool_calls",
            tool_calls=calls,
            arguments=[stream_pieces(encode_text(args)) for _, _, args in reply.tool_calls],
        )
    budget = request.max_tokens
    thinking: list[str] | None = None
    spent = 0
    if reply.thinking is not None:
        ids = encode_text(reply.thinking)
        if budget is not None and budget < len(ids) + 2:  # [THINK] ... [/THINK]
            kept = ids[: max(budget - 1, 0)]
            return Rendered(
                pieces=[],
                completion_tokens=min(budget, len(kept) + 1),
                finish_reason="length",
                tool_calls=[],
                thinking=stream_pieces(kept),
                transition=reply.transition or transition,
                closed=closed if reply.closed is None else reply.closed,
            )
        thinking, spent = stream_pieces(ids), len(ids) + 2
        budget = None if budget is None else budget - spent
    pieces, tokens, finish = _answer(reply, request, reply_tokens, budget)
    return Rendered(
        pieces=pieces,
        completion_tokens=tokens + spent,
        finish_reason=finish,
        tool_calls=[],
        thinking=thinking,
        transition=reply.transition or transition,
        closed=closed if reply.closed is None else reply.closed,
    )


def _answer(
    reply: Reply, request: s.ChatCompletionRequest, reply_tokens: int | None, budget: int | None
) -> tuple[list[str], int, str]:
    """The answer's pieces, its token count and the finish reason."""
    ids = encode_text(reply.text)
    filler_ids: Sequence[int] = ()
    filler_pieces: Sequence[str] = ()
    if reply.sized and reply_tokens is not None:
        if len(ids) >= reply_tokens:
            ids = ids[:reply_tokens]
        else:
            need = reply_tokens - len(ids)
            all_ids, all_pieces = _filler(reply_tokens)
            filler_ids, filler_pieces = all_ids[:need], all_pieces[:need]
    finish = "stop"
    stops = [request.stop] if isinstance(request.stop, str) else list(request.stop or ())
    if any(stops):
        text = decode(ids) + "".join(filler_pieces)
        cuts = [text.find(stop) for stop in stops if stop and stop in text]
        if cuts:
            ids, filler_ids, filler_pieces = encode_text(text[: min(cuts)]), (), ()
    if budget is not None and len(ids) + len(filler_ids) > budget:
        keep = max(budget - len(ids), 0)
        ids, filler_ids, filler_pieces = ids[:budget], filler_ids[:keep], filler_pieces[:keep]
        finish = "length"
    return stream_pieces(ids) + list(filler_pieces), len(ids) + len(filler_ids), finish
