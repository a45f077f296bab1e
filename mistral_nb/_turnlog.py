"""The turn log: every finished turn, as DataFrames and as an append-only journal.

The journal (``_journal.py``) is JSON Lines, one finished turn a line, appended
and flushed to disk as each turn ends, so a kernel killed mid-session loses at
most the turn that was running.  A disk that refuses a write costs no turn: it
stays in memory, a ``JournalWarning`` says so, and it is written once the disk
accepts writes again.  ``TurnLog.load`` reads a journal back, skipping (and
listing in ``load_problems``) any line it cannot read.

Every string a turn brings is made valid UTF-8 when the turn is appended, so no
export, display or journal line can fail on a lone surrogate.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pandas as pd
import pyarrow as pa

from ._errors import JournalWarning
from ._journal import Journal
from ._journal_format import JournalContents, LoadProblem, read_journal, share_messages
from ._log_frames import CALL_COLUMNS, call_rows, text_array, token_frame
from ._text import clean_value
from ._turn import Turn

__all__ = ["LoadProblem", "TurnLog"]

_INTEGER_COLUMNS = (
    "max_tokens",
    "random_seed",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
)


class TurnLog:
    """Finished turns of one or more sessions, with DataFrame views and a journal.

    Args:
        path: A JSONL journal to append each finished turn to (created if
            missing; turns already in it are loaded first).  The file is locked
            while the log is open: a second log on the same path raises
            ``TurnLogError``.  ``close()`` (or ``with TurnLog(path) as log:``)
            releases it; so does dropping the log.

    Attributes:
        load_problems: The journal lines that could not be read (or only partly),
            as ``LoadProblem(line, reason)``; empty when every line was whole.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._turns: list[Turn] = []
        self._journal: Journal | None = None
        self._last_request: dict[str, Any] | None = None
        self._highest_turn = 0
        self._lock = threading.RLock()
        # Each finished turn's token texts as one Arrow array, made once: tokens() joins
        # them.  Keyed by the turn itself, so a turn appended on the session's thread
        # while tokens() runs on another can never be paired with the wrong array.
        self._text_arrays: dict[int, tuple[Turn, pa.Array]] = {}
        self.load_problems: list[LoadProblem] = []
        if path is not None:
            self._journal, contents = Journal.open(Path(path))
            self._take(contents, Path(path))

    def _take(self, contents: JournalContents, path: Path) -> None:
        self._turns = contents.turns
        self._text_arrays = {}
        self._highest_turn = contents.highest_turn
        self.load_problems = contents.problems
        self._last_request = share_messages(
            [body for turn in self._turns for body in turn.requests], None
        )
        if contents.torn_at is not None:
            warnings.warn(
                f"{path}: the last line ({contents.torn_line}) is incomplete (the session was "
                "probably killed while writing it) and was skipped",
                JournalWarning,
                stacklevel=3,
            )
        if contents.problems:
            listed = "; ".join(f"line {p.line}: {p.reason}" for p in contents.problems[:5])
            more = f"; and {len(contents.problems) - 5} more" if len(contents.problems) > 5 else ""
            warnings.warn(
                f"{path}: {len(contents.problems)} line(s) could not be read in full, the "
                f"{len(self._turns)} turns around them were kept ({listed}{more}); "
                "see log.load_problems",
                JournalWarning,
                stacklevel=3,
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
        """The journal finished turns are appended to, if any (None once closed)."""
        return self._journal.path if self._journal is not None else None

    @property
    def unwritten(self) -> list[int]:
        """Numbers of finished turns the journal could not write yet (they are in memory)."""
        return self._journal.pending if self._journal is not None else []

    def next_turn_number(self) -> int:
        """One more than any turn seen, unreadable journal lines included."""
        last = self._turns[-1].turn if self._turns else 0
        return max(last, self._highest_turn) + 1

    def append(self, turn: Turn) -> None:
        """Add a finished turn, and write it to the journal when there is one.

        A journal that cannot be written does not raise: the turn is kept in
        memory, a ``JournalWarning`` (also in ``turn.warnings``) says why, and the
        journal catches up with the next turn it can write (or ``flush()``).
        """
        with self._lock:  # the session appends on its own thread; save() may run on another
            previous = self._last_request
            # Each request repeats the conversation: share equal messages, so memory grows
            # with the conversation and not with its square.
            self._last_request = share_messages(turn.requests, previous)
            if turn.clean() + _clean_requests(turn.requests, previous):
                turn.warnings.append("lone surrogates (not valid Unicode) became U+FFFD in the log")
            self._text_arrays[id(turn)] = (turn, text_array(turn.token_text))
            self._turns.append(turn)
            self._highest_turn = max(self._highest_turn, turn.turn)
            journal = self._journal
            problem = journal.append([turn]) if journal is not None else None
            waiting = [n for n in journal.pending if n != turn.turn] if journal else []
        if journal is not None and problem is not None:
            also = f" (as are turns {', '.join(map(str, waiting))})" if waiting else ""
            message = (
                f"the journal {journal.path} missed turn {turn.turn}: {problem}. "
                f"The turn is in memory (session.log){also} and is written with the next "
                "turn once the disk accepts it, or by log.flush(); log.save(other_path) "
                "writes everything elsewhere"
            )
            turn.warnings.append(message)
            warnings.warn(message, JournalWarning, stacklevel=2)

    def flush(self) -> bool:
        """Write turns the journal missed (a full disk, since freed); True if none are left."""
        with self._lock:
            journal = self._journal
            if journal is None:
                return True
            problem, pending = journal.flush(), journal.pending
        if problem is not None:
            warnings.warn(
                f"the journal {journal.path} still cannot be written ({problem}); "
                f"turns {', '.join(map(str, pending))} are in memory only",
                JournalWarning,
                stacklevel=2,
            )
        return problem is None

    def close(self) -> None:
        """Write what the journal missed, then release it; the log stays readable.

        Turns appended afterwards are kept in memory only (``save`` starts a new
        journal).  Closing twice is harmless.
        """
        with self._lock:
            journal, self._journal = self._journal, None
            if journal is None:
                return
            pending = journal.pending
            problem = journal.close()
        if problem is not None:
            warnings.warn(
                f"the journal {journal.path} was closed without turns "
                f"{', '.join(map(str, pending))} ({problem}); they are in memory only: "
                "log.save(other_path) writes everything",
                JournalWarning,
                stacklevel=2,
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- DataFrames ----------------------------------------------------------

    def turns(self) -> pd.DataFrame:
        """One row per turn: status, settings in effect, texts, usage, timing, calls, error.

        ``response_text`` is the answer; a reasoning model's reasoning is counted
        in ``thinking_chars`` and ``thinking_chunks`` (``n_chunks`` counts every
        streamed piece).  ``ttft_s`` is the time to the first piece of any kind,
        ``ttfat_s`` to the first piece of the answer, both from the turn's start.
        """
        frame = pd.DataFrame([t.summary_row() for t in self._turns])
        if frame.empty:
            return pd.DataFrame(columns=list(_empty_summary_columns()))
        frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
        # Nullable integers: a turn without a token limit is <NA>, not a float NaN.
        for column in _INTEGER_COLUMNS:
            if column in frame:
                frame[column] = frame[column].astype("Int64")
        return frame

    def cost(self) -> pd.DataFrame:
        """What the turns cost, by model: turns, prompt, cached and completion tokens, USD.

        Priced from the package's price table (Mistral's list prices; see
        ``mistral_nb._pricing``).  A model without a price costs NaN, never a guess, and
        the total row then says NaN too.
        """
        columns = ["turns", "prompt_tokens", "cached_tokens", "completion_tokens", "cost_usd"]
        frame = self.turns()
        if frame.empty:
            return pd.DataFrame(columns=columns, index=pd.Index([], name="model"))
        from ._pricing import price_for

        by_model = frame.groupby(frame["model"].fillna("?"), sort=True).agg(
            turns=("turn", "count"),
            prompt_tokens=("prompt_tokens", "sum"),
            cached_tokens=("cached_tokens", "sum"),
            completion_tokens=("completion_tokens", "sum"),
            cost_usd=("cost_usd", "sum"),  # a failed turn without usage was not billed
        )
        # A model without a price is unknown (NaN), never a partial figure; so is the total.
        unpriced = [model for model in by_model.index if price_for(str(model)) is None]
        by_model["cost_usd"] = by_model["cost_usd"].astype("float64")
        by_model.loc[unpriced, "cost_usd"] = float("nan")
        total = by_model.sum(min_count=1).to_frame("total").T
        total["cost_usd"] = by_model["cost_usd"].sum(min_count=len(by_model))
        out = pd.concat([by_model.astype("float64"), total.astype("float64")])[columns]
        out.index.name = "model"
        return out.astype({name: "Int64" for name in columns[:-1]})

    def tokens(self) -> pd.DataFrame:
        """One row per streamed piece: turn, completion, choice, index, kind, text, t_s.

        ``kind`` is ``thinking`` (reasoning) or ``text`` (the answer); ``index``
        counts within the completion; ``t_s`` is seconds since the turn started.
        """
        turns, arrays = list(self._turns), []
        for turn in turns:
            known = self._text_arrays.get(id(turn))
            if known is None or known[0] is not turn or len(known[1]) != len(turn.token_text):
                known = self._text_arrays[id(turn)] = (turn, text_array(turn.token_text))
            arrays.append(known[1])
        return token_frame(turns, arrays)

    def calls(self) -> pd.DataFrame:
        """One row per tool call: turn, call_id, name, arguments, result, status, error, timing."""
        frame = pd.DataFrame(call_rows(self._turns), columns=CALL_COLUMNS)
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
        """Write every turn to a JSONL journal (atomically).

        Args:
            follow: Keep appending each new turn to this file (the default), so that it
                stays a complete journal; False writes a snapshot and leaves the
                journal where it was.
        """
        path = Path(path)
        with self._lock:
            journal = Journal.write(path, self._turns, keep=self._journal)
            if follow:
                old, self._journal = self._journal, journal
                if old is not None:
                    old.close()
            else:
                journal.close()
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TurnLog:
        """Read a journal written by ``save`` or by a session's ``log=`` path.

        Lines that cannot be read are skipped with a ``JournalWarning`` and listed
        in ``load_problems``.  The returned log does not append to ``path`` (and
        does not lock it); call ``save`` for that.
        """
        log = cls()
        log._take(read_journal(Path(path)), Path(path))
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
                    frame[column] = [_json_text(v) for v in frame[column]]
            target = directory / f"{name}.{kind}"
            if kind == "parquet":
                frame.to_parquet(target, index=False)
            else:
                frame.to_csv(target, index=False, encoding="utf-8")
            written[name] = target
        return written

    async def replay(self, **settings: Any) -> pd.DataFrame:
        """Every turn again from its logged request, with ``settings`` changed.

        A thin wrapper of ``_replay.replay_log`` (``api_key=`` / ``base_url=`` choose the
        endpoint as for ``Session()``); returns one comparison row per turn.
        """
        from ._replay import replay_log

        return await replay_log(self, **settings)

    # -- display -------------------------------------------------------------

    def __repr__(self) -> str:
        where = f", journal={str(self.path)!r}" if self._journal else ""
        return f"<TurnLog {len(self._turns)} turns{where}>"

    def _repr_html_(self) -> str:
        columns = ["turn", "status", "model", "user_text", "response_text", "n_calls", "error"]
        frame = self.turns()
        return frame[[c for c in columns if c in frame]].to_html(index=False, max_rows=20)


def _clean_requests(requests: list[dict[str, Any]], previous: dict[str, Any] | None) -> int:
    """Clean request bodies, skipping the messages shared with (and cleaned in) ``previous``."""
    changed = 0
    for body in requests:
        earlier = previous.get("messages") if isinstance(previous, dict) else None
        for key, value in list(body.items()):
            if key != "messages" or not isinstance(value, list) or not isinstance(earlier, list):
                body[key], n = clean_value(value)
                changed += n
                continue
            for index, message in enumerate(value):
                if index < len(earlier) and message is earlier[index]:
                    continue
                value[index], n = clean_value(message)
                changed += n
        previous = body
    return changed


def _json_text(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):  # a circular structure, a NaN in strict mode...
        return repr(value)


def _empty_summary_columns() -> list[str]:
    return list(Turn(turn=0, started_at=datetime.now(UTC), user_text="").summary_row())
