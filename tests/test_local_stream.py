"""LocalMistral's completions on the wire: SSE bytes, non-stream bodies, usage, determinism."""

from __future__ import annotations

import json
import logging
import re
import time
from importlib import resources

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
from mistralai.client import Mistral

from mistral_nb.local import LocalMistral

MODEL = "mistral-small-latest"
HELLO = [{"role": "user", "content": "Hello there, how are you?"}]


@pytest.fixture
def server():
    with LocalMistral() as running:
        yield running


@pytest.fixture(scope="module")
def tokenizer() -> MistralTokenizer:
    """An independent tokenizer, loaded from mistral-common's own data files."""
    path = resources.files("mistral_common") / "data" / "tekken_240911.json"
    with resources.as_file(path) as file:
        return MistralTokenizer.from_file(str(file))


def post(server: LocalMistral, body: dict, key: str = "any-key") -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def events(response: httpx.Response) -> list[str]:
    """The SSE events' data, checking the framing: `data: ...` lines separated by blank lines."""
    text = response.text
    assert text.endswith("\n\n")
    blocks = text[:-2].split("\n\n")
    assert all(block.startswith("data: ") and "\n" not in block for block in blocks)
    return [block[len("data: ") :] for block in blocks]


def chunks(response: httpx.Response) -> list[dict]:
    data = events(response)
    assert data[-1] == "[DONE]"
    parsed = [json.loads(item) for item in data[:-1]]
    for raw, chunk in zip(data, parsed, strict=False):
        assert raw == json.dumps(chunk, ensure_ascii=False, separators=(",", ":")), "not compact"
    return parsed


def test_stream_has_mistral_wire_format(server):
    response = post(server, {"model": MODEL, "messages": HELLO, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert re.fullmatch(r"[0-9a-f-]{36}", response.headers["mistral-correlation-id"])
    parsed = chunks(response)
    first, middle, last = parsed[0], parsed[1:-1], parsed[-1]
    assert re.fullmatch(r"[0-9a-f]{32}", first["id"])
    assert {c["id"] for c in parsed} == {first["id"]}
    assert {c["created"] for c in parsed} == {first["created"]}
    # As recorded in 2026: no padding on the role chunk, ``p`` on every other chunk,
    # usage only on the last one.
    assert list(first) == ["id", "object", "created", "model", "choices"]
    assert all(list(c) == ["id", "object", "created", "model", "choices", "p"] for c in middle)
    assert list(last) == ["id", "object", "created", "model", "choices", "usage", "p"]
    pad = "abcdefghijklmnopqrstuvwxyz0123456789"
    assert all(1 <= len(c["p"]) <= 36 and pad.startswith(c["p"]) for c in parsed[1:])
    assert {c["object"] for c in parsed} == {"chat.completion.chunk"}
    assert {c["model"] for c in parsed} == {MODEL}
    assert first["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    ]
    assert middle and all(list(c["choices"][0]["delta"]) == ["content"] for c in middle)
    assert all(c["choices"][0]["finish_reason"] is None for c in middle)
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["choices"][0]["delta"]["content"]
    usage = last["usage"]
    assert list(usage) == [
        "prompt_tokens",
        "total_tokens",
        "completion_tokens",
        "prompt_tokens_details",
        "service_tier",
    ]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}
    assert usage["service_tier"] == "standard"
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # ASCII reply: one chunk per token.
    assert len(parsed) - 1 == usage["completion_tokens"]


def test_stream_and_non_stream_agree_and_are_deterministic(server):
    body = {"model": MODEL, "messages": HELLO, "temperature": 0.7, "random_seed": 42}
    plain = post(server, body).json()
    again = post(server, body).json()
    streamed = chunks(post(server, {**body, "stream": True}))
    text = "".join(c["choices"][0]["delta"]["content"] for c in streamed)
    assert plain["choices"][0]["message"]["content"] == text
    assert again["choices"] == plain["choices"] and again["usage"] == plain["usage"]
    assert plain["id"] != again["id"]
    assert "temperature 0.7" in text and "random_seed 42" in text and MODEL in text


def test_non_stream_body_shape(server):
    response = post(server, {"model": MODEL, "messages": HELLO})
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["id", "created", "model", "usage", "object", "choices"]  # since 2025-07
    assert body["object"] == "chat.completion"
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])
    choice = body["choices"][0]
    assert list(choice) == ["index", "finish_reason", "message"]
    assert list(choice["message"]) == ["role", "tool_calls", "content"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant" and choice["message"]["tool_calls"] is None
    assert 'You said: "Hello there, how are you?"' in choice["message"]["content"]


def test_usage_matches_an_independent_tokenizer_count(server, tokenizer):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Bonjour, ça va ? 👋 Tell me about Paris."},
    ]
    body = post(server, {"model": MODEL, "messages": messages}).json()
    expected_prompt = tokenizer.encode_chat_completion(ChatCompletionRequest.from_openai(messages))
    content = body["choices"][0]["message"]["content"]
    raw = tokenizer.instruct_tokenizer.tokenizer
    assert body["usage"]["prompt_tokens"] == len(expected_prompt.tokens)
    assert body["usage"]["completion_tokens"] == len(raw.encode(content, bos=False, eos=False))


