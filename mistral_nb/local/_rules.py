"""Steps 2 and 3 of validation: Mistral's serving rules, images, and the context window.

Step 2 runs mistral-common's serving-mode request validator (the one Mistral's stack is
built on) with three adjustments to match what api.mistral.ai answers:

* ``user`` right after ``tool`` is rejected unless ``allow_user_after_tool`` (mistral-common
  allows it since 1.11.1; every captured server answer rejects it);
* the last-role error uses the server's wording ("... (or Assistant with prefix True) ...");
* an assistant message with neither content nor tool calls is rejected ("... but not none.");
* a tool message without ``tool_call_id`` is reported as "Tool call id has to be defined."
  before the id pairing rules run (as the server answered in 2025).

An assistant ``prefix`` is carried to mistral-common directly (its ``from_openai`` would
drop it), so a trailing ``{"role": "assistant", "content": " ", "prefix": true}`` passes.
Errors come back as HTTP 400 in Mistral's envelope, typed as the server types them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mistral_common import exceptions as mc_errors
from mistral_common.protocol.instruct import chunk as mc_chunk
from mistral_common.protocol.instruct import messages as mc_messages
from mistral_common.protocol.instruct import tool_calls as mc_tools
from mistral_common.protocol.instruct.messages import Roles
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.protocol.instruct.validator import (
    MistralRequestValidatorV11,
    ValidationMode,
)
from pydantic import ValidationError

from .._image_pixels import fit_within
from . import _schema as s
from ._catalogue import Catalogue, ModelCard
from ._documents import DocumentInfo, DocumentRejected, inspect_document
from ._images import MAX_IMAGES, ImageInfo, ImageRejected, inspect_image
from ._tokens import LONG_TEXT, count_long, count_prompt
from ._wire import INVALID_ARGS, Rejection

__all__ = ["Checked", "check_request", "image_tokens", "text_of", "thinks"]

ORDER = ("invalid_request_message_order", "3230")
FUNCTION_CALL = ("invalid_function_call", "3280")
GENERIC = ("invalid_request_error", None)  # rules whose current type is not on record

_ALLOWED_AFTER = {
    Roles.system: {Roles.user, Roles.assistant, Roles.system},
    Roles.user: {Roles.user, Roles.assistant, Roles.system},
    Roles.assistant: {Roles.user, Roles.assistant, Roles.tool},
    Roles.tool: {Roles.tool, Roles.assistant},
}

_ERROR_KINDS: tuple[tuple[type[Exception], tuple[str, str | None]], ...] = (
    (mc_errors.InvalidMessageStructureException, ORDER),
    (mc_errors.InvalidFunctionCallException, FUNCTION_CALL),
    (mc_errors.InvalidToolMessageException, FUNCTION_CALL),
    (mc_errors.InvalidToolException, FUNCTION_CALL),
    (mc_errors.InvalidToolSchemaException, FUNCTION_CALL),
)


class _ServingValidator(MistralRequestValidatorV11):
    """mistral-common's serving validator, tuned to the server's observed answers."""

    def __init__(self, allow_user_after_tool: bool, any_call_ids: bool = False) -> None:
        super().__init__(mode=ValidationMode.serving)
        self._allow_user_after_tool = allow_user_after_tool
        self._any_call_ids = any_call_ids

    def _validate_tool_call_id(self, tool_call: Any, is_last_message: bool) -> None:
        # A third-party model served vLLM-style hands out ids like chatcmpl-tool-<hex>,
        # and gets them back: only Mistral's own models insist on 9 characters.
        if not self._any_call_ids:
            super()._validate_tool_call_id(tool_call, is_last_message)

    def _validate_tool_message_id(self, message: Any) -> None:
        if not self._any_call_ids:
            super()._validate_tool_message_id(message)

    def _validate_message_list_structure(self, messages: list[Any]) -> None:
        # The server reports a missing tool_call_id as such (seen in 2025), before pairing.
        for message in messages:
            if message.role == Roles.tool and message.tool_call_id is None:
                raise mc_errors.InvalidRequestException("Tool call id has to be defined.")
        super()._validate_message_list_structure(messages)

    def _validate_message_order(self, messages: list[Any]) -> None:
        previous = None
        for message in messages:
            current = message.role
            if previous is not None:
                allowed = _ALLOWED_AFTER[previous]
                if previous == Roles.tool and self._allow_user_after_tool:
                    allowed = allowed | {Roles.user}
                if current not in allowed:
                    raise mc_errors.InvalidMessageStructureException(
                        f"Unexpected role '{current}' after role '{previous}'"
                    )
            previous = current

    def _validate_last_message(self, message: Any) -> None:
        if isinstance(message, mc_messages.AssistantMessage) and not message.prefix:
            raise mc_errors.InvalidMessageStructureException(
                "Expected last role User or Tool (or Assistant with prefix True) "
                f"for serving but got {message.role}"
            )

    def _validate_assistant_message(self, message: Any, is_last_message: bool = False) -> None:
        if not message.content and not message.tool_calls:
            raise mc_errors.InvalidAssistantMessageException(
                "Assistant message must have either content or tool_calls, but not none."
            )
        super()._validate_assistant_message(message, is_last_message=is_last_message)


@dataclass
class Checked:
    """A request that passed every rule, with what the reply needs to know."""

    body: dict[str, Any]
    request: s.ChatCompletionRequest
    card: ModelCard
    prompt_tokens: int
    images: dict[int, list[ImageInfo]] = field(default_factory=dict)  # by message index
    documents: dict[int, list[DocumentInfo]] = field(default_factory=dict)  # by message index
    thinks: bool = False  # the reply reasons first


def _text_chunks(content: str | Sequence[Any] | None, *, counting: bool = False) -> str | list[Any]:
    """mistral-common chunks; ``counting`` turns reasoning into text (the v3 tokenizer that
    counts cannot lay out thinking chunks, and their text costs about the same)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts: list[Any] = []
    for part in content:
        if isinstance(part, s.ThinkChunk):
            text = "".join(item.text for item in part.thinking)
            if counting:
                parts.append(mc_chunk.TextChunk(text=text))
            else:
                closed = True if part.closed is None else part.closed
                parts.append(mc_chunk.ThinkChunk(thinking=text, closed=closed))
        elif isinstance(part, s.TextChunk):
            parts.append(mc_chunk.TextChunk(text=part.text))
    return parts


