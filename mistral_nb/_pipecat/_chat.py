"""``PipecatChat``: the pipecat side of a session, and everything it builds.

One long-lived pipeline (user aggregator -> NotebookMistralService -> assistant
aggregator) in a ``PipelineWorker`` under a ``WorkerRunner``, an observer that
feeds frames to the running turn's recorder, and the tool-call bridge.  Every
method runs on the session's runtime loop (see ``_runtime.py``): pipecat's tasks,
queues and the HTTP client all belong to that one loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
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
from pipecat.turns.user_start.external_user_turn_start_strategy import (
    ExternalUserTurnStartStrategy,
)
from pipecat.turns.user_stop.external_user_turn_stop_strategy import ExternalUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.utils.types import NOT_GIVEN
from pipecat.workers.runner import WorkerRunner

from .._recorder import TurnRecorder
from .._tools import ToolRegistry
from ._observer import TurnObserver
from ._service import NotebookMistralService
from ._settings_map import read_settings, to_delta
from ._tool_bridge import ToolCallHandler

__all__ = ["PipecatChat"]


class _FunctionSchema(FunctionSchema):
    # pipecat writes parameters as type, properties and required only: it would drop
    # "additionalProperties": false, and tell the model that extra arguments are fine.

    def __init__(self, function: Mapping[str, Any]) -> None:
        parameters = function["parameters"]
        super().__init__(
            function["name"],
            function["description"],
            parameters.get("properties", {}),
            parameters.get("required", []),
        )
        self._parameters = parameters

    def to_default_dict(self) -> dict[str, Any]:
        return {**super().to_default_dict(), "parameters": self._parameters}


def to_tools_schema(tools: list[dict[str, Any]]) -> Any:
    """Mistral's ``tools`` list as pipecat's ToolsSchema (NOT_GIVEN for none)."""
    if not tools:
        return NOT_GIVEN
    return ToolsSchema(standard_tools=[_FunctionSchema(t["function"]) for t in tools])


class PipecatChat:
    """The service, its context and its pipeline, driven one turn at a time.

    Args:
        service: the session's own service (never a user's object).
        registry: the tools the model may call.
        max_tool_rounds: model requests per turn that may call tools.
    """

    def __init__(
        self, service: NotebookMistralService, registry: ToolRegistry, max_tool_rounds: int
    ) -> None:
        self.service = service
        self.context = LLMContext(tools=to_tools_schema(registry.to_list()))
        self.observer = TurnObserver(service)
        self.tool_calls = ToolCallHandler(registry, max_tool_rounds, lambda: self._recorder)
        service.register_function(None, self.tool_calls)
        self._recorder: TurnRecorder | None = None
        self._worker: PipelineWorker | None = None
        self._runner_task: asyncio.Task[None] | None = None
        self._in_flight: list[tuple[Any, dict[str, Any]]] = []
        self._loop = asyncio.get_running_loop()
        service.settings_applied = self._settings_applied

    # -- state -------------------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [dict(m) for m in self.context.get_messages()]  # type: ignore[arg-type]

    def set_messages(self, messages: list[dict[str, Any]]) -> None:
        self.context.set_messages(messages)  # type: ignore[arg-type]

    def set_tools(self, tools: list[dict[str, Any]]) -> None:
        self.context.set_tools(to_tools_schema(tools))

    def settings(self) -> dict[str, Any]:
        """The settings pipecat's store holds now, under Mistral's names."""
        return read_settings(self.service._settings)

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        # Turns come from send(), not from speech: external turn strategies keep pipecat
        # from loading its audio turn-detection model (~50 MB) for a text chat.
        aggregators = LLMContextAggregatorPair(
            self.context,
            user_params=LLMUserAggregatorParams(
                user_turn_strategies=UserTurnStrategies(
                    start=[ExternalUserTurnStartStrategy()],
                    stop=[ExternalUserTurnStopStrategy()],
                )
            ),
        )
        pipeline = Pipeline([aggregators.user(), self.service, aggregators.assistant()])
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(enable_metrics=True, enable_usage_metrics=True),
            observers=[self.observer],
            # pipecat's idle timer only resets on speech frames: a text chat would be
            # cancelled after 5 minutes of reading.
            idle_timeout_secs=None,
            enable_rtvi=False,
        )
        # Interrupts belong to the kernel or the script, not to our runner.
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        self._worker = worker
        self._runner_task = asyncio.get_running_loop().create_task(
            runner.run(), name="mistral_nb pipeline"
        )

    async def stop(self) -> None:
        """Stop the pipeline and close the service's HTTP client."""
        worker, task = self._worker, self._runner_task
        if worker is not None and task is not None:
            await worker.stop_when_done()
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=5)
            except TimeoutError:
                await worker.cancel(reason="session closed")
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._worker = None
        await self.service.client.close()

    # -- a turn ----------------------------------------------------------------------

    async def run_turn(
        self, recorder: TurnRecorder, message: dict[str, Any], deadline: float | None = None
    ) -> None:
        """Send ``message`` and wait until ``recorder`` says the turn is over.

        ``deadline`` (seconds) bounds the whole turn: a stream that trickles in just
        fast enough for the HTTP client's read timeout still ends, as "timeout".
        """
        assert self._worker is not None, "start() first"
        self._recorder = recorder
        self.observer.recorder = recorder
        self.service.hooks = recorder
        try:
            append = LLMMessagesAppendFrame(messages=[message], run_llm=True)  # type: ignore[list-item]
            await self._worker.queue_frame(append)
            try:
                await asyncio.wait_for(asyncio.shield(recorder.done), deadline)
            except TimeoutError:
                recorder.finish(
                    "timeout",
                    f"the turn took longer than its {deadline:g} s deadline "
                    "(Session(turn_timeout=...)) and was stopped; what streamed is kept",
                )
                await self.interrupt()
        except asyncio.CancelledError:
            # The caller went away (a cancelled task, Ctrl+C): stop the stream before the
            # flush below, or it would wait for the whole reply.
            recorder.finish("cancelled", "cancelled by the user")
            await self.interrupt()
            raise
        finally:
            try:
                if self._worker is not None:
                    # The assistant message must be in the context before the next turn.
                    await self._worker.flush_pipeline()
            finally:
                self.observer.recorder = None
                self.service.hooks = None
                self._recorder = None

    def settle_unanswered_calls(self) -> int:
        """Answer tool calls a cancelled turn left open; returns how many.

        pipecat writes ``"IN_PROGRESS"`` as a call's tool message while it runs; a call
        cancelled with its turn keeps it, and the model would read that placeholder on
        the next turn.  It becomes a plain "cancelled" result (Mistral needs one tool
        message per call).
        """
        settled = 0
        for message in self.context.get_messages():
            if (
                isinstance(message, dict)
                and message.get("role") == "tool"
                and message.get("content") == "IN_PROGRESS"
            ):
                message["content"] = '{"status": "cancelled", "error": "cancelled by the user"}'
                settled += 1
        return settled

    async def interrupt(self) -> None:
        """Stop a streaming completion and the tool calls in flight (briefly awaited)."""
        if self._worker is not None:
            await self._worker.queue_frame(InterruptionFrame())
        await self.tool_calls.cancel_in_flight()

    # -- settings ----------------------------------------------------------------------

    def update_settings(self, checked: Mapping[str, Any]) -> None:
        """Queue validated settings as an ``LLMUpdateSettingsFrame``; from any thread.

        Until the service applies them they show in :meth:`pending_settings`, so a
        reader never sees an older value than the one just set.
        """
        delta = to_delta(checked)
        self._in_flight.append((delta, dict(checked)))
        asyncio.run_coroutine_threadsafe(self._queue_settings(delta), self._loop)

    async def apply_settings(self, checked: Mapping[str, Any]) -> None:
        """:meth:`update_settings` from the runtime loop, queued before this returns."""
        delta = to_delta(checked)
        self._in_flight.append((delta, dict(checked)))
        await self._queue_settings(delta)

    async def _queue_settings(self, delta: Any) -> None:
        if self._worker is not None:
            await self._worker.queue_frame(LLMUpdateSettingsFrame(delta=delta))

    def pending_settings(self) -> dict[str, Any]:
        """Settings queued but not yet applied by the service (safe from any thread)."""
        merged: dict[str, Any] = {}
        for _delta, checked in list(self._in_flight):
            merged.update(checked)
        return merged

    def _settings_applied(self, delta: Any) -> None:
        self._in_flight[:] = [entry for entry in self._in_flight if entry[0] is not delta]
