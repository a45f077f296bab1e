"""The panels' acceptance tests in JupyterLab 4 (default settings), as a person uses them.

Each test opens a fresh notebook whose cells make a session with one tool, let a message
that says "slow" stream slowly, and show the playground; then it types, presses keys,
clicks and picks files, and checks what is on screen: text, enabled state, images.
Screenshots at 1280 and 800 px wide go to the screenshots folder (see conftest.py).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from .jupyter_servers import Server, write_notebook
from .playground_page import (
    SLOW_REPLIES_CELL,
    TURN_MS,
    LabNotebook,
    PlaygroundPage,
    Screenshots,
    expect,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

PANELS_CELL = '''
import mistral_nb as mnb
from mistral_nb.ui import playground

session = mnb.Session()


@session.tool
def get_weather(city: str) -> dict:
    """Current weather for a city."""
    return {"city": city, "temperature": 18}


panel = playground(session)
panel
'''


class Panels(PlaygroundPage):
    """The playground, with the parts these tests use beyond the harness's."""

    @property
    def transcript(self) -> Any:
        return self.page.locator(".mnb-transcript")

    def tab(self, title: str) -> None:
        self.page.get_by_role("tab", name=title, exact=True).click()

    def setting_row(self, name: str) -> Any:
        label = self.page.locator(".widget-label", has_text=re.compile(rf"^{name}( \(|$)"))
        return self.page.locator(".widget-hbox", has=label).last

    def shot(self, name: str, part: Any = None) -> Path:
        """A screenshot of ``part`` (the chat panel by default; the notebook scrolls inside
        the page, so a page shot would show only what happens to be in view)."""
        shots = self.screenshots
        path = shots.folder / f"{len(shots.taken) + 1:02d}-{self.prefix}-{name}.png"
        chat = self.page.locator(".widget-vbox", has=self.page.locator(".mnb-transcript"))
        target = part if part is not None else chat.last
        if target.count():
            target.scroll_into_view_if_needed()
            target.screenshot(path=str(path))
        else:
            self.page.screenshot(path=str(path))
        shots.taken.append(path)
        return path

    def shot_tabs(self, name: str) -> Path:
        return self.shot(name, self.page.locator(".widget-tab").last)

    def replies(self) -> Any:
        return self.visible(self.page.get_by_text(re.compile(r"^You said:")))


def open_panels(
    request: pytest.FixtureRequest,
    server: Server,
    page: Any,
    screenshots: Screenshots,
    *,
    notebook7: bool = False,
) -> Panels:
    """Write the test's notebook (the panels, slow replies, the test's ``cells`` marker),
    open it in JupyterLab (or Notebook 7), run every cell, and return the panels."""
    name = f"{'nb7_' * notebook7}{request.node.name}.ipynb"
    extra = request.node.get_closest_marker("cells")
    cells = [PANELS_CELL, SLOW_REPLIES_CELL, *(extra.args if extra else ())]
    write_notebook(server.root / name, cells)
    # Lab's ?reset: a fresh workspace, not the notebooks earlier tests left open.
    path = f"notebooks/{name}" if notebook7 else f"lab/tree/{name}?reset"
    notebook = LabNotebook(page, server.url(path), notebook7=notebook7)
    notebook.open()
    prefix = "nb7-" * notebook7 + request.node.name.removeprefix("test_")
    shown = Panels(page, screenshots, prefix)
    notebook.run_all(until=shown.send_button)
    shown.wait_until_shown()
    last = len(cells)
    expect(page.locator(".jp-InputPrompt", has_text=f"[{last}]")).to_be_visible(timeout=60_000)
    return shown


@pytest.fixture
def panels(
    request: pytest.FixtureRequest, lab: Server, page: Any, screenshots: Screenshots
) -> Iterator[Panels]:
    shown = open_panels(request, lab, page, screenshots)
    yield shown
    shown.shot("end")
    lab.shut_down_kernels()


def test_enter_sends_and_shift_enter_adds_a_line(panels: Panels) -> None:
    box = panels.message_box
    expect(box).to_have_attribute("placeholder", re.compile("Enter sends, Shift\\+Enter"))
    box.click()
    box.type("first line")
    box.press("Shift+Enter")
    box.type("second line")
    expect(box).to_have_value("first line\nsecond line")  # a newline, nothing sent
    expect(panels.replies()).to_have_count(0)

    box.press("Enter")

    expect(panels.replies()).to_have_count(1, timeout=TURN_MS)
    expect(box).to_have_value("")
    user = panels.transcript.locator(".mnb-user")
    expect(user).to_contain_text("second line")
    assert "first line\nsecond line" in user.inner_text()  # the newline went with it
    expect(panels.send_button).to_be_enabled(timeout=TURN_MS)
    footer = panels.transcript.locator(".mnb-footer")
    expect(footer).to_have_text(re.compile(r"^turn 1 · mistral-small-latest · \d+ → \d+ tokens"))
    panels.shot("sent-with-enter")


