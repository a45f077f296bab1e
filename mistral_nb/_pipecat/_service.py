"""``NotebookMistralService``: pipecat 1.14's MistralLLMService, fixed for a notebook.

A named subclass that changes pipecat only through its own extension points
(``adapter_class``, ``create_client``, ``build_chat_completion_params`` after
``super()``, ``get_chat_completions``, ``_update_settings``).  What it changes, and why:

- **Settings reach the wire under Mistral's names** (``_settings_map.to_request``).
  1.14 raises ``TypeError`` for ``seed`` and for ``extra={"safe_prompt": ...}`` (they
  become unknown keyword arguments of the OpenAI client) and never sends
  ``max_completion_tokens``.
- **A trailing tool message is sent last, unpadded.**  The adapter appends
  ``{"role": "assistant", "content": " ", "prefix": true}`` after it, which makes
  real models emit junk and fails with a specific ``tool_choice`` (pipecat PR
  #4625).  Mistral accepts a tool message last; the adapter's other fix-ups stay.
- **Every era of Mistral's stream reads right** (``_stream.StreamReshaper``): reasoning
  arrives as lists of chunks, pushed here as pipecat's thought frames so the answer
  text stays a string; parallel tool calls in one delta, calls without ``index`` or
  ``id``, and fragmented arguments each become one well-formed call.
- **What went out is observable.**  The HTTP client reports each request body
  (retries included) and each response status to ``hooks``, which the session uses
  for ``turn.requests`` and retry counts.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import httpx
from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from pipecat.adapters.llm.services.mistral_adapter import MistralLLMAdapter
from pipecat.frames.frames import LLMThoughtEndFrame, LLMThoughtStartFrame, LLMThoughtTextFrame
from pipecat.services.mistral.llm import MistralLLMService, MistralLLMSettings

from ._settings_map import to_request
from ._stream import (
    MISTRAL_ID,
    StreamReshaper,
    Thinking,
    answer_text,
    cached_tokens,
    mistral_call_id,
    valid_name,
)

__all__ = ["NotebookMistralService", "ServiceHooks", "copy_service"]


class ServiceHooks(Protocol):
    """What the service reports as it talks to Mistral (the running turn's recorder)."""

    def request_sent(self, body: bytes) -> None: ...

    def response_received(self, status_code: int, headers: httpx.Headers) -> None: ...

    def finish_reason(self, reason: str) -> None: ...

    def cached_tokens(self, tokens: int) -> None: ...

    def candidate(self, index: int, text: str, finish_reason: str | None) -> None: ...


class NotebookMistralAdapter(MistralLLMAdapter):
    """Mistral's adapter, minus the ``" "`` padding after a trailing tool message, plus
    tool-call ids and names Mistral accepts back."""

    def _transform_messages(self, messages: list[Any]) -> list[Any]:
        shaped = super()._transform_messages(messages)  # deep copies: ours to change
        # The parent pads a trailing tool message with an assistant " " and then
        # marks that padding as a prefix; drop exactly that padding.
        if messages and messages[-1].get("role") == "tool":
            shaped = shaped[:-1]
        return valid_tool_calls(shaped)


def valid_tool_calls(messages: list[Any]) -> list[Any]:
    """``messages`` with every tool-call id and name in a form Mistral accepts, in place.

    The stream reshaper already gives each call a fresh id and a valid name; this is the
    net under it for what only shows once the reply is over (a call the model never
    named).  An id that is missing, malformed or already used gets a new one, and the
    tool messages answering that call (in order after it) follow.
    """
    used: set[str] = set()
    for position, message in enumerate(messages):
        calls = message.get("tool_calls") if message.get("role") == "assistant" else None
        if not calls:
            continue
        renamed: list[tuple[Any, str]] = []
        for index, call in enumerate(calls):
            old = call.get("id")
            new = old
            if not isinstance(old, str) or not MISTRAL_ID.fullmatch(old) or old in used:
                new = mistral_call_id(f"{position}/{index}/{old}")
                while new in used:
                    new = mistral_call_id(f"{new}/{position}")
                call["id"] = new
            used.add(new)
            renamed.append((old, new))
            function = call.get("function")
            if isinstance(function, dict):
                function["name"] = valid_name(function.get("name") or "") or "_"
        answers = [m for m in messages[position + 1 :] if m.get("role") == "tool"][: len(calls)]
        for answer, (old, new) in zip(answers, renamed, strict=False):
            if answer.get("tool_call_id") in (old, None, ""):
                answer["tool_call_id"] = new
    return messages


class NotebookMistralService(MistralLLMService):
    """MistralLLMService with the notebook fixes (see the module docstring).

    Args:
        api_key, base_url, settings: as for ``MistralLLMService``.
        request_timeout: seconds the HTTP client waits (None: no limit).
        max_retries: retries of 429 and 5xx by the OpenAI client.
    """

    adapter_class = NotebookMistralAdapter

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        settings: MistralLLMSettings | None = None,
        request_timeout: float | None = 60.0,
        max_retries: int = 2,
        **kwargs: Any,
    ) -> None:
        # create_client() runs inside super().__init__ and reads these.
        self._request_timeout = request_timeout
        self._max_retries = max_retries
        self.hooks: ServiceHooks | None = None
        self.settings_applied: Callable[[Any], None] | None = None
        super().__init__(api_key=api_key, base_url=base_url, settings=settings, **kwargs)

    @property
    def client(self) -> AsyncOpenAI:
        return self._client

    def create_client(
        self,
        api_key: Any = None,
        base_url: Any = None,
        organization: Any = None,
        project: Any = None,
        default_headers: Any = None,
        **kwargs: Any,
    ) -> Any:
        async def on_request(request: httpx.Request) -> None:
            if self.hooks is not None and _is_completion(request):
                self.hooks.request_sent(_body(request))

        async def on_response(response: httpx.Response) -> None:
            if self.hooks is not None and _is_completion(response.request):
                self.hooks.response_received(response.status_code, response.headers)

        return AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            organization=organization,
            project=project,
            default_headers=default_headers,
            max_retries=self._max_retries,
            timeout=self._request_timeout,
            http_client=DefaultAsyncHttpxClient(
                event_hooks={"request": [on_request], "response": [on_response]},
            ),
        )

    def build_chat_completion_params(self, params_from_context: Any) -> dict[str, Any]:
        return to_request(super().build_chat_completion_params(params_from_context), self._settings)

    async def get_chat_completions(self, context: Any) -> Any:
        stream = await super().get_chat_completions(context)
        used: set[str] = {
            call["id"]
            for message in context.get_messages()
            if isinstance(message, dict)
            for call in message.get("tool_calls") or ()
            if isinstance(call, dict) and call.get("id")
        }
        return _ReshapedStream(stream, self, used)

    async def _update_settings(self, delta: Any) -> dict[str, Any]:
        changed = await super()._update_settings(delta)
        if self.settings_applied is not None:
            self.settings_applied(delta)
        return changed


