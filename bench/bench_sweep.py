"""Sweep throughput: 64 combinations at concurrency 16 against the ideal 64/16 x one run.

    python bench/bench_sweep.py [--combinations 64] [--concurrency 16]
                                [--reply-tokens 200] [--token-delay 0.02]

LocalMistral runs in its own process (``mistral-nb serve``) streaming replies of 200
tokens, 20 ms per token (about 4 s a run). The baseline, measured in the same run, is
one sweep run alone (a one-combination sweep, so it pays the same set-up); the ideal
for the whole sweep is ``combinations / concurrency`` times that.  It prints the sweep's
wall time, the ideal, and the ratio (the issue asks for at most 1.3).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import KEY, free_port
from loguru import logger

import mistral_nb as mnb

logger.disable("pipecat")


def start_slow_server(reply_tokens: int, token_delay: float) -> tuple[object, str]:
    import subprocess
    import sys

    import httpx

    port = free_port()
    command = [sys.executable, "-m", "mistral_nb.cli", "serve", "--port", str(port)]
    command += ["--api-key", KEY, "--reply-tokens", str(reply_tokens)]
    command += ["--token-delay", str(token_delay), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(
                f"{base_url}/models", headers={"Authorization": f"Bearer {KEY}"}
            ).is_success:
                return process, base_url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("LocalMistral did not start within 120 s")


async def timed_sweep(base_url: str, values: list[float], concurrency: int) -> tuple[float, object]:
    start = time.perf_counter()
    frame = await mnb.sweep(
        "Tell me a story.",
        grid={"temperature": values},
        concurrency=concurrency,
        api_key=KEY,
        base_url=base_url,
        progress=False,
    )
    return time.perf_counter() - start, frame


async def main(args: argparse.Namespace) -> None:
    process, base_url = start_slow_server(args.reply_tokens, args.token_delay)
    try:
        await timed_sweep(base_url, [0.0], 1)  # warm up: imports, the tokenizer
        one, _ = await timed_sweep(base_url, [0.0], 1)
        values = [round(i / args.combinations, 4) for i in range(args.combinations)]
        wall, frame = await timed_sweep(base_url, values, args.concurrency)
    finally:
        process.terminate()
        process.wait()
    ok = int((frame["status"] == "ok").sum())
    ideal = args.combinations / args.concurrency * one
    print(
        f"one run alone:        {one:.2f} s ({args.reply_tokens} tokens, {args.token_delay * 1000:.0f} ms each)"
    )
    print(
        f"sweep of {args.combinations} at {args.concurrency}:     {wall:.2f} s, {ok}/{len(frame)} ok"
    )
    print(f"ideal {args.combinations}/{args.concurrency} x one:     {ideal:.2f} s")
    print(f"ratio to the ideal:   {wall / ideal:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--combinations", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--reply-tokens", type=int, default=200)
    parser.add_argument("--token-delay", type=float, default=0.02)
    asyncio.run(main(parser.parse_args()))
