"""The journal's lines: one finished turn a line of JSON, and how to read them back.

Each request body repeats the whole conversation so far.  A line keeps only the
messages that are new since the previous request (``"_messages_kept": n`` says
how many it shares, ``"_shares_with": turn`` with which turn's request), and in
memory equal messages are one object, so the log grows with the conversation,
not with its square.

Reading salvages what it can.  A line that cannot be read (a flipped byte, a
fragment a failed write left, garbage) is skipped and reported with its line
number; a turn glued behind a fragment is found and kept; a line whose shared
messages were on a lost line keeps its own and marks the missing ones; a UTF-8
BOM is ignored.  Optional fields (token ``kind`` and ``choice``, ``cached_tokens``)
are absent from old journals, which load as they always did.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ._errors import TurnLogError
from ._text import clean_value
from ._turn import Turn

__all__ = ["JournalContents", "LoadProblem", "encode_turn", "read_journal", "share_messages"]

JOURNAL_VERSION = 1
_KEPT = "_messages_kept"
_SHARES_WITH = "_shares_with"
#: What stands for a message that was on a line the reader could not read.
LOST_MESSAGE = {"_lost": "this message was on an unreadable journal line"}
_BOM = b"\xef\xbb\xbf"
_LINE_START = re.compile(rb'\{"v": ?\d')
_TURN_NUMBER = re.compile(rb'"turn": ?(\d{1,9})[,}]')


class LoadProblem(NamedTuple):
    """A journal line that was skipped or only partly read."""

    line: int
    reason: str


@dataclass
class JournalContents:
    """What ``read_journal`` found."""

    turns: list[Turn] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    torn_at: int | None = None  # the offset of a torn last line (no newline, unreadable)
    torn_line: int = 0  # and its line number
    ends_mid_line: bool = False  # the last line is whole but lacks its newline
    highest_turn: int = 0  # skipped lines included, so turn numbers never repeat


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


def last_request(turns: list[Turn]) -> tuple[dict[str, Any], int] | None:
    """The last request body of ``turns`` and its turn's number, if any turn sent one."""
    for turn in reversed(turns):
        if turn.requests:
            return turn.requests[-1], turn.turn
    return None


def encode_turn(turn: Turn, previous: tuple[dict[str, Any], int] | None) -> str:
    """One journal line (with its newline) for ``turn``."""
    data: dict[str, Any] = {"v": JOURNAL_VERSION, **turn.to_dict()}
    encoded, body = [], previous[0] if previous else None
    for request in turn.requests:
        messages, earlier = request.get("messages"), (body or {}).get("messages")
        line = request
        if isinstance(messages, list) and isinstance(earlier, list):
            kept = _shared_prefix(messages, earlier)
            if kept:
                line = {**request, "messages": messages[kept:], _KEPT: kept}
                if previous is not None and body is previous[0]:
                    data[_SHARES_WITH] = previous[1]
        encoded.append(line)
        body = request
    data["requests"] = encoded
    # ensure_ascii keeps U+2028 and friends escaped: a line is a line to every reader.
    return json.dumps(data, ensure_ascii=True) + "\n"


def _decode_requests(
    data: dict[str, Any], previous: tuple[dict[str, Any], int] | None
) -> tuple[list[dict[str, Any]], int]:
    """The line's request bodies in full, and how many shared messages were lost."""
    requests: list[dict[str, Any]] = []
    body = previous[0] if previous else None
    expected = data.get(_SHARES_WITH)
    if expected is not None and (previous is None or previous[1] != expected):
        body = None  # the turn it shares with is on a line that was skipped
    lost = 0
    for encoded in data.get("requests") or []:
        if not isinstance(encoded, dict):
            raise TypeError(f"a request body is a {type(encoded).__name__}")
        request = encoded
        if _KEPT in encoded:
            request = dict(encoded)
            kept = request.pop(_KEPT)
            if not isinstance(kept, int) or kept < 0:
                raise ValueError(f"a request shares {kept!r} messages")
            earlier = (body or {}).get("messages")
            own = list(request.get("messages") or [])
            if isinstance(earlier, list) and kept <= len(earlier):
                request["messages"] = earlier[:kept] + own
            else:
                lost += kept
                request["messages"] = [LOST_MESSAGE] * kept + own
        requests.append(request)
        body = request
    return requests, lost


