"""A damaged journal still gives back every turn it can (issue 10, point 2 and "Critical").

A BOM, a flipped byte, a deleted line, a fragment glued to the next turn (what a failed
write followed by a good one used to leave), a line that is whole but lacks its newline:
``TurnLog.load`` and ``TurnLog(path)`` skip and report what they cannot read, with line
numbers, never refuse the file, and never cut a complete line.
"""

from __future__ import annotations

import json
import os
import random
import warnings
from pathlib import Path

import pytest
from journal_turns import as_json, conversation, journal_lines

import mistral_nb as mnb
from mistral_nb._errors import JournalWarning  # not re-exported by mistral_nb yet


@pytest.fixture
def journal(tmp_path) -> tuple[Path, list[mnb.Turn]]:
    path = tmp_path / "journal.jsonl"
    turns = conversation(4)
    with mnb.TurnLog(path) as log:
        for turn in turns:
            log.append(turn)
    return path, turns


def load_quietly(path: Path) -> mnb.TurnLog:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JournalWarning)
        return mnb.TurnLog.load(path)


def test_a_utf8_bom_is_ignored(journal):
    path, turns = journal
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log = mnb.TurnLog.load(path)
        assert [as_json(t) for t in log] == [as_json(t) for t in turns]
        with mnb.TurnLog(path) as reopened:  # and appending after it works
            reopened.append(conversation(1, first=5)[0])
        assert [t.turn for t in mnb.TurnLog.load(path)] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("seed", range(40))
def test_a_flipped_byte_costs_at_most_its_own_line(journal, seed):
    path, turns = journal
    raw = bytearray(path.read_bytes())
    lines = journal_lines(path)
    start = len(lines[0]) + 1  # a byte of line 2
    rng = random.Random(seed)
    position = rng.randrange(start, start + len(lines[1]))
    raw[position] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(raw))

    log = load_quietly(path)  # never raises
    numbers = [t.turn for t in log]
    assert {1, 3, 4} <= set(numbers) and len(numbers) <= 4
    kept = {t.turn: as_json(t) for t in log}
    assert kept[1] == as_json(turns[0]) and kept[4]["tokens"] == as_json(turns[3])["tokens"]
    assert all(p.line in (2, 3) for p in log.load_problems)
    if len(numbers) == 3:
        assert log.load_problems[0].line == 2
    # Reading it again and writing on gives the same turns plus the new one.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JournalWarning)
        reopened = mnb.TurnLog(path)
    with reopened:
        assert reopened.next_turn_number() >= 5
        reopened.append(conversation(1, first=reopened.next_turn_number())[0])
    assert len(load_quietly(path)) == len(numbers) + 1


def test_a_deleted_line_is_noticed_and_the_rest_loads(journal):
    path, turns = journal
    lines = journal_lines(path)
    del lines[1]
    path.write_bytes(b"\n".join(lines) + b"\n")

    with pytest.warns(JournalWarning, match="line 2: .*unreadable line"):
        log = mnb.TurnLog.load(path)
    assert [t.turn for t in log] == [1, 3, 4]
    # Turn 3 shared its first messages with turn 2's request, which is gone:
    # placeholders of the right count, its own messages intact.
    messages = log[1].requests[0]["messages"]
    assert len(messages) == len(turns[2].requests[0]["messages"])
    assert messages[-1] == {"role": "user", "content": turns[2].user_text}
    assert "_lost" in messages[0]
    assert log[2].requests[0]["messages"][-1] == turns[3].requests[0]["messages"][-1]


def test_a_turn_glued_to_a_torn_fragment_is_salvaged(journal):
    """The journal the old code left after a failed write (issue 10, Critical)."""
    path, turns = journal
    lines = journal_lines(path)
    glued = lines[2][: len(lines[2]) // 2] + lines[3]
    path.write_bytes(b"\n".join([lines[0], lines[1], glued]) + b"\n")

    with pytest.warns(JournalWarning, match="line 3: .* bytes before turn 4"):
        log = mnb.TurnLog.load(path)
    assert [t.turn for t in log] == [1, 2, 4]
    assert as_json(log[2])["tokens"] == as_json(turns[3])["tokens"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JournalWarning)
        with mnb.TurnLog(path) as reopened:
            assert reopened.next_turn_number() == 5


def test_a_corrupt_last_line_that_is_whole_is_never_cut(journal):
    path, _ = journal
    lines = journal_lines(path)
    lines[-1] = lines[-1].replace(b'"started_at": "', b'"started_at": "when? ', 1)
    damaged = b"\n".join(lines) + b"\n"
    path.write_bytes(damaged)

    with pytest.warns(JournalWarning, match="line 4: "):
        log = mnb.TurnLog(path)
    with log:
        assert log.next_turn_number() == 5  # its number is not reused
        log.append(conversation(1, first=5)[0])
    assert path.read_bytes().startswith(damaged)
    assert [t.turn for t in load_quietly(path)] == [1, 2, 3, 5]


def test_a_whole_last_line_without_its_newline_gets_one_before_the_next(journal):
    path, _ = journal
    path.write_bytes(path.read_bytes()[:-1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with mnb.TurnLog(path) as log:
            assert len(log) == 4
            log.append(conversation(1, first=5)[0])
        loaded = mnb.TurnLog.load(path)
    assert [t.turn for t in loaded] == [1, 2, 3, 4, 5]
    assert len(journal_lines(path)) == 5


def test_a_file_that_is_no_journal_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(mnb.TurnLogError, match="not a turn-log journal"):
        mnb.TurnLog.load(path)
    with pytest.raises(mnb.TurnLogError, match="not a turn-log journal"):
        mnb.TurnLog(path)
    assert path.read_text() == "a,b\n1,2\n3,4\n"


def test_many_bad_lines_are_listed_in_load_problems(journal):
    path, _ = journal
    lines = journal_lines(path)
    noise = [b"garbage %d" % i for i in range(8)]
    path.write_bytes(b"\n".join([lines[0], *noise, *lines[1:]]) + b"\n")
    with pytest.warns(JournalWarning, match="8 line\\(s\\) could not be read.* and 3 more"):
        log = mnb.TurnLog.load(path)
    assert [t.turn for t in log] == [1, 2, 3, 4]
    assert [p.line for p in log.load_problems] == list(range(2, 10))
    assert all(p.reason.startswith("not JSON") for p in log.load_problems)


def test_a_lone_surrogate_escaped_in_a_journal_line_is_replaced(journal):
    path, _ = journal
    lines = journal_lines(path)
    data = json.loads(lines[0])
    data["user_text"] = "caf\udce9.txt"  # what os.listdir gives for a Latin-1 name
    lines[0] = json.dumps(data).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.warns(JournalWarning, match="line 1: lone surrogates"):
        log = mnb.TurnLog.load(path)
    assert log[0].user_text == "caf\ufffd.txt"
    log.turns().to_csv(path.with_suffix(".csv"))  # encodes


def test_a_fifo_is_refused_at_once_instead_of_blocking(tmp_path):
    path = tmp_path / "journal.jsonl"
    os.mkfifo(path)
    with pytest.raises(mnb.TurnLogError, match="not a regular file"):
        mnb.TurnLog.load(path)
    with pytest.raises(mnb.TurnLogError, match="not a regular file"):
        mnb.TurnLog(path)
