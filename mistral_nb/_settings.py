"""Mistral's chat settings: their names, their ranges, and how they map onto pipecat.

One name per concept: mistral_nb speaks Mistral's request field names
(``random_seed``, ``max_tokens``, ``safe_prompt``) and also accepts pipecat's
(``seed``, ``max_completion_tokens``, ``system_instruction``), so code written
against either keeps working.  Ranges are Mistral's (shared/reference/mistral-api.md §1);
validating them here turns a 422 from the server into a ``SettingsError`` before
anything is sent, and before the conversation is touched.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipecat.services.mistral.llm import MistralLLMService, MistralLLMSettings
from pipecat.utils.types import is_given

from ._errors import SettingsError

__all__ = ["SETTINGS", "Setting", "current_settings", "to_settings_delta", "validate_settings"]


@dataclass(frozen=True)
class Setting:
    """One setting: its Mistral name, its type and the range Mistral accepts."""

    name: str
    kind: type
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    nullable: bool = True
    help: str = ""

    def describe_range(self) -> str:
        """The accepted values in words, e.g. ``a number: 0 <= temperature <= 1.5, or None``."""
        if self.kind is bool:
            return "True or False"
        if self.kind is str:
            return "a string, or None" if self.nullable else "a non-empty string"
        lower = (
            ""
            if self.minimum is None
            else f"{self.minimum:g} {'<' if self.exclusive_minimum else '<='} "
        )
        upper = "" if self.maximum is None else f" <= {self.maximum:g}"
        what = "an integer" if self.kind is int else "a number"
        return f"{what}: {lower}{self.name}{upper}" + (", or None" if self.nullable else "")


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("model", str, nullable=False, help="Model id, e.g. mistral-small-latest"),
        Setting("temperature", float, 0.0, 1.5, help="Sampling temperature"),
        Setting("top_p", float, 0.0, 1.0, exclusive_minimum=True, help="Nucleus sampling mass"),
        Setting("max_tokens", int, 0, None, help="Most tokens in a reply (None: no limit)"),
        Setting("frequency_penalty", float, -2.0, 2.0, help="Penalise frequent tokens"),
        Setting("presence_penalty", float, -2.0, 2.0, help="Penalise tokens already present"),
        Setting("random_seed", int, 0, None, help="Seed for reproducible sampling"),
        Setting("safe_prompt", bool, nullable=False, help="Prepend Mistral's safety prompt"),
        Setting("system_prompt", str, help="System prompt (None: none)"),
    )
}

# pipecat's spellings (and a few obvious ones) for the same settings.
ALIASES: dict[str, str] = {
    "seed": "random_seed",
    "max_completion_tokens": "max_tokens",
    "system_instruction": "system_prompt",
    "system": "system_prompt",
}


def _check(setting: Setting, given_name: str, given: Any) -> Any:
    def fail(reason: str) -> SettingsError:
        return SettingsError(
            f"{given_name}={given!r} {reason}; Mistral accepts {setting.describe_range()}",
            field=given_name,
            value=given,
        )

    value = given

    if value is None:
        if setting.nullable:
            return None
        raise fail("cannot be None")
    if setting.kind is bool:
        if not isinstance(value, bool):
            raise fail("is not a bool")
        return value
    if setting.kind is str:
        if not isinstance(value, str):
            raise fail("is not a string")
        if setting.name == "model" and not value.strip():
            raise fail("is empty")
        return value
    # Numbers: bool is an int in Python, but True as a temperature is a bug.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(f"is a {type(value).__name__}, not a number")
    if setting.kind is int:
        if isinstance(value, float):
            if not value.is_integer():
                raise fail("is not a whole number")
            value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise fail("is not finite")
    too_low = setting.minimum is not None and (
        value < setting.minimum or (setting.exclusive_minimum and value == setting.minimum)
    )
    if too_low:
        raise fail("is out of range")
    if setting.maximum is not None and value > setting.maximum:
        raise fail("is out of range")
    return value


def validate_settings(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check settings against Mistral's ranges; return them under Mistral's names.

    Raises:
        SettingsError: a setting is unknown, of the wrong type or out of range. Nothing
            is applied in that case, not even the valid settings given alongside.
    """
    checked: dict[str, Any] = {}
    for given_name, value in fields.items():
        name = ALIASES.get(given_name, given_name)
        setting = SETTINGS.get(name)
        if setting is None:
            known = sorted([*SETTINGS, *ALIASES])
            close = difflib.get_close_matches(given_name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise SettingsError(
                f"unknown setting {given_name!r}.{hint} Known settings: {', '.join(SETTINGS)}",
                field=given_name,
                value=value,
            )
        if name in checked:
            raise SettingsError(
                f"{given_name!r} sets {name!r}, which is given twice; pass it once",
                field=given_name,
                value=value,
            )
        checked[name] = _check(setting, given_name, value)
    return checked


def to_settings_delta(settings: Mapping[str, Any]) -> MistralLLMSettings:
    """A pipecat delta (for ``LLMUpdateSettingsFrame``) from validated Mistral-named settings.

    ``max_tokens`` also clears ``max_completion_tokens`` so the two never disagree;
    ``safe_prompt`` travels in ``extra`` (pipecat has no field for it) and the
    session's service moves it into the request body.
    """
    delta = MistralLLMService.Settings()
    for name, value in settings.items():
        if name == "random_seed":
            delta.seed = value
        elif name == "max_tokens":
            delta.max_tokens = value
            delta.max_completion_tokens = None
        elif name == "system_prompt":
            delta.system_instruction = value
        elif name == "safe_prompt":
            delta.extra["safe_prompt"] = value
        else:
            setattr(delta, name, value)
    return delta


def _given(value: Any) -> Any:
    # pipecat stores "not set" as its own NOT_GIVEN or the OpenAI SDK's; both mean None here.
    from openai import NOT_GIVEN as OPENAI_NOT_GIVEN

    if not is_given(value) or value is OPENAI_NOT_GIVEN:
        return None
    return value


def current_settings(store: MistralLLMSettings) -> dict[str, Any]:
    """The settings a service holds, under Mistral's names (None where unset)."""
    max_tokens = _given(store.max_tokens)
    if max_tokens is None:
        max_tokens = _given(store.max_completion_tokens)
    return {
        "model": _given(store.model),
        "temperature": _given(store.temperature),
        "top_p": _given(store.top_p),
        "max_tokens": max_tokens,
        "frequency_penalty": _given(store.frequency_penalty),
        "presence_penalty": _given(store.presence_penalty),
        "random_seed": _given(store.seed),
        "safe_prompt": bool((store.extra or {}).get("safe_prompt", False)),
        "system_prompt": _given(store.system_instruction),
    }
