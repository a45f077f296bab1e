"""What goes over the wire: error envelopes, completion bodies, SSE chunks, ids and headers."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any, Literal

__all__ = [
    "ERRORS",
    "INVALID_ARGS",
    "Era",
    "Rejection",
    "call_id",
    "case_body",
    "completion_id",
    "correlation_id",
    "detail_422",
    "dumps",
    "error_body",
    "padding",
    "rate_limit_headers",
    "to_era",
    "unauthorized",
    "usage",
    "vllm_call_id",
]

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(value: Any) -> str:
    """Compact JSON, as Mistral's server writes it, that strict parsers accept.

    Two inputs a request can carry are not JSON as Python's json writes them, and a 422
    echoes them back:

    * NaN and infinities (json.loads takes the bare ``NaN`` / ``Infinity`` tokens) are
      written as null, as pydantic and JavaScript's JSON.stringify write them;
    * a lone surrogate (``"\\ud800"`` decodes to a str that UTF-8 cannot encode) is
      written as its ``\\uXXXX`` escape, which decodes back to the same string. Other
      text stays unescaped UTF-8, as Starlette writes it.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a NaN or an infinity somewhere
        text = json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"))
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
    return text


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


Era = Literal["2026", "2024"]
"""The wire format to speak: ``"2026"`` (Mistral's current shapes, the default) or ``"2024"``
(``logprobs: null``, ``usage: null`` and ``role: null`` on every chunk, tool calls without
``index`` or ``type``, untyped error codes, the gateway's 401)."""

ERRORS: dict[str, tuple[int, str, str, str | None]] = {
    "message_order": (
        400,
        "Unexpected role 'user' after role 'tool'",
        "invalid_request_message_order",
        "3230",
    ),
    "invalid_model": (400, "Invalid model: {model}", "invalid_model", "1500"),
    "tool_call_id": (
        400,
        "Tool call id was {id} but must be a-z, A-Z, 0-9, with a length of 9.",
        "invalid_function_call",
        "3280",
    ),
    "context_window": (
        400,
        (
            "Prompt contains {prompt} tokens and 0 draft tokens, too large for model with "
            "{limit} maximum context length"
        ),
        "invalid_request_invalid_args",
        "3051",
    ),
    "rate_limited": (429, "Rate limit exceeded", "rate_limited", "1300"),
    "capacity": (
        429,
        "Service tier capacity exceeded for this model.",
        "service_tier_capacity_exceeded",
        "3505",
    ),
    "internal": (500, "Service unavailable.", "internal_server_error", "1000"),
}
"""Mistral's error cases as recorded (status, message, type, code); ``Fault.error(case)``
sends one. Codes are strings of digits, as the server writes them."""

INVALID_ARGS = ("invalid_request_invalid_args", "3051")
"""Type and code for a request argument the server refuses (the context-window rule's pair,
used where the real server's own pair is not on record)."""


def error_body(
    message: Any, type_: str, code: str | None = None, status: int | None = None
) -> dict[str, Any]:
    """Mistral's handler-level error envelope; ``status`` adds 2026's ``raw_status_code``."""
    body = {"object": "error", "message": message, "type": type_, "param": None, "code": code}
    if status is not None:
        body["raw_status_code"] = status
    return body


def case_body(case: str, **values: Any) -> tuple[int, dict[str, Any]]:
    """The status and envelope of one of :data:`ERRORS`, its message filled from ``values``."""
    status, message, type_, code = ERRORS[case]
    return status, error_body(message.format(**values), type_, code, status)


def unauthorized(era: Era) -> tuple[bytes, dict[str, str]]:
    """The 401 body and headers of the era: FastAPI's detail (2026, with its trailing
    newline), or the Kong gateway's pretty-printed body (2024)."""
    if era == "2024":
        request_id = uuid.uuid4().hex
        body = f'{{\n  "message":"Unauthorized",\n  "request_id":"{request_id}"\n}}'
        return body.encode(), {
            "content-type": "application/json; charset=utf-8",
            "www-authenticate": "Key",
        }
    return b'{"detail":"Invalid API Key"}\n', {"content-type": "application/json"}


