"""``plot_sweep``: one measure of a sweep against one setting, a line (or bars) per hue.

Built as in ``_plots.py``: a :class:`matplotlib.figure.Figure` without pyplot, returned.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._errors import ExperimentError
from ._settings import SETTINGS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_sweep"]

_UNITS = {
    "tokens_per_s": "tokens/s",
    "ttfb_s": "s",
    "duration_s": "s",
    "cost_usd": "USD",
    "prompt_tokens": "tokens",
    "completion_tokens": "tokens",
    "cached_tokens": "tokens",
    "n_calls": "calls",
    "rate_limited": "429s",
}
_NAMES = {
    "tokens_per_s": "tokens per second",
    "ttfb_s": "time to first byte",
    "duration_s": "duration",
    "cost_usd": "cost",
}


def _label(column: str) -> str:
    name = _NAMES.get(column, column.replace("_", " "))
    setting = SETTINGS.get(column)
    unit = _UNITS.get(column) or (setting.unit if setting is not None else "")
    return f"{name} ({unit})" if unit else name


def plot_sweep(
    frame: pd.DataFrame,
    x: str,
    y: str = "tokens_per_s",
    hue: str | None = None,
    *,
    only_ok: bool = True,
) -> Figure:
    """Plot a measure of a sweep against a setting: the mean per value, each run a dot.

    Numbers on ``x`` give lines (with a band of one standard deviation when runs repeat);
    anything else gives grouped bars.

    Args:
        frame: A sweep's (or batch's) result.
        x: The setting on the horizontal axis (``temperature``).
        y: The measure (``tokens_per_s``, ``ttfb_s``, ``duration_s``, ``cost_usd``,
            ``completion_tokens``...).
        hue: A second setting: one line (or bar) per value.
        only_ok: Leave out runs that did not end ``ok``.

    Returns:
        The matplotlib Figure.

    Raises:
        ExperimentError: a named column is not in the frame.
    """
    from matplotlib.figure import Figure

    for column in (x, y, hue):
        if column is not None and column not in frame.columns:
            raise ExperimentError(
                f"plot_sweep: no column {column!r}; the frame has {', '.join(map(str, frame))}"
            )
    data = frame[frame["status"] == "ok"] if only_ok and "status" in frame else frame
    data = data.assign(_y=pd.to_numeric(data[y], errors="coerce"))
    fig = Figure(figsize=(7.0, 3.6), dpi=100, layout="constrained")
    fig.patch.set_alpha(0.0)
    ax = fig.subplots()
    groups: list[tuple[Any, pd.DataFrame]] = (
        list(data.groupby(hue, sort=True, dropna=False)) if hue else [(None, data)]
    )
    numeric = pd.api.types.is_numeric_dtype(data[x]) and not pd.api.types.is_bool_dtype(data[x])
    categories = list(dict.fromkeys(data[x].astype(str)))
    width = 0.8 / max(len(groups), 1)
    for index, (value, group) in enumerate(groups):
        label = f"{hue} = {value}" if hue else None
        stats = group.groupby(x, sort=True)["_y"].agg(["mean", "std", "count"])
        if numeric:
            xs = stats.index.to_numpy(dtype=float)
            line = ax.plot(xs, stats["mean"], marker="o", label=label)[0]
            spread = stats["std"].fillna(0.0)
            if (stats["count"] > 1).any():
                ax.fill_between(
                    xs,
                    stats["mean"] - spread,
                    stats["mean"] + spread,
                    color=line.get_color(),
                    alpha=0.15,
                )
            ax.scatter(group[x], group["_y"], s=12, color=line.get_color(), alpha=0.5)
        else:
            positions = [categories.index(str(v)) + index * width for v in stats.index]
            ax.bar(positions, stats["mean"], width=width, label=label)
    if not numeric:
        ax.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(categories))])
        ax.set_xticklabels(categories)
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    runs = len(data)
    ax.set_title(f"{_NAMES.get(y, y.replace('_', ' '))} by {x} ({runs} runs)")
    ax.grid(True, alpha=0.3)
    if hue:
        ax.legend(frameon=False, fontsize="small")
    if runs == 0 or all(math.isnan(v) for v in data["_y"]):
        ax.text(0.5, 0.5, "no values to plot", ha="center", va="center", transform=ax.transAxes)
    return fig
