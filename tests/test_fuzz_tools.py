"""Hostile tool calls: ToolRegistry.call never raises, and a tool only ever sees valid arguments.

A registry holds tools with varied signatures (int, float, bool, str, Literal, Optional,
list[int], dict, a nested pydantic model, a dataclass, a TypedDict; sync and async; one
that raises, one that times out, one that is disabled). They are called with random JSON
values, random text, JSON text, mutations of valid arguments (keys dropped, added or
retyped, values stringified, nested values replaced, the JSON text truncated), unknown and
non-string names. Properties:

* ``call`` returns a ToolOutcome; its status is ok, error, timeout or rejected;
* ``result`` is truthy and passes ``json.dumps(allow_nan=False)``, so does ``to_dict()``;
* ``ok``: the function ran once, with values that satisfy its annotations (checked inside);
* ``rejected``: the function did not run, and the error names the tool and each problem;
* arguments drawn from the tool's own JSON schema are always accepted.
"""

import asyncio
import dataclasses
import json
import math
import types
import typing
from typing import Any, Literal, NotRequired, TypedDict, Union, get_args, get_origin

import pytest
from fuzzing import SCALE, fuzz
from hypothesis import currently_in_test_context, event, given
from hypothesis import strategies as st
from pydantic import BaseModel

import mistral_nb as mnb

pytestmark = pytest.mark.timeout(60 * SCALE)


# -- the tools ---------------------------------------------------------------------------


class Address(BaseModel):
    street: str
    zip_code: int
    tags: list[str] = []


class Parcel(BaseModel):
    to: Address
    weight_kg: float
    fragile: bool = False


@dataclasses.dataclass
class Point:
    x: float
    y: float


class Box(TypedDict):
    width: int
    height: int
    label: NotRequired[str]


RECEIVED: list[tuple[str, dict[str, Any]]] = []
"""What each tool was called with, in order: the tools append to it."""


def _received(name: str, **values: Any) -> None:
    RECEIVED.append((name, values))


def count(n: int, step: int = 1) -> int:
    """Count to n."""
    _received("count", n=n, step=step)
    return n // step if step else n


def measure(
    value: float, unit: Literal["m", "ft"] = "m", note: str | None = None
) -> dict[str, Any]:
    """A length."""
    _received("measure", value=value, unit=unit, note=note)
    return {"value": value, "unit": unit, "note": note}


def total(numbers: list[int], weights: list[float] | None = None) -> float:
    """A weighted sum."""
    _received("total", numbers=numbers, weights=weights)
    return float(sum(n * w for n, w in zip(numbers, weights or [1.0] * len(numbers))))


def ship(parcel: Parcel, where: Point, box: Box, options: dict[str, int] | None = None) -> Parcel:
    """Ship a parcel."""
    _received("ship", parcel=parcel, where=where, box=box, options=options)
    return parcel


async def flag(enabled: bool, level: Literal[1, 2, 3] = 1, /) -> bool:
    """A falsy result comes back wrapped."""
    _received("flag", enabled=enabled, level=level)
    return enabled


def nothing() -> None:
    """No parameters, no result."""
    _received("nothing")


def explode(message: str, code: int = 0) -> str:
    """Always raises."""
    _received("explode", message=message, code=code)
    raise RuntimeError(message)


async def wait(seconds: float) -> float:
    """Sleeps past its 0.05 s limit when asked for more."""
    _received("wait", seconds=seconds)
    await asyncio.sleep(min(max(seconds, 0.0), 0.2) if math.isfinite(seconds) else 0.2)
    return seconds


def hidden(x: int) -> int:
    """Disabled: every call is rejected."""
    _received("hidden", x=x)
    return x


TOOLS = [count, measure, total, ship, flag, nothing, explode, wait, hidden]
REGISTRY = mnb.ToolRegistry(default_timeout=5)
for _tool in TOOLS:
    REGISTRY.register(_tool, timeout=0.05 if _tool is wait else None)
REGISTRY.disable("hidden")
NAMES = [t.__name__ for t in TOOLS]
HINTS = {t.__name__: typing.get_type_hints(t) for t in TOOLS}


@pytest.fixture(scope="module")
def run():
    """Run one call on an event loop shared by the module's examples."""
    with asyncio.Runner() as runner:

        def call(name: Any, arguments: Any) -> mnb.ToolOutcome:
            return runner.run(REGISTRY.call(name, arguments))

        yield call


# -- what a value must look like to satisfy an annotation ---------------------------------


