"""mnb.sweep against LocalMistral and a strict loopback server: rows, wire, caps, 429s, stops."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time

import pydantic
import pytest
from aiohttp import web
from conftest import TEST_KEY

import mistral_nb as mnb
from mistral_nb.local import Fault, LocalMistral


async def _sweep(local: LocalMistral, **kwargs):
    kwargs.setdefault("progress", False)
    return await mnb.sweep(
        kwargs.pop("prompt", "Say twenty words."),
        api_key=TEST_KEY,
        base_url=local.base_url,
        **kwargs,
    )


async def test_a_2x2x2_sweep_gives_8_rows_with_each_combination_on_the_wire(local):
    grid = {"temperature": [0.0, 0.5], "top_p": [0.9, 1.0], "max_tokens": [5, 8]}
    df = await _sweep(local, grid=grid, concurrency=3)

    assert len(df) == 8 and (df["status"] == "ok").all()
    assert df.attrs["swept"] == ["temperature", "top_p", "max_tokens"]
    combos = {(r.temperature, r.top_p, r.max_tokens) for r in df.itertuples()}
    assert len(combos) == 8
    on_wire = {(b["temperature"], b["top_p"], b["max_tokens"]) for b in local.requests}
    assert on_wire == combos
    # The columns the issue lists, each run's own log reachable.
    for column in (
        "reply",
        "finish_reason",
        "prompt_tokens",
        "completion_tokens",
        "ttfb_s",
        "tokens_per_s",
        "duration_s",
        "cost_usd",
        "n_calls",
    ):
        assert column in df
    assert (df["completion_tokens"] <= df["max_tokens"]).all()
    assert df.loc[0, "log"].turns().loc[0, "response_text"] == df.loc[0, "reply"]
    assert df["cost_usd"].gt(0).all()
    assert df.attrs["summary"]["ok"] == 8 and df.attrs["summary"]["interrupted"] is False


async def test_a_scripted_failure_is_one_error_row_not_a_lost_sweep():
    with LocalMistral(api_key=TEST_KEY, faults=[Fault.status(400, on=3)]) as local:
        df = await _sweep(local, grid={"temperature": [0.0, 0.3, 0.6, 0.9]}, concurrency=2)

    assert len(df) == 4
    errors = df[df["status"] == "error"]
    assert len(errors) == 1
    assert "400" in errors.iloc[0]["error"]
    assert df.attrs["summary"]["errors"] == 1


class StrictServer:
    """Streams a short reply slowly, refuses anything but a well-formed chat request, and
    counts the requests in flight at once."""

    def __init__(self, delay: float = 0.05, pieces: int = 6) -> None:
        self.delay, self.pieces = delay, pieces
        self.in_flight = self.most_in_flight = 0
        self.bodies: list[dict] = []
        self.problems: list[str] = []

    async def chat(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {TEST_KEY}":
            self.problems.append("bad auth")
            return web.json_response({"message": "Unauthorized"}, status=401)
        body = await request.json()
        self.bodies.append(body)
        if not body.get("stream") or not body.get("messages") or not body.get("model"):
            self.problems.append(f"not a streamed chat request: {body}")
            return web.json_response({"message": "bad request"}, status=400)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            response = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            for n in range(self.pieces):
                last = n == self.pieces - 1
                chunk = {
                    "id": "x",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": f"word{n} "},
                            "finish_reason": "stop" if last else None,
                        }
                    ],
                }
                if last:
                    chunk["usage"] = {
                        "prompt_tokens": 5,
                        "completion_tokens": self.pieces,
                        "total_tokens": 5 + self.pieces,
                    }
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
                await asyncio.sleep(self.delay)
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            return response
        finally:
            self.in_flight -= 1


@pytest.fixture
async def strict():
    server = StrictServer()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    yield server
    await runner.cleanup()


async def test_the_concurrency_cap_holds_and_runs_overlap(strict):
    df = await mnb.sweep(
        "Count.",
        grid={"temperature": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]},
        concurrency=3,
        api_key=TEST_KEY,
        base_url=strict.base_url,
        progress=False,
    )

    assert strict.problems == []
    assert (df["status"] == "ok").all() and len(df) == 7
    assert strict.most_in_flight == 3  # never more than the cap, and the cap was used
    assert sorted(b["temperature"] for b in strict.bodies) == sorted(df["temperature"])


async def test_a_429_storm_slows_the_sweep_but_fails_no_run():
    storm = Fault.status(429, on={2, 3, 4, 5})
    with LocalMistral(api_key=TEST_KEY, faults=[storm]) as local:
        df = await _sweep(
            local,
            grid={"temperature": [0.0, 0.5, 1.0]},
            repeats=2,
            concurrency=2,
            first_backoff_s=0.05,
        )

    assert len(df) == 6 and (df["status"] == "ok").all()
    summary = df.attrs["summary"]
    assert summary["rate_limited"] == 4
    assert df["rate_limited"].sum() == 4
    assert summary["waited_s"] > 0
    assert len(local.requests) == 10  # every 429 was tried again


async def test_cancelling_the_sweep_keeps_the_finished_rows():
    with LocalMistral(api_key=TEST_KEY, reply_tokens=20, token_delay=0.02) as local:
        task = asyncio.ensure_future(
            _sweep(local, grid={"temperature": [0.0, 0.2, 0.4, 0.6, 0.8]}, concurrency=1)
        )
        while len(local.requests) < 3:  # two runs are finished, the third is streaming
            await asyncio.sleep(0.01)
        task.cancel()
        df = await task

    assert 2 <= len(df) < 5
    assert (df["status"] == "ok").all()
    assert df.attrs["summary"]["interrupted"] is True
    assert df.attrs["summary"]["runs"] == 5


async def test_a_stop_event_ends_the_sweep_after_the_runs_in_flight(local):
    stop = threading.Event()

    def stop_soon() -> None:
        while len(local.requests) < 2:
            time.sleep(0.005)
        stop.set()

    stopper = threading.Thread(target=stop_soon)
    stopper.start()
    df = await _sweep(local, grid={"random_seed": list(range(12))}, concurrency=2, stop=stop)
    stopper.join()

    assert 2 <= len(df) < 12
    assert df.attrs["summary"]["interrupted"] is True


async def test_the_endpoint_comes_from_the_environment_like_session(local, monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", TEST_KEY)
    monkeypatch.setenv("MISTRAL_BASE_URL", local.base_url)

    df = await mnb.sweep("Hi.", grid={"temperature": [0.0, 1.0]}, progress=False)

    assert (df["status"] == "ok").all()
    assert len(local.requests) == 2


async def test_a_schema_is_sent_and_each_reply_parsed(local):
    class Person(pydantic.BaseModel):
        name: str
        age: int

    df = await _sweep(
        local, prompt="Alice is 31 years old.", grid={"temperature": [0.0, 0.7]}, schema=Person
    )

    assert df["parsed_ok"].all()
    assert all(isinstance(p, Person) for p in df["parsed"])
    assert all(b["response_format"]["type"] == "json_schema" for b in local.requests)


async def test_messages_give_each_run_the_same_conversation(local):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": "What is my name?"},
    ]
    df = await _sweep(local, prompt=messages, grid={"temperature": [0.0, 0.5]})

    assert (df["status"] == "ok").all()
    for body in local.requests:
        assert body["messages"][-3:] == messages[1:]
        assert body["messages"][0] == messages[0]


async def test_distinct_answers_counts_replies_per_combination(local):
    fixed = await _sweep(local, grid={"temperature": [0.7]}, base={"random_seed": 7}, repeats=3)
    seeded = await _sweep(
        local, settings=[{"random_seed": s} for s in (1, 2, 3)], base={"temperature": 0.7}
    )

    assert mnb.distinct_answers(fixed).loc[0, "distinct"] == 1
    per_seed = mnb.distinct_answers(seeded, by=[])
    assert per_seed.loc[0, "runs"] == 3 and per_seed.loc[0, "distinct"] == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"grid": {"temperature": []}}, mnb.ExperimentError, "empty"),
        ({"grid": {"temperature": 0.5}}, mnb.ExperimentError, "list"),
        ({"repeats": 0}, mnb.ExperimentError, "repeats"),
        ({"concurrency": 0}, mnb.ExperimentError, "concurrency"),
        ({"grid": {"temperature": [0.5, 9.0]}}, mnb.SettingsError, "temperature"),
        ({"grid": {"temprature": [0.5]}}, mnb.SettingsError, "temperature"),
        ({"grid": {"top_p": [1]}, "settings": [{}]}, mnb.ExperimentError, "not both"),
    ],
)
async def test_a_sweep_that_cannot_run_says_why_before_sending(local, kwargs, error, words):
    with pytest.raises(error, match=words) as caught:
        await _sweep(local, **kwargs)

    assert isinstance(caught.value, ValueError)
    assert local.requests == []


async def test_plot_sweep_returns_a_labelled_figure(local):
    df = await _sweep(local, grid={"temperature": [0.0, 0.5], "top_p": [0.9, 1.0]}, repeats=2)

    fig = mnb.plot_sweep(df, x="temperature", y="tokens_per_s", hue="top_p")
    ax = fig.axes[0]
    assert "tokens per second" in ax.get_title()
    assert ax.get_xlabel() == "temperature" and ax.get_ylabel() == "tokens per second (tokens/s)"
    assert len(ax.get_legend().get_texts()) == 2

    bars = mnb.plot_sweep(df.assign(model="small"), x="model", y="cost_usd")
    assert bars.axes[0].get_ylabel() == "cost (USD)"
    with pytest.raises(mnb.ExperimentError, match="no column"):
        mnb.plot_sweep(df, x="nope")


async def test_runs_may_call_tools_and_send_images(local):
    from PIL import Image

    calls = []

    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    df = await _sweep(
        local,
        prompt="Use get_weather with city=Paris please",
        grid={"temperature": [0.0, 0.5]},
        tools=[get_weather],  # or a ToolRegistry
    )
    assert (df["n_calls"] == 1).all() and calls == ["Paris", "Paris"]
    assert df.loc[0, "log"].calls().loc[0, "result"] == "sunny in Paris"

    pictures = await _sweep(
        local, prompt="What is this?", grid={"top_p": [0.5]}, images=[Image.new("RGB", (64, 48))]
    )
    assert pictures.loc[0, "status"] == "ok"
    assert "image" in pictures.loc[0, "reply"]
    assert local.requests[-1]["messages"][-1]["content"][-1]["type"] == "image_url"


def test_ctrl_c_in_a_script_keeps_the_finished_rows(tmp_path):
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "interrupted_sweep.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, os, signal, threading, time
            import mistral_nb as mnb
            from mistral_nb.local import LocalMistral

            with LocalMistral(api_key="k", reply_tokens=20, token_delay=0.02) as local:
                def interrupt():
                    while len(local.requests) < 3:
                        time.sleep(0.01)
                    os.kill(os.getpid(), signal.SIGINT)

                threading.Thread(target=interrupt, daemon=True).start()
                df = asyncio.run(mnb.sweep(
                    "Hi.", grid={"temperature": [0.0, 0.2, 0.4, 0.6, 0.8]}, concurrency=1,
                    api_key="k", base_url=local.base_url, progress=False))
                print(len(df), df.attrs["summary"]["interrupted"], set(df["status"]))
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MISTRAL_")}
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    rows, interrupted, statuses = done.stdout.split(maxsplit=2)
    assert 2 <= int(rows) < 5 and interrupted == "True" and statuses.strip() == "{'ok'}"


async def test_the_progress_bar_counts_runs_in_a_terminal(local, capfd):
    await mnb.sweep(
        "Hi.",
        grid={"temperature": [0.0, 0.5, 1.0]},
        api_key=TEST_KEY,
        base_url=local.base_url,
        progress=True,
    )

    shown = capfd.readouterr().err
    assert "sweep" in shown and "3/3" in shown and "errors=0" in shown


async def test_the_shared_backoff_honours_retry_after():
    with LocalMistral(api_key=TEST_KEY, faults=[Fault.status(429, on=1, retry_after=0.1)]) as local:
        df = await _sweep(local, grid={"temperature": [0.0]}, first_backoff_s=2.0)

    assert df.loc[0, "status"] == "ok", df.loc[0, "error"]
    assert df.attrs["summary"]["waited_s"] < 1.0
