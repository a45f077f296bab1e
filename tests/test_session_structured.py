"""Structured output, tool choice and friends, documents and cost, through a real session."""

from __future__ import annotations

import io
import math

import pytest
from pydantic import BaseModel

import mistral_nb as mnb
from mistral_nb.local import ToolCall


class Person(BaseModel):
    name: str
    age: int


def blank_pdf(pages: int = 2) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_a_pydantic_schema_gives_a_parsed_turn(session, local):
    local.push('{"name": "Ada", "age": 36}')
    turn = await session.send("Ada is 36.", schema=Person)
    assert turn.status == "ok", turn.error
    assert turn.parsed == Person(name="Ada", age=36)
    body = local.requests[-1]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["properties"]["age"]["type"] == "integer"
    row = session.log.turns().iloc[-1]
    assert row["schema"] == "Person" and row["parsed_ok"] == True  # noqa: E712
    # The schema was for that turn only.
    await session.send("And now plain text.")
    assert "response_format" not in local.requests[-1]
    assert session.settings["response_format"] is None


async def test_a_reply_that_does_not_validate_is_an_error_turn_keeping_the_text(session, local):
    local.push('{"name": "Ada", "age": "old"}')
    turn = await session.send("Ada?", schema=Person)
    assert turn.status == "error"
    assert "age" in turn.error and turn.text == '{"name": "Ada", "age": "old"}'
    assert turn.parsed is None and turn.parsed_ok is False
    local.push("fine")
    assert (await session.send("next")).status == "ok"


async def test_dict_schemas_and_json_mode(session, local):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }
    local.push('{"city": "Paris"}')
    turn = await session.send("Where?", schema=schema)
    assert turn.parsed == {"city": "Paris"}
    local.push('{"anything": [1, 2]}')
    turn = await session.send("Any JSON", schema="json")
    assert local.requests[-1]["response_format"] == {"type": "json_object"}
    assert turn.parsed == {"anything": [1, 2]}


async def test_response_format_as_a_session_setting_parses_every_turn(session, local):
    session.update_settings(response_format=Person)
    local.push('{"name": "Bo", "age": 3}', '{"name": "Cy", "age": 4}')
    first = await session.send("one")
    second = await session.send("two")
    assert (first.parsed.name, second.parsed.name) == ("Bo", "Cy")
    session.update_settings(response_format=None)
    await session.send("plain")
    assert "response_format" not in local.requests[-1]


async def test_a_bad_schema_is_refused_before_sending(session, local):
    with pytest.raises(mnb.SettingsError, match="response_format"):
        await session.send("x", schema=42)
    assert local.requests == []


async def test_tool_choice_forms_on_the_wire(session, local):
    @session.tool
    def get_weather(city: str) -> str:
        """Weather in a city."""
        return "sunny"

    for given, sent in (
        ("any", "any"),
        ("required", "required"),
        ("none", "none"),
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
    ):
        session.update_settings(tool_choice=given)
        local.push("ok")
        await session.send("weather?")
        assert local.requests[-1]["tool_choice"] == sent
    session.update_settings(parallel_tool_calls=False)
    local.push("ok")
    await session.send("again")
    assert local.requests[-1]["parallel_tool_calls"] is False


async def test_a_forced_tool_is_called(session, local):
    @session.tool
    def retrieve_payment_status(transaction_id: str) -> str:
        """Get the payment status of a transaction."""
        return "Paid"

    session.update_settings(tool_choice="any")
    local.push(ToolCall("retrieve_payment_status", {"transaction_id": "T1001"}), "It is paid.")
    turn = await session.send("What's the status of my transaction T1001?")
    assert turn.status == "ok"
    assert turn.calls["name"].tolist() == ["retrieve_payment_status"]


