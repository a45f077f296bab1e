"""The models LocalMistral serves, as data: one row per model, its aliases beside it.

Sources: Mistral's ``GET /v1/models`` snapshot of 2025-12-30 (contexts, capabilities, default
temperatures, descriptions) and Mistral's 2026 model data (platform-docs-public
``src/schema/models/models/*.ts`` at 2026-08-21: Small 4 and Medium 3.5 behind the
``-latest`` aliases, deprecation dates, ``zai-glm-5-2``). The first id of a row is the pinned
version, the others are its aliases; ``GET /v1/models`` lists every id as its own card.

Fields beyond the card (LocalMistral's behaviour, never on the wire):

* ``effort``: the model takes ``reasoning_effort`` (others answer 400);
* ``thinks``: it reasons without being asked (Magistral, as recorded in January 2026),
  unless ``reasoning_effort`` is ``"none"``;
* ``pixels_per_token``: Mistral's image cost rule, W x H / 784 (Large 3, Medium 3.x,
  Small 3.2 / 4, Ministral 3) or W x H / 256 (Pixtral);
* ``tool_stream``: ``"vllm"`` for a third-party model Mistral hosts, which streams tool-call
  arguments in OpenAI/vLLM fragments (recorded for ``zai-glm-5-2`` in August 2026).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CAPABILITY_KEYS", "FAMILIES", "SNAPSHOT_CREATED"]

# The `created` stamp of the 2025-12-30 snapshot.
SNAPSHOT_CREATED = 1767094366

CAPABILITY_KEYS = (
    "completion_chat",
    "function_calling",
    "completion_fim",
    "fine_tuning",
    "vision",
    "ocr",
    "classification",
    "moderation",
    "audio",
    "reasoning",
    "audio_transcription",
    "audio_transcription_realtime",
    "audio_speech",
    "unified_resources",
)

_CHAT = frozenset({"completion_chat", "function_calling"})
_VISION = _CHAT | {"vision", "fine_tuning"}
_REASONING = _VISION | {"reasoning"}

FAMILIES: tuple[dict[str, Any], ...] = (
    # -- current (GA in 2026) ------------------------------------------------------------
    {
        "ids": ("mistral-small-2603", "mistral-small-latest"),
        "ctx": 262144,
        "caps": _REASONING,
        "temperature": 0.3,
        "description": "Mistral Small 4: hybrid instruct, reasoning and coding model "
        "released March 2026.",
        "effort": True,
        "pixels_per_token": 784,
    },
    {
        "ids": ("mistral-medium-3-5", "mistral-medium-3", "mistral-medium-latest"),
        "ctx": 262144,
        "caps": _REASONING,
        "temperature": 0.3,
        "description": "Mistral Medium 3.5: our frontier-class multimodal reasoning model "
        "released April 2026.",
        "effort": True,
        "pixels_per_token": 784,
    },
    {
        "ids": ("mistral-large-2512", "mistral-large-latest"),
        "ctx": 262144,
        "caps": _VISION,
        "temperature": 0.3,
        "description": "Official mistral-large-2512 Mistral AI model",
        "pixels_per_token": 784,
    },
    {
        "ids": ("ministral-14b-2512", "ministral-14b-latest"),
        "ctx": 262144,
        "caps": _VISION,
        "temperature": 0.3,
        "description": "Ministral 3 14B Instruct.",
        "pixels_per_token": 784,
    },
    {
        "ids": ("ministral-8b-2512", "ministral-8b-latest"),
        "ctx": 262144,
        "caps": _VISION,
        "temperature": 0.3,
        "description": "Ministral 3 (a.k.a. Tinystral) 8B Instruct.",
        "pixels_per_token": 784,
    },
    {
        "ids": ("ministral-3b-2512", "ministral-3b-latest"),
        "ctx": 131072,
        "caps": _VISION,
        "temperature": 0.3,
        "description": "Ministral 3 3B Instruct.",
        "pixels_per_token": 784,
    },
    {
        "ids": ("codestral-2508", "codestral-latest"),
        "ctx": 256000,
        "caps": _CHAT | {"completion_fim"},
        "temperature": 0.3,
        "description": "Our cutting-edge language model for coding released August 2025.",
    },
    {
        "ids": ("voxtral-small-2507", "voxtral-small-latest"),
        "ctx": 32768,
        "caps": _CHAT | {"audio"},
        "temperature": 0.2,
        "description": "A small audio understanding model released in July 2025",
    },
    {
        "ids": ("zai-glm-5-2",),
        "ctx": 1048576,
        "caps": _CHAT,
        "temperature": 0.7,
        "description": "Z.ai GLM 5.2 (public preview, hosted by Mistral AI).",
        "tool_stream": "vllm",
    },
    # -- deprecated, still answering ----------------------------------------------------------
    {
        "ids": ("magistral-medium-2509", "magistral-medium-latest"),
        "ctx": 131072,
        "caps": _REASONING,
        "temperature": 0.7,
        "description": "Our frontier-class reasoning model release candidate September 2025.",
        "deprecation": "2026-05-22T12:00:00Z",
        "replacement": "mistral-medium-latest",
        "effort": True,
        "thinks": True,
        "pixels_per_token": 784,
    },
    {
        "ids": ("magistral-small-2509", "magistral-small-latest"),
        "ctx": 131072,
        "caps": _REASONING,
        "temperature": 0.7,
        "description": "Our efficient reasoning model released September 2025.",
        "deprecation": "2026-04-30T12:00:00Z",
        "replacement": "mistral-small-latest",
        "effort": True,
        "thinks": True,
        "pixels_per_token": 784,
    },
    {
        "ids": ("mistral-medium-2508",),
        "ctx": 131072,
        "caps": _VISION,
        "temperature": 0.3,
        "description": "Update on Mistral Medium 3 with improved capabilities.",
        "deprecation": "2026-05-22T12:00:00Z",
        "replacement": "mistral-medium-latest",
        "pixels_per_token": 784,
    },
    {
        "ids": ("mistral-medium-2505",),
        "ctx": 131072,
        "caps": _VISION,
        "temperature": 0.3,
        "description": "Our frontier-class multimodal model released May 2025.",
        "deprecation": "2026-05-22T12:00:00Z",
        "replacement": "mistral-medium-latest",
        "pixels_per_token": 784,
    },
    {
        "ids": ("mistral-small-2506",),
        "ctx": 131072,
        "caps": _CHAT | {"vision"},
        "temperature": 0.3,
        "description": "Our enterprise-grade small model released June 2025.",
        "deprecation": "2026-04-30T12:00:00Z",
        "replacement": "mistral-small-latest",
        "pixels_per_token": 784,
    },
    {
        "ids": ("devstral-2512", "devstral-latest", "devstral-medium-latest"),
        "ctx": 262144,
        "caps": _CHAT,
        "temperature": 0.2,
        "description": "Official devstral-2512 Mistral AI model",
        "deprecation": "2026-05-22T12:00:00Z",
        "replacement": "mistral-medium-latest",
    },
    {
        "ids": ("devstral-medium-2507",),
        "ctx": 131072,
        "caps": _CHAT,
        "temperature": 0.2,
        "description": "Devstral Medium 1.0.",
    },
    {
        "ids": ("labs-devstral-small-2512", "devstral-small-latest"),
        "ctx": 262144,
        "caps": _CHAT | {"vision"},
        "temperature": 0.2,
        "description": "Official labs-devstral-small-2512 Mistral AI model",
        "deprecation": "2026-02-27T12:00:00Z",
        "replacement": "mistral-medium-latest",
        "pixels_per_token": 784,
    },
    {
        "ids": ("devstral-small-2507",),
        "ctx": 131072,
        "caps": _CHAT,
        "temperature": 0.2,
        "description": "Devstral Small 1.1.",
    },
    {
        "ids": ("pixtral-12b-2409", "pixtral-12b", "pixtral-12b-latest"),
        "ctx": 131072,
        "caps": _VISION,
        "temperature": 0.3,
        "description": "A 12B model with image understanding capabilities in addition to text.",
        "deprecation": "2026-01-31T12:00:00Z",
        "replacement": "ministral-14b-latest",
        "pixels_per_token": 256,
    },
    {
        "ids": ("pixtral-large-2411", "pixtral-large-latest"),
        "ctx": 131072,
        "caps": _VISION,
        "temperature": 0.7,
        "description": "Official pixtral-large-2411 Mistral AI model",
        "pixels_per_token": 256,
    },
    {
        "ids": ("mistral-large-2411",),
        "ctx": 131072,
        "caps": _CHAT | {"fine_tuning"},
        "temperature": 0.7,
        "description": "Our top-tier reasoning model for high-complexity tasks (2411).",
    },
    {
        "ids": ("open-mistral-nemo-2407", "open-mistral-nemo", "mistral-tiny-latest"),
        "ctx": 131072,
        "caps": _CHAT | {"fine_tuning"},
        "temperature": 0.3,
        "description": "Our best multilingual open source model released July 2024.",
        "deprecation": "2026-05-22T12:00:00Z",
        "replacement": "ministral-8b-latest",
    },
    {
        "ids": ("voxtral-mini-2507", "voxtral-mini-latest"),
        "ctx": 32768,
        "caps": frozenset({"completion_chat", "audio"}),
        "temperature": 0.2,
        "description": "A mini audio understanding model released in July 2025",
        "deprecation": "2026-02-27T12:00:00Z",
        "replacement": "voxtral-small-latest",
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
    # -- not chat models: listed, but "Invalid model" for chat completions --------------------
    {
        "ids": ("mistral-embed-2312", "mistral-embed"),
        "ctx": 8192,
        "caps": frozenset(),
        "temperature": None,
        "description": "Official mistral-embed-2312 Mistral AI model",
    },
    {
        "ids": ("mistral-moderation-2411", "mistral-moderation-latest"),
        "ctx": 8192,
        "caps": frozenset({"classification", "moderation"}),
        "temperature": None,
        "description": "Official mistral-moderation-2411 Mistral AI model",
    },
)
