"""Deterministic values for a JSON schema: tool-call arguments and ``json_schema`` replies.

Arguments come from the user's message where it says so, else from the schema:

1. a JSON object in the message (its keys that the schema knows, or all when it names none);
2. ``key=value`` or ``key: value`` for a property the schema names;
3. a value of a property's ``enum`` written in the message;
4. an identifier after its noun: ``transaction T1001`` fills ``transaction_id``;
   a date for a ``date`` property, a number near a numeric property's name (or the one
   number left for the one numeric property), yes/no for a boolean, a name after "my name
   is", "named", "called" or "I am" for a name-like property;
5. for the one free-text string parameter still empty (no format, enum, pattern or
   default): a quoted value, else the words after a preposition ("weather in Paris" gives
   ``"Paris"``);
6. anything else required: ``default``, ``const``, first ``enum`` or ``examples`` value, or a
   small placeholder of the right type that respects the usual bounds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["arguments_from_text", "placeholder"]

_FORMATS = {
    "date": "2025-01-01",
    "date-time": "2025-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "uuid": "00000000-0000-0000-0000-000000000000",
}
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|'([^']+)'")
_AFTER_PREPOSITION = re.compile(
    r"\b(?:in|for|of|about|at|on|to|from|called|named|with)\s+([^?!.;\n]+)", re.IGNORECASE
)


def _type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None and "properties" in schema:
        return "object"
    return kind if isinstance(kind, str) else None


def placeholder(schema: Any) -> Any:
    """A small value that satisfies ``schema`` in the common cases."""
    if not isinstance(schema, Mapping):
        return "example"
    for key in ("default", "const"):
        if key in schema:
            return schema[key]
    for key in ("enum", "examples"):
        if isinstance(schema.get(key), list) and schema[key]:
            return schema[key][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return placeholder(schema[key][0])
    kind = _type(schema)
    if kind == "string":
        text = _FORMATS.get(str(schema.get("format")), "example")
        min_length = int(schema.get("minLength", 0))
        text = (text * (min_length // max(len(text), 1) + 1)) if len(text) < min_length else text
        return text[: schema["maxLength"]] if "maxLength" in schema else text
    if kind in ("integer", "number"):
        low = schema.get("minimum")
        if low is None and "exclusiveMinimum" in schema:
            low = schema["exclusiveMinimum"] + 1
        high = schema.get("maximum")
        if high is None and "exclusiveMaximum" in schema:
            high = schema["exclusiveMaximum"] - 1
        value = low if low is not None else 0
        if high is not None and value > high:
            value = high
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    if kind == "array":
        return [placeholder(schema.get("items", {})) for _ in range(int(schema.get("minItems", 0)))]
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: placeholder(properties.get(name, {})) for name in schema.get("required", [])}
    return "example"


def _coerce(value: Any, schema: Mapping[str, Any]) -> Any:
    """``value`` (often a string from the message) as the schema's type, or a placeholder."""
    kind = _type(schema)
    if not isinstance(value, str) or kind in (None, "string"):
        return value if kind != "string" or isinstance(value, str) else str(value)
    text = value.strip()
    try:
        if kind == "integer":
            return int(float(text)) if float(text).is_integer() else placeholder(schema)
        if kind == "number":
            number = float(text)
            return int(number) if number.is_integer() else number
        if kind == "boolean":
            return text.lower() in ("true", "yes", "1", "on")
        if kind in ("array", "object"):
            parsed = json.loads(text)
            expected = list if kind == "array" else dict
            if isinstance(parsed, expected):
                return parsed
            return [part.strip() for part in text.split(",")] if kind == "array" else {}
    except ValueError:
        if kind == "array":
            return [part.strip() for part in text.split(",") if part.strip()]
    return placeholder(schema)


def _is_free_text(schema: Any) -> bool:
    """A string parameter with no format, enum or pattern: where a quoted value goes."""
    if not isinstance(schema, Mapping) or _type(schema) not in ("string", None):
        return False
    return not any(key in schema for key in ("format", "enum", "const", "pattern", "default"))


def _json_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _obvious_string(text: str, skip: str) -> str | None:
    for match in _QUOTED.finditer(text):
        value = next(group for group in match.groups() if group)
        if value != skip:
            return value.strip()
    candidates = [m.group(1).strip() for m in _AFTER_PREPOSITION.finditer(text)]
    candidates = [c for c in candidates if c and skip not in c]
    if candidates:
        return " ".join(candidates[-1].split()[:6]).strip(" ,:")
    return None


