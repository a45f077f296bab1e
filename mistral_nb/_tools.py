"""ToolRegistry: Python functions the model may call, with validated, time-limited calls.

A registry turns functions into tools (:mod:`mistral_nb._schema`: signature and
docstring to JSON Schema), hands pipecat the enabled ones, and runs the model's calls
(:mod:`mistral_nb._tool_calls`; results encoded by :mod:`mistral_nb._tool_results`)::

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

import html
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._errors import ToolError
from ._schema import FunctionSpec, describe_function
from ._tool_calls import PendingCall, ToolOutcome, ToolStatus

if TYPE_CHECKING:
    import pandas

__all__ = ["DEFAULT_TIMEOUT", "Tool", "ToolOutcome", "ToolRegistry", "ToolStatus"]

logger = logging.getLogger("mistral_nb.tools")

#: Seconds a tool may run before its call ends with status "timeout".
DEFAULT_TIMEOUT = 30.0

F = TypeVar("F", bound=Callable[..., Any])


class Tool:
    """A registered function, as the model sees it. Created by :meth:`ToolRegistry.register`."""

    __slots__ = ("_enabled", "_spec", "_timeout", "fn")

    def __init__(self, fn: Callable[..., Any], spec: FunctionSpec, timeout: float | None) -> None:
        self.fn = fn
        self._spec = spec
        self._timeout = _check_timeout(timeout, allow_none=True)
        self._enabled = True

    @property
    def timeout(self) -> float | None:
        """Seconds allowed per call; None means the registry's default. Settable."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._timeout = _check_timeout(value, allow_none=True)

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

    def to_dict(self) -> dict[str, Any]:
        """The tool as Mistral's request lists it: ``{"type": "function", "function": ...}``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

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
        timeout = _check_timeout(timeout, allow_none=True)  # before the slower checks
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

    def to_list(self) -> list[dict[str, Any]]:
        """The enabled tools as the request's ``tools`` list."""
        return [t.to_dict() for t in self._tools.values() if t._enabled]

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
        call = PendingCall(name, arguments)
        tool = self._tools.get(name) if isinstance(name, str) else None
        if tool is None or not tool._enabled:
            available = ", ".join(self.enabled_names) or "none"
            what = f"no tool named {name!r}" if tool is None else f"the tool {name!r} is disabled"
            return call.reject(f"{what}; available tools: {available}")
        timeout = tool.timeout if tool.timeout is not None else self._default_timeout
        return await call.run(tool._spec, tool.fn, timeout)

    def reject(self, name: str, arguments: Any, reason: str) -> ToolOutcome:
        """An outcome for a call refused without running the tool (e.g. too many rounds).

        Args:
            name: The tool the model asked for.
            arguments: Its arguments, as received.
            reason: Why, addressed to the model; becomes ``error`` and the result.
        """
        return PendingCall(name, arguments).reject(reason)

    # -- display ---------------------------------------------------------------

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per tool: name, enabled, description, parameters."""
        import pandas

        rows = [
            {
                "name": t.name,
                "enabled": t.enabled,
                "description": t.description,
                "parameters": t.signature,
            }
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


def _check_timeout(value: Any, *, allow_none: bool) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        default = " (or None for the registry's default)" if allow_none else ""
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
