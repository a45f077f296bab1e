"""ToolRegistry.call: validation, coercion, errors, timeouts, results the model can use."""

import asyncio
import dataclasses
import datetime as dt
import functools
import json
import threading
import time
from typing import Annotated, Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from mistral_nb._tools import ToolOutcome, ToolRegistry


class Address(BaseModel):
    street: str
    zip_code: int


@dataclasses.dataclass
class Point:
    x: float
    y: float


def check_outcome(outcome: ToolOutcome) -> None:
    """What every outcome promises, whatever happened."""
    assert outcome.status in {"ok", "error", "timeout", "rejected"}
    assert outcome.result  # never falsy: pipecat would not re-run the model
    json.dumps(outcome.result, allow_nan=False)
    assert outcome.started_at.tzinfo is dt.UTC
    assert outcome.duration_s >= 0
    assert (outcome.error is None) == (outcome.status == "ok")
    json.dumps(outcome.to_dict(), allow_nan=False)


@pytest.fixture
def calls() -> list[Any]:
    return []


@pytest.fixture
def registry(calls) -> ToolRegistry:
    registry = ToolRegistry()

    @registry.register
    def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
        """Current weather for a city."""
        calls.append(("get_weather", city, unit))
        if not city:
            raise ValueError("city must not be empty")
        return {"city": city, "temperature": 21, "unit": unit}

    @registry.register
    async def add(a: int, b: int = 0) -> int:
        calls.append(("add", a, b))
        return a + b

    @registry.register
    def ship(to: Address, at: Point, count: Annotated[int, Field(ge=1)] = 1) -> str:
        calls.append(("ship", to, at, count))
        return f"{count} to {to.street}"

    return registry


# -- successful calls ----------------------------------------------------------------


async def test_sync_call(registry, calls):
    before = dt.datetime.now(dt.UTC)
    outcome = await registry.call("get_weather", {"city": "Paris"})
    check_outcome(outcome)
    assert outcome.status == "ok"
    assert outcome.ok
    assert outcome.result == {"city": "Paris", "temperature": 21, "unit": "celsius"}
    assert outcome.error is None and outcome.exception is None
    assert outcome.name == "get_weather"
    assert outcome.arguments == {"city": "Paris"}
    assert before <= outcome.started_at <= dt.datetime.now(dt.UTC)
    assert calls == [("get_weather", "Paris", "celsius")]


async def test_async_call_and_json_string_arguments(registry, calls):
    outcome = await registry.call("add", '{"a": 2, "b": 3}')
    assert (outcome.status, outcome.result) == ("ok", 5)
    assert outcome.arguments == '{"a": 2, "b": 3}'  # as received
    assert calls == [("add", 2, 3)]


@pytest.mark.parametrize("arguments", [None, "", "  ", b"{}", {}])
async def test_no_arguments(arguments):
    registry = ToolRegistry()

    @registry.register
    def now() -> str:
        return "noon"

    outcome = await registry.call("now", arguments)
    assert (outcome.status, outcome.result) == ("ok", "noon")


async def test_arguments_are_coerced_with_the_functions_types(registry, calls):
    outcome = await registry.call("add", {"a": "3", "b": 4.0})
    assert (outcome.status, outcome.result) == ("ok", 7)
    assert calls == [("add", 3, 4)]
    assert type(calls[0][1]) is int and type(calls[0][2]) is int


async def test_numbers_are_accepted_for_strings(registry, calls):
    outcome = await registry.call("get_weather", {"city": 75001})
    assert outcome.status == "ok"
    assert calls == [("get_weather", "75001", "celsius")]


async def test_nested_models_and_dataclasses_are_built_from_dicts(registry, calls):
    outcome = await registry.call(
        "ship", {"to": {"street": "Rue de Rivoli", "zip_code": "75001"}, "at": {"x": 1, "y": "2.5"}}
    )
    assert (outcome.status, outcome.result) == ("ok", "1 to Rue de Rivoli")
    (_, to, at, count) = calls[0]
    assert to == Address(street="Rue de Rivoli", zip_code=75001)
    assert at == Point(1.0, 2.5)
    assert count == 1


