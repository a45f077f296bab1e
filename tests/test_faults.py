"""Every fault LocalMistral can inject gives a clear turn, and the next turn works.

One row of the README's "What happens when things go wrong" table per case.
"""

from __future__ import annotations

import pytest
from conftest import TEST_KEY

import mistral_nb as mnb
from mistral_nb.local import Fault

FIRST_THREE = [1, 2, 3]  # the request and both retries

CASES = [
    # fault, status, words in the error, retries
    (Fault.status(400, on=1), "error", "rejected the request (400)", 0),
    (Fault.status(401, on=1), "error", "set MISTRAL_API_KEY", 0),
    (Fault.status(403, on=1), "error", "may not use model mistral-small-latest", 0),
    (Fault.status(404, on=1), "error", "check MISTRAL_BASE_URL", 0),
    (Fault.status(422, on=1), "error", "rejected the request's fields (422)", 0),
    (Fault.status(429, on=FIRST_THREE, retry_after=0.05), "error", "rate limit", 2),
    (Fault.status(500, on=FIRST_THREE), "error", "server error (500)", 2),
    (Fault.status(503, on=FIRST_THREE), "error", "server error (503)", 2),
    (Fault.cut(after_tokens=3, on=1), "error", "broke mid-reply", 0),
    (Fault.malformed(after_tokens=3, on=1), "error", "malformed event", 0),
    (Fault.error_finish(after_tokens=3, on=1), "error", "finish_reason 'error'", 0),
    (Fault.hang(on=FIRST_THREE), "timeout", "request_timeout", 2),
]


IDS = ["400", "401", "403", "404", "422", "429", "500", "503", "cut", "malformed", "error", "hang"]


@pytest.mark.parametrize(("fault", "status", "words", "retries"), CASES, ids=IDS)
async def test_each_fault_gives_a_clear_turn_and_the_next_turn_works(fault, status, words, retries):
    with mnb.LocalMistral(api_key=TEST_KEY, faults=[fault]) as local:
        async with mnb.Session(
            api_key=TEST_KEY, base_url=local.base_url, request_timeout=0.3
        ) as session:
            failed = await session.send("Tell me a story about a lighthouse keeper.")
            again = await session.send("Hello again")
    assert failed.status == status
    assert words in failed.error
    assert failed.retries == retries
    assert again.status == "ok" and again.text
    row = session.log.turns().iloc[0]
    assert (row["status"], row["error"], row["retries"]) == (status, failed.error, retries)


@pytest.mark.parametrize(
    "fault",
    [Fault.cut(after_tokens=5, on=1), Fault.malformed(after_tokens=5, on=1)],
    ids=["cut", "malformed"],
)
async def test_partial_tokens_are_kept_in_the_turn_and_the_log(fault):
    with mnb.LocalMistral(api_key=TEST_KEY, faults=[fault]) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
            turn = await session.send("Tell me a story.")
    assert len(turn.tokens) == 5
    assert session.log.turns().iloc[0]["n_chunks"] == 5
    assert turn.text


async def test_an_error_finish_keeps_usage():
    with mnb.LocalMistral(
        api_key=TEST_KEY, faults=[Fault.error_finish(after_tokens=4, on=1)]
    ) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
            turn = await session.send("Tell me a story.")
    assert turn.finish_reason == "error"
    assert turn.usage["completion_tokens"] == 4


@pytest.mark.parametrize(
    ("fault", "at_least"),
    [(Fault.delay(0.3, on=1), 0.3), (Fault.slow(0.01, on=1), 0.01 * 20)],
    ids=["first-byte-delay", "token-delay"],
)
async def test_slow_answers_still_complete_and_show_in_the_timings(fault, at_least):
    with mnb.LocalMistral(api_key=TEST_KEY, faults=[fault]) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
            turn = await session.send("Tell me a story.")
    assert turn.status == "ok"
    assert turn.duration_s >= at_least


async def test_4xx_are_not_retried_but_429_honours_retry_after():
    with mnb.LocalMistral(
        api_key=TEST_KEY, faults=[Fault.status(429, on=1, retry_after=0.4)]
    ) as local:
        async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
            turn = await session.send("Hello")
    assert turn.status == "ok"
    assert turn.retries == 1
    assert turn.duration_s >= 0.4
