"""What LocalMistral answers: scripted replies first, then deterministic ones.

The deterministic rules, in order (the same request always gets the same reply):

1. After tool results (the conversation ends with ``tool`` messages, possibly followed by an
   assistant prefix): a text answer that quotes each result, by function name.
2. Tools offered and ``tool_choice`` not ``"none"``: a named ``tool_choice`` calls that
   function; else every offered function the last user message names (by name, or with
   spaces for ``_``/``-``) is called, all in one response when ``parallel_tool_calls``
   (else the first); ``"any"``/``"required"`` with none named calls the first tool.
   Arguments come from the message, see :mod:`._arguments`.
3. Images in the last user message: "I see 1 image: 640x480 RGB JPEG." plus the text.
4. Otherwise a reply that characterises the last user message and the settings received.

``response_format`` ``json_object`` / ``json_schema`` turns a text reply into JSON.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._errors import LocalMistralError
from . import _schema as s
from ._arguments import arguments_from_text, placeholder
from ._rules import Checked
from ._tokens import count_text, decode, encode_text, stream_pieces
from ._wire import call_id

__all__ = [
    "Rendered",
    "Reply",
    "ScriptItem",
    "ToolCall",
    "check_script_item",
    "deterministic_reply",
    "render",
    "reply_from_item",
]

_QUOTE_LIMIT = 300
_RESULT_LIMIT = 500


@dataclass(frozen=True)
class ToolCall:
    """A scripted tool call: LocalMistral answers with a call to ``name``.

    Args:
        name: The function to call.
        arguments: A dict (sent as JSON) or a raw JSON string (sent as is, even if
            malformed, to test how a client copes).
        id: The tool call id; by default a 9-character id derived from the request.

    Example:
        ``LocalMistral(script=[ToolCall("get_weather", {"city": "Paris"}), "It is sunny."])``
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise LocalMistralError(f"ToolCall needs a function name, got {self.name!r}")
        if not isinstance(self.arguments, (str, Mapping)):
            raise LocalMistralError(
                f"ToolCall arguments must be a dict or a JSON string, got {self.arguments!r}"
            )
        if isinstance(self.arguments, Mapping):
            try:
                json.dumps(dict(self.arguments))
            except (TypeError, ValueError) as exc:
                raise LocalMistralError(
                    f"ToolCall arguments for {self.name} are not JSON-serializable: {exc}"
                ) from exc
        if self.id is not None and not isinstance(self.id, str):
            raise LocalMistralError(f"ToolCall id must be a string, got {self.id!r}")

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), ensure_ascii=False)


ScriptItem = str | ToolCall | list[ToolCall] | Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Reply:
    """One reply: text, or tool calls (each ``(id, name, arguments JSON)``)."""

    text: str = ""
    tool_calls: tuple[tuple[str, str, str], ...] = ()
    sized: bool = True  # reply_tokens may stretch or cut it (deterministic text only)


def check_script_item(item: Any) -> Any:
    """``item`` if it can be a scripted reply, else LocalMistralError."""
    if isinstance(item, (str, ToolCall)) or callable(item):
        return item
    if isinstance(item, (list, tuple)) and item and all(isinstance(i, ToolCall) for i in item):
        return list(item)
    raise LocalMistralError(
        f"A scripted reply must be a str, a ToolCall, a non-empty list of ToolCall, or a "
        f"callable(body) returning one of those; got {item!r}"
    )


def reply_from_item(item: Any, body: Mapping[str, Any]) -> Reply | None:
    """The Reply a script item stands for (None: a callable declined, go deterministic)."""
    if callable(item) and not isinstance(item, ToolCall):
        item = item(dict(body))
        if item is None:
            return None
        item = check_script_item(item)
        if callable(item) and not isinstance(item, ToolCall):
            raise LocalMistralError("A script callable must not return another callable")
    if isinstance(item, str):
        return Reply(text=item, sized=False)
    calls = [item] if isinstance(item, ToolCall) else item
    seed = json.dumps(body, sort_keys=True, default=str)
    return Reply(
        tool_calls=tuple(
            (call.id or call_id(f"{seed}#{n}"), call.name, call.arguments_json())
            for n, call in enumerate(calls)
        )
    )


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.text for part in content if isinstance(part, s.TextChunk))


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


