"""Playground: all panels together; the UI's import boundary; no key in any widget state."""

from __future__ import annotations

import ast
import io
import json
import sys
import time
from pathlib import Path

import ipywidgets
from PIL import Image

import mistral_nb as mnb
import mistral_nb.ui
from mistral_nb.local import Fault, ToolCall
from mistral_nb.ui import ChatPanel, LogView, Playground, SettingsPanel, ToolsPanel, playground

SENTINEL = "sk-SENTINEL-123456"
UI_DIR = Path(mistral_nb.ui.__file__).parent


def _widgets(root: ipywidgets.Widget) -> list[ipywidgets.Widget]:
    """Every widget reachable from ``root``: children, layouts, styles, any widget trait."""
    seen: dict[int, ipywidgets.Widget] = {}
    stack = [root]
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen[id(widget)] = widget
        for name in widget.keys:
            value = getattr(widget, name, None)
            values = value if isinstance(value, (list, tuple)) else [value]
            stack.extend(v for v in values if isinstance(v, ipywidgets.Widget))
    return list(seen.values())


def _state_text(widget: ipywidgets.Widget) -> str:
    def default(value):
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value).decode("latin-1")
        return repr(value)

    return json.dumps(widget.get_state(), default=default)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "green").save(out, "PNG")
    return out.getvalue()


async def _upload_png(chat: ChatPanel) -> None:
    entry = {
        "name": "green.png",
        "type": "image/png",
        "size": 100,
        "last_modified": int(time.time() * 1000),
        "content": memoryview(_png()),
    }
    meta = {k: v for k, v in entry.items() if k != "content"}
    chat.image_upload.picker._handle_custom_msg(
        {"event": "files", "files": [meta]}, [entry["content"]]
    )
    await chat.image_upload.pending
    assert chat.image_upload.images


# -- the architecture ------------------------------------------------------------------


def test_no_ui_module_imports_pipecat():
    for path in sorted(UI_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "pipecat" for n in names), f"{path.name}: {names}"


async def test_building_every_panel_imports_nothing_from_pipecat(session):
    before = {name for name in sys.modules if name.startswith("pipecat")}
    panel = Playground(session)
    assert {name for name in sys.modules if name.startswith("pipecat")} == before
    panel.close()


def test_all_is_sorted_and_matches_the_namespace():
    names = mistral_nb.ui.__all__
    assert names == sorted(names)
    public = {n for n in vars(mistral_nb.ui) if not n.startswith("_")}
    modules = {n for n, v in vars(mistral_nb.ui).items() if type(v) is type(sys)}
    assert public - modules == set(names)
    assert ChatPanel.__module__ == "mistral_nb.ui"


# -- the playground --------------------------------------------------------------------


async def test_the_playground_puts_the_chat_on_top_and_the_rest_in_tabs(session, local):
    panel = playground(session)
    assert isinstance(panel, Playground) and isinstance(panel, ipywidgets.VBox)
    assert panel.children[0] is panel.chat_panel
    assert panel.tabs.titles == ("settings", "tools", "log")
    assert [type(c) for c in panel.tabs.children] == [SettingsPanel, ToolsPanel, LogView]

    panel.settings_panel.sliders["temperature"].value = 0.5
    panel.chat_panel.message.value = "Hello"
    panel.chat_panel.send_button.click()
    await panel.chat_panel.pending
    assert local.requests[-1]["temperature"] == 0.5
    assert "Hello" in panel.log_view.table.value
    panel.close()
    assert not session.closed  # not the playground's to close


def test_long_labels_are_not_cut():
    panel = SettingsPanel(mnb.Session(api_key="k", base_url="http://127.0.0.1:9/v1"))
    labels = [w for w in _widgets(panel) if isinstance(w, ipywidgets.Label)]
    assert len(labels) >= 9
    # One 150 px column; at ~7.5 px a character (13 px UI font) every label fits whole.
    assert {w.layout.width for w in labels} == {"150px"}
    assert max(len(w.value) for w in labels) * 7.5 <= 150, [w.value for w in labels]
    buttons = [w for w in _widgets(panel) if isinstance(w, ipywidgets.Button)]
    assert all(w.layout.width == "auto" for w in buttons)  # sized to their label
    panel.session.close()
    panel.close()


