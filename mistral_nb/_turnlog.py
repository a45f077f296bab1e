"""The turn log: every finished turn, as DataFrames and as an append-only journal.

The journal (``_journal.py``) is JSON Lines, one finished turn a line, appended
and flushed to disk as each turn ends, so a kernel killed mid-session loses at
most the turn that was running.  ``TurnLog.load`` reads a journal back; a torn
last line (the kernel died while writing it) is skipped with a warning.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pandas as pd

from ._journal import Journal, read_journal, share_messages
from ._turn import CALL_COLUMNS, TOKEN_COLUMNS, Turn

__all__ = ["TurnLog"]

_INTEGER_COLUMNS = ("max_tokens", "random_seed", "prompt_tokens", "completion_tokens")


class TurnLog:
    """Finished turns of one or more sessions, with DataFrame views and a journal.

    Args:
        path: A JSONL journal to append each finished turn to (created if
            missing; turns already in it are loaded first).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._turns: list[Turn] = []
        self._journal: Journal | None = None
        self._last_request: dict[str, Any] | None = None
        if path is not None:
            self._journal, self._turns = Journal.open(Path(path))
            self._last_request = share_messages(
                [body for turn in self._turns for body in turn.requests], None
            )

    # -- collection ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._turns)

    def __iter__(self) -> Iterator[Turn]:
        return iter(self._turns)

    def __getitem__(self, index: int) -> Turn:
        return self._turns[index]

    @property
    def path(self) -> Path | None:
        """The journal finished turns are appended to, if any."""
        return self._journal.path if self._journal is not None else None

    def next_turn_number(self) -> int:
        return self._turns[-1].turn + 1 if self._turns else 1

    def append(self, turn: Turn) -> None:
        """Add a finished turn, and write it to the journal when there is one."""
        # Each request repeats the conversation: share equal messages, so memory grows
        # with the conversation and not with its square.
        self._last_request = share_messages(turn.requests, self._last_request)
        self._turns.append(turn)
        if self._journal is not None:
            self._journal.append([turn])

    # -- DataFrames ----------------------------------------------------------

    def turns(self) -> pd.DataFrame:
        """One row per turn: status, settings in effect, texts, usage, timing, calls, error."""
        frame = pd.DataFrame([t.summary_row() for t in self._turns])
        if frame.empty:
            return pd.DataFrame(columns=list(_empty_summary_columns()))
        frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
        # Nullable integers: a turn without a token limit is <NA>, not a float NaN.
        for column in _INTEGER_COLUMNS:
            if column in frame:
                frame[column] = frame[column].astype("Int64")
        return frame

    def tokens(self) -> pd.DataFrame:
        """One row per streamed piece: turn, completion, index, text, t_s."""
        columns: dict[str, list[Any]] = {name: [] for name in TOKEN_COLUMNS}
        for turn in self._turns:
            for name, values in turn.token_columns().items():
                columns[name].extend(values)
        return pd.DataFrame(columns, columns=TOKEN_COLUMNS)

    def calls(self) -> pd.DataFrame:
        """One row per tool call: turn, call_id, name, arguments, result, status, error, timing."""
        rows = [row for turn in self._turns for row in turn.call_rows()]
        frame = pd.DataFrame(rows, columns=CALL_COLUMNS)
        frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
        return frame

    def requests(self) -> pd.DataFrame:
        """One row per HTTP request sent: turn, n (within the turn), body (images elided)."""
        rows = [
            {"turn": turn.turn, "n": n, "body": body}
            for turn in self._turns
            for n, body in enumerate(turn.requests)
        ]
        return pd.DataFrame(rows, columns=["turn", "n", "body"])

    def images(self) -> pd.DataFrame:
        """One row per image sent: source format, sizes, bytes, sha256, estimated tokens."""
        rows = [{"turn": turn.turn, **image} for turn in self._turns for image in turn.images]
        return pd.DataFrame(rows)

    # -- files ---------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, follow: bool = True) -> Path:
        """Write every turn to a JSONL journal.

        Args:
            follow: Keep appending each new turn to this file (the default), so that it
                stays a complete journal; False writes a snapshot and leaves the
                journal where it was.
        """
        path = Path(path)
        journal = Journal.write(path, self._turns)
        if follow:
            self._journal = journal
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TurnLog:
        """Read a journal written by ``save`` or by a session's ``log=`` path.

        The returned log does not append to ``path``; call ``save`` for that.
        """
        log = cls()
        log._turns, _ = read_journal(Path(path))
        log._last_request = share_messages([b for t in log._turns for b in t.requests], None)
        return log

    def to_parquet(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        """Write turns, tokens and calls as ``<directory>/{turns,tokens,calls}.parquet``.

        Arguments and results (free-form JSON) are stored as JSON text.
        """
        return self._export(directory, "parquet")

    def to_csv(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        """Write turns, tokens and calls as ``<directory>/{turns,tokens,calls}.csv``."""
        return self._export(directory, "csv")

    def _export(self, directory: str | os.PathLike[str], kind: str) -> dict[str, Path]:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = {}
        for name, frame in (
            ("turns", self.turns()),
            ("tokens", self.tokens()),
            ("calls", self.calls()),
        ):
            frame = frame.copy()
            for column in ("arguments", "result"):
                if column in frame:
                    frame[column] = [json.dumps(v, ensure_ascii=False) for v in frame[column]]
            target = directory / f"{name}.{kind}"
            if kind == "parquet":
                frame.to_parquet(target, index=False)
            else:
                frame.to_csv(target, index=False)
            written[name] = target
        return written

    # -- display -------------------------------------------------------------

    def __repr__(self) -> str:
        where = f", journal={str(self.path)!r}" if self._journal else ""
        return f"<TurnLog {len(self._turns)} turns{where}>"

    def _repr_html_(self) -> str:
        columns = ["turn", "status", "model", "user_text", "response_text", "n_calls", "error"]
        frame = self.turns()
        return frame[[c for c in columns if c in frame]].to_html(index=False, max_rows=20)


def _empty_summary_columns() -> list[str]:
    from datetime import datetime

    return list(Turn(turn=0, started_at=datetime.now(UTC), user_text="").summary_row())
