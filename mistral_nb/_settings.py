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
from collections.abc import Callable, Mapping
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
        check: for a structured setting (``kind`` is ``object``), the function that
            returns the value as sent or raises ``SettingsError``; ``accepts`` says
            what it takes, in words.
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
    check_value: Callable[[Any], Any] | None = None
    accepts: str = ""

    @property
    def help(self) -> str:
        """The description (the name the first panels used)."""
        return self.description

    def describe_range(self) -> str:
        """The accepted values in words, e.g. ``a number: 0 <= temperature <= 1.5, or None``."""
        tail = ", or None" if self.nullable else ""
        if self.accepts:
            return self.accepts + tail
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices) + tail
        if self.kind is bool:
            return "True or False"
        if self.kind is str:
            return "a string, or None" if self.nullable else "a non-empty string"
        def number(value: float) -> str:
            return f"{int(value):,}" if self.kind is int else f"{value:g}"

        lower = (
            ""
            if self.minimum is None
            else f"{number(self.minimum)} {'<' if self.exclusive_minimum else '<='} "
        )
        upper = "" if self.maximum is None else f" <= {number(self.maximum)}"
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
        _row(
            "response_format",
            object,
            description="Structured output: a pydantic model, a JSON Schema, 'json' or 'text'",
            check_value=lambda value: _response_format(value),
            accepts="a pydantic model class, a JSON Schema dict, 'json', 'text' or a "
            "response_format dict",
        ),
        _row(
            "tool_choice",
            str,
            description="Whether the model must call a tool: auto, none, any, required, or "
            "one tool by name",
            check_value=lambda value: _tool_choice(value),
            accepts="'auto', 'none', 'any', 'required', a tool's name or "
            "{'type': 'function', 'function': {'name': ...}}",
        ),
        _row(
            "parallel_tool_calls",
            bool,
            nullable=False,
            default=True,
            description="Let the model call several tools in one reply",
        ),
        _row(
            "stop",
            object,
            description="Stop the reply where one of these strings would appear",
            check_value=lambda value: _stop(value),
            accepts="a non-empty string or a list of up to 16 non-empty strings",
        ),
        _row(
            "n",
            int,
            minimum=1,
            maximum=128,
            description="Candidate replies per request (the conversation continues with the first)",
        ),
        _row(
            "prediction",
            object,
            description="Text the reply is expected to resemble (predicted outputs, some models)",
            check_value=lambda value: _prediction(value),
            accepts="a string, or {'type': 'content', 'content': ...}",
        ),
        _row(
            "prompt_cache_key",
            object,
            description="A key that raises the chance of a prompt-cache hit across requests",
            check_value=lambda value: _short_text("prompt_cache_key", value, 1024),
            accepts="a non-empty string of at most 1024 characters",
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


def _short_repr(value: Any) -> str:
    try:
        shown = repr(value)
    except ValueError:  # an int too long to print
        return f"<an integer of {value.bit_length()} bits>"
    return shown if len(shown) <= 80 else shown[:60] + f"... ({len(shown)} characters)"


def _check(setting: Setting, given_name: str, given: Any) -> Any:
    def fail(reason: str) -> SettingsError:
        shown = _short_repr(given)
        return SettingsError(
            f"{given_name}={shown} {reason}; Mistral accepts {setting.describe_range()}",
            field=given_name,
            value=shown if shown.endswith((">", "characters)")) else given,
        )

    value = given
    if value is None:
        if setting.nullable:
            return None
        raise fail("cannot be None")
    if setting.check_value is not None:
        try:
            return setting.check_value(value)
        except SettingsError as exc:
            raise SettingsError(
                f"{given_name}: {exc}; Mistral accepts {setting.describe_range()}",
                field=given_name,
                value=exc.value,
            ) from None
    if setting.kind is bool:
        if isinstance(value, bool) or (
            type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")
        ):
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


# -- structured settings ----------------------------------------------------------------

_TOOL_CHOICES = ("auto", "none", "any", "required")
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _response_format(value: Any) -> dict[str, Any]:
    from ._structured import to_response_format  # pydantic and jsonschema: load when used

    return to_response_format(value)


def _tool_choice(value: Any) -> Any:
    name: Any
    if isinstance(value, str):
        if value in _TOOL_CHOICES:
            return value
        name = value
    elif isinstance(value, Mapping):
        function = value.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if set(value) - {"type", "function"} or value.get("type", "function") != "function":
            raise SettingsError(f"{value!r} is not a tool choice", value=value)
    else:
        raise SettingsError(f"a {type(value).__name__} is not a tool choice", value=value)
    if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
        raise SettingsError(f"{name!r} is neither a mode nor a tool name", value=value)
    return {"type": "function", "function": {"name": name}}


def _stop(value: Any) -> str | list[str]:
    if isinstance(value, str):
        return _short_text("stop", value, 1024)
    if isinstance(value, (list, tuple)) and 1 <= len(value) <= 16:
        return [_short_text("stop", item, 1024) for item in value]
    raise SettingsError(f"{value!r} is not a stop string or a list of them", value=value)


def _prediction(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"type": "content", "content": value}
    if (
        isinstance(value, Mapping)
        and value.get("type", "content") == "content"
        and isinstance(value.get("content", ""), str)
        and not set(value) - {"type", "content"}
    ):
        return {"type": "content", "content": value.get("content", "")}
    raise SettingsError(f"{value!r} is not a prediction", value=value)


def _short_text(name: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or not value:
        raise SettingsError(f"{value!r} is not a non-empty string", value=value)
    if len(value) > limit:
        raise SettingsError(f"{len(value)} characters is too long", value=value[:40] + "...")
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
