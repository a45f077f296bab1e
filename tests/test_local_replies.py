"""What LocalMistral answers: tool calls, tool-result answers, images, JSON, scripts."""

from __future__ import annotations

import base64
import io
import json
import re

import httpx
import openai
import pytest
from PIL import Image

from mistral_nb import LocalMistralError
from mistral_nb._images import estimate_image_tokens
from mistral_nb.local import LocalMistral, ToolCall

MODEL = "mistral-small-latest"


def function(name: str, properties: dict, required: list[str] | None = None) -> dict:
    parameters = {"type": "object", "properties": properties}
    if required is not None:
        parameters["required"] = required
    return {
        "type": "function",
        "function": {"name": name, "description": name, "parameters": parameters},
    }


WEATHER = function(
    "get_weather",
    {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    ["city"],
)
TIME = function("get_time", {"timezone": {"type": "string", "default": "UTC"}}, ["timezone"])
BOOK = function(
    "book_table",
    {
        "restaurant": {"type": "string"},
        "people": {"type": "integer", "minimum": 1},
        "date": {"type": "string", "format": "date"},
        "vegan": {"type": "boolean"},
    },
    ["restaurant", "people", "date"],
)


@pytest.fixture
def server():
    with LocalMistral() as running:
        yield running


def post(server: LocalMistral, body: dict) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/chat/completions",
        json=body,
        headers={"Authorization": "Bearer k"},
        timeout=10,
    )


def ask(server, text: str, tools=None, **extra) -> dict:
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}
    if tools is not None:
        body["tools"] = tools
    response = post(server, body)
    assert response.status_code == 200, response.text
    return response.json()


def calls_of(reply: dict) -> list[tuple[str, dict]]:
    message = reply["choices"][0]["message"]
    return [
        (c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in message["tool_calls"] or ()
    ]


# -- tool calls ------------------------------------------------------------------------


def test_named_tool_is_called_with_the_obvious_argument(server):
    reply = ask(server, "What does get_weather say in Paris?", [WEATHER, TIME])
    assert reply["choices"][0]["finish_reason"] == "tool_calls"
    assert reply["choices"][0]["message"]["content"] == ""
    assert calls_of(reply) == [("get_weather", {"city": "Paris"})]
    ident = reply["choices"][0]["message"]["tool_calls"][0]["id"]
    assert re.fullmatch(r"[A-Za-z0-9]{9}", ident)
    assert reply["choices"][0]["message"]["tool_calls"][0]["type"] == "function"


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        ('get_weather city="New York" unit=fahrenheit', {"city": "New York", "unit": "fahrenheit"}),
        ('get_weather {"city": "Lyon", "unit": "celsius"}', {"city": "Lyon", "unit": "celsius"}),
        ("Use get weather for 'Rome' in celsius", {"city": "Rome", "unit": "celsius"}),
        ("call get_weather", {"city": "example"}),
    ],
)
def test_arguments_are_read_from_the_message(server, text, arguments):
    assert calls_of(ask(server, text, [WEATHER])) == [("get_weather", arguments)]


def test_arguments_fall_back_to_schema_placeholders(server):
    reply = ask(server, "book_table at 'Chez Nous' people=4 please", [BOOK])
    assert calls_of(reply) == [
        ("book_table", {"restaurant": "Chez Nous", "people": 4, "date": "2025-01-01"})
    ]
    assert calls_of(ask(server, "get_time now", [TIME])) == [("get_time", {"timezone": "UTC"})]


def test_parallel_calls_arrive_in_one_delta(server):
    body = {
        "model": MODEL,
        "stream": True,
        "tools": [WEATHER, TIME],
        "messages": [{"role": "user", "content": "get_time and get_weather in Oslo"}],
    }
    response = post(server, body)
    data = [
        json.loads(line[6:]) for line in response.text.split("\n\n") if line.startswith("data: {")
    ]
    with_calls = [c for c in data if c["choices"][0]["delta"].get("tool_calls")]
    assert len(with_calls) == 1 and with_calls[0] is data[-1]
    calls = with_calls[0]["choices"][0]["delta"]["tool_calls"]
    assert [c["index"] for c in calls] == [0, 1]
    assert [c["function"]["name"] for c in calls] == ["get_time", "get_weather"]
    assert len({c["id"] for c in calls}) == 2
    assert all(re.fullmatch(r"[A-Za-z0-9]{9}", c["id"]) for c in calls)
    assert json.loads(calls[1]["function"]["arguments"]) == {"city": "Oslo"}
    assert with_calls[0]["choices"][0]["finish_reason"] == "tool_calls"
    assert with_calls[0]["usage"]["completion_tokens"] > 0


