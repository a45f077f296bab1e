"""A real pipecat pipeline against LocalMistral over loopback: turns, settings, the wire."""

from __future__ import annotations

import asyncio

import pytest
from conftest import TEST_KEY
from pipecat.services.mistral.llm import MistralLLMService

import mistral_nb as mnb
from mistral_nb.local import Fault, ToolCall


async def test_multi_turn_chat_keeps_the_conversation(session, local):
    first = await session.send("Hello there!")
    second = await session.send("And how are you?")

    assert first.status == "ok" and first.text
    assert second.status == "ok" and second.text
    assert [t.turn for t in session.log] == [1, 2]
    sent = local.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "Hello there!"
    assert sent[1]["content"] == first.text
    assert sent[2]["content"] == "And how are you?"


async def test_settings_change_reaches_the_next_request(session, local):
    await session.send("one")
    session.update_settings(
        model="mistral-large-latest",
        temperature=0.2,
        top_p=0.9,
        max_tokens=50,
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        system_prompt="Be brief.",
    )
    turn = await session.send("two")

    body = local.requests[-1]
    assert body["model"] == "mistral-large-latest"
    assert body["temperature"] == 0.2
    assert body["top_p"] == 0.9
    assert body["max_tokens"] == 50
    assert body["frequency_penalty"] == 0.5
    assert body["presence_penalty"] == -0.5
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert turn.settings["model"] == "mistral-large-latest"
    assert turn.settings["temperature"] == 0.2
    row = session.log.turns().iloc[-1]
    assert row["temperature"] == 0.2 and row["system_prompt"] == "Be brief."


async def test_seed_safe_prompt_and_max_completion_tokens_go_out_under_mistrals_names(
    session, local
):
    session.update_settings(seed=42, safe_prompt=True, max_completion_tokens=7)
    turn = await session.send("Tell me a long story about the sea.")

    body = local.requests[-1]
    assert body["random_seed"] == 42
    assert body["safe_prompt"] is True
    assert body["max_tokens"] == 7
    assert "seed" not in body and "max_completion_tokens" not in body
    assert turn.status == "ok"
    assert turn.finish_reason == "length"
    assert turn.usage["completion_tokens"] == 7


async def test_a_service_built_as_pipecats_docs_show_gets_the_same_fixes(local):
    llm = MistralLLMService(
        api_key=TEST_KEY,
        base_url=local.base_url,
        settings=MistralLLMService.Settings(
            model="mistral-large-latest", seed=3, max_completion_tokens=5
        ),
    )
    async with mnb.Session(llm=llm) as session:
        turn = await session.send("Hello!")
    body = local.requests[-1]
    assert turn.status == "ok"
    assert (body["model"], body["random_seed"], body["max_tokens"]) == (
        "mistral-large-latest",
        3,
        5,
    )


def test_update_settings_rejects_out_of_range_values_and_changes_nothing(local):
    session = mnb.Session(api_key=TEST_KEY, base_url=local.base_url)
    before = session.settings
    with pytest.raises(mnb.SettingsError) as caught:
        session.update_settings(max_tokens=10, temperature=3)
    message = str(caught.value)
    assert "temperature" in message and "3" in message and "1.5" in message
    assert caught.value.field == "temperature"
    with pytest.raises(mnb.SettingsError, match="random_seed"):
        session.update_settings(seed=-1)
    with pytest.raises(mnb.SettingsError, match="Did you mean 'temperature'"):
        session.update_settings(temprature=0.1)
    assert session.settings == before
    session.close()


async def test_tool_round_trip_runs_once_and_ends_with_the_tool_message(local, session):
    calls = []

    @session.tool
    def get_weather(city: str) -> dict:
        """Current weather for a city.

        Args:
            city: City name.
        """
        calls.append(city)
        return {"city": city, "temperature": 18}

    local.push(ToolCall("get_weather", {"city": "Paris"}), "It is 18 degrees in Paris.")
    turn = await session.send("What's the weather in Paris?")

    assert turn.status == "ok"
    assert turn.text == "It is 18 degrees in Paris."
    assert calls == ["Paris"]
    assert len(session.log.calls()) == 1
    call = session.log.calls().iloc[0]
    assert (call["name"], call["arguments"], call["status"]) == (
        "get_weather",
        {"city": "Paris"},
        "ok",
    )
    assert call["result"] == {"city": "Paris", "temperature": 18}
    after_tool = local.requests[-1]["messages"]
    assert after_tool[-1]["role"] == "tool"
    assert "prefix" not in str(after_tool)
    assert len(turn.requests) == 2
    assert list(session.log.tokens()["completion"].unique()) == [1]

    # The next user message after a tool result still makes a valid conversation.
    follow_up = await session.send("Thanks!")
    assert follow_up.status == "ok"


