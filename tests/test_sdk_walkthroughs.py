"""Mistral's own SDK walkthroughs run against `mistral-nb serve` and give sensible results.

The payments example of Mistral's function-calling guide (with ``tool_choice="any"``)
and the SDK's structured-output ``chat.parse`` helper, unchanged but for the server URL.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from mistralai.client import Mistral
from pydantic import BaseModel
from test_local_structured import PAYMENT_TOOLS as TOOLS  # Mistral's walkthrough tools

KEY = "walkthrough-key-0123"

PAYMENTS = {"T1001": {"status": "Paid", "date": "2021-10-05"}}


@pytest.fixture(scope="module")
def server_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "mistral_nb.cli", "serve", "--port", str(port), "--quiet"],
        env={**os.environ, "MISTRAL_API_KEY": KEY},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {KEY}"})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_payments_walkthrough_with_tool_choice_any(server_url):
    with Mistral(api_key=KEY, server_url=server_url) as client:
        messages = [{"role": "user", "content": "What's the status of my transaction T1001?"}]
        response = client.chat.complete(
            model="mistral-small-latest", messages=messages, tools=TOOLS, tool_choice="any"
        )
        message = response.choices[0].message
        (call,) = message.tool_calls
        assert call.function.name == "retrieve_payment_status"
        arguments = json.loads(call.function.arguments)
        assert arguments == {"transaction_id": "T1001"}
        messages.append(message)
        result = {"status": PAYMENTS[arguments["transaction_id"]]["status"]}
        messages.append(
            {
                "role": "tool",
                "name": call.function.name,
                "content": json.dumps(result),
                "tool_call_id": call.id,
            }
        )
        final = client.chat.complete(model="mistral-small-latest", messages=messages)
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content


class Book(BaseModel):
    name: str
    authors: list[str]


def test_the_sdks_structured_output_parse_helper(server_url):
    with Mistral(api_key=KEY, server_url=server_url) as client:
        response = client.chat.parse(
            model="mistral-small-latest",
            messages=[
                {"role": "system", "content": "Extract the book's information."},
                {"role": "user", "content": "I read 'Dune' by Frank Herbert last summer."},
            ],
            response_format=Book,
        )
    parsed = response.choices[0].message.parsed
    assert isinstance(parsed, Book)
    assert parsed.name == "Dune"  # taken from the message
    assert isinstance(parsed.authors, list)
