"""The panels' acceptance tests again, in Jupyter Notebook 7 (default settings).

Notebook 7 is its own front end (one document per browser tab, no status bar, no side
bar open), built from JupyterLab's parts.  A person expects everything that works in
JupyterLab to work there, so this module runs the JupyterLab module's tests unchanged:
they are imported below, and pytest runs them here with this module's ``panels``
fixture, which opens each test's notebook in Notebook 7 instead of JupyterLab.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .jupyter_servers import Server
from .playground_page import Screenshots, expect
from .test_panels_lab import (
    Panels,
    open_panels,
    test_a_big_photo_is_downscaled_and_a_thumbnail_removable,
    test_a_reply_streams_before_it_ends_and_stop_keeps_it,
    test_a_retry_shows_while_it_waits,
    test_edit_last_and_regenerate_are_one_click,
    test_enter_sends_and_shift_enter_adds_a_line,
    test_images_through_the_file_chooser,
    test_markdown_code_copy_and_reasoning,
    test_settings_reach_the_next_request_and_bad_values_go_back,
    test_settings_reset_and_copy_as_code,
    test_the_dark_theme_keeps_the_panels_readable,
    test_the_layout_holds,
    test_the_log_table_a_plot_and_exports,
    test_tool_cards_and_the_max_tokens_marker,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

__all__ = [
    "test_a_big_photo_is_downscaled_and_a_thumbnail_removable",
    "test_a_reply_streams_before_it_ends_and_stop_keeps_it",
    "test_a_retry_shows_while_it_waits",
    "test_edit_last_and_regenerate_are_one_click",
    "test_enter_sends_and_shift_enter_adds_a_line",
    "test_images_through_the_file_chooser",
    "test_markdown_code_copy_and_reasoning",
    "test_settings_reach_the_next_request_and_bad_values_go_back",
    "test_settings_reset_and_copy_as_code",
    "test_the_dark_theme_keeps_the_panels_readable",
    "test_the_layout_holds",
    "test_the_log_table_a_plot_and_exports",
    "test_tool_cards_and_the_max_tokens_marker",
]


@pytest.fixture
def panels(
    request: pytest.FixtureRequest, notebook7: Server, page: Any, screenshots: Screenshots
) -> Iterator[Panels]:
    shown = open_panels(request, notebook7, page, screenshots, notebook7=True)
    # Notebook 7, not JupyterLab: no status bar, and the page is the notebook alone.
    expect(page.locator(".jp-StatusBar-Widget")).to_have_count(0)
    assert "/notebooks/" in page.url
    yield shown
    shown.shot("end")
    notebook7.shut_down_kernels()
