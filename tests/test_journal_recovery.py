"""The journal survives a killed kernel: every finished turn is on disk, a torn tail is skipped.

A child process (and, when jupyter_client is there, a real ipykernel) runs a session with
``log=<journal>``, reports each finished turn on stdout, starts one more long turn and is
killed with SIGKILL while it streams.  ``TurnLog.load`` must give back exactly the finished
turns, identical to what the child held in memory.  The rest checks the journal's edges:
a torn last line, corruption in the middle, a missing file, and a session that appends to
an existing journal.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from conftest import TEST_KEY

import mistral_nb as mnb
from mistral_nb._errors import JournalWarning  # not re-exported by mistral_nb yet
from mistral_nb.local import ToolCall

FINISHED_TURNS = 4
CHILD_TIMEOUT = 60.0

# What the child runs, as a script (subprocess) or as a cell (kernel): N finished turns
# (plain, a tool call, an image), each reported on stdout as soon as it is logged, then a
# long reply streamed one token every 10 ms, during which the child is killed.
TURNS_CODE = """
import json, sys
import mistral_nb as mnb
from mistral_nb.local import ToolCall
from PIL import Image

async def run_turns(key, path, n):
    local = mnb.LocalMistral(api_key=key, token_delay=0.01, reply_tokens=12).start()
    session = mnb.Session(api_key=key, base_url=local.base_url, log=path)

    @session.tool
    def add(a: int, b: int) -> int:
        \"\"\"Add two numbers.\"\"\"
        return a + b

    for i in range(1, n + 1):
        images = None
        if i % 2 == 0:
            local.push(ToolCall("add", {"a": i, "b": 40}))
        if i % 3 == 0:
            images = [Image.new("RGB", (48, 32), "teal")]
        turn = await session.send(f"turn {i}: caf\\u00e9 and 18 \\u00b0C", images=images)
        print("TURN " + json.dumps(turn.to_dict(), ensure_ascii=True), flush=True)

    local.push("word " * 5000)
    streamed = []

    def on_event(event):
        if event.kind == "token":
            streamed.append(event.text)
            if len(streamed) == 20:
                print("MIDTURN", flush=True)

    session.subscribe(on_event)
    print("LONG", flush=True)
    await session.send("Now a very long answer, please.")
    print("UNEXPECTED: the long turn finished", flush=True)
"""

SCRIPT = (
    TURNS_CODE
    + """
