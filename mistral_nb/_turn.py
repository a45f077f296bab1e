"""A turn: one user message and everything the model did about it.

A ``Turn`` is plain data: what was sent, every streamed token with its time,
every tool call, usage, the settings in effect, the status.  The session fills
it in while the turn runs (see ``_recorder.py``); the turn log keeps finished
turns and writes them to disk with ``to_dict`` / ``from_dict``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from ._errors import APIError

__all__ = ["CallRecord", "Completion", "Turn"]

TOKEN_COLUMNS = ["turn", "completion", "index", "text", "t_s"]
CALL_COLUMNS = [
    "turn",
    "completion",
    "call_id",
    "name",
    "arguments",
    "result",
    "status",
    "error",
    "started_at",
    "duration_s",
]


@dataclass
class CallRecord:
    """One tool call: what the model asked for and what it got back."""

    call_id: str
    name: str
    arguments: Any
    result: Any
    status: str  # ok | error | timeout | rejected
    error: str | None
    started_at: datetime
    duration_s: float
    completion: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "name": self.name,
            "arguments": self.arguments,
            "result": self.result,
            "status": self.status,
            "error": self.error,
            "started_at": self.started_at.isoformat(),
            "duration_s": self.duration_s,
            "completion": self.completion,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallRecord:
        return cls(**{**data, "started_at": datetime.fromisoformat(data["started_at"])})


@dataclass
class Completion:
    """One model request within a turn (a tool round-trip makes a second one)."""

    index: int
    started_s: float
    ttfb_s: float | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Completion:
        return cls(**data)


@dataclass
class Turn:
    """A user message and the model's reply, with timing, calls, usage and status.

    Returned by ``Session.send`` / ``Session.ask`` once the reply (and any tool
    round-trip) is done.  ``status`` is ``ok``, ``error``, ``timeout`` or
    ``cancelled``; a turn that failed keeps what had streamed before the failure.
    """

    turn: int
    started_at: datetime
    user_text: str
    settings: dict[str, Any] = field(default_factory=dict)
    images: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    error: str | None = None
    error_status_code: int | None = None
    error_category: str | None = None
    duration_s: float | None = None
    retries: int = 0
    completions: list[Completion] = field(default_factory=list)
    call_records: list[CallRecord] = field(default_factory=list)
    token_completion: list[int] = field(default_factory=list)
    token_text: list[str] = field(default_factory=list)
    token_t_s: list[float] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    # -- what a user reads ---------------------------------------------------

    @property
    def text(self) -> str:
        """The reply text, every streamed piece joined."""
        return "".join(self.token_text)

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
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": both}

    @property
    def ttfb_s(self) -> float | None:
        return self.completions[0].ttfb_s if self.completions else None

    @property
    def tokens_per_s(self) -> float | None:
        completion_tokens = self.usage["completion_tokens"]
        if not completion_tokens or not self.token_t_s or not self.completions:
            return None
        streaming = self.token_t_s[-1] - self.completions[0].started_s
        return completion_tokens / streaming if streaming > 0 else None

    @property
    def tokens(self) -> pd.DataFrame:
        """Every streamed piece: completion, index, text, t_s (seconds since the turn began)."""
        return pd.DataFrame(self.token_columns(), columns=TOKEN_COLUMNS)

    @property
    def calls(self) -> pd.DataFrame:
        """Every tool call of this turn: arguments, result, status, error, duration."""
        return pd.DataFrame(self.call_rows(), columns=CALL_COLUMNS)

    def raise_for_status(self) -> Turn:
        """Raise ``APIError`` if the turn did not end well; return the turn otherwise."""
        if self.status not in ("ok", "running"):
            raise APIError(
                f"turn {self.turn} {self.status}: {self.error}",
                status_code=self.error_status_code,
                category=self.error_category,
            )
        return self

    # -- rows for the log's DataFrames ---------------------------------------

    def token_columns(self) -> dict[str, list[Any]]:
        counts: dict[int, int] = {}
        index = []
        for completion in self.token_completion:
            index.append(counts.get(completion, 0))
            counts[completion] = index[-1] + 1
        return {
            "turn": [self.turn] * len(self.token_text),
            "completion": list(self.token_completion),
            "index": index,
            "text": list(self.token_text),
            "t_s": list(self.token_t_s),
        }

    def call_rows(self) -> list[dict[str, Any]]:
        return [{"turn": self.turn, **call.__dict__} for call in self.call_records]

    def summary_row(self) -> dict[str, Any]:
        usage = self.usage
        return {
            "turn": self.turn,
            "started_at": self.started_at,
            "status": self.status,
            **self.settings,
            "user_text": self.user_text,
            "n_images": len(self.images),
            "response_text": self.text,
            "finish_reason": self.finish_reason,
            "n_chunks": len(self.token_text),
            "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": usage["completion_tokens"],
            "ttfb_s": self.ttfb_s,
            "duration_s": self.duration_s,
            "tokens_per_s": self.tokens_per_s,
            "n_calls": len(self.call_records),
            "n_requests": len(self.requests),
            "retries": self.retries,
            "error": self.error,
        }

    # -- journal -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
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
            "tokens": {
                "completion": self.token_completion,
                "text": self.token_text,
                "t_s": self.token_t_s,
            },
            "requests": self.requests,
            "warnings": self.warnings,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        tokens = data.get("tokens") or {}
        return cls(
            turn=data["turn"],
            started_at=datetime.fromisoformat(data["started_at"]),
            user_text=data["user_text"],
            settings=data.get("settings") or {},
            images=data.get("images") or [],
            status=data["status"],
            error=data.get("error"),
            error_status_code=data.get("error_status_code"),
            error_category=data.get("error_category"),
            duration_s=data.get("duration_s"),
            retries=data.get("retries", 0),
            completions=[Completion.from_dict(c) for c in data.get("completions", [])],
            call_records=[CallRecord.from_dict(c) for c in data.get("calls", [])],
            token_completion=list(tokens.get("completion", [])),
            token_text=list(tokens.get("text", [])),
            token_t_s=list(tokens.get("t_s", [])),
            requests=data.get("requests") or [],
            warnings=data.get("warnings") or [],
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
        colour = {"ok": "#2e7d32", "cancelled": "#8d6e63"}.get(self.status, "#c62828")
        usage = self.usage
        facts = [
            f"turn {self.turn}",
            f"<span style='color:{colour}'>{html.escape(self.status)}</span>",
            html.escape(str(self.settings.get("model") or "")),
        ]
        if usage["completion_tokens"] is not None:
            facts.append(f"{usage['prompt_tokens']} → {usage['completion_tokens']} tokens")
        if self.duration_s is not None:
            facts.append(f"{self.duration_s:.2f} s")
        parts = [f"<div style='font-size:smaller;color:#666'>{' · '.join(facts)}</div>"]
        for call in self.call_records:
            parts.append(
                "<div style='font-family:monospace;font-size:smaller'>🔧 "
                f"{html.escape(call.name)}({html.escape(_short(call.arguments))}) → "
                f"{html.escape(call.status)}: {html.escape(_short(call.result))}</div>"
            )
        parts.append(f"<div style='white-space:pre-wrap'>{html.escape(self.text)}</div>")
        if self.error:
            parts.append(f"<div style='color:{colour}'>{html.escape(self.error)}</div>")
        return "<div class='mistral-nb-turn'>" + "".join(parts) + "</div>"


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
