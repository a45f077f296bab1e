"""LocalMistral rejects what Mistral rejects: 422 schema errors, 400 serving rules, context."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import httpx
import pytest
from PIL import Image

from mistral_nb.local import LocalMistral

MODEL = "mistral-small-latest"
USER = {"role": "user", "content": "hi"}
# Copied from the shared reference notes (evidence/pydantic_422_repro.txt): the 422 bodies
# pydantic v2 writes for these requests, mirroring the ones Mistral's server sent.
FIXTURE = Path(__file__).parent / "fixtures" / "local" / "pydantic_422_repro.txt"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def call(ident: str = "abcDEF123", name: str = "get_weather") -> dict:
    return {
        "id": ident,
        "type": "function",
        "function": {"name": name, "arguments": '{"city": "Paris"}'},
    }


def assistant_calls(*calls: dict) -> dict:
    return {"role": "assistant", "content": None, "tool_calls": list(calls)}


def tool(ident: str = "abcDEF123", content: str = "sunny") -> dict:
    return {"role": "tool", "tool_call_id": ident, "name": "get_weather", "content": content}


@pytest.fixture
def server():
    with LocalMistral() as running:
        yield running


def post(server: LocalMistral, body, *, raw: bytes | None = None) -> httpx.Response:
    kwargs = {"content": raw} if raw is not None else {"json": body}
    return httpx.post(
        f"{server.base_url}/chat/completions",
        headers={"Authorization": "Bearer k"},
        timeout=10,
        **kwargs,
    )


def rejected(server, body, status=400) -> dict:
    response = post(server, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def envelope(message: str, type_: str, code: str | None, status: int = 400) -> dict:
    """Mistral's 2026 envelope: ``raw_status_code`` after the code."""
    return {
        "object": "error",
        "message": message,
        "type": type_,
        "param": None,
        "code": code,
        "raw_status_code": status,
    }


# -- 422: the request schema -----------------------------------------------------------

_FIXTURE_REQUESTS = {
    "seed": {"model": "m", "messages": [USER], "seed": 1},
    "max_completion_tokens": {"model": "m", "messages": [USER], "max_completion_tokens": 10},
    "temperature 1.6": {"model": "m", "messages": [USER], "temperature": 1.6},
    "top_p 0": {"model": "m", "messages": [USER], "top_p": 0},
    "n 0": {"model": "m", "messages": [USER], "n": 0},
    "random_seed -1": {"model": "m", "messages": [USER], "random_seed": -1},
    "missing messages": {"model": "m"},
    "developer role": {"model": "m", "messages": [{"role": "developer", "content": "x"}]},
    "user with name": {"model": "m", "messages": [{"role": "user", "content": "x", "name": "bob"}]},
    "tool_choice bad": {"model": "m", "messages": [USER], "tool_choice": "whatever"},
    "tool_call extra name": {
        "model": "m",
        "messages": [USER, {"role": "assistant", "tool_calls": [{**call(), "name": "f"}]}],
    },
    "bad chunk type": {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "input_text", "text": "x"}]}],
    },
    "presence 3": {"model": "m", "messages": [USER], "presence_penalty": 3},
}


def _fixture() -> dict[str, dict]:
    expected = {}
    for line in FIXTURE.read_text().splitlines():
        name, _, payload = line.partition(" -> ")
        expected[name] = json.loads(payload)
    return expected


@pytest.mark.parametrize("case", sorted(_FIXTURE_REQUESTS))
def test_schema_errors_match_the_recorded_422s(server, case):
    expected = _fixture()
    assert set(expected) == set(_FIXTURE_REQUESTS)
    if case == "bad chunk type":
        # The fixture predates document chunks: the union now lists them too, as the real
        # server's does (076: "...TextChunk,ImageURLChunk,DocumentURLChunk,...").
        expected[case] = json.loads(
            json.dumps(expected[case])
            .replace("TextChunk,ImageURLChunk]", "TextChunk,ImageURLChunk,DocumentURLChunk]")
            .replace("'text', 'image_url'", "'text', 'image_url', 'document_url'")
        )
    assert rejected(server, _FIXTURE_REQUESTS[case], 422) == expected[case]