def _parse(raw: bytes, previous: tuple[dict[str, Any], int] | None) -> tuple[Turn, list[str]]:
    """The turn of one line, and what was not quite right with it."""
    notes = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # The journal is ASCII: a byte above 127 is damage, most likely inside a string.
        text = raw.decode("utf-8", "replace")
        notes.append("bytes that are not UTF-8 were replaced by U+FFFD")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise TypeError(f"a {type(data).__name__}, not an object")
    data["requests"], lost = _decode_requests(data, previous)
    if lost:
        notes.append(f"{lost} earlier message(s) of its requests were on an unreadable line")
    turn = Turn.from_dict(data)
    # Escaped surrogates are the only way one can be in an ASCII line; pairs are fine.
    if "\\ud" in text and (turn.clean() + clean_value(turn.requests)[1]):
        notes.append("lone surrogates were replaced by U+FFFD")
    return turn, notes


def _salvage(raw: bytes, previous: Any) -> tuple[Turn, int] | None:
    """A whole turn glued behind a fragment (a write that failed, then the next one)."""
    for match in _LINE_START.finditer(raw, 1):
        try:
            turn, _ = _parse(raw[match.start() :], previous)
        except Exception:  # noqa: BLE001, S112 - any failure: try the next candidate
            continue
        return turn, match.start()
    return None


def read_journal(path: Path) -> JournalContents:
    """Every turn of a journal that can be read, and the problems met on the way."""
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            # A FIFO or a device would block, or never end: a journal is a file.
            raise TurnLogError(f"{path} is not a regular file; give the path of a .jsonl journal")
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise TurnLogError(f"no turn log at {path}; check the path") from exc
    except IsADirectoryError as exc:
        raise TurnLogError(f"{path} is a directory; give the path of a .jsonl journal") from exc
    except OSError as exc:
        raise TurnLogError(f"cannot read the turn log at {path} ({exc.strerror or exc})") from exc
    contents = JournalContents()
    start = len(_BOM) if raw.startswith(_BOM) else 0
    previous: tuple[dict[str, Any], int] | None = None
    number = 0
    while start < len(raw):
        end = raw.find(b"\n", start)
        whole = end != -1
        end = end if whole else len(raw)
        line, offset, start, number = raw[start:end], start, end + 1, number + 1
        if not line.strip():
            continue
        try:
            turn, notes = _parse(line, previous)
        except Exception as exc:  # noqa: BLE001 - any failure: this line is unreadable
            found = _salvage(line, previous)
            if found is None and not whole:
                contents.torn_at, contents.torn_line = offset, number
                break
            for digits in _TURN_NUMBER.findall(line):
                contents.highest_turn = max(contents.highest_turn, int(digits))
            if found is None:
                contents.problems.append(LoadProblem(number, _describe(exc)))
                continue
            turn, at = found
            notes = [f"{at} bytes before turn {turn.turn} (a torn earlier line) were skipped"]
        contents.problems.extend(LoadProblem(number, note) for note in notes)
        contents.turns.append(turn)
        contents.highest_turn = max(contents.highest_turn, turn.turn)
        previous = last_request([turn]) or previous
        contents.ends_mid_line = not whole
    if not contents.turns and contents.problems and b'"turn"' not in raw:
        raise TurnLogError(
            f"{path} is not a turn-log journal (no line of it is a turn); "
            "give the path of a .jsonl journal written by mistral_nb"
        )
    return contents


def _describe(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON ({exc.msg} at column {exc.colno})"
    if isinstance(exc, KeyError):
        return f"not a turn (no {exc.args[0]!r})"
    if isinstance(exc, RecursionError):
        return "not a turn (nested too deeply)"
    return f"not a turn ({type(exc).__name__}: {exc})"
