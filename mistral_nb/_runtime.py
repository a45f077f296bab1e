"""``Runtime``: the event loop a session's pipeline lives on, on a thread of its own.

Why a thread of its own: callers come from every kind of loop.  Jupyter's main loop,
an ipykernel 7 subshell's loop (JupyterLab runs widget callbacks there), a fresh
loop per ``asyncio.run`` in a script, a worker thread's loop, or no loop at all.
pipecat's tasks, queues and HTTP client are bound to the loop that created them, so
a pipeline living on any one caller's loop breaks for all the others (the second
turn from a subshell hung; scripts never exited because ``asyncio.run`` cancelled
the pipeline's tasks).  Here the pipeline has one loop for its whole life, and every
call reaches it the same provable way: ``asyncio.run_coroutine_threadsafe``.

- From a coroutine on another loop, :meth:`Runtime.run` awaits the result without
  blocking that loop; cancelling the caller cancels the work (the turn ends
  "cancelled").
- From synchronous code (a cell, a script, a widget callback), :meth:`Runtime.call`
  blocks the calling thread only; Ctrl+C or a kernel interrupt there runs the
  ``on_interrupt`` callback (the session cancels the turn), waits briefly for the
  work to settle, and re-raises.
- From the runtime's own thread (a listener, an async tool), a blocking call would
  deadlock, so it raises at once.

The thread is a daemon; :func:`close_at_exit` stops what is still running when
the interpreter exits, so a script that never closes its session exits promptly.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

from ._errors import RuntimeMisuseError

__all__ = ["Runtime", "close_at_exit"]

T = TypeVar("T")

# How long a blocking call waits for a cancelled turn to settle before giving up.
_SETTLE_AFTER_INTERRUPT_S = 5.0
# How long tasks still running when the runtime stops get to end after being cancelled.
_GRACE_AT_STOP_S = 2.0


class Runtime:
    """One event loop on one daemon thread; see the module docstring."""

    def __init__(self, name: str = "mistral_nb") -> None:
        self._loop = asyncio.new_event_loop()
        self._stopped = False
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def running(self) -> bool:
        return not self._stopped and self._thread.is_alive()

    def on_runtime_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        try:
            self._loop.run_forever()
        finally:
            self._drain()

    def _drain(self) -> None:
        # Whatever is left (pipecat's helper tasks, a listener's task) is cancelled and
        # awaited here, so nothing is destroyed pending at exit.
        loop = self._loop
        try:
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                # A tool that swallows its cancellation gets a grace period, not forever.
                loop.run_until_complete(asyncio.wait(tasks, timeout=_GRACE_AT_STOP_S))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    # -- bridges -------------------------------------------------------------------

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on the runtime loop from any thread; returns at once."""
        if not self.running:
            coroutine.close()
            raise RuntimeError("this runtime is stopped")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await ``coroutine`` on the runtime loop from a coroutine on any loop."""
        if self.on_runtime_thread():
            return await coroutine
        return await asyncio.wrap_future(self.submit(coroutine))

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the runtime loop and block this thread for its result.

        A ``KeyboardInterrupt`` while waiting (Ctrl+C, the kernel's stop button) cancels
        the task running ``coroutine``, waits for it to settle (a turn then ends
        "cancelled" and is logged), and is re-raised.
        """
        if self.on_runtime_thread():
            coroutine.close()
            raise RuntimeMisuseError(
                "a blocking session call (ask, close, reset) was made from the session's own "
                "thread (a listener or an async tool), where it would wait forever: use "
                "`await session.send(...)` there, or call it from elsewhere"
            )
        task: list[asyncio.Task[Any]] = []

        async def tracked() -> T:
            current = asyncio.current_task()
            if current is not None:
                task.append(current)
            return await coroutine

        future = self.submit(tracked())
        try:
            return future.result()
        except KeyboardInterrupt:
            if task:
                self._loop.call_soon_threadsafe(task[0].cancel)
            else:
                future.cancel()
            # Whatever the cancelled work ends with, the interrupt is what the user sees.
            with contextlib.suppress(BaseException):
                future.result(timeout=_SETTLE_AFTER_INTERRUPT_S)
            raise

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop (after cancelling what still runs) and join the thread."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            if not self.on_runtime_thread():
                self._thread.join(timeout)


_OPEN: weakref.WeakSet[Any] = weakref.WeakSet()


def close_at_exit(closeable: Any) -> None:
    """Close ``closeable`` (it has ``close()``) when the interpreter exits, if still open."""
    _OPEN.add(closeable)


@atexit.register
def _close_open() -> None:
    for closeable in list(_OPEN):
        # Exiting: nothing may stop the others.
        with contextlib.suppress(BaseException):
            closeable.close()
