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

from . import _schema as s
from ._catalogue import Catalogue, ModelCard
from ._images import MAX_IMAGES, ImageInfo, ImageRejected, inspect_image
from ._tokens import count_prompt
from ._wire import Rejection

__all__ = ["Checked", "check_request"]

ORDER = ("invalid_request_message_order", "3230")
FUNCTION_CALL = ("invalid_function_call", "3280")
GENERIC = ("invalid_request_error", None)

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

    def __init__(self, allow_user_after_tool: bool) -> None:
        super().__init__(mode=ValidationMode.serving)
        self._allow_user_after_tool = allow_user_after_tool

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


def _text_chunks(content: str | Sequence[s.TextChunk] | None) -> str | list[Any]:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return [mc_chunk.TextChunk(text=part.text) for part in content]


def _arguments(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _image_url(part: s.ImageURLChunk) -> str:
    return part.image_url if isinstance(part.image_url, str) else part.image_url.url


def _to_mistral(
    request: s.ChatCompletionRequest, images: dict[int, list[ImageInfo]] | None
) -> tuple[ChatCompletionRequest, list[str]]:
    """mistral-common's request; with ``images``, images become countable chunks."""
    messages: list[Any] = []
    dropped: list[str] = []
    for index, message in enumerate(request.messages):
        if isinstance(message, s.SystemMessage):
            messages.append(mc_messages.SystemMessage(content=_text_chunks(message.content)))
        elif isinstance(message, s.UserMessage):
            content: Any = message.content if message.content is not None else ""
            if isinstance(content, list):
                infos = iter((images or {}).get(index, []))
                parts: list[Any] = []
                for part in content:
                    if isinstance(part, s.TextChunk):
                        parts.append(mc_chunk.TextChunk(text=part.text))
                    elif images is None:
                        parts.append(mc_chunk.ImageURLChunk(image_url=_image_url(part)))
                    else:
                        info = next(infos)
                        if info.image is not None:
                            parts.append(mc_chunk.ImageChunk(image=info.image))
                        else:
                            parts.append(mc_chunk.TextChunk(text=info.url or ""))
                content = parts
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
                    text = message.content
                    if not isinstance(text, str):
                        text = "".join(part.text for part in text)
                    dropped.append(text)
            messages.append(
                mc_messages.AssistantMessage(
                    content=None if message.content is None else _text_chunks(message.content),
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
    return ChatCompletionRequest(model=request.model, messages=messages, tools=tools), dropped


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
                    *GENERIC,
                )
            where = f"messages[{index}].content[{position}]"
            try:
                found.setdefault(index, []).append(inspect_image(_image_url(part), where))
            except ImageRejected as exc:
                raise Rejection.mistral(400, str(exc), *GENERIC) from exc
    if total > MAX_IMAGES:
        raise Rejection.mistral(
            400,
            f"Too many images in request: {total}; at most {MAX_IMAGES} images are allowed",
            *GENERIC,
        )
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
        raise Rejection.mistral(400, f"Invalid model: {request.model}", "invalid_model", "1500")
    validator = _ServingValidator(allow_user_after_tool)
    try:
        validator.validate_request(_to_mistral(request, None)[0])
    except (mc_errors.MistralCommonException, ValidationError, ValueError) as exc:
        raise _reject(exc) from exc
    if request.reasoning_effort is not None:
        raise Rejection.mistral(
            400,
            f"reasoning_effort={request.reasoning_effort!r} is not supported for this model",
            *GENERIC,
        )
    images = _check_images(request, card)
    counted, dropped = _to_mistral(request, images)
    prompt_tokens = count_prompt(counted, dropped)
    limit = card.max_context_length
    wanted = prompt_tokens + (request.max_tokens or 0)
    if wanted > limit:
        if prompt_tokens > limit or not request.max_tokens:
            message = (
                f"Prompt contains {prompt_tokens} tokens, too large for model with "
                f"{limit} maximum context length"
            )
        else:
            message = (
                f"Prompt contains {prompt_tokens} tokens and max_tokens is "
                f"{request.max_tokens} ({wanted} in total), too large for model with "
                f"{limit} maximum context length"
            )
        raise Rejection.mistral(400, message, *GENERIC)
    return Checked(
        body=body, request=request, card=card, prompt_tokens=prompt_tokens, images=images
    )
