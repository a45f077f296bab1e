"""The playground as a person sees it in a browser page: what to type in, what to click,
what to read.  Locators go by visible text, placeholders and roles, never by widget ids.

Playwright is imported lazily so that this module loads without it (the tests then skip).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

#: Milliseconds a turn from LocalMistral may take on screen before a test calls it hung.
TURN_MS = 20_000
#: Milliseconds for a page, a kernel and the first cell (import, session, widgets).
START_MS = 120_000

# The cell a person runs to get a playground (with no key: the offline endpoint).
PLAYGROUND_CELL = """
import mistral_nb as mnb
from mistral_nb.ui import playground

session = mnb.Session()
playground(session)
"""

# A message that says "slow" gets its reply one token every 0.25 s: time to press Stop.
SLOW_REPLIES_CELL = """
import json
from mistral_nb.local import Fault


def asks_for_slow(body):
    last = body.get("messages", [])[-1:] if isinstance(body, dict) else []
    return "slow" in json.dumps(last)


session.local.inject(Fault.slow(0.25, on=asks_for_slow))
"""


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


class Screenshots:
    """PNGs of the states that matter, numbered in the order taken."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: list[Path] = []

    def take(self, page: Page, name: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


class PlaygroundPage:
    """A page showing one playground: the chat on top, settings, tools and log in tabs."""

    def __init__(self, page: Page, screenshots: Screenshots, prefix: str) -> None:
        self.page = page
        self.screenshots = screenshots
        self.prefix = prefix

    # -- what is on screen --------------------------------------------------------------

    def visible(self, locator: Locator) -> Locator:
        # The log tab also holds every reply, hidden until clicked: read what is shown.
        return locator.filter(visible=True)

    @property
    def message_box(self) -> Locator:
        return self.page.get_by_placeholder(re.compile(r"^Message"))

    @property
    def send_button(self) -> Locator:
        # The name starts with the icon's glyph: match the words only.
        return self.page.get_by_role("button", name=re.compile(r"^\W*Send$"))

    @property
    def stop_button(self) -> Locator:
        return self.page.get_by_role("button", name=re.compile(r"^\W*Stop$"))

    def text(self, text: str | re.Pattern[str]) -> Locator:
        return self.visible(self.page.get_by_text(text))

    def reply_to(self, message: str) -> Locator:
        """LocalMistral's reply to ``message``, as the transcript shows it."""
        return self.text(f'You said: "{message}"')

    def turn_numbers(self) -> list[int]:
        """The turn numbers the transcript shows, each once per turn, in ascending order.

        Sorted, because where the newest turn goes is a layout choice; what must hold is
        that no number shows twice and none is skipped.
        """
        labels = self.text(re.compile(r"^turn \d+$")).all_inner_texts()
        numbers = [int(label.split()[1]) for label in labels]
        assert len(numbers) == len(set(numbers)), f"a turn number shows twice: {numbers}"
        return sorted(numbers)

    def status_line(self) -> str:
        """The chat's status line (model and the last turn's figures, or what happens)."""
        lines = self.text(re.compile(r"^model .* · last turn")).all_inner_texts()
        return lines[-1] if lines else ""

    def shot(self, name: str) -> Path:
        return self.screenshots.take(self.page, f"{self.prefix}-{name}")

    # -- what a person does -------------------------------------------------------------

    def wait_until_shown(self) -> None:
        expect(self.send_button).to_be_visible(timeout=START_MS)
        expect(self.message_box).to_be_editable(timeout=START_MS)

    def send(self, message: str) -> None:
        self.message_box.fill(message)
        self.send_button.click()

    def send_and_wait(self, message: str) -> None:
        """Send ``message``; wait for its reply on screen and for Send to be usable again."""
        self.send(message)
        expect(self.reply_to(message)).to_be_visible(timeout=TURN_MS)
        expect(self.send_button).to_be_enabled(timeout=TURN_MS)
        expect(self.stop_button).to_be_disabled(timeout=TURN_MS)

    def stop_slow_reply(self, message: str = "slow please") -> float:
        """Send a slow message, press Stop while it streams; seconds until Send is usable."""
        self.send(message)
        # Streaming: the reply's first words are on screen, Send is disabled.
        expect(self.text(re.compile(rf'^You said(: "{message})?'))).to_be_visible(timeout=TURN_MS)
        expect(self.send_button).to_be_disabled()
        self.shot("streaming")
        self.stop_button.click()
        pressed = time.monotonic()
        expect(self.send_button).to_be_enabled(timeout=TURN_MS)
        return time.monotonic() - pressed


class LabNotebook:
    """JupyterLab or Notebook 7 showing one notebook: open it, start its kernel, run every cell.

    Both front ends share JupyterLab's menus; they differ in where the kernel's state
    shows: JupyterLab's status bar reads "| Idle", Notebook 7 has no status bar and marks
    its toolbar's execution indicator instead (``notebook7=True``).
    """

    def __init__(self, page: Page, url: str, *, notebook7: bool = False) -> None:
        self.page = page
        self.url = url
        self.notebook7 = notebook7

    def open(self) -> None:
        self.page.goto(self.url)
        expect(self.page.locator(".jp-Notebook")).to_be_visible(timeout=START_MS)
        self._dismiss_news()

    def run_all(self, until: Locator) -> None:
        """Run > Run All Cells once the kernel is idle, then wait for ``until``.

        Accepts the kernel choice if JupyterLab asks for it (Python 3 is preselected).
        """
        deadline = time.monotonic() + START_MS / 1000
        dialog = self.page.locator(".jp-Dialog")
        idle = (
            self.page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
            if self.notebook7
            else self.page.get_by_text(re.compile(r"\| Idle$"))
        )
        first_prompt = self.page.locator(".jp-Notebook .jp-InputPrompt").first
        ran_at: float | None = None
        while not until.is_visible():
            if dialog.is_visible():
                dialog.locator("button.jp-mod-accept").click()
            elif ran_at is None and idle.is_visible():
                # Make this notebook the active one: Run All runs the one with focus.
                first_prompt.click()
                self.page.get_by_role("menuitem", name="Run", exact=True).click()
                self.page.locator("li[data-command='runmenu:run-all']").click()
                ran_at = time.monotonic()
            elif (
                ran_at is not None
                and time.monotonic() - ran_at > 10
                and first_prompt.inner_text().strip() in ("[ ]:", "")
            ):
                ran_at = None  # the click came too early: nothing queued, run again
            if time.monotonic() > deadline:
                raise AssertionError(f"the notebook's output did not show {until} in time")
            self.page.wait_for_timeout(250)
        self._dismiss_news()

    def _dismiss_news(self) -> None:
        # JupyterLab asks once about its news feed, in a toast over the page's corner.
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        toast = self.page.locator(".Toastify__toast", has_text="Jupyter news")
        try:
            toast.get_by_role("button", name="No", exact=True).click(timeout=2_000)
        except PlaywrightTimeout:
            pass  # no toast this time