def test_a_reply_streams_before_it_ends_and_stop_keeps_it(panels: Panels) -> None:
    panels.send("slow please")
    streaming = panels.transcript.locator(".mnb-cursor")
    expect(streaming).to_be_visible(timeout=TURN_MS)  # the reply is still coming...
    expect(panels.text(re.compile(r"You said"))).to_be_visible(timeout=TURN_MS)  # ...and shows
    expect(panels.stop_button).to_be_enabled()
    panels.shot("streaming")
    panels.stop_button.click()
    expect(panels.send_button).to_be_enabled(timeout=TURN_MS)
    expect(panels.transcript.get_by_text("⏹ cancelled")).to_be_visible()
    expect(streaming).to_have_count(0)
    panels.shot("stopped")


def test_tool_cards_and_the_max_tokens_marker(panels: Panels) -> None:
    panels.send("What's the weather? Use get_weather with city=Paris")
    card = panels.transcript.locator(".mnb-call")
    expect(card).to_be_visible(timeout=TURN_MS)
    expect(card).to_contain_text("get_weather")
    expect(card).to_contain_text("ok")
    expect(card).to_contain_text('"temperature": 18')
    expect(panels.send_button).to_be_enabled(timeout=TURN_MS)

    panels.tab("settings")
    number = panels.setting_row("max_tokens").locator("input[type=number]")
    number.fill("5")
    number.press("Enter")
    expect(panels.text(re.compile(r"max_tokens = 5 from the next request"))).to_be_visible()
    panels.send("Tell me everything about Paris")
    marker = panels.transcript.get_by_text(re.compile(r"stopped at max_tokens: 5"))
    expect(marker).to_be_visible(timeout=TURN_MS)
    expect(marker).to_contain_text("raise it in settings")
    panels.shot("tool-card-and-length")


def test_settings_reach_the_next_request_and_bad_values_go_back(panels: Panels) -> None:
    panels.tab("settings")
    row = panels.setting_row("temperature")
    expect(row).to_contain_text("model default (0.3)")  # mistral-small's own default...
    slider = row.get_by_role("slider")
    expect(slider).to_have_attribute("aria-valuenow", "0.3")  # ...is where the slider rests
    slider.focus()
    slider.press("ArrowRight")  # one step: 0.30 -> 0.31, and it is sent from now on
    expect(panels.text("temperature = 0.31 from the next request")).to_be_visible()

    model = panels.setting_row("model").locator("input")
    offered = model.evaluate("el => [...(el.list ? el.list.options : [])].map(o => o.value)")
    assert {"mistral-large-latest", "pixtral-12b-latest"} <= set(offered), offered  # a choice
    assert not any("embed" in name for name in offered)  # of the chat models the endpoint has
    model.fill("mistral-large-latest")
    model.press("Enter")
    expect(panels.text(re.compile(r"^mistral-large-\d+ · sees images"))).to_be_visible()

    number = panels.setting_row("max_tokens").locator("input[type=number]")
    number.fill("-5")
    number.press("Enter")
    expect(panels.text(re.compile(r"max_tokens=-5 .*Mistral accepts"))).to_be_visible()
    expect(number).not_to_have_value("-5")  # put back to what is in force
    panels.shot_tabs("settings")

    panels.send_and_wait("which settings?")
    reply = panels.reply_to("which settings?")
    expect(reply).to_contain_text("model mistral-large-latest")
    expect(reply).to_contain_text("temperature 0.31")


# Replies scripted for the next two requests: Markdown with code, a list and a table;
# then a reasoning reply (thinking, then the answer).
MARKDOWN_AND_REASONING_CELL = r"""
from mistral_nb.local import Reasoning

session.local.push(
    "Here is code:\n\n```python\nprint('hi')\n```\n\n- one\n- two\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n",
    Reasoning("Twelve twelves: ten twelves are 120, two more are 24.", "It is **144**."),
)
"""


