"""From a Python function to a tool description: name, description, JSON Schema, validator.

:func:`describe_function` reads the signature and type hints (``from __future__ import
annotations`` included) and the docstring (Google, NumPy or reST, through
docstring_parser). Each parameter's JSON Schema comes from pydantic, then is made
acceptable to Mistral and to mistral-common, which check tools against Draft 7:

- ``$defs``/``$ref`` are inlined (recursive types are refused: nothing to inline them into),
- fixed tuples use Draft 7's ``items`` array instead of ``prefixItems``,
- pydantic's ``title`` noise and OpenAPI's ``discriminator`` are dropped.

The same annotations build a pydantic model that validates and coerces the model's
arguments before a call, so the schema the model sees and the check it meets agree: it
refuses extra keys, and the schema says ``"additionalProperties": false`` wherever it does.
Anything that cannot work fails here, at registration, with a :class:`ToolError`
naming the parameter and the fix.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import inspect
import re
import typing
import warnings
from collections.abc import Callable
from typing import Annotated, Any, get_origin

import docstring_parser
import pydantic
from pydantic import errors
from pydantic.fields import FieldInfo

from ._errors import ToolError
from ._tool_results import to_json_compatible
from ._tool_types import (
    ARGUMENTS_CONFIG,
    draft7,
    pydantic_compatible,
    pydantic_json_schema,
    type_label,
)

__all__ = ["FunctionSpec", "ParameterSpec", "describe_function"]

#: Mistral's rule for function names (mistral-common checks it too).
NAME_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")

_SUPPORTED = (
    "use str, int, float, bool, None, Literal, an Enum, list, set, tuple, dict[str, ...], "
    "a dataclass, a TypedDict or a pydantic model"
)


@dataclasses.dataclass(frozen=True)
class ParameterSpec:
    """One parameter as the model sees it."""

    name: str
    annotation: Any
    schema: dict[str, Any]
    default: Any = inspect.Parameter.empty
    positional_only: bool = False

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    @property
    def label(self) -> str:
        """``"unit: 'celsius'|'fahrenheit' = 'celsius'"``."""
        text = f"{self.name}: {type_label(self.annotation)}"
        if self.required:
            return text
        default = self.default
        if isinstance(default, enum.Enum):
            return f"{text} = {type(default).__name__}.{default.name}"
        return f"{text} = {default!r}"


@dataclasses.dataclass(frozen=True)
class FunctionSpec:
    """What registration learns about a function."""

    name: str
    description: str
    parameters: tuple[ParameterSpec, ...]
    arguments_model: type[pydantic.BaseModel]
    is_async: bool

    @property
    def json_schema(self) -> dict[str, Any]:
        """The ``parameters`` object sent to Mistral: a fresh copy each time."""
        return {
            "type": "object",
            "properties": {p.name: copy.deepcopy(p.schema) for p in self.parameters},
            "required": [p.name for p in self.parameters if p.required],
            "additionalProperties": False,  # the arguments model forbids extra keys
        }

    def bind(self, arguments: pydantic.BaseModel) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments for the call, from validated arguments.

        Only the arguments the model gave are passed, so the function's own defaults
        apply to the rest (a positional-only one left out before a given one gets its
        default explicitly).
        """
        given = {self.parameters[int(field[1:])].name for field in arguments.model_fields_set}
        values = {p.name: getattr(arguments, f"p{i}") for i, p in enumerate(self.parameters)}
        positional = [p for p in self.parameters if p.positional_only]
        last_given = max((i for i, p in enumerate(positional) if p.name in given), default=-1)
        args = [values[p.name] for p in positional[: last_given + 1]]
        kwargs = {
            p.name: values[p.name]
            for p in self.parameters
            if not p.positional_only and p.name in given
        }
        return args, kwargs


