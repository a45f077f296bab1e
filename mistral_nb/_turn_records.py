"""The parts of a turn: one model request (``Completion``) and one tool call (``CallRecord``).

Both are plain data that the journal writes with ``to_dict`` and reads with
``from_dict``; fields a newer mistral_nb wrote and this one does not know are
ignored, so journals stay readable across versions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = ["CallRecord", "CallStatus", "Completion"]

#: How a tool call ended.
CallStatus = Literal["running", "ok", "error", "timeout", "rejected", "cancelled"]


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    # A journal written by a newer mistral_nb may carry fields this one does not know.
    names = {f.name for f in dataclasses.fields(cls)}
    return {key: value for key, value in data.items() if key in names}


@dataclass
class CallRecord:
    """One tool call: what the model asked for and what it got back."""

    call_id: str
    name: str
    arguments: Any
    result: Any
    status: CallStatus
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
        started_at = datetime.fromisoformat(data["started_at"])
        return cls(**{**_known(cls, data), "started_at": started_at})


@dataclass
class Completion:
    """One model request within a turn (a tool round-trip makes a second one)."""

    index: int
    started_s: float
    ttfb_s: float | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Completion:
        return cls(**_known(cls, data))