class _ReshapedStream:
    """The OpenAI chunk stream as pipecat's loop can read it, thinking pushed as frames."""

    def __init__(self, stream: Any, service: NotebookMistralService, used_ids: set[str]) -> None:
        self._stream = stream
        self._service = service
        self._reshaper = StreamReshaper(used_ids)
        self._thinking = False
        self._first_answer_seen = False

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Any]:
        service = self._service
        try:
            async for chunk in self._stream:
                hooks = service.hooks
                chunk = _divert_candidates(chunk, hooks)
                if chunk is None:
                    continue
                if hooks is not None:
                    choice = chunk.choices[0] if chunk.choices else None
                    if choice is not None and choice.finish_reason:
                        hooks.finish_reason(choice.finish_reason)
                    if chunk.usage is not None:
                        cached = cached_tokens(chunk.usage)
                        if cached is not None:
                            hooks.cached_tokens(cached)
                for piece in self._reshaper.feed(chunk):
                    if isinstance(piece, Thinking):
                        if not self._thinking:
                            self._thinking = True
                            await service.push_frame(LLMThoughtStartFrame())
                        await service.push_frame(LLMThoughtTextFrame(text=piece.text))
                        continue
                    if self._thinking and _has_answer(piece):
                        await self._end_thinking()
                    yield piece
                    if not self._first_answer_seen and _has_answer(piece):
                        self._first_answer_seen = True
                        await _let_observers_run()
        finally:
            if self._thinking:
                await self._end_thinking()

    async def _end_thinking(self) -> None:
        self._thinking = False
        await self._service.push_frame(LLMThoughtEndFrame())

    async def close(self) -> None:
        await self._stream.close()


