"""Fuzzing what the model sends as tool calls, and what a user passes as a key.

Whatever the names, ids, indexes and argument fragments of a streamed tool call, what
reaches pipecat is one well-formed call per chunk with a unique Mistral-format id and a
name Mistral accepts back.  Whatever the key, it is cleaned or refused, and a refusal
never shows it.
"""

from __future__ import annotations

import re

from fuzzing import fuzz
from hypothesis import given
from hypothesis import strategies as st
from test_stream_reshape import parse, pipecat_calls

import mistral_nb as mnb
from mistral_nb._connection import clean_key
from mistral_nb._pipecat._service import valid_tool_calls
from mistral_nb._pipecat._stream import StreamReshaper

MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}")
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

names = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=80),
    st.sampled_from(["get_weather", "../../etc/passwd", "x" * 65, "a b", "émoji😀"]),
)
ids = st.one_of(st.none(), st.just(""), st.text(max_size=20), st.sampled_from(["abcdefghi"]))
calls = st.fixed_dictionaries(
    {},
    optional={
        "id": ids,
        "index": st.one_of(st.none(), st.integers(0, 3)),
        "type": st.sampled_from(["function", None]),
        "function": st.fixed_dictionaries(
            {}, optional={"name": names, "arguments": st.one_of(st.none(), st.text(max_size=30))}
        ),
    },
)


def chunk(tool_calls, finish=None):
    return {
        "id": "0123456789abcdef0123456789abcdef",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "mistral-small-latest",
        "choices": [{"index": 0, "delta": {"tool_calls": tool_calls}, "finish_reason": finish}],
    }


@fuzz(600)
@given(
    deltas=st.lists(st.lists(calls, min_size=1, max_size=4), min_size=1, max_size=5),
    used=st.sets(st.sampled_from(["abcdefghi", "ABCDEFGHI", "zzzzzzzzz"])),
)
def test_model_supplied_tool_calls_reach_pipecat_well_formed(deltas, used):
    reshaper = StreamReshaper(used)
    out = []
    for n, delta in enumerate(deltas):
        out.extend(
            reshaper.feed(parse(chunk(delta, "tool_calls" if n == len(deltas) - 1 else None)))
        )
    for item in out:
        if getattr(item, "choices", None) and item.choices[0].delta.tool_calls:
            assert len(item.choices[0].delta.tool_calls) == 1
            call = item.choices[0].delta.tool_calls[0]
            assert isinstance(call.index, int)
            if call.function and call.function.name:
                assert FUNCTION_NAME.fullmatch(call.function.name)
                assert call.id and MISTRAL_ID.fullmatch(call.id)
    # Calls the model named reach pipecat with unique, valid ids and names; a call it
    # never named can only be known once the reply is over, and the adapter's
    # valid_tool_calls() fixes it on the wire (tested below).
    found = [call for call in pipecat_calls(out) if call[1]]
    call_ids = [call_id for call_id, _, _ in found]
    assert len(set(call_ids)) == len(call_ids)
    assert not set(call_ids) & used
    for call_id, name, _ in found:
        assert MISTRAL_ID.fullmatch(call_id) and FUNCTION_NAME.fullmatch(name)


@fuzz(600)
@given(
    call_ids=st.lists(
        st.one_of(st.none(), st.text(max_size=12), st.just("abcdefghi")), min_size=1, max_size=4
    ),
    call_names=st.lists(st.one_of(st.none(), st.text(max_size=70)), min_size=4, max_size=4),
)
def test_the_wire_carries_only_ids_and_names_mistral_accepts(call_ids, call_names):
    messages = [{"role": "user", "content": "hi"}]
    for turn in range(2):
        messages.append(
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": call_names[i], "arguments": "{}"},
                    }
                    for i, call_id in enumerate(call_ids)
                ],
            }
        )
        messages += [
            {"role": "tool", "tool_call_id": call_id, "content": "ok"} for call_id in call_ids
        ]
        messages.append({"role": "assistant", "content": "done"})
    fixed = valid_tool_calls(messages)
    seen = []
    for position, message in enumerate(fixed):
        if message.get("tool_calls"):
            ids = [call["id"] for call in message["tool_calls"]]
            answers = fixed[position + 1 : position + 1 + len(ids)]
            assert [a["tool_call_id"] for a in answers] == ids
            for call in message["tool_calls"]:
                assert MISTRAL_ID.fullmatch(call["id"])
                assert FUNCTION_NAME.fullmatch(call["function"]["name"])
            seen += ids
    assert len(seen) == len(set(seen))


@fuzz(2000)
@given(key=st.one_of(st.text(max_size=60), st.binary(max_size=60)))
def test_any_key_is_cleaned_or_refused_without_showing_it(key):
    try:
        cleaned = clean_key(key)
    except mnb.SettingsError as error:
        text = key.decode("ascii", "replace") if isinstance(key, bytes) else key
        secret = text.strip()
        if len(secret) >= 12:
            assert secret not in str(error) and secret[:-4] not in str(error)
            assert secret[:-4] not in repr(error.value)
        return
    if cleaned is not None:
        assert cleaned == cleaned.strip() and cleaned.isascii() and cleaned.isprintable()
        assert " " not in cleaned
