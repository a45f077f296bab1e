"""The mistral-nb command: the offline demo and the standalone endpoint."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx

from mistral_nb.cli import main


def test_demo_runs_offline_and_prints_the_three_dataframes(capsys, monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", "sk-not-used-offline")
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for heading in ("session.log.turns()", "session.log.tokens()", "session.log.calls()"):
        assert heading in out
    assert "update_settings(temperature=0.2, max_tokens=64)" in out
    assert "get_weather" in out and "{'city': 'Paris'}" in out
    assert "sk-not-used-offline" not in out


def test_serve_answers_any_client_until_stopped(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "mistral_nb.cli", "serve", "--port", str(port), "--api-key", "k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/v1"
        for _ in range(100):
            try:
                models = httpx.get(f"{base}/models", headers={"Authorization": "Bearer k"})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert models.status_code == 200
        reply = httpx.post(
            f"{base}/chat/completions",
            headers={"Authorization": "Bearer k"},
            json={"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert reply.status_code == 200
        assert reply.json()["choices"][0]["message"]["content"]
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert base in output
