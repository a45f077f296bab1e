"""Turn a failed completion into a message a person can act on.

pipecat reports a failed completion as an ``ErrorFrame`` carrying the OpenAI
client's exception.  The exception knows the HTTP status and Mistral's error
body; this module says what it means and what to do next.

Mistral's error bodies changed shape many times (tests/fixtures/real_mistral):
the ``{"object": "error", "message", "type", "code"}`` envelope (string codes,
``raw_status_code`` since 2026), three 401 bodies (Kong's ``message`` and
``request_id``, ``{"detail": "Unauthorized"}``, ``{"detail": "Invalid API Key"}``),
and pydantic's 422 ``detail`` list bare, wrapped in the envelope, or JSON-encoded
inside ``message``.  Each is read into Mistral's own words; a 422 becomes one
``field: problem`` line per problem.  No message repeats a header value or the
API key, even if a server echoes them in its body.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Literal

import openai

__all__ = ["Failure", "describe_failure"]


@dataclass(frozen=True)
class Failure:
    status: Literal["error", "timeout"]
    message: str
    status_code: int | None = None
    category: str | None = None


_KEY_HELP = (
    "set MISTRAL_API_KEY (or Session(api_key=...)) to a valid key from "
    "https://console.mistral.ai/api-keys"
)
# Loc segments that name a union member (``str``, ``list[...]``, ``ToolChoice``)
# rather than a field: pydantic adds them, a person does not need them.
_TYPE_NAMES = {"str", "int", "float", "bool", "bytes", "list", "dict", "none", "null", "any"}
_SECRET_MIN_LEN = 12
_KEY_MIN_LEN = 6
_MAX_TEXT = 200
_DESCRIPTIVE_HEADERS = {"host", "user-agent", "connection", "date", "server", "transfer-encoding"}


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _field(loc: Any) -> str:
    parts = list(loc) if isinstance(loc, (list, tuple)) else [loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    path = ""
    for position, part in enumerate(parts):
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        name = str(part)
        member = "[" in name or "(" in name or name.lower() in _TYPE_NAMES or name[:1].isupper()
        if position > 0 and member:
            continue
        path += f".{name}" if path else name
    return path


def _problems(detail: list[Any]) -> list[str]:
    """pydantic's detail list as ``field: problem`` lines, each once."""
    lines: list[str] = []
    for item in detail:
        if isinstance(item, dict) and "msg" in item:
            where = _field(item.get("loc", []))
            line = f"{where}: {item['msg']}" if where else str(item["msg"])
        else:
            line = str(item)
        if line not in lines:
            lines.append(line)
    return lines


def _words(body: Any) -> list[str]:
    """Mistral's own words from any of its error bodies, as lines (maybe none)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        parsed = _parse(body.strip())
        if not isinstance(parsed, str):
            return _words(parsed)  # the 2024-01 422: the detail list JSON-encoded in message
        # Plain text: a proxy's page, say.  One line, and not a whole page of it.
        text = " ".join(parsed.split())
        if len(text) > _MAX_TEXT:
            text = text[: _MAX_TEXT - 1].rstrip() + "…"
        return [text] if text else []
    if isinstance(body, list):
        return _problems(body)
    if isinstance(body, dict):
        for key in ("detail", "message"):
            if key in body and body[key] not in (None, "", [], {}):
                return _words(body[key])
    # Anything else (Kong's request_id, an unknown shape) says nothing a person can use.
    return []


def _body(exception: openai.APIStatusError) -> Any:
    """The error body: the client's parse, or the response text when it kept none."""
    if exception.body is not None:
        return exception.body
    try:
        return exception.response.text
    except (AttributeError, RuntimeError):  # the client kept no text (ResponseNotRead)
        return None


