"""What the benchmarks share: LocalMistral in its own process, and a bare pipecat pipeline."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from typing import Any

import httpx

KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(reply_tokens: int) -> tuple[subprocess.Popen, str]:
    """``mistral-nb serve`` in its own process, so only the client side is measured."""
    port = free_port()
    command = [sys.executable, "-m", "mistral_nb.cli", "serve", "--port", str(port)]
    command += ["--api-key", KEY, "--reply-tokens", str(reply_tokens)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            headers = {"Authorization": f"Bearer {KEY}"}
            if httpx.get(f"{base_url}/models", headers=headers).is_success:
                return process, base_url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("LocalMistral did not start within 30 s")


async def start_bare_pipeline(llm: Any, context: Any, observer: Any) -> tuple[Any, asyncio.Task]:
    """pipecat 1.14's own chat shape (no mistral_nb): aggregators around ``llm``, running."""
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
    from pipecat.workers.runner import WorkerRunner

    pair = LLMContextAggregatorPair(context)
    worker = PipelineWorker(
        Pipeline([pair.user(), llm, pair.assistant()]),
        params=PipelineParams(enable_metrics=True, enable_usage_metrics=True),
        observers=[observer],
        idle_timeout_secs=None,
        enable_rtvi=False,
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    return worker, asyncio.create_task(runner.run())
