"""Session: a conversation with a Mistral chat model through a real pipecat pipeline.

The session owns its runtime: the pipeline lives on an event loop on a thread of
its own (``_runtime.Runtime``), and every public method reaches it the same way
from any caller (a notebook cell, a widget callback on a subshell, ``asyncio.run``
in a script, a worker thread).  Everything pipecat is behind ``_pipecat``.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

from ._connection import mask_key, resolve_endpoint
from ._context_window import ContextWindow, ContextWindowWarning
from ._errors import (
    ImageError,
    JournalWarning,
    SessionBusyError,
    SessionClosedError,
    SettingsError,
)
from ._events import EventKind, Listeners, SessionEvent
from ._images import MAX_IMAGES_PER_REQUEST, prepare_images
from ._recorder import TurnRecorder
from ._runtime import Runtime, close_at_exit
from ._settings import validate_settings
from ._text import clean_text
from ._tools import ToolRegistry
from ._turn import Turn
from ._turnlog import TurnLog

if TYPE_CHECKING:
    from . import _pipecat

__all__ = ["Session", "SessionEvent"]


@dataclass
class _Request:
    """One send(), prepared and checked in the caller's thread."""

    text: str
    images: list[Any]
    documents: list[Any]
    schema: Any
    response_format: dict[str, Any] | None
    warning: str | None
    journal_warnings: list[warnings.WarningMessage] = field(default_factory=list)


def _refused(turn: Turn) -> bool:
    """Mistral turned the request down as invalid before any reply (not a failure to retry)."""
    return (
        turn.status == "error"
        and turn.error_status_code in (400, 413, 422)
        and not turn.token_text
        and not turn.call_records
    )


def _prepare_documents(documents: Iterable[Any]) -> list[Any]:
    from ._documents import PreparedDocument, prepare_document

    if isinstance(documents, (str, bytes, os.PathLike)) or hasattr(documents, "read"):
        documents = [documents]
    return [
        document if isinstance(document, PreparedDocument) else prepare_document(document)
        for document in documents
    ]


def _valid_utf8(text: str, what: str) -> str:
    """``text`` with lone surrogates replaced (they cannot go on the wire), with a warning."""
    clean = clean_text(text)
    if clean is not text:
        warnings.warn(
            f"{what} held characters that are not valid Unicode (lone surrogates, e.g. from "
            "a file name); they were replaced with U+FFFD",
            UnicodeWarning,
            stacklevel=3,
        )
    return clean

DEFAULT_REQUEST_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_TOOL_ROUNDS = 8

T = TypeVar("T")