def conforms(value: Any, tp: Any) -> bool:
    """Whether ``value`` is what a function annotated ``tp`` may rely on receiving."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return True
    if tp is None or tp is type(None):
        return value is None
    if origin is Literal:
        return any(type(value) is type(a) and value == a for a in args)
    if origin in (Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if origin is list:
        return type(value) is list and all(conforms(v, args[0]) for v in value)
    if origin is dict:
        return type(value) is dict and all(
            conforms(k, args[0]) and conforms(v, args[1]) for k, v in value.items()
        )
    if tp in (bool, int, str):
        return type(value) is tp
    if tp is float:
        return type(value) is float
    if typing.is_typeddict(tp):
        hints = typing.get_type_hints(tp)
        return (
            type(value) is dict
            and tp.__required_keys__ <= value.keys() <= hints.keys()
            and all(conforms(v, hints[k]) for k, v in value.items())
        )
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return type(value) is tp and all(
            conforms(getattr(value, f.name), hints[f.name]) for f in dataclasses.fields(tp)
        )
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return type(value) is tp and all(
            conforms(getattr(value, name), field.annotation)
            for name, field in tp.model_fields.items()
        )
    raise AssertionError(f"conforms() does not know {tp!r}")


def test_conforms_tells_valid_from_invalid():
    assert conforms(3, int) and not conforms(True, int) and not conforms(3.0, int)
    assert conforms(None, str | None) and not conforms(1, Literal[True])
    assert conforms({"width": 1, "height": 2}, Box) and not conforms({"width": 1}, Box)
    assert not conforms({"width": 1, "height": 2, "depth": 3}, Box)
    assert conforms(Point(1.0, 2.0), Point) and not conforms(Point(1, 2.0), Point)
    parcel = Parcel(to=Address(street="a", zip_code=1), weight_kg=1.0)
    assert conforms(parcel, Parcel)


# -- strategies ------------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),  # JSON has no limit; beyond 4300 digits see the tests below
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "0", "1", "-1", "1.5", "true", "null", "NaN", "Infinity", "m", "ft"]),
)
json_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(
                st.sampled_from(["n", "x", "to", "street", "width", "label"]), st.text(max_size=8)
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
names = st.one_of(
    st.sampled_from(NAMES),
    st.text(max_size=12),
    st.sampled_from(["", " count", "COUNT", "count\x00", "__init__", "call", "hidden"]),
    st.none(),
    st.integers(),
    st.lists(st.integers(), max_size=2),
)


def _from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid for the JSON Schema subset pydantic writes for these tools."""
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([_from_schema(s) for s in schema[key]])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(-(2**63), 2**63)
    if kind == "number":
        return st.one_of(
            st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False)
        )
    if kind == "string":
        return st.text(max_size=20)
    if kind == "array":
        return st.lists(_from_schema(schema.get("items", {})), max_size=4)
    if kind == "object":
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        if isinstance(extra, dict):  # dict[str, ...]
            values = _from_schema(extra)
            return st.dictionaries(st.text(max_size=8), values, max_size=3)
        required = set(schema.get("required", []))
        known = st.fixed_dictionaries(
            {k: _from_schema(v) for k, v in properties.items() if k in required},
            optional={k: _from_schema(v) for k, v in properties.items() if k not in required},
        )
        if extra is False:
            return known
        # The schema allows other keys (a BaseModel that ignores them): so must the registry.
        others = st.dictionaries(
            st.text(max_size=8).filter(lambda k: k not in properties), json_values, max_size=2
        )
        return st.builds(lambda o, k: {**o, **k}, others, known)
    raise AssertionError(f"_from_schema() does not know {schema!r}")


def valid_arguments(name: str) -> st.SearchStrategy[dict[str, Any]]:
    return _from_schema(REGISTRY[name].parameters)


@st.composite
def mutated(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """``value`` with one thing changed, somewhere inside it."""
    if isinstance(value, dict) and value and depth < 4 and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        return {**value, key: draw(mutated(value[key], depth + 1))}
    if isinstance(value, list) and value and depth < 4 and draw(st.booleans()):
        i = draw(st.integers(0, len(value) - 1))
        return [*value[:i], draw(mutated(value[i], depth + 1)), *value[i + 1 :]]
    how = draw(st.sampled_from(["retype", "stringify", "drop", "add", "wrap", "negate"]))
    if how == "drop" and isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value)))
        return {k: v for k, v in value.items() if k != key}
    if how == "drop" and isinstance(value, list) and value:
        return value[1:]
    if how == "add" and isinstance(value, dict):
        return {**value, draw(st.text(max_size=8)): draw(json_values)}
    if how == "add" and isinstance(value, list):
        return [*value, draw(json_values)]
    if how == "stringify":
        return json.dumps(value) if not isinstance(value, str) else value
    if how == "wrap":
        return draw(st.sampled_from([[value], {"value": value}]))
    if how == "negate" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return -value
    return draw(json_values)


@st.composite
def mutated_calls(draw: st.DrawFn) -> tuple[str, Any]:
    """A valid call to a tool, then damaged, sent as a dict or as JSON text."""
    name = draw(st.sampled_from(NAMES))
    arguments = draw(mutated(draw(valid_arguments(name))))
    form = draw(st.sampled_from(["dict", "json", "truncated json"]))
    if form == "dict":
        return name, arguments
    text = json.dumps(arguments)
    if form == "truncated json":
        text = text[: draw(st.integers(0, max(len(text) - 1, 0)))]
    return name, text


json_texts = st.one_of(
    st.text(max_size=40),
    st.builds(json.dumps, json_values),
    st.sampled_from(["{", "}", "{}", "[]", "null", '{"n": }', "{'n': 1}", "\ufeff{}", "{} {}"]),
)


# -- the property ------------------------------------------------------------------------------


