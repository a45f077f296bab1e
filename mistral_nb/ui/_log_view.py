"""LogView: the turn log as a summary table that fits the panel, plots, and exports.

The table is built from the log's own turns (``Turn.summary_row()``, the row
``turns()`` has), only for the page shown, newest first: redrawing it when a turn ends
costs a page, not the whole log.  Plots are drawn with :mod:`mistral_nb._plots` on a
worker thread of the panel's own (a figure takes ~100 ms: no session thread or kernel
loop waits for it) and shown as PNG.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ipywidgets import HTML, Button, Dropdown, HBox, Image, Layout, SelectMultiple, Text, VBox

from .._plots import figure_png, plot_calls, plot_latency, plot_tokens
from .._session import Session, SessionEvent
from ._format import clock, count, missing, seconds, shorten
from ._status import ShownAsWidget, StatusLine, guarded, release, run_guarded, schedule
from ._style import stylesheet

__all__ = ["LogView", "summary_table"]

_FILE_NAMES = {"jsonl": "turnlog.jsonl"}
PLOTS = {
    "tokens over time": plot_tokens,
    "TTFB and tokens/s per turn": plot_latency,
    "tool-call durations": plot_calls,
}
# (header, CSS class, width, numeric); "" width takes what is left.  In a narrow panel
# the columns marked "mnb-wide" (below 900 px), then "mnb-narrow" (below 640 px) give
# way (container queries in the stylesheet), so the message column keeps room to read.
_COLUMNS = [
    ("turn", "mnb-c-turn", "36px", True),
    ("time", "mnb-c-time mnb-wide", "62px", False),
    ("model", "mnb-c-model", "14%", False),
    ("status", "mnb-c-status", "58px", False),
    ("in", "mnb-c-in", "48px", True),
    ("out", "mnb-c-out", "48px", True),
    ("TTFB", "mnb-c-ttfb", "60px", True),
    ("tok/s", "mnb-c-rate mnb-narrow", "52px", True),
    ("cost", "mnb-c-cost mnb-narrow", "62px", True),
    ("finish", "mnb-c-finish mnb-wide", "50px", False),
    ("message → reply", "mnb-c-text", "", False),
]


def _row(turn: Any) -> dict[str, Any]:
    """The turn's ``turns()`` row, with its cost when the log does not carry one yet."""
    row: dict[str, Any] = turn.summary_row()
    if "cost_usd" not in row:
        try:
            from .._pricing import cost_usd
        except ImportError:  # pragma: no cover - an engine without prices
            return row
        usage = turn.usage
        # Prices are linear in tokens: the turn's summed usage prices its requests.
        row["cost_usd"] = cost_usd(
            str(row.get("model") or ""),
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
            usage.get("cached_tokens"),
        )
    return row


def _cells(row: dict[str, Any]) -> list[tuple[str, str]]:
    """(text, full text for the hover) of each column."""
    rate = row.get("tokens_per_s")
    cost = row.get("cost_usd")
    user, reply = str(row.get("user_text") or ""), str(row.get("response_text") or "")
    status = str(row.get("status") or "")
    error = row.get("error")
    return [
        (str(row["turn"]), ""),
        (clock(row.get("started_at")), str(row.get("started_at") or "")),
        (str(row.get("model") or ""), str(row.get("model") or "")),
        (status, str(error) if error else status),
        (count(row.get("prompt_tokens")), ""),
        (count(row.get("completion_tokens")), ""),
        (seconds(row.get("ttfb_s")), ""),
        ("" if missing(rate) else f"{rate:,.0f}", ""),
        ("" if missing(cost) else f"${cost:.4f}", ""),
        (str(row.get("finish_reason") or ""), ""),
        (f"{shorten(user, 60)} → {shorten(reply, 120)}", f"{user}\n→ {reply}"[:4000]),
    ]