import asyncio
asyncio.run(run_turns(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""
)


class LineReader:
    """Lines of a pipe, read by a thread so the test can wait with a deadline."""

    def __init__(self, stream) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        for line in iter(stream.readline, ""):
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, marker: str, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no {marker!r} within {timeout} s; got {self.seen}") from None
            if line is None:
                raise AssertionError(f"the child ended before {marker!r}; got {self.seen}")
            self.seen.append(line)
            if line.startswith(marker):
                return self.seen


def reported_turns(lines: list[str]) -> list[dict]:
    return [json.loads(line[len("TURN ") :]) for line in lines if line.startswith("TURN ")]


def as_json(turn: mnb.Turn) -> dict:
    return json.loads(json.dumps(turn.to_dict()))


def check_recovered(path: Path, reported: list[dict]) -> None:
    """The journal holds exactly the reported turns, each identical to the child's copy."""
    assert path.read_bytes().endswith(b"\n"), "the journal ends mid-line"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a finished turn must not look torn
        log = mnb.TurnLog.load(path)
    assert [t.turn for t in log] == list(range(1, FINISHED_TURNS + 1))
    assert len(reported) == FINISHED_TURNS
    for turn, child in zip(log, reported, strict=True):
        assert turn.status == "ok"
        assert len(turn.text) == len("".join(child["tokens"]["text"])) > 0
        assert len(turn.token_text) == len(child["tokens"]["text"])
        assert turn.usage["completion_tokens"] == sum(
            c["completion_tokens"] for c in child["completions"]
        )
        assert [(c.name, c.arguments, c.result) for c in turn.call_records] == [
            (c["name"], c["arguments"], c["result"]) for c in child["calls"]
        ]
        assert as_json(turn) == child
    numbers = range(1, FINISHED_TURNS + 1)
    assert [len(t.call_records) for t in log] == [int(i % 2 == 0) for i in numbers]
    assert log[1].call_records[0].result == 42
    assert [len(t.images) for t in log] == [int(i % 3 == 0) for i in numbers]
    assert len(log.tokens()) == sum(len(c["tokens"]["text"]) for c in reported)
    assert len(log.calls()) == sum(len(c["calls"]) for c in reported)
    assert "word word" not in path.read_text(encoding="utf-8")  # nothing of the killed turn


def test_sigkill_mid_turn_keeps_every_finished_turn(tmp_path):
    journal = tmp_path / "journal.jsonl"
    script = tmp_path / "child.py"
    script.write_text(SCRIPT, encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, str(script), TEST_KEY, str(journal), str(FINISHED_TURNS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )
    try:
        reader = LineReader(child.stdout)
        lines = reader.until("MIDTURN", CHILD_TIMEOUT)
        assert child.poll() is None
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    assert "LONG" in lines and not any(line.startswith("UNEXPECTED") for line in lines)
    check_recovered(journal, reported_turns(lines))


def test_sigkill_of_a_jupyter_kernel_mid_turn_keeps_every_finished_turn(tmp_path, monkeypatch):
    pytest.importorskip("ipykernel")
    manager_module = pytest.importorskip("jupyter_client.manager")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's migration warning
    journal = tmp_path / "journal.jsonl"
    cell = TURNS_CODE + (f"\nawait run_turns({TEST_KEY!r}, {str(journal)!r}, {FINISHED_TURNS})\n")
    manager = manager_module.KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(tmp_path), env={**os.environ, "PYTHONUNBUFFERED": "1"})
    client = manager.client()
    client.start_channels()
    lines: list[str] = []
    try:
        client.wait_for_ready(timeout=30)
        client.execute(cell)
        buffer = ""
        deadline = time.monotonic() + CHILD_TIMEOUT
        while "MIDTURN" not in lines:
            assert time.monotonic() < deadline, f"no MIDTURN from the kernel; got {lines}"
            try:
                message = client.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            kind, content = message["msg_type"], message["content"]
            assert kind != "error", "\n".join(content.get("traceback", []))
            if kind == "stream" and content["name"] == "stdout":
                buffer += content["text"]
                *complete, buffer = buffer.split("\n")
                lines.extend(complete)
        pid = manager.provisioner.pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while manager.is_alive():
            assert time.monotonic() < deadline, "the kernel survived SIGKILL"
            time.sleep(0.05)
    finally:
        client.stop_channels()
        if manager.is_alive():
            manager.shutdown_kernel(now=True)
        else:
            manager.cleanup_resources()
    check_recovered(journal, reported_turns(lines))


# -- the journal's edges ----------------------------------------------------------------------


async def write_journal(
    path: Path, replies: list[str], *, tool_on: int | None = None
) -> mnb.TurnLog:
    """A real journal: one turn per reply (a tool call first on turn ``tool_on``)."""
    script: list = []
    for number, reply in enumerate(replies, 1):
        if number == tool_on:
            script.append(ToolCall("add", {"a": 1, "b": 2}))
        script.append(reply)
    with mnb.LocalMistral(api_key=TEST_KEY, script=script) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url, log=path) as session:

            @session.tool
            def add(a: int, b: int) -> int:
                """Add two numbers."""
                return a + b

            for number in range(1, len(replies) + 1):
                turn = await session.send(f"message {number}")
                assert turn.ok, turn
    session.log.close()  # release the journal's lock: the tests reopen the file
    return session.log


