"""Where a session's requests go: Mistral with a key, LocalMistral without one.

Keys are hostile input too: read from a file or a CRLF ``.env`` they carry a
newline, which httpx refuses with an error that quotes the whole header.  So a key
is cleaned (surrounding whitespace stripped) and checked here, before anything
can echo it; errors show only :func:`mask_key`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ._errors import SettingsError

__all__ = ["DEFAULT_BASE_URL", "clean_key", "mask_key", "resolve_endpoint"]

DEFAULT_BASE_URL = "https://api.mistral.ai/v1"

_announced_local = False


def mask_key(key: str | None) -> str:
    """A key as it may be shown: its last four characters at most."""
    if not key:
        return "none"
    if len(key) <= 8 or not key[-4:].isascii() or not key[-4:].isprintable():
        return "sk-..."
    return f"sk-...{key[-4:]}"


def clean_key(key: Any) -> str | None:
    """``key`` without surrounding whitespace, or ``SettingsError`` (showing it masked).

    Raises:
        SettingsError: the key is not a string, or holds control or non-ASCII
            characters that no HTTP header can carry.
    """
    if key is None:
        return None
    if isinstance(key, bytes):
        key = key.decode("ascii", "replace")
    if not isinstance(key, str):
        raise SettingsError(
            f"api_key must be a string, not {type(key).__name__}", field="api_key", value=None
        )
    key = key.strip()
    if not key:
        return None
    bad = [c for c in key if not (c.isascii() and c.isprintable()) or c.isspace()]
    if bad:
        what = "a space" if all(c == " " for c in bad) else "control or non-ASCII characters"
        raise SettingsError(
            f"the API key ({mask_key(key)}, {len(key)} characters) holds {what}, which no "
            "HTTP header can carry: copy it again from Mistral's console (la Plateforme), "
            "without quotes or line breaks",
            field="api_key",
            value=mask_key(key),
        )
    return key


def resolve_endpoint(api_key: Any, base_url: str | None) -> tuple[str, str, Any]:
    """The key and URL to use, and the LocalMistral started when neither is set.

    The key and URL default to ``MISTRAL_API_KEY`` / ``MISTRAL_BASE_URL``.
    """
    key = clean_key(api_key) or clean_key(os.environ.get("MISTRAL_API_KEY"))
    url = (base_url or os.environ.get("MISTRAL_BASE_URL") or "").strip() or None
    local = None
    if key is None and url is None:
        from .local import LocalMistral

        local = LocalMistral().start()
        key, url = local.api_key, local.base_url
        _announce_local(url)
    # A self-hosted server without auth still needs a non-empty key for the client.
    return key or "no-key", url or DEFAULT_BASE_URL, local


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
