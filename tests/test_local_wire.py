"""Every shape on the wire (issue 9, point 3): LocalMistral's chunks and bodies have the same
structure as recorded Mistral traffic, in each era, and its errors carry Mistral's envelope.

``fixtures/local/recorded_mistral.json`` holds real api.mistral.ai exchanges (copied from the
project's reference recordings, each with its source). A *skeleton* keeps a value's keys
and their order, the values of a few enumerated fields, and the type of everything else,
so a LocalMistral answer can be compared with a recording shape for shape.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mistral_nb.local import Fault, LocalMistral, Reasoning, ToolCall

RECORDED = json.loads(
    (Path(__file__).parent / "fixtures" / "local" / "recorded_mistral.json").read_text()
)["captures"]
KEPT = {"object", "type", "role", "finish_reason", "service_tier", "closed"}
SMALL = "mistral-small-latest"
WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Gets current weather for a location",
        "parameters": {
            "type": "object",
            "properties": {"latitude": {"type": "string"}, "longitude": {"type": "string"}},
            "required": ["latitude", "longitude"],
        },
    },
}


def skeleton(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: skeleton(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [skeleton(item) for item in value[:2]]  # a list's shape: its first elements
    if key in KEPT or value is None or isinstance(value, bool):
        return value
    return type(value).__name__


def distinct(items: list[Any]) -> list[Any]:
    """Items in order of first appearance, each once."""
    seen: list[Any] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def recorded_stream(name: str) -> list[Any]:
    return [json.loads(line) for line in RECORDED[name]["body"] if line != "[DONE]"]


def post(server: LocalMistral, body: dict, key: str = "k") -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def stream(server: LocalMistral, body: dict) -> list[dict]:
    response = post(server, {**body, "stream": True})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    text = response.text
    assert text.endswith("data: [DONE]\n\n")
    return [json.loads(event[6:]) for event in text[:-2].split("\n\n")[:-1]]


@pytest.fixture(scope="module")
def server():
    with LocalMistral() as running:
        yield running


# -- streams, as recorded in August 2026 ------------------------------------------------


def test_a_text_stream_has_the_shape_of_001(server):
    ours = stream(server, {"model": SMALL, "messages": [{"role": "user", "content": "Count"}]})
    recorded = recorded_stream("001-stream-text-mistral-small-2026-08")
    assert distinct(map(skeleton, ours)) == distinct(map(skeleton, recorded))


def test_a_reasoning_stream_has_the_shape_of_010():
    recorded = recorded_stream("010-stream-thinking-mistral-small-reasoning-high-2026-08")
    # the recording ends "1" (in the transition) then "44": a two-piece answer
    with LocalMistral(script=[Reasoning("The user is asking for 12 * 12.", "144")]) as server:
        ours = stream(server, {"model": SMALL, "messages": [{"role": "user", "content": "?"}]})
    assert distinct(map(skeleton, ours)) == distinct(map(skeleton, recorded))


def test_a_magistral_stream_has_the_shape_of_011():
    recorded = recorded_stream("011-stream-thinking-magistral-small-2026-01")
    script = [
        Reasoning(
            "Alright, let's break it down.", "To see your future self.", transition="separate"
        )
    ]
    with LocalMistral(script=script) as server:
        ours = stream(
            server,
            {"model": "magistral-small-latest", "messages": [{"role": "user", "content": "?"}]},
        )
    without_p = [{k: v for k, v in chunk.items() if k != "p"} for chunk in ours]
    usage_free = lambda shape: {**shape, "usage": None} if "usage" in shape else shape
    ours_shapes = [usage_free(s) for s in distinct(map(skeleton, without_p))]
    recorded_shapes = [usage_free(s) for s in distinct(map(skeleton, recorded))]
    assert ours_shapes == recorded_shapes


def test_a_tool_call_stream_has_the_shape_of_020(server):
    recorded = recorded_stream("020-stream-toolcall-mistral-small-2026-08")
    text = "What's the weather? Use weather with latitude=52.5200 and longitude=13.4050"
    ours = stream(
        server,
        {"model": SMALL, "messages": [{"role": "user", "content": text}], "tools": [WEATHER]},
    )
    assert list(map(skeleton, ours)) == list(map(skeleton, recorded))
    call = ours[1]["choices"][0]["delta"]["tool_calls"][0]
    assert re.fullmatch(r"[A-Za-z0-9]{9}", call["id"])
    assert list(call) == ["id", "type", "function", "index"]
    assert json.loads(call["function"]["arguments"]) == {
        "latitude": "52.5200",
        "longitude": "13.4050",
    }


def test_ids_and_padding(server):
    ours = stream(server, {"model": SMALL, "messages": [{"role": "user", "content": "hi"}]})
    assert re.fullmatch(r"[0-9a-f]{32}", ours[0]["id"])
    assert len({chunk["id"] for chunk in ours}) == 1
    assert "p" not in ours[0]
    assert all(re.fullmatch(r"[a-z0-9]{1,36}", c["p"]) for c in ours[1:])
    assert all("abcdefghijklmnopqrstuvwxyz0123456789".startswith(c["p"]) for c in ours[1:])


# -- non-streamed bodies ------------------------------------------------------------------


def body_of(name: str) -> Any:
    return json.loads(RECORDED[name]["body"])


def test_a_text_body_has_the_shape_of_040(server):
    ours = post(server, {"model": SMALL, "messages": [{"role": "user", "content": "2 + 2?"}]})
    assert skeleton(ours.json()) == skeleton(body_of("040-json-text-mistral-small-2026-08"))


def test_parallel_tool_calls_have_the_shape_of_042():
    script = [[ToolCall("weather", {"latitude": "52.52"}), ToolCall("best_language_to_learn")]]
    with LocalMistral(script=script) as server:
        ours = post(server, {"model": SMALL, "messages": [{"role": "user", "content": "x"}]})
    recorded = body_of("042-json-toolcalls-parallel-mistral-small-2026-08")
    assert skeleton(ours.json()) == skeleton(recorded)
    assert [c["index"] for c in ours.json()["choices"][0]["message"]["tool_calls"]] == [0, 1]


def test_a_reasoning_body_has_the_shape_of_049(server):
    ours = post(
        server,
        {
            "model": SMALL,
            "messages": [{"role": "user", "content": "?"}],
            "reasoning_effort": "high",
        },
    )
    recorded = body_of("049-json-thinking-mistral-small-reasoning-high-2026-08")
    assert skeleton(ours.json()) == skeleton(recorded)


# -- 2024 --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def old():
    with LocalMistral(era="2024") as running:
        yield running


def test_2024_chunks_carry_null_logprobs_usage_and_role(old):
    ours = stream(old, {"model": SMALL, "messages": [{"role": "user", "content": "hi"}]})
    for chunk in ours:
        assert "p" not in chunk
        assert chunk["choices"][0]["logprobs"] is None
    assert all(chunk["usage"] is None for chunk in ours[:-1])
    assert list(ours[-1]["usage"]) == ["prompt_tokens", "total_tokens", "completion_tokens"]
    assert all(chunk["choices"][0]["delta"]["role"] is None for chunk in ours[1:])
    recorded = recorded_stream("006-stream-text-mistral-small-2024-08")
    assert set(skeleton(ours[-1])["choices"][0]) == set(skeleton(recorded[-1])["choices"][0])


def test_2024_tool_calls_have_no_index_nor_type(old):
    text = "Use weather with latitude=1 and longitude=2"
    ours = stream(
        old, {"model": SMALL, "messages": [{"role": "user", "content": text}], "tools": [WEATHER]}
    )
    [call] = ours[1]["choices"][0]["delta"]["tool_calls"]
    recorded = recorded_stream("024-stream-toolcall-parallel-mistral-large-2024-11")
    assert list(call) == list(recorded[1]["choices"][0]["delta"]["tool_calls"][0])  # id, function
    with openai.OpenAI(base_url=old.base_url, api_key="k") as client:
        chunks = list(
            client.chat.completions.create(
                model=SMALL,
                messages=[{"role": "user", "content": text}],
                tools=[WEATHER],
                stream=True,
            )
        )
    assert chunks[1].choices[0].delta.tool_calls[0].function.name == "weather"


def test_2024_bodies_and_errors(old):
    body = post(old, {"model": SMALL, "messages": [{"role": "user", "content": "hi"}]}).json()
    assert list(body) == ["id", "object", "created", "model", "choices", "usage"]
    assert body["choices"][0]["logprobs"] is None
    error = post(old, {"model": "nope", "messages": [{"role": "user", "content": "hi"}]}).json()
    assert error == {
        "object": "error",
        "message": "Invalid model: nope",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    unauthorized = httpx.post(f"{old.base_url}/chat/completions", json={})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["www-authenticate"] == "Key"
    assert unauthorized.json()["message"] == "Unauthorized"


# -- a third-party model, streamed vLLM-style --------------------------------------------------


def test_zai_glm_streams_tool_arguments_in_fragments(server):
    text = "Use weather with latitude=52.5200 and longitude=13.4050"
    body = {
        "model": "zai-glm-5-2",
        "messages": [{"role": "user", "content": text}],
        "tools": [WEATHER],
    }
    ours = stream(server, body)
    calls = [d["tool_calls"][0] for c in ours if (d := c["choices"][0]["delta"]).get("tool_calls")]
    assert len(calls) > 3
    assert re.fullmatch(r"chatcmpl-tool-[0-9a-f]{16}", calls[0]["id"])
    assert calls[0]["function"]["arguments"] == ""
    assert all("id" not in call and call["function"]["name"] == "" for call in calls[1:])
    assert ours[-1]["choices"][0]["delta"] == {"index": 0, "content": ""}
    assert ours[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert "service_tier" not in ours[-1]["usage"]
    arguments = "".join(call["function"]["arguments"] for call in calls)
    assert json.loads(arguments) == {"latitude": "52.5200", "longitude": "13.4050"}
    # an OpenAI client accumulates them by index, and the ids are accepted back
    with openai.OpenAI(base_url=server.base_url, api_key="k") as client:
        reply = client.chat.completions.create(**body)
        call = reply.choices[0].message.tool_calls[0]
        assert call.id.startswith("chatcmpl-tool-")
        follow_up = client.chat.completions.create(
            model="zai-glm-5-2",
            messages=[
                {"role": "user", "content": text},
                reply.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
            ],
            tools=[WEATHER],
        )
    assert "sunny" in follow_up.choices[0].message.content


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "status", "type_", "code", "recorded"),
    [
        (
            "message_order",
            400,
            "invalid_request_message_order",
            "3230",
            "073-error-400-message-order-3230-2025-08",
        ),
        (
            "context_window",
            400,
            "invalid_request_invalid_args",
            "3051",
            "080-error-400-context-window-3051-2026-01",
        ),
        ("rate_limited", 429, "rate_limited", "1300", "077-error-429-rate-limited-1300-2026-02"),
        (
            "internal",
            500,
            "internal_server_error",
            "1000",
            "079-error-500-service-unavailable-1000-2025-08",
        ),
        ("invalid_model", 400, "invalid_model", "1500", None),
        ("tool_call_id", 400, "invalid_function_call", "3280", None),
        ("capacity", 429, "service_tier_capacity_exceeded", "3505", None),
    ],
)
def test_error_cases_carry_mistrals_envelope(case, status, type_, code, recorded):
    with LocalMistral(faults=[Fault.error(case)]) as server:
        response = post(server, {"model": SMALL, "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["object", "message", "type", "param", "code", "raw_status_code"]
    assert (body["type"], body["code"], body["raw_status_code"]) == (type_, code, status)
    assert "retry-after" not in response.headers  # none was ever recorded
    if recorded is not None:
        real = json.loads(RECORDED[recorded]["body"])
        assert {k: v for k, v in body.items() if k != "raw_status_code"}.keys() == real.keys()
        assert (real["type"], real["code"]) == (type_, code)
        if case in ("rate_limited", "internal"):
            assert body["message"] == real["message"]


def test_the_real_rules_answer_with_their_recorded_envelopes(server):
    order = post(
        server,
        {
            "model": SMALL,
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "system", "content": "c"},
                {"role": "user", "content": "d"},
            ],
        },
    ).json()
    real = json.loads(RECORDED["073-error-400-message-order-3230-2025-08"]["body"])
    assert order == {**real, "raw_status_code": 400}
    model = post(server, {"model": "", "messages": [{"role": "user", "content": "a"}]}).json()
    assert (model["message"], model["type"], model["code"]) == (
        "Invalid model: ",
        "invalid_model",
        "1500",
    )


def test_the_401_is_recorded_bytes(server):
    response = httpx.post(f"{server.base_url}/chat/completions", json={})
    assert response.status_code == 401
    assert response.text == RECORDED["070-error-401-invalid-api-key-2026-08"]["body"]
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("style", "shape"),
    [
        ("plain", lambda detail: {"detail": detail}),
        (
            "wrapped",
            lambda detail: {
                "object": "error",
                "message": {"detail": detail},
                "type": "invalid_request_error",
                "param": None,
                "code": None,
                "raw_status_code": 422,
            },
        ),
        (
            "encoded",
            lambda detail: {
                "object": "error",
                "message": json.dumps({"detail": detail}, separators=(",", ":")),
                "type": "internal_error_proxy",
                "param": None,
                "code": "1000",
            },
        ),
    ],
)
def test_422_comes_bare_wrapped_or_encoded(style, shape):
    body = {
        "model": SMALL,
        "messages": [{"role": "user", "content": "x"}],
        "stream_options": {"include_usage": True},
    }
    with LocalMistral(errors_422=style) as server:
        response = post(server, body)
    assert response.status_code == 422
    detail = [
        {
            "type": "extra_forbidden",
            "loc": ["body", "stream_options", "include_usage"],
            "msg": "Extra inputs are not permitted",
            "input": True,
        }
    ]
    assert response.json() == shape(detail)
    if style == "wrapped":  # the 2025-06 recording of the same request, less raw_status_code
        real = json.loads(RECORDED["090-error-422-extra-forbidden-wrapped-2025-06"]["body"])
        assert {k: v for k, v in response.json().items() if k != "raw_status_code"} == real