def to_era(body: Any, era: Era) -> Any:
    """An error envelope as the era wrote it: before mid-2025 every 4xx was typed
    ``invalid_request_error`` with a null code, and there was no ``raw_status_code``."""
    if era != "2024" or not isinstance(body, dict) or body.get("object") != "error":
        return body
    body = {key: value for key, value in body.items() if key != "raw_status_code"}
    if body.get("type") not in ("internal_server_error",):
        body["type"], body["code"] = "invalid_request_error", None
    return body


def detail_422(detail: list[dict[str, Any]], style: str, era: Era) -> dict[str, Any]:
    """A 422 body: FastAPI's bare ``{"detail": [...]}`` (``"plain"``), the list wrapped in
    the envelope (``"wrapped"``, 2024-04 to 2025-12), or JSON-encoded inside ``message``
    (``"encoded"``, 2024-01)."""
    if style == "wrapped":
        return error_body(
            {"detail": detail}, "invalid_request_error", None, None if era == "2024" else 422
        )
    if style == "encoded":
        return error_body(dumps({"detail": detail}), "internal_error_proxy", "1000")
    return {"detail": detail}


_PAD = "abcdefghijklmnopqrstuvwxyz0123456789"


def padding(rng: random.Random) -> str:
    """The ``p`` field: a prefix of a-z0-9 of random length 1-36 (token-length padding)."""
    return _PAD[: rng.randint(1, len(_PAD))]


def usage(
    prompt: int, completion: int, era: Era, *, cached: int = 0, tier: bool = True
) -> dict[str, Any]:
    """Usage in the era's keys and order: prompt, total, completion, then (2026) the cached
    prompt tokens and the service tier."""
    body: dict[str, Any] = {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
    }
    if era != "2024":
        body["prompt_tokens_details"] = {"cached_tokens": cached}
        if tier:
            body["service_tier"] = "standard"
    return body


class Rejection(Exception):
    """A request answered with an error status instead of a completion."""

    def __init__(
        self,
        status: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {body!r}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    @classmethod
    def mistral(cls, status: int, message: str, type_: str, code: str | None = None) -> Rejection:
        """A rejection with Mistral's current envelope (``raw_status_code`` included)."""
        return cls(status, error_body(message, type_, code, status))

    @classmethod
    def case(cls, case: str, **values: Any) -> Rejection:
        """A rejection for one of :data:`ERRORS`."""
        return cls(*case_body(case, **values))


def completion_id() -> str:
    """A completion id: 32 lowercase hex digits, no prefix."""
    return uuid.uuid4().hex


def correlation_id() -> str:
    """A UUIDv7-shaped id, like Mistral's ``mistral-correlation-id`` header."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def call_id(seed: str) -> str:
    """A deterministic 9-character [A-Za-z0-9] tool call id derived from ``seed``."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:12], "big")
    chars = []
    for _ in range(9):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def vllm_call_id(seed: str) -> str:
    """A vLLM-style tool call id, ``chatcmpl-tool-`` and 16 hex digits (recorded for a
    third-party model Mistral hosts)."""
    return "chatcmpl-tool-" + hashlib.sha256(seed.encode()).hexdigest()[:16]


def rate_limit_headers(retry_after: float | None, exhausted: bool) -> dict[str, str]:
    """Both generations of Mistral's rate-limit headers (§7 of the API notes)."""
    remaining = "0" if exhausted else "719"
    headers = {
        "x-ratelimit-limit-req-minute": "720",
        "x-ratelimit-remaining-req-minute": remaining,
        "x-ratelimit-limit-tokens-minute": "5000000",
        "x-ratelimit-remaining-tokens-minute": "0" if exhausted else "4999911",
        "x-ratelimit-tokens-query-cost": "52",
        "ratelimitbysize-limit": "5000000",
        "ratelimitbysize-remaining": "0" if exhausted else "4999911",
        "ratelimitbysize-reset": str(max(1, round(retry_after or 1))),
        "ratelimitbysize-query-cost": "52",
    }
    if retry_after is not None:
        seconds = retry_after
        headers["retry-after"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    return headers
