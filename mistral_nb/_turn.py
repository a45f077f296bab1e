"""A turn: one user message and everything the model did about it.

A ``Turn`` is plain data: what was sent, every streamed token with its time and
kind (reasoning or answer), every tool call, usage, the settings in effect, the
status.  The session fills it in while the turn runs (see ``_recorder.py``); the
turn log keeps finished turns and writes them to disk with ``to_dict`` /
``from_dict``.

Tokens are stored by column, not one object per token: ``token_text`` is a list
of strings, and the numbers are ``array`` columns of the same length
(``token_completion``, ``token_t_s``, ``token_kind``, ``token_choice``), so a
million tokens take well under 200 bytes each and the log's ``tokens()`` frame is
built from whole columns.
"""

from __future__ import annotations

import json
from array import array
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress
from operator import not_
from typing import Any, Literal, cast

import pandas as pd

from ._errors import APIError
from ._log_frames import CALL_COLUMNS, call_rows, token_frame
from ._pricing import cost_usd
from ._text import clean_text, clean_turn
from ._turn_display import turn_html
from ._turn_records import CallRecord, Completion

__all__ = ["KINDS", "CallRecord", "Completion", "TokenKind", "Turn", "TurnStatus"]

#: What a streamed piece is: the model's reasoning, or its answer.
TokenKind = Literal["text", "thinking"]
#: How a turn ended ("running" while it runs).
TurnStatus = Literal["running", "ok", "error", "timeout", "cancelled"]
#: ``token_kind`` holds an index into this tuple.
KINDS: tuple[TokenKind, ...] = ("text", "thinking")
_TEXT, _THINKING = 0, 1


