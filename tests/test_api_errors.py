"""What the user reads for each recorded Mistral error shape (tests/fixtures/real_mistral).

The exceptions are the OpenAI client's own, raised by a real ``AsyncOpenAI``
against the replay server, which answers with the recorded status, headers and
body byte for byte.
"""

from __future__ import annotations

import copy

import openai
import pytest
from replay import ReplayServer, closed_url, load_capture

from mistral_nb._api_errors import Failure, describe_failure

KEY = "sk-sentinel-0123456789abcdef"
MODEL = "mistral-small-latest"


async def fail(base_url: str, *, max_retries: int = 0, model: str = MODEL) -> Failure:
    """Send one streamed completion the way the session does, and describe how it failed."""
    async with openai.AsyncOpenAI(
        api_key=KEY, base_url=base_url, max_retries=max_retries
    ) as client:
        with pytest.raises(openai.APIError) as caught:
            await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "Hello"}], stream=True
            )
    failure = describe_failure(str(caught.value), caught.value, base_url=base_url, model=model)
    assert KEY not in failure.message
    return failure


async def replayed(server: ReplayServer, capture, *, times: int = 1, **kwargs) -> Failure:
    for _ in range(times):
        server.push(capture)
    failure = await fail(server.base_url, **kwargs)
    assert server.pending == 0
    return failure


# -- 401: three eras of body --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "said"),
    [("070", "Invalid API Key"), ("s072", "Unauthorized"), ("s071", "Unauthorized")],
    ids=["detail-invalid-api-key-2026", "detail-unauthorized-2025", "kong-2025"],
)
async def test_each_401_body_says_the_key_was_refused(replay_server, name, said):
    failure = await replayed(replay_server, name)
    assert failure.message.startswith(f"Mistral rejected the API key (401): {said}; ")
    assert "set MISTRAL_API_KEY" in failure.message
    assert (failure.status, failure.status_code) == ("error", 401)
    assert "{" not in failure.message and "request_id" not in failure.message
    assert "c61f2f15feca71626a990e3740f99245" not in failure.message  # Kong's request id
    assert len(replay_server.requests) == 1  # a 4xx is not retried


# -- 422: the detail list in three wrappings ------------------------------------


async def test_a_bare_422_detail_list_becomes_field_problem_lines(replay_server):
    failure = await replayed(replay_server, "076")
    assert failure.message == (
        "Mistral rejected the request's fields (422):\n"
        "  messages[0].user.content: Input should be a valid string\n"
        "  messages[0].user.content: Input should be a valid list"
    )


async def test_a_422_detail_list_wrapped_in_the_envelope(replay_server):
    failure = await replayed(replay_server, "090")
    assert failure.message == (
        "Mistral rejected the request's fields (422): "
        "stream_options.include_usage: Extra inputs are not permitted"
    )


async def test_a_422_detail_list_json_encoded_inside_message(replay_server):
    failure = await replayed(replay_server, "s092")
    assert failure.message == (
        "Mistral rejected the request's fields (422): "
        "messages[1].assistant.tool_calls[0].name: Extra inputs are not permitted"
    )
    assert "\\" not in failure.message and "detail" not in failure.message


# -- 429 ------------------------------------------------------------------------


async def test_a_429_without_retry_after_is_retried_with_backoff_and_says_so(replay_server):
    capture = load_capture("077")
    assert not any(name.lower() == "retry-after" for name in capture["headers"])
    failure = await replayed(replay_server, capture, times=3, max_retries=2)
    assert len(replay_server.requests) == 3  # the client backed off and retried twice anyway
    assert failure.message == (
        "Mistral's rate limit was hit (429: Rate limit exceeded), also after 2 retries with "
        "backoff: wait a little, then send again"
    )
    assert failure.status_code == 429


async def test_a_429_with_raw_status_code_reads_the_same(replay_server):
    failure = await replayed(replay_server, "s086")
    assert failure.message.startswith("Mistral's rate limit was hit (429: Rate limit exceeded)")
    assert (
        "raw_status_code" not in failure.message and "Mistral's own status" not in failure.message
    )