@pytest.mark.parametrize(
    ("field", "value", "error_type", "message"),
    [
        ("temperature", -0.1, "greater_than_equal", "Input should be greater than or equal to 0"),
        ("top_p", 1.1, "less_than_equal", "Input should be less than or equal to 1"),
        ("max_tokens", -1, "greater_than_equal", "Input should be greater than or equal to 0"),
        (
            "frequency_penalty",
            -2.5,
            "greater_than_equal",
            "Input should be greater than or equal to -2",
        ),
        (
            "stream",
            "yes please",
            "bool_parsing",
            "Input should be a valid boolean, unable to interpret input",
        ),
        ("service_tier", "flex", "literal_error", "Input should be 'auto' or 'standard_only'"),
    ],
)
def test_schema_ranges(server, field, value, error_type, message):
    detail = rejected(server, {"model": MODEL, "messages": [USER], field: value}, 422)["detail"]
    assert detail[0]["type"] == error_type
    assert detail[0]["loc"] == ["body", field]
    assert detail[0]["msg"] == message


def test_malformed_json_is_json_invalid(server):
    response = post(server, None, raw=b'{"model": "x", ')
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "json_invalid",
                "loc": ["body", 15],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": "Expecting property name enclosed in double quotes"},
            }
        ]
    }
    assert server.requests == ['{"model": "x", ']


def test_stream_options_include_usage_is_rejected_where_mistral_rejects_it(server):
    body = {"model": MODEL, "messages": [USER], "stream_options": {"include_usage": True}}
    detail = rejected(server, body, 422)["detail"]
    assert detail == [
        {
            "type": "extra_forbidden",
            "loc": ["body", "stream_options", "include_usage"],
            "msg": "Extra inputs are not permitted",
            "input": True,
        }
    ]


def test_missing_message_content_is_field_required(server):
    detail = rejected(server, {"model": MODEL, "messages": [{"role": "user"}]}, 422)["detail"]
    assert detail[0]["type"] == "missing"
    assert detail[0]["loc"] == ["body", "messages", 0, "user", "content"]
    assert detail[0]["msg"] == "Field required"


def test_extra_key_on_assistant_message(server):
    body = {
        "model": MODEL,
        "messages": [USER, {"role": "assistant", "content": "x", "reasoning_content": "hmm"}, USER],
    }
    detail = rejected(server, body, 422)["detail"]
    assert detail[0]["loc"] == ["body", "messages", 1, "assistant", "reasoning_content"]


def test_sdk_shaped_tool_round_trip_is_accepted(server):
    """The mistralai SDK sends `index` in tool calls and `prefix: false` on assistants."""
    messages = [
        USER,
        {
            "role": "assistant",
            "content": "",
            "prefix": False,
            "tool_calls": [{**call(), "index": 0}],
        },
        tool(),
    ]
    response = post(server, {"model": MODEL, "messages": messages, "tools": TOOLS})
    assert response.status_code == 200, response.text


def test_pipecat_prefix_after_tool_result_is_accepted(server):
    messages = [
        USER,
        assistant_calls(call()),
        tool(),
        {"role": "assistant", "content": " ", "prefix": True},
    ]
    response = post(server, {"model": MODEL, "messages": messages, "tools": TOOLS})
    assert response.status_code == 200, response.text
    assert "sunny" in response.json()["choices"][0]["message"]["content"]


# -- 400: serving rules ------------------------------------------------------------------

ORDER = ("invalid_request_message_order", "3230")
FUNCTION = ("invalid_function_call", "3280")
GENERIC = ("invalid_request_error", None)
INVALID_ARGS = ("invalid_request_invalid_args", "3051")