def describe_function(
    fn: Callable[..., Any], *, name: str | None = None, description: str | None = None
) -> FunctionSpec:
    """Describe ``fn`` as a tool, or raise :class:`ToolError` saying why it cannot be one."""
    if isinstance(fn, type):
        raise ToolError(
            f"{fn.__qualname__} is a class; register a function, a method or an instance "
            "with a typed __call__",
            tool=name,
        )
    if not callable(fn):
        raise ToolError(f"{fn!r} is not callable; register a function", tool=name)
    target, bound = _unwrap(fn)
    name = _tool_name(fn, target, name)
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        raise ToolError(
            f"{name} is a generator function; a tool must return its whole result "
            "(return a list instead of yielding)",
            tool=name,
        )
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ToolError(
            f"cannot read the signature of {name}: {exc}; wrap it in a typed function",
            tool=name,
        ) from exc
    hints = _type_hints(target, signature, name)
    doc = _docstring(fn, target)
    parsed = docstring_parser.parse(doc) if doc else None
    param_docs = {p.arg_name: p.description for p in parsed.params} if parsed else {}

    parameters = []
    for param in signature.parameters.values():
        if param.name in bound:
            continue  # fixed by functools.partial: not the model's to choose
        annotation = _annotation(param, hints, name, is_method=inspect.ismethod(fn))
        parameters.append(_parameter(param, annotation, param_docs.get(param.name), name))

    return FunctionSpec(
        name=name,
        description=description if description is not None else _summary(parsed),
        parameters=tuple(parameters),
        arguments_model=_arguments_model(name, parameters),
        is_async=_is_async(fn),
    )


def _unwrap(fn: Callable[..., Any]) -> tuple[Any, frozenset[str]]:
    """The object holding the annotations, and the keywords a partial already fixes."""
    if isinstance(fn, functools.partial):
        target, bound = _unwrap(fn.func)
        return target, bound | frozenset(fn.keywords)
    if inspect.ismethod(fn):
        return fn.__func__, frozenset()
    if inspect.isfunction(fn) or inspect.isbuiltin(fn):
        return fn, frozenset()
    call = _call_method(fn)
    if inspect.isfunction(call):
        return call, frozenset()
    return fn, frozenset()


def _call_method(fn: Any) -> Any:
    # The method its class defines, to compare with: not a callable() check.
    return getattr(type(fn), "__call__", None)  # noqa: B004


def _tool_name(fn: Any, target: Any, name: str | None) -> str:
    if name is None:
        name = getattr(target, "__name__", None)
        if target is _call_method(fn):
            name = type(fn).__name__
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ToolError(
            f"{name!r} is not a valid tool name: Mistral accepts 1 to 64 letters, digits, "
            "underscores and dashes; pass a valid one with name=...",
            tool=name if isinstance(name, str) else None,
        )
    return name


