"""What goes over the wire: error envelopes, completion bodies, SSE chunks, ids and headers."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = [
    "Rejection",
    "call_id",
    "completion_id",
    "correlation_id",
    "dumps",
    "error_body",
    "rate_limit_headers",
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


def error_body(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    """Mistral's handler-level error envelope (400, 404, 429, ...)."""
    return {"object": "error", "message": message, "type": type_, "param": None, "code": code}


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
        return cls(status, error_body(message, type_, code))


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
