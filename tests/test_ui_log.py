"""LogView: the turn log as a table that follows the session, and exports that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from mistral_nb._plots import figure_png, plot_calls, plot_latency, plot_tokens
from mistral_nb._pricing import cost_usd
from mistral_nb.local import ToolCall
from mistral_nb.ui import LogView
from mistral_nb.ui._log_view import PLOTS


@pytest.fixture
def view(session):
    widget = LogView(session)
    yield widget
    widget.close()


async def test_the_table_refreshes_after_each_turn_latest_first(view, session):
    assert "Nothing logged yet" in view.table.value
    await session.send("first question")
    assert "first question" in view.table.value
    await session.send("second question")

    table = view.table.value
    assert table.index("second question") < table.index("first question")
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    assert heads[:8] == ["turn", "time", "model", "status", "in", "out", "TTFB", "tok/s"]
    assert heads[-2:] == ["finish", "message → reply"]
    assert "table-layout" not in table and "class='mnb-grid'" in table  # fixed layout, 100%
    times = re.findall(r">(\d\d:\d\d:\d\d)<", table)
    assert len(times) == 2  # HH:MM:SS, no date, no microseconds
    assert re.search(r">\d+ ms<|>\d+\.\d ms<", table)  # TTFB as the transcript says it
    assert "NaN" not in table and "None" not in table  # nothing known: an empty cell
    assert "turns 2–1 of 2" in view.page_label.value


async def test_the_table_is_paged(session):
    view = LogView(session, page_size=3)
    for n in range(7):
        await session.send(f"question {n}")
    assert "turns 7–5 of 7 · page 1 of 3" in view.page_label.value
    assert view.newer_button.disabled and not view.older_button.disabled
    view.older_button.click()
    view.older_button.click()
    assert "turns 1–1 of 7 · page 3 of 3" in view.page_label.value
    assert "question 0" in view.table.value and "question 6" not in view.table.value
    assert view.older_button.disabled
    view.close()


async def test_long_texts_are_cut_with_the_whole_text_on_hover(view, session, local):
    local.push("word " * 200)
    await session.send("Say a lot")
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", view.table.value)
    assert max(len(c) for c in cells) <= 190
    assert "title='Say a lot\n→ word word" in view.table.value


async def test_the_cost_is_shown_when_the_log_has_one(view, session):
    turn = await session.send("Hello")
    usage = turn.usage
    cost = cost_usd(turn.settings["model"], usage["prompt_tokens"], usage["completion_tokens"])
    assert cost > 0  # mistral-small-latest has a published price
    assert ">cost</th>" in view.table.value
    assert f"${cost:.4f}" in view.table.value


async def test_each_plot_renders_as_a_png_into_the_panel(view, session, local):
    @session.tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    local.push(ToolCall("add", {"a": 2, "b": 3}), "Five.")
    await session.send("Add 2 and 3")
    await session.send("Hello")
    view.redraw_plot().result(timeout=30)
    assert bytes(view.plot.value).startswith(b"\x89PNG")
    for kind in PLOTS:
        view.plot.value = b""
        view.plot_kind.value = kind
        view.redraw_plot().result(timeout=30)
        assert bytes(view.plot.value).startswith(b"\x89PNG"), kind
    assert list(view.plot_turns.options) == [2, 1]  # newest first
    view.plot_turns.value = (1,)
    view.plot_pending.result(timeout=30)
    assert view.status.kind != "error"


async def test_the_plot_functions_return_labelled_figures(session, local):
    @session.tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    await session.send("Hello")
    local.push(ToolCall("add", {"a": 2, "b": 3}), "Five.")
    await session.send("Add 2 and 3")
    fig = plot_tokens(session.log, turns=[1, 2])
    (ax,) = fig.axes
    assert ax.get_xlabel() == "time since the turn started (s)"
    assert [line.get_label() for line in ax.get_lines()] == ["turn 1", "turn 2"]
    assert len(plot_latency(session.log).axes) == 2
    calls = plot_calls(session.log).axes[0]
    assert calls.get_xlabel() == "duration (ms)" and len(calls.patches) == 1
    assert figure_png(fig).startswith(b"\x89PNG")


async def test_exports_write_files_that_exist_and_read_back(view, session, tmp_path):
    await session.send("Hello")
    await session.send("Hello again")
    assert view.export_dir.value == "mistral_nb_logs"

    view.export_buttons["csv"].click()
    await view.pending
    assert sorted(p.name for p in view.written) == ["calls.csv", "tokens.csv", "turns.csv"]
    assert all(p.exists() for p in view.written)
    assert len(pd.read_csv(tmp_path / "mistral_nb_logs" / "turns.csv")) == 2
    assert "turns.csv" in view.files.value and view.status.kind == "ok"
    where = str((tmp_path / "mistral_nb_logs").resolve())
    assert view.status.text == f"wrote 3 csv file(s) to {where}"  # says where, in full
    assert where in view.files.value

    view.export_dir.value = "elsewhere/parquet"
    view.export_buttons["parquet"].click()
    await view.pending
    assert {p.name for p in view.written} == {"turns.parquet", "tokens.parquet", "calls.parquet"}
    assert len(pd.read_parquet(Path("elsewhere/parquet/tokens.parquet"))) > 0

    view.export_buttons["jsonl"].click()
    await view.pending
    (journal,) = view.written
    assert journal.exists() and journal.suffix == ".jsonl"
    lines = journal.read_text().splitlines()
    assert [json.loads(line)["user_text"] for line in lines] == ["Hello", "Hello again"]
    assert "appended" in view.status.text


async def test_a_failed_export_shows_the_error_type_and_message(view, session, tmp_path):
    (tmp_path / "taken").write_text("a file, not a directory")
    view.export_dir.value = "taken"
    view.export_buttons["csv"].click()
    with pytest.raises(OSError):
        await view.pending
    assert view.status.kind == "error"
    assert view.status.text.startswith(("FileExistsError: ", "NotADirectoryError: "))


async def test_close_unsubscribes(session):
    view = LogView(session)
    view.close()
    await session.send("after close")
    assert "Nothing logged yet" in view.table.value


async def test_closing_with_plots_queued_logs_nothing(session, local, caplog):
    # close() cancels plots that have not started; their callbacks must not raise
    # ("exception calling callback" from concurrent.futures, on the kernel's stderr).
    await session.send("one turn to plot")
    view = LogView(session)
    queued = [view.redraw_plot() for _ in range(4)]
    view.close()
    for future in queued:
        try:
            future.result(timeout=30)
        except Exception:  # noqa: BLE001 - cancelled, or drawn into a closed panel
            pass
    assert any(f.cancelled() for f in queued)
    assert [r for r in caplog.records if r.name == "concurrent.futures"] == []
