"""Mistral's chat settings: one table, and the checks it drives.

:data:`SETTINGS` is the single source for every view of a setting: validation
here, the mapping onto pipecat's ``MistralLLMService.Settings`` and the request
body (``_pipecat/_settings_map.py``), the settings columns of ``turns()``, and the
settings panel's controls.  A row says, once, what Mistral calls the setting,
which pipecat field holds it (``None``: it travels in pipecat's ``extra``), what
it is called on the wire, its type, range or choices, its default and what it does.

One name per concept: mistral_nb speaks Mistral's request field names
(``random_seed``, ``max_tokens``) and also accepts pipecat's (``seed``,
``max_completion_tokens``, ``system_instruction``).  Ranges are Mistral's;
checking them here turns a 422 from the server into a ``SettingsError`` before
anything is sent, and before the conversation is touched.
"""

from __future__ import annotations

import difflib
import math
import numbers
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import SettingsError

__all__ = [
    "ALIASES",
    "SETTINGS",
    "Setting",
    "defaults",
    "validate_settings",
]

# Larger than any context window Mistral serves, small enough for every client and
# server integer type: a bigger value is a typo, not a request.
_MAX_INT = 2**31 - 1
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,255}")


@dataclass(frozen=True)
class Setting:
    """One row of the settings table.

    Attributes:
        name: Mistral's name (the request field, except ``system_prompt``).
        kind: ``float``, ``int``, ``bool`` or ``str``.
        minimum, maximum, exclusive_minimum: the range Mistral accepts (numbers).
        choices: the values Mistral accepts, for an enumeration.
        nullable: whether ``None`` (leave it to the model) is accepted.
        default: what Mistral uses when the field is not sent (``None``: the model's own).
        description: one line, shown as a tooltip.
        pipecat_field: the ``MistralLLMService.Settings`` field that holds it, or None
            when it travels in pipecat's ``extra``.
        wire_name: the request-body field, or None when it is not a body field.
        unit: a unit for display ("tokens").
    """

    name: str
    kind: type
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] | None = None
    nullable: bool = True
    default: Any = None
    description: str = ""
    pipecat_field: str | None = None
    wire_name: str | None = None
    unit: str = ""

    @property
    def help(self) -> str:
        """The description (the name the first panels used)."""
        return self.description

    def describe_range(self) -> str:
        """The accepted values in words, e.g. ``a number: 0 <= temperature <= 1.5, or None``."""
        tail = ", or None" if self.nullable else ""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices) + tail
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
        return f"{what}: {lower}{self.name}{upper}{tail}"

    def check(self, value: Any, given_name: str | None = None) -> Any:
        """``value`` as Mistral will get it, or ``SettingsError`` saying why not."""
        return _check(self, given_name or self.name, value)


def _row(name: str, kind: type, **fields: Any) -> Setting:
    fields.setdefault("wire_name", name)
    return Setting(name, kind, **fields)


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        _row(
            "model",
            str,
            nullable=False,
            default="mistral-small-latest",
            description="Model id or alias, e.g. mistral-small-latest",
            pipecat_field="model",
        ),
        _row(
            "temperature",
            float,
            minimum=0.0,
            maximum=1.5,
            description="Sampling temperature: higher is more varied (None: the model's default)",
            pipecat_field="temperature",
        ),
        _row(
            "top_p",
            float,
            minimum=0.0,
            maximum=1.0,
            exclusive_minimum=True,
            default=1.0,
            description="Nucleus sampling: keep the smallest token set with this probability mass",
            pipecat_field="top_p",
        ),
        _row(
            "max_tokens",
            int,
            minimum=0,
            maximum=_MAX_INT,
            description="Most tokens in a reply (None: up to the context window)",
            pipecat_field="max_tokens",
            unit="tokens",
        ),
        _row(
            "frequency_penalty",
            float,
            minimum=-2.0,
            maximum=2.0,
            default=0.0,
            description="Penalise tokens by how often they already appeared",
            pipecat_field="frequency_penalty",
        ),
        _row(
            "presence_penalty",
            float,
            minimum=-2.0,
            maximum=2.0,
            default=0.0,
            description="Penalise tokens that already appeared at all",
            pipecat_field="presence_penalty",
        ),
        _row(
            "random_seed",
            int,
            minimum=0,
            maximum=_MAX_INT,
            description="Seed for reproducible sampling (None: random)",
            pipecat_field="seed",
        ),
        _row(
            "safe_prompt",
            bool,
            nullable=False,
            default=False,
            description="Prepend Mistral's safety system prompt",
        ),
        _row(
            "reasoning_effort",
            str,
            choices=("none", "minimal", "low", "medium", "high", "xhigh"),
            description="How hard a reasoning model thinks before answering (reasoning models)",
        ),
        _row(
            "prompt_mode",
            str,
            choices=("reasoning",),
            description="'reasoning' gives a Magistral model its reasoning system prompt",
        ),
        Setting(
            "system_prompt",
            str,
            description="System prompt, sent before the conversation (None: none)",
            pipecat_field="system_instruction",
            wire_name=None,
        ),
    )
}

# pipecat's spellings (and a few obvious ones) for the same settings.
ALIASES: dict[str, str] = {
    "seed": "random_seed",
    "max_completion_tokens": "max_tokens",
    "system_instruction": "system_prompt",
    "system": "system_prompt",
}


def defaults() -> dict[str, Any]:
    """Every setting at Mistral's default (``None``: the model decides)."""
    return {name: setting.default for name, setting in SETTINGS.items()}


def _check(setting: Setting, given_name: str, given: Any) -> Any:
    def fail(reason: str) -> SettingsError:
        shown = repr(given)
        if len(shown) > 80:
            shown = shown[:60] + f"... ({len(shown)} characters)"
        return SettingsError(
            f"{given_name}={shown} {reason}; Mistral accepts {setting.describe_range()}",
            field=given_name,
            value=given if len(repr(given)) <= 80 else shown,
        )

    value = given
    if value is None:
        if setting.nullable:
            return None
        raise fail("cannot be None")
    if setting.kind is bool:
        if isinstance(value, bool) or type(value).__name__ == "bool_":  # numpy's bool
            return bool(value)
        raise fail("is not a bool")
    if setting.kind is str:
        if not isinstance(value, str):
            raise fail("is not a string")
        if setting.choices is not None:
            if value not in setting.choices:
                raise fail("is not one of the choices")
            return value
        if setting.name == "model":
            if not value.strip():
                raise fail("is empty")
            if not _MODEL_NAME.fullmatch(value):
                raise fail("is not a model id (letters, digits and . _ : / @ + -, at most 256)")
        return value
    # Numbers: bool is an int in Python, but True as a temperature is a bug.  numpy
    # scalars are numbers.Real / numbers.Integral and are taken as the Python value.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(f"is a {type(value).__name__}, not a number")
    if setting.kind is int:
        if isinstance(value, numbers.Integral):
            value = operator.index(value)
        else:
            try:
                as_float = float(value)
            except (OverflowError, ValueError):
                raise fail("is not a finite number") from None
            if not math.isfinite(as_float) or not as_float.is_integer():
                raise fail("is not a whole number")
            value = int(as_float)
    else:
        try:
            value = float(value)
        except (OverflowError, ValueError):
            raise fail("is too large") from None
        if not math.isfinite(value):
            raise fail("is not finite")
    too_low = setting.minimum is not None and (
        value < setting.minimum or (setting.exclusive_minimum and value == setting.minimum)
    )
    if too_low or (setting.maximum is not None and value > setting.maximum):
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
            close = difflib.get_close_matches(str(given_name), known, n=1)
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
