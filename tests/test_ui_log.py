"""LogView: the turn log as a table that follows the session, and exports that exist."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mistral_nb.local import ToolCall
from mistral_nb.ui import LogView


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
    for column in ("status", "model", "prompt_tokens", "ttfb_s", "tokens_per_s"):
        assert f"<th>{column}</th>" in table
    assert "<th>settings</th>" not in table and "<th>n_requests</th>" not in table
    assert view.status.text == "2 turns logged; showing the latest 2 turns rows"
    assert "NaN" not in table and "None" not in table  # no error: an empty cell


async def test_the_dropdown_switches_to_tokens_and_calls(view, session, local):
    @session.tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    local.push(ToolCall("add", {"a": 2, "b": 3}), "Five.")
    await session.send("Add 2 and 3")

    view.view.value = "tokens"
    assert "<th>t_s</th>" in view.table.value and "Five" in view.table.value
    view.view.value = "calls"
    assert "<td>add</td>" in view.table.value
    assert '{"a": 2, "b": 3}' in view.table.value
    view.view.value = "turns"
    assert "Add 2 and 3" in view.table.value


async def test_long_texts_are_shortened_in_the_table(view, session, local):
    local.push("word " * 200)
    await session.send("Say a lot")
    cells = view.table.value.split("<td>")
    assert max(len(c.split("</td>")[0]) for c in cells[1:]) <= 60


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
