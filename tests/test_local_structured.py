"""LocalMistral keeps up with the cookbook flows (issue 11, point 5): tool choice, Mistral's
payments walkthrough, JSON built from the message, distinct candidates."""

from __future__ import annotations

import base64
import json

import httpx
import jsonschema
import pytest
from mistralai.client import Mistral

from mistral_nb.local import LocalMistral

SMALL = "mistral-small-latest"
PAYMENT_TOOLS = [  # Mistral's function-calling walkthrough (docs, function-calling.md)
    {
        "type": "function",
        "function": {
            "name": "retrieve_payment_status",
            "description": "Get payment status of a transaction",
            "parameters": {
                "type": "object",
                "properties": {
                    "transaction_id": {"type": "string", "description": "The transaction id."}
                },
                "required": ["transaction_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "retrieve_payment_date",
            "description": "Get payment date of a transaction",
            "parameters": {
                "type": "object",
                "properties": {
                    "transaction_id": {"type": "string", "description": "The transaction id."}
                },
                "required": ["transaction_id"],
            },
        },
    },
]
STATUS = [{"role": "user", "content": "What's the status of my transaction T1001?"}]


@pytest.fixture(scope="module")
def server():
    with LocalMistral() as running:
        yield running


def post(server: LocalMistral, body: dict) -> dict:
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json=body,
        headers={"Authorization": "Bearer k"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def calls(body: dict, choice: int = 0) -> list[tuple[str, dict]]:
    found = body["choices"][choice]["message"]["tool_calls"] or []
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in found]


@pytest.mark.parametrize("choice", ["auto", "any", "required"])
def test_the_payments_walkthrough_calls_the_status_tool(server, choice):
    body = post(
        server, {"model": SMALL, "messages": STATUS, "tools": PAYMENT_TOOLS, "tool_choice": choice}
    )
    assert calls(body) == [("retrieve_payment_status", {"transaction_id": "T1001"})]
    assert body["choices"][0]["finish_reason"] == "tool_calls"


def test_a_named_tool_choice_always_calls_it(server):
    choice = {"type": "function", "function": {"name": "retrieve_payment_date"}}
    body = post(
        server, {"model": SMALL, "messages": STATUS, "tools": PAYMENT_TOOLS, "tool_choice": choice}
    )
    assert calls(body) == [("retrieve_payment_date", {"transaction_id": "T1001"})]


def test_auto_answers_in_text_when_no_tool_fits(server):
    messages = [{"role": "user", "content": "Tell me a joke about cats."}]
    body = post(server, {"model": SMALL, "messages": messages, "tools": PAYMENT_TOOLS})
    assert body["choices"][0]["message"]["tool_calls"] is None
    forced = post(
        server, {"model": SMALL, "messages": messages, "tools": PAYMENT_TOOLS, "tool_choice": "any"}
    )
    assert calls(forced)[0][0] == "retrieve_payment_status"
    assert (
        post(
            server,
            {"model": SMALL, "messages": STATUS, "tools": PAYMENT_TOOLS, "tool_choice": "none"},
        )["choices"][0]["message"]["tool_calls"]
        is None
    )


def test_the_mistralai_sdk_walkthrough_runs_end_to_end(server):
    with Mistral(api_key="k", server_url=server.server_url) as client:
        reply = client.chat.complete(
            model=SMALL, messages=STATUS, tools=PAYMENT_TOOLS, tool_choice="any"
        )
        call = reply.choices[0].message.tool_calls[0]
        assert call.function.name == "retrieve_payment_status"
        arguments = json.loads(call.function.arguments)
        result = json.dumps({"status": "Paid", "transaction_id": arguments["transaction_id"]})
        final = client.chat.complete(
            model=SMALL,
            messages=[
                *STATUS,
                reply.choices[0].message,
                {
                    "role": "tool",
                    "name": call.function.name,
                    "content": result,
                    "tool_call_id": call.id,
                },
            ],
            tools=PAYMENT_TOOLS,
        )
    assert "Paid" in final.choices[0].message.content


PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "birthday": {"type": "string", "format": "date"},
        "vegetarian": {"type": "boolean"},
        "city": {"type": "string"},
    },
    "required": ["name", "age", "birthday", "vegetarian", "city"],
    "additionalProperties": False,
}


def test_json_schema_takes_its_values_from_the_message(server):
    text = "Hi, my name is Bob Smith, I am 30 years old, born 1995-04-02, yes I'm vegetarian."
    body = post(
        server,
        {
            "model": SMALL,
            "messages": [{"role": "user", "content": text}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "person", "schema": PERSON, "strict": True},
            },
        },
    )
    value = json.loads(body["choices"][0]["message"]["content"])
    jsonschema.validate(value, PERSON)
    assert {k: value[k] for k in ("name", "age", "birthday", "vegetarian")} == {
        "name": "Bob Smith",
        "age": 30,
        "birthday": "1995-04-02",
        "vegetarian": True,
    }