def test_openai_client_assembles_parallel_calls(server):
    with openai.OpenAI(base_url=server.base_url, api_key="k") as client:
        stream = client.chat.completions.create(
            model=MODEL,
            stream=True,
            tools=[WEATHER, TIME],
            messages=[{"role": "user", "content": "get_weather in Rome, then get_time"}],
        )
        deltas = [c.choices[0].delta.tool_calls for c in stream if c.choices[0].delta.tool_calls]
    assert len(deltas) == 1
    assert [(c.index, c.function.name) for c in deltas[0]] == [(0, "get_weather"), (1, "get_time")]


def test_parallel_tool_calls_false_calls_one(server):
    reply = ask(server, "get_time and get_weather", [WEATHER, TIME], parallel_tool_calls=False)
    assert [name for name, _ in calls_of(reply)] == ["get_time"]


def test_tool_choice(server):
    assert calls_of(ask(server, "hello", [WEATHER, TIME], tool_choice="any"))[0][0] == "get_weather"
    assert calls_of(ask(server, "hello", [WEATHER, TIME], tool_choice="required"))
    none = ask(server, "get_weather in Paris", [WEATHER], tool_choice="none")
    assert none["choices"][0]["message"]["tool_calls"] is None
    named = ask(
        server,
        "hello",
        [WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert calls_of(named) == [("get_time", {"timezone": "UTC"})]
    plain = ask(server, "hello", [WEATHER, TIME])
    assert plain["choices"][0]["finish_reason"] == "stop"
    assert "Tools on offer: get_weather, get_time" in plain["choices"][0]["message"]["content"]


def test_tool_call_ids_are_deterministic(server):
    first = ask(server, "get_weather in Paris", [WEATHER])
    second = ask(server, "get_weather in Paris", [WEATHER])
    assert first["choices"] == second["choices"]


def test_answer_quotes_the_tool_results(server):
    reply = ask(server, "get_time and get_weather in Oslo", [WEATHER, TIME])
    message = reply["choices"][0]["message"]
    results = [
        {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "12:00"},
        {
            "role": "tool",
            "tool_call_id": message["tool_calls"][1]["id"],
            "content": '{"temperature": 21}',
        },
    ]
    body = {
        "model": MODEL,
        "tools": [WEATHER, TIME],
        "messages": [
            {"role": "user", "content": "get_time and get_weather in Oslo"},
            message,
            *results,
        ],
    }
    answer = post(server, body).json()["choices"][0]
    assert answer["finish_reason"] == "stop"
    assert answer["message"]["content"] == (
        'Based on 2 tool results: get_time returned "12:00"; '
        'get_weather returned "{"temperature": 21}".'
    )


# -- images ----------------------------------------------------------------------------


def data_url(fmt: str, size: tuple[int, int], mode: str = "RGB") -> str:
    buffer = io.BytesIO()
    Image.new(mode, size, "white").save(buffer, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def test_image_is_described(server):
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": data_url("JPEG", (640, 480))}},
    ]
    reply = post(server, {"model": MODEL, "messages": [{"role": "user", "content": content}]})
    text = reply.json()["choices"][0]["message"]["content"]
    assert text.startswith("I see 1 image: 640x480 RGB JPEG.")
    assert 'You asked: "What is in this picture?"' in text


def test_several_images_and_remote_urls(server):
    content = [
        {"type": "image_url", "image_url": data_url("PNG", (32, 16), "RGBA")},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    reply = post(server, {"model": MODEL, "messages": [{"role": "user", "content": content}]})
    text = reply.json()["choices"][0]["message"]["content"]
    assert text.startswith(
        "I see 2 images: 32x16 RGBA PNG; an image at https://example.com/cat.png (not downloaded"
    )


def image_prompt_tokens(server, size, model=MODEL, with_image=True):
    content = [{"type": "text", "text": "What is this?"}]
    if with_image:
        content.append({"type": "image_url", "image_url": data_url("PNG", size)})
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    response = post(server, body)
    assert response.status_code == 200, response.text
    return response.json()["usage"]["prompt_tokens"]


def test_image_tokens_follow_the_model_familys_patch_grid(server):
    def cost(size, model):
        with_image = image_prompt_tokens(server, size, model)
        return with_image - image_prompt_tokens(server, size, model, with_image=False)

    # Small 4: 28 px patches and a break per row, fitted in 1540 px (issue 11: 640x480 on
    # mistral-small costs (23 + 1) x 18 = 432 tokens, not the v3 tokenizer's 1,230).
    assert cost((640, 480), MODEL) == 24 * 18
    assert cost((4000, 4000), MODEL) == 56 * 55
    # Pixtral: 16 px patches, fitted in 1024 px.
    assert cost((32, 32), "pixtral-12b-latest") == 3 * 2
    assert cost((4000, 4000), "pixtral-12b-latest") == 65 * 64


def test_image_tokens_agree_with_the_engines_estimate_for_every_vision_model(server):
    from mistral_nb.local._catalogue import Catalogue

    catalogue = Catalogue()
    vision = [i for i in catalogue.ids() if catalogue.get(i).vision and catalogue.get(i).can_chat]
    assert len(vision) > 20
    for model in vision:
        for size in ((640, 480), (3000, 1000)):
            cost = image_prompt_tokens(server, size, model) - image_prompt_tokens(
                server, size, model, with_image=False
            )
            assert cost == estimate_image_tokens(*size, model=model), (model, size)


# -- JSON replies ----------------------------------------------------------------------


def test_json_object_reply(server):
    reply = ask(server, "hi", response_format={"type": "json_object"})
    assert json.loads(reply["choices"][0]["message"]["content"])["reply"].startswith("You said")


def test_json_schema_reply(server):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 18}},
        "required": ["name", "age"],
    }
    reply = ask(
        server,
        "name=Ada",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema},
        },
    )
    assert json.loads(reply["choices"][0]["message"]["content"]) == {"name": "Ada", "age": 18}


