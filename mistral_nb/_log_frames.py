"""The turn log's DataFrames, built a column at a time.

A log can hold millions of streamed pieces.  ``token_frame`` never makes a Python
object per row: the number columns are the turns' ``array`` buffers joined by
numpy, the text column is one Arrow string array (pandas' own ``str`` storage),
and the kind is a categorical over ``("text", "thinking")``.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ._text import clean_text

if TYPE_CHECKING:
    from ._turn import Turn

__all__ = ["CALL_COLUMNS", "TOKEN_COLUMNS", "call_rows", "text_array", "token_frame"]

TOKEN_COLUMNS = ["turn", "completion", "choice", "index", "kind", "text", "t_s"]
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
_KIND_CATEGORIES = ["text", "thinking"]

try:  # pandas 3: the default ``str`` dtype, stored in Arrow
    _TEXT_DTYPE: Any = pd.StringDtype("pyarrow", na_value=np.nan)
except TypeError:  # pragma: no cover - pandas 2.x
    _TEXT_DTYPE = pd.StringDtype("pyarrow")


def _numbers(columns: Sequence[Any], dtype: str, lengths: np.ndarray, out: str) -> np.ndarray:
    """The columns of every turn as one array of ``out`` (cast while joining: one pass)."""
    parts = []
    for values, n in zip(columns, lengths, strict=True):
        if isinstance(values, array) and len(values) == n:
            parts.append(np.frombuffer(values, dtype=dtype) if n else np.empty(0, dtype))
            continue
        part = np.asarray(values, dtype=dtype)  # a list someone appended to directly
        if len(part) < n:  # a column not kept for every row (kind, choice): zeros
            part = np.concatenate([part, np.zeros(n - len(part), dtype)])
        parts.append(part[:n])
    if not parts:
        return np.empty(0, out)
    return np.concatenate(parts, dtype=out, casting="safe")


def text_array(texts: list[str]) -> pa.Array:
    """One turn's token texts as an Arrow string array (what ``tokens()`` is made of)."""
    try:
        return pa.array(texts, type=pa.large_string())
    except (UnicodeEncodeError, pa.ArrowException):
        # A lone surrogate that no one cleaned (the log cleans finished turns).
        return pa.array([clean_text(text) for text in texts], type=pa.large_string())


def _texts(turns: Sequence[Turn], made: Sequence[pa.Array]) -> pa.ChunkedArray:
    chunks = list(made) if len(made) == len(turns) else [text_array(t.token_text) for t in turns]
    return pa.chunked_array(chunks, type=pa.large_string())


def _index_within(keys: np.ndarray) -> np.ndarray:
    """The position of each row among the rows with the same key, in row order."""
    n = len(keys)
    if n == 0:
        return np.empty(0, np.int64)
    steps = np.diff(keys)
    if (steps >= 0).all():
        # Rows of one key are contiguous (the usual case): count from each run's start.
        run_start = np.zeros(n, np.int64)
        starts = np.flatnonzero(steps) + 1
        run_start[starts] = starts
        return np.arange(n, dtype=np.int64) - np.maximum.accumulate(run_start)
    return pd.Series(keys).groupby(keys, sort=False).cumcount().to_numpy(np.int64)


def token_frame(turns: Sequence[Turn], text_arrays: Sequence[pa.Array | None] = ()) -> pd.DataFrame:
    """One row per streamed piece of ``turns``: see ``TurnLog.tokens``.

    Args:
        text_arrays: ``text_array`` of each turn's ``token_text``, made when it was
            finished (None, or missing, for those to make now).
    """
    lengths = np.fromiter((len(t.token_text) for t in turns), np.int64, len(turns))
    numbers = np.fromiter((t.turn for t in turns), np.int64, len(turns))
    completion = _numbers([t.token_completion for t in turns], "int32", lengths, "int64")
    choice = _numbers([t.token_choice for t in turns], "uint16", lengths, "int64")
    kind = _numbers([t.token_kind for t in turns], "int8", lengths, "int8")
    t_s = _numbers([t.token_t_s for t in turns], "float64", lengths, "float64")
    # One key per (turn, completion, choice): the index counts within it.
    position = np.repeat(np.arange(len(turns), dtype=np.int64), lengths)
    keys = (position << 40) | (completion << 16) | choice
    columns = {
        "turn": np.repeat(numbers, lengths),
        "completion": completion,
        "choice": choice,
        "index": _index_within(keys),
        "kind": pd.Categorical.from_codes(kind, categories=_KIND_CATEGORIES),
        "text": pd.Series(_texts(turns, text_arrays), dtype=_TEXT_DTYPE),
        "t_s": t_s,
    }
    # Joined as Series, not from a dict: the dict path copies every int64 column into
    # one 2-D block, which costs more than everything else here for a million rows.
    series = [pd.Series(values, name=name, copy=False) for name, values in columns.items()]
    return pd.concat(series, axis=1)


def call_rows(turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """One dict per tool call of ``turns``, in ``CALL_COLUMNS``' terms."""
    return [{"turn": turn.turn, **call.__dict__} for turn in turns for call in turn.call_records]