def test_json_object_is_built_from_the_message(server):
    fmt = {"type": "json_object"}
    pairs = post(
        server,
        {
            "model": SMALL,
            "response_format": fmt,
            "messages": [{"role": "user", "content": "name: Bob, age: 30, member: yes"}],
        },
    )
    assert json.loads(pairs["choices"][0]["message"]["content"]) == {
        "name": "Bob",
        "age": 30,
        "member": True,
    }
    free = post(
        server,
        {
            "model": SMALL,
            "response_format": fmt,
            "messages": [{"role": "user", "content": "How are you?"}],
        },
    )
    value = json.loads(free["choices"][0]["message"]["content"])
    assert (value["message"], value["words"], value["question"]) == ("How are you?", 3, True)


def test_n_gives_distinct_candidates(server):
    body = post(server, {"model": SMALL, "messages": [{"role": "user", "content": "hi"}], "n": 3})
    texts = [choice["message"]["content"] for choice in body["choices"]]
    assert len(set(texts)) == 3 and texts[1].startswith("Candidate 2: You said")
    tool_body = post(server, {"model": SMALL, "messages": STATUS, "tools": PAYMENT_TOOLS, "n": 2})
    ids = [c["message"]["tool_calls"][0]["id"] for c in tool_body["choices"]]
    assert len(set(ids)) == 2
    assert calls(tool_body, 0) == calls(tool_body, 1)
    completion = tool_body["usage"]["completion_tokens"]
    single = post(server, {"model": SMALL, "messages": STATUS, "tools": PAYMENT_TOOLS})
    assert completion == 2 * single["usage"]["completion_tokens"]


def test_n_streams_distinct_candidates(server):
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": SMALL, "messages": STATUS, "tools": PAYMENT_TOOLS, "n": 2, "stream": True},
        headers={"Authorization": "Bearer k"},
        timeout=30,
    )
    chunks = [json.loads(e[6:]) for e in response.text[:-2].split("\n\n")[:-1]]
    ids = {
        chunk["choices"][0]["index"]: chunk["choices"][0]["delta"]["tool_calls"][0]["id"]
        for chunk in chunks
        if chunk["choices"][0]["delta"].get("tool_calls")
    }
    assert set(ids) == {0, 1} and ids[0] != ids[1]


def test_stop_cuts_the_reply(server):
    body = post(
        server,
        {"model": SMALL, "messages": [{"role": "user", "content": "hi"}], "stop": "conversation"},
    )
    content = body["choices"][0]["message"]["content"]
    assert content.endswith("in the ") and "conversation" not in content


# -- documents --------------------------------------------------------------------------------


def make_pdf(pages: list[str]) -> bytes:
    """A minimal PDF, one line of Helvetica text per page."""
    objects: list[bytes] = []
    count = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(count))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode())
    font = 3 + 2 * count
    for i, text in enumerate(pages):
        content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def document_message(data: bytes, text: str = "Summarise this.", **extra: str) -> dict:
    url = "data:application/pdf;base64," + base64.b64encode(data).decode()
    return {
        "role": "user",
        "content": [
            {"type": "text", "text": text},
            {"type": "document_url", "document_url": url, **extra},
        ],
    }


def test_a_pdf_is_read_for_real(server):
    pdf = make_pdf(["Invoice 42 for Ada Lovelace, total 120 EUR", "Second page", "Third page"])
    message = document_message(pdf, document_name="invoice.pdf")
    body = post(server, {"model": SMALL, "messages": [message]})
    content = body["choices"][0]["message"]["content"]
    assert content.startswith(
        'I read 1 document: a PDF (invoice.pdf) of 3 pages; page 1 begins: "Invoice 42 for '
        'Ada Lovelace, total 120 EUR".'
    )
    without = post(
        server,
        {
            "model": SMALL,
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Summarise this."}]}
            ],
        },
    )
    assert body["usage"]["prompt_tokens"] > without["usage"]["prompt_tokens"] + 10


def test_structured_extraction_from_a_pdf(server):
    pdf = make_pdf(["my name is Ada Lovelace, age 36"])
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    body = post(
        server,
        {
            "model": SMALL,
            "messages": [
                document_message(pdf, "Extract the person: my name is Ada Lovelace, age 36")
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "p", "schema": schema},
            },
        },
    )
    assert json.loads(body["choices"][0]["message"]["content"]) == {
        "name": "Ada Lovelace",
        "age": 36,
    }


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("data:application/pdf;base64,@@@", "is not valid base64 data"),
        (
            "data:application/pdf;base64," + base64.b64encode(b"not a pdf").decode(),
            "could not be read as a PDF",
        ),
        ("file:///etc/passwd", "neither an http(s) URL nor a PDF data URL"),
    ],
)
def test_unreadable_documents_are_400(server, url, message):
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json={
            "model": SMALL,
            "messages": [
                {"role": "user", "content": [{"type": "document_url", "document_url": url}]}
            ],
        },
        headers={"Authorization": "Bearer k"},
        timeout=30,
    )
    assert response.status_code == 400
    body = response.json()
    assert message in body["message"] and body["message"].startswith(
        "Document at messages[0].content[0]"
    )
    assert (body["type"], body["code"]) == ("invalid_request_invalid_args", "3051")


def test_a_remote_document_is_named_not_fetched(server):
    message = {
        "role": "user",
        "content": [{"type": "document_url", "document_url": "https://example.com/paper.pdf"}],
    }
    body = post(server, {"model": SMALL, "messages": [message]})
    assert (
        "https://example.com/paper.pdf (not downloaded" in body["choices"][0]["message"]["content"]
    )
