"""ChatPanel against a real Session and LocalMistral: send, stream, stop, errors, markers."""

from __future__ import annotations

import asyncio
import threading

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


async def test_a_turn_appears_in_the_transcript_with_its_footer(chat, session, local):
    turn = await _send(chat, "Hello <there> & welcome")

    assert turn.status == "ok"
    assert local.requests[-1]["messages"][-1]["content"] == "Hello <there> & welcome"
    html = chat.transcript_html
    assert "Hello &lt;there&gt; &amp; welcome" in html  # user text, escaped
    assert "You said:" in html and "▍" not in html  # the whole reply, no cursor
    assert chat.message.value == ""
    assert not chat.send_button.disabled and chat.stop_button.disabled
    footer = html.split("mnb-footer'>")[1].split("</div>")[0]
    assert footer.startswith("turn 1 · mistral-small-latest · ")
    assert f"→ {turn.usage['completion_tokens']} tokens" in footer
    assert "TTFB " in footer and "tokens/s" in footer
    assert chat.status.text == "model mistral-small-latest · last turn 1 ok"


async def test_enter_in_the_message_box_sends_it(chat, local):
    """What the browser sends when Enter is pressed (Shift+Enter stays in the box)."""
    assert "Enter sends, Shift+Enter" in chat.message.placeholder
    chat.message._handle_custom_msg({"event": "submit", "value": "Sent with Enter"}, [])
    assert chat.pending is not None
    turn = await chat.pending
    assert turn.status == "ok" and turn.user_text == "Sent with Enter"
    assert local.requests[-1]["messages"][-1]["content"] == "Sent with Enter"
    assert chat.message.value == ""


async def test_replies_render_as_markdown_with_copy_buttons_and_escaped_html(chat, local):
    local.push(
        "Here is **bold** and a list:\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "```python\nprint('<b>hi</b>')\n```\n\n<script>alert(1)</script>"
    )
    await _send(chat, "Show me markdown")
    html = chat.transcript_html
    assert "<strong>bold</strong>" in html and "<li>one</li>" in html
    assert "<table>" in html and "<td>1</td>" in html
    assert "class='language-python'" in html and "mnb-copy" in html
    assert "print(&#x27;&lt;b&gt;hi&lt;/b&gt;&#x27;)" in html or "print('&lt;b&gt;hi" in html
    assert "<script>" not in html and "&lt;script&gt;" in html


async def test_turns_sent_from_code_show_up_too(chat, session):
    await session.send("from a notebook cell")
    assert "from a notebook cell" in chat.transcript_html


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

            def follow(event):
                if event.kind == "token":
                    tokens.append(event)
                elif event.kind == "turn_started":  # the panel made the turn's widget
                    widget = chat.transcript.children[0]  # newest first (column-reverse)
                    widget.observe(lambda change: redraws.append(change["new"]), names="value")

            session.subscribe(follow)

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
            assert "⏹ cancelled" in chat.transcript_html
            assert turn.token_text[0] in chat.transcript_html  # partial text kept
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
            html = chat.transcript_html
            assert "⚠ error" in html and "401" in html and "mnb-marker mnb-error" in html
            assert chat.status.kind == "error" and "401" in chat.status.text
            ok = await _send(chat, "Hello again")
            assert ok.status == "ok" and chat.status.kind == "info"
            chat.close()


async def test_tool_calls_show_as_cards_between_the_texts(chat, session, local):
    @session.tool
    def get_weather(city: str) -> dict:
        """Current weather for a city."""
        return {"city": city, "temperature": 18}

    local.push(ToolCall("get_weather", {"city": "Paris"}), "It is 18 degrees in Paris.")
    await _send(chat, "Weather in Paris?")

    html = chat.transcript_html
    call = html.index("<span class='mnb-call-name'>get_weather</span>")
    assert html.index("Weather in Paris?") < call < html.index("It is 18 degrees in Paris.")
    card = html[call:].split("</div></div>")[0]
    assert "mnb-st-ok'>ok" in card and " ms<" in card  # status and duration
    assert "args {&quot;city&quot;: &quot;Paris&quot;}" in card
    assert "result {&quot;city&quot;: &quot;Paris&quot;, &quot;temperature&quot;: 18}" in card


async def test_a_reply_cut_by_max_tokens_says_so(chat, session):
    session.update_settings(max_tokens=5)
    turn = await _send(chat, "Tell me everything.")
    assert turn.finish_reason == "length"
    assert "✂ stopped at max_tokens: 5 — raise it in settings" in chat.transcript_html


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
    html = chat.transcript_html
    assert html.index("Add 2 and 3") < html.index("mnb-call-name'>add<") < html.index("Five.")
    assert "turn 1 · " in html
    chat.close()


