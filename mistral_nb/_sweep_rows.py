"""Planning a sweep and its rows: the runs of a grid, the prompt, a turn as a row.

Shared by ``mnb.sweep`` (``_sweep.py``), ``session.compare`` and ``mnb.batch``, so that
all three give the same columns.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ._errors import ExperimentError
from ._pricing import cost_usd
from ._settings import validate_settings
from ._structured import parse_reply
from ._turn import Turn

__all__ = [
    "Run",
    "distinct_answers",
    "plan_runs",
    "result_columns",
    "split_prompt",
    "turn_row",
]


@dataclass(frozen=True)
class Run:
    """One planned run: its number, the swept settings (Mistral's names), its repeat."""

    index: int
    settings: dict[str, Any]
    repeat: int


def plan_runs(
    grid: Mapping[str, Iterable[Any]] | None,
    settings: Sequence[Mapping[str, Any]] | None,
    repeats: int,
) -> tuple[list[Run], list[str]]:
    """Every run of a sweep, and the names of the swept settings.

    Raises:
        ExperimentError: both or neither shape given wrongly, an empty grid axis,
            ``repeats`` below 1.
        SettingsError: a swept value Mistral would refuse (before anything is sent).
    """
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ExperimentError(f"repeats={repeats!r}: pass a whole number of 1 or more")
    if grid is not None and settings is not None:
        raise ExperimentError("pass grid={...} or settings=[...], not both")
    combos: list[dict[str, Any]]
    if grid is not None:
        if not isinstance(grid, Mapping):
            raise ExperimentError(
                "grid= maps setting names to lists of values, e.g. {'temperature': [0, 0.7]}"
            )
        axes = {}
        for name, values in grid.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                raise ExperimentError(
                    f"grid[{name!r}] is {values!r}: give a list of values, e.g. [{values!r}]"
                )
            axes[name] = list(values)
            if not axes[name]:
                raise ExperimentError(f"grid[{name!r}] is empty: give it at least one value")
        combos = [
            dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())
        ]
    elif settings is not None:
        if isinstance(settings, Mapping) or not all(isinstance(s, Mapping) for s in settings):
            raise ExperimentError("settings= is a list of dicts, one per variant")
        combos = [dict(s) for s in settings]
        if not combos:
            raise ExperimentError("settings=[] holds no variant: give at least one dict")
    else:
        combos = [{}]
    checked = [validate_settings(combo) for combo in combos]
    names: list[str] = []
    for combo in checked:
        names.extend(name for name in combo if name not in names)
    runs = [
        Run(index, combo, repeat)
        for index, (combo, repeat) in enumerate(
            (combo, repeat) for combo in checked for repeat in range(repeats)
        )
    ]
    return runs, names


def split_prompt(prompt: str | Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The conversation before the last user message, and that message's text.

    Raises:
        ExperimentError: not a string nor a list of messages ending with a user message.
    """
    if isinstance(prompt, str):
        return [], prompt
    if not isinstance(prompt, Sequence) or not prompt or not isinstance(prompt[-1], Mapping):
        raise ExperimentError(
            "the prompt is a string or a list of messages ({'role': ..., 'content': ...}) "
            "ending with the user's message"
        )
    messages: list[Mapping[str, Any]] = list(prompt)  # type: ignore[arg-type]
    *prior, last = messages
    content = last.get("content")
    if last.get("role") != "user" or not isinstance(content, (str, list)):
        raise ExperimentError(
            f"the last message must be the user's, with text content: got role {last.get('role')!r}"
        )
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
    return [dict(message) for message in prior], content


def turn_row(turn: Turn, schema: Any = None) -> dict[str, Any]:
    """The columns a sweep (and compare, and batch results) give one finished turn."""
    usage = turn.usage
    model = str(turn.settings.get("model") or "")
    row: dict[str, Any] = {
        "status": turn.status,
        "reply": turn.text,
        "finish_reason": turn.finish_reason,
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "cached_tokens": usage["cached_tokens"],
        "ttfb_s": turn.ttfb_s,
        "tokens_per_s": turn.tokens_per_s,
        "duration_s": turn.duration_s,
        "cost_usd": sum(
            cost_usd(model, c.prompt_tokens, c.completion_tokens, c.cached_tokens)
            for c in turn.completions
        )
        if turn.completions
        else math.nan,
        "n_calls": len(turn.call_records),
        "started_at": turn.started_at,
        "error": turn.error,
    }
    if schema is not None:
        parsed, problem = parse_reply(turn.text, schema) if turn.ok else (None, turn.error)
        row["parsed_ok"] = problem is None
        row["parsed"] = parsed
    return row


def result_columns(swept: Sequence[str], schema: Any = None) -> list[str]:
    """The columns of a sweep's frame (and of batch results), in order."""
    columns = ["run", "repeat", *swept, "status", "reply", "finish_reason", "prompt_tokens"]
    columns += ["completion_tokens", "cached_tokens", "ttfb_s", "tokens_per_s", "duration_s"]
    columns += ["cost_usd", "n_calls", "rate_limited", "attempts", "started_at", "error"]
    if schema is not None:
        columns += ["parsed_ok", "parsed"]
    return [*columns, "log"]


def distinct_answers(frame: pd.DataFrame, by: Sequence[str] | None = None) -> pd.DataFrame:
    """How many different replies each combination gave over its repeats.

    Args:
        frame: A sweep's result (or any frame with ``reply`` and ``status``).
        by: The columns that name a combination; default: the swept settings.

    Returns:
        One row per combination: its settings, ``runs`` (ok ones), ``distinct`` (different
        replies), ``top_share`` (the most common reply's share of the runs).
    """
    names = list(by if by is not None else frame.attrs.get("swept", []))
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ExperimentError(f"distinct_answers(by=...): no column {missing[0]!r} in the frame")
    ok = frame[frame["status"] == "ok"]
    if not names:
        ok = ok.assign(combination="all")
        names = ["combination"]
    grouped = ok.groupby(names, sort=False, dropna=False)["reply"]
    return pd.DataFrame(
        {
            "runs": grouped.size(),
            "distinct": grouped.nunique(),
            "top_share": grouped.agg(lambda r: r.value_counts().iloc[0] / len(r)),
        }
    ).reset_index()
