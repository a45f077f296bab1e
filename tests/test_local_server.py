"""LocalMistral as a server: lifecycle, threads, auth, /v1/models, history, the public surface."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import openai
import pytest

from mistral_nb import LocalMistralError, local
from mistral_nb.local import LocalMistral

MODEL = "mistral-small-latest"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


REPO = Path(local.__file__).parents[2]
ENV = {
    **os.environ,
    "PYTHONWARNINGS": "ignore",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
}


def server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("LocalMistral")]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# -- lifecycle ---------------------------------------------------------------------------


def test_start_and_stop_leave_no_thread_or_socket():
    before = set(threading.enumerate())
    server = LocalMistral()
    assert server.start() is server
    assert server.start() is server  # idempotent
    port = server.port
    assert server.base_url == f"http://127.0.0.1:{port}/v1"
    assert server.server_url == f"http://127.0.0.1:{port}"
    assert len(server_threads()) == 1
    assert httpx.get(f"{server.base_url}/models", headers={"Authorization": "Bearer k"}).is_success
    server.stop()
    server.stop()  # idempotent
    assert not server.running
    assert set(threading.enumerate()) <= before
    assert port_is_free(port)


def test_restart_after_stop():
    server = LocalMistral()
    with server:
        pass
    with server:
        assert (
            httpx.post(
                f"{server.base_url}/chat/completions",
                json=BODY,
                headers={"Authorization": "Bearer k"},
            ).status_code
            == 200
        )
    assert not server_threads()


def test_misuse_before_start_raises_a_clear_error():
    server = LocalMistral()
    with pytest.raises(LocalMistralError, match="not running.*call start"):
        _ = server.base_url
    assert not server.running


def test_a_taken_port_is_reported():
    with LocalMistral() as first:
        taken = f"could not listen on 127.0.0.1:{first.port}"
        with pytest.raises(LocalMistralError, match=taken):
            LocalMistral(port=first.port).start()
    assert not server_threads()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"api_key": ""}, "api_key"),
        ({"reply_tokens": -1}, "reply_tokens"),
        ({"token_delay": -1}, "must not be negative"),
        ({"port": 70000}, "port"),
        ({"models": [{"id": "x", "context": 3}]}, "Unknown model card field"),
    ],
)
def test_bad_arguments_fail_at_once(kwargs, match):
    with pytest.raises(LocalMistralError, match=match):
        LocalMistral(**kwargs)


async def test_async_context_manager_serves_while_the_loop_is_blocked():
    async with LocalMistral() as server:
        # A blocking client on the caller's loop thread: the server has its own loop.
        with openai.OpenAI(base_url=server.base_url, api_key="k") as client:
            reply = client.chat.completions.create(**BODY)
        assert reply.choices[0].message.content.startswith("You said")
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k") as client:
            replies = await asyncio.gather(
                *(client.chat.completions.create(**BODY, max_tokens=2) for _ in range(5))
            )
        assert len(replies) == 5
    assert not server_threads()


def test_nested_run_until_complete_on_a_busy_loop():
    """A Jupyter-like caller: a loop already running, blocked in a nested run."""
    loop = asyncio.new_event_loop()
    try:
        with LocalMistral() as server:

            async def ask() -> str:
                async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k") as client:
                    reply = await client.chat.completions.create(**BODY)
                return reply.choices[0].message.content

            assert loop.run_until_complete(ask()).startswith("You said")
    finally:
        loop.close()


def test_repr_shows_url_and_state_but_not_the_key():
    server = LocalMistral(api_key="sk-verysecretkey-42")
    assert repr(server) == "<LocalMistral stopped api_key=sk-…42>"
    with server:
        text = repr(server)
        assert text == f"<LocalMistral running {server.base_url} api_key=sk-…42 requests=0>"
    assert "verysecret" not in text
    assert repr(LocalMistral()) == "<LocalMistral stopped api_key=any>"


# -- auth --------------------------------------------------------------------------------


def test_any_non_empty_bearer_token_is_accepted_by_default():
    with LocalMistral() as server:
        url = f"{server.base_url}/chat/completions"
        assert httpx.post(url, json=BODY, headers={"Authorization": "Bearer x"}).status_code == 200
        for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}):
            response = httpx.post(url, json=BODY, headers=headers)
            assert response.status_code == 401
            assert response.content == b'{"detail":"Invalid API Key"}\n'  # as in 2026 (070)
        assert server.api_key == "local-mistral"


def test_a_configured_key_is_required_exactly():
    with LocalMistral(api_key="secret-123") as server:
        url = f"{server.base_url}/chat/completions"
        wrong = httpx.post(url, json=BODY, headers={"Authorization": "Bearer secret-1234"})
        right = httpx.post(url, json=BODY, headers={"Authorization": "Bearer secret-123"})
        models = httpx.get(f"{server.base_url}/models")
        assert server.api_key == "secret-123"
        assert (wrong.status_code, right.status_code, models.status_code) == (401, 200, 401)
        with (
            openai.OpenAI(base_url=server.base_url, api_key="nope", max_retries=0) as client,
            pytest.raises(openai.AuthenticationError),
        ):
            client.chat.completions.create(**BODY)
        # Rejected requests are recorded too; the key never is.
        assert len(server.requests) == 3
        for exchange in server.exchanges:
            assert not any(k.lower() == "authorization" for k in exchange.headers)
            assert "secret" not in repr(exchange)


# -- /v1/models --------------------------------------------------------------------------


def test_models_list_follows_the_snapshot():
    with LocalMistral() as server:
        with openai.OpenAI(base_url=server.base_url, api_key="k") as client:
            ids = [model.id for model in client.models.list()]
        body = httpx.get(f"{server.base_url}/models", headers={"Authorization": "Bearer k"}).json()
    assert body["object"] == "list"
    cards = {card["id"]: card for card in body["data"]}
    assert set(ids) == set(cards)
    medium = cards["mistral-medium-3-5"]
    assert list(medium) == [
        "id",
        "object",
        "created",
        "owned_by",
        "capabilities",
        "name",
        "description",
        "max_context_length",
        "aliases",
        "deprecation",
        "deprecation_replacement_model",
        "default_model_temperature",
        "type",
    ]
    # Since 2026-06 the -latest alias names Medium 3.5 (Mistral's model data, 2026-08).
    assert medium["aliases"] == ["mistral-medium-3", "mistral-medium-latest"]
    assert cards["mistral-medium-latest"]["aliases"] == ["mistral-medium-3-5", "mistral-medium-3"]
    assert medium["capabilities"]["vision"] and medium["capabilities"]["function_calling"]
    assert medium["capabilities"]["reasoning"]
    assert (medium["max_context_length"], medium["default_model_temperature"]) == (262144, 0.3)
    assert cards["mistral-medium-2508"]["aliases"] == []
    assert cards["mistral-medium-2508"]["deprecation_replacement_model"] == "mistral-medium-latest"
    assert cards["mistral-large-latest"]["max_context_length"] == 262144
    assert cards["open-mistral-7b"]["capabilities"]["vision"] is False
    assert cards["open-mistral-7b"]["deprecation"] == "2026-01-31T12:00:00Z"
    assert cards["mistral-embed"]["default_model_temperature"] is None
    assert cards["codestral-latest"]["capabilities"]["completion_fim"] is True


def test_single_model_card_and_unknown_model():
    with LocalMistral() as server:
        headers = {"Authorization": "Bearer k"}
        card = httpx.get(f"{server.base_url}/models/pixtral-12b", headers=headers).json()
        missing = httpx.get(f"{server.base_url}/models/gpt-4o", headers=headers)
    assert card["name"] == "pixtral-12b-2409"
    assert card["deprecation_replacement_model"] == "ministral-14b-latest"
    assert missing.status_code == 404
    assert missing.json()["message"] == "Invalid model: gpt-4o"


def test_models_can_be_added_and_overridden():
    extra = [
        {"id": "my-finetune", "max_context_length": 4096},
        {"id": "mistral-small-latest", "capabilities": {"vision": False}},
        "bare-model",
    ]
    with LocalMistral(models=extra) as server:
        headers = {"Authorization": "Bearer k"}
        body = httpx.get(f"{server.base_url}/models", headers=headers).json()
        reply = httpx.post(
            f"{server.base_url}/chat/completions",
            headers=headers,
            json={**BODY, "model": "my-finetune"},
        )
    cards = {card["id"]: card for card in body["data"]}
    assert cards["my-finetune"]["max_context_length"] == 4096
    assert cards["mistral-small-latest"]["capabilities"]["vision"] is False
    assert cards["mistral-small-latest"]["capabilities"]["function_calling"] is True
    assert "bare-model" in cards
    assert reply.status_code == 200


def test_unknown_routes_get_the_gateway_404():
    with LocalMistral() as server:
        response = httpx.post(f"{server.server_url}/v1/embeddings", json={})
        assert response.status_code == 404
        assert response.json()["message"] == "no Route matched with those values"
        assert server.exchanges[-1].path == "/v1/embeddings"


# -- history -----------------------------------------------------------------------------


def test_requests_and_exchanges_record_what_went_over_the_wire():
    with LocalMistral() as server:
        headers = {"Authorization": "Bearer k", "X-Trace": "t1"}
        httpx.post(f"{server.base_url}/chat/completions", json=BODY, headers=headers)
        httpx.get(f"{server.base_url}/models", headers=headers)
        httpx.post(f"{server.base_url}/chat/completions", json={"model": MODEL}, headers=headers)
        requests, exchanges = server.requests, server.exchanges
        requests[0]["model"] = "mutated"  # a copy: the server's history is untouched
        assert server.requests[0]["model"] == MODEL
        server.reset()
        assert server.requests == [] and server.exchanges == []
    assert [r.get("messages") is not None for r in requests] == [True, False]
    assert [(e.method, e.path, e.status, e.number) for e in exchanges] == [
        ("POST", "/v1/chat/completions", 200, 1),
        ("GET", "/v1/models", 200, None),
        ("POST", "/v1/chat/completions", 422, 2),
    ]
    assert exchanges[0].headers["X-Trace"] == "t1"
    assert exchanges[0].body == BODY


def test_requests_are_thread_safe_under_concurrency():
    with LocalMistral() as server:

        def worker(n: int) -> None:
            body = {**BODY, "messages": [{"role": "user", "content": f"n={n}"}], "max_tokens": 1}
            httpx.post(
                f"{server.base_url}/chat/completions",
                json=body,
                headers={"Authorization": "Bearer k"},
            )

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        numbers = sorted(e.number for e in server.exchanges)
        contents = {r["messages"][0]["content"] for r in server.requests}
    assert numbers == list(range(1, 21))
    assert contents == {f"n={n}" for n in range(20)}


# -- the public surface ------------------------------------------------------------------


def test_public_names():
    assert local.__all__ == sorted(local.__all__)
    assert set(local.__all__) == {
        "Exchange",
        "Fault",
        "LocalMistral",
        "Reasoning",
        "ToolCall",
        "model_card",
        "serve",
    }
    for name in local.__all__:
        # The top-level package may re-export (and re-home) them as mistral_nb.X.
        assert getattr(local, name).__module__ in ("mistral_nb", "mistral_nb.local")


def test_engine_sources_never_import_widgets():
    for path in sorted(Path(local.__file__).parent.glob("*.py")):
        source = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+(ipywidgets|IPython)\b", source, re.MULTILINE), (
            path
        )


def test_serve_prints_the_url_and_stops_on_ctrl_c():
    """The CLI's entry point, in a fresh interpreter (which also shows what it imports)."""
    code = (
        "import sys, mistral_nb.local as m; "
        "print([n for n in sys.modules if n.split('.')[0] in ('ipywidgets', 'IPython')], "
        "flush=True); "
        "m.serve(port=0, api_key='k-123')"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=ENV,
    )
    try:
        assert process.stdout.readline().strip() == "[]"  # the engine never imports widgets
        line = process.stdout.readline()
        match = re.search(r"LocalMistral serving at (http://127\.0\.0\.1:\d+/v1)", line)
        assert match, line
        reply = httpx.post(
            f"{match.group(1)}/chat/completions",
            json=BODY,
            headers={"Authorization": "Bearer k-123"},
            timeout=10,
        )
        assert reply.status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert "LocalMistral stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
