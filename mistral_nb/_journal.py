"""The turn log on disk: JSON Lines, one finished turn a line, appended and fsynced.

A kernel killed mid-session loses at most the turn that was running: every
finished turn is on disk before ``send`` returns.  Reading is strict in the
middle (a bad line there is a ``TurnLogError`` with its line number) and
forgiving at the end (a line torn by the kill is skipped with a warning, and
cut away before anything is appended after it).

Each request body repeats the whole conversation so far.  A journal line keeps
only the messages that are new since the previous request
(``"_messages_kept": n`` says how many it shares), and in memory equal messages
are one object, so the log grows with the conversation, not with its square.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._errors import TurnLogError
from ._turn import Turn

__all__ = ["Journal", "read_journal", "share_messages"]

JOURNAL_VERSION = 1
_KEPT = "_messages_kept"


def share_messages(requests: list[dict[str, Any]], previous: dict[str, Any] | None) -> Any:
    """Make each body's leading messages the same objects as the previous body's.

    Returns the last body, to pass as ``previous`` next time.
    """
    for body in requests:
        messages = body.get("messages")
        earlier = previous.get("messages") if previous else None
        if isinstance(messages, list) and isinstance(earlier, list):
            for index in range(min(len(messages), len(earlier))):
                if messages[index] is not earlier[index]:
                    if messages[index] != earlier[index]:
                        break
                    messages[index] = earlier[index]
        previous = body
    return previous


def _shared_prefix(messages: list[Any], earlier: list[Any]) -> int:
    count = 0
    for mine, theirs in zip(messages, earlier):
        if mine is not theirs and mine != theirs:
            break
        count += 1
    return count


def _encode_requests(requests: list[dict[str, Any]], previous: dict[str, Any] | None) -> list[Any]:
    encoded = []
    for body in requests:
        messages, earlier = body.get("messages"), (previous or {}).get("messages")
        line = body
        if isinstance(messages, list) and isinstance(earlier, list):
            kept = _shared_prefix(messages, earlier)
            if kept:
                line = {**body, "messages": messages[kept:], _KEPT: kept}
        encoded.append(line)
        previous = body
    return encoded


def _decode_requests(encoded: list[Any], previous: dict[str, Any] | None) -> list[dict[str, Any]]:
    requests = []
    for body in encoded:
        if isinstance(body, dict) and _KEPT in body:
            body = dict(body)
            kept = body.pop(_KEPT)
            earlier = (previous or {}).get("messages")
            if not isinstance(earlier, list) or not isinstance(kept, int) or kept > len(earlier):
                raise ValueError(f"a request shares {kept!r} messages with one that lacks them")
            body["messages"] = earlier[:kept] + list(body.get("messages") or [])
        requests.append(body)
        previous = body
    return requests


def _encode_turn(turn: Turn, previous: dict[str, Any] | None) -> str:
    data = {"v": JOURNAL_VERSION, **turn.to_dict()}
    data["requests"] = _encode_requests(turn.requests, previous)
    # ensure_ascii keeps U+2028 and friends escaped: a line is a line to every reader.
    return json.dumps(data, ensure_ascii=True) + "\n"


def _write(path: Path, text: str, mode: str) -> None:
    try:
        with open(path, mode, encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise TurnLogError(
            f"cannot write the turn log at {path} ({exc.strerror or exc}); pick a writable path"
        ) from exc


def _last_request(turns: list[Turn]) -> dict[str, Any] | None:
    for turn in reversed(turns):
        if turn.requests:
            return turn.requests[-1]
    return None


def read_journal(path: Path) -> tuple[list[Turn], int | None]:
    """The turns of a journal, and the byte offset where a torn last line starts (if any)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise TurnLogError(f"no turn log at {path}; check the path") from exc
    except IsADirectoryError as exc:
        raise TurnLogError(f"{path} is a directory; give the path of a .jsonl journal") from exc
    except OSError as exc:
        raise TurnLogError(f"cannot read the turn log at {path} ({exc.strerror or exc})") from exc
    lines = raw.split(b"\n")
    last = len(lines) if lines[-1] else len(lines) - 1  # the number of the last non-empty line
    turns: list[Turn] = []
    previous: dict[str, Any] | None = None
    offset = 0
    for number, line in enumerate(lines, 1):
        start, offset = offset, offset + len(line) + 1
        if not line.strip():
            continue
        try:
            data = json.loads(line.decode("utf-8"))
            if not isinstance(data, dict):
                raise TypeError(f"a {type(data).__name__}, not an object")
            data["requests"] = _decode_requests(data.get("requests") or [], previous)
            turn = Turn.from_dict(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if number == last:
                warnings.warn(
                    f"{path}: the last line ({number}) is incomplete (the session was probably "
                    "killed while writing it) and was skipped",
                    RuntimeWarning,
                    stacklevel=4,
                )
                return turns, start
            raise TurnLogError(
                f"{path}, line {number}, is not a turn-log entry ({exc}); "
                "is this a journal written by mistral_nb?"
            ) from exc
        turns.append(turn)
        previous = _last_request([turn]) or previous
    return turns, None


class Journal:
    """A journal file that finished turns are appended to."""

    def __init__(self, path: Path, previous_request: dict[str, Any] | None = None) -> None:
        self.path = path
        self._previous = previous_request

    @classmethod
    def open(cls, path: Path) -> tuple[Journal, list[Turn]]:
        """Open (or create) a journal to append to; returns it and the turns already in it."""
        turns: list[Turn] = []
        if path.exists():
            turns, torn_at = read_journal(path)
            if torn_at is not None:
                # Cut the torn fragment away, or the next line would be glued to it.
                with open(path, "r+b") as handle:
                    handle.truncate(torn_at)
        _write(path, "", "a")  # fail now, before a paid request, if it cannot be written
        return cls(path, _last_request(turns)), turns

    def _encode(self, turns: Iterable[Turn]) -> str:
        lines = []
        for turn in turns:
            lines.append(_encode_turn(turn, self._previous))
            self._previous = _last_request([turn]) or self._previous
        return "".join(lines)

    def append(self, turns: Iterable[Turn]) -> None:
        _write(self.path, self._encode(turns), "a")

    @classmethod
    def write(cls, path: Path, turns: list[Turn]) -> Journal:
        """Write ``turns`` as a new journal (atomically) and return it."""
        journal = cls(path)
        tmp = path.with_name(path.name + ".tmp")
        _write(tmp, journal._encode(turns), "w")
        os.replace(tmp, path)
        return journal
