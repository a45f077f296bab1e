"""The settings table (``_settings.SETTINGS``) onto pipecat's store and Mistral's wire.

Nothing here lists settings by hand: each function walks the table, so a row
added there is validated, stored, sent and logged without touching this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openai import NotGiven
from pipecat.services.mistral.llm import MistralLLMService, MistralLLMSettings
from pipecat.utils.types import is_given

from .._settings import SETTINGS

__all__ = ["given", "read_settings", "to_delta", "to_request"]

# Keyword arguments of ``AsyncOpenAI().chat.completions.create`` that Mistral also
# takes under the same name and meaning.  Every other body field goes in
# ``extra_body``: the OpenAI client refuses unknown keyword arguments (``TypeError``
# for ``random_seed`` or ``safe_prompt`` in raw pipecat 1.14).
_OPENAI_KWARGS = {
    "model",
    "messages",
    "stream",
    "tools",
    "tool_choice",
    "temperature",
    "top_p",
    "max_tokens",
    "frequency_penalty",
    "presence_penalty",
}
# Keyword arguments of ``create`` that are client options, not body fields.
_CLIENT_OPTIONS = {"extra_headers", "extra_query", "extra_body", "timeout"}


def given(value: Any) -> Any:
    """pipecat's "not set" (its own NOT_GIVEN or the OpenAI SDK's) as None."""
    if not is_given(value) or isinstance(value, NotGiven):
        return None
    return value


def to_delta(settings: Mapping[str, Any]) -> MistralLLMSettings:
    """A pipecat delta (for ``LLMUpdateSettingsFrame``) from validated Mistral-named settings."""
    delta = MistralLLMService.Settings()
    for name, value in settings.items():
        setting = SETTINGS[name]
        if setting.pipecat_field is None:
            delta.extra[setting.wire_name or name] = value
        else:
            setattr(delta, setting.pipecat_field, value)
        if name == "max_tokens":
            # pipecat keeps a second field for the same limit; never let them disagree.
            delta.max_completion_tokens = None
    return delta


def read_settings(store: MistralLLMSettings) -> dict[str, Any]:
    """The settings a service holds, under Mistral's names (the default where unset)."""
    extra = store.extra or {}
    out: dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        if setting.pipecat_field is None:
            value = extra.get(setting.wire_name or name)
        else:
            value = given(getattr(store, setting.pipecat_field, None))
        if value is None and name == "max_tokens":
            value = given(store.max_completion_tokens)
        out[name] = setting.default if value is None and not setting.nullable else value
    return out


def to_request(params: dict[str, Any], store: MistralLLMSettings) -> dict[str, Any]:
    """pipecat's ``create()`` keyword arguments, fixed up for Mistral's request body.

    Fields come from the table: each set setting goes out under its wire name, as a
    keyword argument the OpenAI client knows or in ``extra_body``; unset ones are not
    sent (Mistral then uses the model's default).  pipecat's own extras that are not
    settings (a user's ``extra={"extra_headers": ...}``) are kept.
    """
    settings = read_settings(store)
    out: dict[str, Any] = {
        key: params[key] for key in ("model", "stream", "messages", "tools", "tool_choice")
        if key in params
    }
    body: dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        wire = setting.wire_name
        value = settings[name]
        if wire is None or value is None:
            continue
        if name == "safe_prompt" and value is False:
            continue  # Mistral's default; not sending it keeps bodies minimal
        (out if wire in _OPENAI_KWARGS else body)[wire] = value
    for key, value in (store.extra or {}).items():
        if key in _CLIENT_OPTIONS:
            out[key] = value
        elif key not in body and value is not None and not _is_setting(key):
            body[key] = value
    if not out.get("tools"):
        # Without tools Mistral has nothing to choose from: these would be refused.
        out.pop("tool_choice", None)
        body.pop("parallel_tool_calls", None)
    elif body.get("parallel_tool_calls") is True:
        body.pop("parallel_tool_calls")  # Mistral's default
    if body:
        out["extra_body"] = {**body, **(out.get("extra_body") or {})}
    return out


def _is_setting(wire_name: str) -> bool:
    return any(s.wire_name == wire_name for s in SETTINGS.values())