def _divert_candidates(chunk: Any, hooks: ServiceHooks | None) -> Any:
    """``chunk`` with only candidate 0 (what pipecat reads); others go to ``hooks``.

    With ``n`` > 1 Mistral streams every candidate's deltas; pipecat reads
    ``choices[0]`` whatever its index, and would splice the candidates together.
    """
    choices = chunk.choices or []
    if all(getattr(choice, "index", 0) == 0 for choice in choices):
        return chunk
    for choice in choices:
        if choice.index == 0 or hooks is None:
            continue
        text = answer_text(choice.delta.content if choice.delta else None)
        if text or choice.finish_reason:
            hooks.candidate(choice.index, text, choice.finish_reason)
    first = [choice for choice in choices if choice.index == 0]
    if not first and chunk.usage is None:
        return None
    kept = chunk.model_copy()
    kept.choices = first
    return kept


async def _let_observers_run() -> None:
    """Give pipecat's observer tasks a turn of the loop.

    A reply that arrives in a burst is read without the loop ever waiting, so the
    observers (which pipecat feeds through queues) would see the first token only once
    the burst is over: tens of milliseconds late, on the figure a person waits for.
    Yielding once after the first answer chunk delivers it at once; later tokens are
    not delayed this way, so the cost is one loop turn per completion.
    """
    for _ in range(3):  # the worker's observer, then each observer's own queue
        await asyncio.sleep(0)


def _has_answer(chunk: Any) -> bool:
    choice = chunk.choices[0] if chunk.choices else None
    delta = choice.delta if choice is not None else None
    return bool(delta is not None and (delta.content or delta.tool_calls))


def _is_completion(request: httpx.Request) -> bool:
    return request.url.path.endswith("/chat/completions")


def _body(request: httpx.Request) -> bytes:
    """The request body, or b"" for a redirected request whose stream is not read again.

    The OpenAI client's HTTP library (httpx, or its fork httpx2) raises its own
    ``RequestNotRead`` there, so the check is on the name, not the class.
    """
    try:
        return request.content
    except Exception as exc:
        if type(exc).__name__ == "RequestNotRead":
            return b""
        raise


def copy_service(
    llm: MistralLLMService, *, request_timeout: float | None, max_retries: int
) -> NotebookMistralService:
    """A NotebookMistralService with ``llm``'s key, URL, settings, functions and handlers.

    ``llm`` itself is left as it was (never mutated, never closed), so one service can
    seed any number of sessions and stay usable on its own.
    """
    if not isinstance(llm, MistralLLMService):
        raise TypeError(
            f"Session(llm=...) takes a pipecat MistralLLMService, not {type(llm).__name__}"
        )
    client = llm._client
    # A shallow copy: the "not given" sentinels must stay the very same objects.
    settings: Any = copy.copy(llm._settings)
    settings.extra = dict(settings.extra or {})
    service = NotebookMistralService(
        api_key=client.api_key,
        base_url=str(client.base_url),
        settings=settings,
        request_timeout=request_timeout,
        max_retries=max_retries,
    )
    for name, item in llm._functions.items():
        service._functions[name] = copy.copy(item)
    for event, handler in llm._event_handlers.items():
        mine = service._event_handlers.get(event)
        if mine is not None:
            mine.handlers.extend(h for h in handler.handlers if h not in mine.handlers)
    return service
