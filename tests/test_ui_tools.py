"""ToolsPanel: checkboxes switch tools on the wire, rows follow the registry, calls are listed."""

from __future__ import annotations

import asyncio

import pytest

from mistral_nb.local import ToolCall
from mistral_nb.ui import ToolsPanel


def _register(session):
    @session.tool
    def get_weather(city: str, unit: str = "celsius") -> dict:
        """Current weather for a city.

        Args:
            city: City name.
            unit: Temperature unit.
        """
        return {"city": city, "temperature": 18, "unit": unit}

    @session.tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        if a < 0:
            raise ValueError("negative numbers are not supported")
        return a + b


@pytest.fixture
def panel(session):
    _register(session)
    panel = ToolsPanel(session)
    yield panel
    panel.close()


def _offered(body) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools") or []]


async def test_one_row_per_tool_with_signature_and_description(panel):
    assert list(panel.checkboxes) == ["get_weather", "add"]
    assert all(box.value for box in panel.checkboxes.values())
    row_html = panel.rows["get_weather"].children[1].value
    assert "get_weather" in row_html and "city: str" in row_html
    assert "Current weather for a city." in row_html


async def test_unchecking_a_tool_takes_it_out_of_the_next_request(panel, session, local):
    await session.send("hello")
    assert _offered(local.requests[-1]) == ["get_weather", "add"]

    panel.checkboxes["get_weather"].value = False

    assert session.tools.enabled_names == ["add"]
    assert panel.status.text == "get_weather not offered from the next request"
    await session.send("hello again")
    assert _offered(local.requests[-1]) == ["add"]

    panel.checkboxes["add"].value = False
    await session.send("and again")
    assert "tools" not in local.requests[-1] or not local.requests[-1]["tools"]

    panel.checkboxes["get_weather"].value = True
    await session.send("once more")
    assert _offered(local.requests[-1]) == ["get_weather"]


async def test_rows_follow_the_registry(panel, session):
    @session.tool
    def shout(text: str) -> str:
        """Upper-case a text."""
        return text.upper()

    assert list(panel.checkboxes) == ["get_weather", "add", "shout"]
    assert len(panel.tool_list.children) == 3

    session.tools.disable("add")
    assert panel.checkboxes["add"].value is False
    assert panel.status.text == ""  # a change made in code is shown, not re-applied

    session.tools.unregister("get_weather")
    assert list(panel.checkboxes) == ["add", "shout"]
    assert len(panel.tool_list.children) == 2


async def test_recent_calls_show_name_arguments_status_duration_and_result(panel, session, local):
    local.push(ToolCall("get_weather", {"city": "Paris"}), "It is 18 degrees.")
    await session.send("Weather in Paris?")
    local.push(ToolCall("add", {"a": -1, "b": 2}), "Could not add.")
    await session.send("Add -1 and 2")
    local.push(ToolCall("add", {"a": "x", "b": 2}), "Could not add.")
    await session.send("Add x and 2")

    table = panel.calls.value
    rows = table.split("<tr>")[2:]
    assert ["add", "add", "get_weather"] == [r.split("<code>")[1].split("<")[0] for r in rows]
    assert "&quot;city&quot;: &quot;Paris&quot;" in rows[2]
    assert "mnb-st-ok'>ok<" in rows[2] and "&quot;temperature&quot;: 18" in rows[2]
    assert "mnb-st-error'>error<" in rows[1] and "negative numbers are not supported" in rows[1]
    assert "mnb-st-rejected'>rejected<" in rows[0] and "valid integer" in rows[0]
    assert all(" ms</td>" in row for row in rows)  # durations as everywhere else
    assert "class='mnb-grid'" in table  # padded cells, one width


async def test_calls_already_in_the_log_are_listed(session, local):
    _register(session)
    local.push(ToolCall("add", {"a": 1, "b": 2}), "3")
    await session.send("Add 1 and 2")
    panel = ToolsPanel(session)
    assert "<code>add</code>" in panel.calls.value and "mnb-st-ok'>ok<" in panel.calls.value
    panel.close()


async def test_close_stops_following_the_registry(session):
    _register(session)
    panel = ToolsPanel(session)
    panel.close()

    @session.tool
    def late(x: int) -> int:
        """Late."""
        return x

    assert "late" not in panel.checkboxes
    await asyncio.sleep(0)
