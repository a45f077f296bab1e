"""A journal that never loses a turn: failed writes, one writer, rotation (issue 10, point 2).

Write failures are real kernel errors, never a patched function:

- always: the process's file-size limit (``RLIMIT_FSIZE``), which makes a write that
  crosses it stop part-way (a torn fragment) and the next one fail with EFBIG;
- as root: a 64 KiB tmpfs filled up (ENOSPC, also through a real Session).
  Skipped with a reason when not root;
- a journal whose directory vanished (ENOENT when it is recreated).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from conftest import TEST_KEY
from journal_turns import as_json, conversation, journal_lines

import mistral_nb as mnb
from mistral_nb._errors import JournalWarning  # not re-exported by mistral_nb yet


@contextlib.contextmanager
def file_size_limit(limit: int):
    """Writes past ``limit`` bytes fail in this process (EFBIG) until the block ends."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def loads_cleanly(path: Path) -> mnb.TurnLog:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torn line, no skipped line
        return mnb.TurnLog.load(path)


def test_a_failed_write_is_cut_back_warned_and_written_later(tmp_path):
    path = tmp_path / "journal.jsonl"
    turns = conversation(5)
    with mnb.TurnLog(path) as log:
        log.append(turns[0])
        log.append(turns[1])
        size = path.stat().st_size

        # Turn 3's line crosses the limit: the kernel writes part of it, then EFBIG.
        with file_size_limit(size + 100), pytest.warns(JournalWarning) as caught:
            log.append(turns[2])
        message = str(caught[0].message)
        assert f"{path} missed turn 3" in message and "EFBIG" in message
        assert "log.flush()" in message
        assert turns[2].warnings == [message]  # the turn carries it too
        assert log.unwritten == [3] and len(log) == 3
        # The fragment was cut: the file is the two whole lines, loadable as it is.
        assert path.stat().st_size == size
        assert [t.turn for t in loads_cleanly(path)] == [1, 2]

        with file_size_limit(size + 100), pytest.warns(JournalWarning, match="as are turns 3"):
            log.append(turns[3])
        assert log.unwritten == [3, 4]

        log.append(turns[4])  # space is back: the missed turns first, in order
        assert log.unwritten == []
    loaded = loads_cleanly(path)
    assert [t.turn for t in loaded] == [1, 2, 3, 4, 5]
    assert [as_json(t) for t in loaded] == [as_json(t) for t in turns]
    assert len(journal_lines(path)) == 5


def test_flush_writes_what_was_missed_without_a_new_turn(tmp_path):
    path = tmp_path / "journal.jsonl"
    turns = conversation(2)
    log = mnb.TurnLog(path)
    log.append(turns[0])
    with file_size_limit(path.stat().st_size + 10), pytest.warns(JournalWarning):
        log.append(turns[1])
    with file_size_limit(path.stat().st_size + 10), pytest.warns(JournalWarning, match="still"):
        assert log.flush() is False
    assert log.flush() is True and log.unwritten == []
    log.close()
    assert [as_json(t) for t in loads_cleanly(path)] == [as_json(t) for t in turns]


def test_close_says_which_turns_never_reached_the_disk(tmp_path):
    path = tmp_path / "journal.jsonl"
    log = mnb.TurnLog(path)
    log.append(conversation(1)[0])
    limit = path.stat().st_size + 10
    with file_size_limit(limit):
        with pytest.warns(JournalWarning):
            log.append(conversation(1, first=2)[0])
        with pytest.warns(JournalWarning, match="closed without turns 2 .*log.save"):
            log.close()
    assert log.path is None and len(log) == 2  # still readable in memory
    log.close()  # twice is harmless
    assert [t.turn for t in loads_cleanly(path)] == [1]


async def test_send_returns_the_turn_when_the_journal_cannot_be_written(tmp_path, local):
    """The session side, without root: the file-size limit applies to its thread too."""
    path = tmp_path / "journal.jsonl"
    async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url, log=path) as session:
        first = await session.send("first")
        with file_size_limit(path.stat().st_size + 50), pytest.warns(JournalWarning) as caught:
            second = await session.send("second")
        assert second.ok and second.text
        assert "missed turn 2" in str(caught[0].message) and second.warnings
        assert session.log.unwritten == [2]
        third = await session.send("third")
        assert session.log.unwritten == []
    loaded = loads_cleanly(path)
    assert [t.text for t in loaded] == [first.text, second.text, third.text]


# -- a real full disk (root: a small tmpfs) ---------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs, mounted for the test and unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the RLIMIT_FSIZE tests cover the rest")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Take every free byte of ``directory``'s filesystem."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for chunk in (4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"x" * chunk):
                    pass
    finally:
        os.close(fd)
    return filler


async def test_a_full_disk_mid_session_costs_no_turn(small_disk, local):
    path = small_disk / "journal.jsonl"
    session = mnb.Session(api_key=TEST_KEY, base_url=local.base_url, log=path)
    try:
        first = await session.send("first")
        filler = fill(small_disk)
        with pytest.warns(JournalWarning, match="missed turn 2.*ENOSPC"):
            second = await session.send("second")
        assert second.ok and any("missed turn 2" in w for w in second.warnings)
        assert [t.turn for t in loads_cleanly(path)] == [1]
        filler.unlink()
        third = await session.send("third")
        assert third.ok and not third.warnings
    finally:
        await session.aclose()
    loaded = loads_cleanly(path)
    assert [t.turn for t in loaded] == [1, 2, 3]
    assert [t.text for t in loaded] == [first.text, second.text, third.text]