@pytest.mark.parametrize(
    ("fault", "expected", "retries"),
    [
        (Fault.status(401, on=1), "API key (401)", 0),
        (Fault.status(422, on=1), "422", 0),
        (Fault.status(429, on=[1, 2, 3], retry_after=0.05), "rate limit", 2),
        (Fault.status(500, on=[1, 2, 3]), "server error (500)", 2),
        (Fault.cut(after_tokens=3, on=1), "broke mid-reply", 0),
    ],
    ids=["401", "422", "429", "500", "cut"],
)
async def test_a_failed_request_gives_an_error_turn_and_the_next_turn_works(
    fault, expected, retries
):
    with mnb.LocalMistral(api_key=TEST_KEY, faults=[fault]) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url, max_retries=2) as session:
            failed = await session.send("Tell me a story about a lighthouse keeper.")
            assert failed.status == "error"
            assert expected in failed.error
            assert failed.retries == retries
            assert len(local.requests) == retries + 1
            with pytest.raises(mnb.APIError):
                failed.raise_for_status()
            again = await session.send("Hello again")
            assert again.status == "ok" and again.text
    assert session.log.turns()["status"].tolist() == ["error", "ok"]


async def test_a_retry_is_announced_while_the_client_waits_not_after():
    faults = [Fault.status(429, on=2, retry_after=0.5), Fault.status(400, on=4)]
    with mnb.LocalMistral(api_key=TEST_KEY, faults=faults) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url, max_retries=2) as session:
            seen: list[tuple[str, int]] = []
            session.subscribe(
                lambda e: seen.append((e.text, len(local.requests))) if e.kind == "retry" else None
            )
            plain = await session.send("Hi")
            assert plain.status == "ok" and plain.retries == 0 and seen == []  # no false alarm
            turn = await session.send("Hello")
            assert turn.status == "ok" and turn.retries == 1
            # The first word came with the 429, before the second attempt reached the server.
            assert seen[0] == ("retrying (429) in 0.5 s, attempt 2 of 3...", 2)
            assert [text for text, _ in seen] == [
                "retrying (429) in 0.5 s, attempt 2 of 3...",
                "retrying (429), attempt 2 of 3...",
            ]
            seen.clear()
            failed = await session.send("Hello again")  # a 400 is not retried: no word of it
            assert failed.status == "error" and seen == []


async def test_a_cut_stream_keeps_the_tokens_that_arrived():
    with mnb.LocalMistral(api_key=TEST_KEY, faults=[Fault.cut(after_tokens=4, on=1)]) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
            turn = await session.send("Tell me a story.")
    assert turn.status == "error"
    assert len(turn.tokens) == 4


async def test_usage_equals_the_tokenizer_count(session, local):
    from importlib import resources

    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    turn = await session.send("Count my tokens, please.")
    with resources.as_file(resources.files("mistral_common") / "data" / "tekken_240911.json") as f:
        tokenizer = MistralTokenizer.from_file(str(f))
    reply_tokens = tokenizer.instruct_tokenizer.tokenizer.encode(turn.text, bos=False, eos=False)
    row = session.log.turns().iloc[-1]
    assert row["completion_tokens"] == len(reply_tokens)
    assert row["prompt_tokens"] > 0
    assert row["n_chunks"] == len(turn.tokens) > 0


async def test_turns_are_never_interleaved(session, local):
    first, second = await asyncio.gather(session.send("first"), session.send("second"))
    assert (first.turn, second.turn) == (1, 2)
    assert local.requests[1]["messages"][1]["content"] == first.text
    tokens = session.log.tokens()
    assert set(tokens[tokens["turn"] == 1]["text"]) <= set(first.tokens["text"])


