"""StreamReshaper on recorded Mistral chunks of every era (tests/fixtures/real_mistral).

Chunks are parsed the way the OpenAI client parses a stream: leniently
(``model_construct``), since ``model_validate`` refuses the list content of
reasoning models that the client lets through.  One test checks that the two
parses agree on the wire.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionChunk
from replay import FIXTURES, ReplayServer, load_capture, stream_payloads

from mistral_nb._pipecat._stream import StreamReshaper, Thinking, cached_tokens

STREAMS = sorted(
    path.stem
    for path in FIXTURES.glob("*.json")
    if json.loads(path.read_text(encoding="utf-8"))["kind"] == "stream"
)
MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}")


def parse(payload: str | dict[str, Any]) -> ChatCompletionChunk:
    data = json.loads(payload) if isinstance(payload, str) else copy.deepcopy(payload)
    return ChatCompletionChunk.model_construct(**data)


def reshape(payloads: list[Any]) -> list[ChatCompletionChunk | Thinking]:
    reshaper = StreamReshaper()
    out: list[ChatCompletionChunk | Thinking] = []
    for payload in payloads:
        out.extend(reshaper.feed(parse(payload)))
    return out


def chunks_of(out: list[ChatCompletionChunk | Thinking]) -> list[ChatCompletionChunk]:
    return [item for item in out if isinstance(item, ChatCompletionChunk)]


def answer(out: list[ChatCompletionChunk | Thinking]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks_of(out) if c.choices)


def thinking(out: list[ChatCompletionChunk | Thinking]) -> str:
    return "".join(item.text for item in out if isinstance(item, Thinking))


def pipecat_calls(out: list[ChatCompletionChunk | Thinking]) -> list[tuple[str, str, str]]:
    """(id, name, arguments) as pipecat 1.14's ``_process_context`` collects them.

    A transcription of its accumulation rule (base_llm.py, 1.14.0): only
    ``tool_calls[0]`` is read, a new call starts when ``index`` differs from a
    counter starting at 0, the id comes from the fragment that has a name.  The
    session tests run the real loop; this pins the contract in unit tests.
    """
    calls: list[tuple[str, str, str]] = []
    func_idx, name, arguments, call_id = 0, "", "", ""
    for chunk in chunks_of(out):
        if not chunk.choices or not chunk.choices[0].delta.tool_calls:
            continue
        call = chunk.choices[0].delta.tool_calls[0]
        if call.index != func_idx:
            calls.append((call_id, name, arguments or "{}"))
            name, arguments, call_id = "", "", ""
            func_idx += 1
        if call.function and call.function.name:
            name += call.function.name
            call_id = call.id or ""
        if call.function and call.function.arguments:
            arguments += call.function.arguments
    if name:
        calls.append((call_id, name, arguments or "{}"))
    return calls


def recorded_text_and_thinking(payloads: list[str]) -> tuple[str, str]:
    """What the recording says the answer and the reasoning are, read straight off the JSON."""
    text, reasoning = [], []
    for payload in payloads:
        delta = json.loads(payload)["choices"][0]["delta"]
        content = delta.get("content")
        if isinstance(content, str):
            text.append(content)
        elif isinstance(content, list):
            for part in content:
                if part["type"] == "text":
                    text.append(part["text"])
                elif part["type"] == "thinking":
                    reasoning.extend(piece["text"] for piece in part["thinking"])
    return "".join(text), "".join(reasoning)


# -- guarantees on every recorded stream ---------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_every_stream_comes_out_in_the_shape_pipecat_reads(name):
    capture = load_capture(name)
    payloads = stream_payloads(capture)
    out = reshape(payloads)
    chunks = chunks_of(out)

    for chunk in chunks:
        delta = chunk.choices[0].delta
        assert delta.content is None or isinstance(delta.content, str)
        assert len(delta.tool_calls or []) <= 1
        for call in delta.tool_calls or []:
            assert isinstance(call.index, int)
    text, reasoning = recorded_text_and_thinking(payloads)
    assert answer(out) == text
    assert thinking(out) == reasoning
    assert all(item.text for item in out if isinstance(item, Thinking))

    last = json.loads(payloads[-1])
    assert chunks[-1].choices[0].finish_reason == last["choices"][0]["finish_reason"]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump(exclude_unset=True) == last["usage"]
    assert [c.usage is not None for c in chunks].count(True) == 1
    assert [c.choices[0].finish_reason is not None for c in chunks].count(True) == 1
    assert {(c.id, c.model, c.created) for c in chunks} == {
        (last["id"], last["model"], last["created"])
    }


@pytest.mark.parametrize("name", STREAMS)
def test_every_tool_call_is_well_formed(name):
    out = reshape(stream_payloads(load_capture(name)))
    seen: dict[int, int] = {}
    for chunk in chunks_of(out):
        for call in chunk.choices[0].delta.tool_calls or []:
            fragment = seen.get(call.index, 0)
            seen[call.index] = fragment + 1
            if fragment == 0:
                assert MISTRAL_ID.fullmatch(call.id or "")
                assert call.function.name and call.type == "function"
            else:
                assert call.id is None and call.function.name is None
    assert sorted(seen) == list(range(len(seen)))
    assert all(name for _, name, _ in pipecat_calls(out))


# -- reasoning -----------------------------------------------------------------


def test_a_mixed_chunk_gives_the_thinking_first_then_the_text():
    # 010: [{"thinking": "4.", "closed": true}, {"text": "1"}] then the string "44".
    out = reshape(stream_payloads(load_capture("010")))
    assert out[-3:-1] == [Thinking("4."), out[-2]]
    assert out[-2].choices[0].delta.content == "1"
    assert out[-2].choices[0].finish_reason is None and out[-2].usage is None
    assert out[-1].choices[0].delta.content == "44"
    assert answer(out) == "144"
    assert thinking(out).startswith("The user is asking for the product of 12 multiplied by 12.")


def test_closed_flags_mark_nothing():
    payloads = stream_payloads(load_capture("010"))
    flagged = [p for p in payloads if '"closed":true' in p]
    assert len(flagged) > 5  # on most thinking deltas mid-stream
    stripped = [p.replace(',"closed":true', "") for p in payloads]
    assert reshape(stripped) == reshape(payloads)


def test_thinking_then_plain_strings_keeps_them_apart():
    # 011: magistral, 2026-01: list deltas, then plain strings, no mixed chunk.
    out = reshape(stream_payloads(load_capture("011")))
    first_text = next(i for i, c in enumerate(out) if not isinstance(c, Thinking) and answer([c]))
    assert all(not isinstance(item, Thinking) for item in out[first_text:])
    assert thinking(out).startswith("Alright, let's break this down.")
    assert answer(out).endswith(" of your future self.")
    assert "thinking" not in answer(out)


def test_an_empty_thinking_element_yields_nothing():
    # s012: [{"type":"thinking","thinking":[]},{"type":"text","text":"To"}]
    out = reshape(stream_payloads(load_capture("s012")))
    assert thinking(out) == "The user wants a greeting."
    assert answer(out) == "To you: hello."
    switch = [c for c in chunks_of(out) if c.choices[0].delta.content == "To"]
    assert len(switch) == 1


def test_a_mixed_chunk_built_from_the_readme_description():
    # "a mixed chunk holding the end of the thinking and the start of the text",
    # with several thinking parts before several text parts.
    base = json.loads(stream_payloads(load_capture("010"))[3])
    base["choices"][0]["delta"]["content"] = [
        {
            "type": "thinking",
            "thinking": [{"type": "text", "text": "so "}, {"type": "text", "text": "144"}],
        },
        {"type": "thinking", "thinking": [], "closed": True},
        {"type": "thinking", "thinking": [{"type": "text", "text": "."}], "closed": True},
        {"type": "text", "text": "The answer"},
        {"type": "text", "text": " is"},
    ]
    out = reshape([base])
    assert out[:2] == [Thinking("so 144"), Thinking(".")]
    assert len(out) == 3 and out[2].choices[0].delta.content == "The answer is"
    assert out[2].p == base["p"]


def test_a_chunk_of_thinking_only_is_not_handed_on_as_an_empty_chunk():
    payload = json.loads(stream_payloads(load_capture("010"))[2])
    assert reshape([payload]) == [Thinking("The")]


def test_text_before_thinking_in_one_chunk_keeps_the_stream_order():
    base = json.loads(stream_payloads(load_capture("010"))[3])
    base["choices"][0]["delta"]["content"] = [
        {"type": "text", "text": "A"},
        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
        {"type": "text", "text": "B"},
    ]
    out = reshape([base])
    assert [answer([o]) if not isinstance(o, Thinking) else o for o in out] == [
        "A",
        Thinking("hmm"),
        "B",
    ]


# -- tool calls of every era --------------------------------------------------


def test_a_2026_call_passes_with_its_own_id_and_index():
    out = reshape(stream_payloads(load_capture("020")))
    calls = [c for c in chunks_of(out) if c.choices[0].delta.tool_calls]
    assert len(calls) == 1
    call = calls[0].choices[0].delta.tool_calls[0]
    assert (call.index, call.id, call.function.name) == (0, "g6fVbXS8K", "weather")
    assert calls[0].choices[0].finish_reason == "tool_calls"
    assert calls[0].usage.prompt_tokens == 159
    assert pipecat_calls(out) == [
        ("g6fVbXS8K", "weather", '{"latitude": "52.5200", "longitude": "13.4050"}')
    ]


def test_parallel_calls_without_index_become_one_chunk_each():
    # 024 (2024-11): two calls in one delta, no index, no type.
    out = reshape(stream_payloads(load_capture("024")))
    calls = [c for c in chunks_of(out) if c.choices[0].delta.tool_calls]
    assert len(calls) == 2
    first, second = calls
    assert first.choices[0].finish_reason is None and first.usage is None
    assert second.choices[0].finish_reason == "tool_calls"
    assert second.usage.completion_tokens == 45
    assert pipecat_calls(out) == [
        ("nqjf8Hqe1", "plus", '{"a": 1, "b": 2}'),
        ("ATcpCKul3", "minus", '{"a": 2, "b": 1}'),
    ]


def test_parallel_calls_stay_apart_when_the_server_reuses_one_index():
    delta_calls = [
        {"id": "aaaaaaaa1", "function": {"name": "plus", "arguments": "{}"}, "index": 0},
        {"id": "bbbbbbbb2", "function": {"name": "minus", "arguments": "{}"}, "index": 0},
    ]
    payload = json.loads(stream_payloads(load_capture("024"))[1])
    payload["choices"][0]["delta"]["tool_calls"] = delta_calls
    assert [c[:2] for c in pipecat_calls(reshape([payload]))] == [
        ("aaaaaaaa1", "plus"),
        ("bbbbbbbb2", "minus"),
    ]


def test_a_call_without_an_id_gets_a_deterministic_mistral_id():
    # s026 (2024-04): {"function": {...}} only, "content": null beside it.
    payloads = stream_payloads(load_capture("s026"))
    first = pipecat_calls(reshape(payloads))
    again = pipecat_calls(reshape(payloads))
    assert first == again
    ((call_id, name, arguments),) = first
    assert MISTRAL_ID.fullmatch(call_id) and name == "weather"
    assert json.loads(arguments) == {"latitude": "52.5200", "longitude": "13.4050"}


def test_ids_differ_between_completions():
    payloads = stream_payloads(load_capture("s026"))
    other = [
        p.replace("3f1e9a7c2b5d4c8e8f0a1b2c3d4e5f60", "3f1e9a7c2b5d4c8e8f0a1b2c3d4e5f61")
        for p in payloads
    ]
    assert pipecat_calls(reshape(payloads))[0][0] != pipecat_calls(reshape(other))[0][0]


def test_vllm_style_fragments_are_one_call():
    # s027: first fragment with id and arguments "", continuations with name "" and no id.
    out = reshape(stream_payloads(load_capture("s027")))
    ((call_id, name, arguments),) = pipecat_calls(out)
    assert name == "weather"
    assert json.loads(arguments) == {"latitude": "52.5200", "longitude": "13.4050"}
    # chatcmpl-tool-9f149c74c42f265b is not an id Mistral takes back: replaced.
    assert MISTRAL_ID.fullmatch(call_id)
    assert out[-1].choices[0].finish_reason == "tool_calls"


def test_vllm_style_fragments_without_index_are_one_call():
    payloads = []
    for payload in stream_payloads(load_capture("s027")):
        data = json.loads(payload)
        for call in data["choices"][0]["delta"].get("tool_calls") or []:
            call.pop("index", None)
        payloads.append(data)
    ((_, name, arguments),) = pipecat_calls(reshape(payloads))
    assert name == "weather" and json.loads(arguments)["longitude"] == "13.4050"


def fragments(*calls: dict[str, Any]) -> list[dict[str, Any]]:
    """One chunk per tool-call fragment, on 024's chunk (2024-11, no index)."""
    base = json.loads(stream_payloads(load_capture("024"))[1])
    out = []
    for position, call in enumerate(calls):
        chunk = copy.deepcopy(base)
        chunk["choices"][0]["delta"]["tool_calls"] = [call]
        if position < len(calls) - 1:
            chunk["choices"][0]["finish_reason"] = None
            del chunk["usage"]
        out.append(chunk)
    return out