def _mentions(text: str, name: str) -> int:
    """Position of the first mention of a function name in text, or -1."""
    lowered = text.lower()
    for form in (name, name.replace("_", " ").replace("-", " ")):
        position = lowered.find(form.lower())
        if position >= 0:
            return position
    return -1


def _tool_calls(checked: Checked, text: str) -> list[tuple[str, dict[str, Any]]]:
    request = checked.request
    tools = {tool.function.name: tool.function for tool in request.tools or ()}
    if not tools or request.tool_choice == "none":
        return []
    if isinstance(request.tool_choice, s.ToolChoice):
        chosen = [request.tool_choice.function.name]
    else:
        named = sorted((pos, name) for name in tools if (pos := _mentions(text, name)) >= 0)
        chosen = [name for _, name in named]
        if not chosen and request.tool_choice in ("any", "required"):
            chosen = [next(iter(tools))]
        if not request.parallel_tool_calls:
            chosen = chosen[:1]
    calls = []
    for name in chosen:
        function = tools.get(name)
        schema = function.parameters if function else {}
        calls.append((name, arguments_from_text(schema, text, tool_name=name)))
    return calls


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


def _as_json(request: s.ChatCompletionRequest, text: str, user_text: str) -> str:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return text
    if fmt.type == "json_schema" and fmt.json_schema is not None:
        schema = fmt.json_schema.schema_
        if "properties" in schema or schema.get("type") == "object":
            value: Any = arguments_from_text(schema, user_text, fill_all=True)
        else:
            value = placeholder(schema)
        return json.dumps(value, ensure_ascii=False)
    return json.dumps({"reply": text}, ensure_ascii=False)


def deterministic_reply(checked: Checked) -> Reply:
    """The reply the rules above give for a checked request."""
    request = checked.request
    results = _trailing_tool_results(request)
    index, user = _last_user(request)
    user_text = _text_of(user.content) if user else ""
    calls = [] if results else _tool_calls(checked, user_text)
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
    elif checked.images.get(index):
        text = _describe_images(checked, index)
        if user_text.strip():
            text += f' You asked: "{_quote(user_text)}".'
        text += " " + _settings(request, checked)
    else:
        text = _echo(checked, index, user)
    as_text = request.response_format is None or request.response_format.type == "text"
    return Reply(text=_as_json(request, text, user_text), sized=as_text)


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
    """A reply laid out for the wire: stream pieces, token count, finish reason."""

    pieces: list[str]
    completion_tokens: int
    finish_reason: str
    tool_calls: list[dict[str, Any]]

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def render(reply: Reply, request: s.ChatCompletionRequest, reply_tokens: int | None) -> Rendered:
    """Tokenize a reply: stretch to ``reply_tokens``, cut at ``stop``, cap at ``max_tokens``."""
    if reply.tool_calls:
        calls = [
            {"id": ident, "type": "function", "function": {"name": name, "arguments": args}}
            for ident, name, args in reply.tool_calls
        ]
        emitted = [{"name": name, "arguments": args} for _, name, args in reply.tool_calls]
        tokens = 1 + count_text(json.dumps(emitted, ensure_ascii=False))  # [TOOL_CALLS] + JSON
        return Rendered(
            pieces=[], completion_tokens=tokens, finish_reason="tool_calls", tool_calls=calls
        )
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
    if request.max_tokens is not None and len(ids) + len(filler_ids) > request.max_tokens:
        keep = max(request.max_tokens - len(ids), 0)
        ids, filler_ids, filler_pieces = (
            ids[: request.max_tokens],
            filler_ids[:keep],
            filler_pieces[:keep],
        )
        finish = "length"
    return Rendered(
        pieces=stream_pieces(ids) + list(filler_pieces),
        completion_tokens=len(ids) + len(filler_ids),
        finish_reason=finish,
        tool_calls=[],
    )
