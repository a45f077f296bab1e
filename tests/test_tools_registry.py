"""ToolRegistry: registering (and refusing), enabling, observing, showing."""

import dataclasses
import logging
import socket
import typing
from collections.abc import Callable
from typing import Literal

import pytest
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.adapters.llm.services.mistral_adapter import MistralLLMAdapter
from pipecat.utils.types import NOT_GIVEN
from pydantic import BaseModel

from mistral_nb._errors import MistralNBError, ToolError
from mistral_nb._pipecat._chat import to_tools_schema
from mistral_nb._tools import DEFAULT_TIMEOUT, Tool, ToolRegistry


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
    """Current weather for a city.

    Args:
        city: City name, for example "Paris".
        unit: Temperature unit.
    """
    return {"city": city, "temperature": 21, "unit": unit}


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture
def registry() -> ToolRegistry:
    registry = ToolRegistry()
    registry.register(get_weather)
    registry.register(add)
    return registry


# -- the ways to register ----------------------------------------------------------------


def test_register_bare_as_decorator_returns_the_function_unchanged():
    registry = ToolRegistry()

    @registry.register
    def ping() -> str:
        return "pong"

    assert ping() == "pong"
    assert registry.names == ["ping"]


def test_register_with_arguments_as_decorator():
    registry = ToolRegistry()

    @registry.register(name="say-hi", description="Greets.", timeout=2)
    def hello(name: str) -> str:
        return f"hi {name}"

    assert hello("x") == "hi x"
    tool = registry["say-hi"]
    assert (tool.name, tool.description, tool.timeout, tool.fn) == ("say-hi", "Greets.", 2.0, hello)


def test_registry_call_is_register_and_returns_the_function():
    registry = ToolRegistry()
    assert registry(add) is add
    assert registry.register(get_weather, name="weather") is get_weather
    assert registry.names == ["add", "weather"]


def test_lookup_api(registry):
    assert len(registry) == 2
    assert "add" in registry and "nope" not in registry
    assert [t.name for t in registry] == ["get_weather", "add"]
    assert all(isinstance(t, Tool) for t in registry)
    assert registry["add"].fn is add
    assert registry.get("nope") is None
    assert registry.names == ["get_weather", "add"]
    assert registry.enabled_names == ["get_weather", "add"]


def test_tool_attributes(registry):
    tool = registry["get_weather"]
    assert tool.name == "get_weather"
    assert tool.description == "Current weather for a city."
    assert tool.enabled is True
    assert tool.timeout is None  # the registry's default applies
    assert tool.is_async is False
    assert tool.signature == "city: str, unit: 'celsius'|'fahrenheit' = 'celsius'"
    assert repr(tool) == (
        "<Tool get_weather(city: str, unit: 'celsius'|'fahrenheit' = 'celsius') enabled>"
    )