def _type_hints(target: Any, signature: inspect.Signature, tool: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as exc:
        # Find the parameter whose annotation cannot be resolved, to name it.
        namespace = getattr(inspect.unwrap(target), "__globals__", {})
        for param in signature.parameters.values():
            if isinstance(param.annotation, str):
                try:
                    eval(param.annotation, namespace)  # what get_type_hints does
                except Exception:  # noqa: BLE001 - evaluating an annotation may raise anything
                    raise ToolError(
                        f"the annotation {param.annotation!r} of parameter '{param.name}' of "
                        f"{tool} cannot be resolved ({type(exc).__name__}: {exc}); define the "
                        "types it uses at module level, where the function is defined",
                        tool=tool,
                        parameter=param.name,
                    ) from exc
        if inspect.isfunction(target):
            raise ToolError(
                f"the type hints of {tool} cannot be resolved ({type(exc).__name__}: {exc})",
                tool=tool,
            ) from exc
        return {}  # a builtin or other object without __annotations__: use the signature


def _annotation(param: inspect.Parameter, hints: dict[str, Any], tool: str, is_method: bool) -> Any:
    where = f"parameter '{param.name}' of {tool}"
    if param.kind is param.VAR_POSITIONAL or param.kind is param.VAR_KEYWORD:
        star = "*" if param.kind is param.VAR_POSITIONAL else "**"
        raise ToolError(
            f"{where} is {star}{param.name}: a tool takes named parameters only, since the "
            "model sends a JSON object; list the parameters explicitly",
            tool=tool,
            parameter=param.name,
        )
    annotation = hints.get(param.name, param.annotation)
    if annotation is inspect.Parameter.empty or isinstance(annotation, str):
        hint = ""
        if param.name in ("self", "cls") and not is_method:
            hint = " (to use a method, register it bound to its object: obj.method)"
        raise ToolError(
            f"{where} has no type annotation{hint}; annotate it, e.g. {param.name}: str, "
            "so the model knows what to send",
            tool=tool,
            parameter=param.name,
        )
    return pydantic_compatible(annotation, tool, param.name)


def _parameter(
    param: inspect.Parameter, annotation: Any, doc: str | None, tool: str
) -> ParameterSpec:
    where = f"parameter '{param.name}' of {tool}"
    label = type_label(annotation)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = pydantic_json_schema(annotation)
    except errors.PydanticInvalidForJsonSchema as exc:
        raise ToolError(
            f"{where} has type {label}, which cannot be described in JSON Schema for the "
            f"model; {_SUPPORTED}",
            tool=tool,
            parameter=param.name,
        ) from exc
    except errors.PydanticSchemaGenerationError as exc:
        raise ToolError(
            f"{where} has type {label}, which pydantic cannot validate from JSON; {_SUPPORTED}",
            tool=tool,
            parameter=param.name,
        ) from exc
    except errors.PydanticUserError as exc:  # e.g. a Field() misused in Annotated
        reason = str(exc).split("\n", 1)[0]
        raise ToolError(
            f"{where} has type {label}, which pydantic refuses: {reason}",
            tool=tool,
            parameter=param.name,
        ) from exc
    except Exception as exc:
        raise ToolError(
            f"{where} has type {label}, which cannot be used ({type(exc).__name__}: {exc}); "
            f"{_SUPPORTED}",
            tool=tool,
            parameter=param.name,
        ) from exc
    schema = draft7(raw, tool, param.name)
    if doc and not _field_description(annotation):
        schema["description"] = doc.strip()
    if param.default is not inspect.Parameter.empty:
        default = _json_default(param.default)
        if default is not _NO_DEFAULT:
            schema["default"] = default
    return ParameterSpec(
        name=param.name,
        annotation=annotation,
        schema=schema,
        default=param.default,
        positional_only=param.kind is param.POSITIONAL_ONLY,
    )


def _arguments_model(tool: str, parameters: list[ParameterSpec]) -> type[pydantic.BaseModel]:
    # Fields are p0, p1, ... with the parameter names as aliases: a parameter may be
    # called "schema", "copy" or "_x" without clashing with BaseModel.
    fields: dict[str, Any] = {}
    for i, p in enumerate(parameters):
        default = ... if p.required else p.default
        fields[f"p{i}"] = (p.annotation, pydantic.Field(default, alias=p.name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model: type[pydantic.BaseModel] = pydantic.create_model(  # type: ignore[call-overload]
            f"{tool}_arguments", __config__=ARGUMENTS_CONFIG, **fields
        )
    return model


_NO_DEFAULT = object()


def _json_default(value: Any) -> Any:
    """The default as JSON, or _NO_DEFAULT when only its repr could be shown."""
    encoded = to_json_compatible(value)
    if isinstance(encoded, str) and not isinstance(value, str) and encoded == repr(value):
        return _NO_DEFAULT
    return encoded


def _field_description(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return any(isinstance(m, FieldInfo) and m.description for m in annotation.__metadata__)
    return False


def _docstring(fn: Any, target: Any) -> str | None:
    # Only docstrings written for this callable: inspect.getdoc would inherit
    # object.__call__'s "Call self as a function." for a callable object.
    doc = getattr(target, "__doc__", None)
    if not doc and target is _call_method(fn):
        doc = type(fn).__doc__
    return inspect.cleandoc(doc) if isinstance(doc, str) and doc.strip() else None


def _summary(parsed: docstring_parser.Docstring | None) -> str:
    if parsed is None:
        return ""
    parts = [p.strip() for p in (parsed.short_description, parsed.long_description) if p]
    return "\n\n".join(parts)


def _is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    _target, _ = _unwrap(fn)
    return inspect.iscoroutinefunction(_target)
