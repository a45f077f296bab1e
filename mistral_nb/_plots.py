"""Plots of a turn log: tokens over time, latency per turn, tool-call durations.

matplotlib only (the engine imports no widget library): each function builds a
:class:`matplotlib.figure.Figure` without pyplot, so nothing global changes and figures
can be drawn from any thread, and returns it (``display(fig)`` or ``fig.savefig(...)``);
the log panel renders the same figures as PNG.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ._turnlog import TurnLog

__all__ = ["figure_png", "plot_calls", "plot_latency", "plot_tokens"]

_SIZE = (7.0, 3.2)


def _figure(size: tuple[float, float] = _SIZE) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    fig.patch.set_alpha(0.0)  # the notebook's own background (light or dark) shows through
    return fig


def _empty(fig: Figure, text: str) -> Figure:
    ax = fig.subplots()
    ax.text(0.5, 0.5, text, ha="center", va="center", color="#777")
    ax.set_axis_off()
    return fig


def plot_tokens(log: TurnLog, turns: Iterable[int] | None = None) -> Figure:
    """Tokens streamed over time, one line per turn (the last five by default).

    Reasoning pieces (``kind == "thinking"`` in ``log.tokens()``) are dashed, the answer
    solid, so the time spent thinking shows against the time spent answering.

    Args:
        log: A :class:`mistral_nb.TurnLog` (``session.log``).
        turns: Turn numbers to draw; None draws the last five.
    """
    frame = log.tokens()
    fig = _figure()
    if frame.empty:
        return _empty(fig, "no tokens logged yet")
    chosen = sorted(set(turns)) if turns is not None else sorted(frame["turn"].unique())[-5:]
    frame = frame[frame["turn"].isin(chosen)]
    if frame.empty:
        return _empty(fig, "no tokens in the chosen turns")
    ax = fig.subplots()
    kinds = frame["kind"] if "kind" in frame.columns else None
    for number, rows in frame.groupby("turn", sort=True):
        position = list(range(1, len(rows) + 1))
        times = rows["t_s"].tolist()
        if kinds is None:
            ax.plot(times, position, label=f"turn {number}", linewidth=1.4)
            continue
        thinking = (kinds.loc[rows.index] == "thinking").tolist()
        (line,) = ax.plot(
            [t for t, k in zip(times, thinking, strict=True) if not k],
            [p for p, k in zip(position, thinking, strict=True) if not k],
            label=f"turn {number}",
            linewidth=1.4,
        )
        if any(thinking):
            ax.plot(
                [t for t, k in zip(times, thinking, strict=True) if k],
                [p for p, k in zip(position, thinking, strict=True) if k],
                linestyle="--",
                color=line.get_color(),
                linewidth=1.2,
                label=f"turn {number} reasoning",
            )
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("time since the turn started (s)")
    ax.set_ylabel("tokens streamed")
    ax.set_title("Tokens over time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncols=2 if len(chosen) > 4 else 1)
    return fig


def plot_latency(log: TurnLog) -> Figure:
    """Time to first token and tokens per second for each turn, by model."""
    frame = log.turns()
    fig = _figure()
    if frame.empty:
        return _empty(fig, "no turns logged yet")
    ax_ttfb, ax_rate = fig.subplots(1, 2)
    for model, rows in frame.groupby(frame["model"].fillna("?"), sort=True):
        ax_ttfb.plot(rows["turn"], rows["ttfb_s"] * 1000, "o-", label=str(model), markersize=4)
        ax_rate.plot(rows["turn"], rows["tokens_per_s"], "o-", label=str(model), markersize=4)
    ax_ttfb.set_title("Time to first token")
    ax_ttfb.set_ylabel("ms")
    ax_rate.set_title("Streaming speed")
    ax_rate.set_ylabel("tokens/s")
    for ax in (ax_ttfb, ax_rate):
        ax.set_xlabel("turn")
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax_rate.legend(fontsize="small")
    return fig


def plot_calls(log: TurnLog) -> Figure:
    """How long each tool call took, one bar per call, coloured by status."""
    frame = log.calls()
    fig = _figure()
    if frame.empty:
        return _empty(fig, "no tool calls logged yet")
    frame = frame.tail(30)
    colours = {"ok": "#388e3c", "error": "#d32f2f", "timeout": "#f57c00"}
    labels = [f"{t}: {n}" for t, n in zip(frame["turn"], frame["name"], strict=True)]
    ax = fig.subplots()
    ax.barh(
        range(len(frame)),
        frame["duration_s"] * 1000,
        color=[colours.get(s, "#9e9e9e") for s in frame["status"]],
    )
    ax.set_yticks(range(len(frame)), labels, fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("duration (ms)")
    ax.set_title("Tool calls (turn: tool), latest 30")
    ax.grid(axis="x", alpha=0.3)
    return fig


def figure_png(fig: Figure, **savefig: Any) -> bytes:
    """``fig`` as PNG bytes (for an ``ipywidgets.Image``)."""
    out = io.BytesIO()
    fig.savefig(out, format="png", **savefig)
    return out.getvalue()
