"""Session: one long-lived pipecat pipeline around a MistralLLMService.

The pipeline (user aggregator -> Mistral service -> assistant aggregator) runs
as a background task on the event loop it was started on: Jupyter's own loop in
a notebook, a loop of the session's own in a plain script.  Turns go through it
one at a time; an observer turns its frames into the turn log.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Self

from pipecat.frames.frames import (
    InterruptionFrame,
    LLMMessagesAppendFrame,
    LLMUpdateSettingsFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.services.mistral.llm import MistralLLMService, MistralLLMSettings
from pipecat.turns.user_start.external_user_turn_start_strategy import (
    ExternalUserTurnStartStrategy,
)
from pipecat.turns.user_stop.external_user_turn_stop_strategy import ExternalUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.utils.types import NOT_GIVEN
from pipecat.workers.runner import WorkerRunner

from ._connection import build_service, mask_key
from ._context_window import ContextWindow, ContextWindowWarning
from ._errors import ImageError, SessionClosedError, SettingsError
from ._events import Listeners, SessionEvent
from ._images import MAX_IMAGES_PER_REQUEST, prepare_images
from ._observer import TurnObserver
from ._recorder import TurnRecorder
from ._service import adopt_service
from ._settings import current_settings, to_settings_delta, validate_settings
from ._tool_handler import ToolCallHandler
from ._tools import ToolRegistry
from ._turn import Turn
from ._turnlog import TurnLog

__all__ = ["Session", "SessionEvent"]

DEFAULT_REQUEST_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_TOOL_ROUNDS = 8


class Session:
    """A conversation with a Mistral chat model through a real pipecat pipeline.

    Args:
        llm: A ``MistralLLMService`` built the way pipecat's docs show. When
            omitted, one is built from ``api_key``, ``base_url`` and ``settings``.
        api_key: Mistral API key; defaults to ``MISTRAL_API_KEY``. With neither
            a key nor a ``base_url``, the session starts the built-in offline
            endpoint (:class:`LocalMistral`) and says so once.
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
    """

    def __init__(
        self,
        llm: MistralLLMService | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        settings: Mapping[str, Any] | MistralLLMSettings | None = None,
        tools: ToolRegistry | None = None,
        log: TurnLog | str | os.PathLike[str] | None = None,
        request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS,
    ) -> None:
        self._local: Any = None
        if llm is not None:
            if api_key is not None or base_url is not None or settings is not None:
                raise SettingsError(
                    "Session(llm=...) takes its key, URL and settings from the service; "
                    "pass api_key/base_url/settings to MistralLLMService instead"
                )
        else:
            llm, self._local = build_service(api_key, base_url, settings)
        self._llm = adopt_service(llm, timeout=request_timeout, max_retries=max_retries)
        self._base_url = str(self._llm._client.base_url).rstrip("/")
        self._api_key: str | None = self._llm._client.api_key
        self.tools = tools if tools is not None else ToolRegistry()
        self.log = log if isinstance(log, TurnLog) else TurnLog(log)
        self.request_timeout = request_timeout

        self._context = LLMContext(tools=self._tools_schema())
        self._unobserve_tools = self.tools.observe(self._on_tools_changed)
        self._tool_calls = ToolCallHandler(self.tools, max_tool_rounds, lambda: self._recorder)
        self._llm.register_function(None, self._tool_calls)
        self._observer = TurnObserver(self._llm)
        self._pending_settings: list[MistralLLMSettings] = []
        self._settings = current_settings(self._llm._settings)
        # One turn at a time; also guards starting the pipeline (two first sends at once).
        self._turn_lock = asyncio.Lock()
        self._recorder: TurnRecorder | None = None
        self._worker: PipelineWorker | None = None
        self._runner_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._listeners = Listeners()
        self._window = ContextWindow(self._llm._client)

    # -- what a user reads ---------------------------------------------------

    @property
    def max_tool_rounds(self) -> int:
        """Model requests per turn that may call tools (see ``Session(max_tool_rounds=...)``)."""
        return self._tool_calls.max_rounds

    @max_tool_rounds.setter
    def max_tool_rounds(self, value: int) -> None:
        self._tool_calls.max_rounds = value

    @property
    def llm(self) -> MistralLLMService:
        """The pipecat service inside this session."""
        return self._llm

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def local(self) -> Any:
        """The offline endpoint this session started, or None when it talks to a real API."""
        return self._local

    @property
    def settings(self) -> dict[str, Any]:
        """The settings the next request will use, under Mistral's names."""
        return dict(self._settings)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation so far, as pipecat's context holds it (a copy)."""
        return [dict(m) for m in self._context.get_messages()]  # type: ignore[arg-type]

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def busy(self) -> bool:
        """True while a turn is running."""
        return self._recorder is not None and not self._recorder.finished

    def subscribe(self, listener: Callable[[SessionEvent], None]) -> Callable[[], None]:
        """Call ``listener(event)`` as turns run; returns a function that unsubscribes.

        Events (:class:`SessionEvent`) have a ``kind``: "turn_started", "token"
        (``event.text``), "call" (``event.call``, a finished tool call), "turn_ended",
        and "settings" (``event.settings``).  Listeners run on the session's event loop
        and must be quick; an exception in one is logged and does not reach the turn.
        """
        return self._listeners.subscribe(listener)

    def _emit(self, kind: str, turn: Turn | None = None, **payload: Any) -> None:
        if turn is None and self._recorder is not None:
            turn = self._recorder.turn
        self._listeners.emit(SessionEvent(kind, turn, **payload))

    def tool(self, fn: Any = None, /, **options: Any) -> Any:
        """Register a function as a tool (``@session.tool`` or ``@session.tool(name=...)``)."""
        return self.tools.register(fn, **options)

    def __repr__(self) -> str:
        where = "local" if self._local is not None else self._base_url
        state = "closed" if self._closed else ("running" if self._worker else "idle")
        return (
            f"<Session {state} model={self._settings.get('model')!r} at {where}, "
            f"key={mask_key(self._api_key)}, {len(self.log)} turns>"
        )

    # -- settings ------------------------------------------------------------

    def update_settings(self, **fields: Any) -> dict[str, Any]:
        """Change settings from the next request on; returns the settings now in force.

        Takes Mistral's names (``random_seed``, ``max_tokens``, ``system_prompt``)
        and pipecat's (``seed``, ``max_completion_tokens``, ``system_instruction``).

        Raises:
            SettingsError: a field is unknown or out of Mistral's range; nothing changes.
        """
        self._check_open()
        checked = validate_settings(fields)
        if not checked:
            return self.settings
        self._pending_settings.append(to_settings_delta(checked))
        self._settings.update(checked)
        self._emit("settings", settings=self.settings)
        if self._worker is not None and self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._flush_settings(), self._loop)
        return self.settings

    async def _flush_settings(self) -> None:
        while self._pending_settings and self._worker is not None:
            delta = self._pending_settings.pop(0)
            await self._worker.queue_frame(LLMUpdateSettingsFrame(delta=delta))

    # -- tools -----------------------------------------------------------------

    def _tools_schema(self) -> Any:
        return self.tools.to_tools_schema() if self.tools.enabled_names else NOT_GIVEN

    def _on_tools_changed(self) -> None:
        self._context.set_tools(self._tools_schema())

    # -- the pipeline ----------------------------------------------------------

    async def _ensure_started(self) -> None:
        if self._worker is not None:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        # Turns come from send(), not from speech: external turn strategies keep pipecat
        # from loading its audio turn-detection model (~50 MB) for a text chat.
        aggregators = LLMContextAggregatorPair(
            self._context,
            user_params=LLMUserAggregatorParams(
                user_turn_strategies=UserTurnStrategies(
                    start=[ExternalUserTurnStartStrategy()],
                    stop=[ExternalUserTurnStopStrategy()],
                )
            ),
        )
        pipeline = Pipeline([aggregators.user(), self._llm, aggregators.assistant()])
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(enable_metrics=True, enable_usage_metrics=True),
            observers=[self._observer],
            # pipecat's idle timer only resets on speech frames: a text chat would be
            # cancelled after 5 minutes of reading.
            idle_timeout_secs=None,
            enable_rtvi=False,
        )
        # A notebook's Ctrl-C / interrupt belongs to the kernel, not to our runner.
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        self._worker = worker
        self._runner_task = loop.create_task(runner.run(), name="mistral_nb pipeline")

    async def send(self, text: str, images: Iterable[Any] | None = None) -> Turn:
        """Send a user message (and images) and wait for the reply; returns the Turn.

        A turn that fails (a rejected key, a rate limit, a broken stream) comes back
        with ``status`` "error" and a message; the conversation and the log are kept
        and the next turn works.  Call ``turn.raise_for_status()`` to raise instead.
        """
        self._check_open()
        if not isinstance(text, str):
            raise TypeError(f"send() takes the message as a str, not {type(text).__name__}")
        prepared = []
        if images is not None:
            # Decoding and resizing photos takes tens of ms each: keep the loop free.
            prepared = await asyncio.to_thread(
                prepare_images, images, model=self._settings.get("model")
            )
        async with self._turn_lock:
            self._check_open()
            await self._ensure_started()
            self._check_image_budget(len(prepared))
            await self._flush_settings()
            model = str(self._settings.get("model") or "")
            turn = Turn(
                turn=self.log.next_turn_number(),
                started_at=datetime.now(UTC),
                user_text=text,
                settings=dict(self._settings),
                images=[
                    {**image.to_log(), "estimated_tokens": image.estimated_tokens(model)}
                    for image in prepared
                ],
            )
            # Before anything is installed: with warnings as errors, this raises cleanly.
            await self._warn_if_context_is_full(turn)
            content: Any = text
            if prepared:
                # No empty text chunk for an images-only message.
                text_part = [{"type": "text", "text": text}] if text else []
                content = text_part + [image.to_chunk() for image in prepared]
            await self._run_turn(turn, {"role": "user", "content": content})
            return turn

    def _check_image_budget(self, new_images: int) -> None:
        # Every request carries the whole history, so Mistral's per-request image
        # limit counts the images of earlier turns too.
        if not new_images:
            return
        held = 0
        for message in self._context.get_messages():
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

    async def _run_turn(self, turn: Turn, message: dict[str, Any]) -> None:
        assert self._worker is not None
        recorder = TurnRecorder(
            turn,
            base_url=self._base_url,
            settings_reader=lambda: current_settings(self._llm._settings),
            emit=lambda kind, **payload: self._emit(kind, turn, **payload),
        )
        self._recorder = recorder
        self._emit("turn_started", turn)
        self._observer.recorder = recorder
        self._llm._mnb_hooks = recorder  # type: ignore[attr-defined]
        try:
            append = LLMMessagesAppendFrame(messages=[message], run_llm=True)  # type: ignore[list-item]
            await self._worker.queue_frame(append)
            await asyncio.shield(recorder.done)
        except asyncio.CancelledError:
            await self._interrupt(recorder)
            raise
        finally:
            if not self._closed:
                # The assistant message must be in the context before the next turn.
                await self._worker.flush_pipeline()
            self._observer.recorder = None
            self._llm._mnb_hooks = None  # type: ignore[attr-defined]
            self._recorder = None
            if turn.completions:
                last = turn.completions[-1]
                self._window.turn_ended(last.prompt_tokens, last.completion_tokens)
            try:
                self.log.append(turn)
            finally:
                self._emit("turn_ended", turn)

    async def _warn_if_context_is_full(self, turn: Turn) -> None:
        message = await self._window.check(
            model=str(self._settings.get("model") or ""),
            new_text=turn.user_text,
            image_tokens=sum(image.get("estimated_tokens", 0) for image in turn.images),
            max_tokens=self._settings.get("max_tokens"),
        )
        if message is not None:
            turn.warnings.append(message)
            warnings.warn(message, ContextWindowWarning, stacklevel=4)
            self._emit("warning", turn, text=message)

    def reset(self) -> None:
        """Forget the conversation (the model starts afresh); the log keeps every turn."""
        self._check_open()
        if self.busy:
            raise RuntimeError("a turn is running; cancel() it or wait before reset()")
        self._context.set_messages([])
        self._window.conversation_tokens = 0

    def ask(self, text: str, images: Iterable[Any] | None = None) -> Turn:
        """``send``, blocking: works in a notebook cell and in a plain script."""
        self._check_open()
        return self._run(self.send(text, images))

    def cancel(self) -> bool:
        """Stop the running turn: it ends with status "cancelled", its partial text kept.

        Returns False when no turn was running.
        """
        recorder = self._recorder
        if recorder is None or recorder.finished:
            return False
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._interrupt(recorder), self._loop)
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
        if self._worker is not None:
            await self._worker.queue_frame(InterruptionFrame())
        await self._tool_calls.cancel_in_flight()

    # -- the event loop --------------------------------------------------------

    def _run(self, coroutine: Any) -> Any:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            loop = self._loop or self._own_loop
            if loop is None or loop.is_closed():
                loop = self._own_loop = asyncio.new_event_loop()
            return loop.run_until_complete(coroutine)
        if self._loop is not None and loop is not self._loop:
            coroutine.close()
            raise RuntimeError(
                "this session's pipeline runs on another event loop; call it from that loop"
            )
        # Jupyter's loop is already running: nest_asyncio lets a cell block on it
        # while the pipeline task keeps streaming on the same loop.
        import nest_asyncio

        nest_asyncio.apply(loop)
        return loop.run_until_complete(coroutine)

    # -- closing -----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError(
                "this session is closed; start a new one with mnb.Session() "
                "(its log is still in session.log)"
            )

    async def aclose(self) -> None:
        """Stop the pipeline (cancelling a running turn) and release every socket."""
        if self._closed:
            return
        self._closed = True
        self._unobserve_tools()
        if self._recorder is not None:
            await self._interrupt(self._recorder)
        if self._worker is not None and self._runner_task is not None:
            await self._worker.stop_when_done()
            try:
                await asyncio.wait_for(asyncio.shield(self._runner_task), timeout=5)
            except TimeoutError:
                await self._worker.cancel(reason="session closed")
                self._runner_task.cancel()
                await asyncio.gather(self._runner_task, return_exceptions=True)
        await self._llm._client.close()
        if self._local is not None:
            self._local.stop()

    def close(self) -> None:
        """``aclose``, blocking."""
        if self._closed:
            return
        self._run(self.aclose())
        if self._own_loop is not None:
            self._own_loop.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
