"""Sweeps: one prompt under many settings, each run an independent conversation.

``sweep`` plans every run (the grid's combinations times ``repeats``, or a list of
settings), then hands them to at most ``concurrency`` worker sessions.  A worker is a
real :class:`Session` (pipecat pipeline and all) reused from run to run: it forgets the
conversation, takes the run's settings, sends the prompt.  Reusing a few sessions
instead of starting one per run keeps a 64-run sweep close to ``64 / concurrency``
times one run (``bench/bench_sweep.py``).

Why the workers retry themselves (``max_retries=0`` on their sessions): a 429 means
the whole key is over its rate, so every worker should slow down, not each on its
own schedule.  One :class:`_RateGate` is shared: a 429 closes it for the server's
``retry-after`` (or an exponential backoff), the run is tried again, and nobody
starts a request while it is closed.  5xx and timeouts are retried per run.

The result is a tidy DataFrame, one row per run; ``df.attrs["summary"]`` counts the
429s and the time waited; the ``log`` column holds each run's own :class:`TurnLog`.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._connection import resolve_endpoint
from ._errors import ExperimentError
from ._settings import SETTINGS, validate_settings
from ._structured import to_response_format
from ._sweep_rows import Run, distinct_answers, plan_runs, result_columns, split_prompt, turn_row
from ._tools import ToolRegistry
from ._turn import Turn
from ._turnlog import TurnLog

if TYPE_CHECKING:
    from ._session import Session

__all__ = ["RateGate", "distinct_answers", "set_conversation", "sweep"]

# Worth another try on the same run: the server was busy or broke, not the request.
_RETRYABLE_STATUS = frozenset({408, 409, 500, 502, 503, 504})
_MAX_BACKOFF_S = 60.0
_OPENING_AT_ONCE = 4


class RateGate:
    """One backoff shared by every worker: closed after a 429, for the wait it asks."""

    def __init__(self, first_backoff: float = 1.0) -> None:
        self._first = first_backoff
        self._next = first_backoff
        self._until = 0.0
        self.hits = 0
        self.waited_s = 0.0  # wall time the gate was closed (overlapping waits count once)

    def hit(self, retry_after: float | None) -> None:
        self.hits += 1
        delay = retry_after if retry_after is not None and retry_after >= 0 else self._next
        self._next = min(self._next * 2, _MAX_BACKOFF_S)
        now = time.monotonic()
        until = max(self._until, now + delay)
        self.waited_s += until - max(self._until, now)
        self._until = until

    def ok(self) -> None:
        self._next = self._first

    async def wait(self) -> None:
        while (left := self._until - time.monotonic()) > 0:
            await asyncio.sleep(left)


async def sweep(
    prompt: str | Sequence[Mapping[str, Any]],
    *,
    grid: Mapping[str, Iterable[Any]] | None = None,
    settings: Sequence[Mapping[str, Any]] | None = None,
    repeats: int = 1,
    concurrency: int = 4,
    base: Mapping[str, Any] | None = None,
    tools: Any = None,
    images: Iterable[Any] | None = None,
    schema: Any = None,
    api_key: str | None = None,
    base_url: str | None = None,
    progress: bool = True,
    stop: threading.Event | None = None,
    request_timeout: float | None = 60.0,
    retries: int = 2,
    max_rate_limit_waits: int = 20,
    first_backoff_s: float = 1.0,
) -> pd.DataFrame:
    """Run ``prompt`` under every combination of settings; one DataFrame row per run.

    Each run is an independent conversation (the ``prompt``, or the ``messages`` given,
    then the reply), at most ``concurrency`` at once.  A run that fails is a row with
    status ``error``; a 429 slows the whole sweep and the run is tried again.  Stopping
    (``stop.set()``, Ctrl+C, cancelling the task) keeps the rows that finished.

    Args:
        prompt: The user's message, or a list of messages ending with it.
        grid: Setting name -> values; every combination runs (``{"temperature": [0, 1]}``).
        settings: Or a list of settings dicts, one per variant.
        repeats: Runs per combination (for stability: see :func:`distinct_answers`).
        concurrency: Most runs in flight at once.
        base: Settings every run shares (``{"model": ..., "max_tokens": ...}``).
        tools: A :class:`ToolRegistry` the runs may call, or a list of functions.
        images: Images sent with the prompt, as ``Session.send`` takes them.
        schema: A pydantic model, JSON schema or ``"json"``: sent as ``response_format``
            and each reply parsed (``parsed_ok``, ``parsed`` columns).
        api_key, base_url: As for ``Session()`` (``MISTRAL_API_KEY`` /
            ``MISTRAL_BASE_URL``; neither: a LocalMistral for the sweep).
        progress: Show a ``tqdm.auto`` bar (a widget in a notebook, text in a terminal).
        stop: Set this event (from a button, another thread) to stop after the runs in flight.
        request_timeout: Seconds per request before a run times out.
        retries: Extra tries of a run that met a 5xx or a timeout.
        max_rate_limit_waits: 429s one run may wait out before it is an error row.
        first_backoff_s: The first wait after a 429 without ``retry-after``; doubles.

    Returns:
        A DataFrame: ``run``, ``repeat``, one column per swept setting, ``status``,
        ``reply``, ``finish_reason``, tokens, ``ttfb_s``, ``tokens_per_s``,
        ``duration_s``, ``cost_usd``, ``n_calls``, ``rate_limited``, ``attempts``,
        ``error``, ``log`` (that run's :class:`TurnLog`), and with a schema
        ``parsed_ok`` / ``parsed``.  ``df.attrs["summary"]`` holds the counts (runs,
        ok, errors, rate_limited, waited_s, interrupted, wall_s) and
        ``df.attrs["swept"]`` the swept names.

    Raises:
        ExperimentError, SettingsError: the sweep cannot run as asked (nothing is sent).
    """
    runs, swept = plan_runs(grid, settings, repeats)
    prior, text = split_prompt(prompt)
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ExperimentError(f"concurrency={concurrency!r}: pass a whole number of 1 or more")
    shared = validate_settings(dict(base or {}))
    if prior and prior[0].get("role") == "system":
        # pipecat wants the system prompt as a setting, not a message in the context.
        system = prior.pop(0).get("content")
        shared.setdefault(
            "system_prompt", validate_settings({"system_prompt": system})["system_prompt"]
        )
    if schema is not None:
        shared["response_format"] = to_response_format(schema)
    images = list(images) if images is not None else None
    if tools is not None and not isinstance(tools, ToolRegistry):
        registry = ToolRegistry()
        for function in tools:
            registry.register(function)
        tools = registry
    key, url, local = resolve_endpoint(api_key, base_url)
    started = time.monotonic()
    gate = RateGate(first_backoff_s)
    rows: dict[int, dict[str, Any]] = {}
    interrupted = False
    bar = _progress_bar(len(runs), progress)
    pending = collections.deque(runs)
    sessions: list[Session] = []
    opening = asyncio.Semaphore(_OPENING_AT_ONCE)

    def reset_values(run: Run) -> dict[str, Any]:
        # Every swept setting, also those this run leaves out, so nothing carries over.
        return {
            name: run.settings.get(name, shared.get(name, SETTINGS[name].default)) for name in swept
        }

    async def work() -> None:
        # Each worker starts work as soon as its own session is up, so the first runs go
        # out after one session's start-up, not after all of them.  A start-up mostly
        # waits (0.06 s of CPU in 0.18 s), so a few open together; sixteen at once
        # contend and take longer than a few at a time.
        async with opening:
            if not pending or (stop is not None and stop.is_set()):
                return
            session = await asyncio.to_thread(
                _open_session, key, url, shared, tools, request_timeout
            )
            sessions.append(session)
        while pending:
            if stop is not None and stop.is_set():
                return
            run = pending.popleft()
            row = await _run_once(
                session,
                run,
                prior,
                text,
                images,
                reset_values(run),
                gate,
                retries,
                max_rate_limit_waits,
                schema,
            )
            rows[run.index] = row
            bar.update(1)
            bar.set_postfix(
                errors=sum(r["status"] != "ok" for r in rows.values()),
                rate_limited=gate.hits,
                refresh=False,
            )

    workers = [asyncio.ensure_future(work()) for _ in range(min(concurrency, len(runs)))]
    try:
        await asyncio.gather(*workers)
    except BaseException as exc:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if not isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)):
            raise
        interrupted = True
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
    finally:
        bar.close()
        await asyncio.gather(*(s.aclose() for s in sessions), return_exceptions=True)
        if local is not None:
            await asyncio.to_thread(local.stop)
    interrupted = interrupted or (stop is not None and stop.is_set() and len(rows) < len(runs))
    frame = _frame(runs, swept, rows, schema, gate, interrupted, time.monotonic() - started)
    # What mnb.batch.submit(frame) needs to send the same sweep to the batch service.
    frame.attrs["prompt"] = prompt if isinstance(prompt, str) else [dict(m) for m in prompt]
    frame.attrs["base"] = dict(base or {})
    return frame


def _open_session(
    key: str,
    url: str,
    shared: dict[str, Any],
    tools: Any,
    request_timeout: float | None,
) -> Session:
    from ._session import Session

    return Session(
        api_key=key,
        base_url=url,
        settings=shared,
        tools=tools,
        log=TurnLog(),
        request_timeout=request_timeout,
        max_retries=0,  # the sweep retries, with one backoff for everyone
    )


async def _run_once(
    session: Session,
    run: Run,
    prior: list[dict[str, Any]],
    text: str,
    images: list[Any] | None,
    values: dict[str, Any],
    gate: RateGate,
    retries: int,
    max_rate_limit_waits: int,
    schema: Any,
) -> dict[str, Any]:
    limited = attempts = 0
    turn: Turn | None = None
    problem: str | None = None
    while True:
        await gate.wait()
        attempts += 1
        try:
            await asyncio.to_thread(session.reset)
            if prior:
                await set_conversation(session, prior)
            session.update_settings(**values)
            turn = await session.send(text, images=images)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed run is a row, never a lost sweep
            problem = f"{type(exc).__name__}: {exc}"
            break
        code = turn.error_status_code
        if turn.status == "error" and code == 429 and limited < max_rate_limit_waits:
            limited += 1
            gate.hit(_retry_after(turn))
            continue
        if (turn.status == "timeout" or code in _RETRYABLE_STATUS) and attempts <= retries:
            await asyncio.sleep(min(0.5 * 2 ** (attempts - 1), _MAX_BACKOFF_S))
            continue
        if turn.ok:
            gate.ok()
        break
    row: dict[str, Any] = {"run": run.index, "repeat": run.repeat, **run.settings}
    if turn is not None and problem is None:
        log = TurnLog()
        log.append(turn)
        row.update(turn_row(turn, schema))
        row["log"] = log
    else:
        row.update(status="error", reply="", error=problem, log=TurnLog())
        if schema is not None:
            row.update(parsed_ok=False, parsed=None)
    row["rate_limited"] = limited
    row["attempts"] = attempts
    return row


def _retry_after(turn: Turn) -> float | None:
    # The session may record the server's retry-after with the turn (newer engines do).
    value = getattr(turn, "retry_after_s", None)
    return float(value) if isinstance(value, (int, float)) else None


async def set_conversation(session: Session, messages: list[dict[str, Any]]) -> None:
    """Give ``session`` a conversation to continue (system messages included).

    Uses the session's pipeline directly, as ``Session.fork`` does; the turn bookkeeping
    (for ``rewind``) treats it as history before the first turn.
    """
    chat = session._chat

    async def seed() -> None:
        chat.set_messages(messages)

    await session._runtime.run(seed())


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sweep", unit="run", disable=not enabled, leave=True)


def _frame(
    runs: list[Run],
    swept: list[str],
    rows: dict[int, dict[str, Any]],
    schema: Any,
    gate: RateGate,
    interrupted: bool,
    wall_s: float,
) -> pd.DataFrame:
    columns = result_columns(swept, schema)
    frame = pd.DataFrame([rows[i] for i in sorted(rows)], columns=columns)
    for column in ("prompt_tokens", "completion_tokens", "cached_tokens"):
        frame[column] = frame[column].astype("Int64")
    statuses = frame["status"].value_counts().to_dict()
    frame.attrs["swept"] = list(swept)
    frame.attrs["summary"] = {
        "runs": len(runs),
        "done": len(frame),
        "ok": int(statuses.get("ok", 0)),
        "errors": int(len(frame) - statuses.get("ok", 0)),
        "rate_limited": gate.hits,
        "waited_s": round(gate.waited_s, 3),
        "interrupted": interrupted,
        "wall_s": round(wall_s, 3),
    }
    return frame
