"""ChatPanel against a real Session and LocalMistral: send, stream, stop, errors."""

from __future__ import annotations

import asyncio

import pytest
from conftest import TEST_KEY

import mistral_nb as mnb
from mistral_nb.local import Fault, ToolCall
from mistral_nb.ui import ChatPanel


@pytest.fixture
def chat(session):
    panel = ChatPanel(session)
    yield panel
    panel.close()


async def _send(chat: ChatPanel, text: str) -> mnb.Turn:
    chat.message.value = text
    chat.send_button.click()
    assert chat.pending is not None
    return await chat.pending


async def test_a_turn_appears_in_the_transcript_with_its_stats(chat, session, local):
    turn = await _send(chat, "Hello <there> & welcome")

    assert turn.status == "ok"
    assert local.requests[-1]["messages"][-1]["content"] == "Hello <there> & welcome"
    html = chat.transcript.value
    assert "Hello &lt;there&gt; &amp; welcome" in html  # user text, escaped
    assert "You said:" in html and "▍" not in html  # the whole reply, no cursor
    assert chat.message.value == ""
    assert not chat.send_button.disabled and chat.stop_button.disabled
    stats = chat.status.text
    assert "model mistral-small-latest" in stats and "turn 1 ok" in stats
    assert f"→ {turn.usage['completion_tokens']} tokens" in stats
    assert "ttfb" in stats and "tokens/s" in stats


async def test_turns_sent_from_code_show_up_too(chat, session):
    await session.send("from a notebook cell")
    assert "from a notebook cell" in chat.transcript.value


async def test_an_empty_message_is_not_sent(chat, local):
    chat.message.value = "   "
    chat.send_button.click()
    assert chat.pending is None and local.requests == []
    assert chat.status.text == "type a message first"


async def test_a_long_reply_is_redrawn_a_few_times_not_once_per_token():
    with mnb.LocalMistral(api_key=TEST_KEY, reply_tokens=300, token_delay=0.002) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
            chat = ChatPanel(session)
            tokens, redraws = [], []
            session.subscribe(lambda e: tokens.append(e) if e.kind == "token" else None)
            chat.transcript.observe(lambda change: redraws.append(change["new"]), names="value")

            turn = await _send(chat, "Tell me a long story.")

            assert turn.status == "ok" and turn.usage["completion_tokens"] == 300
            assert len(tokens) >= 250
            # At most ten redraws a second (plus the first and the final flush), whatever
            # the machine's speed; one per token would be 300.
            assert 2 <= len(redraws) <= 10 * turn.duration_s + 3, (len(redraws), turn.duration_s)
            assert len(redraws) < len(tokens) / 5
            assert turn.text[-40:] in redraws[-1]  # the final flush has it all
            assert any("▍" in r for r in redraws[:-1])  # it did stream in between
            chat.close()


async def test_stop_cancels_a_slow_reply_and_the_transcript_says_so():
    with mnb.LocalMistral(api_key=TEST_KEY, reply_tokens=300, token_delay=0.02) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
            chat = ChatPanel(session)
            streaming = asyncio.Event()
            session.subscribe(lambda e: streaming.set() if e.kind == "token" else None)
            chat.message.value = "Tell me a long story."
            chat.send_button.click()
            assert chat.send_button.disabled and not chat.stop_button.disabled

            await asyncio.wait_for(streaming.wait(), 5)
            chat.stop_button.click()
            turn = await asyncio.wait_for(chat.pending, 2)

            assert turn.status == "cancelled"
            assert 0 < len(turn.token_text) < 300
            assert "⏹ cancelled" in chat.transcript.value
            assert turn.token_text[0] in chat.transcript.value  # partial text kept
            assert not chat.send_button.disabled and chat.stop_button.disabled
            local.push("Sure.")  # scripted: not stretched to 300 tokens
            again = await asyncio.wait_for(_send(chat, "Short one, please."), 2)
            assert again.status == "ok" and again.text == "Sure."
            chat.close()


async def test_send_is_refused_while_a_turn_runs():
    with mnb.LocalMistral(api_key=TEST_KEY, reply_tokens=50, token_delay=0.01) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
            chat = ChatPanel(session)
            chat.message.value = "first"
            chat.send_button.click()
            first = chat.pending
            chat.message.value = "second"
            chat.send_button.click()  # click() fires even on a disabled button

            assert chat.pending is first
            assert chat.status.kind == "warning" and "a turn is running" in chat.status.text
            assert chat.message.value == "second"  # kept for later
            await first
            assert [m["content"] for m in local.requests[-1]["messages"]] == ["first"]
            chat.close()


async def test_an_error_turn_is_shown_in_red_and_the_next_turn_works():
    with mnb.LocalMistral(api_key=TEST_KEY, faults=[Fault.status(401, on=1)]) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
            chat = ChatPanel(session)
            failed = await _send(chat, "Hello")
            assert failed.status == "error"
            assert "⚠ error" in chat.transcript.value and "401" in chat.transcript.value
            assert chat.status.kind == "error" and "401" in chat.status.text
            ok = await _send(chat, "Hello again")
            assert ok.status == "ok" and chat.status.kind == "info"
            chat.close()


async def test_tool_calls_show_inline_between_the_texts(chat, session, local):
    @session.tool
    def get_weather(city: str) -> dict:
        """Current weather for a city."""
        return {"city": city, "temperature": 18}

    local.push(ToolCall("get_weather", {"city": "Paris"}), "It is 18 degrees in Paris.")
    await _send(chat, "Weather in Paris?")

    html = chat.transcript.value
    call = html.index("🔧 get_weather(")
    assert html.index("Weather in Paris?") < call < html.index("It is 18 degrees in Paris.")
    assert "&quot;temperature&quot;: 18" in html


async def test_a_send_that_fails_before_the_turn_gives_the_message_back(local):
    session = mnb.Session(api_key=TEST_KEY, base_url=local.base_url)
    chat = ChatPanel(session)
    await session.aclose()

    chat.message.value = "Anyone there?"
    chat.send_button.click()
    with pytest.raises(mnb.SessionClosedError):
        await chat.pending

    assert chat.status.kind == "error" and "session is closed" in chat.status.text
    assert chat.message.value == "Anyone there?"
    assert not chat.send_button.disabled
    chat.close()


async def test_a_panel_made_later_shows_the_earlier_turns(session, local):
    @session.tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    local.push(ToolCall("add", {"a": 2, "b": 3}), "Five.")
    await session.send("Add 2 and 3")
    chat = ChatPanel(session)
    html = chat.transcript.value
    assert html.index("Add 2 and 3") < html.index("🔧 add(") < html.index("Five.")
    assert "turn 1 ok" in chat.status.text
    chat.close()


async def test_close_unsubscribes(session):
    chat = ChatPanel(session)
    before = chat.transcript.value
    chat.close()
    await session.send("after close")
    assert chat.transcript.value == before


def test_a_journal_that_cannot_be_written_is_refused_before_any_panel_or_request(tmp_path, local):
    # So a send can no longer fail after its request went out because of the journal.
    with pytest.raises(mnb.TurnLogError, match="cannot write"):
        mnb.Session(api_key=TEST_KEY, base_url=local.base_url, log=tmp_path / "no" / "log.jsonl")
    assert local.requests == []
