"""The catalogue: the rows of :mod:`._models` as ``GET /v1/models`` cards, looked up by id.

Every row becomes one card per id, as Mistral lists them: each alias is its own entry whose
``aliases`` name the row's other ids. Callers add or override cards with
``LocalMistral(models=[{"id": ..., "max_context_length": ...}, ...])``.

:func:`model_card` answers the same questions without a server (and without importing the
tokenizer): the engine asks it for a model's context length, vision, reasoning and image cost.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from .._errors import LocalMistralError
from ._models import CAPABILITY_KEYS, FAMILIES, SNAPSHOT_CREATED

__all__ = ["Catalogue", "ModelCard", "model_card"]

_DEFAULT_CAPABILITIES = frozenset({"completion_chat", "function_calling", "vision", "fine_tuning"})


@dataclass(frozen=True)
class ModelCard:
    """One entry of ``GET /v1/models`` (in Mistral's key order), plus how LocalMistral plays it.

    Attributes:
        reasoning_effort: The model takes the ``reasoning_effort`` field.
        thinks_by_default: It reasons unless ``reasoning_effort`` is ``"none"`` (Magistral).
        pixels_per_token: Image cost, W x H / this (784, or 256 for Pixtral).
        tool_stream: ``"mistral"`` (whole calls in one delta) or ``"vllm"`` (fragments).
    """

    id: str
    name: str
    description: str
    max_context_length: int
    aliases: tuple[str, ...] = ()
    capabilities: Mapping[str, bool] = field(default_factory=dict)
    deprecation: str | None = None
    deprecation_replacement_model: str | None = None
    default_model_temperature: float | None = None
    created: int = SNAPSHOT_CREATED
    reasoning_effort: bool = False
    thinks_by_default: bool = False
    pixels_per_token: int = 784
    tool_stream: Literal["mistral", "vllm"] = "mistral"

    @property
    def can_chat(self) -> bool:
        return bool(self.capabilities.get("completion_chat"))

    @property
    def vision(self) -> bool:
        return bool(self.capabilities.get("vision"))

    def to_json(self) -> dict[str, Any]:
        """The card as Mistral serializes it."""
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": "mistralai",
            "capabilities": {key: bool(self.capabilities.get(key)) for key in CAPABILITY_KEYS},
            "name": self.name,
            "description": self.description,
            "max_context_length": self.max_context_length,
            "aliases": list(self.aliases),
            "deprecation": self.deprecation,
            "deprecation_replacement_model": self.deprecation_replacement_model,
            "default_model_temperature": self.default_model_temperature,
            "type": "base",
        }

    def facts(self) -> dict[str, Any]:
        """What the engine needs to know about the model, as a plain dict."""
        return {
            "id": self.id,
            "name": self.name,
            "aliases": list(self.aliases),
            "max_context_length": self.max_context_length,
            "default_model_temperature": self.default_model_temperature,
            "chat": self.can_chat,
            "vision": self.vision,
            "function_calling": bool(self.capabilities.get("function_calling")),
            "reasoning": bool(self.capabilities.get("reasoning")),
            "reasoning_effort": self.reasoning_effort,
            "thinks_by_default": self.thinks_by_default,
            "pixels_per_image_token": self.pixels_per_token,
            "deprecation": self.deprecation,
            "deprecation_replacement_model": self.deprecation_replacement_model,
            "capabilities": {key: bool(self.capabilities.get(key)) for key in CAPABILITY_KEYS},
        }


def _family_cards(family: Mapping[str, Any]) -> list[ModelCard]:
    ids: tuple[str, ...] = family["ids"]
    caps = {key: key in family["caps"] for key in CAPABILITY_KEYS}
    return [
        ModelCard(
            id=model_id,
            name=ids[0],
            description=family["description"],
            max_context_length=family["ctx"],
            aliases=tuple(other for other in ids if other != model_id),
            capabilities=caps,
            deprecation=family.get("deprecation"),
            deprecation_replacement_model=family.get("replacement"),
            default_model_temperature=family["temperature"],
            reasoning_effort=family.get("effort", False),
            thinks_by_default=family.get("thinks", False),
            pixels_per_token=family.get("pixels_per_token", 784),
            tool_stream=family.get("tool_stream", "mistral"),
        )
        for model_id in ids
    ]


_FIELDS = tuple(f.name for f in fields(ModelCard))


def _card_from_mapping(spec: Mapping[str, Any], base: ModelCard | None) -> ModelCard:
    """Build a card from a user's partial dict, on top of an existing card when there is one."""
    unknown = set(spec) - set(_FIELDS)
    if unknown:
        raise LocalMistralError(
            f"Unknown model card field(s) {sorted(unknown)} in {dict(spec)!r}; "
            f"use {sorted(_FIELDS)}"
        )
    if "id" not in spec or not isinstance(spec["id"], str) or not spec["id"]:
        raise LocalMistralError(f"A model card needs a non-empty 'id': {dict(spec)!r}")
    defaults: dict[str, Any] = {
        "name": spec["id"],
        "description": "A model added to LocalMistral's catalogue.",
        "max_context_length": 131072,
        "capabilities": {key: key in _DEFAULT_CAPABILITIES for key in CAPABILITY_KEYS},
        "default_model_temperature": 0.3,
    }
    if base is not None:
        defaults = {name: getattr(base, name) for name in _FIELDS}
    merged = {**defaults, **spec}
    if isinstance(merged.get("capabilities"), Mapping):
        caps = dict(base.capabilities if base else defaults["capabilities"])
        caps.update(merged["capabilities"])
        merged["capabilities"] = caps
    merged["aliases"] = tuple(merged.get("aliases", ()))
    if not isinstance(merged["max_context_length"], int) or merged["max_context_length"] < 1:
        raise LocalMistralError(
            f"max_context_length must be a positive int, got {merged['max_context_length']!r}"
        )
    if merged.get("tool_stream", "mistral") not in ("mistral", "vllm"):
        raise LocalMistralError(
            f"tool_stream must be 'mistral' or 'vllm', got {merged['tool_stream']!r}"
        )
    return ModelCard(**merged)


class Catalogue:
    """The model cards, looked up by id (every alias is an id of its own)."""

    def __init__(self, extra: Iterable[Mapping[str, Any] | str] | None = None) -> None:
        cards = dict(_builtin_cards())
        for spec in extra or ():
            if isinstance(spec, str):
                spec = {"id": spec}
            if not isinstance(spec, Mapping):
                raise LocalMistralError(
                    f"A model must be an id or a dict of card fields, got {spec!r}"
                )
            card = _card_from_mapping(spec, cards.get(spec.get("id", "")))
            cards[card.id] = card
        self._cards = cards

    def get(self, model_id: str) -> ModelCard | None:
        """The card for an id or alias, or None when the model is unknown."""
        return self._cards.get(model_id)

    def ids(self) -> list[str]:
        return list(self._cards)

    def to_json(self) -> dict[str, Any]:
        """The body of ``GET /v1/models``."""
        return {"object": "list", "data": [card.to_json() for card in self._cards.values()]}


@functools.cache
def _builtin_cards() -> dict[str, ModelCard]:
    cards: dict[str, ModelCard] = {}
    for family in FAMILIES:
        for card in _family_cards(family):
            cards[card.id] = card
    return cards


def model_card(name: str) -> dict[str, Any] | None:
    """What LocalMistral knows about a model, without starting a server.

    Args:
        name: A model id or alias, e.g. ``"mistral-small-latest"``.

    Returns:
        None for an unknown model, else a dict: ``id``, ``name`` (the pinned version),
        ``aliases``, ``max_context_length``, ``default_model_temperature``, ``chat``,
        ``vision``, ``function_calling``, ``reasoning``, ``reasoning_effort`` (takes the
        field), ``thinks_by_default``, ``pixels_per_image_token`` (784, or 256 for Pixtral),
        ``deprecation``, ``deprecation_replacement_model`` and the ``capabilities`` of its
        ``/v1/models`` card.

    Example:
        >>> model_card("mistral-small-latest")["name"]
        'mistral-small-2603'
    """
    if not isinstance(name, str):
        return None
    card = _builtin_cards().get(name)
    return None if card is None else card.facts()