def test_fragments_repeating_their_id_and_name_are_one_call():
    out = reshape(
        fragments(
            {"id": "abcdEFGH1", "function": {"name": "plus", "arguments": '{"a": 1'}},
            {"id": "abcdEFGH1", "function": {"name": "plus", "arguments": ', "b": 2}'}},
            {"id": "zyxwVUTS9", "function": {"name": "minus", "arguments": "{}"}},
        )
    )
    assert pipecat_calls(out) == [
        ("abcdEFGH1", "plus", '{"a": 1, "b": 2}'),
        ("zyxwVUTS9", "minus", "{}"),
    ]


def test_a_name_that_comes_after_the_first_fragment_still_reaches_pipecat():
    out = reshape(
        fragments(
            {"index": 0, "id": "abcdEFGH1", "function": {"arguments": ""}},
            {"index": 0, "function": {"name": "plus", "arguments": '{"a": 1, "b": 2}'}},
        )
    )
    assert pipecat_calls(out) == [("abcdEFGH1", "plus", '{"a": 1, "b": 2}')]


def test_text_beside_a_call_is_handed_on_before_it():
    payload = json.loads(stream_payloads(load_capture("020"))[1])
    payload["choices"][0]["delta"]["content"] = "Let me check."
    out = reshape([payload])
    assert [answer([c]) for c in out] == ["Let me check.", ""]
    assert out[0].choices[0].delta.tool_calls is None
    assert out[1].choices[0].delta.tool_calls[0].function.name == "weather"
    assert out[1].choices[0].finish_reason == "tool_calls" and out[0].usage is None


