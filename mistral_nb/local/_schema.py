"""The request schema of ``POST /v1/chat/completions``, strict like Mistral's (step 1 of 3).

Every object is closed (``extra="forbid"``), so an unknown key fails with pydantic's
"Extra inputs are not permitted", and errors come back as FastAPI's plain
``{"detail": [...]}`` with ``loc`` starting at ``"body"``. Messages are a union tagged
on ``role``, which puts the tag in ``loc`` after the index, as Mistral's server does:
``["body", "messages", 0, "user", "name"]``.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._bigjson import BIG_BODY, loads_big

__all__ = [
    "MAX_DEPTH",
    "MAX_N",
    "ChatCompletionRequest",
    "SchemaError",
    "load_body",
    "parse_request",
    "validate",
]

MAX_DEPTH = 200
"""The deepest nesting of arrays and objects a body may have. Mistral's limit is not on
record (Python's json gives up near 1000 levels, pydantic's own JSON parser at 200). A
deeper body is ``json_invalid``, so nothing downstream (the recorded copy, validation, the
echo in a 422, a fault predicate) has to recurse that deep."""

MAX_N = 128
"""The most choices one request may ask for. Mistral documents no limit; 128 is OpenAI's,
and it keeps an answer small enough to build on the event loop without stalling it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextChunk(_Strict):
    type: Literal["text"]
    text: str


class ImageURL(_Strict):
    url: str
    detail: Literal["low", "auto", "high"] | None = None


class ImageURLChunk(_Strict):
    type: Literal["image_url"]
    image_url: ImageURL | str


class DocumentURLChunk(_Strict):
    type: Literal["document_url"]
    document_url: str
    document_name: str | None = None


ContentChunk = Annotated[TextChunk | ImageURLChunk | DocumentURLChunk, Field(discriminator="type")]


class ThinkChunk(_Strict):
    """Reasoning in an assistant message, as Mistral returns it (``closed`` since May 2026)."""

    type: Literal["thinking"]
    thinking: list[TextChunk]
    closed: bool | None = None


AssistantChunk = Annotated[TextChunk | ThinkChunk, Field(discriminator="type")]


class FunctionCall(_Strict):
    name: str
    arguments: dict[str, Any] | str


class ToolCall(_Strict):
    id: str = "null"
    type: Literal["function"] = "function"
    function: FunctionCall
    index: int = 0


class SystemMessage(_Strict):
    role: Literal["system"]
    content: str | list[TextChunk]


class UserMessage(_Strict):
    role: Literal["user"]
    content: str | list[ContentChunk] | None


class AssistantMessage(_Strict):
    role: Literal["assistant"]
    content: str | list[AssistantChunk] | None = None
    tool_calls: list[ToolCall] | None = None
    prefix: bool = False


class ToolMessage(_Strict):
    role: Literal["tool"]
    content: str | list[TextChunk] | None
    tool_call_id: str | None = None
    name: str | None = None


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")
]


class Function(_Strict):
    name: str
    parameters: dict[str, Any]
    description: str = ""
    strict: bool = False


class Tool(_Strict):
    type: Literal["function"] = "function"
    function: Function


class ToolChoiceFunction(_Strict):
    name: str


class ToolChoice(_Strict):
    type: Literal["function"] = "function"
    function: ToolChoiceFunction


class JsonSchema(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool = False


class ResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: JsonSchema | None = None


class Prediction(_Strict):
    type: Literal["content"] = "content"
    content: str = ""


class StreamOptions(_Strict):
    """Mistral rejects ``include_usage`` (usage always rides on the last chunk)."""


class ChatCompletionRequest(_Strict):
    """A chat completion request, as Mistral's OpenAPI spec describes it."""

    model: str
    messages: list[Message]
    temperature: Annotated[float, Field(ge=0, le=1.5)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1)] | None = None
    max_tokens: Annotated[int, Field(ge=0)] | None = None
    stream: bool = False
    stop: str | list[str] | None = None
    random_seed: Annotated[int, Field(ge=0)] | None = None
    metadata: dict[str, Any] | None = None
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | Literal["auto", "none", "any", "required"] = "auto"
    presence_penalty: Annotated[float, Field(ge=-2.0, le=2.0)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2.0, le=2.0)] | None = None
    n: Annotated[int, Field(ge=1, le=MAX_N)] | None = None
    prediction: Prediction | None = None
    parallel_tool_calls: bool = True
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    prompt_mode: Literal["reasoning"] | None = None
    guardrails: list[Any] | None = None
    prompt_cache_key: str | None = None
    service_tier: Literal["auto", "standard_only"] | None = None
    safe_prompt: bool = False
    stream_options: StreamOptions | None = None


class SchemaError(Exception):
    """A request failed the schema: ``detail`` is FastAPI's list of error items."""

    def __init__(self, detail: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(detail)} validation error(s)")
        self.detail = detail


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _detail(exc: ValidationError) -> list[dict[str, Any]]:
    items = []
    for error in exc.errors(include_url=False):
        item: dict[str, Any] = {
            "type": error["type"],
            "loc": ["body", *error["loc"]],
            "msg": error["msg"],
            "input": _jsonable(error["input"]),
        }
        if "ctx" in error:
            item["ctx"] = _jsonable(error["ctx"])
        items.append(item)
    return items


_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _too_deep_at(text: str) -> int | None:
    """Where ``text`` opens its ``MAX_DEPTH + 1``-th level, skipping brackets in strings.

    Only run on text json.loads parsed (or parsed this deep), so every string before that
    point is closed and the scan is linear.
    """
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return match.start()
        elif token in ("]", "}"):
            depth -= 1
    return None


def _json_invalid(pos: int, error: str) -> SchemaError:
    """FastAPI's answer to a body that is not JSON."""
    item = {
        "type": "json_invalid",
        "loc": ["body", pos],
        "msg": "JSON decode error",
        "input": {},
        "ctx": {"error": error},
    }
    return SchemaError([item])


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` arrays and objects deep (no recursion:
    the walk is plain Python, so other threads keep running while it goes)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def load_body(raw: bytes) -> Any:
    """Decode a JSON body (UTF-8, -16 or -32, as json.loads takes bytes).

    Raises:
        SchemaError: ``json_invalid`` when it is not JSON or nests deeper than MAX_DEPTH.
    """
    body: Any = None
    deep = False
    try:
        if len(raw) >= BIG_BODY:
            body = loads_big(raw)  # a 50 MB message must not hold the GIL for long
        else:
            body = json.loads(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _json_invalid(getattr(exc, "pos", 0), getattr(exc, "msg", str(exc))) from exc
    except RecursionError:  # Python's json gives up near 1000 levels: found by the scan
        deep = True
    if deep or _deeper_than(body, MAX_DEPTH):
        # Only now scan the text for where: the scan is linear but holds the GIL.
        at = _too_deep_at(raw.decode(json.detect_encoding(raw), "surrogatepass"))
        raise _json_invalid(at or 0, f"Recursion limit exceeded: deeper than {MAX_DEPTH} levels")
    return body


def validate(body: Any) -> ChatCompletionRequest:
    """Validate a decoded body against the request schema.

    Raises:
        SchemaError: with FastAPI's detail items.
    """
    try:
        return ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        raise SchemaError(_detail(exc)) from exc


def parse_request(raw: bytes) -> tuple[Any, ChatCompletionRequest]:
    """Decode and validate a request body.

    Returns:
        The decoded JSON body and the validated request.

    Raises:
        SchemaError: with FastAPI's detail items (``json_invalid`` for bad JSON).
    """
    body = load_body(raw)
    return body, validate(body)
