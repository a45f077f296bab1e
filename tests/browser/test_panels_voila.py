"""The panels in Voilà (a notebook served as an app, no code on screen), as a person uses them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .jupyter_servers import Server, start_voila, write_notebook
from .playground_page import START_MS, TURN_MS, PlaygroundPage, Screenshots, expect
from .test_panels_lab import PANELS_CELL

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def voila(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, jupyter_root: Path
) -> Iterator[Server]:
    write_notebook(jupyter_root / "panels_voila.ipynb", [PANELS_CELL])
    server = start_voila(tmp_path_factory.mktemp("voila-home"), jupyter_root, "panels_voila.ipynb")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def shown(voila: Server, page: Any, screenshots: Screenshots) -> PlaygroundPage:
    page.goto(voila.url(""), timeout=START_MS)
    playground = PlaygroundPage(page, screenshots, "voila")
    playground.wait_until_shown()
    return playground


@pytest.mark.parametrize("width", [1280, 800])
def test_enter_sends_and_the_reply_renders_in_voila(shown: PlaygroundPage, width: int) -> None:
    page = shown.page
    page.set_viewport_size({"width": width, "height": 900})
    shown.message_box.click()
    shown.message_box.type(f"Hello from Voila at {width} px")
    shown.message_box.press("Enter")
    expect(shown.reply_to(f"Hello from Voila at {width} px")).to_be_visible(timeout=TURN_MS)
    expect(shown.send_button).to_be_enabled(timeout=TURN_MS)
    footer = page.locator(".mnb-footer").last
    expect(footer).to_have_text(re.compile(r"^turn \d+ · mistral-small-latest · "))
    shown.shot(f"chat-{width}")
    page.get_by_role("tab", name="settings", exact=True).click()
    expect(page.get_by_role("slider").first).to_be_visible()
    shown.shot(f"settings-{width}")