async def test_left_out_arguments_get_the_functions_own_defaults():
    registry = ToolRegistry()
    default: list[str] = []
    seen = []

    @registry.register
    def collect(tags: list[str] = default) -> int:
        seen.append(tags)
        return 1

    await registry.call("collect", {})
    assert seen[0] is default  # not a copy made by validation


async def test_positional_only_parameters():
    registry = ToolRegistry()

    @registry.register
    def power(base: float, exponent: int = 2, /, *, label: str = "") -> str:
        return f"{label}{base**exponent:g}"

    assert (await registry.call("power", {"base": 3})).result == "9"
    assert (await registry.call("power", {"base": 2, "exponent": 3, "label": "="})).result == "=8"


class Counter:
    """Counts."""

    def __init__(self) -> None:
        self.total = 0

    def bump(self, by: int) -> int:
        self.total += by
        return self.total


class AsyncEcho:
    async def __call__(self, text: str) -> str:
        await asyncio.sleep(0)
        return text


def scale(factor: float, value: float) -> float:
    return factor * value


async def test_methods_partials_and_callable_objects():
    registry = ToolRegistry()
    counter = Counter()
    registry.register(counter.bump)
    registry.register(functools.partial(scale, factor=10.0), name="tenfold")
    registry.register(AsyncEcho(), name="echo")
    assert registry["echo"].is_async
    assert (await registry.call("bump", {"by": 2})).result == 2
    assert counter.total == 2
    assert (await registry.call("tenfold", {"value": "1.5"})).result == 15.0
    assert (await registry.call("tenfold", {"value": 1, "factor": 2})).status == "rejected"
    assert (await registry.call("echo", {"text": "hi"})).result == "hi"


async def test_a_sync_tool_runs_off_the_event_loop():
    registry = ToolRegistry()
    loop_thread = threading.get_ident()
    ticks = []

    @registry.register
    def slow() -> int:
        time.sleep(0.2)
        return threading.get_ident()

    async def ticker() -> None:
        for _ in range(5):
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.02)

    outcome, _ = await asyncio.gather(registry.call("slow"), ticker())
    assert outcome.result != loop_thread
    assert len(ticks) == 5 and ticks[-1] - ticks[0] < 0.19  # the loop kept turning


async def test_a_sync_function_returning_a_coroutine_is_awaited():
    registry = ToolRegistry()

    async def later(x: int) -> int:
        return x * 2

    def deferred(x: int):  # e.g. a sync wrapper around an async client
        return later(x)

    registry.register(deferred)
    assert not registry["deferred"].is_async
    assert (await registry.call("deferred", {"x": 4})).result == 8


async def test_outcome_to_dict(registry):
    outcome = await registry.call("add", '{"a": 1}')
    assert outcome.to_dict() == {
        "name": "add",
        "arguments": '{"a": 1}',
        "status": "ok",
        "result": 1,
        "error": None,
        "started_at": outcome.started_at.isoformat(),
        "duration_s": outcome.duration_s,
    }


# -- falsy results -----------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, 0, 0.0, "", [], {}, False, (), set()])
async def test_falsy_results_are_wrapped(value):
    registry = ToolRegistry()
    registry.register(lambda: value, name="nothing")
    outcome = await registry.call("nothing", {})
    check_outcome(outcome)
    assert outcome.result == {"result": [] if isinstance(value, tuple | set) else value}


@pytest.mark.parametrize("value", [1, "x", [0], {"a": None}, True, 0.5])
async def test_truthy_results_go_back_as_they_are(value):
    registry = ToolRegistry()
    registry.register(lambda: value, name="something")
    assert (await registry.call("something", {})).result == value


async def test_results_are_made_json_compatible():
    registry = ToolRegistry()
    registry.register(lambda: {"when": dt.date(2024, 5, 1), "where": Point(1, 2)}, name="f")
    outcome = await registry.call("f")
    assert outcome.result == {"when": "2024-05-01", "where": {"x": 1, "y": 2}}


# -- rejected calls: the function never runs -----------------------------------------


