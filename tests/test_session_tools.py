"""Tools end to end: a real pipeline calls registered functions against LocalMistral."""

from __future__ import annotations

import asyncio
import json
from typing import Literal

import pytest
from conftest import TEST_KEY

import mistral_nb as mnb
from mistral_nb.local import ToolCall


def tool_messages(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == "tool"]


def tool_names(body: dict) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools") or []]


@pytest.fixture
def calls() -> list:
    return []


@pytest.fixture
def weather(session, calls):
    @session.tool
    def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
        """Current weather for a city.

        Args:
            city: City name, for example "Paris".
            unit: Temperature unit.
        """
        calls.append((city, unit))
        return {"city": city, "temperature": 18, "unit": unit}

    return get_weather


async def test_the_schema_goes_out_with_the_request(session, local, weather):
    await session.send("Hello")
    (tool,) = local.requests[-1]["tools"]
    assert tool["function"]["name"] == "get_weather"
    assert tool["function"]["description"].startswith("Current weather for a city.")
    assert tool["function"]["parameters"]["properties"]["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert tool["function"]["parameters"]["required"] == ["city"]


async def test_the_offline_model_calls_a_tool_the_user_names(session, local, weather, calls):
    turn = await session.send("What's the weather? Use get_weather with city=Paris")
    assert turn.status == "ok"
    assert calls == [("Paris", "celsius")]
    assert "18" in turn.text
    assert turn.calls.iloc[0]["status"] == "ok"


async def test_invalid_arguments_are_rejected_and_the_model_told_why(
    session, local, weather, calls
):
    local.push(ToolCall("get_weather", {"city": "Paris", "unit": "kelvin"}), "Sorry.")
    turn = await session.send("Weather in Paris in kelvin?")

    assert calls == []
    call = turn.calls.iloc[0]
    assert call["status"] == "rejected"
    assert "unit" in call["error"]
    (message,) = tool_messages(local.requests[-1])
    assert "unit" in message["content"] and "celsius" in message["content"]
    assert turn.status == "ok"


async def test_an_unknown_tool_is_rejected_with_the_available_ones(session, local, weather):
    local.push(ToolCall("get_stock_price", {"ticker": "MSFT"}), "I cannot do that.")
    turn = await session.send("Price of MSFT?")

    call = turn.calls.iloc[0]
    assert (call["name"], call["status"]) == ("get_stock_price", "rejected")
    (message,) = tool_messages(local.requests[-1])
    assert "get_weather" in message["content"]


async def test_parallel_calls_all_run_and_are_all_logged(session, local, weather, calls):
    local.push(
        [ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_weather", {"city": "Rome"})],
        "Paris and Rome are both at 18 degrees.",
    )
    turn = await session.send("Weather in Paris and Rome?")

    assert turn.status == "ok"
    assert sorted(calls) == [("Paris", "celsius"), ("Rome", "celsius")]
    assert sorted(turn.calls["arguments"].map(lambda a: a["city"])) == ["Paris", "Rome"]
    assert len(tool_messages(local.requests[-1])) == 2
    assert local.requests[-1]["messages"][-1]["role"] == "tool"


async def test_a_raising_tool_gives_the_model_the_error(session, local):
    @session.tool
    def divide(a: float, b: float) -> float:
        """Divide a by b."""
        return a / b

    local.push(ToolCall("divide", {"a": 1, "b": 0}), "Division by zero is undefined.")
    turn = await session.send("What is 1/0?")

    call = turn.calls.iloc[0]
    assert call["status"] == "error"
    assert "ZeroDivisionError" in call["error"]
    (message,) = tool_messages(local.requests[-1])
    assert "ZeroDivisionError" in message["content"]
    assert turn.status == "ok"


async def test_a_slow_tool_times_out(session, local):
    @session.tool(timeout=0.2)
    async def slow_lookup(query: str) -> str:
        """Look something up, slowly."""
        await asyncio.sleep(5)
        return "never"

    local.push(ToolCall("slow_lookup", {"query": "x"}), "It took too long.")
    turn = await session.send("Look up x")

    call = turn.calls.iloc[0]
    assert call["status"] == "timeout"
    assert 0.2 <= call["duration_s"] < 2
    assert turn.status == "ok"


async def test_disabling_a_tool_changes_the_next_request_and_rejects_its_calls(
    session, local, weather, calls
):
    @session.tool
    def get_time(city: str) -> str:
        """Local time in a city."""
        return "12:00"

    await session.send("Hi")
    assert tool_names(local.requests[-1]) == ["get_weather", "get_time"]

    session.tools.disable("get_weather")
    local.push(ToolCall("get_weather", {"city": "Paris"}), "Weather is unavailable.")
    turn = await session.send("Weather in Paris?")
    assert tool_names(local.requests[-2]) == ["get_time"]
    assert turn.calls.iloc[0]["status"] == "rejected"
    assert calls == []

    session.tools.disable("get_time")
    await session.send("Anything?")
    assert "tools" not in local.requests[-1]

    session.tools.enable("get_weather")
    await session.send("Back?")
    assert tool_names(local.requests[-1]) == ["get_weather"]


async def test_tool_rounds_stop_at_the_limit_with_a_clear_status(local):
    async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url, max_tool_rounds=2) as session:

        @session.tool
        def step(n: int) -> int:
            """Take a step."""
            return n + 1

        local.push(*[ToolCall("step", {"n": n}) for n in range(5)])
        turn = await session.send("Keep stepping")
        assert turn.status == "error"
        assert "2 tool rounds" in turn.error
        assert turn.calls["status"].tolist() == ["ok", "ok", "rejected"]
        assert len(turn.requests) == 3

        again = await session.send("Stop now")
        assert again.status == "ok"


async def test_a_registry_is_shared_between_sessions(local):
    registry = mnb.ToolRegistry()

    @registry.register
    def ping() -> str:
        """Answer pong."""
        return "pong"

    async with (
        mnb.Session(api_key=TEST_KEY, base_url=local.base_url, tools=registry) as first,
        mnb.Session(api_key=TEST_KEY, base_url=local.base_url, tools=registry) as second,
    ):
        local.push(ToolCall("ping", {}), "pong it is", ToolCall("ping", {}), "pong again")
        one = await first.send("ping please")
        two = await second.send("ping please")
    assert one.calls.iloc[0]["result"] == "pong" == two.calls.iloc[0]["result"]
    assert second.tools is first.tools


async def test_calls_land_in_the_log_with_their_turn(session, local, weather):
    local.push(ToolCall("get_weather", {"city": "Oslo"}), "Cold.")
    await session.send("Oslo?")
    await session.send("Thanks")
    local.push(ToolCall("get_weather", {"city": "Lima"}), "Mild.")
    await session.send("Lima?")

    log = session.log.calls()
    assert log["turn"].tolist() == [1, 3]
    assert set(log.columns) >= {
        "turn",
        "call_id",
        "name",
        "arguments",
        "result",
        "status",
        "error",
        "started_at",
        "duration_s",
    }
    assert "UTC" in str(log["started_at"].dtype)
    assert session.log.turns()["n_calls"].tolist() == [1, 0, 1]
    assert json.dumps(log["result"].tolist())


def test_session_tools_renders_a_table(local):
    with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:

        @session.tool
        def get_weather(city: str) -> dict:
            """Current weather for a city."""
            return {}

        html = session.tools._repr_html_()
    assert "get_weather" in html and "Current weather for a city." in html and "city: str" in html