def test_usage_counts_tools_and_tool_results(server, tokenizer):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    messages = [
        {"role": "user", "content": "get_weather for Paris"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "abcDEF123",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "abcDEF123", "content": "sunny"},
    ]
    body = post(server, {"model": MODEL, "messages": messages, "tools": tools}).json()
    request = ChatCompletionRequest.from_openai(messages, tools=tools)
    assert body["usage"]["prompt_tokens"] == len(tokenizer.encode_chat_completion(request).tokens)


def test_multibyte_characters_are_never_split(server, tokenizer):
    messages = [{"role": "user", "content": "Emoji 👋🏽🎉 and 日本語 and é"}]
    parsed = chunks(post(server, {"model": MODEL, "messages": messages, "stream": True}))
    pieces = [c["choices"][0]["delta"]["content"] for c in parsed]
    assert not any("\ufffd" in piece for piece in pieces)
    text = "".join(pieces)
    assert "👋🏽🎉" in text and "日本語" in text
    tokens = parsed[-1]["usage"]["completion_tokens"]
    raw = tokenizer.instruct_tokenizer.tokenizer
    assert tokens == len(raw.encode(text, bos=False, eos=False))
    assert len(parsed) - 1 < tokens  # byte tokens were regrouped into whole characters


def test_max_tokens_truncates_with_finish_reason_length(server, tokenizer):
    full = post(server, {"model": MODEL, "messages": HELLO}).json()
    cut = post(server, {"model": MODEL, "messages": HELLO, "max_tokens": 7}).json()
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 7
    raw = tokenizer.instruct_tokenizer.tokenizer
    full_ids = raw.encode(full["choices"][0]["message"]["content"], bos=False, eos=False)
    assert cut["choices"][0]["message"]["content"] == raw.decode(full_ids[:7])
    parsed = chunks(
        post(server, {"model": MODEL, "messages": HELLO, "max_tokens": 7, "stream": True})
    )
    assert len(parsed) == 1 + 7
    assert parsed[-1]["choices"][0]["finish_reason"] == "length"
    assert parsed[-1]["usage"]["completion_tokens"] == 7


def test_max_tokens_zero_sends_an_empty_final_chunk(server):
    parsed = chunks(
        post(server, {"model": MODEL, "messages": HELLO, "max_tokens": 0, "stream": True})
    )
    assert len(parsed) == 2
    assert parsed[-1]["choices"][0] == {
        "index": 0,
        "delta": {"content": ""},
        "finish_reason": "length",
    }
    assert parsed[-1]["usage"]["completion_tokens"] == 0


def test_reply_tokens_gives_a_reply_of_exactly_n_tokens(tokenizer):
    with LocalMistral(reply_tokens=2000) as server:
        parsed = chunks(post(server, {"model": MODEL, "messages": HELLO, "stream": True}))
    assert parsed[-1]["usage"]["completion_tokens"] == 2000
    assert len(parsed) - 1 == 2000
    text = "".join(c["choices"][0]["delta"]["content"] for c in parsed)
    raw = tokenizer.instruct_tokenizer.tokenizer
    assert abs(len(raw.encode(text, bos=False, eos=False)) - 2000) <= 2
    assert parsed[-1]["choices"][0]["finish_reason"] == "stop"


