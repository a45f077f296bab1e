"""The three small front-end pieces plain ipywidgets 8 lacks, as inline anywidget modules.

ipywidgets 8 gives a ``Textarea`` no key events, a ``FileUpload`` whose label always ends
in the count of its *current* value ("images (0)" once the panel has taken the bytes),
and no way to put text on the clipboard.  Each gap is filled by a few lines of
JavaScript run by anywidget, which ships a prebuilt front end for JupyterLab, Notebook 7,
Voilà and VS Code: no build step, no extension of our own.

Everything else stays plain ipywidgets.  The pieces speak to Python through custom
messages, which tests send with ``widget._handle_custom_msg(content, buffers)``, the way
the comm would.  The modules also install, once per page, one click listener for every
``.mnb-copy`` button (the copy buttons on code blocks in the transcript) and one focus
listener that keeps the notebook's keyboard shortcuts out of the panels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anywidget
import traitlets
from ipywidgets import CallbackDispatcher

__all__ = ["CopyButton", "FilePicker", "MessageBox"]

# Two delegated listeners per page.  Clicks: the transcript is plain HTML, redrawn as it
# streams, so its copy buttons cannot carry listeners of their own.  Focus: Notebook 7
# reads keys on the way down, before a widget can stop them, so Shift+Enter in a text
# field would also run the cell and ArrowRight on a slider would move the notebook's
# cursor instead.  Lumino ignores a key whose target carries data-lm-suppress-shortcuts
# (the mark must be on the target itself: a selector like ".jp-mod-commandMode :focus"
# matches the target before Lumino looks at its ancestors), so whatever takes the focus
# inside a panel gets that mark.
_PAGE_JS = r"""
function installPageHandlers() {
  if (globalThis.__mnbPageHandlers) return;
  globalThis.__mnbPageHandlers = true;
  document.addEventListener("focusin", (event) => {
    const target = event.target;
    if (target instanceof Element && target.closest(".mnb-panel")) {
      target.setAttribute("data-lm-suppress-shortcuts", "true");
    }
  }, true);
  document.addEventListener("click", async (event) => {
    const button = event.target.closest
      ? event.target.closest(".mnb-copy, .mnb-copy-button")
      : null;
    if (!button) return;
    let text = button.dataset.text;
    if (text === undefined) {
      const code = button.closest(".mnb-code")?.querySelector("code");
      text = code ? code.innerText : "";
    }
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) {
      // No clipboard API (plain http, an old browser): the selection route still works.
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
}
"""

_MESSAGE_BOX_JS = (
    _PAGE_JS
    + r"""
export default {
  render({ model, el }) {
    installPageHandlers();
    const box = document.createElement("textarea");
    box.className = "mnb-message widget-textarea";
    box.setAttribute("data-lm-suppress-shortcuts", "true");
    const sync = () => {
      if (box.value !== model.get("value")) box.value = model.get("value");
      box.placeholder = model.get("placeholder");
      box.rows = model.get("rows");
      box.disabled = model.get("disabled");
    };
    box.addEventListener("input", () => {
      model.set("value", box.value);
      model.save_changes();
    });
    box.addEventListener("keydown", (event) => {
      // Keys typed here are ours: Shift+Enter must not also run the notebook cell.
      event.stopPropagation();
      if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
      event.preventDefault();
      model.set("value", box.value);
      model.save_changes();
      model.send({ event: "submit", value: box.value });
    });
    model.on("change:value", sync);
    model.on("change:placeholder", sync);
    model.on("change:rows", sync);
    model.on("change:disabled", sync);
    model.on("msg:custom", (msg) => {
      if (msg && msg.event === "focus") {
        box.focus();
        box.setSelectionRange(box.value.length, box.value.length);
      } else if (msg && msg.event === "clear") {
        // The message was taken: empty the box here, and tell the kernel from here, so
        // no keystroke update still in flight can put the old text back afterwards.
        box.value = "";
        model.set("value", "");
        model.save_changes();
      }
    });
    sync();
    el.classList.add("mnb-message-box");
    el.appendChild(box);
  },
};
"""
)

_FILE_PICKER_JS = (
    _PAGE_JS
    + r"""
export default {
  render({ model, el }) {
    installPageHandlers();
    const input = document.createElement("input");
    input.type = "file";
    input.style.display = "none";
    const button = document.createElement("button");
    button.className = "jupyter-button widget-button mnb-pick";
    const sync = () => {
      const count = model.get("count");
      // FontAwesome's paperclip, as ipywidgets' own buttons draw their icons.
      button.innerHTML = '<i class="fa fa-paperclip"></i> ';
      button.appendChild(
        document.createTextNode(model.get("description") + (count ? ` (${count})` : "")),
      );
      button.title = model.get("tooltip");
      button.disabled = model.get("disabled");
      input.accept = model.get("accept");
      input.multiple = model.get("multiple");
    };
    button.addEventListener("click", () => { input.value = ""; input.click(); });
    input.addEventListener("change", async () => {
      const files = Array.from(input.files || []);
      if (!files.length) return;
      const buffers = await Promise.all(files.map((f) => f.arrayBuffer()));
      const meta = files.map((f) => ({
        name: f.name, type: f.type, size: f.size, last_modified: f.lastModified,
      }));
      model.send({ event: "files", files: meta }, undefined, buffers);
    });
    for (const name of ["count", "description", "tooltip", "disabled", "accept", "multiple"]) {
      model.on(`change:${name}`, sync);
    }
    sync();
    el.append(button, input);
  },
};
"""
)

_COPY_BUTTON_JS = (
    _PAGE_JS
    + r"""
export default {
  render({ model, el }) {
    installPageHandlers();
    const button = document.createElement("button");
    button.className = "jupyter-button widget-button mnb-copy-button";
    const sync = () => {
      button.dataset.text = model.get("text");
      button.dataset.label = model.get("description");
      button.textContent = model.get("description");
      button.title = model.get("tooltip");
    };
    model.on("change:text", sync);
    model.on("change:description", sync);
    sync();
    el.appendChild(button);
  },
};
"""
)


class MessageBox(anywidget.AnyWidget):  # type: ignore[misc]
    """A message box where Enter sends and Shift+Enter adds a newline.

    Attributes:
        value: The text in the box (synced as it is typed).
        placeholder, rows, disabled: As for ``ipywidgets.Textarea``.
    """

    _esm = _MESSAGE_BOX_JS
    value = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)
    rows = traitlets.Int(3).tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._submit_handlers = CallbackDispatcher()
        self.on_msg(self._on_front_end_msg)

    def on_submit(self, callback: Callable[[MessageBox], Any]) -> None:
        """Call ``callback(box)`` when Enter is pressed in the box."""
        self._submit_handlers.register_callback(callback)

    def submit(self) -> None:
        """What pressing Enter does (for code and tests)."""
        self._submit_handlers(self)

    def clear(self) -> None:
        """Empty the box (here and in the browser: the message was taken)."""
        self.value = ""
        self.send({"event": "clear"})

    def focus(self) -> None:
        """Put the cursor in the box, at the end of its text."""
        self.send({"event": "focus"})

    def _on_front_end_msg(self, _widget: Any, content: Mapping[str, Any], _buffers: Any) -> None:
        if content.get("event") == "submit":
            value = content.get("value")
            if isinstance(value, str):
                self.value = value  # the keystroke's text, even if a sync is still in flight
            self.submit()


class FilePicker(anywidget.AnyWidget):  # type: ignore[misc]
    """A button that opens the file chooser and hands the files' bytes to Python.

    Unlike ``ipywidgets.FileUpload`` it keeps no file in its state (a saved notebook
    holds no image bytes) and shows the count it is told, not that of its last batch.

    Attributes:
        description: The button's label; `` (count)`` follows it when count > 0.
        count: The number shown after the label.
        accept, multiple, tooltip, disabled: As for ``FileUpload``.
    """

    _esm = _FILE_PICKER_JS
    description = traitlets.Unicode("attach images").tag(sync=True)
    tooltip = traitlets.Unicode("").tag(sync=True)
    count = traitlets.Int(0).tag(sync=True)
    accept = traitlets.Unicode("image/*").tag(sync=True)
    multiple = traitlets.Bool(True).tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._handlers = CallbackDispatcher()
        self.on_msg(self._on_front_end_msg)

    def on_files(self, callback: Callable[[list[dict[str, Any]]], Any]) -> None:
        """Call ``callback(entries)`` with FileUpload-shaped dicts (``content``: memoryview)."""
        self._handlers.register_callback(callback)

    def _on_front_end_msg(
        self, _widget: Any, content: Mapping[str, Any], buffers: Sequence[Any] | None
    ) -> None:
        if content.get("event") != "files":
            return
        metas = content.get("files") or []
        buffers = list(buffers or [])
        entries = [
            {**meta, "content": memoryview(buffer)}
            for meta, buffer in zip(metas, buffers, strict=False)
        ]
        self._handlers(entries)


class CopyButton(anywidget.AnyWidget):  # type: ignore[misc]
    """A button that puts ``text`` on the clipboard (done in the browser, not the kernel)."""

    _esm = _COPY_BUTTON_JS
    text = traitlets.Unicode("").tag(sync=True)
    description = traitlets.Unicode("copy").tag(sync=True)
    tooltip = traitlets.Unicode("").tag(sync=True)
