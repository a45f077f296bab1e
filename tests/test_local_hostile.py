"""Hostile bodies the fuzzing found (tests/test_fuzz_endpoint.py): each gets a 4xx in
Mistral's shapes, as strict JSON, and is recorded; none gets a 500.

The limits pinned here are LocalMistral's own (Mistral documents none): nesting deeper than
200 levels is ``json_invalid``, ``n`` above 128 is ``less_than_equal``.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from typing import Any

import httpx
import pytest
from PIL import Image

from mistral_nb.local import LocalMistral

MODEL = "mistral-small-latest"
USER = {"role": "user", "content": "hi"}
MAX_DEPTH = 200
MAX_N = 128


@pytest.fixture
def server():
    with LocalMistral() as running:
        yield running


def post(server: LocalMistral, raw: bytes | str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/chat/completions",
        content=raw,
        headers={"Authorization": "Bearer k", "Content-Type": "application/json"},
        timeout=10,
    )


def strict_json(response: httpx.Response) -> Any:
    """The body, parsed as RFC 8259 JSON: no NaN / Infinity tokens, valid UTF-8."""

    def refuse(token: str) -> Any:
        raise ValueError(f"{token} is not JSON")

    return json.loads(response.content.decode("utf-8"), parse_constant=refuse)


def request(**extra: Any) -> str:
    return json.dumps({"model": MODEL, "messages": [USER], **extra})


# -- nesting -------------------------------------------------------------------------------


def nested(depth: int) -> str:
    """A request whose metadata holds a string ``depth`` lists deep: 2 + depth levels."""
    return request()[:-1] + ', "metadata": {"deep": ' + "[" * depth + '"hi"' + "]" * depth + "}}"


def test_nesting_up_to_the_limit_is_accepted_and_recorded_as_json(server):
    raw = nested(MAX_DEPTH - 2)
    assert post(server, raw).status_code == 200
    assert server.requests == [json.loads(raw)]


def test_brackets_inside_strings_do_not_count(server):
    raw = request(metadata={"text": "[{" * 5000})
    assert post(server, raw).status_code == 200


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, 600, 5000])
def test_deeper_nesting_is_json_invalid_and_recorded_as_text(server, depth):
    raw = nested(depth)
    response = post(server, raw)
    assert response.status_code == 422
    assert strict_json(response) == {
        "detail": [
            {
                "type": "json_invalid",
                "loc": ["body", raw.index("[[") + MAX_DEPTH - 2],  # the bracket one too deep
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": f"Recursion limit exceeded: deeper than {MAX_DEPTH} levels"},
            }
        ]
    }
    assert server.requests == [raw]
    assert post(server, request()).status_code == 200


# -- what a 4xx echoes -------------------------------------------------------------------


def test_a_lone_surrogate_is_echoed_as_an_escape(server):
    response = post(
        server, b'{"model": "\\ud800", "messages": [{"role": "user", "content": "hi"}]}'
    )
    assert response.status_code == 400
    assert b'"Invalid model: \\ud800"' in response.content
    assert strict_json(response)["message"] == "Invalid model: \ud800"


def test_a_lone_surrogate_in_a_key_is_a_422(server):
    response = post(server, b'{"model": "m", "messages": [], "x\\udc00": 1}')
    assert response.status_code == 422
    assert strict_json(response)["detail"][0]["input"] == "x\udc00"


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_echoed_as_null(server, token):
    response = post(server, request()[:-1] + f', "temperature": {token}}}')
    assert response.status_code == 422
    [item] = strict_json(response)["detail"]
    assert item["loc"] == ["body", "temperature"]
    assert item["input"] is None


# -- images past Pillow's decompression-bomb limits ----------------------------------------


def png_declaring(width: int, height: int) -> str:
    """A 3x2 PNG whose header declares ``width`` x ``height``, as a data URL."""
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), "red").save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return "data:image/png;base64," + base64.b64encode(bytes(data)).decode()


def image_request(url: str) -> str:
    content = [{"type": "image_url", "image_url": url}]
    return json.dumps({"model": MODEL, "messages": [{"role": "user", "content": content}]})


def test_an_image_past_pillows_error_limit_gets_the_resolution_400(server):
    response = post(server, image_request(png_declaring(20_000, 20_000)))
    assert response.status_code == 400
    assert strict_json(response)["message"] == (
        "Image at messages[0].content[0] is 20000x20000, above the 10000x10000 maximum resolution"
    )


def test_an_image_past_pillows_warning_limit_is_accepted_without_a_warning(server, recwarn):
    response = post(server, image_request(png_declaring(9_999, 9_999)))
    assert response.status_code == 200, response.text
    assert "9999x9999 RGB PNG" in response.json()["choices"][0]["message"]["content"]
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


# -- n -------------------------------------------------------------------------------------


def test_n_above_the_limit_is_less_than_equal(server):
    response = post(server, request(n=MAX_N + 1))
    assert response.status_code == 422
    assert strict_json(response) == {
        "detail": [
            {
                "type": "less_than_equal",
                "loc": ["body", "n"],
                "msg": f"Input should be less than or equal to {MAX_N}",
                "input": MAX_N + 1,
                "ctx": {"le": MAX_N},
            }
        ]
    }


def test_n_at_the_limit_is_answered(server):
    response = post(server, request(n=MAX_N))
    assert response.status_code == 200
    assert [choice["index"] for choice in response.json()["choices"]] == list(range(MAX_N))
