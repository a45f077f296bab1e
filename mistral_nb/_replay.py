"""Replay: a logged turn's exact request again, with some settings changed.

The log keeps every request body as it went out.  A replay takes the first request
of a turn (the conversation up to and including the user's message, the tools and
the settings), starts a short-lived session holding that conversation with the
turn's settings plus the changes, and sends the user's message again: the body on
the wire is the logged one with only the changed fields different, and the new turn
is a normal turn of the log it goes to.

Tools are never run again: the replay offers the logged tools as stand-ins that
answer each call from the results logged with the turn (the same name and
arguments, else the same name), so a replay has no side effects.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._compare import word_diff, word_diff_text
from ._connection import resolve_endpoint
from ._errors import ExperimentError
from ._settings import SETTINGS, validate_settings
from ._sweep import set_conversation
from ._sweep_rows import turn_row
from ._tools import ToolRegistry
from ._turn import Turn
from ._turnlog import TurnLog

if TYPE_CHECKING:
    from ._session import Session

__all__ = ["replay_log", "replay_turn"]

_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
}


def _find(log: TurnLog, number: int) -> Turn:
    for turn in log:
        if turn.turn == number:
            return turn
    numbers = [t.turn for t in log]
    shown = f"{numbers[0]}..{numbers[-1]}" if numbers else "none"
    raise ExperimentError(f"turn {number!r} is not in the log (its turns: {shown})")


def _request(turn: Turn) -> dict[str, Any]:
    if not turn.requests or "messages" not in turn.requests[0]:
        raise ExperimentError(
            f"turn {turn.turn} has no logged request to replay (it failed before sending)"
        )
    body = copy.deepcopy(turn.requests[0])
    for message in body["messages"]:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else ():
            url = part.get("image_url") if isinstance(part, dict) else None
            url = url.get("url") if isinstance(url, dict) else url
            if isinstance(url, str) and "sha256" in url and url.startswith("data:"):
                raise ExperimentError(
                    f"turn {turn.turn}'s request holds an image, which the log keeps only as "
                    "its size and sha256: send the message again with session.send(..., "
                    "images=[...]) instead"
                )
    return body


def _split(body: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]], str]:
    """The system prompt, the conversation before the user's message, and its text."""
    messages = list(body["messages"])
    system = None
    if messages and messages[0].get("role") == "system":
        system = messages.pop(0).get("content")
    if not messages or messages[-1].get("role") != "user":
        raise ExperimentError("the logged request does not end with the user's message")
    content = messages[-1].get("content")
    if isinstance(content, list):
        kinds = {p.get("type") for p in content if isinstance(p, dict)} - {"text"}
        if kinds:
            raise ExperimentError(
                f"the logged message carried {', '.join(sorted(map(str, kinds)))} chunks, which "
                "a replay cannot send again from the log: send the message again with "
                "session.send(..., images=[...] or documents=[...])"
            )
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return system, messages[:-1], str(content or "")


def stand_in_tools(body: Mapping[str, Any], turn: Turn) -> ToolRegistry:
    """A registry offering the request's tools, each answering from the turn's logged calls."""
    registry = ToolRegistry()
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            continue
        registry.register(
            _stand_in(function, turn),
            name=function["name"],
            description=function.get("description") or function["name"],
        )
    return registry


def _stand_in(function: dict[str, Any], turn: Turn) -> Any:
    name = function["name"]
    logged = [c for c in turn.call_records if c.name == name]
    used: set[int] = set()

    def answer(**arguments: Any) -> Any:
        key = json.dumps(arguments, sort_keys=True, default=str)
        order = sorted(
            range(len(logged)),
            key=lambda i: json.dumps(logged[i].arguments, sort_keys=True, default=str) != key,
        )
        for index in order:
            if index not in used:
                used.add(index)
                return logged[index].result
        return {"error": f"the replayed log has no result for {name}({key})"}

    schema = function.get("parameters") or {}
    required = set(schema.get("required") or [])
    parameters, hints = [], {}
    for pname, spec in (schema.get("properties") or {}).items():
        json_type = spec.get("type") if isinstance(spec, dict) else None
        kind = _JSON_TYPES.get(json_type, Any) if isinstance(json_type, str) else Any
        hint = kind if pname in required else kind | None if kind is not Any else Any
        default = inspect.Parameter.empty if pname in required else None
        parameters.append(
            inspect.Parameter(
                pname, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint
            )
        )
        hints[pname] = hint
    answer.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    answer.__annotations__ = hints
    answer.__name__ = answer.__qualname__ = name
    return answer


