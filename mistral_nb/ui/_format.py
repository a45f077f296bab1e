"""How the panels write numbers, times and tool calls: one way each, everywhere.

A duration is "0.7 ms", "120 ms" or "1.25 s" in the transcript, the tools tab and the
log alike; a time of day is HH:MM:SS in the notebook's local zone; a long value is cut
with "…" and the whole of it goes in the ``title`` (shown on hover).
"""

from __future__ import annotations

import html
import json
import math
from datetime import datetime
from typing import Any

from .._turn import CallRecord, Turn

__all__ = ["call_card", "clock", "count", "missing", "seconds", "shorten", "turn_footer"]


def missing(value: Any) -> bool:
    """None, NaN or pandas' NA/NaT: nothing to show."""
    if value is None:
        return True
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array: something to show
        return False


def shorten(value: Any, limit: int = 80) -> str:
    """``value`` as one line of text (JSON where it can be), cut at ``limit`` characters."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def seconds(value: float | None) -> str:
    """A duration: "0.7 ms" below 10 ms, "120 ms" below 1 s, then "1.25 s"; "" if unknown."""
    if value is None or missing(value) or not math.isfinite(value):
        return ""
    if value < 0.01:
        return f"{value * 1000:.1f} ms"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def count(value: Any) -> str:
    """A whole number with thousands separators; "" if unknown."""
    if missing(value):
        return ""
    return f"{float(value):,.0f}"


def clock(value: Any) -> str:
    """A timestamp as HH:MM:SS, in the local time zone."""
    if missing(value):
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone()
        return value.strftime("%H:%M:%S")
    return str(value)


def turn_footer(turn: Turn) -> str:
    """The quiet line under a reply: turn, model, tokens, TTFB, tokens/s, duration."""
    usage = turn.usage
    facts = [f"turn {turn.turn}", str(turn.settings.get("model") or "?")]
    if usage["completion_tokens"] is not None:
        facts.append(
            f"{count(usage['prompt_tokens'])} → {count(usage['completion_tokens'])} tokens"
        )
    if turn.ttfb_s is not None:
        facts.append(f"TTFB {seconds(turn.ttfb_s)}")
    if turn.tokens_per_s is not None:
        facts.append(f"{turn.tokens_per_s:,.0f} tokens/s")
    if turn.duration_s is not None:
        facts.append(seconds(turn.duration_s))
    if turn.retries:
        facts.append(f"{turn.retries} retr{'y' if turn.retries == 1 else 'ies'}")
    if turn.status != "ok":
        facts.append(turn.status)
    return " · ".join(facts)


def call_card(call: CallRecord, *, running: bool = False) -> str:
    """A tool call as a compact card: name, status, duration; arguments, result or error."""
    status = "running" if running else call.status
    arguments = shorten(call.arguments if call.arguments is not None else {}, 2000)
    head = (
        f"<div class='mnb-call-head'>⚙ <span class='mnb-call-name'>{html.escape(call.name)}"
        f"</span><span class='mnb-st-{html.escape(status)}'>{html.escape(status)}"
        f"{'…' if running else ''}</span>"
    )
    if not running:
        head += f"<span class='mnb-quiet'>{seconds(call.duration_s)}</span>"
    head += "</div>"
    lines = [
        f"<div class='mnb-call-body' title='{html.escape(arguments, quote=True)}'>"
        + f"args {html.escape(shorten(arguments, 160))}</div>"
    ]
    if not running:
        failed = call.status != "ok" and call.error
        outcome = shorten(call.error if failed else call.result, 2000)
        word = "error" if failed else "result"
        lines.append(
            f"<div class='mnb-call-body' title='{html.escape(outcome, quote=True)}'>"
            f"{word} {html.escape(shorten(outcome, 160))}</div>"
        )
    return f"<div class='mnb-call mnb-call-{html.escape(status)}'>{head}{''.join(lines)}</div>"