# -- what passes untouched -----------------------------------------------------


@pytest.mark.parametrize("name", ["001", "006", "s009"])
def test_plain_text_chunks_are_handed_on_as_they_are(name):
    payloads = stream_payloads(load_capture(name))
    chunks = [parse(p) for p in payloads]
    reshaper = StreamReshaper()
    for chunk in chunks:
        assert reshaper.feed(chunk) == [chunk]


def test_the_p_field_survives_a_reshape():
    payloads = stream_payloads(load_capture("024"))
    data = json.loads(payloads[1])
    data["p"] = "abcdef"
    out = reshape([data])
    assert [c.p for c in out] == ["abcdef", "abcdef"]


# -- cached tokens --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("001", 0), ("020", 128), ("021", 192), ("s002", 32), ("006", None), ("024", None)],
)
def test_cached_tokens_in_every_usage_shape(name, expected):
    usage = json.loads(stream_payloads(load_capture(name))[-1])["usage"]
    assert cached_tokens(parse(stream_payloads(load_capture(name))[-1]).usage) == expected
    assert cached_tokens(usage) == expected


def test_cached_tokens_of_nothing():
    assert cached_tokens(None) is None
    assert cached_tokens({"prompt_tokens_details": None}) is None


# -- the parse these tests use is the client's -----------------------------------