def test_stop_sequence_cuts_the_reply(server):
    body = post(server, {"model": MODEL, "messages": HELLO, "stop": ["message"]}).json()
    content = body["choices"][0]["message"]["content"]
    assert "message" not in content and content.startswith("You said")
    assert body["choices"][0]["finish_reason"] == "stop"


def test_n_gives_several_choices(server):
    body = post(server, {"model": MODEL, "messages": HELLO, "n": 2}).json()
    assert [c["index"] for c in body["choices"]] == [0, 1]
    parsed = chunks(post(server, {"model": MODEL, "messages": HELLO, "n": 2, "stream": True}))
    assert {c["choices"][0]["index"] for c in parsed} == {0, 1}
    assert sum(1 for c in parsed if "usage" in c) == 1


def test_openai_client_streams(server):
    with openai.OpenAI(base_url=server.base_url, api_key=server.api_key) as client:
        stream = client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        received = list(stream)
    assert received[0].choices[0].delta.role == "assistant"
    assert received[-1].usage is not None and received[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in received).startswith("You said")


async def test_async_openai_client(server):
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key=server.api_key) as client:
        reply = await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=3)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 3


def test_mistralai_sdk_complete_and_stream(server):
    with Mistral(api_key=server.api_key, server_url=server.server_url) as client:
        reply = client.chat.complete(model=MODEL, messages=HELLO, max_tokens=10)
        with client.chat.stream(model=MODEL, messages=HELLO, max_tokens=10) as stream:
            events_ = list(stream)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 10
    text = "".join(e.data.choices[0].delta.content or "" for e in events_)
    assert text == reply.choices[0].message.content
    assert events_[-1].data.usage.completion_tokens == 10


def test_delays_are_applied(server):
    with LocalMistral(token_delay=0.01, first_token_delay=0.2) as slow:
        started = time.monotonic()
        parsed = chunks(
            post(slow, {"model": MODEL, "messages": HELLO, "max_tokens": 10, "stream": True})
        )
        elapsed = time.monotonic() - started
    assert len(parsed) == 11
    assert 0.2 + 9 * 0.01 <= elapsed < 3


def test_a_client_leaving_mid_stream_is_not_an_error(caplog):
    with LocalMistral(token_delay=0.005, reply_tokens=300) as server:
        with (
            caplog.at_level(logging.ERROR),
            httpx.stream(
                "POST",
                f"{server.base_url}/chat/completions",
                json={"model": MODEL, "messages": HELLO, "stream": True},
                headers={"Authorization": "Bearer k"},
            ) as response,
        ):
            for number, _ in enumerate(response.iter_lines()):
                if number == 5:
                    break
        time.sleep(0.1)  # let the server notice
        assert post(server, {"model": MODEL, "messages": HELLO}).status_code == 200
    assert not [r for r in caplog.records if r.name.startswith("aiohttp")]


@pytest.fixture(scope="module")
def shared_server():
    with LocalMistral() as running:
        yield running


@settings(max_examples=15, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60))
def test_any_text_streams_as_whole_characters(shared_server, tokenizer, text):
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
    plain = post(shared_server, body).json()
    parsed = chunks(post(shared_server, {**body, "stream": True}))
    pieces = [c["choices"][0]["delta"]["content"] for c in parsed]
    content = plain["choices"][0]["message"]["content"]
    assert "".join(pieces) == content
    assert all(piece for piece in pieces[1:])
    if "\ufffd" not in text:
        assert not any("\ufffd" in piece for piece in pieces)
    raw = tokenizer.instruct_tokenizer.tokenizer
    assert plain["usage"]["completion_tokens"] == len(raw.encode(content, bos=False, eos=False))
    request = ChatCompletionRequest.from_openai(body["messages"])
    assert plain["usage"]["prompt_tokens"] == len(tokenizer.encode_chat_completion(request).tokens)
