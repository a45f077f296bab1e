"""LocalMistral under abuse (issue 10, point 8): huge and slow bodies, idle connections,
malformed headers, a bounded history; and one huge body does not stall other clients.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mistral_nb.local import Fault, LocalMistral

MODEL = "mistral-small-latest"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
SECRET = "sk-SECRET-abuse-1234"


def post(server: LocalMistral, **kwargs) -> httpx.Response:
    headers = {"Authorization": "Bearer k", **kwargs.pop("headers", {})}
    return httpx.post(f"{server.base_url}/chat/completions", headers=headers, timeout=30, **kwargs)


def raw_exchange(port: int, data: bytes, wait: float = 1.0) -> bytes:
    """Send raw bytes, return whatever comes back until the server closes or ``wait``."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(data)
        conn.settimeout(wait)
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


# -- sizes ---------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_in_mistrals_envelope():
    with LocalMistral(max_body_bytes=1000) as server:
        big = {"model": MODEL, "messages": [{"role": "user", "content": "x" * 2000}]}
        response = post(server, json=big)
        assert response.status_code == 413
        body = response.json()
        assert body["object"] == "error" and body["raw_status_code"] == 413
        assert body["message"].startswith("Request body too large: ")
        assert "1000 byte limit" in body["message"]
        assert post(server, json=BODY).status_code == 200  # and it keeps serving


def test_a_chunked_body_over_the_limit_is_413_too():
    def chunks():
        for _ in range(20):
            yield b"x" * 100

    with LocalMistral(max_body_bytes=1000) as server:
        response = post(server, content=chunks())  # no Content-Length: counted as it comes
        assert response.status_code == 413
        assert server.requests == [None]


# -- time ----------------------------------------------------------------------------------


def test_a_body_that_trickles_is_cut_off_with_408():
    with LocalMistral(body_timeout=0.5) as server:
        head = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        started = time.monotonic()
        answer = raw_exchange(server.port, head, wait=20)
        assert answer.startswith(b"HTTP/1.1 408")
        assert b"did not arrive within 0.5 s" in answer
        assert time.monotonic() - started < 10  # closed by the server, not by our wait
        assert post(server, json=BODY).status_code == 200


def test_an_idle_connection_is_closed():
    with (
        LocalMistral(idle_timeout=0.3) as server,
        socket.create_connection(("127.0.0.1", server.port)) as conn,
    ):
        conn.settimeout(5)
        started = time.monotonic()
        assert conn.recv(100) == b""  # closed without a word
        assert time.monotonic() - started < 4


def test_a_keep_alive_connection_is_closed_after_idling():
    with (
        LocalMistral(idle_timeout=0.3) as server,
        socket.create_connection(("127.0.0.1", server.port)) as conn,
    ):
        request = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\r\n"
        conn.sendall(request)
        conn.settimeout(5)
        received = b""
        started = time.monotonic()
        while chunk := conn.recv(65536):
            received += chunk
        assert received.startswith(b"HTTP/1.1 200")
        assert time.monotonic() - started < 4


# -- header values are never repeated ------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer " + SECRET.encode() + b"\x01x",
        b"Authorization : Bearer " + SECRET.encode(),
        b"Authorization: Bearer " + SECRET.encode() + b"\rzz",
        b"Authorization: Bearer " + SECRET.encode() + b"\xff",
    ],
    ids=["control", "space-before-colon", "bare-cr", "non-ascii"],
)
def test_a_malformed_authorization_is_neither_echoed_nor_logged(header, caplog, capfd):
    body = json.dumps(BODY).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        + header
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    with caplog.at_level(logging.DEBUG), LocalMistral() as server:
        answer = raw_exchange(server.port, request)
        assert post(server, json=BODY).status_code == 200
    assert SECRET.encode() not in answer  # answered 400 (unparsable) or served: never echoed
    out, err = capfd.readouterr()
    logged = "\n".join(record.getMessage() + str(record.exc_info) for record in caplog.records)
    for text in (out, err, logged):
        assert SECRET not in text


def test_serve_logs_no_header_value(tmp_path):
    port = free_port()
    process = start_serve(port)
    try:
        wait_until_serving(port)
        raw_exchange(
            port,
            b"GET /v1/models HTTP/1.1\r\nAuthorization : Bearer " + SECRET.encode() + b"\r\n\r\n",
        )
        httpx.get(
            f"http://127.0.0.1:{port}/v1/models?key={SECRET}",
            headers={"Authorization": f"Bearer {SECRET}"},
        )
    finally:
        process.terminate()
        out, err = process.communicate(timeout=20)
    assert "GET /v1/models 200" in err
    assert SECRET not in out + err


