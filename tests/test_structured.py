"""Schemas become the response_format Mistral accepts; replies become objects or clear messages.

Every response_format produced here is checked the way Mistral's server checks it: with
mistral-common's ``ResponseFormat`` model and jsonschema's Draft 7 meta-schema.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import date
from typing import Annotated, Literal

import jsonschema
import pytest
from conftest import TEST_KEY
from mistral_common.protocol.instruct.request import ResponseFormat
from mistralai.extra.utils.response_format import response_format_from_pydantic_model
from pydantic import BaseModel, Field

from mistral_nb._errors import MistralNBError, SettingsError
from mistral_nb._structured import parse_reply, schema_label, to_response_format


class Book(BaseModel):
    name: str
    authors: list[str]


class Address(BaseModel):
    street: str
    city: str


class Person(BaseModel):
    """Someone named in the text."""

    name: str
    age: int = Field(ge=0, description="Age in years")
    home: Address = Field(description="Where they live")
    work: Address | None = None
    born: date
    pair: tuple[int, str] = (0, "")
    properties: dict[str, int] = {}  # a field named like a JSON Schema keyword
    kind: Literal["customer", "supplier"] = "customer"


class Node(BaseModel):
    value: int
    children: list[Node] = []


class Cat(BaseModel):
    pet: Literal["cat"]
    meows: int


class Dog(BaseModel):
    pet: Literal["dog"]
    barks: float


class Owner(BaseModel):
    animal: Annotated[Cat | Dog, Field(discriminator="pet")]


# The structured-output request recorded from api.mistral.ai (2026-08, mistral-small-latest;
# capture 048 of the team's real-traffic recordings): its response_format, verbatim.
RECORDED_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "response",
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
RECORDED_REPLY = '{"name": "Bob", "age": 30}'  # the reply's content, verbatim

PERSON_SCHEMA = RECORDED_FORMAT["json_schema"]["schema"]


def accepted_by_mistral(response_format: dict) -> dict:
    ResponseFormat.model_validate(response_format)  # mistral-common, as the server runs it
    if response_format["type"] == "json_schema":
        jsonschema.Draft7Validator.check_schema(response_format["json_schema"]["schema"])
    json.dumps(response_format, allow_nan=False)
    return response_format


def walk(node):
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


# -- to_response_format ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["json", "json_object"])
def test_json_asks_for_a_json_object(name):
    assert accepted_by_mistral(to_response_format(name)) == {"type": "json_object"}


def test_text_is_the_plain_format():
    assert to_response_format("text") == {"type": "text"}


def test_a_pydantic_model_gives_the_schema_mistrals_docs_show():
    # Mistral's custom structured-output page (platform-docs-public @ 506076b5) shows this
    # schema for the same Book model.
    documented = {
        "properties": {
            "name": {"title": "Name", "type": "string"},
            "authors": {"items": {"type": "string"}, "title": "Authors", "type": "array"},
        },
        "required": ["name", "authors"],
        "title": "Book",
        "type": "object",
        "additionalProperties": False,
    }
    response_format = accepted_by_mistral(to_response_format(Book))
    assert response_format == {
        "type": "json_schema",
        "json_schema": {"name": "Book", "schema": documented, "strict": True},
    }
    # ... and what Mistral's own SDK sends from client.chat.parse(response_format=Book).
    assert response_format == response_format_from_pydantic_model(Book)


def test_nested_models_are_inlined_and_every_object_is_closed():
    response_format = accepted_by_mistral(to_response_format(Person))
    schema = response_format["json_schema"]["schema"]
    assert not any(isinstance(n, dict) and ("$ref" in n or "$defs" in n) for n in walk(schema))
    home = schema["properties"]["home"]
    work = schema["properties"]["work"]["anyOf"][0]
    for closed in (schema, home, work):
        assert closed["additionalProperties"] is False
    # the field's own description wins over the inlined model's
    assert schema["properties"]["home"]["description"] == "Where they live"
    # a dict field keeps its value schema; a field named "properties" stays a field
    assert schema["properties"]["properties"]["additionalProperties"] == {"type": "integer"}
    assert set(schema["properties"]) == set(Person.model_fields)
    # fixed tuples in Draft 7 form
    assert schema["properties"]["pair"]["items"] == [{"type": "integer"}, {"type": "string"}]
    assert "prefixItems" not in schema["properties"]["pair"]


def test_the_sent_schema_accepts_what_the_model_accepts_and_refuses_extra_keys():
    schema = to_response_format(Person)["json_schema"]["schema"]
    good = Person(
        name="Ada", age=36, home=Address(street="1 Rue", city="Paris"), born=date(1815, 12, 10)
    )
    validator = jsonschema.Draft7Validator(schema)  # the draft mistral-common checks against
    validator.validate(good.model_dump(mode="json"))
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        validator.validate({**good.model_dump(mode="json"), "extra": 1})
    nested_extra = good.model_dump(mode="json")
    nested_extra["home"]["zip"] = "75001"
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        validator.validate(nested_extra)


def test_a_recursive_model_keeps_draft7_definitions():
    schema = accepted_by_mistral(to_response_format(Node))["json_schema"]["schema"]
    assert schema["properties"]["children"]["items"] == {"$ref": "#/definitions/Node"}
    assert set(schema["definitions"]) == {"Node"}
    validator = jsonschema.Draft7Validator(schema)
    validator.validate({"value": 1, "children": [{"value": 2, "children": []}]})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"value": 1, "children": [{"value": "two"}]})


def test_a_discriminated_union_loses_openapis_discriminator_and_still_validates():
    schema = accepted_by_mistral(to_response_format(Owner))["json_schema"]["schema"]
    assert not any(isinstance(n, dict) and "discriminator" in n for n in walk(schema))
    validator = jsonschema.Draft7Validator(schema)
    validator.validate({"animal": {"pet": "dog", "barks": 2.5}})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"animal": {"pet": "dog", "meows": 2}})


def test_a_json_schema_dict_is_sent_unchanged_and_never_shared():
    given = copy.deepcopy(PERSON_SCHEMA)
    response_format = accepted_by_mistral(to_response_format(given))
    assert response_format == {**RECORDED_FORMAT}  # named "response", as Mistral's SDK does
    assert given == PERSON_SCHEMA
    response_format["json_schema"]["schema"]["properties"]["x"] = {}
    assert "x" not in given["properties"]


def test_a_schema_whose_type_is_a_list_is_a_json_schema():
    schema = {"type": ["object", "null"], "properties": {"a": {"type": "integer"}}}
    response_format = accepted_by_mistral(to_response_format(schema))
    assert response_format["json_schema"]["schema"] == schema
    assert parse_reply('{"a": 1}', schema) == ({"a": 1}, None)
    assert parse_reply("null", schema) == (None, None)


def test_a_json_schema_dict_is_named_after_its_title():
    response_format = to_response_format({"title": "Invoice total", "type": "object"})
    assert response_format["json_schema"]["name"] == "Invoice_total"


def test_a_whole_response_format_passes_as_it_is():
    assert accepted_by_mistral(to_response_format(RECORDED_FORMAT)) == RECORDED_FORMAT
    assert to_response_format({"type": "json_object"}) == {"type": "json_object"}


def rejected(schema) -> str:
    with pytest.raises(SettingsError) as info:
        to_response_format(schema)
    error = info.value
    assert isinstance(error, ValueError) and isinstance(error, MistralNBError)
    assert error.field == "response_format"
    return str(error)


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "objectx"}, "not valid JSON Schema (Draft 7) at type"),
        ({"type": "object", "properties": {"a": {"minimum": "zero"}}}, "at properties/a/minimum"),
        ({"type": "object", "default": {1, 2}}, "the schema is not plain JSON"),
        ({"type": "json_schema"}, "Mistral would refuse this response_format"),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {}, "extra": 1}},
            "json_schema.extra: Extra inputs are not permitted",
        ),
        ("xml", "response_format 'xml' is not a format"),
        (Book(name="x", authors=[]), "got an instance of Book; pass the class itself: schema=Book"),
        (None, "no schema given"),
        (42, "a int is not a schema"),
        (dict, "a type is not a schema"),
    ],
    ids=[
        "bad type", "bad keyword", "not JSON", "json_schema without one", "extra key",
        "unknown string", "instance", "None", "int", "builtin type",
    ],
)  # fmt: skip
def test_what_mistral_would_refuse_is_a_settings_error(schema, expected):
    assert expected in rejected(schema)


def test_a_model_without_a_json_schema_is_refused_at_once():
    class Hook(BaseModel):
        fn: Callable[[int], int]

    message = rejected(Hook)
    assert message.startswith("Hook has no JSON Schema (Cannot generate a JsonSchema for ")
    assert "give its fields JSON types" in message


# -- parse_reply ----------------------------------------------------------------------------


def test_a_valid_reply_becomes_a_model_instance():
    parsed, error = parse_reply(
        '{"name": "To Kill a Mockingbird", "authors": ["Harper Lee"]}', Book
    )
    assert error is None
    assert parsed == Book(name="To Kill a Mockingbird", authors=["Harper Lee"])


def test_an_invalid_reply_names_each_field_and_what_is_wrong():
    reply = json.dumps({"name": "Ada", "age": -3, "home": {"street": "1 Rue"}, "born": "yesterday"})
    parsed, error = parse_reply(reply, Person)
    assert parsed is None
    assert error == (
        "the reply does not match Person: "
        "age: Input should be greater than or equal to 0 (got -3); "
        "home.city: Field required; "
        "born: Input should be a valid date or datetime, input is too short (got 'yesterday')"
    )


def test_many_errors_are_counted_not_all_listed():
    parsed, error = parse_reply("{}", Person)
    assert parsed is None
    assert error is not None
    assert error.startswith("the reply does not match Person: name: Field required; ")
    many = json.dumps({"name": 1, "age": "x", "home": 2, "born": 3, "pair": 4, "kind": "z"})
    _, error = parse_reply(many, Person)
    assert error is not None and error.endswith("; and 1 more")


def test_a_reply_that_is_not_json_says_where():
    parsed, error = parse_reply("Sure! Here is the book: To Kill a Mockingbird", Book)
    assert parsed is None
    assert error == "the reply is not valid JSON: Expecting value (line 1, column 1)"


@pytest.mark.parametrize("reply", ['{"name": "To Kill a Mock', '{"name": "x", "authors": ['])
def test_a_reply_cut_short_points_at_max_tokens(reply):
    parsed, error = parse_reply(reply, Book)
    assert parsed is None
    assert error is not None and "probably cut short by max_tokens" in error


@pytest.mark.parametrize("reply", ["", "   \n", None])
def test_an_empty_reply_is_an_error(reply):
    assert parse_reply(reply, Book) == (
        None,
        "the reply is empty, not JSON; ask again, or say in the prompt what to extract",
    )


def test_a_fenced_reply_is_unwrapped():
    reply = '```json\n{"name": "Dune", "authors": ["Frank Herbert"]}\n```'
    assert parse_reply(reply, Book) == (Book(name="Dune", authors=["Frank Herbert"]), None)
    assert parse_reply("```\n[1, 2]\n```\n", "json") == ([1, 2], None)


def test_a_dict_schema_validates_the_recorded_reply():
    assert parse_reply(RECORDED_REPLY, PERSON_SCHEMA) == ({"name": "Bob", "age": 30}, None)
    assert parse_reply(RECORDED_REPLY, RECORDED_FORMAT) == ({"name": "Bob", "age": 30}, None)


def test_a_dict_schema_names_what_is_wrong():
    parsed, error = parse_reply('{"name": "Bob", "age": "thirty", "x": 1}', PERSON_SCHEMA)
    assert parsed is None
    assert error == (
        "the reply does not match {name, age}: "
        "(the whole reply): Additional properties are not allowed ('x' was unexpected); "
        "age: 'thirty' is not of type 'integer'"
    )
    _, error = parse_reply('{"name": "Bob"}', RECORDED_FORMAT)
    assert (
        error
        == "the reply does not match response: (the whole reply): 'age' is a required property"
    )


def test_json_mode_takes_any_json():
    assert parse_reply('{"result": 8}', "json") == ({"result": 8}, None)
    assert parse_reply("[1, 2, 3]", "json_object") == ([1, 2, 3], None)
    assert parse_reply('{"a": 1}', {"type": "json_object"}) == ({"a": 1}, None)
    parsed, error = parse_reply("{'a': 1}", "json")
    assert parsed is None and error is not None and error.startswith("the reply is not valid JSON")


def test_text_mode_returns_the_text():
    assert parse_reply("hello", "text") == ("hello", None)


@pytest.mark.parametrize(
    "schema", [42, object(), {"type": 5}, {"properties": {"a": {"type": "nope"}}}]
)
def test_parse_reply_never_raises(schema):
    parsed, error = parse_reply('{"a": 1}', schema)
    assert parsed is None
    assert isinstance(error, str) and error


# -- schema_label ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "label"),
    [
        (None, ""),
        ("json", "json"),
        ("json_object", "json"),
        ("text", "text"),
        (Book, "Book"),
        (PERSON_SCHEMA, "{name, age}"),
        ({"type": "object", "properties": {key: {} for key in "abcde"}}, "{a, b, c, d, ...}"),
        ({"title": "Invoice", "type": "object"}, "Invoice"),
        ({"type": "array"}, "json_schema"),
        (RECORDED_FORMAT, "response"),
        ({"type": "json_object"}, "json"),
        (42, "int"),
    ],
)
def test_schema_label_is_short(schema, label):
    assert schema_label(schema) == label


# -- on the wire ------------------------------------------------------------------------------


def post_chat(local, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        local.base_url.rstrip("/") + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TEST_KEY}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("schema", [Person, Node, Owner, PERSON_SCHEMA, "json"])
def test_local_mistral_accepts_the_format_and_its_reply_parses(local, schema):
    status, body = post_chat(
        local,
        {
            "model": "mistral-small-latest",
            "messages": [{"role": "user", "content": "Ada Lovelace, 36, born 1815-12-10, Paris"}],
            "response_format": to_response_format(schema),
        },
    )
    assert status == 200, body
    assert local.requests[-1]["response_format"] == to_response_format(schema)
    parsed, error = parse_reply(body["choices"][0]["message"]["content"], schema)
    assert error is None
    assert parsed is not None


def test_importing_these_modules_loads_no_slow_validator():
    # jsonschema's format checkers and mistral-common's protocol take seconds to import:
    # a session that never sends a schema or a PDF must not pay for them.
    code = (
        "import sys, mistral_nb._structured, mistral_nb._documents, mistral_nb._pricing; "
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(("
        "'mistral_common', 'jsonschema', 'rfc3987', 'pypdf'))}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