def check(run: Any, name: Any, arguments: Any) -> mnb.ToolOutcome:
    """Call, then hold the outcome to every promise; returns it for further checks."""
    before = len(RECEIVED)
    outcome = run(name, arguments)
    assert isinstance(outcome, mnb.ToolOutcome)
    if currently_in_test_context():
        event(f"{outcome.status} ({name if name in NAMES else 'unknown'})")
    assert outcome.status in {"ok", "error", "timeout", "rejected"}
    assert outcome.name is name and outcome.arguments is arguments
    assert outcome.result
    json.dumps(outcome.result, allow_nan=False)
    json.dumps(outcome.to_dict(), allow_nan=False)
    assert (outcome.error is None) == (outcome.status == "ok")
    ran = RECEIVED[before:]
    if outcome.status == "rejected":
        assert not ran, f"a rejected call ran the tool: {ran}"
        assert outcome.result["status"] == "rejected"
        assert outcome.result["error"].startswith(outcome.error)
        assert repr(name) in outcome.error or f"for {name}:" in outcome.error
        for problem in outcome.result.get("problems", []):
            assert problem["parameter"] and problem["problem"]
            assert f"{problem['parameter']}: {problem['problem']}" in outcome.error
        return outcome
    assert name in NAMES and name != "hidden"
    assert len(ran) == 1 and ran[0][0] == name, f"expected one call to {name}, saw {ran}"
    hints = HINTS[name]
    for parameter, value in ran[0][1].items():
        assert conforms(value, hints[parameter]), (
            f"{name} received {parameter}={value!r}, which is not a {hints[parameter]}"
        )
    if outcome.status == "error":
        assert name == "explode" and outcome.result["status"] == "error"
    if outcome.status == "timeout":
        assert name == "wait" and outcome.result["status"] == "timeout"
    return outcome


@fuzz(400)
@given(name=names, arguments=st.one_of(json_values, json_texts))
def test_random_arguments(run, name, arguments):
    check(run, name, arguments)


@fuzz(400)
@given(name=st.sampled_from(NAMES), arguments=st.one_of(json_values, json_texts))
def test_random_arguments_to_known_tools(run, name, arguments):
    check(run, name, arguments)


@fuzz(600)
@given(call=mutated_calls())
def test_mutated_arguments(run, call):
    check(run, *call)


@fuzz(400)
@given(data=st.data(), name=st.sampled_from([n for n in NAMES if n != "hidden"]))
def test_arguments_from_the_schema_are_accepted(run, data, name):
    arguments = data.draw(valid_arguments(name))
    as_text = data.draw(st.booleans())
    outcome = check(run, name, json.dumps(arguments) if as_text else arguments)
    expected = {"explode": "error"}.get(name, "ok")
    if name == "wait" and arguments["seconds"] > 0.01:
        expected = outcome.status  # may time out, it sleeps past its limit
    assert outcome.status == expected, outcome.error


# -- what the fuzzing found ----------------------------------------------------------------

_DEEP = '{"n": 1, "step": ' + "[" * 5000 + "]" * 5000 + "}"
_LONG_NUMBER = '{"n": ' + "9" * 5000 + "}"


@pytest.mark.parametrize("text", [_DEEP, _LONG_NUMBER], ids=["nested 5000 deep", "5000 digits"])
def test_json_text_that_json_loads_refuses_is_rejected(run, text):
    # json.loads raises RecursionError and a plain ValueError (sys.get_int_max_str_digits)
    # for these, not JSONDecodeError.
    outcome = check(run, "count", text)
    assert outcome.status == "rejected"


@pytest.mark.parametrize(
    ("name", "arguments"),
    [("measure", {"value": 10**5000}), ("count", {"n": 10**5000})],
    ids=["rejected", "accepted"],
)
def test_huge_integers_in_arguments_stay_json(run, name, arguments):
    # json.dumps refuses ints of more than 4300 digits (sys.get_int_max_str_digits): the
    # problem text of a rejected call and to_dict() of an accepted one must still dump.
    check(run, name, arguments)


def test_the_schema_and_the_validator_agree_on_extra_arguments(run):
    # The validator forbids extra keys; the schema once left additionalProperties out.
    outcome = check(run, "count", {"n": 1, "note": "extra"})
    assert outcome.ok or REGISTRY["count"].parameters.get("additionalProperties") is False


@pytest.mark.parametrize("key", ["parcel", "where", "box"])
def test_the_schema_and_the_validator_agree_on_extra_keys_inside(run, key):
    # A TypedDict or a dataclass takes the validator's extra="forbid", a BaseModel keeps
    # its own config (which ignores extra keys): the schema must say which.
    valid = {
        "parcel": {"to": {"street": "a", "zip_code": 1}, "weight_kg": 1.0},
        "where": {"x": 0.0, "y": 0.0},
        "box": {"width": 1, "height": 2},
    }
    outcome = check(run, "ship", {**valid, key: {**valid[key], "extra": 1}})
    closed = REGISTRY["ship"].parameters["properties"][key].get("additionalProperties") is False
    assert outcome.status == ("rejected" if closed else "ok")
