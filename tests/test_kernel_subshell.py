"""A session driven from an ipykernel 7 subshell, the way JupyterLab 4.6 drives widgets.

JupyterLab's default ``commsOverSubshells: perCommTarget`` sends every widget message to
a subshell: a thread of the kernel with its own event loop, while cells (and so the
session's pipeline) run on the main thread's loop.  These tests start a real kernel
with jupyter_client, create a subshell on the control channel (``create_subshell_request``,
ipykernel 7) and run cells, and widget comm messages, on it by putting its id in the
message header, as JupyterLab does.  No browser: ``tests/browser`` checks the same story
on screen.

Every wait has a deadline, so a hang fails the test instead of stalling the suite.
Before the session owned its runtime (issue 8), the subshell tests here failed that way:
the first turn from a subshell never ended, the panel's second Send hung, a cancel from
the subshell left its turn running, and close() from a subshell raised.
"""

from __future__ import annotations

import html
import json
import os
import queue
import re
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

#: Seconds a turn may take before the test calls it a hang (LocalMistral answers in ms).
TURN_DEADLINE = 15.0

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Replies slowed to a crawl when the user's message says "slow": long enough to press Stop.
SLOW_REPLIES = """
import json
from mistral_nb.local import Fault

def _asks_for_slow(body):
    last = body.get("messages", [])[-1:] if isinstance(body, dict) else []
    return "slow" in json.dumps(last)

session.local.inject(Fault.slow(0.25, on=_asks_for_slow))

# The turn number of every token event: what tells a test that a reply is streaming.
token_turns = []
session.subscribe(
    lambda event: token_turns.append(event.turn.turn) if event.kind == "token" else None
)
"""


class KernelError(AssertionError):
    """A cell failed in the kernel; the message holds its traceback."""