def _retries(exception: BaseException | None) -> int | None:
    """How many times the OpenAI client retried before giving up (its retry-count header)."""
    request = None
    try:
        if isinstance(exception, openai.APIStatusError):
            request = exception.response.request
        elif isinstance(exception, openai.APIConnectionError):
            request = exception.request
    except RuntimeError:
        return None
    count = request.headers.get("x-stainless-retry-count") if request is not None else None
    return int(count) if count is not None and count.isdigit() else None


def _after(retries: int | None) -> str:
    if not retries:
        return ""
    return f", also after {retries} {'retry' if retries == 1 else 'retries'} with backoff"


def _other_model(model: str | None) -> str:
    """A model to suggest when ``model`` is at capacity."""
    name = (model or "").lower()
    if "magistral-medium" in name:
        return "magistral-small-latest"
    if "small" in name or "ministral" in name:
        return "mistral-medium-latest"
    return "mistral-small-latest"


def _http_family(obj: object) -> bool:
    """Whether ``obj`` comes from httpx, httpx2 (the OpenAI client's since 3.x) or httpcore."""
    return type(obj).__module__.split(".")[0] in {"httpx", "httpx2", "httpcore"}


def _secrets(exception: BaseException | None) -> list[str]:
    """The API key and the id-like header values of the exchange, to keep out of messages.

    Headers that only describe the exchange (host, content type, user agent,
    the client's own ``x-stainless-*``) are left alone: the base URL is named
    on purpose.
    """
    found: list[str] = []
    blocks: list[Any] = []
    for attribute in ("request", "response"):
        try:
            part = getattr(exception, attribute, None)
        except RuntimeError:  # an httpx error without a request attached
            part = None
        if part is None or not _http_family(part):
            continue
        blocks.append(part.headers)
        inner = getattr(part, "_request", None) or getattr(part, "request", None)
        if inner is not None and inner is not part and _http_family(inner):
            blocks.append(inner.headers)
    for headers in blocks:
        for name, value in headers.items():
            name = name.lower()
            if name == "authorization":
                found.extend((value, value.split(" ", 1)[-1]))
            elif (
                name not in _DESCRIPTIVE_HEADERS
                and not name.startswith(("x-stainless", "content-", "accept"))
                and len(value) >= _SECRET_MIN_LEN
                and " " not in value
            ):
                found.append(value)
    return sorted({s for s in found if len(s) >= _KEY_MIN_LEN}, key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "…")
    return text


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _rejected_400(detail: str, kind: str, mistral_code: str) -> str:
    """A 400 in Mistral's words, with what to do for the causes it names by code."""
    text = f"Mistral rejected the request (400): {detail.rstrip('.')}"
    if mistral_code == "3051" or "maximum context length" in detail:
        return text + (
            "; the conversation is longer than the model's context window: "
            "session.reset() starts afresh, or pick a model with a longer context"
        )
    if mistral_code == "3230" or kind == "invalid_request_message_order":
        return text + "; Mistral refuses the messages in this order: session.reset() starts afresh"
    if mistral_code == "3280":
        return text + (
            "; Mistral takes back only tool-call ids of 9 letters or digits: "
            "session.reset() starts afresh"
        )
    if mistral_code == "1500" or kind == "invalid_model":
        return text + "; pick a model Mistral lists, with session.update_settings(model=...)"
    return text


def _limited_429(
    detail: str, kind: str, mistral_code: str, *, retries: int | None, model: str | None
) -> str:
    """A rate limit, or the model at capacity (which waiting alone may not cure)."""
    capacity = (
        kind == "service_tier_capacity_exceeded"
        or mistral_code == "3505"
        or "capacity exceeded" in detail.lower()
    )
    if capacity:
        return (
            f"model {model or 'this'} is at capacity at Mistral (429: {detail}){_after(retries)}: "
            f'pick another model, e.g. session.update_settings(model="{_other_model(model)}"), '
            "or try again later"
        )
    return (
        f"Mistral's rate limit was hit (429: {detail}){_after(retries)}: wait a little, "
        "then send again"
    )


