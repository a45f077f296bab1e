"""Long sessions: 200 turns with tools and images through one Session.

Two soaks against LocalMistral (no delays, short replies):

- the conversation grows for 200 turns: the log accounts for every turn, every streamed
  token (against the endpoint's usage and mistral-common's tokenizer), every tool call and
  every request the endpoint received; no asyncio task is left behind;
- the conversation is reset before each turn (and LocalMistral forgets its history), so
  what is left is the toolkit's own overhead: with tracemalloc, its growth over turns
  50..200 minus the log's own content must stay under 50 kB a turn, no TurnRecorder nor
  pipecat frame may survive its turn, and a planted leak must be seen by the same measure.

``bench/bench_memory.py`` prints the same figures for a growing conversation.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import gc
import hashlib
import sys
import time
import tracemalloc
from collections.abc import Callable
from importlib import resources
from types import FunctionType, ModuleType
from typing import Any

import pytest
from conftest import TEST_KEY
from PIL import Image

import mistral_nb as mnb
from mistral_nb.local import ToolCall

TURNS = 200
REPLY_TOKENS = 8  # every deterministic reply is exactly this long
WARM_UP = 50  # turns before the memory is measured
OVERHEAD_LIMIT = 50_000  # bytes a turn, the log's own content excluded
PLANTED_LEAK = 64 * 1024

IMAGES = [Image.new("RGB", (40, 30), colour) for colour in ("red", "green", "blue")]


# -- the scripted session -----------------------------------------------------------------------


def kind_of(number: int) -> str:
    """What turn ``number`` does; Mistral takes 8 images a request, so 7 image turns in all."""
    if number % 30 == 3:
        return "image"
    if number % 20 == 9:
        return "parallel"  # two calls in one response
    if number % 4 == 1:
        return "tool"
    return "plain"


def tool_reply(number: int) -> str:
    return f"The tools answered for turn {number}."


def register_tools(session: mnb.Session, ran: list[tuple[str, int]]) -> None:
    @session.tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        ran.append(("add", a))
        return a + b

    @session.tool
    def lookup(key: str) -> dict:
        """Look a key up."""
        ran.append(("lookup", int(key.split("-")[1])))
        return {"key": key, "value": key.upper()}


def expected_calls(number: int) -> list[tuple[str, dict, Any]]:
    """(name, arguments, result) of each call turn ``number`` scripts, in order."""
    kind = kind_of(number)
    add = ("add", {"a": number, "b": 1000}, number + 1000)
    lookup = ("lookup", {"key": f"k-{number}"}, {"key": f"k-{number}", "value": f"K-{number}"})
    return {"tool": [add], "parallel": [add, lookup]}.get(kind, [])


async def run_turn(session: mnb.Session, local: mnb.LocalMistral, number: int) -> mnb.Turn:
    kind = kind_of(number)
    calls = [ToolCall(name, arguments) for name, arguments, _ in expected_calls(number)]
    if kind == "tool":
        local.push(calls[0], tool_reply(number))
    elif kind == "parallel":
        local.push(calls, tool_reply(number))
    images = [IMAGES[number % len(IMAGES)]] if kind == "image" else None
    turn = await session.send(f"Message {number} ({kind}).", images=images)
    assert turn.ok, turn
    return turn


# -- helpers ------------------------------------------------------------------------------------


def tokenizer() -> Any:
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    path = resources.files("mistral_common") / "data" / "tekken_240911.json"
    with resources.as_file(path) as file:
        return MistralTokenizer.from_file(str(file)).instruct_tokenizer.tokenizer


def without_image_data(body: Any) -> Any:
    """A request body with each image URL replaced by a marker (the log elides them)."""
    body = copy.deepcopy(body)
    for message in body.get("messages") or []:
        for part in message.get("content") if isinstance(message.get("content"), list) else []:
            if part.get("type") == "image_url":
                part["image_url"] = "<image>"
    return body


def image_sha256s(body: dict) -> list[str]:
    digests = []
    content = body["messages"][-1]["content"]
    for part in content if isinstance(content, list) else []:
        if part.get("type") == "image_url":
            data = part["image_url"]["url"].split(",", 1)[1]
            digests.append(hashlib.sha256(base64.b64decode(data)).hexdigest())
    return digests


def deep_size(root: Any, seen: set[int] | None = None) -> int:
    """Bytes held by ``root`` and everything it reaches (containers and mistral_nb objects),
    leaving out objects already in ``seen`` (which it adds to)."""
    seen = set() if seen is None else seen
    total = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (type, ModuleType, FunctionType)):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif type(obj).__module__.startswith("mistral_nb") and hasattr(obj, "__dict__"):
            stack.append(obj.__dict__)
    return total


def live(predicate: Callable[[Any], bool]) -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if predicate(obj))


def is_recorder(obj: Any) -> bool:
    return type(obj).__name__ == "TurnRecorder" and type(obj).__module__.startswith("mistral_nb")


def is_frame(obj: Any) -> bool:
    from pipecat.frames.frames import Frame

    # type(), not isinstance(): a lazy proxy's __class__ may import a whole package.
    return issubclass(type(obj), Frame)


def rss_bytes() -> int:
    import os

    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- a growing conversation: every turn, token, call and request accounted for -------------------


async def test_200_turns_with_tools_and_images_leave_a_consistent_log():
    ran: list[tuple[str, int]] = []
    tasks: dict[int, int] = {}
    started = time.perf_counter()
    with mnb.LocalMistral(api_key=TEST_KEY, reply_tokens=REPLY_TOKENS) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
            register_tools(session, ran)
            for number in range(1, TURNS + 1):
                await run_turn(session, local, number)
                if number in (20, TURNS // 2, TURNS):
                    tasks[number] = len(asyncio.all_tasks())
            messages = session.messages
            received = local.requests
    elapsed = time.perf_counter() - started
    log = session.log
    kinds = [kind_of(n) for n in range(1, TURNS + 1)]
    print(
        f"\n{TURNS} turns ({kinds.count('image')} with an image, "
        f"{kinds.count('tool') + kinds.count('parallel')} with tools) in {elapsed:.1f} s, "
        f"{len(received)} requests, {len(messages)} messages in the context"
    )

    # Every turn, in order, ok.
    summary = log.turns()
    assert len(log) == TURNS
    assert summary["turn"].tolist() == list(range(1, TURNS + 1))
    assert summary["status"].eq("ok").all()
    assert summary["user_text"].tolist() == [
        f"Message {n} ({kinds[n - 1]})." for n in range(1, TURNS + 1)
    ]

    # Every token: rows of tokens() == n_chunks == the endpoint's usage == the tokenizer's count.
    tokens = log.tokens()
    rows = tokens.groupby("turn").size().reindex(range(1, TURNS + 1), fill_value=0)
    assert rows.tolist() == summary["n_chunks"].tolist()
    encode = tokenizer()
    for turn in log:
        texts: dict[int, str] = {}
        for completion, text in zip(turn.token_completion, turn.token_text, strict=True):
            texts[completion] = texts.get(completion, "") + text
        for completion in turn.completions:
            if completion.finish_reason == "tool_calls":
                assert completion.index not in texts and completion.completion_tokens > 0
                continue
            assert completion.finish_reason == "stop", (turn, completion)
            streamed = turn.token_completion.count(completion.index)
            assert streamed == completion.completion_tokens, (turn, completion)
            counted = encode.encode(texts[completion.index], bos=False, eos=False)
            assert len(counted) == completion.completion_tokens, (turn, completion)
        text_completions = [c for c in turn.completions if c.finish_reason == "stop"]
        assert len(turn.token_text) == sum(c.completion_tokens for c in text_completions)
        if kind_of(turn.turn) in ("plain", "image"):
            assert turn.usage["completion_tokens"] == REPLY_TOKENS
        else:
            assert turn.text == tool_reply(turn.turn)
    assert len(tokens) == summary["n_chunks"].sum()
    assert (
        tokens.groupby(["turn", "completion"])["index"]
        .apply(lambda index: index.tolist() == list(range(len(index))))
        .all()
    )

    # Every call, in its turn, with its arguments and result; each tool ran exactly once.
    calls = log.calls()
    expected = [(n, *call) for n in range(1, TURNS + 1) for call in expected_calls(n)]
    assert len(calls) == len(expected) == len(ran)
    assert sorted(
        zip(calls["turn"], calls["name"], calls["arguments"].map(str), calls["result"].map(str))
    ) == sorted((n, name, str(arguments), str(result)) for n, name, arguments, result in expected)
    assert calls["status"].eq("ok").all()
    assert (calls["completion"] == 0).all()
    assert sorted(ran) == sorted((name, n) for n, name, *_ in expected)
    assert summary["n_calls"].tolist() == [len(expected_calls(n)) for n in range(1, TURNS + 1)]

    # Every request the endpoint received is in the log, in order, as sent.
    logged = log.requests()
    assert len(logged) == len(received)
    assert logged["turn"].tolist() == [t.turn for t in log for _ in t.requests]
    assert [without_image_data(b) for b in logged["body"]] == [
        without_image_data(b) for b in received
    ]
    assert summary["n_requests"].tolist() == [
        1 + (kind_of(n) in ("tool", "parallel")) for n in range(1, TURNS + 1)
    ]
    first_requests = [body for body, n in zip(logged["body"], logged["n"], strict=True) if n == 0]
    assert [
        b["messages"][-1]["content"]
        for b in first_requests
        if isinstance(b["messages"][-1]["content"], str)
    ] == [t.user_text for t in log if not t.images]

    # Every image: logged once, with the digest of what went over the wire.
    images = log.images()
    image_turns = [n for n in range(1, TURNS + 1) if kind_of(n) == "image"]
    assert images["turn"].tolist() == image_turns
    # An image is new in the last message of exactly one request: its turn's first.
    sent = [digest for body in received for digest in image_sha256s(body)]
    assert images["sha256"].tolist() == sent

    # The conversation holds all 200 exchanges; no task is left behind by a turn.
    assert sum(m["role"] == "user" for m in messages) == TURNS
    assert sum(m["role"] == "user" for m in received[-1]["messages"]) == TURNS
    assert tasks[20] == tasks[TURNS // 2] == tasks[TURNS], tasks


# -- the toolkit's own overhead ------------------------------------------------------------------


async def measure_overhead(turns: int, *, leak: int = 0) -> dict[str, float]:
    """Per-turn memory growth over turns WARM_UP..turns, the conversation reset every turn."""
    ran: list[tuple[str, int]] = []
    kept: list[bytearray] = []
    figures: dict[str, float] = {}
    with mnb.LocalMistral(api_key=TEST_KEY, reply_tokens=REPLY_TOKENS) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
            register_tools(session, ran)
            if leak:
                session.subscribe(
                    lambda event: (
                        kept.append(bytearray(leak)) if event.kind == "turn_ended" else None
                    )
                )
            for number in range(1, turns + 1):
                session.reset()
                local.reset()  # LocalMistral keeps every request: not ours to count
                await run_turn(session, local, number)
                if number == WARM_UP:
                    log_before = deep_size(list(session.log))
                    tasks_before = len(asyncio.all_tasks())
                    frames_before = live(is_frame)
                    rss_before = rss_bytes()
                    tracemalloc.start()
            gc.collect()
            traced, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            log_after = deep_size(list(session.log))
            figures["turns"] = turns - WARM_UP
            figures["traced"] = traced
            figures["peak"] = peak
            figures["log"] = log_after - log_before
            figures["per_turn"] = (traced - figures["log"]) / figures["turns"]
            figures["log_per_turn"] = figures["log"] / figures["turns"]
            figures["rss_per_turn"] = (rss_bytes() - rss_before) / figures["turns"]
            figures["tasks"] = len(asyncio.all_tasks()) - tasks_before
            figures["frames"] = live(is_frame) - frames_before
            figures["recorders"] = live(is_recorder)
            figures["messages"] = len(session.messages)
    return figures


@pytest.fixture
def no_tracemalloc():
    assert not tracemalloc.is_tracing(), "another test left tracemalloc on"
    yield
    if tracemalloc.is_tracing():
        tracemalloc.stop()


async def test_the_toolkits_own_overhead_does_not_grow_with_turns(no_tracemalloc):
    figures = await measure_overhead(TURNS)
    print(
        f"\noverhead over turns {WARM_UP}..{TURNS}: {figures['per_turn'] / 1024:.2f} KiB/turn "
        f"(log content {figures['log_per_turn'] / 1024:.2f} KiB/turn excluded; traced "
        f"{figures['traced'] / 1024:.0f} KiB, peak {figures['peak'] / 1024:.0f} KiB; "
        f"RSS {figures['rss_per_turn'] / 1024:.2f} KiB/turn)"
    )
    assert figures["messages"] <= 5  # reset() really emptied the context each turn
    assert figures["per_turn"] < OVERHEAD_LIMIT, figures
    assert figures["tasks"] <= 0, figures
    assert figures["recorders"] <= 1, figures
    assert figures["frames"] < 50, figures  # a few in flight at most, not one set per turn


async def test_the_overhead_measure_sees_a_planted_leak(no_tracemalloc):
    figures = await measure_overhead(WARM_UP + 30, leak=PLANTED_LEAK)
    assert figures["per_turn"] >= PLANTED_LEAK, figures
    assert figures["per_turn"] >= OVERHEAD_LIMIT, "the test above could not fail"


async def test_a_turns_log_entry_does_not_grow_with_the_conversation(tmp_path):
    path = tmp_path / "journal.jsonl"
    with mnb.LocalMistral(api_key=TEST_KEY, reply_tokens=REPLY_TOKENS) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url, log=path) as session:
            for number in range(1, 61):
                await session.send(f"Message {number:02d}.")
    on_disk = [len(line) for line in path.read_bytes().splitlines()]
    # What each turn adds to memory: objects not already held by the turns before it.
    seen: set[int] = set()
    in_memory = [deep_size(turn, seen) for turn in session.log]
    print(
        f"\nturn 5: {on_disk[4]} B on disk, {in_memory[4]} B in memory; "
        f"turn 60: {on_disk[59]} B on disk, {in_memory[59]} B in memory"
    )
    # Turns 5 and 60 are alike (same length of message and reply): so should their entries be.
    assert on_disk[59] < 1.5 * on_disk[4], on_disk
    assert in_memory[59] < 1.5 * in_memory[4], in_memory
    # ... while each request the turn keeps is still the whole body that went out.
    assert len(session.log[59].requests[0]["messages"]) == 119
    assert mnb.TurnLog.load(path)[59].requests == session.log[59].requests
