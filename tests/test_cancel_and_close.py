"""Cancelling a streaming turn, and closing a session mid-turn, leave nothing behind."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import warnings

import pytest
from conftest import TEST_KEY

import mistral_nb as mnb
from mistral_nb.local import ToolCall


async def wait_for_tokens(session, count: int) -> None:
    while not session.busy or len(session._recorder.turn.token_text) < count:
        await asyncio.sleep(0.005)


def new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    # The loop's default executor ("asyncio_N") belongs to the loop, not to the session.
    return [
        t
        for t in set(threading.enumerate()) - before
        # LocalMistral's own workers belong to the server fixture.
        if t.is_alive() and not t.name.startswith(("asyncio_", "LocalMistral"))
    ]


@pytest.fixture
def slow_local():
    with mnb.LocalMistral(api_key=TEST_KEY, token_delay=0.02, reply_tokens=400) as local:
        yield local


async def test_cancel_ends_a_streaming_turn_within_200_ms_and_keeps_the_partial_text(slow_local):
    async with mnb.Session(api_key=TEST_KEY, base_url=slow_local.base_url) as session:
        task = asyncio.create_task(session.send("Tell me a very long story"))
        await wait_for_tokens(session, 10)
        started = time.perf_counter()
        assert session.cancel() is True
        turn = await task
        elapsed = time.perf_counter() - started

        assert elapsed < 0.2
        assert turn.status == "cancelled"
        assert 10 <= len(turn.tokens) < 400
        assert session.messages[-1] == {"role": "assistant", "content": turn.text}
        assert session.cancel() is False

        slow_local.push("Short answer.")
        after = await session.send("Hello again")
        assert after.status == "ok" and after.text == "Short answer."
    assert session.log.turns()["status"].tolist() == ["cancelled", "ok"]


async def test_cancel_cancels_an_async_tool_in_flight_and_logs_it(local):
    started = asyncio.Event()
    finished = []

    async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:

        @session.tool
        async def slow_search(query: str) -> str:
            """Search slowly."""
            started.set()
            await asyncio.sleep(10)
            finished.append(query)
            return "found"

        local.push(ToolCall("slow_search", {"query": "x"}), "done")
        task = asyncio.create_task(session.send("Search for x"))
        await asyncio.wait_for(started.wait(), 5)
        session.cancel()
        turn = await asyncio.wait_for(task, 2)
        assert turn.status == "cancelled"
        assert turn.calls["status"].tolist() == ["cancelled"]
        assert finished == []
        assert (await session.send("Hi")).status == "ok"


async def test_closing_mid_turn_leaves_no_task_thread_or_socket(slow_local):
    before_tasks = asyncio.all_tasks()
    before_threads = set(threading.enumerate())
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        session = mnb.Session(api_key=TEST_KEY, base_url=slow_local.base_url)
        task = asyncio.create_task(session.send("Tell me a very long story"))
        await wait_for_tokens(session, 5)
        await session.aclose()
        turn = await asyncio.wait_for(task, 2)
        del session
        gc.collect()
    assert turn.status == "cancelled"
    await asyncio.sleep(0.05)
    leftover = {t for t in asyncio.all_tasks() - before_tasks if not t.done()}
    assert not leftover, leftover
    assert new_threads(before_threads) == []


async def test_a_session_that_started_its_own_endpoint_stops_it_on_close():
    before_threads = set(threading.enumerate())
    session = mnb.Session()
    await session.send("Hello")
    local = session.local
    await session.aclose()
    assert not local.running
    assert new_threads(before_threads) == []


def test_close_twice_and_context_managers_are_safe(local):
    with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
        session.ask("Hi")
    session.close()
    assert session.closed
    with pytest.raises(mnb.SessionClosedError):
        session.ask("again")
    with pytest.raises(mnb.SessionClosedError):
        session.update_settings(temperature=0.1)
