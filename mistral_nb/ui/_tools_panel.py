"""ToolsPanel: the session's tools with an on/off switch each, and the latest tool calls."""

from __future__ import annotations

import html
from collections import deque
from collections.abc import Callable
from typing import Any

from ipywidgets import HTML, Checkbox, HBox, Layout, VBox

from .._session import Session, SessionEvent
from .._tools import Tool
from .._turn import CallRecord
from ._format import seconds, shorten
from ._status import ShownAsWidget, StatusLine, close_children, guarded, run_guarded
from ._style import stylesheet

__all__ = ["ToolsPanel"]


def _tool_html(tool: Tool) -> str:
    summary = tool.description.split("\n", 1)[0]
    return (
        f"<code><b>{html.escape(tool.name)}</b>({html.escape(tool.signature)})</code>"
        f"<span title='{html.escape(tool.description, quote=True)}' "
        f"class='mnb-hint'>&nbsp;&nbsp;{html.escape(summary)}</span>"
    )


class ToolsPanel(ShownAsWidget, VBox):
    """One row per tool of ``session.tools`` (checkbox: offered to the model or not), and
    the most recent tool calls with their arguments, status, duration and result.

    The rows follow the registry: a tool registered, removed, enabled or disabled anywhere
    (in a notebook cell too) shows up here.

    Args:
        session: The :class:`mistral_nb.Session` whose tools to show.
        max_calls: How many recent calls to list.

    Attributes:
        checkboxes: ``{tool name: Checkbox}``.
        rows: ``{tool name: HBox}``: the checkbox, then name, signature and description.
        tool_list: The ``VBox`` of rows, in registration order.
        calls: An ``HTML`` table of the recent calls, newest first.
        status: The status line.
    """

    def __init__(self, session: Session, *, max_calls: int = 20, **kwargs: Any) -> None:
        self.session = session
        self.status = StatusLine()
        self._syncing = False
        self.checkboxes: dict[str, Checkbox] = {}
        self.rows: dict[str, HBox] = {}
        self._no_tools = HTML("<em>No tools registered: use @session.tool on a function.</em>")
        self.tool_list = VBox()
        self._recent: deque[tuple[int | None, CallRecord]] = deque(maxlen=max_calls)
        for turn in list(session.log)[-max_calls:]:
            for record in turn.call_records:
                self._recent.appendleft((turn.turn, record))
        self.calls = HTML()
        super().__init__(
            [
                stylesheet(),
                HTML(
                    "<b>Tools</b> <span class='mnb-hint'>(checked: "
                    "offered to the model from the next request)</span>"
                ),
                self.tool_list,
                HTML("<b>Recent calls</b>"),
                self.calls,
                self.status,
            ],
            **kwargs,
        )
        self._sync_tools()
        self._render_calls()
        self._unobserve_tools: Callable[[], None] | None = session.tools.observe(
            self._on_tools_changed
        )
        self._unsubscribe: Callable[[], None] | None = session.subscribe(self._on_event)

    # -- the tools ------------------------------------------------------------

    @guarded
    def _on_tools_changed(self) -> None:
        self._sync_tools()

    def _sync_tools(self) -> None:
        tools = list(self.session.tools)
        names = [tool.name for tool in tools]
        self._syncing = True
        try:
            for name in [n for n in self.checkboxes if n not in names]:
                row = self.rows.pop(name)
                close_children(row)
                row.close()
                del self.checkboxes[name]
            for tool in tools:
                if tool.name not in self.checkboxes:
                    box = Checkbox(
                        value=tool.enabled,
                        indent=False,
                        tooltip=f"offer {tool.name} to the model",
                        layout=Layout(width="auto"),
                    )
                    box.observe(self._on_change, names="value")
                    self.checkboxes[tool.name] = box
                    self.rows[tool.name] = HBox([box, HTML()])
                self.checkboxes[tool.name].value = tool.enabled
                self.rows[tool.name].children[1].value = _tool_html(tool)
        finally:
            self._syncing = False
        if names:
            self.tool_list.children = [self.rows[n] for n in names]
        else:
            self.tool_list.children = [self._no_tools]

    @guarded
    def _on_change(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        name = next(n for n, box in self.checkboxes.items() if box is change["owner"])
        if change["new"]:
            self.session.tools.enable(name)
        else:
            self.session.tools.disable(name)
        self.status.ok(
            f"{name} {'offered' if change['new'] else 'not offered'} from the next request"
        )

    # -- the calls ------------------------------------------------------------

    @guarded
    def _on_event(self, event: SessionEvent) -> None:
        if event.kind == "call" and event.call is not None:
            self._recent.appendleft((event.turn.turn if event.turn else None, event.call))
            self._render_calls()

    def _render_calls(self) -> None:
        if not self._recent:
            self.calls.value = "<em class='mnb-hint'>No calls yet.</em>"
            return
        widths = ("44px", "18%", "", "72px", "70px", "")
        cols = "".join(f"<col style='width:{w}'>" if w else "<col>" for w in widths)
        head = "".join(
            f"<th{' class=mnb-num' if h in ('turn', 'duration') else ''}>{h}</th>"
            for h in ("turn", "tool", "arguments", "status", "duration", "result or error")
        )
        rows = []
        for turn, call in self._recent:
            failed = call.status != "ok" and call.error
            result = shorten(call.error if failed else call.result, 2000)
            arguments = shorten(call.arguments, 2000)
            rows.append(
                "<tr>"
                f"<td class='mnb-num'>{'' if turn is None else turn}</td>"
                f"<td><code>{html.escape(call.name)}</code></td>"
                f"<td title='{html.escape(arguments, quote=True)}'>"
                f"<code>{html.escape(shorten(arguments, 60))}</code></td>"
                f"<td class='mnb-st-{html.escape(call.status)}'>{html.escape(call.status)}</td>"
                f"<td class='mnb-num'>{seconds(call.duration_s)}</td>"
                f"<td title='{html.escape(result, quote=True)}'>{html.escape(shorten(result))}</td>"
                "</tr>"
            )
        self.calls.value = (
            f"<table class='mnb-grid'><colgroup>{cols}</colgroup>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    # -- lifecycle ------------------------------------------------------------

    def close(self) -> None:
        """Stop following the session and its tools, and close the widgets."""
        for attribute in ("_unobserve_tools", "_unsubscribe"):
            stop = getattr(self, attribute, None)
            if stop is not None:
                setattr(self, attribute, None)
                run_guarded(self.status, stop)
        close_children(self)
        self._no_tools.close()
        super().close()