@pytest.mark.cells(MARKDOWN_AND_REASONING_CELL)
def test_markdown_code_copy_and_reasoning(panels: Panels) -> None:
    page = panels.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    footers = panels.transcript.locator(".mnb-footer")
    panels.send("markdown please")
    expect(footers).to_have_count(1, timeout=TURN_MS)
    reply = panels.transcript.locator(".mnb-turn-1")
    expect(reply.locator("table td").first).to_have_text("1")
    expect(reply.locator("li")).to_have_text(["one", "two"])
    copy = reply.locator(".mnb-code").get_by_role("button")
    expect(copy).to_be_visible()
    copy.click()
    expect(copy).to_have_text("copied")
    assert page.evaluate("navigator.clipboard.readText()").strip() == "print('hi')"
    panels.shot("markdown")

    expect(panels.send_button).to_be_enabled(timeout=TURN_MS)
    panels.send("what is 12 times 12?")
    expect(footers).to_have_count(2, timeout=TURN_MS)
    turn = panels.transcript.locator(".mnb-turn-2")
    thinking = turn.locator("details.mnb-thinking")
    expect(thinking.locator("summary")).to_have_text(re.compile(r"^reasoning \("))
    expect(thinking).not_to_have_attribute("open", re.compile(".*"))  # collapsed...
    expect(turn.get_by_text("ten twelves are 120")).to_be_hidden()
    expect(turn.locator("strong", has_text="144")).to_be_visible()  # ...above the answer
    thinking.locator("summary").click()
    expect(turn.get_by_text(re.compile("ten twelves are 120"))).to_be_visible()
    panels.shot("reasoning")


def test_edit_last_and_regenerate_are_one_click(panels: Panels) -> None:
    panels.send_and_wait("first try")
    panels.page.get_by_role("button", name=re.compile(r"Regenerate$")).click()
    again = panels.transcript.locator(".mnb-turn-2 .mnb-footer")
    expect(again).to_have_text(re.compile(r"^turn 2 · "), timeout=TURN_MS)
    expect(panels.transcript.locator(".mnb-turn-2")).to_contain_text('You said: "first try"')
    taken_back = panels.transcript.locator(".mnb-replaced")
    expect(taken_back).to_have_count(1)
    expect(taken_back).to_contain_text("taken back: not in the conversation any more")
    expect(panels.send_button).to_be_enabled(timeout=TURN_MS)

    panels.page.get_by_role("button", name=re.compile(r"Edit last$")).click()
    expect(panels.message_box).to_have_value("first try")  # the last message, to edit
    expect(panels.text(re.compile(r"^editing turn 2"))).to_be_visible()
    panels.message_box.press("End")
    panels.message_box.type(", edited")
    panels.message_box.press("Enter")
    expect(panels.reply_to("first try, edited")).to_be_visible(timeout=TURN_MS)
    expect(panels.transcript.locator(".mnb-turn-3")).to_contain_text("first try, edited")
    expect(taken_back).to_have_count(2)  # turn 2 taken back by the edit
    expect(panels.send_button).to_be_enabled(timeout=TURN_MS)
    panels.shot("edited")


RATE_LIMITED_CELL = """
session.local.inject(
    Fault.status(429, on=lambda body: "busy" in json.dumps(body), times=1, retry_after=3)
)
"""


@pytest.mark.cells("from mistral_nb.local import Fault", RATE_LIMITED_CELL)
def test_a_retry_shows_while_it_waits(panels: Panels) -> None:
    panels.send("are you busy?")
    # Said as soon as the 429 arrives, for the 3 s the client waits before attempt 2.
    marker = panels.transcript.get_by_text(re.compile(r"retrying \(429\) in 3 s, attempt 2 of \d"))
    expect(marker).to_be_visible(timeout=TURN_MS)
    panels.shot("retrying")
    expect(panels.reply_to("are you busy?")).to_be_visible(timeout=TURN_MS)
    expect(marker).to_have_count(0)  # it worked: the marker gives way to the reply


def test_settings_reset_and_copy_as_code(panels: Panels) -> None:
    page = panels.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    panels.tab("settings")
    number = panels.setting_row("max_tokens").locator("input[type=number]")
    number.fill("300")
    number.press("Enter")
    expect(panels.text(re.compile(r"max_tokens = 300 from the next request"))).to_be_visible()
    page.get_by_role("button", name="copy as code").click()
    code = page.evaluate("navigator.clipboard.readText()")
    assert code.startswith("session.update_settings(") and "max_tokens=300" in code, code
    page.get_by_role("button", name=re.compile("reset to defaults$")).click()
    expect(panels.text(re.compile(r"back to Mistral's default"))).to_be_visible()
    expect(panels.setting_row("max_tokens").get_by_role("checkbox")).to_be_checked()
    page.get_by_role("button", name="copy as code").click()
    assert "max_tokens=None" in page.evaluate("navigator.clipboard.readText()")


