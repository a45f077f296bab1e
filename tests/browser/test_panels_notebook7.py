"""The panels' acceptance tests again, in Jupyter Notebook 7 (default settings).

Notebook 7 is its own front end (one document per browser tab, no status bar, no side
bar open), built from JupyterLab's parts.  A person expects everything that works in
JupyterLab to work there, so this module runs the JupyterLab module's tests unchanged:
they are imported below, and pytest runs them here with this module's ``panels``
fixture, which opens each test's notebook in Notebook 7 instead of JupyterLab.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .jupyter_servers import Server, start_notebook7, write_notebook
from .playground_page import SLOW_REPLIES_CELL, LabNotebook, Screenshots, expect
from .test_panels_lab import (
    PANELS_CELL,
    Panels,
    test_a_reply_streams_before_it_ends_and_stop_keeps_it,
    test_enter_sends_and_shift_enter_adds_a_line,
    test_images_through_the_file_chooser,
    test_settings_reach_the_next_request_and_bad_values_go_back,
    test_the_dark_theme_keeps_the_panels_readable,
    test_the_layout_holds,
    test_the_log_table_a_plot_and_exports,
    test_tool_cards_and_the_max_tokens_marker,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

__all__ = [
    "test_a_reply_streams_before_it_ends_and_stop_keeps_it",
    "test_enter_sends_and_shift_enter_adds_a_line",
    "test_images_through_the_file_chooser",
    "test_settings_reach_the_next_request_and_bad_values_go_back",
    "test_the_dark_theme_keeps_the_panels_readable",
    "test_the_layout_holds",
    "test_the_log_table_a_plot_and_exports",
    "test_tool_cards_and_the_max_tokens_marker",
]


@pytest.fixture(scope="module")
def notebook7(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, jupyter_root: Path
) -> Iterator[Server]:
    """Jupyter Notebook 7 with its default settings, on 127.0.0.1."""
    server = start_notebook7(tmp_path_factory.mktemp("notebook7-home"), jupyter_root)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def panels(
    request: pytest.FixtureRequest,
    notebook7: Server,
    jupyter_root: Path,
    page: Any,
    screenshots: Screenshots,
) -> Iterator[Panels]:
    name = f"nb7_{request.node.name}.ipynb"
    write_notebook(jupyter_root / name, [PANELS_CELL, SLOW_REPLIES_CELL])
    notebook = LabNotebook(page, notebook7.url(f"notebooks/{name}"), notebook7=True)
    notebook.open()
    shown = Panels(page, screenshots, "nb7-" + request.node.name.removeprefix("test_"))
    notebook.run_all(until=shown.send_button)
    shown.wait_until_shown()
    expect(page.locator(".jp-InputPrompt", has_text=re.compile(r"\[2\]"))).to_be_visible(
        timeout=60_000
    )
    # Notebook 7, not JupyterLab: no status bar, and the page is the notebook alone.
    expect(page.locator(".jp-StatusBar-Widget")).to_have_count(0)
    assert "/notebooks/" in page.url
    yield shown
    shown.shot("end")
    notebook7.shut_down_kernels()
