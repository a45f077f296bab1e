"""Memory over a long session: 200 turns with tools and images, Session vs bare pipecat.

    python bench/bench_memory.py [--turns 200] [--reply-tokens 20] [--reset-context]
                                 [--no-tracemalloc]

LocalMistral runs in its own process (``mistral-nb serve``), so its request history is not
counted. Each way runs the same turns (a tool call every 4th turn, a 40x30 image every
30th: Mistral takes at most 8 images a request) in a fresh Python process of its own, so
peaks do not mix:
  pipecat  a bare pipecat 1.14 pipeline: aggregators + MistralLLMService + the same function
           registered by hand + an observer that waits for the reply (the baseline)
  session  mistral_nb.Session.send (the pipeline above plus the turn log)
For each it prints RSS after setup, at the end and at its peak (VmHWM), tracemalloc's peak
and what it still holds at the end (allocations made during the turns), the size of the
conversation context and of the turn log; then the session/pipecat ratios and the
session's extra memory per turn, with and without its log.
``--reset-context`` empties the context before every turn, leaving only the overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

from _common import KEY, start_bare_pipeline, start_server

WAYS = ("pipecat", "session")
WARM_UP = 3  # a tool turn, a plain one, an image one: lazy imports and pools are done


# -- the turns, the same for both ways -------------------------------------------------------------


def kind_of(number: int) -> str:
    if number % 30 == 3:
        return "image"
    if number % 4 == 1:
        return "tool"
    return "plain"


def message(number: int) -> str:
    if kind_of(number) == "tool":
        return f"Turn {number}: please use add_numbers with a={number} b=1000."
    return f"Turn {number}: tell me something short."


def image(number: int) -> Any:
    from PIL import Image

    return Image.new("RGB", (40, 30), ("red", "green", "blue")[number % 3])


def add_numbers(a: int, b: int) -> dict:
    """Add two numbers."""
    return {"sum": a + b}


# -- measuring ---------------------------------------------------------------------------------------


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def deep_size(root: Any) -> int:
    """Bytes held by ``root`` and what it reaches (containers and mistral_nb objects)."""
    seen: set[int] = set()
    total = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (type, ModuleType, FunctionType)):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif type(obj).__module__.startswith("mistral_nb") and hasattr(obj, "__dict__"):
            stack.append(obj.__dict__)
    return total


class Meter:
    """RSS and tracemalloc around the turns of one way."""

    def __init__(self, trace: bool) -> None:
        self.trace = trace
        self.figures: dict[str, Any] = {}

    def start(self) -> None:
        gc.collect()
        self.figures["rss_setup"] = rss()
        if self.trace:
            tracemalloc.start()
        self._t0 = time.perf_counter()

    def stop(self, **extra: Any) -> dict[str, Any]:
        self.figures["seconds"] = time.perf_counter() - self._t0
        gc.collect()
        if self.trace:
            held, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            self.figures.update(traced_end=held, traced_peak=peak)
        self.figures.update(rss_end=rss(), rss_peak=peak_rss(), **extra)
        return self.figures


# -- the two ways --------------------------------------------------------------------------------------


async def run_pipecat(base_url: str, turns: int, reset: bool, meter: Meter) -> dict[str, Any]:
    from pipecat.adapters.schemas.function_schema import FunctionSchema
    from pipecat.adapters.schemas.tools_schema import ToolsSchema
    from pipecat.frames.frames import (
        FunctionCallsStartedFrame,
        LLMFullResponseEndFrame,
        LLMMessagesAppendFrame,
    )
    from pipecat.observers.base_observer import BaseObserver
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.frame_processor import FrameDirection
    from pipecat.services.mistral.llm import MistralLLMService

    llm = MistralLLMService(api_key=KEY, base_url=base_url)

    async def call_add(params: Any) -> None:
        await params.result_callback(add_numbers(**params.arguments))

    llm.register_function("add_numbers", call_add)
    tools = ToolsSchema(
        standard_tools=[
            FunctionSchema(
                name="add_numbers",
                description="Add two numbers.",
                properties={"a": {"type": "integer"}, "b": {"type": "integer"}},
                required=["a", "b"],
            )
        ]
    )

    class ReplyWaiter(BaseObserver):
        """A turn is over when a completion ends without having called a function."""

        def __init__(self) -> None:
            super().__init__()
            self.called = False
            self.done = asyncio.Event()

        async def on_push_frame(self, data: Any) -> None:
            if data.source is not llm or data.direction != FrameDirection.DOWNSTREAM:
                return
            if isinstance(data.frame, FunctionCallsStartedFrame):
                self.called = True
            elif isinstance(data.frame, LLMFullResponseEndFrame):
                if self.called:
                    self.called = False
                else:
                    self.done.set()

    waiter = ReplyWaiter()
    context = LLMContext(tools=tools)
    worker, task = await start_bare_pipeline(llm, context, waiter)
    for number in range(1, turns + 1):
        if number == WARM_UP + 1:
            meter.start()
        if reset:
            context.set_messages([])
        content: Any = message(number)
        if kind_of(number) == "image":
            buffer = io.BytesIO()
            image(number).save(buffer, "JPEG", quality=85)
            url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
            content = [
                {"type": "text", "text": content},
                {"type": "image_url", "image_url": {"url": url}},
            ]
        waiter.done.clear()
        await worker.queue_frame(
            LLMMessagesAppendFrame(messages=[{"role": "user", "content": content}], run_llm=True)
        )
        await asyncio.wait_for(waiter.done.wait(), timeout=60)
        await worker.flush_pipeline()
    figures = meter.stop()
    figures.update(context=deep_size(context.get_messages()), log=0, journal=0)
    await worker.stop_when_done()
    await task
    return figures


async def run_session(base_url: str, turns: int, reset: bool, meter: Meter) -> dict[str, Any]:
    import mistral_nb as mnb

    journal_path = Path(tempfile.mkdtemp()) / "journal.jsonl"
    async with mnb.Session(api_key=KEY, base_url=base_url, log=journal_path) as session:
        session.tool(add_numbers)
        for number in range(1, turns + 1):
            if number == WARM_UP + 1:
                meter.start()
            if reset:
                session.reset()
            images = [image(number)] if kind_of(number) == "image" else None
            turn = await session.send(message(number), images=images)
            if not turn.ok:
                raise SystemExit(f"turn {number} failed: {turn!r}")
        figures = meter.stop()
        measured = list(session.log)[WARM_UP:]
        figures.update(
            context=deep_size(session._context.get_messages()),
            log=deep_size(measured),
            # The real journal file (all turns: the warm-up ones are a few lines).
            journal=journal_path.stat().st_size,
            calls=sum(len(t.call_records) for t in session.log),
            chunks=sum(len(t.token_text) for t in session.log),
            requests=sum(len(t.requests) for t in session.log),
        )
    return figures


# -- the parent: a server, one child per way, the table ---------------------------------------------


def run_child(way: str, base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", way, "--base-url", base_url]
    command += ["--turns", str(args.turns)]
    command += ["--reset-context"] * args.reset_context + ["--no-tracemalloc"] * args.no_tracemalloc
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise SystemExit(f"{way} failed:\n{out.stdout}\n{out.stderr[-3000:]}")


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:8.1f}"


def report(results: dict[str, dict[str, Any]], total: int) -> None:
    turns = total - WARM_UP
    print(
        f"{'way':8s} {'s':>6s} {'RSS setup':>9s} {'RSS end':>8s} {'RSS peak':>8s} "
        f"{'traced peak':>11s} {'traced end':>10s} {'context':>8s} {'log':>8s} {'journal':>8s}  MiB"
    )
    for way, r in results.items():
        print(
            f"{way:8s} {r['seconds']:6.1f} {mib(r['rss_setup']):>9s} {mib(r['rss_end'])} "
            f"{mib(r['rss_peak'])} {mib(r.get('traced_peak')):>11s} "
            f"{mib(r.get('traced_end')):>10s} {mib(r['context'])} {mib(r['log'])} "
            f"{mib(r['journal'])}"
        )
    base, ours = results["pipecat"], results["session"]
    grown = {way: r["rss_end"] - r["rss_setup"] for way, r in results.items()}
    print(
        f"measured: turns {WARM_UP + 1}..{total}; 'log' is those turns' own, 'journal' the file; "
        f"the session logged {ours['requests']} requests, {ours['calls']} tool calls and "
        f"{ours['chunks']} streamed chunks over all {total} turns"
    )
    print(
        f"session/pipecat: RSS peak {ours['rss_peak'] / base['rss_peak']:.2f}x, "
        f"RSS growth {grown['session'] / max(grown['pipecat'], 1):.2f}x"
        + (
            f", traced peak {ours['traced_peak'] / base['traced_peak']:.2f}x, "
            f"traced end {ours['traced_end'] / base['traced_end']:.2f}x"
            if "traced_end" in ours
            else ""
        )
    )
    if "traced_end" in ours:
        extra = ours["traced_end"] - base["traced_end"]
        print(
            f"session's extra memory: {extra / turns / 1024:.1f} KiB/turn, of which its log "
            f"{ours['log'] / turns / 1024:.1f} KiB/turn; without the log "
            f"{(extra - ours['log']) / turns / 1024:.1f} KiB/turn"
        )
    rss_extra = grown["session"] - grown["pipecat"]
    print(
        f"session's extra RSS growth: {rss_extra / turns / 1024:.1f} KiB/turn "
        f"(log {ours['log'] / turns / 1024:.1f} KiB/turn)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200, help=f"more than {WARM_UP}")
    parser.add_argument("--reply-tokens", type=int, default=20)
    parser.add_argument("--reset-context", action="store_true", help="empty it every turn")
    parser.add_argument("--no-tracemalloc", action="store_true", help="RSS only (faster)")
    parser.add_argument("--child", choices=WAYS, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        run = {"pipecat": run_pipecat, "session": run_session}[args.child]
        meter = Meter(trace=not args.no_tracemalloc)
        figures = asyncio.run(run(args.base_url, args.turns, args.reset_context, meter))
        print("RESULT " + json.dumps(figures), flush=True)
        return

    process, base_url = start_server(args.reply_tokens)
    try:
        mode = "context reset every turn" if args.reset_context else "growing context"
        print(
            f"{args.turns} turns, {mode}, replies of {args.reply_tokens} tokens, "
            f"tracemalloc {'off' if args.no_tracemalloc else 'on'}"
        )
        results = {way: run_child(way, base_url, args) for way in WAYS}
        report(results, args.turns)
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    main()
