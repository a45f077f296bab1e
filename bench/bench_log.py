"""How fast the turn log's DataFrames are, and what a token row costs in memory.

Builds a log of 1,000 turns x 1,000 streamed pieces (1,000,000 token rows, one
turn in ten with reasoning first) through the same public ``Turn.add_token`` /
``TurnLog.append`` calls the session makes; no pipeline is needed for that.
Then times ``tokens()``, ``turns()``, ``calls()`` and measures, with tracemalloc,
the memory the log holds per token row.

The baseline, measured in the same run, is the naive layout: one dict per token
row, and ``pd.DataFrame(list_of_dicts)``.

    python bench/bench_log.py            # 1,000,000 rows
    python bench/bench_log.py --rows 200000
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

import mistral_nb as mnb
from mistral_nb._turn import CallRecord, Completion, Turn

PIECES_PER_TURN = 1000
# Real tokenizer pieces: short, mostly ASCII, some accented; each streamed piece is a
# new str object (decoded from the wire), so the bench makes a new one per row too.
VOCABULARY = [
    w.encode() for w in [" the", " quick", " brown", " fox", "é", " 42", ".", "\n", " über", "s"]
]
TARGET_SECONDS, TARGET_BYTES = 0.5, 200


def make_turn(number: int, pieces: int) -> Turn:
    turn = Turn(turn=number, started_at=datetime.now(UTC), user_text=f"question {number}")
    turn.completions.append(Completion(0, 0.0, ttfb_s=0.05, prompt_tokens=100))
    reasoning = pieces // 2 if number % 10 == 0 else 0
    for i in range(pieces):
        kind = "thinking" if i < reasoning else "text"
        text = VOCABULARY[(i * 7 + number) % len(VOCABULARY)].decode()
        turn.add_token(text, 0.05 + i * 0.001, 0, kind)
    turn.completions[0].completion_tokens = pieces
    turn.call_records.append(
        CallRecord("c1", "add", {"a": 1, "b": 2}, 3, "ok", None, turn.started_at, 0.001)
    )
    turn.status = "ok"
    return turn


def build_log(rows: int) -> mnb.TurnLog:
    log = mnb.TurnLog()
    for number in range(1, rows // PIECES_PER_TURN + 1):
        log.append(make_turn(number, PIECES_PER_TURN))
    return log


def naive_rows(rows: int) -> list[dict[str, Any]]:
    """The same rows, one dict each: what a log without columns would hold."""
    out = []
    for number in range(1, rows // PIECES_PER_TURN + 1):
        for i in range(PIECES_PER_TURN):
            text = VOCABULARY[(i * 7 + number) % len(VOCABULARY)].decode()
            kind = "thinking" if number % 10 == 0 and i < PIECES_PER_TURN // 2 else "text"
            out.append(
                {
                    "turn": number,
                    "completion": 0,
                    "choice": 0,
                    "index": i,
                    "kind": kind,
                    "text": text,
                    "t_s": 0.05 + i * 0.001,
                }
            )
    return out


def traced_bytes(build: Callable[[], Any]) -> tuple[Any, int]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    built = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return built, after - before


def timed(work: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds of one call (CPU time does not count waiting for a busy core)."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def median_seconds(work: Callable[[], Any], repeat: int = 5) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        gc.collect()
        runs.append(timed(work))
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    rows = args.rows

    start = time.perf_counter()
    log, log_bytes = traced_bytes(lambda: build_log(rows))
    build_s = time.perf_counter() - start

    gc.collect()
    frame = log.tokens()  # (its time: below, on a fresh copy of the same log)
    assert len(frame) == rows and list(frame["kind"].cat.categories) == ["text", "thinking"]
    tokens_s = median_seconds(log.tokens)
    # Cold: a log just read back from its journal has no Arrow text cached yet.
    with tempfile.TemporaryDirectory() as directory:
        path = log.save(Path(directory) / "journal.jsonl", follow=False)
        loaded = mnb.TurnLog.load(path)
    gc.collect()
    cold_s = timed(loaded.tokens)
    assert loaded.tokens().equals(frame), "a log read back from its journal differs"
    del loaded
    fresh = build_log(rows)
    gc.collect()
    first_s = timed(fresh.tokens)
    del fresh
    # What the session pays per streamed piece (untraced, a tenth of the rows).
    start = time.perf_counter()
    build_log(rows // 10)
    add_token_us = (time.perf_counter() - start) / (rows // 10) * 1e6
    turns_s = median_seconds(log.turns)
    calls_s = median_seconds(log.calls)
    # The baseline last: a million dicts alive would slow the log's timings (GC passes).
    naive, naive_bytes = traced_bytes(lambda: naive_rows(rows))
    naive_s = median_seconds(lambda: pd.DataFrame(naive))

    print(f"log of {len(log):,} turns, {rows:,} token rows (built in {build_s:.2f} s, traced)")
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; seconds are wall / CPU"
    )
    for name, (wall, cpu) in (
        ("tokens(), first call on a new log", first_s),
        ("tokens(), again (median of 5)", tokens_s),
        ("tokens(), a log just loaded from its journal", cold_s),
        ("baseline pd.DataFrame(list of dicts) (median of 5)", naive_s),
    ):
        print(f"  {name}: {wall:.3f} / {cpu:.3f} s; {cpu / naive_s[1]:.3f}x the baseline (CPU)")
    print(f"  target: <= {TARGET_SECONDS} s")
    print(f"add_token + append: {add_token_us:.2f} us per streamed piece")
    print(
        f"memory: {log_bytes / rows:.0f} bytes per token row (the whole log); baseline "
        f"one dict per row {naive_bytes / rows:.0f} bytes; ratio "
        f"{log_bytes / naive_bytes:.2f}x  (target <= {TARGET_BYTES})"
    )
    print(f"turns(): {turns_s[0] * 1000:.1f} ms;  calls(): {calls_s[0] * 1000:.1f} ms (wall)")
    # CPU time: on a shared machine the wall clock also counts other processes' turns.
    slowest = max(first_s[1], tokens_s[1], cold_s[1])
    verdict = slowest <= TARGET_SECONDS and log_bytes / rows <= TARGET_BYTES
    print(
        ("within targets" if verdict else "OUTSIDE TARGETS")
        + f" (slowest tokens() {slowest:.3f} s CPU)"
    )


if __name__ == "__main__":
    main()
