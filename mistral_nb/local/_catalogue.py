"""The models LocalMistral knows: Mistral's /v1/models snapshot of 2025-12-30, as data.

Every family below becomes one card per id, as Mistral lists them: each alias is its
own entry whose ``aliases`` name the family's other ids. Callers can add or override
cards with ``LocalMistral(models=[{"id": ..., "max_context_length": ...}, ...])``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._errors import LocalMistralError

__all__ = ["Catalogue", "ModelCard"]

# The `created` stamp of the snapshot (evidence/models_list_2025-12_excerpt.json).
SNAPSHOT_CREATED = 1767094366

_CAPABILITY_KEYS = (
    "completion_chat",
    "function_calling",
    "completion_fim",
    "fine_tuning",
    "vision",
    "ocr",
    "classification",
    "moderation",
    "audio",
)

# (ids: canonical first, then aliases), context, capabilities set, default temperature,
# description, deprecation, replacement.
_CHAT = {"completion_chat", "function_calling"}
_VISION = _CHAT | {"vision", "fine_tuning"}
_FAMILIES: tuple[dict[str, Any], ...] = (
    {
        "ids": ("mistral-large-2512", "mistral-large-latest"),
        "ctx": 262144,
        "caps": _VISION,
        "temperature": 0.3,
        "description": "Official mistral-large-2512 Mistral AI model",
    },
    {
        "ids": ("mistral-medium-2508", "mistral-medium-latest", "mistral-medium"),
        "ctx": 131072,
        "caps": _VISION,
        "temperature": 0.3,
        "description": "Update on Mistral Medium 3 with improved capabilities.",
    },
    {
        "ids": ("mistral-medium-2505",),
        "ctx": 131072,
        "caps": _VISION,
        "temperature": 0.3,
        "description": "Our frontier-class multimodal model released May 2025.",
    },
    {
        "ids": ("mistral-small-2506", "mistral-small-latest"),
        "ctx": 131072,
        "caps": _CHAT | {"vision"},
        "temperature": 0.3,
        "description": "Our latest enterprise-grade small model with the latest version "
        "released June 2025.",
    },
    {
        "ids": ("ministral-14b-2512", "ministral-14b-latest"),
        "ctx": 262144,
        "caps": _VISION,
        "temperature": 0.3,
        "description": "Ministral 3 14B Instruct.",
    },
    {
        "ids": ("ministral-8b-2512", "ministral-8b-latest"),
        "ctx": 262144,
        "caps": _VISION,
        "temperature": 0.3,
        "description": "Ministral 3 (a.k.a. Tinystral) 8B Instruct.",
    },
    {
        "ids": ("ministral-3b-2512", "ministral-3b-latest"),
        "ctx": 131072,
        "caps": _VISION,
        "temperature": 0.3,
        "description": "Ministral 3 3B Instruct.",
    },
    {
        "ids": ("pixtral-12b-2409", "pixtral-12b", "pixtral-12b-latest"),
        "ctx": 131072,
        "caps": _VISION,
        "temperature": 0.3,
        "description": "A 12B model with image understanding capabilities in addition to text.",
        "deprecation": "2026-01-31T12:00:00Z",
        "replacement": "ministral-14b-latest",
    },
    {
        "ids": ("pixtral-large-2411", "pixtral-large-latest"),
        "ctx": 131072,
        "caps": _VISION,
        "temperature": 0.7,
        "description": "Official pixtral-large-2411 Mistral AI model",
    },
    {
        "ids": ("mistral-large-2411",),
        "ctx": 131072,
        "caps": _CHAT | {"fine_tuning"},
        "temperature": 0.7,
        "description": "Our top-tier reasoning model for high-complexity tasks (2411).",
    },
    {
        "ids": ("open-mistral-nemo", "open-mistral-nemo-2407", "mistral-tiny-latest"),
        "ctx": 131072,
        "caps": _CHAT | {"fine_tuning"},
        "temperature": 0.3,
        "description": "Our best multilingual open source model released July 2024.",
    },
    {
        "ids": ("codestral-2508", "codestral-latest"),
        "ctx": 256000,
        "caps": _CHAT | {"completion_fim"},
        "temperature": 0.3,
        "description": "Our cutting-edge language model for coding released August 2025.",
    },
    {
        "ids": ("devstral-2512", "devstral-latest", "devstral-medium-latest"),
        "ctx": 262144,
        "caps": _CHAT,
        "temperature": 0.2,
        "description": "Official devstral-2512 Mistral AI model",
    },
    {
        "ids": ("labs-devstral-small-2512", "devstral-small-latest"),
        "ctx": 262144,
        "caps": _CHAT | {"vision"},
        "temperature": 0.2,
        "description": "Official labs-devstral-small-2512 Mistral AI model",
    },
    {
        "ids": ("magistral-medium-2509", "magistral-medium-latest"),
        "ctx": 131072,
        "caps": _VISION,
        "temperature": 0.7,
        "description": "Our frontier-class reasoning model release candidate September 2025.",
    },
    {
        "ids": ("magistral-small-2509", "magistral-small-latest"),
        "ctx": 131072,
        "caps": _VISION,
        "temperature": 0.7,
        "description": "Our efficient reasoning model released September 2025.",
    },
    {
        "ids": ("voxtral-small-2507", "voxtral-small-latest"),
        "ctx": 32768,
        "caps": _CHAT | {"audio"},
        "temperature": 0.2,
        "description": "A small audio understanding model released in July 2025",
    },
    {
        "ids": ("voxtral-mini-2507", "voxtral-mini-latest"),
        "ctx": 32768,
        "caps": {"completion_chat", "audio"},
        "temperature": 0.2,
        "description": "A mini audio understanding model released in July 2025",
    },
    {
        "ids": ("open-mistral-7b", "mistral-tiny", "mistral-tiny-2312"),
        "ctx": 32768,
        "caps": _CHAT | {"fine_tuning"},
        "temperature": 0.7,
        "description": "Our first dense model released September 2023.",
        "deprecation": "2026-01-31T12:00:00Z",
        "replacement": "ministral-8b-latest",
    },
    {
        "ids": ("ministral-8b-2410",),
        "ctx": 131072,
        "caps": _CHAT | {"fine_tuning"},
        "temperature": 0.3,
        "description": "Ministral 8B (2410).",
        "deprecation": "2025-12-31T12:00:00Z",
        "replacement": "ministral-8b-latest",
    },
    {
        "ids": ("ministral-3b-2410",),
        "ctx": 131072,
        "caps": _CHAT | {"fine_tuning"},
        "temperature": 0.3,
        "description": "Ministral 3B (2410).",
        "deprecation": "2025-12-31T12:00:00Z",
        "replacement": "ministral-3b-latest",
    },
    {
        "ids": ("mistral-embed", "mistral-embed-2312"),
        "ctx": 8192,
        "caps": set(),
        "temperature": None,
        "description": "Official mistral-embed-2312 Mistral AI model",
    },
    {
        "ids": ("mistral-moderation-2411", "mistral-moderation-latest"),
        "ctx": 8192,
        "caps": {"classification", "moderation"},
        "temperature": None,
        "description": "Official mistral-moderation-2411 Mistral AI model",
    },
)


@dataclass(frozen=True)
class ModelCard:
    """One entry of ``GET /v1/models``, in Mistral's key order."""

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
            "capabilities": {key: bool(self.capabilities.get(key)) for key in _CAPABILITY_KEYS},
            "name": self.name,
            "description": self.description,
            "max_context_length": self.max_context_length,
            "aliases": list(self.aliases),
            "deprecation": self.deprecation,
            "deprecation_replacement_model": self.deprecation_replacement_model,
            "default_model_temperature": self.default_model_temperature,
            "type": "base",
        }