def _png(path: Path, size: tuple[int, int] = (64, 32)) -> Path:
    Image.new("RGB", size, "red").save(path, "PNG")
    return path


def test_images_through_the_file_chooser(panels: Panels, tmp_path: Path) -> None:
    picker = panels.page.get_by_role("button", name=re.compile("attach images"))
    expect(picker).to_have_text(re.compile(r"^\s*attach images$"))
    good, bad = _png(tmp_path / "red.png"), tmp_path / "notes.txt"
    bad.write_text("not a picture")

    with panels.page.expect_file_chooser() as chooser:
        picker.click()
    chooser.value.set_files([good, bad])

    expect(panels.text(re.compile(r"64×32 JPEG \(as is\)"))).to_be_visible(timeout=TURN_MS)
    expect(panels.text(re.compile(r"notes\.txt .*not an image"))).to_be_visible()
    expect(picker).to_have_text(re.compile(r"^\s*attach images \(1\)$"))
    assert _overflows(panels.page, ".jupyter-widgets button") == []  # the label is whole
    panels.shot("images-attached")

    panels.send("What is in this picture?")
    expect(panels.transcript.get_by_text(re.compile("with 1 image: red.png"))).to_be_visible(
        timeout=TURN_MS
    )
    expect(panels.send_button).to_be_enabled(timeout=TURN_MS)
    expect(picker).to_have_text(re.compile(r"^\s*attach images$"))  # sent, so cleared
    expect(panels.text(re.compile(r"64×32 JPEG"))).to_have_count(0)


def test_a_big_photo_is_downscaled_and_a_thumbnail_removable(
    panels: Panels, tmp_path: Path
) -> None:
    picker = panels.page.get_by_role("button", name=re.compile("attach images"))
    big, small = _png(tmp_path / "big.png", (4000, 3000)), _png(tmp_path / "small.png")
    with panels.page.expect_file_chooser() as chooser:
        picker.click()
    chooser.value.set_files([big, small])
    caption = panels.text(re.compile(r"4000×3000 → \d+×\d+ JPEG"))
    expect(caption).to_be_visible(timeout=TURN_MS)
    expect(caption).to_contain_text("tokens")  # the estimate for the chosen model
    expect(picker).to_have_text(re.compile(r"^\s*attach images \(2\)$"))
    panels.shot("two-images")
    panels.page.get_by_role("button", name="×").first.click()
    expect(picker).to_have_text(re.compile(r"^\s*attach images \(1\)$"))
    expect(caption).to_have_count(0)
    expect(panels.text(re.compile(r"64×32 JPEG"))).to_be_visible()


def test_the_log_table_a_plot_and_exports(panels: Panels) -> None:
    panels.send_and_wait("first")
    panels.send("Use get_weather with city=Paris")
    expect(panels.transcript.locator(".mnb-footer")).to_have_count(2, timeout=TURN_MS)
    panels.tab("log")
    table = panels.page.locator("table.mnb-grid").filter(visible=True).first
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").first).to_contain_text("Use get_weather")  # newest first
    expect(table.locator("th")).to_contain_text(["turn", "time", "model", "status"])
    plot = panels.page.locator(".widget-image").filter(visible=True).last
    expect(plot).to_be_visible(timeout=TURN_MS)
    panels.page.wait_for_function(
        "el => el.naturalWidth > 100", arg=plot.element_handle(), timeout=TURN_MS
    )
    panels.page.get_by_role("button", name="CSV files").click()
    expect(panels.text(re.compile(r"wrote 3 csv file\(s\) to /"))).to_be_visible(timeout=TURN_MS)
    expect(panels.text("turns.csv")).to_be_visible()
    panels.shot_tabs("log")


def _overflows(page: Any, selector: str) -> list[str]:
    """Elements under ``selector`` whose content is cut (wider than their box)."""
    return page.evaluate(
        """(sel) => [...document.querySelectorAll(sel)]
            .filter(el => el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1)
            .map(el => el.innerText.slice(0, 40))""",
        selector,
    )