# -- scripts ---------------------------------------------------------------------------


def test_script_is_consumed_in_order_then_deterministic():
    script = [
        "First scripted answer.",
        ToolCall("get_weather", {"city": "Paris"}, id="abcDEF123"),
        [ToolCall("a", '{"x": 1}'), ToolCall("b")],
        lambda body: f"You sent {len(body['messages'])} message(s).",
        lambda body: None,
    ]
    with LocalMistral(script=script) as server:
        replies = [ask(server, "hello") for _ in range(6)]
        assert server.pending_replies == 0
    assert replies[0]["choices"][0]["message"]["content"] == "First scripted answer."
    assert replies[1]["choices"][0]["message"]["tool_calls"] == [
        {
            "id": "abcDEF123",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            "index": 0,  # as recorded in 2026 (042), non-streamed too
        }
    ]
    assert calls_of(replies[2]) == [("a", {"x": 1}), ("b", {})]
    assert replies[2]["choices"][0]["finish_reason"] == "tool_calls"
    assert replies[3]["choices"][0]["message"]["content"] == "You sent 1 message(s)."
    assert replies[4]["choices"][0]["message"]["content"].startswith("You said")
    assert replies[5]["choices"][0]["message"]["content"].startswith("You said")


def test_rejected_requests_do_not_consume_the_script():
    with LocalMistral(script=["scripted"]) as server:
        assert post(server, {"model": "nope", "messages": []}).status_code == 400
        assert ask(server, "hi")["choices"][0]["message"]["content"] == "scripted"


def test_push_adds_replies_later(server):
    server.push("one", ToolCall("f"))
    assert server.pending_replies == 2
    assert ask(server, "hi")["choices"][0]["message"]["content"] == "one"
    assert calls_of(ask(server, "hi")) == [("f", {})]


def test_scripted_text_streams_in_token_pieces_and_obeys_max_tokens(server):
    server.push("Scripted answer with several tokens in it.")
    body = {
        "model": MODEL,
        "stream": True,
        "max_tokens": 3,
        "messages": [{"role": "user", "content": "hi"}],
    }
    text = post(server, body).text
    pieces = [
        json.loads(line[6:])["choices"][0]["delta"]["content"]
        for line in text.split("\n\n")[1:]
        if line.startswith("data: {")
    ]
    assert "".join(pieces) == "Scripted answer"
    assert len(pieces) == 3


def test_a_failing_script_callable_answers_500_and_is_reported(server):
    def broken(body):
        raise RuntimeError("boom")

    server.push(broken)
    response = post(server, {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 500
    assert "boom" in response.json()["message"]
    assert server.errors == ["LocalMistral's scripted reply failed: RuntimeError('boom')"]


@pytest.mark.parametrize("bad", [42, [], ["text", ToolCall("f")], None])
def test_invalid_script_items_fail_at_once(bad):
    with pytest.raises(LocalMistralError, match="A scripted reply must be"):
        LocalMistral(script=[bad])


def test_tool_call_validates_its_fields():
    with pytest.raises(LocalMistralError, match="needs a function name"):
        ToolCall("")
    with pytest.raises(LocalMistralError, match="not JSON-serializable"):
        ToolCall("f", {"when": object()})
    assert ToolCall("f", "{not json").arguments_json() == "{not json"
