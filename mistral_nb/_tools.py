"""ToolRegistry: Python functions the model may call, with validated, time-limited calls.

A registry turns functions into tools (see :mod:`mistral_nb._schema` for how a
signature and docstring become a JSON Schema), hands pipecat the enabled ones, and
runs the model's calls::

    reg = ToolRegistry()

    @reg.register
    def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
        '''Current weather for a city.

        Args:
            city: City name, for example "Paris".
            unit: Temperature unit.
        '''

    outcome = await reg.call("get_weather", {"city": "Paris"})

:meth:`ToolRegistry.call` never raises because of what the model sent or what the tool
did: it returns a :class:`ToolOutcome` whose ``result`` is the JSON-compatible value to
send back, never falsy (pipecat 1.14 does not re-run the model after a falsy result).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import datetime as dt
import html
import inspect
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import pydantic

from ._errors import ToolError
from ._schema import FunctionSpec, describe_function
from ._tool_results import to_json_compatible

if TYPE_CHECKING:
    import pandas
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
    from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema

__all__ = ["DEFAULT_TIMEOUT", "Tool", "ToolOutcome", "ToolRegistry", "ToolStatus"]

logger = logging.getLogger("mistral_nb.tools")

#: Seconds a tool may run before its call ends with status "timeout".
DEFAULT_TIMEOUT = 30.0

ToolStatus = Literal["ok", "error", "timeout", "rejected"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class ToolOutcome:
    """What became of one tool call.

    Attributes:
        name: The tool name the model asked for.
        arguments: The arguments exactly as received (a dict, a JSON string, ...).
        status: ``"ok"``; ``"error"`` (the tool raised); ``"timeout"``; ``"rejected"``
            (unknown or disabled tool, or invalid arguments: the tool did not run).
        result: The JSON-compatible value to send back to the model; never falsy.
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