def text_of(content: str | Sequence[Any] | None) -> str:
    """The answer text of a message's content (reasoning left out)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content if isinstance(part, s.TextChunk))


def _arguments(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _image_url(part: s.ImageURLChunk) -> str:
    return part.image_url if isinstance(part.image_url, str) else part.image_url.url


def image_tokens(width: int, height: int, card: ModelCard) -> int:
    """Prompt tokens of an image for the model's family, as Mistral counts them.

    The image is first fitted in the model's box (1540 px, or 1024 px for Pixtral), then cut
    into square patches of 28 px (W x H / 784) or 16 px (Pixtral, W x H / 256), each row
    ending in a break token: the arithmetic of ``mistral_nb.estimate_image_tokens``.
    """
    pixtral = card.pixels_per_token == 256
    patch = 16 if pixtral else 28
    w, h = fit_within((width, height), 1024 if pixtral else 1540)
    return (math.ceil(w / patch) + 1) * math.ceil(h / patch)


def _to_mistral(
    request: s.ChatCompletionRequest,
    images: dict[int, list[ImageInfo]] | None,
    card: ModelCard | None = None,
    found_documents: dict[int, list[DocumentInfo]] | None = None,
) -> tuple[ChatCompletionRequest, list[str], int]:
    """mistral-common's request; with ``images`` (counting), decoded images are left out and
    their tokens returned, counted for ``card``'s family."""
    messages: list[Any] = []
    dropped: list[str] = []
    counting = images is not None
    pictured = 0
    for index, message in enumerate(request.messages):
        if isinstance(message, s.SystemMessage):
            messages.append(mc_messages.SystemMessage(content=_text_chunks(message.content)))
        elif isinstance(message, s.UserMessage):
            content: Any = message.content if message.content is not None else ""
            if isinstance(content, list):
                infos = iter((images or {}).get(index, []))
                parts: list[Any] = []
                documents = iter((found_documents or {}).get(index, []))
                for part in content:
                    if isinstance(part, s.TextChunk):
                        parts.append(mc_chunk.TextChunk(text=part.text))
                    elif isinstance(part, s.DocumentURLChunk):
                        # mistral-common has no document chunk: the model reads its text.
                        document = next(documents, None)
                        text = document.text if document is not None else "[document]"
                        parts.append(mc_chunk.TextChunk(text=text or "[document]"))
                    elif images is None:
                        parts.append(mc_chunk.ImageURLChunk(image_url=_image_url(part)))
                    else:
                        info = next(infos)
                        if info.image is not None and card is not None:
                            pictured += image_tokens(info.width, info.height, card)
                        elif info.image is not None:
                            parts.append(mc_chunk.ImageChunk(image=info.image))
                        else:
                            parts.append(mc_chunk.TextChunk(text=info.url or ""))
                content = parts or ""
            messages.append(mc_messages.UserMessage(content=content))
        elif isinstance(message, s.AssistantMessage):
            calls = None
            if message.tool_calls is not None:
                calls = [
                    mc_tools.ToolCall(
                        id=call.id,
                        function=mc_tools.FunctionCall(
                            name=call.function.name, arguments=_arguments(call.function.arguments)
                        ),
                    )
                    for call in message.tool_calls
                ]
                if message.content:
                    dropped.append(text_of(message.content))
            content = message.content
            if calls is not None and counting:
                content = None  # counted from ``dropped``: v3 cannot lay out text beside calls
            messages.append(
                mc_messages.AssistantMessage(
                    content=None if content is None else _text_chunks(content, counting=counting),
                    tool_calls=calls,
                    prefix=message.prefix,
                )
            )
        else:
            messages.append(
                mc_messages.ToolMessage(
                    content=_text_chunks(message.content),
                    tool_call_id=message.tool_call_id,
                    name=message.name,
                )
            )
    tools = None
    if request.tools is not None:
        tools = [
            mc_tools.Tool(
                function=mc_tools.Function(
                    name=tool.function.name,
                    description=tool.function.description,
                    parameters=tool.function.parameters,
                )
            )
            for tool in request.tools
        ]
    counted = ChatCompletionRequest(model=request.model, messages=messages, tools=tools)
    return counted, dropped, pictured