def test_ask_blocks_in_a_plain_script(local):
    with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
        turn = session.ask("Hello from a script")
        again = session.ask("Still there?")
    assert turn.status == again.status == "ok"
    assert session.closed


async def test_ask_blocks_inside_a_running_loop_like_a_notebook_cell(session):
    turn = session.ask("Hello from a cell")
    assert turn.status == "ok" and turn.text


async def test_send_after_close_raises_and_keeps_the_log(local):
    session = mnb.Session(api_key=TEST_KEY, base_url=local.base_url)
    await session.send("hi")
    await session.aclose()
    with pytest.raises(mnb.SessionClosedError, match="closed"):
        await session.send("again")
    assert len(session.log) == 1


async def test_no_key_runs_against_the_local_endpoint_and_says_so(capsys):
    import mistral_nb._connection as connection

    connection._announced_local = False
    async with mnb.Session() as session:
        turn = await session.send("Hello offline world")
        assert session.local is not None
        assert session.base_url.startswith("http://127.0.0.1:")
    assert turn.status == "ok"
    assert "MISTRAL_API_KEY" in capsys.readouterr().err
    async with mnb.Session():
        pass
    assert "MISTRAL_API_KEY" not in capsys.readouterr().err


@pytest.fixture
async def two_turns_with_a_call(session, local):
    """A session whose log holds a tool turn (add(2, 3)) and a plain turn."""

    @session.tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    local.push(ToolCall("add", {"a": 2, "b": 3}), "5")
    await session.send("Use add")
    await session.send("Thanks")
    return session


async def test_log_round_trips_through_save_and_load(two_turns_with_a_call, tmp_path):
    import pandas as pd

    session = two_turns_with_a_call
    path = session.log.save(tmp_path / "log.jsonl")
    await session.send("One more, appended to the journal")

    loaded = mnb.TurnLog.load(path)
    assert len(loaded) == 3
    pd.testing.assert_frame_equal(loaded.turns(), session.log.turns())
    pd.testing.assert_frame_equal(loaded.tokens(), session.log.tokens())
    pd.testing.assert_frame_equal(loaded.calls(), session.log.calls())
    assert loaded[0].requests == session.log[0].requests


async def test_image_data_is_elided_from_the_kept_requests(session, local):
    from PIL import Image

    turn = await session.send("What is this?", images=[Image.new("RGB", (64, 32), "red")])
    assert turn.status == "ok"
    assert "64x32" in turn.text
    url = turn.requests[0]["messages"][-1]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,<") and "sha256" in url
    assert local.requests[-1]["messages"][-1]["content"][1]["image_url"]["url"].startswith(
        "data:image/jpeg;base64,/9j/"
    )
    assert session.log.turns().iloc[-1]["n_images"] == 1


async def test_save_without_follow_writes_a_snapshot(session, tmp_path):
    await session.send("one")
    snapshot = session.log.save(tmp_path / "snapshot.jsonl", follow=False)
    await session.send("two")
    assert len(mnb.TurnLog.load(snapshot)) == 1
    assert session.log.path is None


async def test_exports_to_parquet_and_csv_keep_every_row(two_turns_with_a_call, tmp_path):
    import json

    import pandas as pd

    session = two_turns_with_a_call
    parquet = session.log.to_parquet(tmp_path / "parquet")
    csv = session.log.to_csv(tmp_path / "csv")

    for name, frame in (("turns", session.log.turns()), ("tokens", session.log.tokens())):
        back = pd.read_parquet(parquet[name])
        assert list(back.columns) == list(frame.columns) and len(back) == len(frame)
        assert len(pd.read_csv(csv[name])) == len(frame)
    calls = pd.read_parquet(parquet["calls"])
    assert json.loads(calls.iloc[0]["arguments"]) == {"a": 2, "b": 3}
    assert json.loads(pd.read_csv(csv["calls"], dtype=str).iloc[0]["result"]) == 5


async def test_two_sends_at_once_run_one_after_the_other(local):
    async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
        first, second = await asyncio.gather(session.send("one"), session.send("two"))
        # The pipeline lives on the session's own loop, not on the caller's.
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "mistral_nb pipeline"]
    assert (first.turn, second.turn) == (1, 2)
    assert local.requests[1]["messages"][1]["content"] == first.text