def test_parameters_are_a_fresh_copy(registry):
    tool = registry["add"]
    tool.parameters["properties"]["a"]["type"] = "string"
    tool.to_dict()["function"]["parameters"]["properties"]["b"]["type"] = "string"
    assert tool.parameters["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}


def test_unknown_names_raise_tool_error_listing_known_names(registry):
    for action in (registry.enable, registry.disable, registry.unregister, registry.__getitem__):
        message = "no tool named 'weather'; known tools: get_weather, add"
        with pytest.raises(ToolError, match=message) as info:
            action("weather")
        assert info.value.tool == "weather"
        assert isinstance(info.value, ValueError) and isinstance(info.value, MistralNBError)


def test_unregister(registry):
    registry.unregister("add")
    assert registry.names == ["get_weather"]
    with pytest.raises(ToolError, match="known tools: none registered yet"):
        ToolRegistry()["add"]


# -- registration errors -----------------------------------------------------------------


def error_for(fn: object, **options) -> ToolError:
    with pytest.raises(ToolError) as info:
        ToolRegistry().register(fn, **options)
    return info.value


def test_invalid_names_are_refused():
    message = (
        "Mistral accepts 1 to 64 letters, digits, underscores and dashes; "
        "pass a valid one with name="
    )
    assert message in str(error_for(lambda x: x))
    assert "'<lambda>' is not a valid tool name" in str(error_for(lambda x: x))
    error = error_for(get_weather, name="get weather")
    assert "'get weather' is not a valid tool name" in str(error)
    assert error_for(get_weather, name="x" * 65).tool == "x" * 65
    assert "''" in str(error_for(get_weather, name=""))
    assert "is not a valid tool name" in str(error_for(get_weather, name="weather\n"))
    ToolRegistry().register(get_weather, name="x" * 64)  # 64 is fine


def test_star_args_and_kwargs_are_refused():
    def many(*cities: str) -> None: ...

    def opts(city: str, **options: str) -> None: ...

    error = error_for(many)
    assert (error.tool, error.parameter) == ("many", "cities")
    assert str(error) == (
        "parameter 'cities' of many is *cities: a tool takes named parameters only, since the "
        "model sends a JSON object; list the parameters explicitly"
    )
    assert "is **options" in str(error_for(opts))


def test_a_parameter_without_annotation_is_refused():
    def f(city, unit: str = "c") -> None: ...

    error = error_for(f)
    assert (error.tool, error.parameter) == ("f", "city")
    assert str(error) == (
        "parameter 'city' of f has no type annotation; annotate it, e.g. city: str, "
        "so the model knows what to send"
    )


def test_an_unbound_method_gets_a_hint():
    class Station:
        def read(self, city: str) -> float:
            return 1.0

    assert "register it bound to its object: obj.method" in str(error_for(Station.read))
    ToolRegistry().register(Station().read)


def test_unusable_types_are_refused_naming_the_parameter():
    def connect(sock: socket.socket) -> None: ...

    def later(callback: Callable[[int], int]) -> None: ...

    error = error_for(connect)
    assert (error.tool, error.parameter) == ("connect", "sock")
    assert str(error).startswith(
        "parameter 'sock' of connect has type socket, which pydantic cannot validate from JSON; "
        "use str, int, float, bool, None, Literal, an Enum"
    )
    error = error_for(later)
    assert error.parameter == "callback"
    assert "has type Callable[[int], int], which cannot be described in JSON Schema" in str(error)


class Movie(typing.TypedDict):
    title: str


@dataclasses.dataclass
class Shelf:
    movies: list[Movie]


def test_pydantics_own_refusals_are_passed_on():
    # A stdlib TypedDict directly in a signature is converted for pydantic; one inside a
    # dataclass is beyond reach before Python 3.12, and pydantic says what to do.
    def stock(shelf: Shelf) -> None: ...

    def shelve(movies: list[Movie]) -> None: ...

    error = error_for(stock)
    assert error.parameter == "shelf"
    assert str(error) == (
        "parameter 'shelf' of stock has type Shelf, which pydantic refuses: Please use "
        "`typing_extensions.TypedDict` instead of `typing.TypedDict` on Python < 3.12."
    )
    ToolRegistry().register(shelve)


class Node(BaseModel):
    value: int
    children: list["Node"] = []


class Folder(typing.TypedDict):
    name: str
    folders: list["Folder"]


def test_recursive_types_are_refused():
    def tree(root: Node) -> None: ...

    def files(top: Folder) -> None: ...

    error = error_for(tree)
    assert error.parameter == "root"
    assert "uses the recursive type Node" in str(error)
    error = error_for(files)
    assert error.parameter == "top"
    assert "uses the recursive TypedDict Folder" in str(error)


def test_unresolvable_string_annotations_are_refused():
    def f(x: "Missing") -> None: ...  # noqa: F821

    error = error_for(f)
    assert error.parameter == "x"
    assert "the annotation 'Missing' of parameter 'x' of f cannot be resolved" in str(error)
    assert "define the types it uses at module level" in str(error)


def test_generators_classes_and_non_callables_are_refused():
    def numbers(n: int):
        yield n

    async def anumbers(n: int):
        yield n

    assert "generator function" in str(error_for(numbers))
    assert "generator function" in str(error_for(anumbers))
    assert "is a class" in str(error_for(Node))
    assert "is not callable" in str(error_for(42))


def test_positional_only_parameters_are_allowed():
    def power(base: float, exponent: int = 2, /) -> float:
        return base**exponent

    registry = ToolRegistry()
    registry.register(power)
    assert registry["power"].parameters["required"] == ["base"]


def test_a_different_function_under_a_taken_name_is_refused(registry):
    def other(a: int) -> int:
        return a

    with pytest.raises(ToolError) as info:
        registry.register(other, name="add")
    assert info.value.tool == "add"
    assert f"a tool named 'add' is already registered ({add.__module__}.add)" in str(info.value)
    assert "unregister('add') first, or register this one with another name=" in str(info.value)


def test_the_same_function_again_replaces_it_like_a_rerun_notebook_cell(registry):
    registry.disable("add")
    # Running the cell that defines add() again: a new function, same module and name.
    namespace = {"__name__": add.__module__}
    cell = "def add(a: int, b: int, c: int = 0) -> int:\n    return a + b + c"
    exec(cell, namespace)  # noqa: S102 - what running the cell does
    rerun = namespace["add"]
    registry.register(rerun)
    assert registry["add"].fn is rerun
    assert registry["add"].signature == "a: int, b: int, c: int = 0"
    assert registry["add"].enabled  # a fresh registration
    assert registry.names == ["get_weather", "add"]  # keeps its place


@pytest.mark.parametrize("timeout", [0, -1, "3", True, float("nan")])
def test_invalid_timeouts_are_refused(timeout):
    with pytest.raises(ToolError, match="timeout must be a positive number of seconds"):
        ToolRegistry().register(add, timeout=timeout)
    with pytest.raises(ToolError, match="timeout must be a positive number of seconds"):
        ToolRegistry(default_timeout=timeout)


def test_a_tools_timeout_can_be_changed_and_is_checked(registry):
    tool = registry["add"]
    tool.timeout = 5
    assert tool.timeout == 5.0
    tool.timeout = None
    assert tool.timeout is None
    with pytest.raises(ToolError, match="timeout must be a positive number of seconds"):
        tool.timeout = -2


def test_default_timeout():
    assert DEFAULT_TIMEOUT == 30.0
    assert ToolRegistry().default_timeout == 30.0
    assert ToolRegistry(default_timeout=float("inf")).default_timeout == float("inf")


# -- enable, disable, the pipecat schema ----------------------------------------------


def test_enable_disable_and_the_tools_schema(registry):
    registry.disable("get_weather")
    assert registry.enabled_names == ["add"]
    assert not registry["get_weather"].enabled
    schema = to_tools_schema(registry.to_list())
    assert isinstance(schema, ToolsSchema)
    assert [isinstance(s, FunctionSchema) for s in schema.standard_tools] == [True]
    function = {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
            "additionalProperties": False,  # pipecat's own FunctionSchema would drop it
        },
    }
    assert schema.standard_tools[0].to_default_dict() == function
    # What the Mistral service sends: the same, through pipecat's adapter.
    sent = MistralLLMAdapter().to_provider_tools_format(schema)
    assert sent == [{"type": "function", "function": function}]
    registry.enable("get_weather")
    assert [t["function"]["name"] for t in registry.to_list()] == ["get_weather", "add"]
    registry.disable("get_weather")
    registry.disable("add")
    assert registry.to_list() == []
    assert to_tools_schema(registry.to_list()) is NOT_GIVEN


