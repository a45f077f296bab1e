"""The turn log on disk: JSON Lines, one finished turn a line, appended and fsynced.

A kernel killed mid-session loses at most the turn that was running: every
finished turn is on disk before ``send`` returns.  The line format and the
forgiving reader are in ``_journal_format.py``; this module writes.

Writing never costs a turn and never leaves a file that cannot be read:

- A failed write (disk full, I/O error, read-only, file size limit: any
  ``OSError``) is cut back to the last whole line, and the turn waits in memory.
  ``append`` says what failed instead of raising; the waiting turns are written,
  in order, with the next turn that can be (or by ``flush``).  If even the cut
  fails, the next write starts on a fresh line, and the reader skips the fragment.
- One writer per file: an exclusive ``flock`` on the journal, held while it is
  open, refuses a second session (in this process or another) at once.
- A journal removed or rotated (renamed, truncated) mid-session is noticed at the
  next write and started afresh at the same path, readable on its own.
"""

from __future__ import annotations

import errno
import os
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._errors import TurnLogError
from ._journal_format import JournalContents, encode_turn, last_request, read_journal
from ._turn import Turn

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, journals are not locked
    fcntl = None  # type: ignore[assignment]

__all__ = ["Journal"]

_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


def _close(fd: int) -> None:
    try:
        os.close(fd)  # also releases the flock
    except OSError:
        pass


def _describe(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "")
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{reason} [{name}]" if name else reason


def _lock(fd: int, path: Path) -> None:
    if fcntl is None:  # pragma: no cover
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise TurnLogError(
                f"another session is writing to the turn log at {path}; two writers would "
                "mix their turns. Give this one its own log= path, or close the other "
                "(session.close() or log.close())"
            ) from exc
        # A filesystem without locks (some network mounts): write unlocked.


def _open_locked(path: Path) -> int:
    if path.exists() and not path.is_dir() and not path.is_file():
        raise TurnLogError(f"{path} is not a regular file; give the path of a .jsonl journal")
    try:
        fd = os.open(path, _FLAGS, 0o644)
    except OSError as exc:
        raise TurnLogError(
            f"cannot write the turn log at {path} ({_describe(exc)}); pick a writable path"
        ) from exc
    try:
        _lock(fd, path)
    except BaseException:
        _close(fd)
        raise
    return fd


