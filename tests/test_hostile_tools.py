"""Whatever a tool raises, and whatever the model sends as a call, the turn goes on.

Tool-call ids and names come from the model and are hostile input: duplicates and
invalid ones become calls Mistral accepts back, so the conversation never breaks.
LocalMistral validates every later request the way Mistral does.
"""

from __future__ import annotations

import asyncio

import pytest
from conftest import TEST_KEY

import mistral_nb as mnb
from mistral_nb.local import ToolCall


@pytest.mark.parametrize(
    "exception",
    [asyncio.CancelledError, GeneratorExit, SystemExit, KeyboardInterrupt, RuntimeError],
)
async def test_whatever_an_async_tool_raises_is_a_logged_error_and_the_turn_goes_on(
    session, local, exception
):
    @session.tool
    async def flaky(x: int) -> int:
        """Fail."""
        await asyncio.sleep(0)
        raise exception("boom")

    local.push(ToolCall("flaky", {"x": 1}), "Sorry, that failed.")
    turn = await session.send("use flaky")
    assert turn.status == "ok", turn.error
    (call,) = turn.call_records
    assert call.status == "error" and exception.__name__ in call.error
    local.push("fine")
    assert (await session.send("next")).status == "ok"


async def test_two_calls_sharing_one_id_both_run_with_distinct_ids(session, local):
    seen: list[str] = []

    @session.tool
    def note(text: str) -> str:
        """Note."""
        seen.append(text)
        return "noted"

    local.push(
        [ToolCall("note", {"text": "a"}, id="abcdefghi"), ToolCall("note", {"text": "b"}, id="abcdefghi")],
        "Both noted.",
    )
    turn = await session.send("note twice")
    assert turn.status == "ok", turn.error
    assert sorted(seen) == ["a", "b"]
    ids = [call.call_id for call in turn.call_records]
    assert len(set(ids)) == 2
    local.push("ok")
    assert (await session.send("and again")).status == "ok"  # the history validates


async def test_an_id_reused_from_an_earlier_turn_is_replaced(session, local):
    @session.tool
    def note(text: str) -> str:
        """Note."""
        return "noted"

    local.push(ToolCall("note", {"text": "a"}, id="abcdefghi"), "One.")
    await session.send("first")
    local.push(ToolCall("note", {"text": "b"}, id="abcdefghi"), "Two.")
    turn = await session.send("second")
    assert turn.status == "ok", turn.error
    assert turn.call_records[0].call_id != "abcdefghi"
    local.push("ok")
    assert (await session.send("third")).status == "ok"


@pytest.mark.parametrize("name", ["../../etc/passwd", "x" * 65, "bad name"])
async def test_an_invalid_tool_name_is_a_rejected_call_and_the_conversation_survives(
    session, local, name
):
    @session.tool
    def lookup(key: str) -> str:
        """Look up."""
        return key

    local.push(ToolCall(name, {"key": "k"}), "I could not call that.")
    turn = await session.send("call something odd")
    assert turn.status == "ok", turn.error
    (call,) = turn.call_records
    assert call.status == "rejected"
    local.push("still fine")
    after = await session.send("next")
    assert after.status == "ok", after.error


async def test_cancelling_during_a_tool_call_leaves_no_placeholder(local):
    started = asyncio.Event()
    async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
        loop = asyncio.get_running_loop()

        @session.tool
        async def slow(x: int) -> int:
            """Slow."""
            loop.call_soon_threadsafe(started.set)
            await asyncio.sleep(30)
            return x

        local.push(ToolCall("slow", {"x": 1}))
        task = asyncio.create_task(session.send("go slow"))
        await asyncio.wait_for(started.wait(), 10)
        session.cancel()
        turn = await asyncio.wait_for(task, 10)
        assert turn.status == "cancelled"
        assert "IN_PROGRESS" not in str(session.messages)
        local.push("ok")
        assert (await session.send("next")).status == "ok"