class Tool:
    """A registered function, as the model sees it. Created by :meth:`ToolRegistry.register`."""

    __slots__ = ("_enabled", "_spec", "fn", "timeout")

    def __init__(self, fn: Callable[..., Any], spec: FunctionSpec, timeout: float | None) -> None:
        self.fn = fn
        #: Seconds allowed per call; None means the registry's default.
        self.timeout = timeout
        self._spec = spec
        self._enabled = True

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def description(self) -> str:
        return self._spec.description

    @property
    def enabled(self) -> bool:
        """Whether the model is offered this tool (change it through the registry)."""
        return self._enabled

    @property
    def is_async(self) -> bool:
        return self._spec.is_async

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON Schema of the arguments (a fresh copy)."""
        return self._spec.json_schema

    @property
    def signature(self) -> str:
        """The parameters as text: ``"city: str, unit: 'celsius'|'fahrenheit' = 'celsius'"``."""
        return ", ".join(p.label for p in self._spec.parameters)

    @property
    def schema(self) -> FunctionSchema:
        """The tool as a pipecat ``FunctionSchema``."""
        from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

        parameters = self.parameters
        return FunctionSchema(
            name=self.name,
            description=self.description,
            properties=parameters["properties"],
            required=parameters["required"],
        )

    def __repr__(self) -> str:
        state = "enabled" if self._enabled else "disabled"
        return f"<Tool {self.name}({self.signature}) {state}>"


class ToolRegistry:
    """The functions a model may call, each enabled or disabled.

    Args:
        default_timeout: Seconds a call may take when the tool has no timeout of its
            own (``math.inf`` for no limit). A sync tool runs in its own daemon thread so
            the event loop (and the notebook) stays responsive; a thread cannot be killed,
            so a sync tool that times out keeps running in the background until it
            returns, and its result is dropped. An async tool is cancelled.

    A registry can stand alone or be shared by several sessions.
    """

    def __init__(self, *, default_timeout: float = DEFAULT_TIMEOUT) -> None:
        self._tools: dict[str, Tool] = {}
        self._observers: list[Callable[[], Any]] = []
        self.default_timeout = default_timeout

    @property
    def default_timeout(self) -> float:
        return self._default_timeout

    @default_timeout.setter
    def default_timeout(self, value: float) -> None:
        self._default_timeout = _check_timeout(value, allow_none=False)

    # -- registration --------------------------------------------------------

    @overload
    def register(
        self,
        fn: F,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> F: ...

    @overload
    def register(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> Callable[[F], F]: ...

    def register(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Make ``fn`` a tool; usable as ``@reg.register`` or ``@reg.register(name=...)``.

        Args:
            fn: The function (sync or async, a bound method, a ``functools.partial``, or
                an object with a typed ``__call__``). Every parameter needs a type hint.
            name: The tool name; defaults to the function's ``__name__``.
            description: Overrides the docstring's description.
            timeout: Seconds per call; None uses the registry's ``default_timeout``.

        Returns:
            ``fn`` unchanged (or, without ``fn``, a decorator that registers).

        Raises:
            ToolError: ``fn`` cannot be a tool (the message says which parameter and
                why), or another function already has that name.
        """
        if fn is None:

            def decorator(func: F) -> F:
                return self.register(func, name=name, description=description, timeout=timeout)

            return decorator
        timeout = _check_timeout(timeout, allow_none=True)
        spec = describe_function(fn, name=name, description=description)
        existing = self._tools.get(spec.name)
        if existing is not None and _identity(existing.fn) != _identity(fn):
            raise ToolError(
                f"a tool named {spec.name!r} is already registered ({_identity(existing.fn)}); "
                f"unregister({spec.name!r}) first, or register this one with another name=",
                tool=spec.name,
            )
        # The same function again (a notebook cell run twice) replaces the old version.
        self._tools[spec.name] = Tool(fn, spec, timeout)
        self._notify()
        return fn

    __call__ = register

    def unregister(self, name: str) -> None:
        """Remove a tool. Raises ToolError for an unknown name."""
        self._lookup(name)
        del self._tools[name]
        self._notify()

    def enable(self, name: str) -> None:
        """Offer the tool to the model again."""
        self._set_enabled(name, True)

    def disable(self, name: str) -> None:
        """Stop offering the tool; calls to it are rejected until it is enabled."""
        self._set_enabled(name, False)

    def _set_enabled(self, name: str, enabled: bool) -> None:
        tool = self._lookup(name)
        if tool._enabled != enabled:
            tool._enabled = enabled
            self._notify()

    # -- lookup ----------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def __getitem__(self, name: str) -> Tool:
        return self._lookup(name)

    def get(self, name: str, default: Tool | None = None) -> Tool | None:
        return self._tools.get(name, default)

    @property
    def names(self) -> list[str]:
        """Every tool name, in registration order."""
        return list(self._tools)

    @property
    def enabled_names(self) -> list[str]:
        return [t.name for t in self._tools.values() if t._enabled]

    def _lookup(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except (KeyError, TypeError):
            known = ", ".join(self._tools) or "none registered yet"
            raise ToolError(f"no tool named {name!r}; known tools: {known}", tool=name) from None

    def to_tools_schema(self) -> ToolsSchema:
        """The enabled tools as a pipecat ``ToolsSchema``."""
        from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema

        return ToolsSchema(standard_tools=[t.schema for t in self._tools.values() if t._enabled])

    # -- observers -------------------------------------------------------------

    def observe(self, callback: Callable[[], Any]) -> Callable[[], None]:
        """Call ``callback()`` after every register, unregister, enable and disable.

        An exception in a callback is logged (logger ``mistral_nb.tools``) and does not
        stop the change or the other callbacks.

        Returns:
            A function that unsubscribes ``callback``.
        """
        self._observers.append(callback)

        def unsubscribe() -> None:
            if callback in self._observers:
                self._observers.remove(callback)

        return unsubscribe

    def _notify(self) -> None:
        for callback in list(self._observers):
            try:
                callback()
            except Exception:
                logger.exception("a ToolRegistry observer raised; the registry carries on")

    # -- calls -----------------------------------------------------------------

    async def call(self, name: str, arguments: Any = None) -> ToolOutcome:
        """Run a tool the way the model asked, and say what happened.

        ``arguments`` may be a dict, a JSON string, or None (no arguments). They are
        validated and coerced with the function's types first (``"3"`` becomes ``3``, a
        dict becomes a model); invalid ones never reach the function.

        Never raises for what the model sent or what the tool did: see
        :class:`ToolOutcome`. Cancelling the caller cancels an async tool.
        """
        started_at = dt.datetime.now(dt.UTC)
        start = time.perf_counter()

        def outcome(
            status: ToolStatus, result: Any, error: str | None = None, exc: BaseException | None = None
        ) -> ToolOutcome:
            return ToolOutcome(
                name=name,
                arguments=arguments,
                status=status,
                result=result,
                error=error,
                started_at=started_at,
                duration_s=time.perf_counter() - start,
                exception=exc,
            )

        tool = self._tools.get(name) if isinstance(name, str) else None
        if tool is None or not tool._enabled:
            available = ", ".join(self.enabled_names) or "none"
            what = "no tool named" if tool is None else "the tool is disabled:"
            error = f"{what} {name!r}; available tools: {available}"
            return outcome("rejected", {"error": error, "status": "rejected"}, error)

        parsed = _parse_arguments(arguments)
        if isinstance(parsed, str):
            error = f"invalid arguments for {tool.name}: {parsed}"
            result = {"error": f"{error}. Call {tool.name} again with a JSON object.", "status": "rejected"}
            return outcome("rejected", result, error)
        try:
            validated = tool._spec.arguments_model.model_validate(parsed)
        except pydantic.ValidationError as exc:
            problems = _problems(exc, tool)
            error = f"invalid arguments for {tool.name}: " + "; ".join(
                f"{p['parameter']}: {p['problem']}" + (f" (got {_short(p['got'])})" if "got" in p else "")
                for p in problems
            )
            result = {
                "error": f"{error}. Call {tool.name} again with corrected arguments.",
                "status": "rejected",
                "problems": problems,
            }
            return outcome("rejected", result, error)

        args, kwargs = tool._spec.bind(validated)
        timeout = tool.timeout if tool.timeout is not None else self._default_timeout
        try:
            value = await asyncio.wait_for(
                _run(tool, args, kwargs), timeout=None if math.isinf(timeout) else timeout
            )
        except TimeoutError:
            error = f"{tool.name} did not finish within {timeout:g} s"
            return outcome("timeout", {"error": error, "status": "timeout"}, error)
        if isinstance(value, _Raised):
            exc = value.exception
            error = f"{type(exc).__name__}: {exc}"
            result = {"error": f"{tool.name} raised {error}", "status": "error"}
            return outcome("error", result, error, exc)
        result = to_json_compatible(value)
        return outcome("ok", result if result else {"result": result})

    def reject(self, name: str, arguments: Any, reason: str) -> ToolOutcome:
        """An outcome for a call refused without running the tool (e.g. too many rounds).

        Args:
            name: The tool the model asked for.
            arguments: Its arguments, as received.
            reason: Why, addressed to the model; becomes ``error`` and the result.
        """
        return ToolOutcome(
            name=name,
            arguments=arguments,
            status="rejected",
            result={"error": reason, "status": "rejected"},
            error=reason,
            started_at=dt.datetime.now(dt.UTC),
            duration_s=0.0,
        )

    # -- display ---------------------------------------------------------------

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per tool: name, enabled, description, parameters."""
        import pandas

        rows = [
            {"name": t.name, "enabled": t.enabled, "description": t.description, "parameters": t.signature}
            for t in self._tools.values()
        ]
        return pandas.DataFrame(rows, columns=["name", "enabled", "description", "parameters"])

    def __repr__(self) -> str:
        if not self._tools:
            return "ToolRegistry(no tools)"
        enabled = len(self.enabled_names)
        lines = [f"ToolRegistry({len(self)} tools, {enabled} enabled):"]
        for t in self._tools.values():
            mark = "✓" if t.enabled else "✗"
            summary = t.description.split("\n", 1)[0]
            lines.append(f"  {mark} {t.name}({t.signature})" + (f"  {summary}" if summary else ""))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self._tools:
            return "<p><em>No tools registered.</em></p>"
        head = "".join(f"<th>{h}</th>" for h in ("name", "enabled", "description", "parameters"))
        rows = []
        for t in self._tools.values():
            summary = t.description.split("\n", 1)[0]
            rows.append(
                "<tr>"
                f"<td><code>{html.escape(t.name)}</code></td>"
                f"<td>{'✓' if t.enabled else '✗'}</td>"
                f'<td title="{html.escape(t.description)}">{html.escape(summary)}</td>'
                f"<td><code>{html.escape(t.signature)}</code></td>"
                "</tr>"
            )
        return (
            '<table class="mistral-nb-tools">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )


# -- helpers -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Raised:
    exception: BaseException


async def _run(tool: Tool, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Call the tool; its exception comes back as _Raised, so a TimeoutError it raises
    is not mistaken for ours."""
    if tool.is_async:
        try:
            value = tool.fn(*args, **kwargs)
            return await value if inspect.isawaitable(value) else value
        except Exception as exc:
            return _Raised(exc)
    value = await _in_thread(tool.name, tool.fn, args, kwargs)
    if inspect.isawaitable(value):  # a sync function that returned a coroutine
        try:
            return await value
        except Exception as exc:
            return _Raised(exc)
    return value


async def _in_thread(name: str, fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
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
    if isinstance(arguments, Mapping):
        return dict(arguments)
    return f"the arguments must be a JSON object of named values, not {type(arguments).__name__}"


def _problems(exc: pydantic.ValidationError, tool: Tool) -> list[dict[str, Any]]:
    spec = tool._spec
    takes = ", ".join(p.name for p in spec.parameters) or "no arguments"
    problems = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        parameter = _location(loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            problem = f"unexpected argument; {spec.name} takes {takes}"
        elif kind == "missing":
            problem = "missing required argument" if len(loc) == 1 else "missing required field"
        else:
            problem = err["msg"]
        entry: dict[str, Any] = {"parameter": parameter, "problem": problem}
        if kind != "missing":
            entry["got"] = to_json_compatible(err.get("input"))
        top = next((p for p in spec.parameters if loc and p.name == loc[0]), None)
        if top is not None and kind != "extra_forbidden":
            expected = {k: v for k, v in top.schema.items() if k not in ("description", "default")}
            entry["expected"] = expected
        problems.append(entry)
    return problems


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(arguments)"


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_timeout(value: Any, *, allow_none: bool) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        default = f" (or None for the registry default, {DEFAULT_TIMEOUT:g} s by default)" if allow_none else ""
        raise ToolError(
            f"timeout must be a positive number of seconds{default}, or math.inf for no "
            f"limit; got {value!r}"
        )
    return float(value)


def _identity(fn: Any) -> str:
    """Where a function was defined: the same for every run of a notebook cell."""
    while hasattr(fn, "func") and callable(fn.func):  # functools.partial
        fn = fn.func
    fn = getattr(fn, "__func__", fn)  # bound method
    if not hasattr(fn, "__qualname__"):
        fn = type(fn)
    return f"{getattr(fn, '__module__', '?')}.{fn.__qualname__}"
