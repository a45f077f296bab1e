"""Replay: a logged request sent again with changed settings; a saved log replayed whole."""

from __future__ import annotations

import pytest
from conftest import TEST_KEY

import mistral_nb as mnb


def _without(body: dict, *names: str) -> dict:
    return {k: v for k, v in body.items() if k not in names}


async def test_replay_sends_the_logged_body_with_only_the_changed_fields_different(session, local):
    session.update_settings(temperature=0.3, max_tokens=40, system_prompt="Be brief.")
    await session.send("Hello there.")
    await session.send("Tell me more.")
    logged = session.log[1].requests[0]
    messages = session.messages

    again = await session.replay(turn=2, model="mistral-medium-latest", temperature=0.9)

    sent = local.requests[-1]
    assert sent["model"] == "mistral-medium-latest" and sent["temperature"] == 0.9
    assert _without(sent, "model", "temperature") == _without(logged, "model", "temperature")
    assert again.replay_of == 2
    assert again.turn == 3 and session.log[2] is again
    assert session.messages == messages  # the conversation is not touched


async def test_tool_calls_in_a_replay_are_answered_from_the_log(session, local):
    runs = []

    @session.tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        runs.append(city)
        return f"sunny in {city}"

    first = await session.send("What is the weather? Use get_weather with city=Paris please")
    assert runs == ["Paris"] and first.calls.loc[0, "result"] == "sunny in Paris"

    again = await session.replay(turn=1, model="mistral-large-latest")

    assert runs == ["Paris"]  # not run a second time
    assert again.calls.loc[0, "name"] == "get_weather"
    assert again.calls.loc[0, "result"] == "sunny in Paris"
    assert local.requests[-1]["tools"] == first.requests[0]["tools"]


async def test_a_turn_not_in_the_log_is_a_clear_error(session):
    await session.send("Hi.")
    with pytest.raises(mnb.ExperimentError, match="turn 7 is not in the log"):
        await session.replay(turn=7)
    with pytest.raises(mnb.SettingsError):
        await session.replay(turn=1, temperature=-1)


async def test_a_saved_log_replays_every_turn_and_compares(session, local, tmp_path):
    await session.send("Hello.")
    await session.send("How are you?")
    path = session.log.save(tmp_path / "turns.jsonl", follow=False)
    log = mnb.TurnLog.load(path)
    before = len(local.requests)

    diff = await log.replay(model="mistral-large-latest", api_key=TEST_KEY, base_url=local.base_url)

    assert list(diff["turn"]) == [1, 2]
    assert len(local.requests) == before + 2
    assert list(diff["model_after"]) == ["mistral-large-latest"] * 2
    assert (diff["status_after"] == "ok").all()
    # LocalMistral names the model in its reply: the texts differ a little, not wholly.
    assert ((diff["similarity"] > 0.5) & (diff["similarity"] < 1)).all()
    assert (diff["changed_words"] > 0).all()
    assert diff.loc[0, "diff"].startswith("[-mistral-small-latest-] {+mistral-large-latest+}")
    for column in ("completion_tokens", "cost_usd", "ttfb_s", "tokens_per_s"):
        assert f"{column}_before" in diff and f"{column}_after" in diff
    assert diff["cost_usd_after"].gt(diff["cost_usd_before"]).all()  # large costs more
    # Each turn went from its own logged request: turn 2 carried turn 1's original answer.
    assert local.requests[-1]["messages"][:-1] == session.log[1].requests[0]["messages"][:-1]
    assert len(log) == 2  # the saved log is not changed


async def test_a_turn_with_an_image_cannot_be_replayed_from_the_log(session):
    from PIL import Image

    await session.send("What is this?", images=[Image.new("RGB", (32, 32))])

    with pytest.raises(mnb.ExperimentError, match="image") as caught:
        await session.replay(turn=1, model="mistral-large-latest")
    assert "session.send" in str(caught.value)