_RULES = {
    "user after tool": (
        [USER, assistant_calls(call()), tool(), USER],
        "Unexpected role 'user' after role 'tool'",
        ORDER,
    ),
    "system after assistant": (
        [USER, {"role": "assistant", "content": "a"}, {"role": "system", "content": "s"}, USER],
        "Unexpected role 'system' after role 'assistant'",
        ORDER,
    ),
    "tool after user": ([USER, tool()], "Unexpected role 'tool' after role 'user'", ORDER),
    "last role assistant": (
        [USER, {"role": "assistant", "content": "a"}],
        (
            "Expected last role User or Tool (or Assistant with prefix True) for serving but got "
            "assistant"
        ),
        ORDER,
    ),
    "empty conversation": ([], "Conversation must have at least one message", ORDER),
    "lone assistant": (
        [{"role": "assistant", "content": "a", "prefix": True}],
        "Conversation must start with a user message or system message",
        ORDER,
    ),
    "prefix not last": (
        [USER, {"role": "assistant", "content": "a", "prefix": True}, USER],
        "Assistant message with prefix True must be last message",
        GENERIC,
    ),
    "missing tool result": (
        [USER, assistant_calls(call(), call("xyzXYZ789")), tool()],
        "Not the same number of function calls and responses",
        ORDER,
    ),
    "unexpected tool result id": (
        [USER, assistant_calls(call()), tool("zzzZZZ999")],
        "Unexpected tool call id zzzZZZ999 in tool results",
        ORDER,
    ),
    "duplicate tool result": (
        [USER, assistant_calls(call(), call("xyzXYZ789")), tool(), tool()],
        "Duplicate tool call id abcDEF123 in tool results",
        ORDER,
    ),
    "duplicate call id": (
        [USER, assistant_calls(call(), call()), tool(), tool()],
        "Duplicate tool call id abcDEF123 in assistant message",
        ORDER,
    ),
    "tool result id format": (
        [USER, assistant_calls(call("turn1_0")), tool("turn1_0")],
        "Tool call id was turn1_0 but must be a-z, A-Z, 0-9, with a length of 9.",
        FUNCTION,
    ),
    "tool result without id": (
        [USER, assistant_calls(call()), {"role": "tool", "content": "x"}],
        "Tool call id has to be defined.",
        GENERIC,
    ),
    "call id null": (
        [USER, assistant_calls(call("null")), tool("null")],
        "Tool call id has to be defined in serving mode.",
        FUNCTION,
    ),
    "function name in call": (
        [USER, assistant_calls(call(name="get weather")), tool()],
        (
            "Function name was get weather but must be a-z, A-Z, 0-9, or contain underscores and "
            "dashes, with a maximum length of 64."
        ),
        FUNCTION,
    ),
    "assistant without content or calls": (
        [USER, {"role": "assistant", "content": ""}, USER],
        "Assistant message must have either content or tool_calls, but not none.",
        GENERIC,
    ),
}


@pytest.mark.parametrize("case", sorted(_RULES))
def test_serving_rules(server, case):
    messages, message, (type_, code) = _RULES[case]
    body = rejected(server, {"model": MODEL, "messages": messages, "tools": TOOLS})
    assert body == envelope(message, type_, code)


def test_tool_message_without_id_on_its_own_is_rejected(server):
    messages = [USER, {"role": "assistant", "content": "ok"}, {"role": "tool", "content": "x"}]
    body = rejected(server, {"model": MODEL, "messages": messages})
    assert body == envelope("Tool call id has to be defined.", *GENERIC)


def test_user_after_tool_can_be_allowed():
    messages = [USER, assistant_calls(call()), tool(), USER]
    with LocalMistral(allow_user_after_tool=True) as lenient:
        response = post(lenient, {"model": MODEL, "messages": messages, "tools": TOOLS})
    assert response.status_code == 200


def test_invalid_function_name_in_tools(server):
    tools = [{"type": "function", "function": {**TOOLS[0]["function"], "name": "get.weather"}}]
    body = rejected(server, {"model": MODEL, "messages": [USER], "tools": tools})
    assert body == envelope(
        "Function name was get.weather but must be a-z, A-Z, 0-9, or contain "
        "underscores and dashes, with a maximum length of 64.",
        *FUNCTION,
    )


def test_invalid_function_name_in_a_tool_message(server):
    messages = [USER, assistant_calls(call()), {**tool(), "name": "get weather"}]
    body = rejected(server, {"model": MODEL, "messages": messages, "tools": TOOLS})
    assert body == envelope(
        "Function name was get weather but must be a-z, A-Z, 0-9, or contain underscores and "
        "dashes, with a maximum length of 64.",
        *FUNCTION,
    )


def test_invalid_tool_schema(server):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "nonsense"}}}]
    body = rejected(server, {"model": MODEL, "messages": [USER], "tools": tools})
    assert body["type"] == "invalid_function_call"
    assert body["message"].startswith("Invalid tool schema: ")


def test_unknown_model(server):
    body = rejected(server, {"model": "gpt-4o", "messages": [USER]})
    assert body == envelope("Invalid model: gpt-4o", "invalid_model", "1500")
    assert rejected(server, {"model": "", "messages": [USER]})["message"] == "Invalid model: "


def test_embedding_model_cannot_chat(server):
    body = rejected(server, {"model": "mistral-embed", "messages": [USER]})
    assert body == envelope("Invalid model: mistral-embed", "invalid_model", "1500")


def test_reasoning_effort_is_refused_by_a_model_without_it(server):
    body = {"model": "mistral-large-latest", "messages": [USER], "reasoning_effort": "high"}
    assert rejected(server, body) == envelope(
        "reasoning_effort='high' is not supported for this model", *INVALID_ARGS
    )


