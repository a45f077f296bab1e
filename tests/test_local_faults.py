"""Fault injection: every kind of misbehaviour, as a client sees it."""

from __future__ import annotations

import json
import threading
import time

import httpx
import openai
import pytest

from mistral_nb import LocalMistralError
from mistral_nb.local import Fault, LocalMistral, ToolCall

MODEL = "mistral-small-latest"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**BODY, "stream": True}


def post(server: LocalMistral, body: dict = BODY, timeout: float = 10) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/chat/completions",
        json=body,
        headers={"Authorization": "Bearer k"},
        timeout=timeout,
    )


def content_events(text: str) -> list[dict]:
    return [
        json.loads(line[6:])
        for line in text.split("\n\n")
        if line.startswith("data: {") and line.endswith("}")
    ]


# -- status ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "body"),
    [
        (
            400,
            {
                "object": "error",
                "message": "Bad request",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
                "raw_status_code": 400,
            },
        ),
        (401, {"detail": "Invalid API Key"}),
        (404, {"message": "no Route matched with those values", "request_id": ""}),
        (
            422,
            {
                "detail": [
                    {
                        "type": "value_error",
                        "loc": ["body"],
                        "msg": "Value error, injected by LocalMistral",
                        "input": None,
                    }
                ]
            },
        ),
        (
            429,
            {
                "object": "error",
                "message": "Rate limit exceeded",
                "type": "rate_limited",
                "param": None,
                "code": "1300",
                "raw_status_code": 429,
            },
        ),
        (
            500,
            {
                "object": "error",
                "message": "Service unavailable.",  # as recorded (079), even for a 500
                "type": "internal_server_error",
                "param": None,
                "code": "1000",
                "raw_status_code": 500,
            },
        ),
        (
            503,
            {
                "object": "error",
                "message": "Service unavailable.",
                "type": "internal_server_error",
                "param": None,
                "code": "1000",
                "raw_status_code": 503,
            },
        ),
    ],
)
def test_status_faults_send_mistral_bodies(code, body):
    with LocalMistral(faults=[Fault.status(code)]) as server:
        response = post(server)
    assert response.status_code == code
    assert response.json() == body
    assert response.headers["content-type"] == "application/json"
    assert "mistral-correlation-id" in response.headers


def test_403_has_no_body():
    with LocalMistral(faults=[Fault.status(403)]) as server:
        response = post(server)
    assert response.status_code == 403 and response.content == b""


def test_429_carries_retry_after_and_rate_limit_headers():
    with LocalMistral(faults=[Fault.status(429, retry_after=2)]) as server:
        response = post(server)
    headers = response.headers
    assert headers["retry-after"] == "2"
    assert headers["x-ratelimit-remaining-req-minute"] == "0"
    assert headers["x-ratelimit-limit-req-minute"] == "720"
    assert headers["x-ratelimit-remaining-tokens-minute"] == "0"
    assert headers["ratelimitbysize-remaining"] == "0"


def test_custom_status_message_body_and_headers():
    faults = [
        Fault.status(500, message="GPU on fire", on=1),
        Fault.status(502, body="upstream gone", headers={"x-test": "1"}, on=2),
    ]
    with LocalMistral(faults=faults) as server:
        first, second = post(server), post(server)
    assert first.json()["message"] == "GPU on fire"
    assert second.status_code == 502 and second.text == "upstream gone"
    assert second.headers["x-test"] == "1"


def test_on_number_predicate_and_times():
    faults = [
        Fault.status(429, on=2, retry_after=None),
        Fault.status(500, on=lambda body: body["messages"][0]["content"] == "boom"),
        Fault.status(503, on={5, 6}, times=1),
    ]
    boom = {**BODY, "messages": [{"role": "user", "content": "boom"}]}
    with LocalMistral(faults=faults) as server:
        statuses = [post(server, b).status_code for b in (BODY, BODY, BODY, boom, BODY, BODY)]
        exchanges = server.exchanges
    assert statuses == [200, 429, 200, 500, 503, 200]
    assert [e.number for e in exchanges] == [1, 2, 3, 4, 5, 6]
    assert [e.faults for e in exchanges] == [(), ("status",), (), ("status",), ("status",), ()]


def test_openai_client_sees_a_rate_limit_error():
    with (
        LocalMistral(faults=[Fault.status(429, on=1)]) as server,
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client,
        pytest.raises(openai.RateLimitError) as caught,
    ):
        client.chat.completions.create(**BODY)
    assert caught.value.status_code == 429
    assert caught.value.body["code"] == "1300"


def test_faults_act_before_auth_and_validation():
    with LocalMistral(api_key="secret", faults=[Fault.status(503, on=1)]) as server:
        response = httpx.post(f"{server.base_url}/chat/completions", content=b"not json")
        assert response.status_code == 503
        assert server.requests == ["not json"]


# -- timing ------------------------------------------------------------------------------


def test_delay_before_the_first_byte():
    with LocalMistral(faults=[Fault.delay(0.3, on=1)]) as server:
        started = time.monotonic()
        post(server)
        delayed = time.monotonic() - started
        started = time.monotonic()
        post(server)
        prompt = time.monotonic() - started
    assert delayed >= 0.3 and prompt < delayed  # (a loaded machine may take 0.3 s itself)


