"""pipecat's MistralLLMService, with the 1.14 pitfalls that hurt a notebook fixed.

The fixes live in a subclass that the user's own service object is switched to
(by ``__class__`` assignment), so a service built the way
pipecat's docs show keeps its settings, its registered functions and its event
handlers.  What the mixin changes, and why:

- **Settings reach the wire under Mistral's names.**  1.14 raises ``TypeError``
  for ``seed`` and for ``extra={"safe_prompt": ...}`` (they become unknown
  keyword arguments of the OpenAI client) and never sends
  ``max_completion_tokens``.  Here ``seed`` goes out as ``random_seed``,
  Mistral-only ``extra`` keys go in the request body, and
  ``max_completion_tokens`` is sent as ``max_tokens``.
- **A trailing tool message is sent last, unpadded.**  The adapter appends
  ``{"role": "assistant", "content": " ", "prefix": true}`` after it, which makes
  real models emit junk and fails with a specific ``tool_choice`` (pipecat PR
  #4625).  Mistral accepts a tool message last; the adapter's other fix-ups stay.
- **Parallel tool calls all run.**  Mistral streams every call of a response in
  one delta; 1.14 reads only the first entry of a delta.  The stream is re-cut
  so each call arrives in a delta of its own.
- **What went out is observable.**  The HTTP client reports each request body
  (retries included) and the stream each completion's ``finish_reason`` to a hook
  object, which the session uses for ``turn.requests`` and retry counts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

import httpx
from openai import NOT_GIVEN as OPENAI_NOT_GIVEN
from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from pipecat.adapters.llm.services.mistral_adapter import MistralLLMAdapter
from pipecat.services.mistral.llm import MistralLLMService
from pipecat.utils.types import is_given

__all__ = ["ServiceHooks", "adopt_service"]

# Keyword arguments of ``AsyncOpenAI().chat.completions.create`` that are not
# request-body fields; every other ``Settings.extra`` key belongs in the body.
_CLIENT_OPTIONS = {"extra_headers", "extra_query", "extra_body", "timeout"}
_OPTIONAL_FIELDS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")


class ServiceHooks(Protocol):
    """What the service reports as it talks to Mistral."""

    def request_sent(self, body: bytes) -> None: ...

    def finish_reason(self, reason: str) -> None: ...


def _value(value: Any) -> Any:
    if not is_given(value) or value is OPENAI_NOT_GIVEN:
        return None
    return value


class _NotebookMistralAdapter(MistralLLMAdapter):
    def _transform_messages(self, messages: list[Any]) -> list[Any]:
        shaped = super()._transform_messages(messages)
        # The parent pads a trailing tool message with an assistant " " and then
        # marks that padding as a prefix; drop exactly that padding.
        if messages and messages[-1].get("role") == "tool":
            shaped = shaped[:-1]
        return shaped


class _OneCallPerDelta:
    """A chunk stream in which each tool call of a delta gets a chunk of its own."""

    def __init__(self, stream: Any, hooks: ServiceHooks | None) -> None:
        self._stream = stream
        self._hooks = hooks

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Any]:
        async for chunk in self._stream:
            choice = chunk.choices[0] if chunk.choices else None
            if choice is not None and choice.finish_reason and self._hooks is not None:
                self._hooks.finish_reason(choice.finish_reason)
            tool_calls = choice.delta.tool_calls if choice is not None and choice.delta else None
            if not tool_calls or len(tool_calls) == 1:
                yield chunk
                continue
            for call in tool_calls:
                single = chunk.model_copy(deep=True)
                single.choices[0].delta.tool_calls = [call]
                yield single

    async def close(self) -> None:
        await self._stream.close()


def _build_chat_completion_params(self: Any, params_from_context: Any) -> dict[str, Any]:
    settings = self._settings
    params: dict[str, Any] = {
        "model": settings.model,
        "stream": True,
        "messages": params_from_context["messages"],
        "tools": params_from_context["tools"],
        "tool_choice": params_from_context["tool_choice"],
    }
    for name in _OPTIONAL_FIELDS:
        value = _value(getattr(settings, name))
        if value is not None:
            params[name] = value
    max_tokens = _value(settings.max_tokens)
    if max_tokens is None:
        max_tokens = _value(settings.max_completion_tokens)
    if max_tokens is not None:
        params["max_tokens"] = max_tokens

    body: dict[str, Any] = {}
    seed = _value(settings.seed)
    if seed is not None:
        body["random_seed"] = seed
    for key, value in (settings.extra or {}).items():
        if key in _CLIENT_OPTIONS:
            params[key] = value
        else:
            body[key] = value
    if body:
        params["extra_body"] = {**body, **(params.get("extra_body") or {})}
    return params


def _make_client(
    self: Any, *, api_key: str, base_url: str, timeout: float | None, max_retries: int
) -> AsyncOpenAI:
    async def on_request(request: httpx.Request) -> None:
        if self._mnb_hooks is not None and _is_completion(request):
            self._mnb_hooks.request_sent(request.content)

    return AsyncOpenAI(
        api_key=api_key,
        base_url=base_url,
        max_retries=max_retries,
        timeout=timeout,
        http_client=DefaultAsyncHttpxClient(
            event_hooks={"request": [on_request]},
        ),
    )


def _is_completion(request: httpx.Request) -> bool:
    return request.url.path.endswith("/chat/completions")


def _notebook_class(cls: type[MistralLLMService]) -> type[MistralLLMService]:
    """``cls`` with the fixes (see the module docstring), laid out like ``cls``.

    A subclass with no instance layout of its own, so an existing service object
    can take it by ``__class__`` assignment.
    """

    class NotebookService(cls):  # type: ignore[valid-type,misc]
        __slots__ = ()
        _mnb_adopted = True
        _mnb_hooks: ServiceHooks | None = None
        build_chat_completion_params = _build_chat_completion_params
        _mnb_make_client = _make_client

        async def get_chat_completions(self, context: Any) -> Any:
            stream = await super().get_chat_completions(context)
            return _OneCallPerDelta(stream, self._mnb_hooks)

    NotebookService.__name__ = cls.__name__
    NotebookService.__qualname__ = cls.__qualname__
    return NotebookService


_ADOPTED: dict[type, type] = {}


def adopt_service(
    llm: MistralLLMService,
    *,
    timeout: float | None,
    max_retries: int,
) -> MistralLLMService:
    """Give a MistralLLMService the notebook fixes, in place, and return it.

    The OpenAI client is rebuilt (same key and URL) so that its timeout, its
    retry count and the request hooks are the session's.
    """
    if not isinstance(llm, MistralLLMService):
        raise TypeError(
            f"Session(llm=...) takes a pipecat MistralLLMService, not {type(llm).__name__}"
        )
    cls = type(llm)
    if not getattr(cls, "_mnb_adopted", False):
        if cls not in _ADOPTED:
            _ADOPTED[cls] = _notebook_class(cls)
        llm.__class__ = _ADOPTED[cls]
    adapter = llm.get_llm_adapter()
    if type(adapter) is MistralLLMAdapter:
        adapter.__class__ = _NotebookMistralAdapter
    old = llm._client
    llm._client = llm._mnb_make_client(  # type: ignore[attr-defined]
        api_key=old.api_key,
        base_url=str(old.base_url),
        timeout=timeout,
        max_retries=max_retries,
    )
    return llm


def request_body(raw: bytes) -> dict[str, Any]:
    """A request body as sent, parsed; a body that is not JSON is kept as text."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {"_raw": raw.decode("utf-8", "replace")}
    return body if isinstance(body, dict) else {"_raw": body}