async def test_tool_choice_naming_an_unknown_or_disabled_tool_is_a_settings_error(session):
    with pytest.raises(mnb.SettingsError, match="not registered"):
        session.update_settings(tool_choice="nope")

    @session.tool
    def lookup(key: str) -> str:
        """Look up."""
        return key

    session.tools.disable("lookup")
    with pytest.raises(mnb.SettingsError, match="disabled"):
        session.update_settings(tool_choice="lookup")
    assert session.settings["tool_choice"] is None


async def test_tool_choice_is_not_sent_without_tools(session, local):
    session.update_settings(tool_choice="auto", parallel_tool_calls=False)
    await session.send("hi")
    assert "tool_choice" not in local.requests[-1]
    assert "parallel_tool_calls" not in local.requests[-1]


async def test_stop_n_prediction_and_cache_key_on_the_wire(session, local):
    session.update_settings(
        stop=["END", "STOP"], prediction="draft", prompt_cache_key="k1", random_seed=7
    )
    turn = await session.send("hello")
    body = local.requests[-1]
    assert body["stop"] == ["END", "STOP"]
    assert body["prediction"] == {"type": "content", "content": "draft"}
    assert body["prompt_cache_key"] == "k1"
    row = session.log.turns().iloc[-1]
    assert row["prompt_cache_key"] == "k1" and row["stop"] == '["END", "STOP"]'
    assert turn.status == "ok"
    session.update_settings(prediction=None, n=2)
    turn = await session.send("two candidates")
    assert local.requests[-1]["n"] == 2
    assert turn.status == "ok"


@pytest.mark.parametrize(
    "fields",
    [{"n": 0}, {"n": 129}, {"stop": ""}, {"stop": ["ok", 3]}, {"prediction": 5}, {"tool_choice": 1}],
)
def test_bad_values_are_settings_errors(session, fields):
    with pytest.raises(mnb.SettingsError):
        session.update_settings(**fields)


async def test_a_pdf_goes_as_a_document_chunk_and_is_logged(session, local, tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(blank_pdf(3))
    turn = await session.send("Summarise this.", documents=[path])
    assert turn.status == "ok", turn.error
    content = local.requests[-1]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "Summarise this."}
    assert content[1]["type"] == "document_url"
    assert content[1]["document_url"].startswith("data:application/pdf;base64,")
    (logged,) = turn.documents
    assert logged["pages"] == 3 and "sha256" in logged
    assert session.log.turns().iloc[-1]["n_documents"] == 1
    assert "base64" not in str(turn.to_dict()["documents"])


async def test_document_errors_send_nothing(session, local, tmp_path):
    text = tmp_path / "notes.pdf"
    text.write_text("not a pdf")
    with pytest.raises(mnb.DocumentError):
        await session.send("read", documents=[text])
    with pytest.raises(mnb.DocumentError):
        await session.send("read", documents=["/dev/zero"])
    assert local.requests == []


async def test_cost_from_the_price_table(session, local):
    await session.send("hello")
    row = session.log.turns().iloc[-1]
    expected = (row["prompt_tokens"] * 0.15 + row["completion_tokens"] * 0.60) / 1e6
    assert row["cost_usd"] == pytest.approx(expected)
    session.update_settings(model="my-finetune-model")
    local.push("hi")
    await session.send("unknown model")
    assert math.isnan(session.log.turns().iloc[-1]["cost_usd"])


async def test_log_cost_sums_by_model_and_an_unpriced_model_is_nan(session, local):
    await session.send("hello")
    session.update_settings(model="mistral-large-latest")
    await session.send("hello again")
    cost = session.log.cost()
    turns = session.log.turns()
    assert list(cost.index) == ["mistral-large-latest", "mistral-small-latest", "total"]
    assert cost.loc["total", "cost_usd"] == pytest.approx(turns["cost_usd"].sum())
    assert cost.loc["mistral-large-latest", "turns"] == 1
    session.update_settings(model="my-finetune-model")
    local.push("hi")
    await session.send("unpriced")
    assert math.isnan(session.log.cost().loc["total", "cost_usd"])