async def test_a_capacity_429_names_the_model_and_suggests_another(replay_server):
    failure = await replayed(replay_server, "s089", times=2, max_retries=1)
    assert failure.message == (
        "model mistral-small-latest is at capacity at Mistral (429: Service tier capacity "
        "exceeded for this model.), also after 1 retry with backoff: pick another model, e.g. "
        'session.update_settings(model="mistral-medium-latest"), or try again later'
    )


async def test_the_2025_capacity_429_is_recognised_by_its_words(replay_server):
    capture = copy.deepcopy(load_capture("s089"))
    capture["body"] = (
        '{"object":"error","message":"Service tier capacity exceeded for this model.",'
        '"type":"invalid_request_error","param":null,"code":null}'
    )
    failure = await replayed(replay_server, capture, model="mistral-large-latest")
    assert failure.message.startswith("model mistral-large-latest is at capacity")
    assert 'model="mistral-small-latest"' in failure.message


# -- 5xx and 400 -------------------------------------------------------------------


async def test_a_500_service_unavailable_mentions_the_over_long_prompt(replay_server):
    failure = await replayed(replay_server, "079", times=2, max_retries=1)
    assert len(replay_server.requests) == 2
    assert failure.message == (
        "Mistral had a server error (500), also after 1 retry with backoff: Service unavailable. "
        "Try again in a moment; Mistral also answers this for a prompt longer than the model's "
        "context window, so if the conversation is long, session.reset() or send less"
    )
    assert failure.status_code == 500


async def test_a_400_context_window_says_the_conversation_is_too_long(replay_server):
    failure = await replayed(replay_server, "080")
    assert failure.message.startswith(
        "Mistral rejected the request (400): Prompt contains 150004 tokens and 0 draft tokens, "
        "too large for model with 131072 maximum context length; the conversation is longer "
        "than the model's context window"
    )
    assert "session.reset()" in failure.message


async def test_a_400_message_order_quotes_mistral_and_says_what_to_do(replay_server):
    failure = await replayed(replay_server, "073")
    assert failure.message == (
        "Mistral rejected the request (400): Unexpected role 'system' after role 'assistant'; "
        "Mistral refuses the messages in this order: session.reset() starts afresh"
    )


async def test_a_400_tool_call_id_with_raw_status_code(replay_server):
    failure = await replayed(replay_server, "s093")
    assert "Tool call id was turn1_0" in failure.message
    assert "9 letters or digits" in failure.message
    assert "raw_status_code" not in failure.message


async def test_a_raw_status_code_that_disagrees_is_reported(replay_server):
    capture = copy.deepcopy(load_capture("s093"))
    capture["body"] = capture["body"].replace('"raw_status_code":400', '"raw_status_code":413')
    failure = await replayed(replay_server, capture)
    assert failure.status_code == 400
    assert failure.message.endswith("(Mistral's own status for it: 413)")


async def test_a_proxy_page_is_cut_to_one_short_line(replay_server):
    capture = {
        "kind": "error",
        "status": 502,
        "headers": {"Content-Type": "text/html"},
        "body": "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>" + "x" * 500,
    }
    failure = await replayed(replay_server, capture)
    assert failure.message.startswith(
        "Mistral had a server error (502): <html> <head><title>502 Bad Gateway</title></head>"
    )
    assert "\n" not in failure.message and len(failure.message) < 300


# -- nothing answers ---------------------------------------------------------------


async def test_a_refused_connection_says_nothing_answers_at_the_base_url():
    url = closed_url()
    failure = await fail(url)
    assert failure.message == (
        f"nothing answers at {url}: is the server running, and is the URL right "
        "(MISTRAL_BASE_URL / Session(base_url=...))?"
    )
    assert "mid-reply" not in failure.message
    assert failure.category == "CONNECTION"


# -- secrets -------------------------------------------------------------------------


async def test_no_message_repeats_the_key_or_a_header_value(replay_server):
    capture = copy.deepcopy(load_capture("070"))
    correlation = capture["headers"]["Mistral-Correlation-Id"]
    capture["body"] = f'{{"detail":"Invalid API Key {KEY} (request {correlation})"}}\n'
    failure = await replayed(replay_server, capture)
    assert KEY not in failure.message and correlation not in failure.message
    assert "Invalid API Key" in failure.message