async def test_the_client_parses_the_wire_as_these_tests_do():
    with ReplayServer() as server:
        server.push("010", "024")
        client = openai.AsyncOpenAI(api_key="test", base_url=server.base_url, max_retries=0)
        async with client:
            for name in ("010", "024"):
                stream = await client.chat.completions.create(
                    model="mistral-small-latest",
                    messages=[{"role": "user", "content": "hi"}],
                    stream=True,
                )
                received = [chunk async for chunk in stream]
                expected = [parse(p) for p in stream_payloads(load_capture(name))]
                # warnings=False: pydantic warns when it serializes list content.
                dump = [c.model_dump(warnings=False) for c in received]
                assert dump == [c.model_dump(warnings=False) for c in expected]


# -- the replay server itself ----------------------------------------------------


def test_the_replay_server_plays_captures_byte_for_byte(replay_server):
    stream, error = load_capture("010"), load_capture("s071")
    replay_server.push(stream, error)
    url = f"{replay_server.base_url}/chat/completions"
    with httpx.Client() as client:
        first = client.post(url, json={"n": 1})
        second = client.post(url, json={"n": 2})
        third = client.post(url, json={"n": 3})
    assert first.status_code == 200 and first.content == stream["raw_body"].encode()
    assert first.headers["content-type"] == stream["headers"]["Content-Type"]
    assert second.status_code == 401 and second.content == error["body"].encode()
    assert second.headers["www-authenticate"] == "Key"
    assert third.status_code == 500 and "script is empty" in third.text
    assert replay_server.requests == [{"n": 1}, {"n": 2}, {"n": 3}]


def test_the_replay_server_adds_a_scripted_retry_after(replay_server):
    replay_server.push("077", retry_after=0.25)
    with httpx.Client() as client:
        answer = client.post(f"{replay_server.base_url}/chat/completions", json={})
    assert answer.headers["retry-after"] == "0.25"
    assert answer.headers["x-ratelimit-limit-tokens-minute"] == "2000000"


def test_the_replay_server_plays_a_json_body(replay_server):
    # 049: a non-streamed reasoning reply, content as a list of typed parts.
    capture = load_capture("049")
    replay_server.push(capture)
    with httpx.Client() as client:
        answer = client.post(f"{replay_server.base_url}/chat/completions", json={})
    assert answer.content == capture["body"].encode()
    assert answer.headers["content-type"] == "application/json"
    content = answer.json()["choices"][0]["message"]["content"]
    assert [part["type"] for part in content] == ["thinking", "text"]
