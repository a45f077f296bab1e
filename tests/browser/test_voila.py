"""The playground in Voilà: the notebook runs on the server, the page shows only widgets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .jupyter_servers import Server, start_voila, write_notebook
from .playground_page import (
    PLAYGROUND_CELL,
    SLOW_REPLIES_CELL,
    START_MS,
    PlaygroundPage,
    Screenshots,
    expect,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

#: Seconds from Stop to a usable Send (generous: a loaded 2-core machine).
STOP_BOUND_S = 3.0


@pytest.fixture(scope="module")
def voila(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, jupyter_root: Path
) -> Iterator[Server]:
    write_notebook(jupyter_root / "playground.ipynb", [PLAYGROUND_CELL, SLOW_REPLIES_CELL])
    server = start_voila(tmp_path_factory.mktemp("voila-home"), jupyter_root, "playground.ipynb")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def playground_page(voila: Server, page: Any, screenshots: Screenshots) -> PlaygroundPage:
    playground = PlaygroundPage(page, screenshots, "voila")
    # Voilà runs the whole notebook before the page's load event: wait for widgets instead.
    page.goto(voila.url(""), wait_until="commit", timeout=START_MS)
    try:
        playground.wait_until_shown()
    except BaseException:
        playground.shot("setup-failed")
        raise
    playground.shot("ready")
    return playground


def test_the_playground_renders_a_turn_works_and_stop_works(
    playground_page: PlaygroundPage,
) -> None:
    # One page load (one kernel, ~30 s here) for the three checks.
    expect(playground_page.text("No messages yet.")).to_be_visible()
    for tab in ("settings", "tools", "log"):
        expect(playground_page.page.get_by_role("tab", name=tab)).to_be_visible()
    expect(playground_page.stop_button).to_be_disabled()
    expect(playground_page.text("import mistral_nb as mnb")).to_have_count(0)  # no code shown

    playground_page.send_and_wait("hello from voila")
    playground_page.shot("one-turn")
    assert "last turn 1 ok" in playground_page.status_line()

    waited = playground_page.stop_slow_reply()
    playground_page.shot("stopped")
    assert waited < STOP_BOUND_S, f"Send was usable again {waited:.1f} s after Stop"
    # The turn's own marker (the footer and the status line say "cancelled" too).
    expect(playground_page.text(re.compile(r"^\W*cancelled"))).to_have_count(1)
    assert "last turn 2 cancelled" in playground_page.status_line()
    expect(playground_page.text(re.compile("cancelled before sending"))).to_have_count(0)
    assert playground_page.turn_numbers() == [1, 2]
