"""Hostile request bodies: LocalMistral always answers like Mistral, and keeps serving.

One LocalMistral serves the whole module. ``POST /v1/chat/completions`` receives random
bytes, random JSON, and mutations of valid requests: keys dropped, duplicated (in the JSON
text) or retyped, wrong roles, garbage tool calls, huge numbers, NaN-ish strings and bare
``NaN`` tokens, nesting, unicode, image_url data URLs with garbage base64 or damaged
images, stream true and false. Properties, for every body:

* an answer comes (no hang, no dropped connection) and it is never a 5xx;
* 200 non-stream is a ``chat.completion`` object with ``n`` choices and usage;
* 200 stream is a well-formed SSE stream of ``chat.completion.chunk`` events ending in
  ``data: [DONE]``, with a finish reason and usage on the last chunk;
* 422 is FastAPI's ``{"detail": [{"type", "loc": ["body", ...], "msg", ...}]}``;
* any other 4xx is Mistral's ``{"object": "error", "message", "type", "param", "code"}``;
* a valid request right afterwards still gets 200.

The tests at the end pin what the fuzzing found: nesting deep enough to overflow the stack
(copying or parsing it), lone surrogates echoed in an error, images past Pillow's bomb limits,
NaN echoed in a 422, a huge ``n``. tests/test_local_hostile.py pins the answers to them.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from fuzzing import SCALE, fuzz
from hypothesis import currently_in_test_context, event, given
from hypothesis import strategies as st
from PIL import Image

import mistral_nb as mnb

pytestmark = pytest.mark.timeout(90 * SCALE)

MODEL = "mistral-small-latest"
VALID = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def server():
    server = mnb.LocalMistral()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(server):
    headers = {"Authorization": f"Bearer {server.api_key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10.0) as client:
        yield client


# -- what an answer must look like -------------------------------------------------------


def _event(what: str) -> None:
    """Count outcomes for --hypothesis-show-statistics (outside a hypothesis test: no-op)."""
    if currently_in_test_context():
        event(what)


def check_error(response: httpx.Response) -> None:
    body = response.json()
    if response.status_code == 422:
        assert set(body) == {"detail"} and isinstance(body["detail"], list) and body["detail"]
        for item in body["detail"]:
            assert isinstance(item["type"], str) and isinstance(item["msg"], str)
            assert isinstance(item["loc"], list) and item["loc"][0] == "body"
        _event(f"422 {body['detail'][0]['type']}")
        return
    assert body["object"] == "error", body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["type"], str) and body["type"]
    assert "param" in body and "code" in body
    _event(f"{response.status_code} {body['type']}")


def check_completion(response: httpx.Response, n: int) -> None:
    body = response.json()
    assert body["object"] == "chat.completion"
    assert isinstance(body["id"], str) and isinstance(body["model"], str)
    assert [c["index"] for c in body["choices"]] == list(range(n))
    for choice in body["choices"]:
        assert choice["message"]["role"] == "assistant"
        assert choice["finish_reason"] in {"stop", "length", "tool_calls", "error"}
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    _event(f"200 {body['choices'][0]['finish_reason']}")


def check_stream(response: httpx.Response, n: int) -> None:
    assert response.headers["content-type"].startswith("text/event-stream")
    text = response.text
    assert text.endswith("data: [DONE]\n\n"), text[-200:]
    events = text.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    chunks = []
    for raw in events[:-2]:
        assert raw.startswith("data: ") and "\n" not in raw, raw[:200]
        chunks.append(json.loads(raw[len("data: ") :]))
    assert chunks
    finished = set()
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert len(chunk["choices"]) == 1
        choice = chunk["choices"][0]
        assert isinstance(choice["delta"], dict)
        if choice["finish_reason"] is not None:
            assert choice["index"] not in finished
            finished.add(choice["index"])
    assert finished == set(range(n))
    assert "usage" in chunks[-1] and chunks[-1]["choices"][0]["finish_reason"] is not None
    _event(f"200 stream {chunks[-1]['choices'][0]['finish_reason']}")


def _requested_n(raw: bytes) -> int:
    """The ``n`` of a request that was answered with 200, so is valid JSON."""
    return json.loads(raw).get("n") or 1


def post_and_check(client: httpx.Client, raw: bytes) -> httpx.Response:
    """POST ``raw``; the answer is a completion, a stream or a Mistral-style 4xx; then a
    valid request still succeeds."""
    response = client.post("/chat/completions", content=raw)
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        check_error(response)
    else:
        assert response.status_code == 200
        if response.headers["content-type"].startswith("text/event-stream"):
            check_stream(response, _requested_n(raw))
        else:
            check_completion(response, _requested_n(raw))
    after = client.post("/chat/completions", json=VALID)
    assert after.status_code == 200, after.text[:500]
    return response


def test_a_valid_request_passes_the_checks(client):
    post_and_check(client, json.dumps(VALID).encode())
    post_and_check(client, json.dumps({**VALID, "stream": True, "n": 2}).encode())


# -- random bodies -------------------------------------------------------------------------

text = st.text(max_size=24)  # never a lone surrogate: those come from the lists below
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),  # NaN and infinities come out as bare NaN / Infinity tokens
    text,
    st.sampled_from(
        ["NaN", "Infinity", "-0", "1e999", "0x10", "", " ", "\u202e", "🤖" * 3, "\ud800", "x\udc00"]
    ),
)
KEYS = [
    "model", "messages", "role", "content", "stream", "n", "tools", "tool_calls", "function",
    "name", "arguments", "type", "text", "image_url", "url", "temperature", "max_tokens",
    "x\udfff",
]  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), text), children, max_size=4),
    ),
    max_leaves=16,
)


def _dumps(value: Any) -> bytes:
    """UTF-8 JSON; with a lone surrogate, which UTF-8 cannot carry, ASCII with escapes."""
    try:
        return json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(value).encode()


@fuzz(150, deadline_s=10)
@given(raw=st.binary(max_size=512))
def test_random_bytes(client, raw):
    post_and_check(client, raw)


@fuzz(200, deadline_s=10)
@given(value=json_values)
def test_random_json(client, value):
    post_and_check(client, _dumps(value))


# -- valid requests, then damaged ------------------------------------------------------------


def _png(size: tuple[int, int] = (3, 2), mode: str = "RGB", fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, "red" if mode != "1" else 1).save(buf, fmt)
    return buf.getvalue()


IMAGES = [_png(), _png(fmt="JPEG"), _png(fmt="GIF"), _png(fmt="WEBP"), _png(fmt="BMP")]
# A two-page PDF (pypdf reads it), made for these tests.
PDF = (Path(__file__).parent / "fixtures" / "local" / "fuzz.pdf").read_bytes()


def _with_dimensions(png: bytes, width: int, height: int) -> bytes:
    """``png`` declaring another size in its header, with a correct CRC."""
    data = bytearray(png)
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


SIZES = [
    (0, 0),
    (0, 7),
    (1, 1),
    (10_000, 1),
    (10_001, 1),
    (65_535, 1),
    (2**31 - 1, 0),
    (9_000, 9_000),
    (9_999, 9_999),  # past Pillow's warning limit
    (20_000, 20_000),  # past its error limit
]


@st.composite
def image_bytes(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(IMAGES))
    how = draw(st.sampled_from(["as is", "truncate", "flip", "garbage", "dimensions"]))
    if how == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if how == "flip":
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    if how == "garbage":
        return draw(st.binary(max_size=64))
    if how == "dimensions":
        size = draw(st.sampled_from(SIZES))
        return _with_dimensions(IMAGES[0], *draw(st.sampled_from([size, size[::-1]])))
    return data


@st.composite
def image_urls(draw: st.DrawFn) -> Any:
    data = draw(image_bytes())
    encoded = base64.b64encode(data).decode()
    prefix = draw(
        st.sampled_from(
            ["data:image/png;base64,", "data:image/jpeg;base64,", "DATA:IMAGE/X-Y;BASE64,", ""]
        )
    )
    url = draw(
        st.sampled_from(
            [
                prefix + encoded,
                prefix + encoded[: len(encoded) // 2],  # padding gone
                prefix + "!!not base64!!",
                prefix + encoded + "====",
                "https://example.com/cat.png",
                "data:image/png;base64,",
                "file:///etc/passwd",
            ]
        )
    )
    return draw(
        st.sampled_from([url, {"url": url}, {"url": url, "detail": "high"}, {"url": url, "x": 1}])
    )


def _tool_call(name: str, arguments: Any, ident: str = "abcDEF123") -> dict[str, Any]:
    return {"id": ident, "type": "function", "function": {"name": name, "arguments": arguments}}


TOOL = {
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


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Message lists that Mistral accepts (and a few it rejects for their order)."""
    kind = draw(
        st.sampled_from(
            ["text", "system", "chunks", "image", "tools", "prefix", "reasoning", "document"]
        )
    )
    user_text = draw(st.one_of(text, st.sampled_from(["weather in Paris?", "get_weather"])))
    if kind == "system":
        return [{"role": "system", "content": draw(text)}, {"role": "user", "content": user_text}]
    if kind == "chunks":
        return [{"role": "user", "content": [{"type": "text", "text": user_text}]}]
    if kind == "image":
        parts = [{"type": "image_url", "image_url": draw(image_urls())}]
        if draw(st.booleans()):
            parts.insert(0, {"type": "text", "text": user_text})
        return [{"role": "user", "content": parts}]
    if kind == "tools":
        arguments = draw(st.one_of(st.just('{"city": "Paris"}'), st.just({"city": "Paris"})))
        return [
            {"role": "user", "content": user_text},
            {"role": "assistant", "content": "", "tool_calls": [_tool_call("get_weather", arguments)]},
            {"role": "tool", "content": draw(text), "tool_call_id": "abcDEF123", "name": "get_weather"},
        ]  # fmt: skip
    if kind == "prefix":
        return [
            {"role": "user", "content": user_text},
            {"role": "assistant", "content": draw(text) or " ", "prefix": True},
        ]
    if kind == "reasoning":  # a reasoning reply sent back in list form
        thinking: dict[str, Any] = {
            "type": "thinking",
            "thinking": [{"type": "text", "text": draw(text)}],
        }
        closed = draw(st.sampled_from([None, True, False]))
        if closed is not None:
            thinking["closed"] = closed
        answer = [thinking, {"type": "text", "text": draw(text) or "ok"}]
        return [
            {"role": "user", "content": user_text},
            {"role": "assistant", "content": answer},
            {"role": "user", "content": draw(text)},
        ]
    if kind == "document":
        data = draw(st.sampled_from([PDF, PDF[: len(PDF) // 2], b"%PDF-1.4 garbage", b""]))
        url = draw(
            st.sampled_from(
                [
                    "data:application/pdf;base64," + base64.b64encode(data).decode(),
                    "https://example.com/paper.pdf",
                    "data:application/pdf;base64,!!",
                ]
            )
        )
        return [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": user_text},
                    {"type": "document_url", "document_url": url},
                ],
            }
        ]
    return [{"role": "user", "content": user_text}]


OPTIONAL = {
    "temperature": st.floats(0, 1.5),
    "top_p": st.floats(0.01, 1),
    "max_tokens": st.one_of(st.integers(0, 64), st.integers(0, 2**63)),
    "stream": st.booleans(),
    "stop": st.one_of(text, st.lists(text, max_size=3)),
    "random_seed": st.integers(0, 2**63),
    "n": st.integers(1, 3),
    "presence_penalty": st.floats(-2, 2),
    "frequency_penalty": st.floats(-2, 2),
    "safe_prompt": st.booleans(),
    "parallel_tool_calls": st.booleans(),
    "tools": st.just([TOOL]),
    "tool_choice": st.sampled_from(["auto", "none", "any", "required"]),
    "response_format": st.sampled_from(
        [
            {"type": "text"},
            {"type": "json_object"},
            {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}},
        ]
    ),
    "metadata": st.dictionaries(text, scalars, max_size=2),
    "prompt_mode": st.just("reasoning"),
    "reasoning_effort": st.sampled_from(["none", "minimal", "low", "medium", "high", "xhigh"]),
}
valid_requests = st.builds(
    lambda model, messages, extra: {"model": model, "messages": messages, **extra},
    st.sampled_from(
        [
            MODEL,
            "mistral-large-2411",
            "pixtral-12b",
            "open-mistral-nemo",
            "magistral-small-latest",
            "zai-glm-5-2",
        ]
    ),
    conversations(),
    st.fixed_dictionaries({}, optional=OPTIONAL),
)

HUGE = [
    10**30, -(10**30), 2**63, 2**64 + 1, -1, 1e308, -1e308, 5e-324, float("nan"),
    float("inf"), float("-inf"), "NaN", "Infinity", "-Infinity", "1e999", "", None, True,
]  # fmt: skip
WRONG_ROLES = ["developer", "function", "User", "", "ASSISTANT", None, 1, "tool", "system"]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``value`` (keys and indexes), the root included."""
    found = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*path, i))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    return [*value[:head], _replace(value[head], rest, new), *value[head + 1 :]]


def _drop(value: Any, path: tuple[Any, ...]) -> Any:
    head, rest = path[0], path[1:]
    if rest:
        if isinstance(value, dict):
            return {**value, head: _drop(value[head], rest)}
        return [*value[:head], _drop(value[head], rest), *value[head + 1 :]]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != head}
    return [*value[:head], *value[head + 1 :]]


@st.composite
def mutate_once(draw: st.DrawFn, body: Any) -> Any:
    path = draw(st.sampled_from(_paths(body)))
    how = draw(
        st.sampled_from(
            ["retype", "huge", "drop", "nest", "role", "tool_calls", "add key", "unicode"]
        )
    )
    if how == "retype":
        return _replace(body, path, draw(json_values))
    if how == "huge":
        return _replace(body, path, draw(st.sampled_from(HUGE)))
    if how == "drop" and path:
        return _drop(body, path)
    if how == "nest":
        depth = draw(st.integers(1, 150))  # json_invalid past 200 levels in all
        leaf = draw(scalars)
        for _ in range(depth):
            leaf = draw(st.sampled_from([[leaf], {"a": leaf}]))
        return _replace(body, path, leaf)
    messages = body.get("messages") if isinstance(body, dict) else None
    if how == "role" and isinstance(messages, list) and messages:
        i = draw(st.integers(0, len(messages) - 1))
        if isinstance(messages[i], dict):
            role = draw(st.sampled_from(WRONG_ROLES))
            return _replace(body, ("messages", i), {**messages[i], "role": role})
    if how == "tool_calls" and isinstance(messages, list):
        garbage = draw(
            st.one_of(
                json_values,
                st.lists(
                    st.builds(
                        _tool_call, st.one_of(text, st.just("get_weather")), json_values, text
                    ),
                    max_size=3,
                ),
            )
        )
        message = {
            "role": "assistant",
            "content": draw(st.one_of(st.none(), text)),
            "tool_calls": garbage,
        }
        at = draw(st.integers(0, len(messages)))
        return {**body, "messages": [*messages[:at], message, *messages[at:]]}
    if how == "add key" and isinstance(body, dict):
        return {**body, draw(st.one_of(st.sampled_from(KEYS), text)): draw(json_values)}
    if how == "unicode":
        return _replace(body, path, draw(st.text(min_size=1, max_size=40)))
    return _replace(body, path, draw(json_values))


@st.composite
def mutated_bodies(draw: st.DrawFn) -> bytes:
    body = draw(valid_requests)
    for _ in range(draw(st.integers(0, 3))):
        body = draw(mutate_once(body))
    raw = _dumps(body)
    form = draw(st.sampled_from(["json"] * 6 + ["duplicate key", "truncate", "splice", "bom"]))
    if form == "duplicate key" and raw.startswith(b"{") and len(raw) > 2:
        key = draw(st.sampled_from(["model", "messages", "stream", "n", "tools"]))
        extra = _dumps(key) + b":" + _dumps(draw(json_values))
        first = draw(st.booleans())
        raw = b"{" + extra + b"," + raw[1:] if first else raw[:-1] + b"," + extra + b"}"
    elif form == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif form == "splice":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    elif form == "bom":
        raw = b"\xef\xbb\xbf" + raw
    return raw


@fuzz(150, deadline_s=10)
@given(body=valid_requests)
def test_valid_requests(client, body):
    post_and_check(client, _dumps(body))


@fuzz(500, deadline_s=10)
@given(raw=mutated_bodies())
def test_mutated_requests(client, raw):
    post_and_check(client, raw)


@fuzz(100, deadline_s=10)
@given(url=image_urls(), model=st.sampled_from([MODEL, "mistral-large-2411"]), stream=st.booleans())
def test_images(client, url, model, stream):
    content = [{"type": "text", "text": "what is it?"}, {"type": "image_url", "image_url": url}]
    body = {"model": model, "messages": [{"role": "user", "content": content}], "stream": stream}
    post_and_check(client, _dumps(body))


# -- what the fuzzing found ----------------------------------------------------------------


def _nested(depth: int) -> bytes:
    """A valid request whose metadata holds a string ``depth`` lists deep (built as text:
    json.dumps itself stops at about 1000 levels)."""
    return (
        _dumps(VALID)[:-1]
        + b', "metadata": {"deep": '
        + b"[" * depth
        + b'"hi"'
        + b"]" * depth
        + b"}}"
    )


@pytest.mark.parametrize("depth", [600, 5000])
def test_deeply_nested_bodies_are_refused(client, depth):
    post_and_check(client, _nested(depth))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model": "\\ud800", "messages": [{"role": "user", "content": "hi"}]}',
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "x\\udc00": 1}',
    ],
    ids=["invalid model", "extra key"],
)
def test_lone_surrogates_are_refused(client, raw):
    post_and_check(client, raw)


@pytest.mark.parametrize("size", [(20_000, 20_000), (9_999, 9_999)], ids=["20000", "9999"])
def test_images_past_pillows_bomb_limit_are_answered(client, size):
    url = "data:image/png;base64," + base64.b64encode(_with_dimensions(IMAGES[0], *size)).decode()
    content = [{"type": "image_url", "image_url": url}]
    post_and_check(client, _dumps({**VALID, "messages": [{"role": "user", "content": content}]}))


def _strict_json(text: str) -> Any:
    def refuse(token: str) -> Any:
        raise ValueError(f"{token} is not JSON (RFC 8259)")

    return json.loads(text, parse_constant=refuse)


def test_error_bodies_are_strict_json(client):
    raw = b'{"model": "mistral-small-latest", "messages": [], "temperature": NaN}'
    response = client.post("/chat/completions", content=raw)
    assert response.status_code == 422
    _strict_json(response.text)


def test_a_huge_n_is_bounded(client):
    response = client.post("/chat/completions", json={**VALID, "n": 100_000})
    assert response.status_code >= 400 or len(response.content) < 10_000_000


@fuzz(12, deadline_s=60)
@given(value=json_values, at=st.sampled_from(["metadata", "content"]))
def test_big_bodies_are_recorded_exactly_as_json_reads_them(server, client, value, at):
    """Bodies of 4 MB and more are parsed by LocalMistral's own path (huge strings apart, so
    the GIL is never held long): what it records must equal what json.loads reads."""
    filler = '\\"\u00e9\ud83d\ude00 ' * 350_000  # escapes throughout, a pair at every cut
    body = {"model": MODEL, "messages": [{"role": "user", "content": filler}], "n": 1}
    if at == "metadata":
        body["metadata"] = {"value": value}
    else:
        body["messages"].append({"role": "user", "content": json.dumps(value)})
    raw = _dumps(body)
    assert len(raw) > 4 * 1024 * 1024
    response = client.post("/chat/completions", content=raw)
    assert response.status_code in (200, 400, 422), response.text[:300]
    assert server.requests[-1] == json.loads(raw)
