"""json.loads for a big body, without holding the GIL for long.

Python's json parser holds the GIL for the whole parse: about 0.2 s for a 50 MB message,
during which no other thread runs, the server's event loop included. A big body is nearly
always big because of a few huge strings (a pasted document, base64 images). So the huge
strings are cut out first (found with ``bytes.find``, which is fast), the rest of the body is
parsed as usual, and each huge string is decoded on its own: directly when it holds no
escape, else in slices of about a megabyte, each cut just before an escape. Every step that
holds the GIL then costs a few milliseconds.

A body with millions of small values gets no such help: it is parsed by json.loads in one go.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["BIG_BODY", "loads_big"]

BIG_BODY = 4 * 1024 * 1024
"""Bodies at least this big take the slow-but-fair path."""

_BIG_STRING = 256 * 1024
_MAX_STRINGS = 100_000
_SLICE = 1024 * 1024
_QUOTE = 0x22
_BACKSLASH = 0x5C


class _NotSimple(Exception):
    """Not a body this path handles (not UTF-8 JSON, malformed): use json.loads."""


def _string_end(raw: bytes, start: int) -> int:
    """The index of the quote closing the string opened at ``start``."""
    at = start + 1
    while True:
        end = raw.find(b'"', at)
        if end < 0:
            raise _NotSimple
        run = 0
        while raw[end - 1 - run] == _BACKSLASH:
            run += 1
        if run % 2 == 0:
            return end
        at = end + 1


def _low_surrogate(body: bytes, at: int) -> bool:
    """Whether ``body[at:]`` starts with the escape of a low surrogate, ``\\udc00``-``\\udfff``."""
    escape = body[at : at + 6].lower()
    return len(escape) == 6 and escape[:3] == b"\\ud" and escape[3:4] in b"cdef"


def _decode_string(body: bytes) -> str:
    """The value of a JSON string's body (between its quotes)."""
    if body.find(b"\\") < 0:
        return body.decode("utf-8")
    parts = []
    at = 0
    while at < len(body):
        cut = body.find(b"\\", at + _SLICE) if len(body) - at > _SLICE else -1
        if cut < 0:
            cut = len(body)
        else:
            run = 0  # a cut must start an escape, not split one
            while body[cut - 1 - run] == _BACKSLASH:
                run += 1
            if run % 2:
                cut += 1
            elif _low_surrogate(body, cut):
                cut += 6  # keep a surrogate pair's two halves together
        parts.append(json.loads(b'"' + body[at:cut] + b'"'))
        at = cut
    return "".join(parts)


def loads_big(raw: bytes) -> Any:
    """Parse a UTF-8 JSON body like json.loads, huge strings apart.

    Raises:
        ValueError, RecursionError: as json.loads does (the body is then parsed by it, to
            report the error where it reports it).
    """
    try:
        return _loads_big(raw)
    except (_NotSimple, UnicodeDecodeError, ValueError):
        return json.loads(raw)


def _loads_big(raw: bytes) -> Any:
    if raw[:3] == b"\xef\xbb\xbf" or raw[:1] in (b"\x00", b"\xff", b"\xfe"):
        raise _NotSimple  # a BOM or UTF-16/32: json.loads detects those
    skeleton: list[bytes] = []
    strings: dict[str, bytes] = {}
    copied = at = seen = 0
    while (start := raw.find(b'"', at)) >= 0:
        seen += 1
        if seen > _MAX_STRINGS and not strings:
            raise _NotSimple  # many small values: this walk would only add to json.loads
        end = _string_end(raw, start)
        if end - start > _BIG_STRING:
            key = f"\x00big{len(strings)}\x00"
            skeleton += [raw[copied:start], json.dumps(key).encode()]
            strings[key] = raw[start + 1 : end]
            copied = end + 1
        at = end + 1
    if not strings:
        raise _NotSimple
    skeleton.append(raw[copied:])
    value = json.loads(b"".join(skeleton))
    return _fill(value, {key: _decode_string(body) for key, body in strings.items()})


def _fill(value: Any, strings: dict[str, str]) -> Any:
    """``value`` with each placeholder replaced by its string (keys included)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in [k for k in item if k in strings]:
                item[strings[key]] = item.pop(key)
            for key, child in item.items():
                if isinstance(child, str) and child in strings:
                    item[key] = strings[child]
                elif isinstance(child, (dict, list)):
                    stack.append(child)
        elif isinstance(item, list):
            for index, child in enumerate(item):
                if isinstance(child, str) and child in strings:
                    item[index] = strings[child]
                elif isinstance(child, (dict, list)):
                    stack.append(child)
    if isinstance(value, str) and value in strings:
        return strings[value]
    return value
