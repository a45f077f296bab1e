"""Playground: every panel of one session in one widget."""

from __future__ import annotations

from typing import Any

from ipywidgets import Layout, Tab, VBox

from .._session import Session
from ._chat_panel import ChatPanel
from ._log_view import LogView
from ._settings_panel import SettingsPanel
from ._status import ShownAsWidget
from ._tools_panel import ToolsPanel

__all__ = ["Playground", "playground"]


class Playground(ShownAsWidget, VBox):
    """The chat on top; settings, tools and the log in tabs below.

    Args:
        session: The :class:`mistral_nb.Session` to use. None starts ``mnb.Session()``
            (Mistral when ``MISTRAL_API_KEY`` is set, the offline endpoint otherwise),
            which :meth:`close` then closes too.

    Attributes:
        session: The session.
        chat_panel, settings_panel, tools_panel, log_view: The panels.
        tabs: The ``Tab`` holding settings, tools and log.
    """

    def __init__(self, session: Session | None = None, **kwargs: Any) -> None:
        self._owns_session = session is None
        self.session = session if session is not None else Session()
        self.chat_panel = ChatPanel(self.session)
        self.settings_panel = SettingsPanel(self.session)
        self.tools_panel = ToolsPanel(self.session)
        self.log_view = LogView(self.session)
        self.tabs = Tab(
            children=[self.settings_panel, self.tools_panel, self.log_view],
            layout=Layout(width="100%"),
        )
        self.tabs.titles = ("settings", "tools", "log")
        # Full width of the output area, with room to breathe on a wide screen.
        layout = kwargs.pop("layout", Layout(width="100%", max_width="1100px"))
        super().__init__([self.chat_panel, self.tabs], layout=layout, **kwargs)

    @property
    def panels(self) -> tuple[ChatPanel, SettingsPanel, ToolsPanel, LogView]:
        return (self.chat_panel, self.settings_panel, self.tools_panel, self.log_view)

    def close(self) -> None:
        """Close every panel (unsubscribing them), and the session if the playground made it."""
        for panel in getattr(self, "panels", ()):
            panel.close()
        tabs = getattr(self, "tabs", None)
        if tabs is not None:
            tabs.close()
        if getattr(self, "_owns_session", False):
            self._owns_session = False
            self.session.close()
        super().close()

    async def aclose(self) -> None:
        """``close`` for async code: awaits the session's shutdown if the playground owns it."""
        if getattr(self, "_owns_session", False):
            self._owns_session = False
            await self.session.aclose()
        self.close()


def playground(session: Session | None = None) -> Playground:
    """A :class:`Playground` for ``session`` (a new ``mnb.Session()`` when None)."""
    return Playground(session)