_ID_SUFFIX = re.compile(r"[_-]?(?:id|number|no|code|ref|reference)$", re.IGNORECASE)
_IDENTIFIER = r"#?([A-Za-z]*\d[\w-]*)"
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w|\.\d)")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?Z?)?\b")
_NAME = re.compile(
    r"(?:\bmy name is|\bnamed|\bcalled|\bI am|\bI'm|\bthis is)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?)"
)
_NAME_LIKE = {"name", "full_name", "first_name", "person", "author", "customer", "user"}


def _guess(properties: Mapping[str, Any], found: dict[str, Any], text: str) -> None:
    """Rule 4: values a property's name or type makes obvious in the message."""
    numbers = [m.group() for m in _NUMBER.finditer(text)]
    numeric = []
    for name, prop in properties.items():
        if name in found or not isinstance(prop, Mapping):
            continue
        kind = _type(prop)
        words = re.split(r"[_\-\s]+", _ID_SUFFIX.sub("", name)) if _ID_SUFFIX.search(name) else []
        noun = words[-1] if words and words[-1] else None
        if noun and kind in ("string", None):
            match = re.search(
                rf"\b{re.escape(noun)}s?\s+(?:id\s+|number\s+|no\.?\s+)?{_IDENTIFIER}",
                text,
                re.IGNORECASE,
            )
            if match:
                found[name] = match.group(1)
                continue
        if prop.get("format") in ("date", "date-time") and (date := _DATE.search(text)):
            found[name] = date.group()
        elif kind in ("integer", "number"):
            near = re.search(
                rf"\b{re.escape(name)}\b\D{{0,20}}?(-?\d+(?:\.\d+)?)", text, re.IGNORECASE
            )
            near = near or re.search(
                rf"(-?\d+(?:\.\d+)?)\s*(?:\w+\s+)?{re.escape(name)}\b", text, re.IGNORECASE
            )
            if near:
                found[name] = near.group(1)
                numbers = [n for n in numbers if n != near.group(1)]
            else:
                numeric.append(name)
        elif kind == "boolean":
            if re.search(r"\b(?:yes|true|indeed|correct)\b", text, re.IGNORECASE):
                found[name] = "yes"
            elif re.search(r"\b(?:no|false|not)\b", text, re.IGNORECASE):
                found[name] = "no"
        elif name.lower() in _NAME_LIKE and (named := _NAME.search(text)):
            found[name] = named.group(1)
    if len(numeric) == 1 and numbers:
        found[numeric[0]] = numbers[0]


def arguments_from_text(
    schema: Mapping[str, Any], text: str, *, tool_name: str = "", fill_all: bool = False
) -> dict[str, Any]:
    """Arguments for a function whose parameters are ``schema``, read from ``text``.

    Args:
        schema: The function's ``parameters`` (a JSON schema of an object).
        text: The user's last message.
        tool_name: The function's name, never taken as a value.
        fill_all: Fill every property, not only the required ones (for JSON replies).
    """
    properties: Mapping[str, Any] = schema.get("properties") or {}
    required = [name for name in schema.get("required", []) if isinstance(name, str)]
    found: dict[str, Any] = {}
    embedded = _json_object(text)
    if embedded:
        found.update({k: v for k, v in embedded.items() if not properties or k in properties})
    for name, prop in properties.items():
        if name in found:
            continue
        pattern = rf"\b{re.escape(name)}\s*[=:]\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s,;]+))"
        match = re.search(pattern, text)
        if match:
            found[name] = next(group for group in match.groups() if group is not None)
            continue
        choices = prop.get("enum") if isinstance(prop, Mapping) else None
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, str) and re.search(
                    rf"\b{re.escape(choice)}\b", text, re.IGNORECASE
                ):
                    found[name] = choice
                    break
    _guess(properties, found, text)
    free_text = [
        name
        for name in (required or list(properties))
        if name not in found and _is_free_text(properties.get(name, {}))
    ]
    if len(free_text) == 1:
        value = _obvious_string(text, tool_name)
        if value:
            found[free_text[0]] = value
    arguments: dict[str, Any] = {}
    wanted = (
        list(properties) if fill_all else [n for n in properties if n in required or n in found]
    )
    for name in [*wanted, *[n for n in required if n not in properties]]:
        prop = properties.get(name, {})
        arguments[name] = _coerce(found[name], prop) if name in found else placeholder(prop)
    for name, value in found.items():
        arguments.setdefault(name, value)
    return arguments