def journal_lines(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    return raw[:-1].split(b"\n")


@pytest.fixture
async def journal(tmp_path) -> tuple[Path, mnb.TurnLog]:
    path = tmp_path / "journal.jsonl"
    log = await write_journal(path, ["One.", "Two, after a tool.", "Three.", "Four."], tool_on=2)
    return path, log


@pytest.mark.parametrize(
    "keep", [1, 0.5, -1], ids=["first-byte", "half", "all-but-newline-and-brace"]
)
def test_a_torn_last_line_is_skipped_with_a_warning_naming_the_file(journal, keep):
    path, written = journal
    lines = journal_lines(path)
    last = lines[-1]
    cut = {1: 1, 0.5: len(last) // 2, -1: len(last) - 1}[keep]
    path.write_bytes(b"\n".join(lines[:-1]) + b"\n" + last[:cut])

    with pytest.warns(RuntimeWarning, match=f"{path}.*line \\(4\\) is incomplete") as caught:
        log = mnb.TurnLog.load(path)

    assert len(caught) == 1
    assert [t.turn for t in log] == [1, 2, 3]
    assert [as_json(t) for t in log] == [as_json(t) for t in written][:3]
    assert len(log.calls()) == 1 and log.calls().iloc[0]["turn"] == 2


def test_a_last_line_missing_only_its_newline_is_a_whole_turn(journal):
    path, written = journal
    path.write_bytes(path.read_bytes()[:-1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log = mnb.TurnLog.load(path)
    assert [as_json(t) for t in log] == [as_json(t) for t in written]


async def test_a_tear_inside_a_multibyte_character_is_still_only_a_torn_line(tmp_path):
    path = tmp_path / "journal.jsonl"
    await write_journal(path, ["Plain.", "Il fait 18 °C à Paris."])
    lines = journal_lines(path)
    # The journal escapes non-ASCII; a line written with raw UTF-8 must read the same.
    raw_line = json.dumps(json.loads(lines[1]), ensure_ascii=False).encode()
    cut = raw_line.index("°".encode()) + 1  # between the two bytes of the degree sign
    path.write_bytes(lines[0] + b"\n" + raw_line[:cut])

    with warnings.catch_warnings(record=True) as caught:  # lets a TurnLogError through
        warnings.simplefilter("always")
        log = mnb.TurnLog.load(path)
    assert [t.text for t in log] == ["Plain."]
    assert [w.category for w in caught] == [JournalWarning]
    assert issubclass(JournalWarning, RuntimeWarning)  # what the README promises
    assert str(path) in str(caught[0].message) and "incomplete" in str(caught[0].message)


async def test_a_session_reopening_a_torn_journal_keeps_its_new_turns(journal):
    path, _ = journal
    lines = journal_lines(path)
    path.write_bytes(b"\n".join(lines[:-1]) + b"\n" + lines[-1][:40])

    # Not pytest.warns: it would record, then re-raise, the DeprecationWarning that pipecat's
    # smart-turn loader raises (as an error) and swallows on its own.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error")
        warnings.filterwarnings("always", category=RuntimeWarning)
        # The torn turn 4 is gone; the new turns are numbered 4 and 5.
        await write_journal(path, ["Five.", "Six."])
    assert ["incomplete" in str(w.message) for w in caught] == [True]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log = mnb.TurnLog.load(path)
    assert [t.turn for t in log] == [1, 2, 3, 4, 5]
    assert [t.text for t in log][-2:] == ["Five.", "Six."]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"], ids=["LS", "PS", "NEL"])
async def test_a_reply_with_a_unicode_line_separator_survives_the_journal(tmp_path, separator):
    path = tmp_path / "journal.jsonl"
    await write_journal(path, [f"First line{separator}second line.", "Next."])
    assert len(journal_lines(path)) == 2
    log = mnb.TurnLog.load(path)
    assert [t.text for t in log] == [f"First line{separator}second line.", "Next."]


CORRUPTIONS = {
    "garbage": b"this is not JSON at all",
    "torn": b'{"v": 1, "turn": 2, "started_at": "2024-',
    "not-a-turn": b'{"v": 1, "hello": "world"}',
    "bad-date": b'{"v": 1, "turn": 2, "started_at": "yesterday", "user_text": "x", "status": "ok"}',
    "null": b"null",
    "number": b"42",
    "list": b"[1, 2]",
    "tokens-not-an-object": (
        b'{"v": 1, "turn": 2, "started_at": "2024-01-01T00:00:00+00:00", "user_text": "x", '
        b'"status": "ok", "tokens": "abc"}'
    ),
    "invalid-utf8": b'{"v": 1, "turn": 2, "user_text": "\xff\xfe"}',
}


@pytest.mark.parametrize("corruption", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corruption_in_the_middle_skips_that_line_and_reports_its_number(journal, corruption):
    """Issue 10: one bad line no longer costs the whole journal."""
    path, written = journal
    lines = journal_lines(path)
    lines[1] = corruption
    path.write_bytes(b"\n".join(lines) + b"\n")

    with pytest.warns(JournalWarning, match=f"{path}: .*line 2: ") as caught:
        log = mnb.TurnLog.load(path)
    assert len(caught) == 1
    assert [t.turn for t in log] == [1, 3, 4]
    assert [t.text for t in log] == [written[0].text, written[2].text, written[3].text]
    # Line 3's first request shared its earlier messages with the lost turn 2: kept as
    # placeholders, and reported too.
    assert [p.line for p in log.load_problems] == [2, 3]
    assert "unreadable line" in log.load_problems[1].reason
    third = log[1].requests[0]["messages"]
    assert third[-1] == written[2].requests[0]["messages"][-1]
    assert len(third) == len(written[2].requests[0]["messages"])

    # What Session(log=path) does first: it opens the file too, and appends after it.
    with pytest.warns(JournalWarning, match="line 2: "):
        reopened = mnb.TurnLog(path)
    with reopened:
        assert [t.turn for t in reopened] == [1, 3, 4]
        assert reopened.next_turn_number() == 5


def test_a_missing_journal_raises_turnlogerror_naming_it(tmp_path):
    path = tmp_path / "nowhere" / "journal.jsonl"
    with pytest.raises(mnb.TurnLogError, match="no turn log at .*nowhere.*journal.jsonl") as caught:
        mnb.TurnLog.load(path)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_a_directory_is_not_a_journal(tmp_path):
    with pytest.raises(mnb.TurnLogError, match=str(tmp_path)):
        mnb.TurnLog.load(tmp_path)


async def test_a_journal_that_cannot_be_written_is_refused_at_once(tmp_path, local):
    path = tmp_path / "no_such_dir" / "journal.jsonl"
    try:
        session = mnb.Session(api_key=TEST_KEY, base_url=local.base_url, log=path)
    except mnb.TurnLogError as exc:
        assert "no_such_dir" in str(exc)
        return  # refused before any request is sent: fixed one way
    events: list[str] = []
    session.subscribe(lambda event: events.append(event.kind))
    error: BaseException | None = None
    try:
        await session.send("hello")
    except Exception as exc:  # noqa: BLE001 - inspected below
        error = exc
    finally:
        await session.aclose()
    # ... or fixed the other way: a TurnLogError, with the turn properly ended for panels.
    assert isinstance(error, mnb.TurnLogError) and "turn_ended" in events, (
        f"{len(local.requests)} request(s) sent, then {error!r}; events {sorted(set(events))}"
    )


async def test_a_session_on_an_existing_journal_continues_numbering_and_appends(tmp_path):
    path = tmp_path / "journal.jsonl"
    first = await write_journal(path, ["One.", "Two."], tool_on=2)
    before = path.read_bytes()

    with mnb.LocalMistral(api_key=TEST_KEY, script=["Three.", "Four."]) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url, log=path) as session:
            assert len(session.log) == 2 and session.log.path == path
            third = await session.send("message 3")
            fourth = await session.send("message 4")

    assert (third.turn, fourth.turn) == (3, 4)
    assert [t.turn for t in session.log] == [1, 2, 3, 4]
    raw = path.read_bytes()
    assert raw.startswith(before), "the earlier turns were rewritten, not appended to"
    assert raw.count(b"\n") == 4
    loaded = mnb.TurnLog.load(path)
    assert [t.text for t in loaded] == ["One.", "Two.", "Three.", "Four."]
    assert [as_json(t) for t in loaded][:2] == [as_json(t) for t in first]
    assert loaded.calls()["turn"].tolist() == [2]
    # The model saw only this session's conversation, not the journal's earlier turns.
    assert [m["content"] for m in local.requests[0]["messages"]] == ["message 3"]


def test_load_does_not_append_but_save_does(tmp_path, journal):
    path, _ = journal
    loaded = mnb.TurnLog.load(path)
    assert loaded.path is None
    copy = loaded.save(tmp_path / "copy.jsonl")
    assert copy.read_bytes() == path.read_bytes()


async def test_each_finished_turn_is_on_disk_before_send_returns(tmp_path, local):
    path = tmp_path / "journal.jsonl"
    sizes = []
    async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url, log=path) as session:
        session.subscribe(
            lambda event: sizes.append(path.stat().st_size) if event.kind == "turn_ended" else None
        )
        for number in range(1, 4):
            turn = await session.send(f"message {number}")
            lines = journal_lines(path)
            assert len(lines) == number
            assert json.loads(lines[-1])["turn"] == turn.turn
            assert json.loads(lines[-1])["tokens"]["text"] == turn.token_text
    assert sizes == sorted(sizes) and len(set(sizes)) == 3
