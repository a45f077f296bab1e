"""The ``mistral-nb`` command: ``demo`` (an offline conversation) and ``serve`` (LocalMistral)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import pandas as pd

__all__ = ["main"]


def get_weather(city: str, unit: str = "celsius") -> dict:
    """Current weather for a city.

    Args:
        city: City name, for example "Paris".
        unit: Temperature unit, "celsius" or "fahrenheit".
    """
    temperature = 18 if unit == "celsius" else 64
    return {"city": city, "temperature": temperature, "unit": unit, "sky": "clear"}


async def _demo(offline: bool) -> int:
    from . import Session

    api_key = base_url = None
    if offline:
        from .local import LocalMistral

        local = LocalMistral().start()
        api_key, base_url = local.api_key, local.base_url
    async with Session(api_key=api_key, base_url=base_url) as session:
        session.tool(get_weather)
        print(f"{session!r}\n")
        for text, settings in (
            ("Hello! Who are you?", None),
            ("Tell me about mistral_nb in two sentences.", {"temperature": 0.2, "max_tokens": 64}),
            ("What's the weather in Paris? Use get_weather with city=Paris", None),
        ):
            if settings:
                session.update_settings(**settings)
                print(f"-- update_settings({', '.join(f'{k}={v!r}' for k, v in settings.items())})")
            turn = await session.send(text)
            print(f"user> {text}\nmodel> {turn.text}  [{turn.status}]\n")
        with pd.option_context("display.width", 160, "display.max_columns", 12):
            columns = [
                "turn",
                "status",
                "model",
                "temperature",
                "max_tokens",
                "finish_reason",
                "prompt_tokens",
                "completion_tokens",
                "ttfb_s",
                "tokens_per_s",
                "n_calls",
            ]
            print("session.log.turns()\n", session.log.turns()[columns], "\n", sep="")
            print("session.log.tokens()\n", session.log.tokens(), "\n", sep="")
            print(
                "session.log.calls()\n",
                session.log.calls()[
                    ["turn", "name", "arguments", "result", "status", "duration_s"]
                ],
                sep="",
            )
    if offline:
        local.stop()
    return 0 if all(t.status == "ok" for t in session.log) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mistral-nb", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run an offline conversation and print the turn log")
    demo.add_argument(
        "--online",
        action="store_true",
        help="use MISTRAL_API_KEY / MISTRAL_BASE_URL instead of the offline endpoint",
    )
    serve = commands.add_parser("serve", help="run the offline Mistral endpoint (LocalMistral)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", default=None, help="require this bearer token (default: any)")
    serve.add_argument("--token-delay", type=float, default=0.0, help="seconds between tokens")
    serve.add_argument(
        "--reply-tokens", type=int, default=None, help="make every text reply this many tokens"
    )
    args = parser.parse_args(argv)

    if args.command == "demo":
        return asyncio.run(_demo(offline=not args.online))
    from .local import serve as serve_forever

    serve_forever(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        token_delay=args.token_delay,
        reply_tokens=args.reply_tokens,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
