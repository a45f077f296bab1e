"""Turn a failed completion into a message a person can act on.

pipecat reports a failed completion as an ``ErrorFrame`` carrying the OpenAI
client's exception.  The exception knows the HTTP status and Mistral's error
body; this module says what it means and what to do next.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import openai

__all__ = ["Failure", "describe_failure"]


@dataclass(frozen=True)
class Failure:
    status: str  # error | timeout
    message: str
    status_code: int | None = None
    category: str | None = None


_ADVICE = {
    400: "Mistral rejected the request (400): {detail}",
    401: "Mistral rejected the API key (401): set MISTRAL_API_KEY to a valid key "
    "(https://console.mistral.ai/api-keys)",
    403: "Mistral refused the request (403): this key may not use model {model}; "
    "pick another model or check your plan",
    404: "nothing answers at {base_url} (404): check MISTRAL_BASE_URL / base_url",
    413: "the request is too large for Mistral (413): send fewer or smaller images",
    422: "Mistral rejected the request's fields (422): {detail}",
    429: "Mistral's rate limit was hit (429), also after retrying: wait a little, then send again",
}


def _detail(body: Any) -> str:
    """Mistral's own words, from any of its error envelopes."""
    if isinstance(body, dict):
        if "detail" in body:
            return _detail(body["detail"])
        if "message" in body:
            return _detail(body["message"])
        return str(body)
    if isinstance(body, list):
        problems = []
        for item in body:
            if isinstance(item, dict) and "msg" in item:
                where = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                problems.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
            else:
                problems.append(str(item))
        return "; ".join(problems)
    return str(body)


def describe_failure(
    message: str, exception: BaseException | None, *, base_url: str, model: str | None = None
) -> Failure:
    """The turn status and message for a failed completion."""
    category = None
    if isinstance(exception, (openai.APITimeoutError, asyncio.TimeoutError, TimeoutError)) or (
        exception is None and "timeout" in message.lower()
    ):
        return Failure(
            "timeout",
            f"no answer from {base_url} in time (request timeout): try again, or raise "
            "Session(request_timeout=...)",
            None,
            "TIMEOUT",
        )
    if isinstance(exception, openai.APIStatusError):
        code = exception.status_code
        detail = _detail(exception.body) if exception.body is not None else exception.message
        if code in _ADVICE:
            text = _ADVICE[code].format(detail=detail, base_url=base_url, model=model or "this")
        elif code >= 500:
            text = (
                f"Mistral had a server error ({code}), also after retrying: {detail}; "
                "try again in a moment"
            )
        else:
            text = f"Mistral answered {code}: {detail}"
        return Failure("error", text, code, category)
    if isinstance(exception, openai.APIConnectionError):
        cause = exception.__cause__ or exception
        return Failure(
            "error",
            f"the connection to {base_url} failed or broke mid-reply ({type(cause).__name__}: "
            f"{cause}); what streamed before is kept; send again",
            None,
            "CONNECTION",
        )
    if isinstance(exception, ValueError) and "JSON" in type(exception).__name__:
        return Failure(
            "error",
            f"the reply stream from {base_url} had a malformed event ({exception}); what "
            "streamed before is kept; send again",
            None,
            "STREAM",
        )
    if exception is not None:
        return Failure("error", f"{type(exception).__name__}: {exception}", None, None)
    return Failure("error", message, None, None)
