"""The mistral-nb command: the offline demo and the standalone endpoint."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

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


# -- mistral-nb serve: help, version, errors, keys, the request log ----------------------------


def run_cli(
    *args: str, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mistral_nb.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def in_process(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command in this process (parsing needs no subprocess): code, stdout, stderr."""
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_serve_help_describes_every_flag(capsys):
    code, out, _ = in_process("serve", "--help", capsys=capsys)
    assert code == 0
    flags = [
        "--host",
        "--port",
        "--api-key-file",
        "--api-key",
        "--token-delay",
        "--first-token-delay",
        "--reply-tokens",
        "--era",
        "--errors-422",
        "--reasoning-transition",
        "--allow-user-after-tool",
        "--history",
        "--max-body-mb",
        "--body-timeout",
        "--idle-timeout",
        "--quiet",
    ]
    text = " ".join(out.split())
    for flag in flags:
        assert f"{flag} " in text or f"{flag}," in text, flag
    assert "MISTRAL_API_KEY" in text and "ps" in text  # where the key comes from, and why


def test_version(capsys):
    code, out, _ = in_process("--version", capsys=capsys)
    assert code == 0
    assert out.startswith("mistral-nb ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--port", "http"], "'http' is not a port number"),
        (["serve", "--port", "70000"], "70000 is not a port number"),
        (["serve", "--token-delay", "-1"], "'-1' must not be negative"),
        (["serve", "--era", "1999"], "invalid choice: '1999'"),
        (["serve", "--idle-timeout", "0"], "--idle-timeout must be greater than 0"),
        (["serve", "--api-key-file", "/nonexistent/key.txt"], "cannot read the key file"),
        (["serve", "--api-key", " "], "the API key is empty"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_a_bad_value_is_one_line_and_exit_code_2(args, message, capsys):
    code, _, err = in_process(*args, capsys=capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert message in lines[0]


def test_a_busy_port_is_one_line_and_exit_code_2(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = in_process("serve", "--port", str(port), "--quiet", capsys=capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mistral-nb serve: error: ")
    assert f"could not listen on 127.0.0.1:{port}" in lines[0]


def test_the_command_line_of_a_busy_port_says_so_without_a_traceback():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("serve", "--port", str(port), "--quiet")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr, done.stderr


def serving(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "mistral_nb.cli", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    base = f"http://127.0.0.1:{port}/v1"
    for _ in range(1200):
        try:
            httpx.get(f"{base}/models")
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return process, base


def stop(process: subprocess.Popen) -> tuple[str, str]:
    process.terminate()
    return process.communicate(timeout=30)


def test_the_key_comes_from_a_file_or_the_environment(tmp_path):
    key_file = tmp_path / "key.txt"
    key_file.write_text("sk-from-file\n")  # a trailing newline, as editors write
    process, base = serving("--api-key-file", str(key_file), "--quiet")
    try:
        ok = httpx.post(
            f"{base}/chat/completions",
            headers={"Authorization": "Bearer sk-from-file"},
            json={"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]},
        )
        wrong = httpx.get(f"{base}/models", headers={"Authorization": "Bearer other"})
    finally:
        out, err = stop(process)
    assert (ok.status_code, wrong.status_code) == (200, 401)
    assert "sk-from-file" not in out + err

    env = {**os.environ, "MISTRAL_API_KEY": "sk-from-env"}
    process, base = serving("--quiet", env=env)
    try:
        ok = httpx.get(f"{base}/models", headers={"Authorization": "Bearer sk-from-env"})
        wrong = httpx.get(f"{base}/models", headers={"Authorization": "Bearer other"})
    finally:
        out, err = stop(process)
    assert (ok.status_code, wrong.status_code) == (200, 401)
    assert "sk-from-env" not in out + err


def test_serve_logs_one_line_per_request():
    process, base = serving()
    try:
        headers = {"Authorization": "Bearer k"}
        body = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]}
        httpx.post(f"{base}/chat/completions", headers=headers, json=body)
        httpx.post(f"{base}/chat/completions", headers=headers, json={**body, "stream": True})
        httpx.post(f"{base}/chat/completions", headers=headers, json={**body, "model": "nope"})
        httpx.get(f"{base}/models", headers=headers)
    finally:
        _, err = stop(process)
    lines = [line for line in err.splitlines() if " /v1/" in line][-4:]  # after the probes
    assert len(lines) == 4, err
    pattern = (
        r"\d\d:\d\d:\d\d POST /v1/chat/completions 200 model=mistral-small-latest "
        r"prompt_tokens=\d+ completion_tokens=\d+ \d+\.\dms"
    )
    assert re.fullmatch(pattern, lines[0]) and re.fullmatch(pattern, lines[1])
    assert re.fullmatch(
        r"\S+ POST /v1/chat/completions 400 model=nope prompt_tokens=- completion_tokens=- \S+ms",
        lines[2],
    )
    assert re.fullmatch(
        r"\S+ GET /v1/models 200 model=- prompt_tokens=- completion_tokens=- \S+ms", lines[3]
    )
