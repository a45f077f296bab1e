"""Text that is always valid UTF-8, whatever a model, a tool or a file name handed us.

Python strings may hold lone surrogates (``os.listdir`` on a non-UTF-8 name, a JSON
``"\\ud800"`` escape, a surrogate pair split across two streamed chunks).  They
cannot be encoded as UTF-8, so one of them in a log would make every export, the
journal and the notebook's display of the log raise.  Everything the log keeps
goes through :func:`clean_text` / :func:`clean_value` first: a surrogate pair is
joined into its character, a lone surrogate becomes U+FFFD.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._turn import Turn

__all__ = ["clean_text", "clean_turn", "clean_value"]


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (the same object when clean)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 round trip: a valid high+low pair becomes its character, a lone half U+FFFD.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def clean_value(value: Any) -> tuple[Any, int]:
    """``value`` with every string in it (keys too) cleaned, and how many were changed.

    Dicts and lists are fixed in place, so objects shared between request bodies
    stay shared; tuples are rebuilt.  Anything else is returned as it is.
    """
    if isinstance(value, str):
        clean = clean_text(value)
        return clean, int(clean is not value)
    if isinstance(value, dict):
        changed = 0
        for key in list(value):
            item, n = clean_value(value[key])
            changed += n
            if isinstance(key, str) and clean_text(key) is not key:
                del value[key]
                key, changed = clean_text(key), changed + 1
                value[key] = item
            elif n:
                value[key] = item
        return value, changed
    if isinstance(value, list):
        changed = 0
        for index, item in enumerate(value):
            clean, n = clean_value(item)
            if n:
                value[index], changed = clean, changed + n
        return value, changed
    if isinstance(value, tuple):
        items = [clean_value(item) for item in value]
        changed = sum(n for _, n in items)
        return (tuple(item for item, _ in items) if changed else value), changed
    return value, 0


def clean_turn(turn: Turn) -> int:
    """Clean every string of ``turn`` but its request bodies; how many were changed."""
    changed = 0
    for name in ("user_text", "error", "status", "error_category"):
        value = getattr(turn, name)
        if isinstance(value, str) and clean_text(value) is not value:
            setattr(turn, name, clean_text(value))
            changed += 1
    for value in (turn.settings, turn.images, turn.warnings):
        changed += clean_value(value)[1]
    for name in ("documents", "tags", "parsed"):  # fields other layers add to a turn
        value, n = clean_value(getattr(turn, name, None))
        if n:
            setattr(turn, name, value)
            changed += n
    if not "".join(turn.token_text).isascii():
        changed += clean_value(turn.token_text)[1]
    for call in turn.call_records:
        for name in ("call_id", "name", "arguments", "result", "status", "error"):
            value, n = clean_value(getattr(call, name))
            if n:
                setattr(call, name, value)
                changed += n
    for completion in turn.completions:
        if completion.finish_reason is not None:
            completion.finish_reason = clean_text(completion.finish_reason)
    return changed