async def test_invalid_arguments_are_rejected_with_each_problem(registry, calls):
    outcome = await registry.call("get_weather", {"unit": "kelvin", "country": "FR"})
    check_outcome(outcome)
    assert outcome.status == "rejected"
    assert calls == []  # the function was not called
    assert outcome.result["status"] == "rejected"
    assert outcome.result["problems"] == [
        {
            "parameter": "city",
            "problem": "missing required argument",
            "expected": {"type": "string"},
        },
        {
            "parameter": "unit",
            "problem": "Input should be 'celsius' or 'fahrenheit'",
            "got": "kelvin",
            "expected": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        {
            "parameter": "country",
            "problem": "unexpected argument; get_weather takes city, unit",
            "got": "FR",
        },
    ]
    assert outcome.error == (
        "invalid arguments for get_weather: city: missing required argument; "
        "unit: Input should be 'celsius' or 'fahrenheit' (got \"kelvin\"); "
        'country: unexpected argument; get_weather takes city, unit (got "FR")'
    )
    assert outcome.result["error"] == (
        outcome.error + ". Call get_weather again with corrected arguments."
    )


async def test_nested_problems_have_a_path(registry, calls):
    arguments = {"to": {"street": "x"}, "at": {"x": 1, "y": "up"}, "count": 0}
    outcome = await registry.call("ship", arguments)
    assert calls == []
    assert [(p["parameter"], p["problem"]) for p in outcome.result["problems"]] == [
        ("to.zip_code", "missing required field"),
        ("at.y", "Input should be a valid number, unable to parse string as a number"),
        ("count", "Input should be greater than or equal to 1"),
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            '{"city": ',
            "the arguments are not valid JSON (Expecting value: line 1 column 10 (char 9))",
        ),
        ("[1, 2]", "the arguments must be a JSON object of named values, not list"),
        (42, "the arguments must be a JSON object of named values, not int"),
        (b"\xff", "the arguments are not UTF-8 text"),
        # Valid JSON that json.loads refuses, with RecursionError and ValueError.
        pytest.param(
            '{"city": ' + "[" * 5000 + "]" * 5000 + "}",
            "the arguments are nested too deeply to read",
            id="nested 5000 deep",
        ),
        pytest.param(
            '{"city": ' + "9" * 5000 + "}",
            "the arguments hold an integer of more than 4300 digits",
            id="5000 digits",
        ),
    ],
)
async def test_arguments_that_are_not_an_object_are_rejected(registry, calls, arguments, message):
    outcome = await registry.call("get_weather", arguments)
    check_outcome(outcome)
    assert outcome.status == "rejected"
    assert outcome.error == f"invalid arguments for get_weather: {message}"
    assert outcome.arguments == arguments
    assert calls == []


async def test_unknown_and_disabled_tools_are_rejected(registry, calls):
    outcome = await registry.call("get_forecast", {"city": "Paris"})
    check_outcome(outcome)
    assert outcome.status == "rejected"
    assert outcome.error == "no tool named 'get_forecast'; available tools: get_weather, add, ship"
    assert outcome.result == {"error": outcome.error, "status": "rejected"}

    registry.disable("get_weather")
    registry.disable("ship")
    outcome = await registry.call("get_weather", {"city": "Paris"})
    assert outcome.status == "rejected"
    assert outcome.error == "the tool 'get_weather' is disabled; available tools: add"
    assert calls == []


async def test_reject_builds_an_outcome_without_running_anything(registry, calls):
    outcome = registry.reject("add", {"a": 1}, "too many tool rounds")
    check_outcome(outcome)
    assert (outcome.status, outcome.error) == ("rejected", "too many tool rounds")
    assert outcome.result == {"error": "too many tool rounds", "status": "rejected"}
    assert calls == []


# -- errors and timeouts ---------------------------------------------------------------


async def test_a_raising_tool_gives_an_error_result(registry):
    outcome = await registry.call("get_weather", {"city": ""})
    check_outcome(outcome)
    assert outcome.status == "error"
    assert outcome.error == "ValueError: city must not be empty"
    assert outcome.result == {
        "error": "get_weather raised ValueError: city must not be empty",
        "status": "error",
    }
    assert isinstance(outcome.exception, ValueError)
    assert outcome.exception.__traceback__ is not None