def _cell(value: Any) -> Any:
    # A structured setting (response_format, stop list, tool_choice) as one JSON cell,
    # so every export keeps a column of one type.
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def _jsonable(value: Any) -> Any:
    """A parsed reply as the journal can keep it (a pydantic model as its dict)."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


def _count(codes: array[int], code: int) -> int:
    return codes.tobytes().count(code)  # bytes.count: C speed, no int objects


def _column(values: Any, typecode: str) -> array[Any]:
    return (
        values
        if isinstance(values, array) and values.typecode == typecode
        else array(typecode, values)
    )


@dataclass
class Turn:
    """A user message and the model's reply, with timing, calls, usage and status.

    Returned by ``Session.send`` / ``Session.ask`` once the reply (and any tool
    round-trip) is done.  ``status`` is ``ok``, ``error``, ``timeout`` or
    ``cancelled``; a turn that failed keeps what had streamed before the failure.
    ``text`` is the answer; a reasoning model's reasoning is ``thinking``.
    """

    turn: int
    started_at: datetime
    user_text: str
    settings: dict[str, Any] = field(default_factory=dict)
    images: list[dict[str, Any]] = field(default_factory=list)
    status: TurnStatus = "running"
    error: str | None = None
    error_status_code: int | None = None
    error_category: str | None = None
    duration_s: float | None = None
    retries: int = 0
    completions: list[Completion] = field(default_factory=list)
    call_records: list[CallRecord] = field(default_factory=list)
    token_completion: array[int] = field(default_factory=lambda: array("i"))
    token_text: list[str] = field(default_factory=list)
    token_t_s: array[float] = field(default_factory=lambda: array("d"))
    token_kind: array[int] = field(default_factory=lambda: array("b"))
    token_choice: array[int] = field(default_factory=lambda: array("H"))
    requests: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    schema: str | None = None
    parsed: Any = None
    parsed_ok: bool | None = None
    replay_of: int | None = None
    retry_after_s: float | None = None
    tags: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Callers may give lists; the columns are arrays from here on.
        self.token_completion = _column(self.token_completion, "i")
        self.token_t_s = _column(self.token_t_s, "d")
        self.token_kind = _column(self.token_kind, "b")
        self.token_choice = _column(self.token_choice, "H")

    # -- filled in while the turn runs ---------------------------------------

    def add_token(
        self,
        text: str,
        t_s: float,
        completion: int,
        kind: TokenKind = "text",
        choice: int = 0,
    ) -> None:
        """Append one streamed piece.

        Args:
            text: The piece as streamed (lone surrogates become U+FFFD).
            t_s: Seconds since the turn started.
            completion: Which model request of the turn streamed it (0, 1 after a tool call...).
            kind: ``"text"`` for the answer, ``"thinking"`` for reasoning.
            choice: Which of ``n`` candidates it belongs to (0 unless ``n`` > 1).
        """
        if kind == "text":
            code = _TEXT
        elif kind == "thinking":
            code = _THINKING
        else:
            raise ValueError(f"a token's kind is 'text' or 'thinking', not {kind!r}")
        texts = self.token_text
        if len(self.token_kind) != len(texts) or len(self.token_choice) != len(texts):
            self._pad_columns()
        self.token_completion.append(completion)
        self.token_t_s.append(t_s)
        self.token_kind.append(code)
        self.token_choice.append(choice)
        # Last: a reader on another thread that goes by len(token_text) sees whole rows.
        texts.append(text if text.isascii() else clean_text(text))

    def _pad_columns(self) -> None:
        # Tokens appended to token_text directly (not through add_token) are answer text.
        n = len(self.token_text)
        for column in (self.token_kind, self.token_choice):
            if len(column) < n:
                column.frombytes(bytes(column.itemsize * (n - len(column))))

    # -- what a user reads ---------------------------------------------------

    def kind_codes(self) -> array[int]:
        """``token_kind`` padded to the length of ``token_text`` (0 = text, 1 = thinking)."""
        kinds, n = self.token_kind, len(self.token_text)
        if len(kinds) == n:
            return kinds
        padded = kinds[:n]
        padded.frombytes(bytes(n - len(padded)))
        return padded

    def joined(self, kind: TokenKind = "text", completion: int | None = None) -> str:
        """The streamed pieces of one kind (of one completion, if given), joined."""
        kinds = self.kind_codes()
        code = KINDS.index(kind)
        if completion is None:
            if not _count(kinds, _THINKING):
                return "".join(self.token_text) if code == _TEXT else ""
            # The codes are 0 and 1: they select thinking pieces as they are, text negated.
            keep: Any = kinds if code == _THINKING else map(not_, kinds)
        else:
            pairs = zip(kinds, self.token_completion, strict=False)
            keep = (k == code and c == completion for k, c in pairs)
        return "".join(compress(self.token_text, keep))

    @property
    def text(self) -> str:
        """The answer: every streamed answer piece joined (reasoning is ``thinking``)."""
        return self.joined("text")

    @property
    def thinking(self) -> str:
        """The model's reasoning, every streamed reasoning piece joined ("" if none)."""
        return self.joined("thinking")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def finish_reason(self) -> str | None:
        return self.completions[-1].finish_reason if self.completions else None

    @property
    def usage(self) -> dict[str, int | None]:
        """Token usage summed over the turn's model requests, as Mistral counted it."""

        def total(name: str) -> int | None:
            values = [getattr(c, name) for c in self.completions if getattr(c, name) is not None]
            return sum(values) if values else None

        prompt, completion = total("prompt_tokens"), total("completion_tokens")
        both = None if prompt is None and completion is None else (prompt or 0) + (completion or 0)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": both,
            "cached_tokens": total("cached_tokens"),
        }

    @property
    def ttfb_s(self) -> float | None:
        """Seconds from the first request to its first byte (pipecat's TTFB)."""
        return self.completions[0].ttfb_s if self.completions else None

    @property
    def ttft_s(self) -> float | None:
        """Seconds from the start of the turn to the first streamed piece of any kind."""
        return self.token_t_s[0] if self.token_t_s and self.token_text else None

    @property
    def ttfat_s(self) -> float | None:
        """Seconds from the start of the turn to the first piece of the answer."""
        try:
            return self.token_t_s[self.kind_codes().index(_TEXT)]
        except (ValueError, IndexError):
            return None

    @property
    def tokens_per_s(self) -> float | None:
        completion_tokens = self.usage["completion_tokens"]
        if not completion_tokens or not self.token_t_s or not self.completions:
            return None
        streaming = self.token_t_s[-1] - self.completions[0].started_s
        return completion_tokens / streaming if streaming > 0 else None

    @property
    def tokens(self) -> pd.DataFrame:
        """Every streamed piece: completion, choice, index, kind, text, t_s (since the start)."""
        return token_frame([self])

    @property
    def calls(self) -> pd.DataFrame:
        """Every tool call of this turn: arguments, result, status, error, duration."""
        frame = pd.DataFrame(call_rows([self]), columns=CALL_COLUMNS)
        return frame

    def raise_for_status(self) -> Turn:
        """Raise ``APIError`` if the turn did not end well; return the turn otherwise."""
        if self.status not in ("ok", "running"):
            raise APIError(
                f"turn {self.turn} {self.status}: {self.error}",
                status_code=self.error_status_code,
                category=self.error_category,
            )
        return self

    def summary_row(self) -> dict[str, Any]:
        """The turn's row in ``TurnLog.turns()``."""
        usage = self.usage
        kinds = self.kind_codes()
        thinking_chunks = _count(kinds, _THINKING)
        model = self.settings.get("model")
        return {
            "turn": self.turn,
            "started_at": self.started_at,
            "status": self.status,
            **{name: _cell(value) for name, value in self.settings.items()},
            "user_text": self.user_text,
            "n_images": len(self.images),
            "n_documents": len(self.documents),
            "schema": self.schema,
            "parsed_ok": self.parsed_ok,
            "response_text": self.text,
            "finish_reason": self.finish_reason,
            "n_chunks": len(self.token_text),
            "thinking_chunks": thinking_chunks,
            "thinking_chars": len(self.thinking) if thinking_chunks else 0,
            "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": usage["completion_tokens"],
            "cached_tokens": usage["cached_tokens"],
            "ttfb_s": self.ttfb_s,
            "ttft_s": self.ttft_s,
            "ttfat_s": self.ttfat_s,
            "duration_s": self.duration_s,
            "tokens_per_s": self.tokens_per_s,
            "n_calls": len(self.call_records),
            "n_requests": len(self.requests),
            "retries": self.retries,
            "cost_usd": cost_usd(
                str(model or ""),
                usage["prompt_tokens"],
                usage["completion_tokens"],
                usage["cached_tokens"] or 0,
            ),
            "replay_of": self.replay_of,
            **self.tags,
            "error": self.error,
        }

    def clean(self) -> int:
        """Replace lone surrogates in every string of the turn (requests aside).

        Returns how many strings were changed.  Request bodies are cleaned by the
        log, which knows which of their messages it has seen already.
        """
        return clean_turn(self)

    # -- journal -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        n = len(self.token_text)
        tokens: dict[str, Any] = {
            "completion": self.token_completion[:n].tolist(),
            "text": list(self.token_text),
            "t_s": self.token_t_s[:n].tolist(),
        }
        kinds = self.kind_codes()
        # Optional columns, absent when they hold nothing but zeros (answer text, choice 0):
        # journals stay as they were for models that do not reason.
        if _count(kinds, _THINKING):
            tokens["kind"] = kinds.tolist()
        if any(self.token_choice[:n]):
            tokens["choice"] = self.token_choice[:n].tolist()
        return {
            "turn": self.turn,
            "started_at": self.started_at.isoformat(),
            "user_text": self.user_text,
            "settings": self.settings,
            "images": self.images,
            "status": self.status,
            "error": self.error,
            "error_status_code": self.error_status_code,
            "error_category": self.error_category,
            "duration_s": self.duration_s,
            "retries": self.retries,
            "completions": [c.to_dict() for c in self.completions],
            "calls": [c.to_dict() for c in self.call_records],
            "tokens": tokens,
            "requests": self.requests,
            "warnings": self.warnings,
            **{
                name: value
                for name, value in (
                    ("documents", self.documents),
                    ("schema", self.schema),
                    ("parsed", _jsonable(self.parsed)),
                    ("parsed_ok", self.parsed_ok),
                    ("replay_of", self.replay_of),
                    ("retry_after_s", self.retry_after_s),
                    ("tags", self.tags),
                )
                if value not in (None, [], {})
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        """The turn a journal line holds; ``TypeError`` / ``ValueError`` if it is not one."""
        tokens = data.get("tokens") or {}
        texts = list(tokens.get("text", []))
        if not all(type(text) is str for text in texts):
            raise TypeError("a token's text is not a string")
        n = len(texts)
        columns = {
            "token_completion": array("i", tokens.get("completion", [])),
            "token_t_s": array("d", tokens.get("t_s", [])),
            "token_kind": array("b", tokens.get("kind") or bytes(n)),
            "token_choice": array("H", tokens.get("choice") or [0] * n),
        }
        for name, column in columns.items():
            if len(column) != n:
                raise ValueError(f"{len(column)} values in {name} for {n} tokens")
        if columns["token_kind"].count(_TEXT) + columns["token_kind"].count(_THINKING) != n:
            raise ValueError(f"a token's kind is not one of {KINDS}")
        if not isinstance(data["turn"], int) or not isinstance(data["user_text"], str):
            raise TypeError("the turn number or the user text has the wrong type")
        return cls(
            turn=data["turn"],
            started_at=datetime.fromisoformat(data["started_at"]),
            user_text=data["user_text"],
            settings=data.get("settings") or {},
            images=data.get("images") or [],
            status=cast(TurnStatus, str(data["status"])),
            error=data.get("error"),
            error_status_code=data.get("error_status_code"),
            error_category=data.get("error_category"),
            duration_s=data.get("duration_s"),
            retries=data.get("retries", 0),
            completions=[Completion.from_dict(c) for c in data.get("completions", [])],
            call_records=[CallRecord.from_dict(c) for c in data.get("calls", [])],
            token_text=texts,
            requests=data.get("requests") or [],
            warnings=data.get("warnings") or [],
            documents=data.get("documents") or [],
            schema=data.get("schema"),
            parsed=data.get("parsed"),
            parsed_ok=data.get("parsed_ok"),
            replay_of=data.get("replay_of"),
            retry_after_s=data.get("retry_after_s"),
            tags=data.get("tags") or {},
            **columns,
        )

    # -- display -------------------------------------------------------------

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        extra = f", error={self.error!r}" if self.error else ""
        return (
            f"<Turn {self.turn} {self.status}: {text!r}, {len(self.token_text)} chunks, "
            f"{len(self.call_records)} calls{extra}>"
        )

    def _repr_html_(self) -> str:
        return turn_html(self)