# -- a bounded history ----------------------------------------------------------------------


def test_history_keeps_the_latest_bodies_and_keeps_counting():
    with LocalMistral(history=3, faults=[Fault.status(503, on=5)]) as server:
        statuses = []
        for number in range(1, 7):
            body = {**BODY, "messages": [{"role": "user", "content": f"message {number}"}]}
            statuses.append(post(server, json=body).status_code)
        kept = [body["messages"][0]["content"] for body in server.requests]
        assert kept == ["message 4", "message 5", "message 6"]
        assert [exchange.number for exchange in server.exchanges] == [4, 5, 6]
        assert statuses == [200, 200, 200, 200, 503, 200]


# -- one huge body does not stall the others ------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_serve(port: int, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "MISTRAL_API_KEY"}
    return subprocess.Popen(
        [sys.executable, "-m", "mistral_nb.cli", "serve", "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).parent,
    )


def wait_until_serving(port: int) -> None:
    for _ in range(1200):  # a loaded machine takes a while to import everything
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": "Bearer k"})
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("mistral-nb serve did not start")


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


_POST_FILE = """
import sys, httpx
body = open(sys.argv[2], "rb").read()
headers = {"Authorization": "Bearer k", "Content-Type": "application/json"}
response = httpx.post(sys.argv[1], content=body, headers=headers, timeout=300)
print(response.status_code, response.json()["message"])
"""


@pytest.mark.timeout(400)
def test_a_50_mb_body_does_not_stall_twenty_streaming_clients(tmp_path):
    """20 clients stream (a chunk every 20 ms) while another posts a 50 MB message: the gaps
    between their chunks stay under 100 ms at the 99th percentile (issue 10, point 8).

    The server runs as ``mistral-nb serve`` and the big body comes from a third process, as
    it would from another user. On a loaded machine the gaps are wider before the big body
    arrives too: the bound allows for the baseline p99 measured in the same run, beyond the
    20 ms the server waits on purpose.
    """
    port = free_port()
    process = start_serve(port, "--token-delay", "0.02", "--reply-tokens", "3000", "--quiet")
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    huge = tmp_path / "huge.json"
    huge.write_text(
        json.dumps(
            {"model": MODEL, "messages": [{"role": "user", "content": "word " * 10_000_000}]}
        )
    )
    assert huge.stat().st_size > 50_000_000
    gaps_by_stream: list[list[tuple[float, float]]] = []

    async def collect(client: httpx.AsyncClient, gaps: list[tuple[float, float]]) -> None:
        async with client.stream("POST", url, json={**BODY, "stream": True}) as response:
            last = None
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                now = time.monotonic()
                if last is not None:
                    gaps.append((now, now - last))
                last = now

    async def run() -> tuple[str, float, float, float]:
        limits = httpx.Limits(max_connections=40)
        headers = {"Authorization": "Bearer k"}
        async with httpx.AsyncClient(limits=limits, headers=headers, timeout=120) as client:
            started = time.monotonic()
            tasks = []
            for _ in range(20):
                gaps: list[tuple[float, float]] = []
                gaps_by_stream.append(gaps)
                tasks.append(asyncio.create_task(collect(client, gaps)))
            await asyncio.sleep(3.0)  # the baseline
            big_started = time.monotonic()
            poster = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _POST_FILE, url, str(huge), stdout=asyncio.subprocess.PIPE
            )
            output, _ = await poster.communicate()
            big_done = time.monotonic()
            await asyncio.sleep(0.5)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return output.decode(), started, big_started, big_done

    try:
        wait_until_serving(port)
        # The clients run in this process: a collection of its (test suite sized) heap would
        # show up as a gap in their streams, not the server's.
        gc.collect()
        gc.disable()
        try:
            answer, started, big_started, big_done = asyncio.run(run())
        finally:
            gc.enable()
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert answer.startswith("400 Prompt contains"), answer
    warm = started + 1.0  # the streams' connections and first chunks are settling
    baseline = [gap for stream in gaps_by_stream for at, gap in stream if warm < at < big_started]
    during = [gap for stream in gaps_by_stream for at, gap in stream if big_started < at < big_done]
    assert len(baseline) > 200 and len(during) > 200
    allowance = max(0.0, p99(baseline) - 0.02)
    print(
        f"p99 gap: baseline {p99(baseline) * 1000:.1f} ms, while the 50 MB body is posted "
        f"{p99(during) * 1000:.1f} ms (max {max(during) * 1000:.1f} ms); the big body was "
        f"answered in {big_done - big_started:.2f} s"
    )
    assert p99(during) < 0.100 + allowance
