"""Interrupting a real kernel mid-reply (Jupyter's stop button) never hangs the session.

Twenty interrupts at random moments of a blocking ``session.ask()``: each one that lands
during the turn ends it "cancelled", logged with what streamed, and the next turn works.
"""

from __future__ import annotations

import json
import random
import time

import pytest
from jupyter_client.manager import start_new_kernel

INTERRUPTS = 20


def run(client, code: str, timeout: float = 60) -> tuple[str, str]:
    """Execute ``code``; return (status, stdout)."""
    msg_id = client.execute(code)
    out: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{code!r} did not finish in {timeout} s; output so far {out}")
        msg = client.get_iopub_msg(timeout=remaining)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    while True:
        reply = client.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]["status"], "".join(out)


@pytest.fixture
def kernel():
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_twenty_random_interrupts_during_ask(kernel):
    manager, client = kernel
    status, _ = run(
        client,
        "import mistral_nb as mnb\n"
        "local = mnb.LocalMistral(api_key='k-0123456789', token_delay=0.01, reply_tokens=150)\n"
        "local.start()\n"
        "session = mnb.Session(api_key='k-0123456789', base_url=local.base_url)\n",
    )
    assert status == "ok", _
    rng = random.Random(20261129)
    landed = logged = sent = 0
    for attempt in range(INTERRUPTS):
        # stop_on_error=False: the interrupted cell must not abort the cells after it.
        msg_id = client.execute(f"turn = session.ask('story {attempt}')", stop_on_error=False)
        time.sleep(rng.uniform(0.05, 1.2))
        manager.interrupt_kernel()
        # Wait for that cell to end (interrupted or done).
        while True:
            msg = client.get_shell_msg(timeout=30)
            if msg["parent_header"].get("msg_id") == msg_id:
                break
        if msg["content"]["status"] == "error":
            landed += 1
        status, out = run(
            client,
            "import json\n"
            "last = session.log[-1] if len(session.log) else None\n"
            "print(json.dumps([len(session.log), last and last.status, session.busy,"
            " len(local.requests)]))",
        )
        assert out.strip(), (status, out, msg["content"])
        count, last_status, busy, requests = json.loads(out.strip().splitlines()[-1])
        assert busy is False, out
        if count == logged + 1:
            # The turn was sent: it is logged once, cancelled if the interrupt hit it.
            assert last_status in ("ok", "cancelled"), out
            if msg["content"]["status"] == "error":
                assert last_status == "cancelled", out
        else:
            # The interrupt landed before anything was sent: no turn, no request.
            assert count == logged and requests == sent, out
        logged, sent = count, requests
        status, out = run(client, "print(session.ask('quick check').status)")
        assert status == "ok" and out.strip() == "ok", out
        logged += 1
        sent += 1
    assert landed >= INTERRUPTS // 2, f"only {landed} interrupts landed mid-turn"
    # Turn numbers never repeat.
    status, out = run(
        client,
        "numbers = [t.turn for t in session.log]\nprint(len(set(numbers)) == len(numbers) == len(session.log))",
    )
    assert out.strip() == "True", out
