"""The user is warned before a conversation outgrows the model's context window."""

from __future__ import annotations

import openai
import pytest
from conftest import TEST_KEY

import mistral_nb as mnb
from mistral_nb._context_window import ContextWindow


@pytest.fixture
def tiny_local():
    # A model with a 1,000-token context window, so a few turns fill it.
    tiny = {"id": "tiny-ctx", "max_context_length": 1000}
    with mnb.LocalMistral(api_key=TEST_KEY, models=[tiny], reply_tokens=120) as local:
        yield local


async def test_warned_before_the_request_that_fails(tiny_local):
    async with mnb.Session(
        api_key=TEST_KEY, base_url=tiny_local.base_url, settings={"model": "tiny-ctx"}
    ) as session:
        turns, warned_at = [], None
        for n in range(12):
            try:
                turn = await session.send(f"Tell me more, part {n}. " + "words " * 20)
            except mnb.ContextWindowWarning as warning:  # warnings are errors in tests
                warned_at = n
                assert "tiny-ctx" in str(warning) and "1,000-token context window" in str(warning)
                break
            turns.append(turn)
            assert turn.status == "ok", "a request failed before any warning"
        assert warned_at is not None

        with pytest.warns(mnb.ContextWindowWarning):
            turn = await session.send("One more")
        assert turn.warnings and "session.reset()" in turn.warnings[0]

        session.reset()
        assert session.messages == []
        fresh = await session.send("Hello again")
        assert fresh.status == "ok" and not fresh.warnings


async def test_no_warning_for_a_short_conversation(session):
    turn = await session.send("Hello")
    assert turn.warnings == []


async def test_an_endpoint_without_models_falls_back_to_the_known_catalogue(local):
    # A base URL whose /models answers 404: the context length comes from the catalogue.
    client = openai.AsyncOpenAI(api_key=TEST_KEY, base_url=local.server_url + "/nope")
    window = ContextWindow(client)
    warning = await window.check(
        model="mistral-small-latest", new_text="x", image_tokens=0, max_tokens=250_000
    )
    assert warning is not None and "262,144-token context window" in warning
    await client.close()