def _reject(exc: Exception) -> Rejection:
    message = getattr(exc, "message", None) or str(exc)
    for kind, (type_, code) in _ERROR_KINDS:
        if isinstance(exc, kind):
            return Rejection.mistral(400, message, type_, code)
    return Rejection.mistral(400, message, *GENERIC)


def _check_images(request: s.ChatCompletionRequest, card: ModelCard) -> dict[int, list[ImageInfo]]:
    found: dict[int, list[ImageInfo]] = {}
    total = 0
    for index, message in enumerate(request.messages):
        if not isinstance(message, s.UserMessage) or not isinstance(message.content, list):
            continue
        for position, part in enumerate(message.content):
            if not isinstance(part, s.ImageURLChunk):
                continue
            total += 1
            if not card.vision:
                raise Rejection.mistral(
                    400,
                    f"Model {request.model} does not support images (image_url chunks); "
                    "use a model with the vision capability",
                    *INVALID_ARGS,
                )
            where = f"messages[{index}].content[{position}]"
            try:
                found.setdefault(index, []).append(inspect_image(_image_url(part), where))
            except ImageRejected as exc:
                raise Rejection.mistral(400, str(exc), *INVALID_ARGS) from exc
    if total > MAX_IMAGES:
        raise Rejection.mistral(
            400,
            f"Too many images in request: {total}; at most {MAX_IMAGES} images are allowed",
            *INVALID_ARGS,
        )
    return found