async def test_a_raising_async_tool_and_a_tool_raising_timeouterror():
    registry = ToolRegistry()

    @registry.register
    async def fetch(url: str) -> str:
        raise TimeoutError("upstream did not answer")

    outcome = await registry.call("fetch", {"url": "x"})
    assert outcome.status == "error"  # the tool's own TimeoutError is not our timeout
    assert outcome.error == "TimeoutError: upstream did not answer"


async def test_a_slow_sync_tool_times_out_and_its_thread_is_left_running():
    registry = ToolRegistry()
    release = threading.Event()
    finished = threading.Event()

    @registry.register(timeout=0.05)
    def stuck() -> str:
        release.wait(5)
        finished.set()
        return "late"

    start = time.perf_counter()
    outcome = await registry.call("stuck")
    check_outcome(outcome)
    assert outcome.status == "timeout"
    assert outcome.error == "stuck did not finish within 0.05 s"
    assert outcome.result == {"error": outcome.error, "status": "timeout"}
    assert time.perf_counter() - start < 1
    assert not finished.is_set()  # a thread cannot be killed: it is still running
    release.set()
    assert finished.wait(2)


async def test_a_slow_async_tool_times_out_and_is_cancelled():
    registry = ToolRegistry(default_timeout=0.05)
    cancelled = asyncio.Event()

    @registry.register
    async def wait_forever() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    outcome = await registry.call("wait_forever")
    assert outcome.status == "timeout"
    assert outcome.error == "wait_forever did not finish within 0.05 s"
    assert cancelled.is_set()


async def test_the_tool_timeout_overrides_the_registry_default():
    registry = ToolRegistry(default_timeout=0.01)

    @registry.register(timeout=2)
    async def patient() -> str:
        await asyncio.sleep(0.05)
        return "done"

    @registry.register(timeout=float("inf"))
    async def unlimited() -> str:
        await asyncio.sleep(0.05)
        return "done"

    assert (await registry.call("patient")).status == "ok"
    assert (await registry.call("unlimited")).status == "ok"
    registry.default_timeout = 1
    registry.register(lambda: "ok", name="quick")
    assert (await registry.call("quick")).status == "ok"


# -- whatever the model sends, call() answers ------------------------------------------

# The registry fixture is shared by the examples of one test, which is fine: they only call.
FIXTURES_ARE_NOT_RESET = [HealthCheck.function_scoped_fixture]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
argument_objects = st.dictionaries(
    st.sampled_from(["city", "unit", "a", "b", "to", "at", "count", "street", "x"])
    | st.text(max_size=5),
    json_values,
    max_size=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURES_ARE_NOT_RESET)
@given(
    name=st.sampled_from(["get_weather", "add", "ship", "nope"]),
    arguments=argument_objects | json_values | json_values.map(json.dumps) | st.text(max_size=12),
)
async def test_random_json_never_crashes_call(registry, name, arguments):
    outcome = await registry.call(name, arguments)
    check_outcome(outcome)
    assert outcome.status in {"ok", "rejected", "error"}


@settings(max_examples=100, deadline=None, suppress_health_check=FIXTURES_ARE_NOT_RESET)
@given(a=st.integers(), b=st.integers(), as_text=st.booleans())
async def test_valid_arguments_always_reach_the_function(registry, a, b, as_text):
    arguments = {"a": str(a), "b": str(b)} if as_text else {"a": a, "b": b}
    outcome = await registry.call("add", arguments)
    assert outcome.status == "ok"
    assert outcome.result == (a + b if a + b else {"result": 0})


async def test_a_tool_error_whose_message_cannot_be_written_is_still_an_error_outcome():
    registry = ToolRegistry()

    @registry.register
    def odd() -> None:
        """Raise an exception whose str() fails (an int too long to print)."""
        raise ValueError(10**5000)

    outcome = await registry.call("odd", {})
    assert outcome.status == "error"
    assert outcome.error.startswith("ValueError: <message unavailable")
    json.dumps(outcome.to_dict())
