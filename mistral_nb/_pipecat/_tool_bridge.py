"""pipecat's function calls, answered by a ToolRegistry and recorded with the turn.

One catch-all handler serves every name the model calls (an unknown or disabled
tool gets a "rejected" answer it can act on, not pipecat's generic one).  It also
enforces the per-turn limit on tool rounds, and keeps track of the calls in flight
so that cancelling a turn can cancel and await them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pipecat.frames.frames import FunctionCallResultProperties
from pipecat.services.llm_service import FunctionCallParams

from .._recorder import TurnRecorder
from .._tools import ToolRegistry
from .._turn import CallRecord

__all__ = ["ToolCallHandler"]


# About 50,000 tokens: a tool result past this would crowd out the conversation (a 10 MB
# result would make every later request too large for any model).
MAX_RESULT_CHARS = 200_000


def bounded_result(result: Any) -> Any:
    """``result``, or its first ``MAX_RESULT_CHARS`` characters with a note to the model."""
    try:
        text = json.dumps(result, ensure_ascii=False)
    except (TypeError, ValueError):
        return result  # the registry already made it JSON-compatible; leave it be
    if len(text) <= MAX_RESULT_CHARS:
        return result
    return {
        "truncated": True,
        "note": (
            f"the result was {len(text):,} characters; only the first {MAX_RESULT_CHARS:,} "
            "are given. Ask for a narrower result if you need the rest."
        ),
        "partial_result": text[:MAX_RESULT_CHARS],
    }


def _record(params: FunctionCallParams, **outcome: Any) -> CallRecord:
    return CallRecord(
        call_id=params.tool_call_id,
        name=params.function_name,
        arguments=dict(params.arguments) if params.arguments else {},
        **outcome,
    )


class ToolCallHandler:
    """The function-call handler a session registers with its service.

    Args:
        registry: The tools to call.
        max_rounds: Model requests per turn that may call tools; later calls are
            rejected and the turn ends once they are answered.
        recorder: Returns the recorder of the running turn (None between turns).
    """

    def __init__(
        self,
        registry: ToolRegistry,
        max_rounds: int,
        recorder: Callable[[], TurnRecorder | None],
    ) -> None:
        self.registry = registry
        self.max_rounds = max_rounds
        self._recorder = recorder
        self._in_flight: set[asyncio.Task[Any]] = set()

    async def __call__(self, params: FunctionCallParams) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._answer(params, self._recorder())
        finally:
            self._in_flight.discard(task)  # type: ignore[arg-type]

    async def _answer(self, params: FunctionCallParams, recorder: TurnRecorder | None) -> None:
        properties = None
        if recorder is not None and recorder.completion_index >= self.max_rounds:
            reason = (
                f"stopped after {self.max_rounds} tool rounds in one turn "
                "(Session(max_tool_rounds=...)); the model kept calling tools"
            )
            outcome = self.registry.reject(params.function_name, params.arguments, reason)
            recorder.stop_after_calls(reason)
            # No further model request: this turn is over once its calls are answered.
            properties = FunctionCallResultProperties(run_llm=False)
        else:
            started = datetime.now(UTC)
            if recorder is not None:
                recorder.call_started(
                    _record(
                        params,
                        result=None,
                        status="running",
                        error=None,
                        started_at=started,
                        duration_s=0.0,
                    )
                )
            try:
                outcome = await self.registry.call(params.function_name, params.arguments)
            except asyncio.CancelledError:
                if recorder is not None:
                    ended = datetime.now(UTC)
                    recorder.call_done(
                        _record(
                            params,
                            result=None,
                            status="cancelled",
                            error="cancelled with its turn",
                            started_at=started,
                            duration_s=(ended - started).total_seconds(),
                        )
                    )
                raise
        result = bounded_result(outcome.result)
        if recorder is not None:
            recorder.call_done(
                _record(
                    params,
                    result=result,
                    status=outcome.status,
                    error=outcome.error,
                    started_at=outcome.started_at,
                    duration_s=outcome.duration_s,
                )
            )
        await params.result_callback(result, properties=properties)

    async def cancel_in_flight(self, timeout: float = 1.0) -> None:
        """Cancel the running calls and wait (up to ``timeout``) for them to settle.

        An async tool gets ``CancelledError``; a sync tool's thread cannot be stopped,
        so it runs on in the background and its result is dropped.
        """
        calls = [task for task in self._in_flight if not task.done()]
        for task in calls:
            task.cancel()
        if calls:
            await asyncio.wait(calls, timeout=timeout)
