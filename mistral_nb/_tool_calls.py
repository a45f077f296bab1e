"""One tool call: arguments parsed and validated, the function run within its time limit.

Whatever the model sent and whatever the tool did, the answer is a :class:`ToolOutcome`
whose ``result`` tells the model what happened, and is never falsy: pipecat 1.14 treats
a falsy result as "COMPLETED" and does not run the model again, which stalls the turn.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import datetime as dt
import inspect
import json
import math
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import pydantic

from ._schema import FunctionSpec
from ._tool_results import to_json_compatible

__all__ = ["PendingCall", "ToolOutcome", "ToolStatus"]

ToolStatus = Literal["ok", "error", "timeout", "rejected"]


@dataclasses.dataclass(frozen=True)
class ToolOutcome:
    """What became of one tool call.

    Attributes:
        name: The tool name the model asked for.
        arguments: The arguments exactly as received (a dict, a JSON string, ...).
        status: ``"ok"``; ``"error"`` (the tool raised); ``"timeout"``; ``"rejected"``
            (unknown or disabled tool, or invalid arguments: the tool did not run).
        result: The JSON-compatible value to send back to the model; never falsy.
            ``{"result": value}`` wraps a falsy return value; otherwise
            ``{"error": ..., "status": ...}``, plus ``"problems"`` for invalid arguments.
        error: A readable account of what went wrong, None when status is "ok".
        started_at: When the call started (UTC).
        duration_s: Seconds from start to outcome, validation included.
        exception: The exception the tool raised, for a traceback in the notebook.
    """

    name: str
    arguments: Any
    status: ToolStatus
    result: Any
    error: str | None
    started_at: dt.datetime
    duration_s: float
    exception: BaseException | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when the tool ran and returned."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """The outcome as JSON-compatible data (without the exception object)."""
        return {
            "name": self.name,
            "arguments": to_json_compatible(self.arguments),
            "status": self.status,
            "result": self.result,
            "error": self.error,
            "started_at": self.started_at.isoformat(),
            "duration_s": self.duration_s,
        }


class PendingCall:
    """A call in progress: it knows when it started and builds the outcome."""

    def __init__(self, name: str, arguments: Any) -> None:
        self.name = name
        self.arguments = arguments
        self.started_at = dt.datetime.now(dt.UTC)
        self._start = time.perf_counter()

    def outcome(
        self,
        status: ToolStatus,
        result: Any,
        error: str | None = None,
        exception: BaseException | None = None,
    ) -> ToolOutcome:
        return ToolOutcome(
            name=self.name,
            arguments=self.arguments,
            status=status,
            result=result,
            error=error,
            started_at=self.started_at,
            duration_s=time.perf_counter() - self._start,
            exception=exception,
        )

    def reject(self, error: str, advice: str = "", **details: Any) -> ToolOutcome:
        """A "rejected" outcome: the tool did not run."""
        message = f"{error}. {advice}" if advice else error
        return self.outcome("rejected", {"error": message, "status": "rejected", **details}, error)

    async def run(self, spec: FunctionSpec, fn: Callable[..., Any], timeout: float) -> ToolOutcome:
        """Validate the arguments, call ``fn`` within ``timeout`` seconds, encode the result."""
        parsed = _parse_arguments(self.arguments)
        if isinstance(parsed, str):
            error = f"invalid arguments for {spec.name}: {parsed}"
            return self.reject(error, f"Call {spec.name} again with a JSON object.")
        try:
            validated = spec.arguments_model.model_validate(parsed)
        except pydantic.ValidationError as exc:
            problems = _problems(exc, spec)
            error = f"invalid arguments for {spec.name}: " + "; ".join(map(_problem_text, problems))
            advice = f"Call {spec.name} again with corrected arguments."
            return self.reject(error, advice, problems=problems)

        args, kwargs = spec.bind(validated)
        limit = None if math.isinf(timeout) else timeout
        try:
            value = await asyncio.wait_for(_run(spec, fn, args, kwargs), timeout=limit)
        except TimeoutError:
            error = f"{spec.name} did not finish within {timeout:g} s"
            return self.outcome("timeout", {"error": error, "status": "timeout"}, error)
        if isinstance(value, _Raised):
            raised = value.exception
            error = f"{type(raised).__name__}: {_describe(raised)}"
            result = {"error": f"{spec.name} raised {error}", "status": "error"}
            return self.outcome("error", result, error, raised)
        result = to_json_compatible(value)
        return self.outcome("ok", result if result else {"result": result})


@dataclasses.dataclass(frozen=True)
class _Raised:
    exception: BaseException


async def _run(
    spec: FunctionSpec, fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]
) -> Any:
    """Call the tool. Its exception comes back as _Raised, so that a TimeoutError it
    raises is not taken for ours."""
    if spec.is_async:
        try:
            value = fn(*args, **kwargs)
            return await value if inspect.isawaitable(value) else value
        except BaseException as exc:  # noqa: BLE001 - reported to the model, not raised here
            return _raised(exc)
    value = await _in_thread(spec.name, fn, args, kwargs)
    if inspect.isawaitable(value):  # a sync function that returned a coroutine
        try:
            return await value
        except BaseException as exc:  # noqa: BLE001 - reported to the model, not raised here
            return _raised(exc)
    return value


def _raised(exc: BaseException) -> _Raised:
    """What a tool raised, as an outcome: unless it is our own task being cancelled.

    A tool may raise ``CancelledError`` (a sub-task it awaited was cancelled),
    ``GeneratorExit``, ``SystemExit`` or ``KeyboardInterrupt``: those are the tool's
    failures, reported like any other.  Only a cancellation of the call itself (its
    turn was cancelled, or it timed out) goes on up.
    """
    task = asyncio.current_task()
    if isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling():
        raise exc
    return _Raised(exc)


async def _in_thread(
    name: str, fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]
) -> Any:
    # A daemon thread per call rather than asyncio.to_thread: a call that times out keeps
    # its thread, and that thread must neither use up the loop's shared executor nor
    # hold up the loop's shutdown or the interpreter's exit.
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(value: Any) -> None:
        if not future.done():
            future.set_result(value)

    def work() -> None:
        try:
            value: Any = context.run(fn, *args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - reported to the model, not raised here
            value = _Raised(exc)
        try:
            loop.call_soon_threadsafe(settle, value)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more

    threading.Thread(target=work, name=f"mistral_nb tool {name}", daemon=True).start()
    return await future


def _parse_arguments(arguments: Any) -> dict[str, Any] | str:
    """The arguments as a dict, or a string saying why they are not a JSON object."""
    if arguments is None:
        return {}
    if isinstance(arguments, bytes | bytearray):
        try:
            arguments = arguments.decode()
        except UnicodeDecodeError:
            return "the arguments are not UTF-8 text"
    if isinstance(arguments, str):
        if not arguments.strip():
            return {}
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            return f"the arguments are not valid JSON ({exc})"
        # Valid JSON that json.loads still refuses; its own messages speak to a Python
        # programmer (sys.set_int_max_str_digits), so say what is wrong with the text.
        except RecursionError:
            return "the arguments are nested too deeply to read"
        except ValueError:
            limit = sys.get_int_max_str_digits()
            return f"the arguments hold an integer of more than {limit} digits"
    if isinstance(arguments, Mapping):
        return dict(arguments)
    return f"the arguments must be a JSON object of named values, not {type(arguments).__name__}"


def _problems(exc: pydantic.ValidationError, spec: FunctionSpec) -> list[dict[str, Any]]:
    """Each problem: the parameter (a path for nested ones), what is wrong, what came,
    and the parameter's schema, so the model can correct its call."""
    takes = ", ".join(p.name for p in spec.parameters) or "no arguments"
    problems = []
    for err in exc.errors(include_url=False):
        loc, kind = err["loc"], err["type"]
        if kind == "extra_forbidden":
            problem = f"unexpected argument; {spec.name} takes {takes}"
        elif kind == "missing":
            problem = "missing required argument" if len(loc) == 1 else "missing required field"
        else:
            problem = err["msg"]
        entry: dict[str, Any] = {"parameter": _location(loc), "problem": problem}
        if kind != "missing":
            entry["got"] = to_json_compatible(err.get("input"))
        top = next((p for p in spec.parameters if loc and p.name == loc[0]), None)
        if top is not None:
            entry["expected"] = {
                k: v for k, v in top.schema.items() if k not in ("description", "default")
            }
        problems.append(entry)
    return problems


def _problem_text(problem: dict[str, Any]) -> str:
    text = f"{problem['parameter']}: {problem['problem']}"
    if "got" in problem:
        got = json.dumps(problem["got"], ensure_ascii=False)
        text += f" (got {got if len(got) <= 120 else got[:119] + '…'})"
    return text


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(arguments)"


def _describe(exc: BaseException) -> str:
    """An exception's message, even when ``str()`` itself fails (a tool's odd exception)."""
    try:
        return str(exc)
    except Exception as failure:  # noqa: BLE001 - the tool's error must still reach the model
        return f"<message unavailable: {type(failure).__name__}>"