async def test_a_notebook_saves_the_panel_not_its_text_repr(session):
    panel = Playground(session)
    for widget in (panel, *panel.panels):
        bundle = widget._repr_mimebundle_()
        assert list(bundle) == ["application/vnd.jupyter.widget-view+json"], type(widget)
    panel.close()


async def test_close_unsubscribes_every_panel(session):
    panel = Playground(session)
    before = [panel.chat_panel.transcript_html, _state_text(panel.log_view.table)]
    panel.close()
    session.update_settings(temperature=1.2)
    await session.send("after close")
    after = [panel.chat_panel.transcript_html, _state_text(panel.log_view.table)]
    assert after == before
    assert panel.settings_panel.sliders["temperature"].value != 1.2


async def test_the_api_key_is_in_no_widget_state(monkeypatch):
    faults = [Fault.status(401, on=3)]  # requests 1-2: the tool round trip
    with mnb.LocalMistral(api_key=SENTINEL, faults=faults) as local:
        monkeypatch.setenv("MISTRAL_API_KEY", SENTINEL)
        monkeypatch.setenv("MISTRAL_BASE_URL", local.base_url)
        panel = Playground()  # the session comes from the environment
        try:
            await _use_every_panel(panel, local)
        finally:
            await panel.aclose()
        assert panel.session.closed


async def _use_every_panel(panel: Playground, local: mnb.LocalMistral) -> None:
    session = panel.session
    assert session.base_url == local.base_url

    @session.tool
    def echo(text: str) -> str:
        """Say it back."""
        return text

    chat = panel.chat_panel
    await _upload_png(chat)
    local.push(ToolCall("echo", {"text": "hi"}), "hi")
    for text in ("Echo hi", "Now fail", "And recover"):
        chat.message.value = text
        chat.send_button.click()
        await chat.pending
    panel.settings_panel.sliders["temperature"].value = 0.7
    panel.log_view.plot_kind.value = "tool-call durations"
    panel.log_view.plot_pending.result(timeout=30)
    panel.log_view.export_buttons["csv"].click()
    await panel.log_view.pending
    await _upload_png(chat)  # thumbnails on show too

    assert [t.status for t in session.log] == ["ok", "error", "ok"]
    assert "API key" in chat.transcript_html  # the 401 is explained...
    widgets = _widgets(panel)
    assert len(widgets) > 60
    leaks = [w for w in widgets if SENTINEL in _state_text(w) or "SENTINEL" in _state_text(w)]
    assert leaks == []  # ...without the key
    assert not any(isinstance(w, ipywidgets.Password) for w in widgets)


async def test_every_panel_root_is_marked_and_its_state_still_syncs(session):
    # The page script keeps notebook shortcuts out of fields under ``.mnb-panel``; and a
    # panel is a live widget: changing its own state must reach the front end (a panel
    # method named like one of Widget's, as ChatPanel._send was, breaks that).
    panel = Playground(session)
    for widget in (panel, *panel.panels):
        assert "mnb-panel" in widget._dom_classes, type(widget)
        widget.add_class("mnb-extra")
        widget.remove_class("mnb-extra")
        ours = [k for k in type(widget).__mro__ if k.__module__.startswith("mistral_nb")]
        methods = {name for k in ours for name, value in vars(k).items() if callable(value)}
        private = {n for n in dir(ipywidgets.Widget) if n.startswith("_") and n[1] != "_"}
        shadowed = methods & private
        assert shadowed <= {"_repr_mimebundle_", "_ipython_display_"}, (type(widget), shadowed)
    panel.close()


async def test_the_panels_need_only_core_widgets_and_anywidget(session):
    # VS Code's notebook renderer bundles ipywidgets 8's own models; anything else it
    # loads with requirejs from <sys.prefix>/share/jupyter/nbextensions/<module>/index.js
    # (or a CDN, which an offline machine lacks).  So the panels use core models plus
    # anywidget, whose front end is that one AMD file, and whose pieces are inline ESM.
    panel = Playground(session)
    modules = {(w._model_module, w._view_module) for w in _widgets(panel)}
    core = {"@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/output"}
    assert {m for pair in modules for m in pair} <= core | {"anywidget"}, modules
    inline = [w for w in _widgets(panel) if w._model_module == "anywidget"]
    assert inline and all("://" not in w._esm and "import " not in w._esm for w in inline)
    amd = Path(sys.prefix, "share/jupyter/nbextensions/anywidget/index.js")
    assert 'define(["@jupyter-widgets/base"]' in amd.read_text()
    panel.close()