@pytest.mark.parametrize(
    "model", ["mistral-small-latest", "mistral-small-2603", "mistral-medium-3"]
)
def test_reasoning_effort_is_taken_by_small_4_and_medium_3_5(server, model):
    body = {"model": model, "messages": [USER], "reasoning_effort": "high"}
    assert post(server, body).status_code == 200


# -- 400: context window ---------------------------------------------------------------


def test_prompt_over_the_context_window():
    with LocalMistral(models=[{"id": "tiny", "max_context_length": 20}]) as tiny:
        body = rejected(
            tiny, {"model": "tiny", "messages": [{"role": "user", "content": "word " * 40}]}
        )
    match = re.fullmatch(  # the server's wording, as recorded in January 2026 (080)
        r"Prompt contains (\d+) tokens and 0 draft tokens, too large for model with 20 "
        r"maximum context length",
        body["message"],
    )
    assert match and int(match.group(1)) > 40
    assert (body["type"], body["code"], body["raw_status_code"]) == (*INVALID_ARGS, 400)


def test_prompt_plus_max_tokens_over_the_context_window(server):
    body = rejected(server, {"model": MODEL, "messages": [USER], "max_tokens": 262144})
    assert body["message"] == (
        "Prompt contains 4 tokens and max_tokens is 262144 (262148 in total), too large for "
        "model with 262144 maximum context length"
    )
    ok = post(server, {"model": MODEL, "messages": [USER], "max_tokens": 262140})
    assert ok.status_code == 200


# -- 400: images -------------------------------------------------------------------------


def data_url(fmt: str = "PNG", size=(8, 8), mode="RGB", **save) -> str:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, fmt, **save)
    mime = {"JPEG": "jpeg", "PNG": "png", "BMP": "bmp", "GIF": "gif"}[fmt]
    return f"data:image/{mime};base64," + base64.b64encode(buffer.getvalue()).decode()


def image_message(*urls: str) -> dict:
    parts = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return {"role": "user", "content": [{"type": "text", "text": "what is this?"}, *parts]}


def test_image_to_a_model_without_vision(server):
    body = rejected(server, {"model": "open-mistral-7b", "messages": [image_message(data_url())]})
    assert body["message"].startswith("Model open-mistral-7b does not support images")


@pytest.mark.parametrize(
    ("url", "start"),
    [
        ("data:image/png;base64,@@@notbase64", "Image at messages[0].content[1] is neither"),
        (
            "data:image/png;base64," + base64.b64encode(b"plain text").decode(),
            "Image at messages[0].content[1] could not be decoded",
        ),
        (data_url("BMP"), "Image at messages[0].content[1] is BMP; send PNG, JPEG, WEBP"),
    ],
)
def test_unreadable_images(server, url, start):
    body = rejected(server, {"model": MODEL, "messages": [image_message(url)]})
    assert body["message"].startswith(start)


def test_animated_gif(server):
    buffer = io.BytesIO()
    frames = [Image.new("RGB", (4, 4), color) for color in ("red", "blue")]
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    url = "data:image/gif;base64," + base64.b64encode(buffer.getvalue()).decode()
    body = rejected(server, {"model": MODEL, "messages": [image_message(url)]})
    assert "animated GIF" in body["message"]


def test_too_many_images(server):
    body = rejected(server, {"model": MODEL, "messages": [image_message(*[data_url()] * 9)]})
    assert body["message"] == "Too many images in request: 9; at most 8 images are allowed"


def test_oversized_image(server):
    body = rejected(
        server, {"model": MODEL, "messages": [image_message(data_url("PNG", (10001, 1), "1"))]}
    )
    assert "above the 10000x10000 maximum resolution" in body["message"]


def test_image_over_10_mb(server):
    url = "data:image/png;base64," + base64.b64encode(b"\0" * (10 * 1024 * 1024 + 1)).decode()
    body = rejected(server, {"model": MODEL, "messages": [image_message(url)]})
    assert body["message"] == (
        "Image at messages[0].content[1] is 10485761 bytes, over the 10 MB limit per image"
    )


def test_rejected_requests_are_recorded(server):
    bodies = [{"model": MODEL}, {"model": "nope", "messages": [USER]}]
    for body in bodies:
        post(server, body)
    assert server.requests == bodies
    assert [e.status for e in server.exchanges] == [422, 400]
