"""LogView: the session's turn log as a table, refreshed as turns end, and its exports."""

from __future__ import annotations

import asyncio
import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from ipywidgets import HTML, Button, Dropdown, HBox, Layout, Text, VBox

from .._session import Session, SessionEvent
from ._status import StatusLine, guarded, release, schedule
from ._tools_panel import shorten

__all__ = ["LogView"]

#: The columns each table shows (the log has more: export it to see them all).
COLUMNS = {
    "turns": [
        "turn",
        "started_at",
        "status",
        "model",
        "temperature",
        "user_text",
        "response_text",
        "n_images",
        "prompt_tokens",
        "completion_tokens",
        "ttfb_s",
        "tokens_per_s",
        "duration_s",
        "n_calls",
        "error",
    ],
    "tokens": ["turn", "completion", "index", "text", "t_s"],
    "calls": ["turn", "name", "arguments", "status", "duration_s", "result", "error"],
}
_TEXT_LIMIT = 60
_FILE_NAMES = {"jsonl": "turnlog.jsonl"}


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return shorten(value, _TEXT_LIMIT)


def _table(frame: pd.DataFrame, columns: list[str], max_rows: int) -> str:
    frame = frame[[c for c in columns if c in frame.columns]].iloc[::-1].head(max_rows)
    frame = frame.copy()
    for column in frame.columns:
        dtype = frame[column].dtype
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            frame[column] = [_cell(v) for v in frame[column]]
    return frame.to_html(
        index=False,
        na_rep="",
        float_format=lambda x: f"{x:.3g}",
        border=0,
        classes="mistral-nb-log",
    )


class LogView(VBox):
    """The session's :class:`mistral_nb.TurnLog`: a table, latest rows first, and exports.

    The table is redrawn when a turn ends; the dropdown switches between ``turns()``,
    ``tokens()`` and ``calls()``. The buttons write the whole log to the directory in the
    text field: JSONL (``TurnLog.save``: the log then keeps appending new turns to that
    file), CSV and Parquet (``to_csv`` / ``to_parquet``: turns, tokens, calls).

    Args:
        session: The :class:`mistral_nb.Session` whose log to show.
        directory: Where exports go (relative to the notebook's directory).
        max_rows: Rows shown (the latest).

    Attributes:
        view: A ``Dropdown``: "turns", "tokens" or "calls".
        table: The ``HTML`` table.
        export_dir: The ``Text`` field naming the export directory.
        export_buttons: ``{"jsonl": Button, "csv": Button, "parquet": Button}``.
        written: The paths the last export wrote.
        pending: The latest export task (await it in async code), or None.
        status: The status line.
    """

    def __init__(
        self,
        session: Session,
        *,
        directory: str = "mistral_nb_logs",
        max_rows: int = 50,
        **kwargs: Any,
    ) -> None:
        self.session = session
        self.max_rows = max_rows
        self.status = StatusLine()
        self.pending: asyncio.Task[None] | None = None
        self.written: list[Path] = []
        style = {"description_width": "initial"}
        self.view = Dropdown(options=list(COLUMNS), value="turns", description="table", style=style)
        self.refresh_button = Button(description="refresh", icon="refresh")
        self.table = HTML(layout=Layout(overflow="auto", max_height="420px"))
        self.export_dir = Text(value=directory, description="export to", style=style)
        self.export_buttons = {
            kind: Button(description=label, tooltip=f"write the log as {label}")
            for kind, label in (("jsonl", "JSONL"), ("csv", "CSV"), ("parquet", "Parquet"))
        }
        self.files = HTML()
        super().__init__(
            [
                HBox([self.view, self.refresh_button]),
                self.table,
                HBox([self.export_dir, *self.export_buttons.values()]),
                self.files,
                self.status,
            ],
            **kwargs,
        )
        self.view.observe(self._on_change, names="value")
        self.refresh_button.on_click(self._on_refresh)
        for button in self.export_buttons.values():
            button.on_click(self._on_export)
        self._unsubscribe: Callable[[], None] | None = session.subscribe(self._on_event)
        self.refresh()

    # -- the table ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Redraw the table from the log."""
        log = self.session.log
        name = self.view.value
        frame = getattr(log, name)()
        if frame.empty:
            self.table.value = "<em style='color:#666'>Nothing logged yet.</em>"
        else:
            self.table.value = _table(frame, COLUMNS[name], self.max_rows)
        shown = min(len(frame), self.max_rows)
        self.status.info(f"{len(log)} turns logged; showing the latest {shown} {name} rows")

    @guarded
    def _on_change(self, _change: dict[str, Any]) -> None:
        self.refresh()

    @guarded
    def _on_refresh(self, _button: Button) -> None:
        self.refresh()

    @guarded
    def _on_event(self, event: SessionEvent) -> None:
        if event.kind == "turn_ended":
            self.refresh()

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
        items = "".join(f"<li><code>{html.escape(str(p))}</code></li>" for p in paths)
        self.files.value = f"<ul style='margin:0;font-size:smaller'>{items}</ul>"
        self.status.ok(f"wrote {len(paths)} {kind} file(s) to {directory}{note}")

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop following the session, and close the widgets."""
        release(self)
        super().close()
