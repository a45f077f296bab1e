"""The playground in JupyterLab 4 with its default settings, as a person uses it.

Default settings mean ``commsOverSubshells: perCommTarget``: with ipykernel 7 every
widget message runs on a subshell thread with its own event loop, while the cell that
made the session ran on the kernel's main loop.  Issue 8: there the 2nd or 3rd Send never
finished (the reply streamed, Send stayed disabled), and Stop took ~6 s to free the
panel; both tests here failed that way until the session owned its runtime.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .jupyter_servers import Server, write_notebook
from .playground_page import (
    PLAYGROUND_CELL,
    SLOW_REPLIES_CELL,
    LabNotebook,
    PlaygroundPage,
    Screenshots,
    expect,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

#: Seconds from Stop to a usable Send that count as "free again" (issue 8 asks for 1 s;
#: the bound here is generous for a loaded 2-core machine, the bench measures the real one).
STOP_BOUND_S = 3.0


@pytest.fixture
def playground_page(
    request: pytest.FixtureRequest,
    lab: Server,
    jupyter_root: Path,
    page: Any,
    screenshots: Screenshots,
) -> Iterator[PlaygroundPage]:
    """A fresh notebook (and kernel) with the playground cell run, in JupyterLab."""
    name = f"{request.node.name}.ipynb"
    write_notebook(jupyter_root / name, [PLAYGROUND_CELL, SLOW_REPLIES_CELL])
    # A workspace of its own, reset: only this notebook open, whatever ran before.
    url = lab.url(f"lab/workspaces/{request.node.name}/tree/{name}?reset")
    notebook = LabNotebook(page, url)
    playground = PlaygroundPage(page, screenshots, request.node.name.removeprefix("test_"))
    try:
        notebook.open()
        notebook.run_all(until=playground.send_button)
        playground.wait_until_shown()
        # Run All has finished once the last cell's prompt shows a number.
        prompt = page.locator(".jp-InputPrompt", has_text=re.compile(r"\[2\]"))
        expect(prompt).to_be_visible(timeout=60_000)
    except BaseException:
        playground.shot("setup-failed")
        raise
    playground.shot("ready")
    yield playground
    playground.shot("end")


def test_five_turns_in_a_row_from_the_panel(playground_page: PlaygroundPage) -> None:
    for i in range(1, 6):
        playground_page.send_and_wait(f"message {i}")
        assert playground_page.status_line().find(f"last turn {i} ok") != -1
    playground_page.shot("five-turns")
    assert playground_page.turn_numbers() == [1, 2, 3, 4, 5]
    expect(playground_page.message_box).to_be_editable()


def test_stop_frees_the_panel_and_marks_the_turn_cancelled(
    playground_page: PlaygroundPage,
) -> None:
    playground_page.send_and_wait("before stop")
    waited = playground_page.stop_slow_reply()
    playground_page.shot("stopped")
    assert waited < STOP_BOUND_S, f"Send was usable again {waited:.1f} s after Stop"
    # The turn's own marker (the footer and the status line say "cancelled" too).
    expect(playground_page.text(re.compile(r"^\W*cancelled"))).to_have_count(1)
    assert "last turn 2 cancelled" in playground_page.status_line()
    expect(playground_page.text(re.compile("cancelled before sending"))).to_have_count(0)
    # The next turn gets a new number and finishes.
    playground_page.send_and_wait("after stop")
    playground_page.shot("after-stop")
    assert playground_page.turn_numbers() == [1, 2, 3]


def test_lab_sends_widget_messages_to_subshells(lab: Server) -> None:
    # What makes the tests above meaningful: nothing turned JupyterLab's default off.
    url = lab.url("lab/api/settings/@jupyterlab/apputils-extension:kernels-settings")
    with urllib.request.urlopen(url, timeout=30) as response:
        settings = json.load(response)
    default = settings["schema"]["properties"]["commsOverSubshells"]["default"]
    assert default == "perCommTarget"
    assert settings["settings"] == {}, "no user setting may override the default"
