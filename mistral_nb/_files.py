"""Reading a user's file without trusting the path: no FIFO or device is ever opened.

A path is user input: ``/dev/zero`` never ends, a FIFO blocks ``open()`` until a
writer comes, and a file can be swapped between a check and a read.  Images and
documents read their paths through :func:`read_regular_file`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["read_regular_file"]

_CHUNK = 1024 * 1024


def read_regular_file(path: str, *, limit: int, check: Callable[[os.stat_result], None]) -> bytes:
    """The bytes of ``path``, at most ``limit + 1`` of them.

    ``check(info)`` raises the caller's error for a file that is not regular or is too
    large; it runs on the path before opening and on the open descriptor (so what is
    checked is what is read).  ``O_NONBLOCK`` keeps a path that turned into a FIFO after
    the first check from blocking the open.  ``OSError`` (``FileNotFoundError`` among
    them) is left to the caller to word.  A result longer than ``limit`` means the file
    grew while it was read.
    """
    check(os.stat(path))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        check(os.fstat(fd))
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)