def _texts(request: s.ChatCompletionRequest) -> list[str]:
    texts: list[str] = []
    for message in request.messages:
        content = message.content
        if isinstance(content, str):
            texts.append(content)
        elif content:
            for part in content:
                if isinstance(part, s.TextChunk):
                    texts.append(part.text)
                elif isinstance(part, s.ThinkChunk):
                    texts.extend(item.text for item in part.thinking)
    return texts


def _check_effort(request: s.ChatCompletionRequest, card: ModelCard) -> None:
    if request.reasoning_effort is not None and not card.reasoning_effort:
        raise Rejection.mistral(
            400,
            f"reasoning_effort={request.reasoning_effort!r} is not supported for this model",
            *INVALID_ARGS,
        )


def thinks(request: s.ChatCompletionRequest, card: ModelCard) -> bool:
    """Whether the reply reasons first: ``reasoning_effort`` above ``"none"`` on a model that
    takes it, or a Magistral model not told ``"none"``."""
    effort = request.reasoning_effort
    if effort == "none":
        return False
    return card.reasoning_effort and effort is not None or card.thinks_by_default


def _too_long(prompt_tokens: int, request: s.ChatCompletionRequest, limit: int) -> Rejection:
    wanted = prompt_tokens + (request.max_tokens or 0)
    if prompt_tokens > limit or not request.max_tokens:
        return Rejection.case("context_window", prompt=prompt_tokens, limit=limit)
    message = (
        f"Prompt contains {prompt_tokens} tokens and max_tokens is "
        f"{request.max_tokens} ({wanted} in total), too large for model with "
        f"{limit} maximum context length"
    )
    return Rejection.mistral(400, message, *INVALID_ARGS)


def _check_documents(request: s.ChatCompletionRequest) -> dict[int, list[DocumentInfo]]:
    found: dict[int, list[DocumentInfo]] = {}
    for index, message in enumerate(request.messages):
        if not isinstance(message, s.UserMessage) or not isinstance(message.content, list):
            continue
        for position, part in enumerate(message.content):
            if isinstance(part, s.DocumentURLChunk):
                where = f"messages[{index}].content[{position}]"
                try:
                    info = inspect_document(part.document_url, where, part.document_name)
                except DocumentRejected as exc:
                    raise Rejection.mistral(400, str(exc), *INVALID_ARGS) from exc
                found.setdefault(index, []).append(info)
    return found


def check_request(
    body: dict[str, Any],
    request: s.ChatCompletionRequest,
    catalogue: Catalogue,
    *,
    allow_user_after_tool: bool = False,
) -> Checked:
    """Run the model check, the serving rules, the image rules and the context rule.

    Raises:
        Rejection: a 400 with Mistral's error envelope.
    """
    card = catalogue.get(request.model)
    if card is None or not card.can_chat:
        raise Rejection.case("invalid_model", model=request.model)
    validator = _ServingValidator(allow_user_after_tool, any_call_ids=card.tool_stream == "vllm")
    try:
        validator.validate_request(_to_mistral(request, None)[0])
    except (mc_errors.MistralCommonException, ValidationError, ValueError) as exc:
        raise _reject(exc) from exc
    _check_effort(request, card)
    images = _check_images(request, card)
    documents = _check_documents(request)
    limit = card.max_context_length
    texts = _texts(request)
    if sum(map(len, texts)) > LONG_TEXT:
        # Counting a huge prompt exactly holds the tokenizer for seconds: count it in
        # slices, and only as far as the answer is in doubt.
        prompt_tokens = count_long(texts, limit)
        if prompt_tokens > limit:
            raise _too_long(prompt_tokens, request, limit)
    counted, dropped, pictured = _to_mistral(request, images, card, documents)
    prompt_tokens = count_prompt(counted, dropped) + pictured
    if prompt_tokens + (request.max_tokens or 0) > limit:
        raise _too_long(prompt_tokens, request, limit)
    return Checked(
        body=body,
        request=request,
        card=card,
        prompt_tokens=prompt_tokens,
        images=images,
        documents=documents,
        thinks=thinks(request, card),
    )
