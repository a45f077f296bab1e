"""LocalMistral reasons the way the recordings show (issue 9, point 3).

Small 4 with ``reasoning_effort`` and Magistral stream a role chunk, a ``{"content": ""}``
chunk, list-form thinking deltas, one of the recorded transitions, then the answer as plain
strings; a non-streamed reply is the list form; the list form is accepted back.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from mistralai.client import Mistral

from mistral_nb.local import LocalMistral, Reasoning

SMALL = "mistral-small-latest"
QUESTION = [{"role": "user", "content": "What is 12 * 12? Answer with just the number."}]


@pytest.fixture(scope="module")
def server():
    with LocalMistral() as running:
        yield running


def post(server: LocalMistral, body: dict) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/chat/completions",
        json=body,
        headers={"Authorization": "Bearer k"},
        timeout=30,
    )


def chunks(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    events = response.text[:-2].split("\n\n")
    assert events[-1] == "data: [DONE]"
    return [json.loads(event[len("data: ") :]) for event in events[:-1]]


def deltas(parsed: list[dict]) -> list[dict]:
    return [chunk["choices"][0]["delta"] for chunk in parsed]


def thinking_text(delta_content: Any) -> str:
    return "".join(
        part["text"]
        for chunk in delta_content
        if chunk["type"] == "thinking"
        for part in chunk["thinking"]
    )


def split(parsed: list[dict]) -> tuple[str, str]:
    """The thinking and the answer a stream carries."""
    thinking = answer = ""
    for delta in deltas(parsed):
        content = delta.get("content")
        if isinstance(content, list):
            thinking += thinking_text(content)
            answer += "".join(c["text"] for c in content if c["type"] == "text")
        elif content:
            answer += content
    return thinking, answer


# -- the stream --------------------------------------------------------------------------


def test_small_4_with_reasoning_effort_streams_as_recorded(server):
    parsed = chunks(
        post(
            server,
            {"model": SMALL, "messages": QUESTION, "stream": True, "reasoning_effort": "high"},
        )
    )
    found = deltas(parsed)
    assert found[0] == {"role": "assistant", "content": ""} and "p" not in parsed[0]
    assert found[1] == {"content": ""} and "p" in parsed[1]
    lists = [d["content"] for d in found[2:] if isinstance(d["content"], list)]
    assert len(lists) > 5
    # closed flags as recorded (010): absent on the first thinking delta, then present
    assert "closed" not in lists[0][0] and all(
        chunk[0].get("closed") is True for chunk in lists[1:]
    )
    # the "mixed" transition: the last list ends the thinking and starts the answer
    assert [part["type"] for part in lists[-1]] == ["thinking", "text"]
    rest = found[2 + len(lists) :]
    assert rest and all(isinstance(d["content"], str) for d in rest)
    assert parsed[-1]["choices"][0]["finish_reason"] == "stop" and "usage" in parsed[-1]
    assert sum("usage" in chunk for chunk in parsed) == 1
    thinking, answer = split(parsed)
    assert thinking.startswith('The user wrote "What is 12 * 12?')
    assert answer.startswith('You said: "What is 12 * 12?')


def test_usage_counts_the_thinking(server):
    plain = post(server, {"model": SMALL, "messages": QUESTION}).json()
    reasoned = post(server, {"model": SMALL, "messages": QUESTION, "reasoning_effort": "low"})
    body = reasoned.json()
    content = body["choices"][0]["message"]["content"]
    assert body["usage"]["completion_tokens"] > plain["usage"]["completion_tokens"] + 10
    assert content[1]["text"] == plain["choices"][0]["message"]["content"]


@pytest.mark.parametrize("effort", ["minimal", "low", "medium", "high", "xhigh"])
def test_every_effort_above_none_reasons(server, effort):
    body = post(server, {"model": SMALL, "messages": QUESTION, "reasoning_effort": effort}).json()
    assert isinstance(body["choices"][0]["message"]["content"], list)


def test_effort_none_and_no_effort_answer_plainly(server):
    for extra in ({}, {"reasoning_effort": "none"}):
        body = post(server, {"model": SMALL, "messages": QUESTION, **extra}).json()
        assert isinstance(body["choices"][0]["message"]["content"], str)


def test_magistral_reasons_by_default_like_its_recording(server):
    """magistral-small-latest, January 2026 (011): no closed flags, and the answer follows
    the last thinking delta as plain strings."""
    parsed = chunks(
        post(server, {"model": "magistral-small-latest", "messages": QUESTION, "stream": True})
    )
    found = deltas(parsed)
    assert found[1] == {"content": ""}
    lists = [d["content"] for d in found if isinstance(d.get("content"), list)]
    assert lists and all("closed" not in chunk[0] for chunk in lists)
    assert all([part["type"] for part in chunk] == ["thinking"] for chunk in lists)
    thinking, answer = split(parsed)
    assert thinking and answer.startswith("You said")


@pytest.mark.parametrize("extra", [{"reasoning_effort": "none"}])
def test_magistral_with_effort_none_answers_plainly(server, extra):
    body = post(server, {"model": "magistral-medium-latest", "messages": QUESTION, **extra})
    assert isinstance(body.json()["choices"][0]["message"]["content"], str)


def test_prompt_mode_is_accepted(server):
    for model in (SMALL, "magistral-small-latest", "mistral-large-latest"):
        body = {"model": model, "messages": QUESTION, "prompt_mode": "reasoning"}
        assert post(server, body).status_code == 200
    assert (
        post(server, {"model": SMALL, "messages": QUESTION, "prompt_mode": "x"}).status_code == 422
    )


# -- the transitions, asked for by a test -------------------------------------------------


def transition_of(parsed: list[dict]) -> list[Any]:
    """The deltas from the last thinking-only one to the first plain string."""
    found = [d["content"] for d in deltas(parsed)[2:]]
    first_string = next(i for i, c in enumerate(found) if isinstance(c, str))
    return found[first_string - 1 : first_string + 1]


@pytest.mark.parametrize(
    ("transition", "expected"),
    [
        (
            "mixed",
            [
                [
                    {
                        "type": "thinking",
                        "thinking": [{"type": "text", "text": "."}],
                        "closed": True,
                    },
                    {"type": "text", "text": "1"},
                ],
                "4",
            ],
        ),
        (
            "direct",
            [
                [{"type": "thinking", "thinking": [{"type": "text", "text": "."}], "closed": True}],
                "1",
            ],
        ),
        ("empty", [[{"type": "thinking", "thinking": []}, {"type": "text", "text": "1"}], "4"]),
        ("separate", [[{"type": "thinking", "thinking": []}], "1"]),
    ],
)
def test_each_recorded_transition_can_be_scripted(transition, expected):
    script = [Reasoning("Twelve times twelve.", "144", transition=transition)]
    with LocalMistral(script=script) as server:
        parsed = chunks(post(server, {"model": SMALL, "messages": QUESTION, "stream": True}))
    assert transition_of(parsed) == expected
    assert split(parsed) == ("Twelve times twelve.", "144")


@pytest.mark.parametrize("transition", ["mixed", "direct", "empty", "separate"])
def test_the_server_wide_transition_applies_to_deterministic_replies(transition):
    with LocalMistral(reasoning_transition=transition) as server:
        body = {"model": SMALL, "messages": QUESTION, "stream": True, "reasoning_effort": "high"}
        parsed = chunks(post(server, body))
    thinking, answer = split(parsed)
    assert thinking and answer.startswith("You said")


def test_closed_flags_can_be_left_out():
    with LocalMistral(script=[Reasoning("a b c d", "ok", closed=False)]) as server:
        parsed = chunks(post(server, {"model": SMALL, "messages": QUESTION, "stream": True}))
    lists = [d["content"] for d in deltas(parsed) if isinstance(d.get("content"), list)]
    assert not any("closed" in part for chunk in lists for part in chunk)


def test_max_tokens_can_end_the_reply_inside_the_thinking(server):
    body = {
        "model": SMALL,
        "messages": QUESTION,
        "stream": True,
        "reasoning_effort": "high",
        "max_tokens": 5,
    }
    parsed = chunks(post(server, body))
    thinking, answer = split(parsed)
    assert thinking and not answer
    assert parsed[-1]["choices"][0]["finish_reason"] == "length"
    assert parsed[-1]["usage"]["completion_tokens"] == 5


# -- non-streamed, and back in the conversation --------------------------------------------


def test_a_non_streamed_reply_is_the_list_form(server):
    body = post(server, {"model": SMALL, "messages": QUESTION, "reasoning_effort": "high"}).json()
    content = body["choices"][0]["message"]["content"]
    assert [part["type"] for part in content] == ["thinking", "text"]
    assert content[0]["closed"] is True
    assert [part["type"] for part in content[0]["thinking"]] == ["text"]
    assert content[1]["text"].startswith("You said")


@pytest.mark.parametrize("closed", [True, False, None])
def test_the_list_form_is_accepted_back(server, closed):
    thinking: dict[str, Any] = {"type": "thinking", "thinking": [{"type": "text", "text": "Hmm."}]}
    if closed is not None:
        thinking["closed"] = closed
    messages = [
        *QUESTION,
        {"role": "assistant", "content": [thinking, {"type": "text", "text": "144"}]},
        {"role": "user", "content": "And 13 * 13?"},
    ]
    response = post(server, {"model": SMALL, "messages": messages, "reasoning_effort": "high"})
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["prompt_tokens"] > 20


def test_thinking_must_be_a_list_of_text_chunks(server):
    messages = [
        *QUESTION,
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "Hmm."}]},
        {"role": "user", "content": "?"},
    ]
    detail = post(server, {"model": SMALL, "messages": messages}).json()["detail"]
    assert detail[0]["loc"][:5] == ["body", "messages", 1, "assistant", "content"]


# -- clients ---------------------------------------------------------------------------------


def test_the_mistralai_sdk_reads_the_reasoning(server):
    with Mistral(api_key="k", server_url=server.server_url) as client:
        reply = client.chat.complete(model=SMALL, messages=QUESTION, reasoning_effort="high")
        with client.chat.stream(model=SMALL, messages=QUESTION, reasoning_effort="high") as stream:
            events = list(stream)
    kinds = [type(part).__name__ for part in reply.choices[0].message.content]
    assert kinds == ["ThinkChunk", "TextChunk"]
    streamed = [e.data.choices[0].delta.content for e in events]
    assert any(isinstance(content, list) for content in streamed)
    assert events[-1].data.usage.completion_tokens == reply.usage.completion_tokens


def test_the_openai_client_sees_lists_then_strings(server):
    with openai.OpenAI(base_url=server.base_url, api_key="k") as client:
        stream = client.chat.completions.create(
            model=SMALL, messages=QUESTION, stream=True, extra_body={"reasoning_effort": "high"}
        )
        contents = [chunk.choices[0].delta.content for chunk in stream]
    assert any(isinstance(content, list) for content in contents)
    assert isinstance(contents[-1], str)
