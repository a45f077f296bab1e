"""From a function to the JSON Schema Mistral sees: every supported type form, docstrings.

This module uses ``from __future__ import annotations``, so every hint below is a string
resolved at registration; test_tools_calls.py covers eagerly evaluated hints.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
from collections.abc import Sequence
from typing import Annotated, Any, Literal, NotRequired, Optional, TypedDict

import jsonschema
import pytest
import typing_extensions
from mistral_common.protocol.instruct.messages import UserMessage
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.protocol.instruct.tool_calls import Function
from mistral_common.protocol.instruct.tool_calls import Tool as MistralTool
from mistral_common.protocol.instruct.validator import ValidationMode, get_validator
from mistral_common.tokens.tokenizers.base import TokenizerVersion
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
from pydantic import BaseModel, ConfigDict, Field

from mistral_nb._pipecat._chat import to_tools_schema
from mistral_nb._tools import ToolRegistry

# -- types used in signatures (module level, so string hints resolve) ------------------


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    """A postal address."""

    street: str
    zip_code: int | None = None
    title: str = "home"  # a field called "title" must survive the title clean-up


class Person(BaseModel):
    name: str = Field(description="Full name.")
    unit: Unit = Unit.CELSIUS
    addresses: list[Address] = []


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x: int


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0


class Movie(TypedDict):
    """A movie."""

    title: str
    year: NotRequired[int]


class Options(TypedDict, total=False):
    verbose: bool


class ExtMovie(typing_extensions.TypedDict):
    title: str
    year: typing_extensions.NotRequired[int]


def parameters_of(fn: Any, **options: Any) -> dict[str, Any]:
    registry = ToolRegistry()
    registry.register(fn, **options)
    (tool,) = registry
    return tool.parameters


def one_property(fn: Any) -> dict[str, Any]:
    (schema,) = parameters_of(fn)["properties"].values()
    return schema


# -- each type form against its exact schema -------------------------------------------


def f_str(x: str): ...
def f_int(x: int): ...
def f_float(x: float): ...
def f_bool(x: bool): ...
def f_none(x: None): ...
def f_optional(x: Optional[int]): ...  # noqa: UP045 - the old spelling on purpose
def f_pipe_none(x: int | None): ...
def f_union(x: int | str): ...
def f_literal(x: Literal["celsius", "fahrenheit"]): ...
def f_literal_one(x: Literal["only"]): ...
def f_literal_int(x: Literal[1, 2, 3]): ...
def f_enum(x: Unit): ...
def f_int_enum(x: Priority): ...
def f_list(x: list[int]): ...
def f_sequence(x: Sequence[str]): ...
def f_set(x: set[str]): ...
def f_frozenset(x: frozenset[int]): ...
def f_dict(x: dict[str, float]): ...
def f_bare_list(x: list): ...
def f_bare_dict(x: dict): ...
def f_tuple(x: tuple[int, str]): ...
def f_tuple_variadic(x: tuple[float, ...]): ...
def f_any(x: Any): ...
def f_datetime(x: dt.datetime): ...
def f_date(x: dt.date): ...
def f_annotated(x: Annotated[int, Field(description="How many.", ge=1, le=10)]): ...
def f_annotated_str(x: Annotated[str, Field(min_length=1, max_length=5)]): ...
def f_dataclass(x: Point): ...
def f_typeddict(x: Movie): ...
def f_typeddict_total_false(x: Options): ...
def f_typeddict_ext(x: ExtMovie): ...
def f_list_of_model(x: list[Address]): ...
def f_optional_model(x: Address | None): ...
def f_forbid(x: Strict): ...


ADDRESS = {
    "description": "A postal address.",
    "type": "object",
    "properties": {
        "street": {"type": "string"},
        "zip_code": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
        "title": {"type": "string", "default": "home"},
    },
    "required": ["street"],
}

CASES = [
    (f_str, {"type": "string"}),
    (f_int, {"type": "integer"}),
    (f_float, {"type": "number"}),
    (f_bool, {"type": "boolean"}),
    (f_none, {"type": "null"}),
    (f_optional, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
    (f_pipe_none, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
    (f_union, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
    (f_literal, {"type": "string", "enum": ["celsius", "fahrenheit"]}),
    (f_literal_one, {"type": "string", "const": "only"}),
    (f_literal_int, {"type": "integer", "enum": [1, 2, 3]}),
    (f_enum, {"type": "string", "enum": ["celsius", "fahrenheit"]}),
    (f_int_enum, {"type": "integer", "enum": [1, 2]}),
    (f_list, {"type": "array", "items": {"type": "integer"}}),
    (f_sequence, {"type": "array", "items": {"type": "string"}}),
    (f_set, {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
    (f_frozenset, {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}),
    (f_dict, {"type": "object", "additionalProperties": {"type": "number"}}),
    (f_bare_list, {"type": "array", "items": {}}),
    (f_bare_dict, {"type": "object", "additionalProperties": True}),
    (
        f_tuple,
        {
            "type": "array",
            "items": [{"type": "integer"}, {"type": "string"}],
            "minItems": 2,
            "maxItems": 2,
        },
    ),
    (f_tuple_variadic, {"type": "array", "items": {"type": "number"}}),
    (f_any, {}),
    (f_datetime, {"type": "string", "format": "date-time"}),
    (f_date, {"type": "string", "format": "date"}),
    (f_annotated, {"type": "integer", "description": "How many.", "minimum": 1, "maximum": 10}),
    (f_annotated_str, {"type": "string", "minLength": 1, "maxLength": 5}),
    # A stdlib dataclass or TypedDict refuses extra keys under the arguments model's config,
    # and its schema says so; a BaseModel keeps its own config (ADDRESS ignores extras).
    (
        f_dataclass,
        {
            "type": "object",
            "properties": {"x": {"type": "number"}, "y": {"type": "number", "default": 0.0}},
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        f_typeddict,
        {
            "description": "A movie.",
            "type": "object",
            "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
            "required": ["title"],
            "additionalProperties": False,
        },
    ),
    (
        f_typeddict_total_false,
        {
            "type": "object",
            "properties": {"verbose": {"type": "boolean"}},
            "additionalProperties": False,
        },
    ),
    (
        f_typeddict_ext,
        {
            "type": "object",
            "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
            "required": ["title"],
            "additionalProperties": False,
        },
    ),
    (f_list_of_model, {"type": "array", "items": ADDRESS}),
    (f_optional_model, {"anyOf": [ADDRESS, {"type": "null"}]}),
    (
        f_forbid,
        {
            "type": "object",
            "properties": {"x": {"type": "integer"}},
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
]


@pytest.mark.parametrize(("fn", "expected"), CASES, ids=[fn.__name__ for fn, _ in CASES])
def test_each_type_form_gives_its_exact_schema(fn, expected):
    assert parameters_of(fn) == {
        "type": "object",
        "properties": {"x": expected},
        "required": ["x"],
        "additionalProperties": False,
    }


def test_nested_models_are_inlined_without_refs_or_titles():
    def add_person(person: Person) -> None:
        """Add a person."""

    assert one_property(add_person) == {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Full name."},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
            "addresses": {"type": "array", "items": ADDRESS, "default": []},
        },
        "required": ["name"],
    }


def test_defaults_make_parameters_optional_and_show_up():
    def book(
        city: str,
        nights: int = 1,
        unit: Unit = Unit.FAHRENHEIT,
        when: dt.date = dt.date(2024, 5, 1),
        note: str | None = None,
        tags: tuple[str, ...] = ("a", "b"),
    ) -> None: ...

    assert parameters_of(book) == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "nights": {"type": "integer", "default": 1},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "fahrenheit"},
            "when": {"type": "string", "format": "date", "default": "2024-05-01"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "tags": {"type": "array", "items": {"type": "string"}, "default": ["a", "b"]},
        },
        "required": ["city"],
        "additionalProperties": False,
    }


def test_a_default_with_no_json_form_is_left_out_but_still_optional():
    sentinel = object()

    def f(x: Any = sentinel) -> None: ...

    assert parameters_of(f) == {
        "type": "object",
        "properties": {"x": {}},
        "required": [],
        "additionalProperties": False,
    }


def test_no_parameters():
    def now() -> str:
        """The time."""

    assert parameters_of(now) == {
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
    }


# -- every schema is valid for jsonschema Draft 7, mistral-common and the tokenizer ----


def all_case_functions() -> list[Any]:
    def everything(
        a: Person,
        b: Movie,
        c: Options,
        d: tuple[int, str],
        e: Point,
        f: list[Address] | None = None,
    ) -> None: ...

    return [fn for fn, _ in CASES] + [everything]


@pytest.fixture(scope="module")
def tokenizer() -> MistralTokenizer:
    return MistralTokenizer.v3(is_tekken=True)


@pytest.mark.parametrize("fn", all_case_functions(), ids=lambda fn: fn.__name__)
def test_schemas_pass_draft7_and_mistral_common(fn, tokenizer):
    registry = ToolRegistry()
    registry.register(fn)
    (tool,) = registry
    parameters = tool.parameters
    jsonschema.Draft7Validator.check_schema(parameters)
    assert "$ref" not in repr(parameters) and "$defs" not in repr(parameters)
    # What the session's pipecat seam sends: check that exact object.
    (schema,) = to_tools_schema(registry.to_list()).standard_tools
    function = schema.to_default_dict()
    assert function == tool.to_dict()["function"]
    request = ChatCompletionRequest(
        model="mistral-small-latest",
        messages=[UserMessage(content="hi")],
        tools=[MistralTool(function=Function(**function))],
    )
    for version in (TokenizerVersion.v3, TokenizerVersion.v7, TokenizerVersion.v13):
        get_validator(version, ValidationMode.serving).validate_request(request)
    tokenizer.encode_chat_completion(request)


# -- docstrings ------------------------------------------------------------------------


def google(city: str, unit: str = "celsius") -> None:
    """Current weather for a city.

    Reads the nearest station.

    Args:
        city: City name, for example "Paris".
        unit: Temperature unit.

    Returns:
        The weather.
    """


def numpy_style(city: str, unit: str = "celsius") -> None:
    """Current weather for a city.

    Reads the nearest station.

    Parameters
    ----------
    city : str
        City name, for example "Paris".
    unit : str
        Temperature unit.
    """


def rest(city: str, unit: str = "celsius") -> None:
    """Current weather for a city.

    Reads the nearest station.

    :param city: City name, for example "Paris".
    :param str unit: Temperature unit.
    :returns: The weather.
    """


@pytest.mark.parametrize("fn", [google, numpy_style, rest], ids=["google", "numpy", "rest"])
def test_docstring_styles_give_descriptions(fn):
    registry = ToolRegistry()
    registry.register(fn, name="weather")
    tool = registry["weather"]
    assert tool.description == "Current weather for a city.\n\nReads the nearest station."
    assert tool.parameters["properties"] == {
        "city": {"type": "string", "description": 'City name, for example "Paris".'},
        "unit": {"type": "string", "description": "Temperature unit.", "default": "celsius"},
    }


def test_explicit_description_wins_and_missing_docstring_gives_empty():
    registry = ToolRegistry()
    registry.register(google, description="Weather, now.")

    def bare(x: int) -> None:
        pass

    registry.register(bare)
    assert registry["google"].description == "Weather, now."
    assert registry["bare"].description == ""


def test_field_description_wins_over_the_docstring():
    def f(n: Annotated[int, Field(description="From Field.")], m: int) -> None:
        """Do it.

        Args:
            n: From the docstring.
            m: Also from the docstring.
        """

    assert parameters_of(f)["properties"] == {
        "n": {"type": "integer", "description": "From Field."},
        "m": {"type": "integer", "description": "Also from the docstring."},
    }


# -- other callables ---------------------------------------------------------------------


class Thermometer:
    def __init__(self, offset: float) -> None:
        self.offset = offset

    def read(self, city: str) -> float:
        """Read a city's temperature.

        Args:
            city: The city.
        """
        return 20 + self.offset


class Adder:
    """Add two numbers."""

    def __call__(self, a: int, b: int) -> int:
        return a + b


def scale(factor: float, value: float) -> float:
    """Multiply a value."""
    return factor * value


def test_bound_method_drops_self():
    registry = ToolRegistry()
    registry.register(Thermometer(1.5).read)
    tool = registry["read"]
    assert tool.description == "Read a city's temperature."
    assert tool.parameters == {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city."}},
        "required": ["city"],
        "additionalProperties": False,
    }


def test_callable_object_is_named_after_its_class():
    registry = ToolRegistry()
    registry.register(Adder())
    tool = registry["Adder"]
    assert tool.description == "Add two numbers."
    assert tool.parameters["required"] == ["a", "b"]


def test_partial_hides_the_arguments_it_fixes():
    registry = ToolRegistry()
    registry.register(functools.partial(scale, factor=2.0), name="double")
    registry.register(functools.partial(scale, 3.0), name="triple")
    expected = {
        "type": "object",
        "properties": {"value": {"type": "number"}},
        "required": ["value"],
        "additionalProperties": False,
    }
    assert registry["double"].parameters == expected
    assert registry["triple"].parameters == expected
    assert registry["double"].description == "Multiply a value."