# -- observers -----------------------------------------------------------------------


def test_observers_hear_every_change_once(registry):
    calls = []
    unsubscribe = registry.observe(lambda: calls.append(registry.enabled_names))
    registry.disable("add")
    registry.disable("add")  # no change, no call
    registry.enable("add")
    registry.unregister("add")
    registry.register(add)
    both = ["get_weather", "add"]
    assert calls == [["get_weather"], both, ["get_weather"], both]
    unsubscribe()
    unsubscribe()  # harmless twice
    registry.disable("add")
    assert len(calls) == 4


def test_a_raising_observer_breaks_nothing(registry, caplog):
    seen = []

    def broken() -> None:
        raise RuntimeError("observer bug")

    registry.observe(broken)
    registry.observe(lambda: seen.append(True))
    with caplog.at_level(logging.ERROR, logger="mistral_nb.tools"):
        registry.disable("add")
    assert registry.enabled_names == ["get_weather"]
    assert seen == [True]
    assert "a ToolRegistry observer raised" in caplog.text and "observer bug" in caplog.text


# -- display -------------------------------------------------------------------------


def test_repr(registry):
    registry.disable("add")
    assert repr(registry) == (
        "ToolRegistry(2 tools, 1 enabled):\n"
        "  ✓ get_weather(city: str, unit: 'celsius'|'fahrenheit' = 'celsius')  "
        "Current weather for a city.\n"
        "  ✗ add(a: int, b: int)  Add two integers."
    )
    assert repr(ToolRegistry()) == "ToolRegistry(no tools)"


def test_repr_html(registry):
    registry.disable("add")
    html = registry._repr_html_()
    assert html.startswith('<table class="mistral-nb-tools"><thead><tr><th>name</th>')
    assert "<th>enabled</th><th>description</th><th>parameters</th>" in html
    assert (
        "<tr><td><code>get_weather</code></td><td>✓</td>"
        '<td title="Current weather for a city.">Current weather for a city.</td>'
        "<td><code>city: str, unit: &#x27;celsius&#x27;|&#x27;fahrenheit&#x27; = "
        "&#x27;celsius&#x27;</code></td></tr>"
    ) in html
    assert "<td><code>add</code></td><td>✗</td>" in html
    assert ToolRegistry()._repr_html_() == "<p><em>No tools registered.</em></p>"


def test_repr_html_escapes():
    registry = ToolRegistry()
    registry.register(add, description='<script>alert("x")</script> & more')
    html = registry._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in html


def test_to_dataframe(registry):
    registry.disable("add")
    frame = registry.to_dataframe()
    assert list(frame.columns) == ["name", "enabled", "description", "parameters"]
    assert frame.to_dict(orient="records") == [
        {
            "name": "get_weather",
            "enabled": True,
            "description": "Current weather for a city.",
            "parameters": "city: str, unit: 'celsius'|'fahrenheit' = 'celsius'",
        },
        {
            "name": "add",
            "enabled": False,
            "description": "Add two integers.",
            "parameters": "a: int, b: int",
        },
    ]
    empty = ToolRegistry().to_dataframe()
    assert list(empty.columns) == ["name", "enabled", "description", "parameters"]
