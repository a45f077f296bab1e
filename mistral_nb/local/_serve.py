"""``mistral-nb serve``: a LocalMistral in the foreground, one log line per request."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any, TextIO

from ._endpoint import LocalMistral
from ._state import LOGGER

__all__ = ["serve"]


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{self.formatTime(record, '%H:%M:%S')} {record.getMessage()}"


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    log: TextIO | None = None,
    quiet: bool = False,
    **kwargs: Any,
) -> None:
    """Run a LocalMistral in the foreground until Ctrl-C or SIGTERM.

    Prints the base_url and how the key is checked (never the key), then one line per
    request on ``log`` (stderr by default): method, path, status, model, prompt and
    completion tokens, milliseconds. Keyword arguments go to :class:`LocalMistral`.

    Raises:
        LocalMistralError: the port is taken, or an argument is invalid.
    """
    handler: logging.Handler | None = None
    if not quiet:
        handler = logging.StreamHandler(log or sys.stderr)
        handler.setFormatter(_OneLine())
        LOGGER.addHandler(handler)
        LOGGER.setLevel(logging.INFO)
        LOGGER.propagate = False
    server = LocalMistral(host=host, port=port, **kwargs)
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        server.start()
        note = "the key you configured" if kwargs.get("api_key") else "any non-empty key"
        print(
            f"LocalMistral serving at {server.base_url} (api key: {note}); Ctrl-C to stop",
            flush=True,
        )
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if server.running:
            server.stop()
            print("LocalMistral stopped", flush=True)
        if handler is not None:
            LOGGER.removeHandler(handler)
            LOGGER.propagate = True
