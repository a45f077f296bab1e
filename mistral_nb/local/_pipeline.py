"""The work a chat completion needs that is not I/O, run on a worker thread.

Decoding JSON, pydantic validation, mistral-common's rules, tokenizing and laying out the
reply can take a while on a big body (a 50 MB message). The server runs them here, off its
event loop, so other clients keep streaming meanwhile. This module is imported on the first
request (from the worker thread), so that importing ``mistral_nb.local`` stays cheap: it is
what pulls in mistral-common and the tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ._replies import Rendered, deterministic_reply, render
from ._rules import Checked, check_request
from ._schema import SchemaError, load_body, validate
from ._script import Reply, reply_from_item
from ._state import State
from ._tokens import load_tokenizer
from ._wire import Rejection, call_id

__all__ = ["Prepared", "decode", "prepare"]


@dataclass(frozen=True)
class Prepared:
    """A request that passed every check, and its replies laid out for the wire: one per
    choice (``n``), each distinct from the others."""

    checked: Checked
    candidates: list[Rendered]


def decode(raw: bytes) -> tuple[Any, SchemaError | None]:
    """The body to record and, when it is not (acceptable) JSON, the 422 to answer.

    A body that is not JSON, or nests too deep to hand around safely, is recorded as text.
    """
    if not raw:
        return None, SchemaError(
            [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
        )
    try:
        return load_body(raw), None
    except SchemaError as exc:
        return raw.decode("utf-8", errors="replace"), exc


def prepare(body: Any, state: State) -> Prepared:
    """Validate, check and answer a decoded body.

    Raises:
        SchemaError: the body fails the request schema (422).
        Rejection: a rule refuses it (400), or a scripted reply failed (500).
    """
    request = validate(body)
    load_tokenizer()
    checked = check_request(
        body,
        request,
        state.catalogue,
        allow_user_after_tool=state.allow_user_after_tool,
    )
    item = state.next_script_item()
    reply: Reply | None = None
    if not State.is_empty(item):
        try:
            reply = reply_from_item(item, checked.body)
        except Exception as exc:
            message = f"LocalMistral's scripted reply failed: {exc!r}"
            state.note_error(message)
            raise Rejection.mistral(500, message, "internal_server_error", "1000") from exc
    if reply is None:
        reply = deterministic_reply(checked)
    if reply.thinking is not None and not reply.text and reply.tool_calls:
        reply = Reply(tool_calls=reply.tool_calls)
    magistral = checked.card.thinks_by_default
    transition = state.reasoning_transition or ("direct" if magistral else "mixed")
    candidates = [
        render(
            _candidate(reply, index),
            checked.request,
            state.reply_tokens,
            transition=transition,
            closed=not magistral,
        )
        for index in range(checked.request.n or 1)
    ]
    return Prepared(checked, candidates)


def _candidate(reply: Reply, index: int) -> Reply:
    """The ``index``-th of ``n`` candidates: the first as is, the others told apart (their
    own tool-call ids, a numbered text), as a sampling model's would be."""
    if index == 0:
        return reply
    calls = tuple(
        (call_id(f"{ident}#{index}"), name, args) for ident, name, args in reply.tool_calls
    )
    text = reply.text if reply.tool_calls else f"Candidate {index + 1}: {reply.text}"
    return replace(reply, text=text, tool_calls=calls)