class Kernel:
    """A real ipykernel driven over ZMQ, with subshells.

    Replies and output are filed by the request they answer, so several requests can
    be in flight at once (a cell running on a subshell while the main shell is polled).
    """

    def __init__(self, workdir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MISTRAL_")}
        # No user profile, config or runtime files: everything under the test's tmp dir.
        env.update(
            IPYTHONDIR=str(workdir / "ipython"),
            JUPYTER_CONFIG_DIR=str(workdir / "config"),
            JUPYTER_DATA_DIR=str(workdir / "data"),
            JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
            JUPYTER_PLATFORM_DIRS="1",
        )
        self.manager = KernelManager(
            kernel_name="python3", connection_file=str(workdir / "kernel.json")
        )
        self.manager.start_kernel(env=env, cwd=str(workdir))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self._output: dict[str, list[str]] = {}
        self._idle: set[str] = set()
        self._replies: dict[str, dict[str, Any]] = {}
        self._probe: str | None = None
        #: A wait timed out: a cell may still be running, so this kernel is not reusable.
        self.stuck = False

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)

    # -- subshells ---------------------------------------------------------------------

    def create_subshell(self) -> str:
        """A new subshell (its own thread and event loop in the kernel); returns its id."""
        request = self.client.session.msg("create_subshell_request", {})
        self.client.control_channel.send(request)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            reply = self.client.control_channel.get_msg(timeout=10)
            if reply["parent_header"].get("msg_id") == request["header"]["msg_id"]:
                assert reply["content"]["status"] == "ok", reply["content"]
                return str(reply["content"]["subshell_id"])
        self.stuck = True
        raise TimeoutError("the kernel did not answer create_subshell_request")

    # -- cells -------------------------------------------------------------------------

    def submit(self, code: str, *, subshell: str | None = None) -> str:
        """Send a cell to the main shell (or ``subshell``) without waiting; its msg_id."""
        content = {
            "code": textwrap.dedent(code),
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        return self._send_shell("execute_request", content, subshell)

    def wait(self, msg_id: str, *, timeout: float = TURN_DEADLINE, what: str = "a cell") -> str:
        """Wait for the cell ``msg_id`` to finish; its output. Raises when it failed."""
        deadline = time.monotonic() + timeout
        while not (msg_id in self._replies and msg_id in self._idle):
            if time.monotonic() > deadline:
                so_far = "".join(self._output.get(msg_id, []))
                self.stuck = True
                raise TimeoutError(f"{what} did not finish in {timeout:.0f} s; output: {so_far!r}")
            self._pump(0.05)
        output = "".join(self._output.pop(msg_id, []))
        reply = self._replies.pop(msg_id)
        self._idle.discard(msg_id)
        if reply["status"] != "ok":
            raise KernelError(f"{what} failed in the kernel:\n{output}")
        return output

    def run(self, code: str, *, subshell: str | None = None, timeout: float = TURN_DEADLINE) -> str:
        """Run a cell and return what it printed (a failed cell raises ``KernelError``)."""
        where = f"subshell {subshell[:8]}" if subshell else "the main shell"
        first = textwrap.dedent(code).strip().splitlines()[0]
        return self.wait(
            self.submit(code, subshell=subshell), timeout=timeout, what=f"{first!r} on {where}"
        )

    def value(self, expression: str, *, subshell: str | None = None) -> Any:
        """The JSON value of ``expression`` in the kernel."""
        out = self.run(f"import json as _j; print(_j.dumps({expression}))", subshell=subshell)
        return json.loads(out.strip().splitlines()[-1])

    def until(
        self,
        expression: str,
        ready: Callable[[Any], bool],
        *,
        timeout: float = TURN_DEADLINE,
        what: str = "the kernel",
    ) -> Any:
        """Poll ``expression`` until ``ready(value)``; the last value.

        The polls run on a subshell of their own, so they get through while a cell runs
        on the main shell or on another subshell.
        """
        if self._probe is None:
            self._probe = self.create_subshell()
        deadline = time.monotonic() + timeout
        while True:
            value = self.value(expression, subshell=self._probe)
            if ready(value):
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: still {value!r} after {timeout:.0f} s")
            time.sleep(0.1)

    # -- widgets -----------------------------------------------------------------------

    def comm_msg(self, comm_id: str, data: dict[str, Any], *, subshell: str | None) -> None:
        """A message from the front end to a widget, on ``subshell`` as JupyterLab sends it."""
        self._send_shell("comm_msg", {"comm_id": comm_id, "data": data}, subshell)

    def set_widget(self, comm_id: str, subshell: str | None, **state: Any) -> None:
        self.comm_msg(
            comm_id, {"method": "update", "state": state, "buffer_paths": []}, subshell=subshell
        )

    def click(self, comm_id: str, subshell: str | None) -> None:
        self.comm_msg(
            comm_id, {"method": "custom", "content": {"event": "click"}}, subshell=subshell
        )

    # -- plumbing ----------------------------------------------------------------------

    def _send_shell(self, msg_type: str, content: dict[str, Any], subshell: str | None) -> str:
        message = self.client.session.msg(msg_type, content)
        if subshell is not None:
            message["header"]["subshell_id"] = subshell
        self.client.shell_channel.send(message)
        return str(message["header"]["msg_id"])

    def _pump(self, timeout: float) -> None:
        try:
            message = self.client.iopub_channel.get_msg(timeout=timeout)
        except queue.Empty:
            pass
        else:
            parent = message["parent_header"].get("msg_id")
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                self._output.setdefault(parent, []).append(content["text"])
            elif kind == "error":
                trace = _ANSI.sub("", "\n".join(content["traceback"]))
                self._output.setdefault(parent, []).append(trace)
            elif kind == "status" and content["execution_state"] == "idle":
                self._idle.add(parent)
        while True:
            try:
                reply = self.client.shell_channel.get_msg(timeout=0)
            except queue.Empty:
                return
            self._replies[reply["parent_header"].get("msg_id")] = reply["content"]


class KernelPool:
    """One kernel for the module (starting one and importing mistral_nb takes ~15 s here),
    replaced by a fresh one after a test leaves it stuck on a cell that never ended."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.current: Kernel | None = None

    def get(self) -> Kernel:
        if self.current is not None and self.current.stuck:
            self.close()
        if self.current is None:
            self.current = Kernel(self.workdir)
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelPool]:
    pool = KernelPool(tmp_path_factory.mktemp("kernel"))
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def session_kernel(kernels: KernelPool) -> Iterator[Kernel]:
    """A kernel with a new ``session = mnb.Session()`` (offline), one turn done on the main
    shell; the session is closed afterwards."""
    kernel = kernels.get()
    out = kernel.run(
        """
        import mistral_nb as mnb
        session = mnb.Session()
        turn = await session.send("hi")
        print(turn.status, turn.turn, turn.text)
        """,
        timeout=60,
    )
    assert out.splitlines()[-1].startswith("ok 1 You said:"), out
    kernel.run(SLOW_REPLIES)
    yield kernel
    if not kernel.stuck:
        try:
            kernel.run("session.close()")
        except (TimeoutError, KernelError):
            kernel.stuck = True  # the next test gets a fresh kernel


def wait_for_tokens(kernel: Kernel, *, turn: int) -> None:
    kernel.until(f"token_turns.count({turn})", lambda n: n >= 2, what=f"turn {turn}'s first tokens")


def turn_summary(kernel: Kernel, code: str, *, subshell: str | None) -> dict[str, Any]:
    out = kernel.run(
        code
        + "\nimport json as _j\n"
        + "print(_j.dumps({'status': turn.status, 'turn': turn.turn, 'text': turn.text,"
        + " 'error': turn.error}))",
        subshell=subshell,
    )
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_a_turn_on_the_main_shell(session_kernel: Kernel) -> None:
    # The baseline the subshell tests build on: cells on the main thread's loop.
    summary = turn_summary(session_kernel, 'turn = await session.send("again")', subshell=None)
    assert summary["status"] == "ok"
    assert summary["turn"] == 2
    assert summary["text"].startswith('You said: "again"')


def test_a_subshell_gets_its_own_thread(session_kernel: Kernel) -> None:
    # What makes the other tests meaningful: the subshell's cell runs on another thread.
    subshell = session_kernel.create_subshell()
    code = "import threading; print(threading.current_thread() is threading.main_thread())"
    assert session_kernel.run(code).strip() == "True"
    assert session_kernel.run(code, subshell=subshell).strip() == "False"


def test_five_turns_from_a_subshell_each_finish(session_kernel: Kernel) -> None:
    subshell = session_kernel.create_subshell()
    numbers = [1]
    for i in range(5):
        summary = turn_summary(
            session_kernel, f'turn = await session.send("message {i}")', subshell=subshell
        )
        assert summary["status"] == "ok", summary
        assert summary["text"].startswith(f'You said: "message {i}"'), summary
        numbers.append(summary["turn"])
    assert numbers == [1, 2, 3, 4, 5, 6]
    assert session_kernel.value("[t.status for t in session.log]") == ["ok"] * 6


def test_cancel_from_a_subshell_stops_a_slow_turn_started_there(session_kernel: Kernel) -> None:
    subshell = session_kernel.create_subshell()
    # The slow turn runs as a task on the subshell's loop, like a Send click's.
    session_kernel.run(
        'import asyncio; slow = asyncio.ensure_future(session.send("slow please"))',
        subshell=subshell,
    )
    wait_for_tokens(session_kernel, turn=2)
    summary = turn_summary(
        session_kernel,
        "assert session.cancel()\nturn = await asyncio.wait_for(slow, 5)",
        subshell=subshell,
    )
    assert summary["status"] == "cancelled", summary
    assert summary["text"], "what streamed before Stop is kept"
    assert session_kernel.value("[t.turn for t in session.log]") == [1, 2]


def test_cancel_from_a_subshell_stops_a_slow_turn_on_the_main_loop(
    session_kernel: Kernel,
) -> None:
    subshell = session_kernel.create_subshell()
    running = session_kernel.submit(
        'turn = await session.send("slow please")\nprint(turn.status, turn.turn)'
    )
    wait_for_tokens(session_kernel, turn=2)
    assert session_kernel.run("print(session.cancel())", subshell=subshell).strip() == "True"
    out = session_kernel.wait(running, timeout=5, what="the cancelled turn")
    assert out.split() == ["cancelled", "2"]


def test_close_from_a_subshell(session_kernel: Kernel) -> None:
    subshell = session_kernel.create_subshell()
    session_kernel.run("session.close()", subshell=subshell)
    assert session_kernel.value("session.closed") is True


PLAYGROUND = """
from mistral_nb.ui import playground
pg = playground(session)
chat = pg.chat_panel
print(json.dumps({name: getattr(chat, name).model_id
                  for name in ("message", "send_button", "stop_button")}))
"""

PANEL_STATE = (
    "{'send_disabled': chat.send_button.disabled, 'stop_disabled': chat.stop_button.disabled,"
    " 'status': chat.status.text, 'transcript': chat.transcript_html,"
    " 'log': [[t.turn, t.status] for t in session.log]}"
)


def open_playground(kernel: Kernel) -> dict[str, str]:
    out = kernel.run("import json\n" + PLAYGROUND)
    return dict(json.loads(out.strip().splitlines()[-1]))


def send_from_panel(kernel: Kernel, ids: dict[str, str], subshell: str, text: str) -> None:
    kernel.set_widget(ids["message"], subshell, value=text)
    kernel.until("chat.message.value", lambda v: v == text, what="the typed message")
    kernel.click(ids["send_button"], subshell)


def test_five_sends_from_the_playground_through_a_subshell(session_kernel: Kernel) -> None:
    ids = open_playground(session_kernel)
    subshell = session_kernel.create_subshell()  # JupyterLab's subshell for jupyter.widget
    for i in range(5):
        send_from_panel(session_kernel, ids, subshell, f"panel message {i}")
        state = session_kernel.until(
            PANEL_STATE,
            lambda s, n=i + 2: len(s["log"]) == n and not s["send_disabled"],
            what=f"send {i + 1} of 5 from the panel",
        )
        assert state["log"][-1] == [i + 2, "ok"]
        assert f'You said: "panel message {i}"' in html.unescape(state["transcript"])
        assert state["stop_disabled"]
    numbers = [number for number, _ in state["log"]]
    assert numbers == sorted(set(numbers))


def test_stop_in_the_playground_through_a_subshell(session_kernel: Kernel) -> None:
    ids = open_playground(session_kernel)
    subshell = session_kernel.create_subshell()
    send_from_panel(session_kernel, ids, subshell, "slow please")
    wait_for_tokens(session_kernel, turn=2)
    session_kernel.click(ids["stop_button"], subshell)
    state = session_kernel.until(
        PANEL_STATE, lambda s: not s["send_disabled"], timeout=5, what="the panel after Stop"
    )
    assert state["log"][-1] == [2, "cancelled"]
    assert "cancelled before sending" not in state["status"]
    assert re.search(r"\bcancelled\b", html.unescape(state["transcript"]))
    # The next turn gets a new number and works.
    send_from_panel(session_kernel, ids, subshell, "after stop")
    state = session_kernel.until(
        PANEL_STATE,
        lambda s: len(s["log"]) == 3 and not s["send_disabled"],
        what="the turn after Stop",
    )
    assert state["log"] == [[1, "ok"], [2, "cancelled"], [3, "ok"]]
