"""How a Turn shows in a notebook: its facts, tool calls, reasoning (folded) and answer."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from ._text import clean_text

if TYPE_CHECKING:
    from ._turn import Turn

__all__ = ["turn_html"]


def turn_html(turn: Turn) -> str:
    """The turn as HTML (escaped, valid UTF-8 even before the log has cleaned it)."""
    colour = {"ok": "#2e7d32", "cancelled": "#8d6e63"}.get(turn.status, "#c62828")
    usage = turn.usage
    facts = [
        f"turn {turn.turn}",
        f"<span style='color:{colour}'>{html.escape(turn.status)}</span>",
        html.escape(str(turn.settings.get("model") or "")),
    ]
    if usage["completion_tokens"] is not None:
        facts.append(f"{usage['prompt_tokens']} → {usage['completion_tokens']} tokens")
    if turn.duration_s is not None:
        facts.append(f"{turn.duration_s:.2f} s")
    parts = [f"<div style='font-size:smaller;color:#666'>{' · '.join(facts)}</div>"]
    for call in turn.call_records:
        parts.append(
            "<div style='font-family:monospace;font-size:smaller'>🔧 "
            f"{html.escape(call.name)}({html.escape(_short(call.arguments))}) → "
            f"{html.escape(call.status)}: {html.escape(_short(call.result))}</div>"
        )
    thinking = turn.thinking
    if thinking:
        parts.append(
            "<details><summary style='color:#666'>reasoning</summary>"
            f"<div style='white-space:pre-wrap;color:#666'>{html.escape(thinking)}</div>"
            "</details>"
        )
    parts.append(f"<div style='white-space:pre-wrap'>{html.escape(turn.text)}</div>")
    if turn.error:
        parts.append(f"<div style='color:{colour}'>{html.escape(turn.error)}</div>")
    # The notebook sends this as UTF-8: a running turn may not be cleaned yet.
    return clean_text("<div class='mistral-nb-turn'>" + "".join(parts) + "</div>")


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