@pytest.mark.parametrize("width", [1280, 800])
def test_the_layout_holds(panels: Panels, width: int) -> None:
    page = panels.page
    page.set_viewport_size({"width": width, "height": 900})
    open_sidebar = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if width < 1000 and open_sidebar.count():
        # On a small screen a person closes JupyterLab's file browser to make room
        # (Notebook 7 shows a notebook with no side bar open).
        open_sidebar.click()
    panels.send("Use get_weather with city=Paris")
    expect(panels.transcript.locator(".mnb-footer")).to_have_count(1, timeout=TURN_MS)
    panels.shot(f"chat-{width}")
    assert _overflows(page, ".jupyter-widgets button") == []  # every button label whole

    panels.tab("settings")
    tracks = page.locator(".widget-hslider .slider-container").filter(visible=True)
    boxes = [tracks.nth(i).bounding_box() for i in range(tracks.count())]
    assert len(boxes) >= 4
    assert len({round(b["x"]) for b in boxes}) == 1, boxes  # tracks start at one x
    assert len({round(b["width"]) for b in boxes}) == 1, boxes  # and have one length
    assert min(b["width"] for b in boxes) >= 150
    assert _overflows(page, ".widget-label") == []
    panels.shot_tabs(f"settings-{width}")

    panels.tab("log")
    table = page.locator("table.mnb-grid").filter(visible=True).first
    expect(table).to_be_visible()
    area = page.locator(".jp-OutputArea-output").filter(has=table).first
    assert table.bounding_box()["width"] <= area.bounding_box()["width"] + 1  # it fits
    assert _overflows(page, ".jupyter-widgets button") == []
    # The first figure in a fresh HOME builds matplotlib's font cache: give it time.
    plot = page.locator(".widget-image").filter(visible=True).last
    expect(plot).to_be_visible(timeout=90_000)
    panels.shot_tabs(f"log-{width}")


def _luminance(page: Any, locator: Any, prop: str) -> float:
    rgb = page.evaluate(
        "([el, prop]) => getComputedStyle(el)[prop]", [locator.element_handle(), prop]
    )
    r, g, b = (int(x) for x in re.findall(r"\d+", rgb)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def test_the_dark_theme_keeps_the_panels_readable(panels: Panels) -> None:
    # Last in this file: JupyterLab keeps the theme for the tests after it.
    page = panels.page
    panels.send_and_wait("hello in the dark")
    page.get_by_role("menuitem", name="Settings", exact=True).click()
    page.locator(".lm-Menu-item", has_text=re.compile(r"^Theme")).first.hover()
    page.locator(".lm-Menu-item", has_text="JupyterLab Dark").first.click()
    expect(page.locator("body[data-jp-theme-light='false']")).to_have_count(1, timeout=TURN_MS)
    reply = panels.transcript.locator(".mnb-md").last
    user = panels.transcript.locator(".mnb-user").last
    assert _luminance(page, reply, "color") > 0.6  # light text...
    assert _luminance(page, user, "backgroundColor") < 0.4  # ...on dark bubbles
    panels.shot("dark")
    panels.tab("log")
    cell = page.locator("table.mnb-grid td").filter(visible=True).first
    assert _luminance(page, cell, "color") > 0.6
    panels.shot_tabs("dark-log")


NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def test_02_panels_leaves_a_live_panel_after_run_all(
    lab: Server, page: Any, screenshots: Screenshots
) -> None:
    shutil.copy(NOTEBOOKS / "02_panels.ipynb", lab.root / "02_panels.ipynb")
    notebook = LabNotebook(page, lab.url("lab/tree/02_panels.ipynb?reset"))
    notebook.open()
    panels = Panels(page, screenshots, "02_panels")
    # Before it runs, the saved notebook shows no text repr of the panel.
    expect(page.get_by_text("mistral_nb.ui.Playground")).to_have_count(0)
    expect(page.get_by_text(re.compile(r"^Playground\(|children=\("))).to_have_count(0)
    panels.shot("before-run-all", page.locator(".jp-Notebook"))
    notebook.run_all(until=panels.send_button)
    last = page.locator(".jp-CodeCell").last.locator(".jp-InputPrompt")
    expect(last).to_have_text(re.compile(r"\[6\]"), timeout=90_000)  # every cell has run
    expect(panels.transcript.locator(".mnb-call")).to_contain_text("get_weather")
    panels.send("Is the panel still live?")
    expect(panels.reply_to("Is the panel still live?")).to_be_visible(timeout=TURN_MS)
    expect(panels.send_button).to_be_enabled(timeout=TURN_MS)
    panels.shot("after-run-all")
    lab.shut_down_kernels()