class Session:
    """A conversation with a Mistral chat model through a real pipecat pipeline.

    Args:
        llm: A ``MistralLLMService`` built the way pipecat's docs show.  Its key, URL,
            settings, registered functions and event handlers are copied into the
            session's own service; ``llm`` itself is never changed or closed, so one
            service can seed any number of sessions.
        api_key: Mistral API key; defaults to ``MISTRAL_API_KEY``. With neither a key
            nor a ``base_url``, the session starts the built-in offline endpoint
            (:class:`LocalMistral`) and says so once.
        base_url: defaults to ``MISTRAL_BASE_URL``, then Mistral's API.
        settings: Mistral settings (``{"model": ..., "temperature": ...}``) or a
            ``MistralLLMService.Settings``; validated like ``update_settings``.
        tools: A :class:`ToolRegistry` to use (and share); a new one by default.
        log: A :class:`TurnLog`, or a path to a JSONL journal to append to.
        request_timeout: Seconds to wait for Mistral before a turn ends with
            status ``timeout``.
        max_retries: Retries of a request that got 429 or 5xx (with backoff,
            honouring the server's ``retry-after``); 4xx are never retried.
        max_tool_rounds: Model requests that may call tools within one turn;
            a further call is rejected and the turn ends with status ``error``.
        turn_timeout: Seconds a whole turn may take (requests, retries, tool calls)
            before it ends with status ``timeout``; ``request_timeout`` alone bounds
            each wait for data, not a stream that trickles in.  Defaults to six times
            ``request_timeout`` plus 8 s per retry; None for no limit.
    """

    def __init__(
        self,
        llm: Any = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        settings: Mapping[str, Any] | Any = None,
        tools: ToolRegistry | None = None,
        log: TurnLog | str | os.PathLike[str] | None = None,
        request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS,
        turn_timeout: float | None | Literal["auto"] = "auto",
    ) -> None:
        self._closed = True  # until everything below exists
        # pipecat (and openai) take about a second to import: not before the first session.
        from . import _pipecat

        if llm is not None:
            if api_key is not None or base_url is not None or settings is not None:
                raise SettingsError(
                    "Session(llm=...) takes its key, URL and settings from the service; "
                    "pass api_key/base_url/settings to MistralLLMService instead"
                )
            given = _pipecat.service_settings(llm)
            validate_settings({k: v for k, v in given.items() if v is not None})
            checked: dict[str, Any] = {}
        elif _pipecat.is_pipecat_settings(settings):
            checked = validate_settings(_pipecat.settings_from_pipecat(settings))
        else:
            checked = validate_settings(settings or {})
        self._local: Any = None
        if llm is None:
            key, url, self._local = resolve_endpoint(api_key, base_url)
        self.tools = tools if tools is not None else ToolRegistry()
        self._owns_log = not isinstance(log, TurnLog)
        self.log = log if isinstance(log, TurnLog) else TurnLog(log)
        self.request_timeout = request_timeout
        if turn_timeout == "auto":
            # Room for every attempt and the client's backoff (at most 8 s) between them.
            turn_timeout = (
                None if request_timeout is None else 6 * request_timeout + 8 * max_retries
            )
        self.turn_timeout: float | None = turn_timeout
        self._max_retries = max_retries
        self._listeners = Listeners()
        self._recorder: TurnRecorder | None = None
        self._schema: Any = None  # what response_format was set from, to parse replies
        self._turn_starts: list[int] = []
        self._runtime = Runtime(name="mistral_nb session")

        async def build() -> _pipecat.PipecatChat:
            if llm is not None:
                service = _pipecat.copy_service(
                    llm, request_timeout=request_timeout, max_retries=max_retries
                )
            else:
                service = _pipecat.new_service(
                    api_key=key,
                    base_url=url,
                    settings=checked,
                    request_timeout=request_timeout,
                    max_retries=max_retries,
                )
            chat = _pipecat.PipecatChat(service, self.tools, max_tool_rounds)
            await chat.start()
            self._turn_lock = asyncio.Lock()
            return chat

        try:
            self._chat = self._runtime.call(build())
        except BaseException:
            self._runtime.stop()
            if self._local is not None:
                self._local.stop()
            raise
        self._base_url = str(self._chat.service.client.base_url).rstrip("/")
        self._api_key: str = self._chat.service.client.api_key
        self._window = ContextWindow(self._chat.service.client)
        self._unobserve_tools = self.tools.observe(self._on_tools_changed)
        self._closed = False
        close_at_exit(self)

    # -- what a user reads ---------------------------------------------------

    @property
    def max_tool_rounds(self) -> int:
        """Model requests per turn that may call tools (see ``Session(max_tool_rounds=...)``)."""
        return self._chat.tool_calls.max_rounds

    @max_tool_rounds.setter
    def max_tool_rounds(self, value: int) -> None:
        self._chat.tool_calls.max_rounds = value

    @property
    def llm(self) -> Any:
        """The session's own pipecat service (a ``MistralLLMService``)."""
        return self._chat.service

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def local(self) -> Any:
        """The offline endpoint this session started, or None when it talks to a real API."""
        return self._local

    @property
    def settings(self) -> dict[str, Any]:
        """The settings the next request will use, under Mistral's names.

        Read from pipecat's store, with changes still on their way to it on top.
        """
        pending = self._chat.pending_settings()
        current = self._chat.settings()
        current.update(pending)
        return current

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation so far, as pipecat's context holds it (a copy)."""
        return self._chat.messages

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def busy(self) -> bool:
        """True while a turn is running."""
        recorder = self._recorder
        return recorder is not None and not recorder.finished

    def subscribe(self, listener: Callable[[SessionEvent], None]) -> Callable[[], None]:
        """Call ``listener(event)`` as turns run; returns a function that unsubscribes.

        See :class:`SessionEvent` for the kinds.  Listeners run on the session's own
        thread and must be quick; an exception in one is logged and does not reach the
        turn.
        """
        return self._listeners.subscribe(listener)

    def _emit(self, kind: EventKind, turn: Turn | None = None, **payload: Any) -> None:
        if turn is None and self._recorder is not None:
            turn = self._recorder.turn
        self._listeners.emit(SessionEvent(kind, turn, **payload))

    def tool(self, fn: Any = None, /, **options: Any) -> Any:
        """Register a function as a tool (``@session.tool`` or ``@session.tool(name=...)``)."""
        return self.tools.register(fn, **options)

    def models(self) -> list[dict[str, Any]]:
        """The models the endpoint lists (``GET /v1/models``), as dicts."""
        self._check_open()

        async def fetch() -> list[dict[str, Any]]:
            page = await self._chat.service.client.models.list(timeout=10)
            return [card.model_dump() for card in page.data]

        return self._runtime.call(fetch())

    def __repr__(self) -> str:
        where = "local" if self._local is not None else self._base_url
        state = "closed" if self._closed else ("busy" if self.busy else "ready")
        return (
            f"<Session {state} model={self.settings.get('model')!r} at {where}, "
            f"key={mask_key(self._api_key)}, {len(self.log)} turns>"
        )

    # -- settings and tools -----------------------------------------------------

    def update_settings(self, **fields: Any) -> dict[str, Any]:
        """Change settings from the next request on; returns the settings now in force.

        Takes Mistral's names (``random_seed``, ``max_tokens``, ``system_prompt``) and
        pipecat's (``seed``, ``max_completion_tokens``, ``system_instruction``).  Works
        from any thread; the change goes to pipecat as an ``LLMUpdateSettingsFrame``.

        Raises:
            SettingsError: a field is unknown or out of Mistral's range; nothing changes.
        """
        self._check_open()
        checked = validate_settings(fields)
        if not checked:
            return self.settings
        self._check_tool_choice(checked.get("tool_choice"))
        if "response_format" in checked:
            self._schema = fields.get("response_format", fields.get("schema"))
        self._chat.update_settings(checked)
        now = self.settings
        self._emit("settings", settings=now)
        return now

    def _check_tool_choice(self, choice: Any) -> None:
        if not isinstance(choice, dict):
            return
        name = choice["function"]["name"]
        if name not in self.tools.enabled_names:
            state = "disabled" if name in self.tools.names else "not registered"
            raise SettingsError(
                f"tool_choice names {name!r}, which is {state}; enabled tools: "
                f"{', '.join(self.tools.enabled_names) or 'none'} (register or enable it first)",
                field="tool_choice",
                value=choice,
            )

    def _on_tools_changed(self) -> None:
        if not self._closed:
            self._runtime.loop.call_soon_threadsafe(self._chat.set_tools, self.tools.to_list())

    # -- turns ---------------------------------------------------------------------

    async def send(
        self,
        text: str,
        images: Iterable[Any] | None = None,
        *,
        documents: Iterable[Any] | None = None,
        schema: Any = None,
    ) -> Turn:
        """Send a user message (and images, PDFs) and wait for the reply; returns the Turn.

        Works from any event loop (a notebook, a subshell, ``asyncio.run``).  A turn
        that fails (a rejected key, a rate limit, a broken stream) comes back with
        ``status`` "error" and a message; the conversation and the log are kept and
        the next turn works.  Call ``turn.raise_for_status()`` to raise instead.
        Cancelling the awaiting task ends the turn "cancelled".

        Args:
            text: The message.
            images: Paths, bytes, file objects, PIL images, uploads or data URLs; each
                becomes a base64 JPEG (see :func:`prepare_image`).
            documents: PDFs (a path, bytes, a file object, an upload), sent as Mistral
                ``document_url`` chunks after checking Mistral's size and page limits.
            schema: Structured output for this turn: a pydantic model class, a JSON Schema
                dict, or ``"json"``.  The reply is parsed into ``turn.parsed``; a reply that
                does not validate ends the turn "error" with the reason (the text is kept).

        Raises:
            ImageError, DocumentError, SettingsError: an input is unusable; nothing is sent.
        """
        self._check_open()
        if not isinstance(text, str):
            raise TypeError(f"send() takes the message as a str, not {type(text).__name__}")
        text = _valid_utf8(text, "the message")
        response_format = None
        if schema is not None:
            response_format = validate_settings({"response_format": schema})["response_format"]
        model = self.settings.get("model")
        prepared: list[Any] = []
        if images is not None:
            # Decoding and resizing photos takes tens of ms each: keep the loop free.
            prepared = await asyncio.to_thread(prepare_images, images, model=model)
        docs: list[Any] = []
        if documents is not None:
            docs = await asyncio.to_thread(_prepare_documents, documents)
        warning = await self._runtime.run(self._context_warning(text, prepared, docs))
        if warning is not None:
            # In the caller's thread, so the notebook shows it (or -W error stops here,
            # before anything is sent).
            warnings.warn(warning, ContextWindowWarning, stacklevel=2)
        request = _Request(text, prepared, docs, schema, response_format, warning)
        turn = await self._runtime.run(self._turn(request))
        for caught in request.journal_warnings:
            warnings.warn(caught.message, caught.category, stacklevel=2)
        return turn

    def ask(
        self,
        text: str,
        images: Iterable[Any] | None = None,
        *,
        documents: Iterable[Any] | None = None,
        schema: Any = None,
    ) -> Turn:
        """``send``, blocking: for a notebook cell, a script or a thread.

        Ctrl+C (or the kernel's stop button) ends the turn "cancelled", logged with what
        streamed, and the next turn works.
        """
        self._check_open()
        return self._runtime.call(self.send(text, images, documents=documents, schema=schema))

    async def _context_warning(
        self, text: str, prepared: list[Any], docs: list[Any]
    ) -> str | None:
        model = str(self.settings.get("model") or "")
        return await self._window.check(
            model=model,
            new_text=text,
            image_tokens=sum(image.estimated_tokens(model) for image in prepared)
            + sum(doc.estimated_tokens for doc in docs),
            max_tokens=self.settings.get("max_tokens"),
        )

    async def _turn(self, request: _Request) -> Turn:
        async with self._turn_lock:
            self._check_open()
            text, prepared, docs = request.text, request.images, request.documents
            self._check_image_budget(len(prepared))
            before = self.settings.get("response_format")
            if request.response_format is not None:
                await self._chat.apply_settings({"response_format": request.response_format})
            settings = self.settings
            model = str(settings.get("model") or "")
            turn = Turn(
                turn=self.log.next_turn_number(),
                started_at=datetime.now(UTC),
                user_text=text,
                settings=settings,
                images=[
                    {**image.to_log(), "estimated_tokens": image.estimated_tokens(model)}
                    for image in prepared
                ],
            )
            if docs:
                turn.documents = [doc.to_log() for doc in docs]
            content: Any = text
            if prepared or docs:
                # No empty text chunk for an attachments-only message.
                text_part = [{"type": "text", "text": text}] if text else []
                content = (
                    text_part
                    + [image.to_chunk() for image in prepared]
                    + [doc.to_chunk() for doc in docs]
                )
            recorder = TurnRecorder(
                turn,
                base_url=self._base_url,
                settings_reader=self._chat.settings,
                emit=lambda kind, **payload: self._emit(kind, turn, **payload),
                max_attempts=self._max_retries + 1,
            )
            self._turn_starts.append(len(self._chat.context.get_messages()))
            self._recorder = recorder
            self._emit("turn_started", turn)
            if request.warning is not None:
                turn.warnings.append(request.warning)
                self._emit("warning", turn, text=request.warning)
            try:
                await self._chat.run_turn(
                    recorder, {"role": "user", "content": content}, self.turn_timeout
                )
            except asyncio.CancelledError:
                recorder.finish("cancelled", "cancelled by the user")
                raise
            finally:
                if turn.status == "cancelled":
                    self._chat.settle_unanswered_calls()
                elif _refused(turn):
                    self._take_back(turn)
                if request.response_format is not None:
                    await self._chat.apply_settings({"response_format": before})
                self._parse_structured(turn, request.schema if request.schema else self._schema)
                self._recorder = None
                if turn.completions:
                    last = turn.completions[-1]
                    self._window.turn_ended(last.prompt_tokens, last.completion_tokens)
                # The journal warns when it misses a turn; here that must not cost the
                # caller the Turn (with warnings as errors), so send() re-issues it.
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", JournalWarning)
                        self.log.append(turn)
                    request.journal_warnings.extend(
                        w for w in caught if issubclass(w.category, JournalWarning)
                    )
                finally:
                    self._emit("turn_ended", turn)
            return turn

    def _take_back(self, turn: Turn) -> None:
        # Mistral refused the request itself (400/413/422, nothing streamed): the message
        # stays in the log but leaves the conversation, or every later request carrying
        # it would be refused too.
        start = self._turn_starts.pop()
        self._chat.set_messages(self._chat.messages[:start])
        turn.warnings.append(
            "Mistral refused this request, so the message was taken out of the conversation "
            "(it stays in the log): fix it and send it again"
        )

    def _parse_structured(self, turn: Turn, schema: Any) -> None:
        if not turn.settings.get("response_format") or schema is None:
            return
        from ._structured import parse_reply, schema_label

        turn.schema = schema_label(schema)
        if turn.status != "ok":
            return
        turn.parsed, problem = parse_reply(turn.text, schema)
        turn.parsed_ok = problem is None
        if problem is not None:
            turn.status = "error"
            turn.error = problem

    def _check_image_budget(self, new_images: int) -> None:
        # Every request carries the whole history, so Mistral's per-request image
        # limit counts the images of earlier turns too.
        if not new_images:
            return
        held = 0
        for message in self._chat.context.get_messages():
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, list):
                held += sum(
                    1
                    for part in content
                    if isinstance(part, dict) and part.get("type") == "image_url"
                )
        if held + new_images > MAX_IMAGES_PER_REQUEST:
            raise ImageError(
                f"this conversation already holds {held} image(s) and Mistral accepts at most "
                f"{MAX_IMAGES_PER_REQUEST} per request, history included: send "
                f"{max(MAX_IMAGES_PER_REQUEST - held, 0)} or fewer, or start over with "
                "session.reset()"
            )

    def cancel(self) -> bool:
        """Stop the running turn: it ends with status "cancelled", its partial text kept.

        Works from any thread and returns at once; False when no turn was running.
        """
        recorder = self._recorder
        if recorder is None or recorder.finished or self._closed:
            return False
        self._runtime.submit(self._interrupt(recorder))
        return True

    async def _interrupt(self, recorder: TurnRecorder) -> None:
        """End the turn now; in-flight tool calls are cancelled and awaited (briefly).

        An async tool gets ``CancelledError``; a sync tool's thread cannot be stopped,
        so it runs on in the background and its result is dropped.  Either way the call
        is logged with status "cancelled".
        """
        if recorder.finished:
            return
        recorder.finish("cancelled", "cancelled by the user")
        await self._chat.interrupt()

    # -- the conversation ---------------------------------------------------------

    def reset(self) -> None:
        """Forget the conversation (the model starts afresh); the log keeps every turn.

        Raises:
            SessionBusyError: a turn is running; ``cancel()`` it or wait first.
        """
        self._edit_conversation(0)

    def rewind(self, turns: int = 1) -> None:
        """Take the last ``turns`` turns out of the conversation (the log keeps them).

        For edit-and-resend and regenerate: the next ``send`` continues from before them.

        Raises:
            SessionBusyError: a turn is running.
            ValueError: ``turns`` is not between 1 and the number of turns in the
                conversation.
        """
        if not isinstance(turns, int) or not 1 <= turns <= len(self._turn_starts):
            raise ValueError(
                f"rewind(turns={turns!r}): the conversation holds {len(self._turn_starts)} "
                "turn(s); pass a number from 1 to that"
            )
        self._edit_conversation(len(self._turn_starts) - turns)

    def fork(self, *, log: TurnLog | None = None, **settings: Any) -> Session:
        """A new session on the same endpoint and tools, holding a copy of this conversation.

        ``settings`` change the fork's settings (validated); this session is not
        touched.  The fork has its own log (``log``, or a new in-memory one) and must be
        closed by whoever made it.

        Raises:
            SettingsError: a setting is unknown or out of range.
            SessionBusyError: a turn is running here.
        """
        self._check_open()
        if self.busy:
            raise SessionBusyError("a turn is running: fork() after it ends")
        merged = {**self.settings, **validate_settings(settings)}
        fork = Session(
            api_key=self._api_key,
            base_url=self._base_url,
            settings={k: v for k, v in merged.items() if v is not None},
            tools=self.tools,
            log=log if log is not None else TurnLog(),
            request_timeout=self.request_timeout,
            max_retries=self._max_retries,
            max_tool_rounds=self.max_tool_rounds,
            turn_timeout=self.turn_timeout,
        )
        messages = self.messages
        starts = list(self._turn_starts)

        async def seed() -> None:
            fork._chat.set_messages(messages)
            fork._turn_starts[:] = starts
            fork._window.conversation_tokens = self._window.conversation_tokens

        fork._runtime.call(seed())
        return fork

    def _edit_conversation(self, keep_turns: int) -> None:
        self._check_open()
        if self.busy:
            raise SessionBusyError(
                "a turn is running: cancel() it or wait for it before changing the conversation"
            )

        async def edit() -> None:
            cut = self._turn_starts[keep_turns] if keep_turns else 0
            self._chat.set_messages(self._chat.messages[:cut])
            del self._turn_starts[keep_turns:]
            if keep_turns == 0:
                self._window.conversation_tokens = 0

        self._runtime.call(edit())

    # -- experiments (thin wrappers: _compare.py, _replay.py) ---------------------

    async def compare(
        self,
        text: str,
        variants: Any,
        images: Iterable[Any] | None = None,
    ) -> Any:
        """Send ``text`` once per settings variant, side by side; see ``_compare.compare``.

        Each variant runs on a fork of this conversation, all at once; the conversation
        is not changed unless you pick one with ``comparison.keep(i)``.
        """
        from ._compare import compare

        self._check_open()
        return await compare(self, text, variants, images=images)

    async def replay(self, turn: int, **settings: Any) -> Turn:
        """Turn ``turn``'s logged request again with ``settings`` changed, as a new turn.

        See ``_replay.replay_turn``: the conversation is not touched, tools answer from
        the logged results, and the new turn's ``replay_of`` is ``turn``.
        """
        from ._replay import replay_turn

        self._check_open()
        return await replay_turn(self, turn, **settings)

    # -- closing -------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError(
                "this session is closed; start a new one with mnb.Session() "
                "(its log is still in session.log)"
            )

    async def _shutdown(self) -> None:
        recorder = self._recorder
        if recorder is not None:
            await self._interrupt(recorder)
        # Let the interrupted turn finish (flushed, logged, returned to its caller)
        # before the pipeline goes; queued sends see the session closed.
        try:
            await asyncio.wait_for(self._turn_lock.acquire(), timeout=5)
        except TimeoutError:
            pass
        await self._chat.stop()

    def _release(self) -> None:
        self._unobserve_tools()
        self._runtime.stop()
        if self._local is not None:
            self._local.stop()
        if self._owns_log:
            close = getattr(self.log, "close", None)
            if close is not None:
                close()

    async def aclose(self) -> None:
        """Stop the pipeline (cancelling a running turn) and release every socket."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._runtime.run(self._shutdown())
        finally:
            await asyncio.to_thread(self._release)

    def close(self) -> None:
        """``aclose``, blocking; from any thread."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._runtime.running:
                self._runtime.call(self._shutdown())
        finally:
            self._release()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