async def _send_again(
    body: dict[str, Any],
    turn: Turn,
    changes: dict[str, Any],
    *,
    api_key: str,
    base_url: str,
    log: TurnLog,
    request_timeout: float | None,
) -> Turn:
    from ._session import Session

    system, prior, text = _split(body)
    # Only the settings this version knows: a journal from another version may hold more.
    merged = {**turn.settings, **changes}
    settings = {k: v for k, v in merged.items() if k in SETTINGS and v is not None}
    if system is not None and "system_prompt" not in changes:
        settings["system_prompt"] = system
    replayer = await asyncio.to_thread(
        Session,
        api_key=api_key,
        base_url=base_url,
        settings=settings,
        tools=stand_in_tools(body, turn),
        log=log,
        request_timeout=request_timeout,
    )
    try:

        def mark(event: Any) -> None:
            if event.kind == "turn_started" and event.turn is not None:
                event.turn.replay_of = turn.turn  # read by the comparison below

        replayer.subscribe(mark)
        if prior:
            await set_conversation(replayer, prior)
        return await replayer.send(text)
    finally:
        await replayer.aclose()


async def replay_turn(session: Session, turn: int, **settings: Any) -> Turn:
    """``Session.replay``: turn ``turn``'s logged request again, with ``settings`` changed.

    The new turn goes to ``session.log`` (``new.replay_of`` is ``turn``); the session's
    own conversation and settings are not touched.

    Raises:
        ExperimentError: no such turn, or its request cannot be sent again.
        SettingsError: a changed setting Mistral would refuse.
    """
    changes = validate_settings(settings)
    original = _find(session.log, turn)
    body = _request(original)
    return await _send_again(
        body,
        original,
        changes,
        api_key=session._api_key,
        base_url=session.base_url,
        log=session.log,
        request_timeout=session.request_timeout,
    )


async def replay_log(
    log: TurnLog,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    request_timeout: float | None = 60.0,
    **settings: Any,
) -> pd.DataFrame:
    """``TurnLog.replay``: every turn of ``log`` again, with ``settings`` changed.

    Each turn is replayed from its own logged request (so the answers do not depend on
    each other); tool calls are answered from the logged results.  The endpoint is as
    for ``Session()``: ``api_key`` / ``base_url``, then ``MISTRAL_API_KEY`` /
    ``MISTRAL_BASE_URL``, else a LocalMistral.

    Returns:
        One row per turn: ``turn``, ``replay_turn``, both statuses, both texts,
        ``similarity``, ``changed_words`` and ``diff`` (word-level), tokens, cost, TTFB and
        tokens/s before and after, and ``replay`` (the new :class:`Turn`).
        ``df.attrs["changes"]`` holds the settings changed.
    """
    changes = validate_settings(settings)
    key, url, local = resolve_endpoint(api_key, base_url)
    replayed = TurnLog()
    rows = []
    try:
        for original in list(log):
            try:
                body = _request(original)
            except ExperimentError as exc:
                rows.append({"turn": original.turn, "status_after": "skipped", "error": str(exc)})
                continue
            new = await _send_again(
                body,
                original,
                changes,
                api_key=key,
                base_url=url,
                log=replayed,
                request_timeout=request_timeout,
            )
            rows.append(_comparison_row(original, new))
    finally:
        if local is not None:
            await asyncio.to_thread(local.stop)
    frame = pd.DataFrame(rows)
    frame.attrs["changes"] = dict(changes)
    return frame


def _comparison_row(before: Turn, after: Turn) -> dict[str, Any]:
    old, new = turn_row(before), turn_row(after)
    similarity, changed = word_diff(before.text, after.text)
    row: dict[str, Any] = {
        "turn": before.turn,
        "replay_turn": after.turn,
        "model_before": before.settings.get("model"),
        "model_after": after.settings.get("model"),
        "status_before": before.status,
        "status_after": after.status,
        "text_before": before.text,
        "text_after": after.text,
        "similarity": similarity,
        "changed_words": changed,
        "diff": word_diff_text(before.text, after.text),
    }
    for column in ("prompt_tokens", "completion_tokens", "cost_usd", "ttfb_s", "tokens_per_s"):
        row[f"{column}_before"] = old[column]
        row[f"{column}_after"] = new[column]
    row["error"] = after.error
    row["replay"] = after
    return row
