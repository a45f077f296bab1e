"""The status line every panel has, and the one error guard every callback goes through.

ipywidgets swallows exceptions raised in ``observe`` and ``on_click`` callbacks (and the
session swallows those of its listeners), so a panel that let one escape would fail in
silence.  Every callback of every panel is therefore wrapped by :func:`guarded`, which
writes the error to the panel's :class:`StatusLine`; tasks started from callbacks report
through :func:`schedule`.  mistral_nb's own errors show their message (it already says
what to do); anything else shows its type too, since that is a bug to report.
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from ipywidgets import HTML, Widget

from .._errors import MistralNBError

__all__ = [
    "ShownAsWidget",
    "StatusLine",
    "close_children",
    "describe_error",
    "guarded",
    "run_guarded",
    "schedule",
]

_log = logging.getLogger("mistral_nb.ui")

# JupyterLab's theme colours (light and dark), with light fallbacks elsewhere.
_COLOURS = {
    "info": "var(--jp-ui-font-color2, #555)",
    "ok": "var(--jp-success-color1, #2e7d32)",
    "warning": "var(--jp-warn-color1, #b26a00)",
    "error": "var(--jp-error-color1, #c62828)",
}

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def describe_error(exc: BaseException) -> str:
    """What a status line says about ``exc``: our errors by message, others by type too."""
    if isinstance(exc, MistralNBError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class StatusLine(HTML):
    """One line of HTML under a panel: what just happened, or what went wrong."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = "info"
        self.text = ""

    def show(self, text: str, kind: str = "info") -> None:
        """Show ``text`` (plain text, escaped here) in the colour of ``kind``."""
        self.kind, self.text = kind, text
        colour = _COLOURS.get(kind, _COLOURS["info"])
        body = html.escape(text).replace("\n", "<br>")
        self.value = f"<span style='color:{colour};font-size:smaller'>{body}</span>" if text else ""

    def info(self, text: str) -> None:
        self.show(text, "info")

    def ok(self, text: str) -> None:
        self.show(text, "ok")

    def warning(self, text: str) -> None:
        self.show(text, "warning")

    def error(self, *errors: BaseException | str) -> None:
        """Show one or more errors (exceptions or ready-made messages), one per line."""
        lines = [e if isinstance(e, str) else describe_error(e) for e in errors]
        self.show("\n".join(lines), "error")

    def clear(self) -> None:
        self.show("")


class _HasStatus(Protocol):
    status: StatusLine


def _report(status: StatusLine | None, exc: BaseException, where: str) -> None:
    _log.debug("mistral_nb.ui: %s failed", where, exc_info=exc)
    if status is None:  # a panel half-built or closed: logging is all that is left
        _log.warning("mistral_nb.ui: %s failed: %s", where, describe_error(exc))
        return
    try:
        status.error(exc)
    except Exception:  # noqa: BLE001  # pragma: no cover - the status line itself is gone
        _log.exception("mistral_nb.ui: could not show an error from %s", where)


def guarded(method: F) -> F:
    """Decorate a panel method used as a callback: its exceptions go to ``self.status``."""

    @functools.wraps(method)
    def wrapper(self: _HasStatus, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the guard: every error goes to the status line
            _report(getattr(self, "status", None), exc, method.__qualname__)
            return None

    return wrapper  # type: ignore[return-value]


def run_guarded(status: StatusLine, fn: Callable[..., T], *args: Any) -> T | None:
    """Call ``fn(*args)``, sending an exception to ``status`` instead of raising it."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - the guard: every error goes to the status line
        _report(status, exc, getattr(fn, "__qualname__", repr(fn)))
        return None


def schedule(
    coroutine: Coroutine[Any, Any, T], status: StatusLine, *, name: str | None = None
) -> asyncio.Task[T]:
    """Run ``coroutine`` as a task on the running loop (the kernel's, in Jupyter).

    The callback that calls this returns at once, so the kernel never blocks; when the
    task fails, its exception goes to ``status``.

    Raises:
        RuntimeError: No event loop is running (outside Jupyter and outside async code).
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        coroutine.close()
        raise RuntimeError(
            "the panels run long work on the notebook's event loop, and none is running "
            "here; use them in Jupyter (or from async code)"
        ) from None
    task = loop.create_task(coroutine, name=name)

    def done(finished: asyncio.Task[T]) -> None:
        if finished.cancelled():
            return
        exc = finished.exception()
        if exc is not None:
            _report(status, exc, name or "a task")

    task.add_done_callback(done)
    return task


class ShownAsWidget:
    """Mixin for a panel: a notebook shows (and saves) the widget, never its text repr.

    IPython adds ``repr(widget)`` to every output as ``text/plain``: for a panel, kilobytes
    of nested ``children=(...)`` that a saved notebook shows before it runs.  A panel
    displays itself with the widget view alone, and says what it is in one line.

    Every panel's root also carries the ``mnb-panel`` class: the page script in ``_web.py``
    uses it to keep the notebook's keyboard shortcuts out of the panel.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_class("mnb-panel")  # type: ignore[attr-defined]

    def _widget_bundle(self) -> dict[str, Any] | None:
        data: dict[str, Any] | None = super()._repr_mimebundle_()  # type: ignore[misc]
        if data is not None and len(data) > 1:
            data.pop("text/plain", None)
        return data

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        return self._widget_bundle()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._widget_bundle(), raw=True)

    def __repr__(self) -> str:
        return f"<mistral_nb.ui.{type(self).__name__} widget>"


def close_children(box: Widget) -> None:
    """Close every widget below ``box`` (a Box does not close its children itself)."""
    for child in getattr(box, "children", ()):
        close_children(child)
        child.close()


def release(panel: Widget) -> None:
    """Unsubscribe a panel from its session (errors go to its status line) and close
    every widget below it; the panel's own ``close`` then closes the panel itself."""
    unsubscribe = getattr(panel, "_unsubscribe", None)
    if unsubscribe is not None:
        panel._unsubscribe = None  # type: ignore[attr-defined]
        run_guarded(panel.status, unsubscribe)  # type: ignore[attr-defined]
    close_children(panel)