def summary_table(rows: list[dict[str, Any]]) -> str:
    """The summary table (HTML) for ``rows`` of ``turns()``, in the order given."""
    has_cost = any(not missing(r.get("cost_usd")) for r in rows)
    shown = [i for i, c in enumerate(_COLUMNS) if has_cost or c[0] != "cost"]
    head = "".join(
        f"<th class='{_COLUMNS[i][1]}{' mnb-num' if _COLUMNS[i][3] else ''}'"
        + (f" style='width:{_COLUMNS[i][2]}'" if _COLUMNS[i][2] else "")
        + f">{html.escape(_COLUMNS[i][0])}</th>"
        for i in shown
    )
    body = []
    for row in rows:
        cells = _cells(row)
        tds = []
        for i in shown:
            (text, full), (name, css, _, num) = cells[i], _COLUMNS[i]
            classes = css + (" mnb-num" if num else "")
            if name == "status":
                classes += f" mnb-st-{html.escape(text)}"
            title = f" title='{html.escape(full, quote=True)}'" if full else ""
            tds.append(f"<td class='{classes}'{title}>{html.escape(text)}</td>")
        body.append(f"<tr>{''.join(tds)}</tr>")
    return (
        f"<div class='mnb-fit'><table class='mnb-grid'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


class LogView(ShownAsWidget, VBox):
    """The session's :class:`mistral_nb.TurnLog`: a summary table, plots and exports.

    The table shows one row per turn, newest first, ``page_size`` rows a page (hover a
    cell for the whole text or the error); it is redrawn when a turn ends.  The plots
    show tokens over time for the chosen turns (the last five when none is chosen),
    TTFB and tokens/s per turn, or tool-call durations.  The buttons write the whole log
    to the directory in the text field: JSONL (``TurnLog.save``: the log then keeps
    appending new turns to that file), CSV and Parquet (``to_csv`` / ``to_parquet``).

    Args:
        session: The :class:`mistral_nb.Session` whose log to show.
        directory: Where exports go (relative to the notebook's directory).
        page_size: Rows a page.

    Attributes:
        table: The ``HTML`` summary table.
        newer_button, older_button, page_label: Paging.
        plot_kind, plot_turns, plot: The plot's choice, its turns, the ``Image``.
        export_dir: The ``Text`` field naming the export directory.
        export_buttons: ``{"jsonl": Button, "csv": Button, "parquet": Button}``.
        written: The paths the last export wrote.
        pending: The latest export task (await it in async code), or None.
        plot_pending: The latest plot drawing (a ``concurrent.futures.Future``), or None.
        status: The status line.
    """

    def __init__(
        self,
        session: Session,
        *,
        directory: str = "mistral_nb_logs",
        page_size: int = 10,
        **kwargs: Any,
    ) -> None:
        self.session = session
        self.page_size = page_size
        self.page = 0
        self.status = StatusLine()
        self.pending: asyncio.Task[None] | None = None
        self.plot_pending: Any = None
        self.written: list[Path] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mistral_nb plot")
        self.table = HTML(layout=Layout(width="100%", overflow="hidden"))
        self.newer_button = Button(description="◀ newer", layout=Layout(width="auto"))
        self.older_button = Button(description="older ▶", layout=Layout(width="auto"))
        self.page_label = HTML()
        self.plot_kind = Dropdown(
            options=list(PLOTS), value="tokens over time", layout=Layout(width="auto")
        )
        self.plot_turns = SelectMultiple(
            options=[],
            rows=3,
            tooltip="turns to plot (none chosen: the last five)",
            layout=Layout(width="110px"),
        )
        self.plot_button = Button(description="redraw", icon="refresh", layout=Layout(width="auto"))
        # Hidden until a plot is drawn: an empty Image shows as a broken picture.
        self.plot = Image(
            format="png", layout=Layout(width="100%", max_width="760px", display="none")
        )
        self.export_dir = Text(
            value=directory,
            description="export to",
            layout=Layout(width="100%"),
            style={"description_width": "70px"},
        )
        grow = Layout(flex="1 1 0", width="auto", min_width="120px")
        self.export_buttons = {
            kind: Button(description=label, icon=icon, tooltip=tip, layout=grow)
            for kind, label, icon, tip in (
                ("jsonl", "JSONL journal", "save", "save turnlog.jsonl; new turns are appended"),
                ("csv", "CSV files", "table", "turns.csv, tokens.csv and calls.csv"),
                ("parquet", "Parquet files", "database", "turns, tokens and calls as Parquet"),
            )
        }
        self.files = HTML()
        super().__init__(
            [
                stylesheet(),
                self.table,
                HBox(
                    [self.newer_button, self.older_button, self.page_label],
                    layout=Layout(align_items="center", grid_gap="6px"),
                ),
                HTML("<b>Plots</b>"),
                HBox(
                    [self.plot_kind, self.plot_turns, self.plot_button],
                    layout=Layout(align_items="flex-start", grid_gap="6px", flex_flow="row wrap"),
                ),
                self.plot,
                HTML("<b>Export the whole log</b>"),
                self.export_dir,
                HBox(
                    list(self.export_buttons.values()), layout=Layout(width="100%", grid_gap="6px")
                ),
                self.files,
                self.status,
            ],
            layout=kwargs.pop("layout", Layout(width="100%")),
            **kwargs,
        )
        self.newer_button.on_click(self._on_newer)
        self.older_button.on_click(self._on_older)
        self.plot_kind.observe(self._on_plot_choice, names="value")
        self.plot_turns.observe(self._on_plot_choice, names="value")
        self.plot_button.on_click(self._on_plot_button)
        for button in self.export_buttons.values():
            button.on_click(self._on_export)
        self._unsubscribe: Callable[[], None] | None = session.subscribe(self._on_event)
        self.refresh()

    # -- the table ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Redraw the page of the table, the paging and the turn choices from the log."""
        turns = list(self.session.log)
        pages = max((len(turns) + self.page_size - 1) // self.page_size, 1)
        self.page = min(self.page, pages - 1)
        start = len(turns) - self.page * self.page_size
        shown = turns[max(start - self.page_size, 0) : start][::-1]
        if not shown:
            self.table.value = "<em class='mnb-hint'>Nothing logged yet.</em>"
            self.page_label.value = ""
        else:
            self.table.value = summary_table([_row(t) for t in shown])
            self.page_label.value = (
                f"<span class='mnb-hint'>turns {shown[0].turn}–{shown[-1].turn} of "
                f"{len(turns)} · page {self.page + 1} of {pages}</span>"
            )
        self.newer_button.disabled = self.page == 0
        self.older_button.disabled = self.page >= pages - 1
        numbers = [t.turn for t in reversed(turns)]
        if list(self.plot_turns.options) != numbers:
            chosen = tuple(n for n in self.plot_turns.value if n in numbers)
            self._syncing_turns = True
            try:
                self.plot_turns.options = numbers
                self.plot_turns.value = chosen
            finally:
                self._syncing_turns = False

    @guarded
    def _on_newer(self, _button: Button) -> None:
        self.page = max(self.page - 1, 0)
        self.refresh()

    @guarded
    def _on_older(self, _button: Button) -> None:
        self.page += 1
        self.refresh()

    @guarded
    def _on_event(self, event: SessionEvent) -> None:
        if event.kind == "turn_ended":
            self.refresh()
            self.redraw_plot()

    # -- plots -------------------------------------------------------------------------

    def redraw_plot(self) -> Any:
        """Draw the chosen plot on the panel's worker thread; returns its Future."""
        kind, turns = self.plot_kind.value, tuple(self.plot_turns.value) or None
        log = self.session.log

        def draw() -> None:
            plot = PLOTS[kind]
            fig = plot(log, turns=turns) if plot is plot_tokens else plot(log)  # type: ignore[operator]
            self.plot.value = figure_png(fig)
            self.plot.layout.display = None

        def done(future: Any) -> None:
            if future.cancelled():  # closed, or superseded before it started: nothing to say
                return
            exc = future.exception()
            if exc is not None:
                run_guarded(self.status, self.status.error, exc)

        future = self._executor.submit(draw)
        future.add_done_callback(done)
        self.plot_pending = future
        return future

    @guarded
    def _on_plot_choice(self, _change: dict[str, Any]) -> None:
        if not getattr(self, "_syncing_turns", False):
            self.redraw_plot()

    @guarded
    def _on_plot_button(self, _button: Button) -> None:
        self.redraw_plot()

    # -- exports -----------------------------------------------------------------------

    @guarded
    def _on_export(self, button: Button) -> None:
        kind = next(k for k, b in self.export_buttons.items() if b is button)
        directory = Path(self.export_dir.value.strip() or ".")
        self.status.info(f"writing {kind}…")
        self.pending = schedule(
            self._export(kind, directory), self.status, name="mistral_nb export"
        )

    async def _export(self, kind: str, directory: Path) -> None:
        log = self.session.log
        if kind == "jsonl":

            def save() -> list[Path]:
                directory.mkdir(parents=True, exist_ok=True)
                return [log.save(directory / _FILE_NAMES["jsonl"])]

            paths = await asyncio.to_thread(save)
            note = "; new turns are appended to it from now on"
        else:
            writer = log.to_csv if kind == "csv" else log.to_parquet
            paths = list((await asyncio.to_thread(writer, directory)).values())
            note = ""
        self.written = paths
        where = directory.resolve()
        names = ", ".join(f"<code>{html.escape(p.name)}</code>" for p in paths)
        self.files.value = (
            f"<div class='mnb-files mnb-hint'>{names} in <code>{html.escape(str(where))}</code>"
            "</div>"
        )
        self.status.ok(f"wrote {len(paths)} {kind} file(s) to {where}{note}")

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop following the session, stop the plot thread, and close the widgets."""
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        release(self)
        super().close()
