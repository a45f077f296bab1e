"""Where a session's requests go: Mistral with a key, LocalMistral without one."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from pipecat.services.mistral.llm import MistralLLMService, MistralLLMSettings

from ._settings import to_settings_delta, validate_settings

__all__ = ["DEFAULT_BASE_URL", "build_service", "mask_key"]

DEFAULT_BASE_URL = "https://api.mistral.ai/v1"

_announced_local = False


def mask_key(key: str | None) -> str:
    """A key as it may be shown: its last four characters at most."""
    if not key:
        return "none"
    return f"sk-...{key[-4:]}" if len(key) > 8 else "sk-..."


def build_service(
    api_key: str | None,
    base_url: str | None,
    settings: Mapping[str, Any] | MistralLLMSettings | None,
) -> tuple[MistralLLMService, Any]:
    """A MistralLLMService, and the LocalMistral it talks to when no key nor URL is set.

    The key and URL default to ``MISTRAL_API_KEY`` / ``MISTRAL_BASE_URL``.
    """
    if isinstance(settings, MistralLLMSettings):
        delta = settings
    else:
        delta = to_settings_delta(validate_settings(settings or {}))
    api_key = api_key or os.environ.get("MISTRAL_API_KEY") or None
    base_url = base_url or os.environ.get("MISTRAL_BASE_URL") or None
    local = None
    if api_key is None and base_url is None:
        from .local import LocalMistral

        local = LocalMistral().start()
        api_key, base_url = local.api_key, local.base_url
        _announce_local(base_url)
    service = MistralLLMService(
        # A self-hosted server without auth still needs a non-empty key for the client.
        api_key=api_key or "no-key",
        base_url=base_url or DEFAULT_BASE_URL,
        settings=delta,
    )
    return service, local


def _announce_local(base_url: str) -> None:
    global _announced_local
    if _announced_local:
        return
    _announced_local = True
    print(
        f"mistral_nb: no MISTRAL_API_KEY set, so this session talks to the built-in offline "
        f"endpoint (LocalMistral, {base_url}). Set MISTRAL_API_KEY to talk to Mistral.",
        file=sys.stderr,
    )