async def test_close_unsubscribes(session):
    chat = ChatPanel(session)
    before = chat.transcript_html
    chat.close()
    await session.send("after close")
    assert chat.transcript_html == before


def test_a_journal_that_cannot_be_written_is_refused_before_any_panel_or_request(tmp_path, local):
    # So a send can no longer fail after its request went out because of the journal.
    with pytest.raises(mnb.TurnLogError, match="cannot write"):
        mnb.Session(api_key=TEST_KEY, base_url=local.base_url, log=tmp_path / "no" / "log.jsonl")
    assert local.requests == []


needs_rewind = pytest.mark.skipif(
    not hasattr(mnb.Session, "rewind"), reason="Session.rewind lands with issue 8's runtime"
)


@needs_rewind
async def test_edit_and_resend_replaces_the_last_turn_in_the_conversation(chat, session, local):
    await _send(chat, "What is 2+2?")
    assert not chat.edit_button.disabled
    chat.edit_button.click()
    assert chat.message.value == "What is 2+2?" and "editing turn 1" in chat.status.text

    chat.message.value = "What is 3+3?"
    second = await _send(chat, "What is 3+3?")

    assert second.status == "ok" and second.turn == 2
    users = [m["content"] for m in local.requests[-1]["messages"] if m["role"] == "user"]
    assert users == ["What is 3+3?"]  # the edited message took the old one's place
    assert len(session.log) == 2  # the log keeps both
    html = chat.transcript_html
    assert "mnb-turn-1 mnb-replaced" in html and "taken back" in html


@needs_rewind
async def test_regenerate_asks_again_with_the_settings_now_in_force(chat, session, local):
    await _send(chat, "Tell me a joke")
    session.update_settings(temperature=1.2)
    chat.regenerate_button.click()
    again = await chat.pending

    assert again.status == "ok" and again.user_text == "Tell me a joke"
    body = local.requests[-1]
    assert body["temperature"] == 1.2
    assert [m["content"] for m in body["messages"] if m["role"] == "user"] == ["Tell me a joke"]
    assert "mnb-turn-1 mnb-replaced" in chat.transcript_html


async def test_edit_and_regenerate_wait_for_a_turn(chat):
    assert chat.edit_button.disabled and chat.regenerate_button.disabled
    chat.edit_button.click()
    assert chat.status.kind == "warning" and "nothing to edit" in chat.status.text


def _event_kinds() -> set[str]:
    import typing

    from mistral_nb import _events

    kind = getattr(_events, "EventKind", None)
    return set(typing.get_args(kind)) if kind is not None else set()


@pytest.mark.skipif(
    "call_started" not in _event_kinds(), reason="call_started events land with issue 8"
)
async def test_a_tool_card_shows_while_the_tool_runs(session, local):
    chat = ChatPanel(session, refresh_interval=0)
    release = threading.Event()  # tools run on the session's own loop and thread
    seen: list[str] = []

    @session.tool
    async def slow_lookup(term: str) -> str:
        """Look a term up, slowly."""
        seen.append(chat.transcript_html)
        while not release.is_set():
            await asyncio.sleep(0.01)
        return f"found {term}"

    local.push(ToolCall("slow_lookup", {"term": "x"}), "Done.")
    chat.message.value = "Look x up"
    chat.send_button.click()
    while not seen:
        await asyncio.sleep(0.01)
    assert "mnb-call-name'>slow_lookup<" in seen[0] and "running…" in seen[0]
    release.set()
    turn = await chat.pending
    assert turn.status == "ok" and "running…" not in chat.transcript_html
    chat.close()


@pytest.mark.skipif("retry" not in _event_kinds(), reason="retry events land with issue 8")
async def test_a_retry_shows_while_the_client_retries_then_goes():
    faults = [Fault.status(429, on=1, retry_after=0.3)]
    with mnb.LocalMistral(api_key=TEST_KEY, faults=faults) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
            chat = ChatPanel(session, refresh_interval=0)
            shown: list[str] = []
            session.subscribe(
                lambda e: shown.append(chat.transcript_html) if e.kind == "retry" else None
            )
            turn = await _send(chat, "Hello")
            assert turn.status == "ok" and turn.retries == 1
            assert any("↻ retrying (429)" in html for html in shown)
            assert "↻" not in chat.transcript_html and "1 retry" in chat.transcript_html
            chat.close()
