"""pipecat frames -> turn events.

An observer sees every frame pushed in the pipeline without sitting in it, so
the assistant aggregator (which swallows text frames) does not hide anything.
Only frames the LLM service pushes are of interest; everything else (the
aggregators' own traffic, the frame echoed upstream) is filtered out here.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from pipecat.frames.frames import (
    ErrorFrame,
    FunctionCallCancelFrame,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    LLMThoughtTextFrame,
    MetricsFrame,
)
from pipecat.metrics.metrics import LLMUsageMetricsData, TTFBMetricsData
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameDirection

if TYPE_CHECKING:
    from pipecat.services.mistral.llm import MistralLLMService

    from .._recorder import TurnRecorder

__all__ = ["TurnObserver"]

_log = logging.getLogger("mistral_nb")


class TurnObserver(BaseObserver):
    """Feeds the frames the LLM pushes to whichever turn is being recorded."""

    def __init__(self, llm: MistralLLMService) -> None:
        super().__init__()
        self._llm = llm
        self.recorder: TurnRecorder | None = None
        self._errors_seen: set[int] = set()

    async def on_push_frame(self, data: FramePushed) -> None:
        if data.source is not self._llm:
            return
        recorder = self.recorder
        if recorder is None:
            return
        try:
            self._record(recorder, data)
        except Exception as exc:  # noqa: BLE001 - a bug here must end the turn, not hang it
            _log.exception("mistral_nb: recording a frame failed")
            recorder.finish("error", f"mistral_nb failed while recording the turn: {exc!r}")

    def _record(self, recorder: TurnRecorder, data: FramePushed) -> None:
        frame = data.frame
        now = time.perf_counter()
        if isinstance(frame, ErrorFrame):
            # push_error sends the frame upstream; it may be seen more than once.
            if frame.id not in self._errors_seen:
                self._errors_seen.add(frame.id)
                recorder.error(frame.error, frame.exception)
            return
        if data.direction != FrameDirection.DOWNSTREAM:
            return
        if isinstance(frame, LLMTextFrame):
            recorder.text(frame.text, now)
        elif isinstance(frame, LLMThoughtTextFrame):
            recorder.text(frame.text, now, kind="thinking")
        elif isinstance(frame, LLMFullResponseStartFrame):
            recorder.completion_started(now)
        elif isinstance(frame, LLMFullResponseEndFrame):
            recorder.completion_ended()
        elif isinstance(frame, MetricsFrame):
            for item in frame.data:
                if isinstance(item, TTFBMetricsData) and item.value:
                    recorder.ttfb(item.value)
                elif isinstance(item, LLMUsageMetricsData):
                    recorder.usage(item.value.prompt_tokens, item.value.completion_tokens)
        elif isinstance(frame, FunctionCallsStartedFrame):
            recorder.calls_started([call.tool_call_id for call in frame.function_calls])
        elif isinstance(frame, (FunctionCallResultFrame, FunctionCallCancelFrame)):
            recorder.call_settled(frame.tool_call_id)