def test_a_line_larger_than_the_space_left_leaves_no_fragment(small_disk, tmp_path):
    path = small_disk / "journal.jsonl"
    turns = conversation(3, words=400)
    with mnb.TurnLog(tmp_path / "measure.jsonl") as measure:
        measure.append(turns[0])
        line_size = (tmp_path / "measure.jsonl").stat().st_size
    log = mnb.TurnLog(path)
    log.append(turns[0])
    filler = fill(small_disk)
    os.truncate(filler, filler.stat().st_size - line_size // 2)  # room for half a line
    with pytest.warns(JournalWarning, match="ENOSPC"):
        log.append(turns[1])
    assert [t.turn for t in loads_cleanly(path)] == [1]
    filler.unlink()
    log.append(turns[2])
    log.close()
    assert [as_json(t) for t in loads_cleanly(path)] == [as_json(t) for t in turns]


def test_a_journal_whose_directory_vanished_catches_up_when_it_is_back(tmp_path):
    # Linux refuses to remount a filesystem read-only while a file on it is open for
    # writing (EBUSY), so a read-only disk cannot appear under an open journal; a
    # directory that vanishes is the same path through the code (any OSError).
    directory = tmp_path / "logs"
    directory.mkdir()
    path = directory / "journal.jsonl"
    turns = conversation(3)
    log = mnb.TurnLog(path)
    log.append(turns[0])
    shutil.rmtree(directory)
    with pytest.warns(JournalWarning, match="missed turn 2.*ENOENT|missed turn 2.*No such"):
        log.append(turns[1])
    directory.mkdir()
    log.append(turns[2])
    log.close()
    # A new file: it starts with the turns that were waiting, readable on its own.
    assert [as_json(t) for t in loads_cleanly(path)] == [as_json(t) for t in turns[1:]]


# -- one writer per journal ------------------------------------------------------------------


def test_a_second_writer_in_this_process_is_refused_until_the_first_closes(tmp_path):
    path = tmp_path / "journal.jsonl"
    first = mnb.TurnLog(path)
    first.append(conversation(1)[0])
    with pytest.raises(mnb.TurnLogError, match="another session is writing .*log.close") as err:
        mnb.TurnLog(path)
    assert isinstance(err.value, ValueError) and str(path) in str(err.value)
    assert len(mnb.TurnLog.load(path)) == 1  # reading needs no lock
    first.close()
    with mnb.TurnLog(path) as second:
        assert len(second) == 1


def test_dropping_a_log_releases_its_lock(tmp_path):
    path = tmp_path / "journal.jsonl"
    log = mnb.TurnLog(path)
    del log
    gc.collect()
    mnb.TurnLog(path).close()


async def test_two_sessions_on_one_journal_path(tmp_path, local):
    path = tmp_path / "journal.jsonl"
    async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url, log=path) as first:
        await first.send("hello")
        with pytest.raises(mnb.TurnLogError, match="another session"):
            mnb.Session(api_key=TEST_KEY, base_url=local.base_url, log=path)
        await first.send("again")
    # The session closed its log: the path is free again.
    async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url, log=path) as second:
        assert [t.turn for t in second.log] == [1, 2]
    assert len(local.requests) == 2


def test_a_writer_in_another_process_is_refused(tmp_path):
    path = tmp_path / "journal.jsonl"
    code = (
        "import sys, mistral_nb as mnb\n"
        "try:\n    mnb.TurnLog(sys.argv[1])\n"
        "except mnb.TurnLogError as exc:\n    print('REFUSED', exc)\n"
    )
    with mnb.TurnLog(path):
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.stdout.startswith("REFUSED another session is writing"), done.stderr


def test_save_moves_the_journal_and_its_lock(tmp_path):
    first_path, second_path = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    log = mnb.TurnLog(first_path)
    log.append(conversation(1)[0])
    log.save(second_path)
    assert log.path == second_path
    mnb.TurnLog(first_path).close()  # released
    with pytest.raises(mnb.TurnLogError):
        mnb.TurnLog(second_path)
    log.save(second_path)  # its own journal: allowed
    log.append(conversation(1, first=2)[0])
    log.close()
    assert [t.turn for t in loads_cleanly(second_path)] == [1, 2]
    assert [t.turn for t in loads_cleanly(first_path)] == [1]


# -- removed, renamed, truncated mid-session -------------------------------------------------


@pytest.mark.parametrize("how", ["renamed", "removed", "truncated"])
def test_a_journal_rotated_mid_session_is_started_afresh(tmp_path, how):
    path = tmp_path / "journal.jsonl"
    turns = conversation(4)
    log = mnb.TurnLog(path)
    log.append(turns[0])
    log.append(turns[1])
    if how == "renamed":
        path.rename(tmp_path / "journal.jsonl.1")
    elif how == "removed":
        path.unlink()
    else:  # logrotate's copytruncate
        shutil.copy(path, tmp_path / "journal.jsonl.1")
        path.write_bytes(b"")
    log.append(turns[2])
    log.append(turns[3])
    # A new writer is refused on the new file too.
    with pytest.raises(mnb.TurnLogError):
        mnb.TurnLog(path)
    log.close()

    fresh = loads_cleanly(path)
    assert [as_json(t) for t in fresh] == [as_json(t) for t in turns[2:]]
    first_line = json.loads(journal_lines(path)[0])
    assert "_shares_with" not in first_line  # it stands alone
    if how != "removed":
        rotated = loads_cleanly(tmp_path / "journal.jsonl.1")
        assert [t.turn for t in rotated] == [1, 2]
