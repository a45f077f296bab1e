"""Streaming speed: a 2,000-token reply from LocalMistral, three ways, in one run.

    python bench/bench_stream.py [--turns 10] [--reply-tokens 2000]

LocalMistral runs in its own process (``mistral-nb serve``) with no token delay, so
what is measured is the client side. Baselines, measured in the same run:
  raw      openai.AsyncOpenAI streaming the reply (what pipecat's client does underneath)
  pipecat  a bare pipecat 1.14 pipeline: aggregators + MistralLLMService + an observer
  session  mistral_nb.Session.send (the pipeline above plus the turn log)
It prints turns/s and tokens/s for each and the ratios session/raw and session/pipecat.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from _common import KEY, start_bare_pipeline, start_server
from loguru import logger

# pipecat logs each request at DEBUG; that is I/O neither way should pay for.
logger.disable("pipecat")


# Time to first token, per way (seconds, one entry per turn).
TTFT: dict[str, list[float]] = {"raw": [], "pipecat": [], "session": []}


async def raw_openai(base_url: str, turns: int) -> list[tuple[float, int]]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key=KEY, base_url=base_url)
    runs = []
    for n in range(turns):
        start = time.perf_counter()
        stream = await client.chat.completions.create(
            model="mistral-small-latest",
            messages=[{"role": "user", "content": f"Tell me a long story, part {n}."}],
            stream=True,
        )
        chunks = 0
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                if not chunks:
                    TTFT["raw"].append(time.perf_counter() - start)
                chunks += 1
        runs.append((time.perf_counter() - start, chunks))
    await client.close()
    return runs


async def bare_pipecat(base_url: str, turns: int) -> list[tuple[float, int]]:
    from pipecat.frames.frames import LLMFullResponseEndFrame, LLMMessagesAppendFrame, LLMTextFrame
    from pipecat.observers.base_observer import BaseObserver
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.services.mistral.llm import MistralLLMService

    llm = MistralLLMService(api_key=KEY, base_url=base_url)

    class Tap(BaseObserver):
        def __init__(self) -> None:
            super().__init__()
            self.chunks = 0
            self.done = asyncio.Event()

        async def on_push_frame(self, data) -> None:
            if data.source is llm and isinstance(data.frame, LLMTextFrame):
                if not self.chunks:
                    TTFT["pipecat"].append(time.perf_counter() - self.start)
                self.chunks += 1
            elif data.source is llm and isinstance(data.frame, LLMFullResponseEndFrame):
                self.done.set()

    tap = Tap()
    tap.start = time.perf_counter()
    context = LLMContext()
    worker, task = await start_bare_pipeline(llm, context, tap)
    runs = []
    for n in range(turns):
        tap.chunks, start = 0, time.perf_counter()
        tap.start = start
        tap.done.clear()
        await worker.queue_frame(
            LLMMessagesAppendFrame(
                messages=[{"role": "user", "content": f"Tell me a long story, part {n}."}],
                run_llm=True,
            )
        )
        await tap.done.wait()
        runs.append((time.perf_counter() - start, tap.chunks))
        await worker.flush_pipeline()
        # Keep the context at one exchange, like the other two ways.
        context.set_messages([])
    await worker.stop_when_done()
    await task
    return runs


async def session(base_url: str, turns: int) -> list[tuple[float, int]]:
    import mistral_nb as mnb

    runs = []
    first: list[float] = []

    def on_event(event: mnb.SessionEvent) -> None:
        # Runs on the session's own thread; perf_counter is the same clock everywhere.
        if event.kind == "token" and len(first) == len(TTFT["session"]):
            first.append(time.perf_counter())

    async with mnb.Session(api_key=KEY, base_url=base_url) as s:
        s.subscribe(on_event)
        for n in range(turns):
            start = time.perf_counter()
            turn = await s.send(f"Tell me a long story, part {n}.")
            TTFT["session"].append(first[-1] - start)
            runs.append((time.perf_counter() - start, len(turn.token_text)))
            s.reset()  # one exchange per request, like the baselines
    return runs


def report(name: str, runs: list[tuple[float, int]]) -> tuple[float, float]:
    seconds = statistics.median(r[0] for r in runs)
    tokens = statistics.median(r[1] for r in runs)
    print(
        f"{name:8s} {1 / seconds:7.2f} turns/s  {tokens / seconds:9.0f} tokens/s  "
        f"({tokens:.0f} chunks, median of {len(runs)})"
    )
    return 1 / seconds, tokens / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--reply-tokens", type=int, default=2000)
    args = parser.parse_args()
    process, base_url = start_server(args.reply_tokens)
    try:
        asyncio.run(raw_openai(base_url, 2))  # warm the server's tokenizer
        results = {}
        for name, way in (("raw", raw_openai), ("pipecat", bare_pipecat), ("session", session)):
            results[name] = report(name, asyncio.run(way(base_url, args.turns)))
        turns_s, tokens_s = results["session"]
        for base in ("raw", "pipecat"):
            print(
                f"session/{base}: {turns_s / results[base][0]:.2f}x turns/s, "
                f"{tokens_s / results[base][1]:.2f}x tokens/s"
            )
        ttft = {name: statistics.median(values) * 1000 for name, values in TTFT.items()}
        print(
            "time to first token (median ms): "
            + ", ".join(f"{name} {value:.1f}" for name, value in ttft.items())
            + f"; session - raw = {ttft['session'] - ttft['raw']:+.1f} ms (target <= +5 ms)"
        )
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    main()
