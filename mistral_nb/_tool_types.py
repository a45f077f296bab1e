"""Helpers on type annotations: a readable label, pydantic-friendly TypedDicts, and the
Draft 7 JSON Schema of a parameter, written the way the arguments model validates it."""

from __future__ import annotations

import enum
import types
import typing
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pydantic
import typing_extensions
from pydantic.json_schema import GenerateJsonSchema

from ._errors import ToolError

__all__ = [
    "ARGUMENTS_CONFIG",
    "draft7",
    "pydantic_compatible",
    "pydantic_json_schema",
    "type_label",
]

#: The arguments model's config. Nested TypedDicts and stdlib dataclasses inherit it from
#: the model, so they refuse extra keys too: each parameter's schema is written under it.
ARGUMENTS_CONFIG = pydantic.ConfigDict(extra="forbid", coerce_numbers_to_str=True)


def pydantic_compatible(annotation: Any, tool: str, parameter: str) -> Any:
    """``annotation`` with stdlib TypedDicts swapped for typing_extensions ones.

    pydantic refuses ``typing.TypedDict`` before Python 3.12; the copy keeps the keys,
    their types, which of them are required, and the docstring.
    """
    seen: dict[Any, Any] = {}

    def convert(tp: Any) -> Any:
        if typing_extensions.is_typeddict(tp) and type(tp).__module__ == "typing":
            if tp in seen:
                if seen[tp] is None:
                    raise ToolError(
                        f"parameter '{parameter}' of {tool} uses the recursive TypedDict "
                        f"{tp.__qualname__}, which cannot be written out for Mistral",
                        tool=tool,
                        parameter=parameter,
                    )
                return seen[tp]
            seen[tp] = None
            hints = typing.get_type_hints(tp, include_extras=True)
            fields = {}
            for key, hint in hints.items():
                # An explicit qualifier wins: with string annotations, Python 3.11 leaves
                # NotRequired keys in __required_keys__.
                wrap = get_origin(hint)
                if wrap in (typing.Required, typing.NotRequired):
                    hint = get_args(hint)[0]
                else:
                    required = key in tp.__required_keys__
                    wrap = typing.Required if required else typing.NotRequired
                fields[key] = wrap[convert(hint)]
            copy_ = typing_extensions.TypedDict(tp.__name__, fields)  # type: ignore[operator,misc]
            copy_.__doc__ = tp.__doc__
            copy_.__module__ = tp.__module__
            copy_.__qualname__ = tp.__qualname__
            seen[tp] = copy_
            return copy_
        origin, args = get_origin(tp), get_args(tp)
        if origin is None or not args or origin is Literal:
            return tp
        if origin is Annotated:
            inner = convert(args[0])
            if inner is args[0]:
                return tp
            return Annotated[(inner, *tp.__metadata__)]  # type: ignore[return-value]
        new = tuple(convert(a) for a in args)
        if all(n is a for n, a in zip(new, args, strict=True)):
            return tp
        if origin in (Union, types.UnionType):
            return Union[new]  # noqa: UP007
        if hasattr(tp, "copy_with"):
            return tp.copy_with(new)
        return origin[new]

    return convert(annotation)


def type_label(tp: Any) -> str:
    """A short, readable form of a type: ``'celsius'|'fahrenheit'``, ``list[str] | None``."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return type_label(args[0])
    if tp is None or tp is type(None):
        return "None"
    if tp is Any:
        return "Any"
    if tp is Ellipsis:
        return "..."
    if isinstance(tp, list):  # Callable's parameter list
        return "[" + ", ".join(type_label(a) for a in tp) + "]"
    if origin is Literal:
        return "|".join(repr(a.value if isinstance(a, enum.Enum) else a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(type_label(a) for a in args)
    if origin in (typing.Required, typing.NotRequired):
        return type_label(args[0])
    if origin is not None:
        base = getattr(origin, "__name__", None) or repr(origin).replace("typing.", "")
        inner = ", ".join(type_label(a) for a in args) if args else "()"
        return f"{base}[{inner}]"
    if isinstance(tp, type):
        return tp.__name__
    return repr(tp).replace("typing.", "")


def pydantic_json_schema(annotation: Any) -> dict[str, Any]:
    """pydantic's JSON Schema of ``annotation`` as a field under :data:`ARGUMENTS_CONFIG`.

    Not a bare TypeAdapter: what nested types inherit from the config (extra keys
    refused) shows in the schema as it does in the validator. Raises pydantic's errors.
    """
    holder = pydantic.create_model("holder", __config__=ARGUMENTS_CONFIG, x=annotation)
    wrapped = holder.model_json_schema(schema_generator=_Draft7Schema)
    (field,) = wrapped["properties"].values()
    return {**field, "$defs": wrapped.get("$defs", {})}


class _Draft7Schema(GenerateJsonSchema):
    """pydantic's generator, with tuples in Draft 7 form and every closed dataclass marked."""

    def dataclass_schema(self, schema: Any) -> dict[str, Any]:
        # pydantic takes a dataclass's extra rule from the class alone, but a stdlib
        # dataclass validates with the enclosing model's config, which the core schema holds.
        result = super().dataclass_schema(schema)
        if schema.get("config", {}).get("extra_fields_behavior") == "forbid":
            result.setdefault("additionalProperties", False)
        return result

    def tuple_schema(self, schema: Any) -> dict[str, Any]:
        result = super().tuple_schema(schema)
        if "prefixItems" in result:
            result["items"] = result.pop("prefixItems")
        return result


def draft7(schema: dict[str, Any], tool: str, parameter: str) -> dict[str, Any]:
    """pydantic's schema in the form Mistral and mistral-common accept: ``$ref`` inlined
    (a recursive one is a :class:`ToolError`), no ``title`` or ``discriminator``."""
    defs = schema.pop("$defs", {})

    def walk(node: Any, stack: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        node = dict(node)
        ref = node.pop("$ref", None)
        if ref is not None:
            key = ref.rsplit("/", 1)[-1]
            if key in stack:
                raise ToolError(
                    f"parameter '{parameter}' of {tool} uses the recursive type {key}, which "
                    "cannot be written out for Mistral (a tool schema cannot refer to itself); "
                    "use a fixed nesting depth instead",
                    tool=tool,
                    parameter=parameter,
                )
            node = {**walk(defs[key], (*stack, key)), **node}
        node.pop("title", None)
        node.pop("discriminator", None)
        for keyword in ("properties", "patternProperties", "definitions"):
            if isinstance(node.get(keyword), dict):
                node[keyword] = {k: walk(v, stack) for k, v in node[keyword].items()}
        for keyword in ("anyOf", "oneOf", "allOf", "items"):
            if isinstance(node.get(keyword), list):
                node[keyword] = [walk(v, stack) for v in node[keyword]]
        for keyword in (
            "items", "additionalProperties", "additionalItems", "not", "contains",
            "propertyNames", "if", "then", "else",
        ):  # fmt: skip
            if isinstance(node.get(keyword), dict):
                node[keyword] = walk(node[keyword], stack)
        return node

    return walk(schema, ())
