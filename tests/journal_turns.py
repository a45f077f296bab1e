"""Turns shaped like a session's, built with the public Turn API (no pipeline needed).

Each turn of ``conversation`` carries what a real one does: streamed pieces (a
reasoning model's thinking first on every third), usage, a tool call on every
second, and request bodies that repeat the growing conversation, so the journal's
message sharing between lines is exercised as in a real session.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mistral_nb import Turn
from mistral_nb._turn import CallRecord, Completion

STARTED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def conversation(count: int, *, first: int = 1, words: int = 12) -> list[Turn]:
    """``count`` finished turns of one conversation, numbered from ``first``."""
    messages: list[dict] = [{"role": "system", "content": "Be brief."}]
    turns = []
    for number in range(first, first + count):
        turn = Turn(
            turn=number,
            started_at=STARTED + timedelta(minutes=number),
            user_text=f"question {number}: café at 18 °C?",
            settings={"model": "mistral-small-latest", "temperature": 0.3, "max_tokens": None},
        )
        messages = [*messages, {"role": "user", "content": turn.user_text}]
        turn.requests.append({"model": "mistral-small-latest", "messages": messages})
        turn.completions.append(Completion(0, 0.001, ttfb_s=0.01, prompt_tokens=20 * number))
        if number % 3 == 0:
            for i in range(4):
                turn.add_token(f" hmm{i}", 0.02 + i * 0.001, 0, "thinking")
        for i in range(words):
            turn.add_token(f" w{number}.{i}", 0.03 + i * 0.001, 0)
        turn.completions[0].completion_tokens = words
        turn.completions[0].finish_reason = "stop"
        if number % 2 == 0:
            turn.call_records.append(
                CallRecord(
                    f"call{number}",
                    "add",
                    {"a": number, "b": 1},
                    number + 1,
                    "ok",
                    None,
                    turn.started_at,
                    0.002,
                )
            )
        messages = [*messages, {"role": "assistant", "content": turn.text}]
        turn.status, turn.duration_s = "ok", 0.05
        turns.append(turn)
    return turns


def as_json(turn: Turn) -> dict:
    return json.loads(json.dumps(turn.to_dict()))


def journal_lines(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    assert raw.endswith(b"\n"), "the journal ends mid-line"
    return raw[:-1].split(b"\n")