def test_slow_tokens():
    with LocalMistral(faults=[Fault.slow(0.02)]) as server:
        started = time.monotonic()
        events = content_events(post(server, {**STREAM, "max_tokens": 10}).text)
        elapsed = time.monotonic() - started
    assert len(events) == 11
    assert elapsed >= 9 * 0.02


# -- broken streams ----------------------------------------------------------------------


def test_cut_stream_closes_the_connection_mid_stream():
    with LocalMistral(faults=[Fault.cut(after_tokens=5)]) as server:
        received: list[str] = []
        with (
            pytest.raises(httpx.RemoteProtocolError),
            httpx.stream(
                "POST",
                f"{server.base_url}/chat/completions",
                json=STREAM,
                headers={"Authorization": "Bearer k"},
            ) as response,
        ):
            received.extend(response.iter_lines())
        assert server.exchanges[0].status == 200
        assert server.exchanges[0].faults == ("cut",)
    events = [json.loads(line[6:]) for line in received if line.startswith("data: ")]
    assert len(events) == 1 + 5
    assert all(e["choices"][0]["finish_reason"] is None for e in events)
    assert "data: [DONE]" not in received


def test_cut_stream_surfaces_in_the_openai_client():
    seen = []
    with (
        LocalMistral(faults=[Fault.cut(after_tokens=3)]) as server,
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client,
        pytest.raises(openai.APIError),
    ):
        for chunk in client.chat.completions.create(**STREAM):
            seen.append(chunk.choices[0].delta.content)
    assert seen == ["", "You", " said", ":"]


def test_cut_without_streaming_sends_nothing():
    with LocalMistral(faults=[Fault.cut()]) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            post(server)
        assert server.exchanges[0].status is None


def test_malformed_sse_line():
    with LocalMistral(faults=[Fault.malformed(after_tokens=2)]) as server:
        text = post(server, STREAM).text
        with (
            openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client,
            pytest.raises(json.JSONDecodeError),
        ):
            list(client.chat.completions.create(**STREAM))
    lines = text.split("\n\n")
    assert lines[3].endswith('"delta":{"content":"brok')
    assert lines[-2] == "data: [DONE]"


def test_malformed_custom_line_and_non_stream():
    faults = [Fault.malformed(line="data: {oops", on=1), Fault.malformed(on=2)]
    with LocalMistral(faults=faults) as server:
        assert "data: {oops\n\n" in post(server, STREAM).text
        broken = post(server)
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.text)


def test_error_finish_reason():
    with LocalMistral(faults=[Fault.error_finish(after_tokens=4)]) as server:
        events = content_events(post(server, STREAM).text)
        plain = post(server).json()
    assert len(events) == 1 + 4
    assert events[-1]["choices"][0]["finish_reason"] == "error"
    assert events[-1]["usage"]["completion_tokens"] == 4
    assert plain["choices"][0]["finish_reason"] == "error"
    assert plain["choices"][0]["message"]["content"] == 'You said: "'


def test_stream_faults_only_fire_on_valid_requests():
    with LocalMistral(faults=[Fault.cut(times=1)]) as server:
        assert post(server, {"model": "nope", "messages": []}).status_code == 400
        with pytest.raises(httpx.RemoteProtocolError):
            post(server)
        assert post(server).status_code == 200


# -- hangs -------------------------------------------------------------------------------


def test_hang_until_the_client_gives_up():
    with LocalMistral(faults=[Fault.hang(on=1)]) as server:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            post(server, timeout=0.3)
        assert time.monotonic() - started < 2
        assert post(server).status_code == 200


def test_stop_does_not_wait_for_a_hanging_request():
    server = LocalMistral(faults=[Fault.hang()]).start()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            post(server, timeout=30)
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    server.wait_for_requests(1)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    thread.join(timeout=5)
    assert isinstance(errors[0], httpx.RemoteProtocolError)


# -- the API -----------------------------------------------------------------------------


def test_inject_adds_faults_at_run_time():
    with LocalMistral() as server:
        assert post(server).status_code == 200
        server.inject(Fault.status(500, on=2))
        assert post(server).status_code == 500


def test_a_failing_predicate_is_reported_not_fatal():
    with LocalMistral(faults=[Fault.status(500, on=lambda body: body["missing"])]) as server:
        assert post(server).status_code == 200
        assert server.errors and "KeyError" in server.errors[0]


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Fault.status(200), "HTTP error code"),
        (lambda: Fault.status(429, on=0), "1-based request number"),
        (lambda: Fault.cut(on="first"), "1-based request number"),
        (lambda: Fault.delay(1, times=0), "times="),
        (lambda: Fault.delay(-1), "must not be negative"),
        (lambda: Fault("explode"), "Unknown fault kind"),
    ],
)
def test_bad_faults_fail_at_once(build, match):
    with pytest.raises(LocalMistralError, match=match):
        build()


def test_inject_refuses_non_faults():
    with pytest.raises(LocalMistralError, match="takes Fault objects"):
        LocalMistral(faults=["429"])  # type: ignore[list-item]


def test_cut_before_a_streamed_tool_call():
    with LocalMistral(script=[ToolCall("f")], faults=[Fault.cut()]) as server:
        received: list[str] = []
        with (
            pytest.raises(httpx.RemoteProtocolError),
            httpx.stream(
                "POST",
                f"{server.base_url}/chat/completions",
                json=STREAM,
                headers={"Authorization": "Bearer k"},
            ) as response,
        ):
            received.extend(response.iter_lines())
    assert [line for line in received if line] == [received[0]]
    assert '"role":"assistant"' in received[0]
