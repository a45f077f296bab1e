"""Structured output: a schema becomes Mistral's ``response_format``, a reply becomes an object.

A schema is one of:

- a pydantic model class: sent as ``json_schema`` (strict), its reply parsed into an
  instance of the model;
- a JSON Schema dict: sent as ``json_schema`` (strict), its reply parsed with ``json`` and
  validated with ``jsonschema``;
- ``"json"``: sent as ``json_object``, any JSON reply accepted;
- a whole ``response_format`` dict (``{"type": "json_schema", "json_schema": {...}}``,
  ``{"type": "json_object"}``, ``{"type": "text"}``), checked and sent as it is, so the
  setting and the ``schema=`` argument take the same values.

:func:`to_response_format` raises a :class:`SettingsError` (field ``response_format``) for
a schema Mistral would refuse, checked with mistral-common's own ``ResponseFormat`` model,
the validator Mistral's server runs. :func:`parse_reply` never raises: a reply that does not
fit gives ``(None, message)`` naming the field and the problem, for the turn's error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pydantic

from ._errors import SettingsError

__all__ = ["parse_reply", "schema_label", "to_response_format"]

_JSON_NAMES = frozenset({"json", "json_object"})
_FORMAT_TYPES = frozenset({"text", "json_object", "json_schema"})
_ACCEPTED = (
    "pass a pydantic model class, a JSON Schema dict, 'json' (any JSON object), or a "
    "response_format dict"
)
_MAX_ERRORS = 5  # listed in a message; the rest are counted

# Draft 7 keywords whose values are schemas: a map of them, a list of them, or one.
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "items")
_SCHEMA_VALUES = (
    "items", "additionalProperties", "additionalItems", "not", "contains", "propertyNames",
    "if", "then", "else",
)  # fmt: skip


# -- schema -> response_format --------------------------------------------------------------


def to_response_format(schema: Any) -> dict[str, Any]:
    """Mistral's ``response_format`` for ``schema``.

    A pydantic model's schema is made acceptable to Mistral and mistral-common: ``$ref``
    inlined (a recursive model keeps Draft 7 ``definitions``), fixed tuples in Draft 7
    form, ``"additionalProperties": false`` on every object with properties (what Mistral's
    own SDK does in ``chat.parse``), ``strict: true``. A JSON Schema dict is sent unchanged.

    Args:
        schema: A pydantic model class, a JSON Schema dict, ``"json"``, or a
            ``response_format`` dict.

    Returns:
        A new dict, ready for the request body.

    Raises:
        SettingsError: ``schema`` is none of those, or Mistral would refuse it.
    """
    if isinstance(schema, str):
        if schema in _JSON_NAMES:
            return {"type": "json_object"}
        if schema == "text":
            return {"type": "text"}
        raise _error(f"response_format {schema!r} is not a format; {_ACCEPTED}", schema)
    if _is_model_class(schema):
        try:
            raw = schema.model_json_schema()
        except pydantic.PydanticUserError as exc:
            raise _error(
                f"{schema.__name__} has no JSON Schema ({str(exc).splitlines()[0]}); give its "
                "fields JSON types (str, int, float, bool, lists, dicts, nested models)",
                schema,
            ) from exc
        wire = _for_mistral(raw)
        return _checked(
            {
                "type": "json_schema",
                "json_schema": {
                    "name": _wire_name(schema.__name__),
                    "schema": wire,
                    "strict": True,
                },
            },
            schema,
        )
    if isinstance(schema, pydantic.BaseModel):
        name = type(schema).__name__
        raise _error(f"got an instance of {name}; pass the class itself: schema={name}", schema)
    if isinstance(schema, Mapping):
        plain = _plain_json(schema)
        if isinstance(plain.get("type"), str) and plain["type"] in _FORMAT_TYPES:
            return _checked(plain, schema)
        _check_draft7(plain, schema)
        return _checked(
            {
                "type": "json_schema",
                "json_schema": {
                    "name": _wire_name(str(plain.get("title") or "response")),
                    "schema": plain,
                    "strict": True,
                },
            },
            schema,
        )
    if schema is None:
        raise _error(f"no schema given; {_ACCEPTED}", schema)
    raise _error(f"a {type(schema).__name__} is not a schema; {_ACCEPTED}", schema)


def _is_model_class(schema: Any) -> bool:
    return isinstance(schema, type) and issubclass(schema, pydantic.BaseModel)


def _wire_name(name: str) -> str:
    # OpenAI-compatible clients expect ^[a-zA-Z0-9_-]{1,64}$; Mistral documents no rule.
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "response"


def _plain_json(schema: Mapping[Any, Any]) -> dict[str, Any]:
    """A deep copy through JSON: the caller's dict is never changed or shared."""
    try:
        copy = json.loads(json.dumps(schema, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise _error(f"the schema is not plain JSON ({exc}); use dicts, lists, strings, "
                     "numbers, booleans and None only", schema) from exc  # fmt: skip
    assert isinstance(copy, dict)
    return copy


def _check_draft7(plain: dict[str, Any], original: Any) -> None:
    import jsonschema  # deferred: its format checkers take seconds to import

    try:
        jsonschema.Draft7Validator.check_schema(plain)
    except jsonschema.SchemaError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "the top level"
        raise _error(
            f"the schema is not valid JSON Schema (Draft 7) at {where}: {exc.message}; correct "
            "it, or pass a pydantic model class instead",
            original,
        ) from exc


def _checked(response_format: dict[str, Any], original: Any) -> dict[str, Any]:
    """``response_format`` after mistral-common's own model accepted it."""
    # Deferred: mistral-common's protocol package takes seconds to import, and only a
    # schema being checked needs it.
    from mistral_common.protocol.instruct.request import ResponseFormat

    try:
        ResponseFormat.model_validate(response_format)
    except pydantic.ValidationError as exc:
        raise _error(
            f"Mistral would refuse this response_format: {_pydantic_errors(exc)}", original
        ) from exc
    return response_format


def _for_mistral(schema: dict[str, Any]) -> dict[str, Any]:
    """pydantic's schema with refs inlined, tuples in Draft 7 form and objects closed."""
    defs: dict[str, Any] = schema.pop("$defs", {})
    recursive: set[str] = set()

    def walk(node: Any, stack: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        node = dict(node)
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            key = ref.rsplit("/", 1)[-1]
            if key in stack:  # a recursive model: refer to it, as nothing can inline it
                recursive.add(key)
                node["$ref"] = f"#/definitions/{key}"
            else:
                del node["$ref"]
                node = {**walk(defs[key], (*stack, key)), **node}
        node.pop("discriminator", None)  # OpenAPI's, naming the $defs we inlined
        if "prefixItems" in node:
            node["items"] = node.pop("prefixItems")
        for keyword in _SCHEMA_MAPS:
            if isinstance(node.get(keyword), dict):
                node[keyword] = {k: walk(v, stack) for k, v in node[keyword].items()}
        for keyword in _SCHEMA_LISTS:
            if isinstance(node.get(keyword), list):
                node[keyword] = [walk(v, stack) for v in node[keyword]]
        for keyword in _SCHEMA_VALUES:
            if isinstance(node.get(keyword), dict):
                node[keyword] = walk(node[keyword], stack)
        if isinstance(node.get("properties"), dict) and node.get("additionalProperties") in (
            None,
            True,
        ):
            node["additionalProperties"] = False
        return node

    result: dict[str, Any] = walk(schema, ())
    if recursive:
        # Each recursive definition is written out once, with its own self-references.
        result["definitions"] = {key: walk(defs[key], (key,)) for key in sorted(recursive)}
    return result


# -- reply -> object --------------------------------------------------------------------------


def parse_reply(text: Any, schema: Any) -> tuple[Any, str | None]:
    """Parse a reply sent under ``schema``: ``(object, None)`` or ``(None, message)``.

    Never raises. The object is an instance of the pydantic model, the parsed JSON
    (validated against a JSON Schema dict), or any parsed JSON for ``"json"``. A reply
    wrapped in one Markdown code fence (```` ```json ... ``` ````) is unwrapped first.

    Args:
        text: The reply's text.
        schema: What the request asked for, as given to :func:`to_response_format`.

    Returns:
        The parsed object and None, or None and a message that names the field at fault
        and what is wrong with it.
    """
    try:
        return _parse(text, schema)
    except Exception as exc:  # noqa: BLE001 - the turn reports it; parsing must not raise
        return None, f"the reply could not be checked against the schema ({exc!r})"


def _parse(text: Any, schema: Any) -> tuple[Any, str | None]:
    if schema == "text" or (isinstance(schema, Mapping) and schema.get("type") == "text"):
        return text, None
    if not isinstance(text, str) or not text.strip():
        return None, "the reply is empty, not JSON; ask again, or say in the prompt what to extract"
    body = _unfence(text)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, _json_error(body, exc)
    if _is_model_class(schema):
        try:
            return schema.model_validate_json(body), None
        except pydantic.ValidationError as exc:
            return None, f"the reply does not match {schema.__name__}: {_pydantic_errors(exc)}"
    if isinstance(schema, str) and schema in _JSON_NAMES:
        return data, None
    if isinstance(schema, Mapping):
        if schema.get("type") == "json_object":
            return data, None
        json_schema: Any = schema
        if schema.get("type") == "json_schema":
            json_schema = (schema.get("json_schema") or {}).get("schema", {})
        return _validate(data, json_schema, schema_label(schema))
    return None, f"{schema_label(schema) or 'the schema'} is not a schema; {_ACCEPTED}"


def _unfence(text: str) -> str:
    match = re.fullmatch(r"\s*```[A-Za-z0-9_-]*[ \t]*\n(.*?)\n?```\s*", text, flags=re.DOTALL)
    return match.group(1) if match else text


def _json_error(body: str, exc: json.JSONDecodeError) -> str:
    message = f"the reply is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    stops_early = exc.msg.startswith("Unterminated string") or exc.pos >= len(body.rstrip()) - 1
    if stops_early and body.lstrip()[:1] in ("{", "["):
        message += (
            "; it stops mid-JSON, probably cut short by max_tokens (finish_reason 'length'): "
            "raise max_tokens and ask again"
        )
    return message


def _validate(data: Any, json_schema: Any, label: str) -> tuple[Any, str | None]:
    import jsonschema  # deferred: its format checkers take seconds to import

    validator_class = jsonschema.validators.validator_for(
        json_schema, default=jsonschema.Draft7Validator
    )
    validator = validator_class(json_schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return data, None
    parts = [f"{_loc(e.absolute_path)}: {_shorten(e.message)}" for e in errors[:_MAX_ERRORS]]
    more = f"; and {len(errors) - _MAX_ERRORS} more" if len(errors) > _MAX_ERRORS else ""
    return None, f"the reply does not match {label or 'the schema'}: {'; '.join(parts)}{more}"


def _pydantic_errors(exc: pydantic.ValidationError) -> str:
    errors = exc.errors(include_url=False)
    parts = []
    for error in errors[:_MAX_ERRORS]:
        part = f"{_loc(error['loc'])}: {error['msg']}"
        if error["type"] not in ("missing", "extra_forbidden") and "input" in error:
            part += f" (got {_shorten(repr(error['input']), 40)})"
        parts.append(part)
    more = f"; and {len(errors) - _MAX_ERRORS} more" if len(errors) > _MAX_ERRORS else ""
    return "; ".join(parts) + more


def _loc(path: Any) -> str:
    return ".".join(str(part) for part in path) or "(the whole reply)"


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- a short name for the log -------------------------------------------------------------------


def schema_label(schema: Any) -> str:
    """A short name for ``schema``, for a ``schema`` column: ``Book``, ``json``, ``{name, age}``.

    Never raises; ``""`` for no schema.
    """
    if schema is None:
        return ""
    if isinstance(schema, str):
        return "json" if schema in _JSON_NAMES else schema
    if _is_model_class(schema):
        return str(schema.__name__)
    if isinstance(schema, Mapping):
        kind = schema.get("type")
        if kind == "json_object":
            return "json"
        if kind == "text":
            return "text"
        if kind == "json_schema" and isinstance(schema.get("json_schema"), Mapping):
            return str(schema["json_schema"].get("name") or "json_schema")
        if schema.get("title"):
            return str(schema["title"])
        properties = schema.get("properties")
        if isinstance(properties, Mapping) and properties:
            names = [str(name) for name in properties]
            shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
            return "{" + shown + "}"
        return "json_schema"
    return type(schema).__name__


def _error(message: str, value: Any) -> SettingsError:
    return SettingsError(message, field="response_format", value=value)