def _server_5xx(code: int, detail: str, *, retries: int | None) -> str:
    text = f"Mistral had a server error ({code}){_after(retries)}: {_sentence(detail)}"
    if "service unavailable" in detail.lower():
        # Mistral answered an over-long prompt with exactly this 500 (Aug 2025 - Jan 2026).
        return text + (
            " Try again in a moment; Mistral also answers this for a prompt longer than the "
            "model's context window, so if the conversation is long, session.reset() or send less"
        )
    return text + " Try again in a moment"


def _status_message(exception: openai.APIStatusError, *, base_url: str, model: str | None) -> str:
    code = exception.status_code
    body = _body(exception)
    lines = _words(body)
    envelope = body if isinstance(body, dict) else {}
    kind = str(envelope.get("type") or "")
    mistral_code = str(envelope.get("code") or "")
    detail = " ".join(lines) or f"no explanation in the answer (HTTP {code})"
    if code == 400:
        return _rejected_400(detail, kind, mistral_code)
    if code == 401:
        return f"Mistral rejected the API key (401): {detail}; {_KEY_HELP}"
    if code == 403:
        return (
            f"Mistral refused the request (403): this key may not use model {model or 'this'}; "
            "pick another model or check your plan"
        )
    if code == 404:
        return f"nothing answers at {base_url} (404): check MISTRAL_BASE_URL / base_url"
    if code == 413:
        return "the request is too large for Mistral (413): send fewer or smaller images"
    if code == 422:
        if len(lines) > 1:
            problems = "\n".join(f"  {line}" for line in lines)
            return f"Mistral rejected the request's fields (422):\n{problems}"
        return f"Mistral rejected the request's fields (422): {detail}"
    if code == 429:
        return _limited_429(detail, kind, mistral_code, retries=_retries(exception), model=model)
    if code >= 500:
        return _server_5xx(code, detail, retries=_retries(exception))
    return f"Mistral answered {code}: {detail}"


def _causes(exception: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exception
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _refused(exception: BaseException) -> bool:
    """Whether the connection was never made (nothing listens), as opposed to broken."""
    return any(
        isinstance(cause, ConnectionRefusedError)
        or (_http_family(cause) and type(cause).__name__ == "ConnectError")
        for cause in _causes(exception)
    )


def _transport(exception: BaseException | None) -> bool:
    """Whether the connection failed or broke (the HTTP client's own errors)."""
    return isinstance(exception, openai.APIConnectionError) or (
        _http_family(exception) and isinstance(exception, Exception)
    )


def describe_failure(
    message: str, exception: BaseException | None, *, base_url: str, model: str | None = None
) -> Failure:
    """The turn status and message for a failed completion.

    Args:
        message: pipecat's error text (used when there is no exception).
        exception: The exception pipecat caught, usually the OpenAI client's.
        base_url: Where the session sends requests, to name in the message.
        model: The model asked for, to name in the message.

    Returns:
        The failure: ``timeout`` or ``error``, a message that says what happened and
        what to do, the HTTP status when there was one, and a category.
    """
    secrets = _secrets(exception)
    failure = _describe(message, exception, base_url=base_url, model=model)
    return Failure(
        failure.status, _scrub(failure.message, secrets), failure.status_code, failure.category
    )


def _describe(
    message: str, exception: BaseException | None, *, base_url: str, model: str | None
) -> Failure:
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
        text = _status_message(exception, base_url=base_url, model=model)
        raw = exception.body.get("raw_status_code") if isinstance(exception.body, dict) else None
        if isinstance(raw, int) and raw != exception.status_code:
            text += f" (Mistral's own status for it: {raw})"
        return Failure("error", text, exception.status_code, None)
    if exception is not None and _refused(exception):
        return Failure(
            "error",
            f"nothing answers at {base_url}: is the server running, and is the URL right "
            "(MISTRAL_BASE_URL / Session(base_url=...))?",
            None,
            "CONNECTION",
        )
    if exception is not None and _transport(exception):
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