def _fsync_directory(path: Path) -> None:
    # A new file's name is only durable once its directory is synced.
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Journal:
    """A journal file that finished turns are appended to, locked while open."""

    def __init__(self, path: Path, fd: int, previous: tuple[dict[str, Any], int] | None) -> None:
        self.path = path
        self._fd: int | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._adopt(fd)
        self._previous = previous
        self._pending: list[Turn] = []
        self._cut_to: int | None = None  # a failed write left a fragment from here on
        self._needs_newline = False  # the file ends mid-line: start the next write on a new one
        self._size = os.fstat(fd).st_size  # where our last whole line ends

    def _adopt(self, fd: int) -> None:
        self._release()
        self._fd = fd
        # Garbage collection releases the lock too (a session dropped without close()).
        self._finalizer = weakref.finalize(self, _close, fd)

    def _release(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._fd, self._finalizer = None, None

    @property
    def closed(self) -> bool:
        return self._fd is None

    @property
    def pending(self) -> list[int]:
        """The numbers of finished turns not on disk yet."""
        return [turn.turn for turn in self._pending]

    @classmethod
    def open(cls, path: Path) -> tuple[Journal, JournalContents]:
        """Open (or create) a journal to append to; returns it and what it already holds."""
        fd = _open_locked(path)
        try:
            contents = read_journal(path)
            if contents.torn_at is not None:
                # Cut the torn fragment away, or the next line would be glued to it.
                os.ftruncate(fd, contents.torn_at)
            journal = cls(path, fd, last_request(contents.turns))
        except BaseException:
            _close(fd)
            raise
        journal._needs_newline = contents.ends_mid_line  # a whole last line without "\n"
        _fsync_directory(path)
        return journal, contents

    @classmethod
    def write(cls, path: Path, turns: list[Turn], *, keep: Journal | None = None) -> Journal:
        """Write ``turns`` as a new journal (atomically) and return it, open and locked.

        Args:
            keep: The journal this log appends to now, when it is at ``path`` (its own
                lock does not refuse the rewrite).
        """
        if keep is None or keep.closed or not keep._is_at(path):
            try:
                # O_NONBLOCK: opening a FIFO for reading would wait for a writer.
                flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
                probe = os.open(path, flags)
            except OSError:
                probe = None  # no file there yet (or unreadable: the write will say)
            if probe is not None:
                try:
                    _lock(probe, path)
                finally:
                    _close(probe)
        tmp = path.with_name(path.name + ".tmp")
        fd = _open_locked(tmp)
        previous: tuple[dict[str, Any], int] | None = None
        try:
            os.ftruncate(fd, 0)
            for turn in turns:
                _write_all(fd, encode_turn(turn, previous).encode("ascii"))
                previous = last_request([turn]) or previous
            os.fsync(fd)
            os.replace(tmp, path)  # the lock moves with the file
        except OSError as exc:
            _close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise TurnLogError(
                f"cannot write the turn log at {path} ({_describe(exc)}); pick a writable path"
            ) from exc
        _fsync_directory(path)
        return cls(path, fd, previous)

    def _is_at(self, path: Path) -> bool:
        try:
            there = os.stat(path)
        except OSError:
            return False
        assert self._fd is not None
        mine = os.fstat(self._fd)
        return (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino)

    # -- appending -----------------------------------------------------------

    def append(self, turns: Iterable[Turn]) -> str | None:
        """Write ``turns`` (after any still waiting); None, or what went wrong.

        Never raises for a failed write: the turns wait in memory for the next try.
        """
        self._pending.extend(turns)
        return self.flush()

    def flush(self) -> str | None:
        """Write the turns still waiting; None when all are on disk, else the reason."""
        if not self._pending:
            return None
        if self._fd is None:
            return "the journal is closed"
        start: int | None = None
        try:
            fd = self._follow_path()
            self._cut_fragment(fd)
            previous, lines = self._previous, []
            for turn in self._pending:
                lines.append(encode_turn(turn, previous))
                previous = last_request([turn]) or previous
            data = "".join(lines).encode("ascii")
            start = os.fstat(fd).st_size
            if self._needs_newline or self._cut_to is not None:
                data = b"\n" + data  # after a fragment that could not be cut: a fresh line
            _write_all(fd, data)
            os.fsync(fd)
        except (OSError, TurnLogError) as exc:
            if start is not None:
                if self._cut_to is None:
                    self._cut_to = start
                self._cut_fragment(self._fd)
            return _describe(exc) if isinstance(exc, OSError) else str(exc)
        self._size = start + len(data)
        self._previous, self._pending = previous, []
        self._cut_to, self._needs_newline = None, False
        return None

    def _cut_fragment(self, fd: int | None) -> None:
        if fd is None or self._cut_to is None:
            return
        try:
            os.ftruncate(fd, self._cut_to)
            os.fsync(fd)
        except OSError:
            return  # the next write starts on a fresh line instead
        self._cut_to = None

    def _follow_path(self) -> int:
        """The descriptor to write to: a new file if the journal was removed or rotated."""
        assert self._fd is not None
        mine = os.fstat(self._fd)
        try:
            there: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            there = None
        if there is not None and (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino):
            if mine.st_size < self._size:
                # Truncated in place (copytruncate): the lines shared with are gone.
                self._previous, self._cut_to = None, None
                self._size = mine.st_size
                self._needs_newline = not self._ends_with_newline(self._fd)
            return self._fd
        fd = _open_locked(self.path)
        self._adopt(fd)
        # The first line of the new file must not lean on lines in the old one.
        self._previous, self._cut_to = None, None
        self._size = os.fstat(fd).st_size
        self._needs_newline = not self._ends_with_newline(fd)
        _fsync_directory(self.path)
        return fd

    @staticmethod
    def _ends_with_newline(fd: int) -> bool:
        size = os.fstat(fd).st_size
        return size == 0 or os.pread(fd, 1, size - 1) == b"\n"

    def close(self) -> str | None:
        """Write what is waiting, then release the file; the reason if turns stay unwritten."""
        problem = self.flush() if self._fd is not None else None
        self._release()
        return problem


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
