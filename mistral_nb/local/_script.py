"""Scripted replies: what ``LocalMistral(script=[...])`` and ``push(...)`` take.

A script item is a str (text), a :class:`ToolCall`, a list of them (parallel calls in one
response), a :class:`Reasoning` (thinking, then the answer), or a callable(body) returning
one of those (or None to let the deterministic rules answer). Kept apart from the replies
module so that scripting LocalMistral does not load the tokenizer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .._errors import LocalMistralError
from ._wire import call_id

__all__ = [
    "TRANSITIONS",
    "Reasoning",
    "Reply",
    "ScriptItem",
    "ToolCall",
    "Transition",
    "check_script_item",
    "reply_from_item",
]

Transition = Literal["mixed", "direct", "empty", "separate"]
TRANSITIONS: tuple[str, ...] = ("mixed", "direct", "empty", "separate")
"""How a reasoning stream switches from thinking to the answer, as recorded:

* ``mixed``: one list delta ends the thinking and starts the text
  (``[{"type": "thinking", ..., "closed": true}, {"type": "text", "text": "1"}]``, Small 4);
* ``direct``: the last thinking delta, then the answer as plain-string deltas;
* ``empty``: ``[{"type": "thinking", "thinking": []}, {"type": "text", "text": "To"}]``;
* ``separate``: a lone ``[{"type": "thinking", "thinking": []}]`` delta, then plain strings
  (Magistral Small, January 2026).
"""


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


@dataclass(frozen=True)
class Reasoning:
    """A scripted reasoning reply: the thinking streams first, then the answer.

    Args:
        thinking: The reasoning text.
        answer: The answer text.
        transition: How the stream switches to the answer: ``"mixed"``, ``"direct"``,
            ``"empty"`` or ``"separate"`` (see ``TRANSITIONS``); None: the model's own.
        closed: Put ``"closed": true`` on the thinking deltas after the first (Small 4 in
            2026); False leaves it out (Magistral, January 2026); None: the model's own.

    Example:
        ``LocalMistral(script=[Reasoning("12 times 12 is 144.", "144", transition="empty")])``
    """

    thinking: str
    answer: str = ""
    transition: Transition | None = None
    closed: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.thinking, str) or not isinstance(self.answer, str):
            raise LocalMistralError(
                f"Reasoning needs str thinking and answer, got {self.thinking!r}, {self.answer!r}"
            )
        if self.transition is not None and self.transition not in TRANSITIONS:
            raise LocalMistralError(
                f"Reasoning transition must be one of {', '.join(TRANSITIONS)}, "
                f"got {self.transition!r}"
            )


ScriptItem = str | ToolCall | Reasoning | list[ToolCall] | Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Reply:
    """One reply: text (after ``thinking`` when it reasons), or tool calls (each ``(id, name,
    arguments JSON)``)."""

    text: str = ""
    tool_calls: tuple[tuple[str, str, str], ...] = ()
    sized: bool = True  # reply_tokens may stretch or cut it (deterministic text only)
    thinking: str | None = None
    transition: Transition | None = None
    closed: bool | None = None


def check_script_item(item: Any) -> Any:
    """``item`` if it can be a scripted reply, else LocalMistralError."""
    if isinstance(item, (str, ToolCall, Reasoning)) or callable(item):
        return item
    if isinstance(item, (list, tuple)) and item and all(isinstance(i, ToolCall) for i in item):
        return list(item)
    raise LocalMistralError(
        f"A scripted reply must be a str, a ToolCall, a Reasoning, a non-empty list of "
        f"ToolCall, or a callable(body) returning one of those; got {item!r}"
    )


def reply_from_item(item: Any, body: Mapping[str, Any]) -> Reply | None:
    """The Reply a script item stands for (None: a callable declined, go deterministic)."""
    if callable(item) and not isinstance(item, (ToolCall, Reasoning)):
        item = item(dict(body))
        if item is None:
            return None
        item = check_script_item(item)
        if callable(item) and not isinstance(item, (ToolCall, Reasoning)):
            raise LocalMistralError("A script callable must not return another callable")
    if isinstance(item, str):
        return Reply(text=item, sized=False)
    if isinstance(item, Reasoning):
        return Reply(
            text=item.answer,
            sized=False,
            thinking=item.thinking,
            transition=item.transition,
            closed=item.closed,
        )
    calls = [item] if isinstance(item, ToolCall) else item
    seed = json.dumps(body, sort_keys=True, default=str)
    return Reply(
        tool_calls=tuple(
            (call.id or call_id(f"{seed}#{n}"), call.name, call.arguments_json())
            for n, call in enumerate(calls)
        )
    )
