"""The model box's choices, from the cards ``GET /v1/models`` returns.

A card (Mistral's shape) has ``id``, ``aliases``, ``capabilities`` (``completion_chat``,
``function_calling``, ``vision``, ...), ``max_context_length`` and ``deprecation``.  Only
chat models are offered, under every name they answer to.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["describe_model", "find_card", "model_names"]


def _chat(card: Mapping[str, Any]) -> bool:
    capabilities = card.get("capabilities") or {}
    return bool(capabilities.get("completion_chat", True))


def model_names(cards: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every id and alias of the chat models, "-latest" names first, then A to Z."""
    names = {
        str(name)
        for card in cards
        if _chat(card)
        for name in (card.get("id"), *(card.get("aliases") or ()))
        if name
    }
    return sorted(names, key=lambda n: (not n.endswith("-latest"), n))


def find_card(cards: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    """The card that answers to ``name`` (its id or an alias), or None."""
    for card in cards:
        if name == card.get("id") or name in (card.get("aliases") or ()):
            return card
    return None


def describe_model(cards: Sequence[Mapping[str, Any]], name: str) -> str:
    """What ``name`` offers, as HTML: vision, tools, context length; "" without cards."""
    if not cards or not name:
        return ""
    card = find_card(cards, name)
    if card is None:
        return (
            f"{html.escape(name)} is not in the endpoint's list of models: the request will "
            "say whether it exists"
        )
    capabilities = card.get("capabilities") or {}
    facts = [html.escape(str(card.get("id")))]
    facts.append("sees images" if capabilities.get("vision") else "text only")
    facts.append("calls tools" if capabilities.get("function_calling") else "no tool calls")
    context = card.get("max_context_length")
    if isinstance(context, int):
        facts.append(f"{context // 1000:,}k tokens of context")
    if card.get("deprecation"):
        replacement = card.get("deprecation_replacement_model")
        facts.append(
            "<b>deprecated</b>" + (f", use {html.escape(str(replacement))}" if replacement else "")
        )
    return " · ".join(facts)
