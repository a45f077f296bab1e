"""What a deterministic reply chooses: which tools to call, and the JSON of a structured
answer, both read from the user's message (rules 2 and the ``response_format`` of
:mod:`._replies`)."""

from __future__ import annotations

import json
import re
from typing import Any

from . import _schema as s
from ._arguments import arguments_from_text, placeholder
from ._rules import Checked

__all__ = ["as_json", "choose_tools"]


def _mentions(text: str, name: str) -> int:
    """Position of the first mention of a function name in text, or -1."""
    lowered = text.lower()
    for form in (name, name.replace("_", " ").replace("-", " ")):
        position = lowered.find(form.lower())
        if position >= 0:
            return position
    return -1


_GENERIC = frozenset(
    [
        "get",
        "set",
        "retrieve",
        "fetch",
        "find",
        "list",
        "lookup",
        "look",
        "up",
        "search",
        "query",
        "check",
        "the",
        "a",
        "an",
        "of",
        "for",
        "by",
        "to",
        "and",
        "or",
        "with",
        "from",
        "in",
        "on",
        "at",
        "create",
        "make",
        "do",
        "run",
        "call",
        "tool",
        "function",
        "data",
        "info",
        "information",
        "current",
        "value",
        "values",
        "result",
        "results",
        "return",
        "returns",
        "given",
        "some",
        "this",
        "that",
    ]
)


def _words(text: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return {word.rstrip("s") for word in re.findall(r"[a-z0-9]+", spaced.lower()) if word}


def _offer_score(text: str, function: s.Function) -> float:
    """How clearly ``text`` asks for what a tool offers: a point per word of its name and
    per noun of its parameters (``transaction_id``: "transaction") found in the message,
    half a point per longer word of its description."""
    said = _words(text)
    name = _words(function.name) - _GENERIC
    nouns: set[str] = set()
    for parameter in (function.parameters or {}).get("properties", {}) or {}:
        nouns |= _words(re.sub(r"[_-]?(?:id|number|code)$", "", str(parameter))) - _GENERIC
    described = {w for w in _words(function.description or "") if len(w) >= 5} - _GENERIC
    return len(said & name) + len(said & (nouns - name)) + 0.5 * len(said & (described - name))


def choose_tools(checked: Checked, text: str) -> list[tuple[str, dict[str, Any]]]:
    request = checked.request
    tools = {tool.function.name: tool.function for tool in request.tools or ()}
    if not tools or request.tool_choice == "none":
        return []
    if isinstance(request.tool_choice, s.ToolChoice):
        chosen = [request.tool_choice.function.name]
    else:
        named = sorted((pos, name) for name in tools if (pos := _mentions(text, name)) >= 0)
        chosen = [name for _, name in named]
        if not chosen:
            # No tool named: the one whose name and description the message asks for.
            scores = {name: _offer_score(text, function) for name, function in tools.items()}
            best = max(scores, key=lambda name: scores[name])
            if scores[best] >= 1.5:
                chosen = [best]
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


def as_json(request: s.ChatCompletionRequest, text: str, user_text: str) -> str:
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
    return json.dumps(_object_from(user_text, text), ensure_ascii=False)


_PAIR = re.compile(r"([A-Za-z_][\w ]{0,30}?)\s*[:=]\s*(\"[^\"]*\"|[^,;\n]+)")


def _scalar(text: str) -> Any:
    text = text.strip().strip('"').strip()
    lowered = text.lower().rstrip(".")
    if lowered in ("true", "yes", "false", "no"):
        return lowered in ("true", "yes")
    try:
        number = float(text.rstrip("."))
    except ValueError:
        return text.rstrip(".")
    return int(number) if number.is_integer() and "." not in text.rstrip(".") else number


def _object_from(user_text: str, reply: str) -> dict[str, Any]:
    """A ``json_object`` answer built from the message: its ``key: value`` pairs, else the
    message itself with a few facts about it."""
    pairs = {
        "_".join(key.lower().split()): _scalar(value) for key, value in _PAIR.findall(user_text)
    }
    if pairs:
        return pairs
    words = user_text.split()
    return {
        "message": user_text,
        "words": len(words),
        "question": "?" in user_text,
        "reply": reply,
    }
