"""What one turn of the transcript says, from Turn records: Markdown, reasoning, markers,
footer; and the throttle that bounds redraws, from any thread."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from mistral_nb._turn import CallRecord, Completion, Turn
from mistral_nb.ui._markdown import render_markdown
from mistral_nb.ui._transcript import Throttle, TurnView


def _turn(text: str = "Hello", **fields) -> Turn:
    turn = Turn(
        turn=3,
        started_at=datetime.now(UTC),
        user_text="Question?",
        settings={"model": "mistral-small-latest", "max_tokens": 256},
        **fields,
    )
    turn.token_text = [text]
    turn.token_completion = [0]
    turn.token_t_s = [0.2]
    return turn


def test_markdown_escapes_html_and_neutralises_javascript_links():
    html = render_markdown("<img src=x onerror=alert(1)> [x](javascript:alert(1)) `a<b`")
    assert "<img" not in html and "&lt;img" in html
    assert "javascript:" not in html
    assert "<code>a&lt;b</code>" in html


def test_an_unclosed_code_fence_renders_as_code_while_it_streams():
    html = render_markdown("Look:\n\n```python\nx = 1\n")
    assert "<pre><code class='language-python'>x = 1" in html and "mnb-copy" in html


def test_a_running_turn_has_a_cursor_and_no_footer():
    view = TurnView(_turn("Partial **answer"))
    html = view.render()
    assert "▍" in html and "mnb-footer" not in html
    assert "Partial" in html


def test_a_reply_cut_at_max_tokens_is_marked():
    turn = _turn(status="ok", completions=[Completion(0, 0.0, 0.1, "length", 10, 256)])
    html = TurnView(turn, finished=True).render()
    assert "✂ stopped at max_tokens: 256 — raise it in settings" in html
    assert "turn 3 · mistral-small-latest · 10 → 256 tokens · TTFB 100 ms" in html


def test_cancelled_and_failed_turns_are_marked():
    cancelled = TurnView(_turn(status="cancelled"), finished=True).render()
    assert "⏹ cancelled" in cancelled and "mnb-cancelled" in cancelled
    failed = _turn(status="error", error="Mistral had a server error (503) <again>")
    html = TurnView(failed, finished=True).render()
    assert "⚠ error: Mistral had a server error (503) &lt;again&gt;" in html


def test_a_retry_notice_shows_until_tokens_flow_again():
    view = TurnView(_turn(""))
    view.retrying("retrying (429), attempt 2 of 3...")
    assert "↻ retrying (429), attempt 2 of 3..." in view.render()
    view.streamed()
    assert "↻" not in view.render()


def test_reasoning_is_collapsed_above_the_answer():
    turn = _turn("")
    turn.token_text, turn.token_completion, turn.token_t_s = [], [], []
    for piece in ("Let me think ", "about <this> ", "carefully."):
        turn.add_token(piece, 0.1, 0, kind="thinking")
    turn.add_token("The answer.", 0.2, 0)
    html = TurnView(turn, finished=True).render()
    assert "<details class='mnb-thinking'><summary>reasoning (6 words)</summary>" in html
    assert "&lt;this&gt;" in html
    assert html.index("mnb-thinking") < html.index("The answer.")
    assert "carefully.</div></details>" in html and "carefully.The" not in html


def test_a_running_call_becomes_its_finished_card():
    turn = _turn("")
    view = TurnView(turn)
    started = CallRecord("c1", "lookup", {"q": "x"}, None, "running", None, datetime.now(UTC), 0)
    view.call_started(started)
    assert "running…" in view.render()
    done = CallRecord("c1", "lookup", {"q": "x"}, "found", "ok", None, datetime.now(UTC), 0.25)
    turn.call_records.append(done)
    view.call_finished(done)
    html = view.render()
    assert "running…" not in html and "mnb-st-ok'>ok" in html and "250 ms" in html


def test_a_finished_turn_is_rendered_once():
    view = TurnView(_turn("Done."), finished=True)
    first = view.render()
    view.turn.token_text.append(" Changed.")  # a finished turn never changes...
    assert view.render() is first  # ...so its HTML is computed once


def test_the_throttle_coalesces_requests_from_another_thread():
    calls: list[float] = []
    throttle = Throttle(lambda: calls.append(time.monotonic()), interval=0.05)

    def burst() -> None:
        for _ in range(200):
            throttle.request()

    worker = threading.Thread(target=burst)
    worker.start()
    worker.join()
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert 2 <= len(calls) < 20  # the first at once, then the timer's: not 200
    throttle.flush()
    throttle.cancel()