def _family_cards(family: Mapping[str, Any]) -> list[ModelCard]:
    ids: tuple[str, ...] = family["ids"]
    caps = {key: key in family["caps"] for key in _CAPABILITY_KEYS}
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
        )
        for model_id in ids
    ]


def _card_from_mapping(spec: Mapping[str, Any], base: ModelCard | None) -> ModelCard:
    """Build a card from a user's partial dict, on top of an existing card when there is one."""
    unknown = set(spec) - set(ModelCard.__dataclass_fields__)
    if unknown:
        raise LocalMistralError(
            f"Unknown model card field(s) {sorted(unknown)} in {dict(spec)!r}; "
            f"use {sorted(ModelCard.__dataclass_fields__)}"
        )
    if "id" not in spec or not isinstance(spec["id"], str) or not spec["id"]:
        raise LocalMistralError(f"A model card needs a non-empty 'id': {dict(spec)!r}")
    defaults: dict[str, Any] = {
        "name": spec["id"],
        "description": "A model added to LocalMistral's catalogue.",
        "max_context_length": 131072,
        "capabilities": {key: key in _VISION for key in _CAPABILITY_KEYS},
        "default_model_temperature": 0.3,
    }
    if base is not None:
        defaults = {name: getattr(base, name) for name in ModelCard.__dataclass_fields__}
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
    return ModelCard(**merged)


class Catalogue:
    """The model cards, looked up by id (every alias is an id of its own)."""

    def __init__(self, extra: Iterable[Mapping[str, Any] | str] | None = None) -> None:
        cards: dict[str, ModelCard] = {}
        for family in _FAMILIES:
            for card in _family_cards(family):
                cards[card.id] = card
        for spec in extra or ():
            if isinstance(spec, str):
                spec = {"id": spec}
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
