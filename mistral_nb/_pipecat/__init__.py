"""The one seam to pipecat: every ``pipecat`` import in mistral_nb lives in this package.

- ``_service``: ``NotebookMistralService``, the named subclass with the fixes to 1.14.
- ``_chat``: ``PipecatChat``, the long-lived pipeline a session drives.
- ``_observer``: frames -> the running turn's recorder.
- ``_tool_bridge``: pipecat's function calls -> the ToolRegistry.
- ``_settings_map``: the settings table onto pipecat's store and the request body.
- ``_stream``: Mistral's stream chunks, of every era, as pipecat's loop reads them.

A pipecat upgrade touches this folder only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loguru import logger

# pipecat logs every request (base64 images included) at DEBUG to stderr, which in a
# notebook lands in the cell's output; quiet it unless the user asks for it
# (mnb.show_pipecat_logs()).
logger.disable("pipecat")

from pipecat.services.mistral.llm import MistralLLMService, MistralLLMSettings

from ._chat import PipecatChat
from ._service import NotebookMistralService, copy_service
from ._settings_map import read_settings, to_delta

__all__ = [
    "NotebookMistralService",
    "PipecatChat",
    "is_pipecat_settings",
    "new_service",
    "service_settings",
    "settings_from_pipecat",
]


def is_pipecat_settings(value: Any) -> bool:
    return isinstance(value, MistralLLMSettings)


def settings_from_pipecat(value: Any) -> dict[str, Any]:
    """The fields a ``MistralLLMService.Settings`` sets, under Mistral's names."""
    full = MistralLLMService.Settings(model=None)
    full.apply_update(value)
    return {name: v for name, v in read_settings(full).items() if v is not None}


def service_settings(service: Any) -> dict[str, Any]:
    """A user's MistralLLMService's settings, under Mistral's names."""
    if not isinstance(service, MistralLLMService):
        raise TypeError(
            f"Session(llm=...) takes a pipecat MistralLLMService, not {type(service).__name__}"
        )
    return read_settings(service._settings)


def new_service(
    *,
    api_key: str,
    base_url: str,
    settings: Mapping[str, Any],
    request_timeout: float | None,
    max_retries: int,
) -> NotebookMistralService:
    """A service of our own from a key, a URL and validated Mistral-named settings."""
    return NotebookMistralService(
        api_key=api_key,
        base_url=base_url,
        settings=to_delta(settings),
        request_timeout=request_timeout,
        max_retries=max_retries,
    )


__all__ += ["copy_service"]
