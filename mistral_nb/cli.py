"""The ``mistral-nb`` command: ``demo`` (an offline conversation) and ``serve`` (LocalMistral).

Bad arguments, an unreadable key file or a port already in use end the command with one
line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main"]

_EXIT_USAGE = 2


def get_weather(city: str, unit: str = "celsius") -> dict:
    """Current weather for a city.

    Args:
        city: City name, for example "Paris".
        unit: Temperature unit, "celsius" or "fahrenheit".
    """
    temperature = 18 if unit == "celsius" else 64
    return {"city": city, "temperature": temperature, "unit": unit, "sky": "clear"}


async def _demo(offline: bool) -> int:
    import pandas as pd

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


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage is in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(_EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
        return value

    parse.__name__ = kind.__name__
    return parse


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535)")
    return port


def _version() -> str:
    try:
        return metadata.version("mistral_nb")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


def _parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command's parser, and the ``serve`` subcommand's (which reports its errors)."""
    parser = _Parser(prog="mistral-nb", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"mistral-nb {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = commands.add_parser("demo", help="run an offline conversation and print the turn log")
    demo.add_argument(
        "--online",
        action="store_true",
        help="use MISTRAL_API_KEY / MISTRAL_BASE_URL instead of the offline endpoint",
    )
    serve = commands.add_parser(
        "serve",
        help="run the offline Mistral endpoint (LocalMistral)",
        description="Serve LocalMistral, the offline Mistral-compatible endpoint, until "
        "Ctrl-C. One line per request goes to stderr: method, path, status, model, prompt "
        "and completion tokens, milliseconds. The key to require comes from --api-key-file, "
        "else --api-key, else MISTRAL_API_KEY; with none, any non-empty bearer token works.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port; 0 picks a free one (8000)")
    serve.add_argument(
        "--api-key-file",
        metavar="PATH",
        type=Path,
        help="require the bearer token in this file (surrounding whitespace ignored)",
    )
    serve.add_argument(
        "--api-key",
        metavar="KEY",
        help="require this bearer token; note that other users see it in `ps`: prefer "
        "--api-key-file or MISTRAL_API_KEY",
    )
    serve.add_argument(
        "--token-delay",
        type=_positive(float),
        default=0.0,
        metavar="SECONDS",
        help="pause between streamed tokens (0)",
    )
    serve.add_argument(
        "--first-token-delay",
        type=_positive(float),
        default=0.0,
        metavar="SECONDS",
        help="pause before the first byte of a completion (0)",
    )
    serve.add_argument(
        "--reply-tokens",
        type=_positive(int),
        default=None,
        metavar="N",
        help="make every deterministic text reply exactly N tokens",
    )
    serve.add_argument(
        "--era",
        choices=("2026", "2024"),
        default="2026",
        help="wire format: Mistral's current shapes, or 2024's (null logprobs/usage/role, "
        "tool calls without index or type) (2026)",
    )
    serve.add_argument(
        "--errors-422",
        choices=("plain", "wrapped", "encoded"),
        default="plain",
        help="422 bodies: bare {detail: [...]}, wrapped in the error envelope, or JSON "
        "inside message (plain)",
    )
    serve.add_argument(
        "--reasoning-transition",
        choices=("mixed", "direct", "empty", "separate"),
        default=None,
        help="how reasoning streams switch to the answer (the model's recorded one)",
    )
    serve.add_argument(
        "--allow-user-after-tool",
        action="store_true",
        help="accept a user message right after a tool message",
    )
    serve.add_argument(
        "--history",
        type=_positive(int),
        default=1000,
        metavar="N",
        help="keep the latest N request bodies in memory (1000)",
    )
    serve.add_argument(
        "--max-body-mb",
        type=_positive(float),
        default=128.0,
        metavar="MB",
        help="answer 413 to larger request bodies (128)",
    )
    serve.add_argument(
        "--body-timeout",
        type=_positive(float),
        default=60.0,
        metavar="SECONDS",
        help="close a connection whose request body takes longer (60)",
    )
    serve.add_argument(
        "--idle-timeout",
        type=_positive(float),
        default=75.0,
        metavar="SECONDS",
        help="close a connection idle this long, before or between requests (75)",
    )
    serve.add_argument("--quiet", action="store_true", help="do not log a line per request")
    return parser, serve


def _api_key(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str | None:
    if args.api_key_file is not None:
        if args.api_key is not None:
            parser.error("give --api-key-file or --api-key, not both")
        try:
            key = args.api_key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            parser.error(f"cannot read the key file {str(args.api_key_file)!r}: {reason}")
        if not key:
            parser.error(f"the key file {str(args.api_key_file)!r} is empty")
        return key
    key = args.api_key if args.api_key is not None else os.environ.get("MISTRAL_API_KEY")
    if key is not None and not key.strip():
        parser.error("the API key is empty; give a non-empty key or none")
    return None if key is None else key.strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser, serve_parser = _parsers()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return asyncio.run(_demo(offline=not args.online))
    key = _api_key(args, serve_parser)
    for name in ("body_timeout", "idle_timeout", "max_body_mb"):
        if getattr(args, name) == 0:
            serve_parser.error(f"--{name.replace('_', '-')} must be greater than 0")
    from ._errors import LocalMistralError
    from .local import serve as serve_forever

    try:
        serve_forever(
            host=args.host,
            port=args.port,
            quiet=args.quiet,
            api_key=key,
            token_delay=args.token_delay,
            first_token_delay=args.first_token_delay,
            reply_tokens=args.reply_tokens,
            era=args.era,
            errors_422=args.errors_422,
            reasoning_transition=args.reasoning_transition,
            allow_user_after_tool=args.allow_user_after_tool,
            history=args.history or None,
            max_body_bytes=int(args.max_body_mb * 1024 * 1024),
            body_timeout=args.body_timeout,
            idle_timeout=args.idle_timeout,
        )
    except LocalMistralError as exc:
        print(f"mistral-nb serve: error: {exc}", file=sys.stderr, flush=True)
        return _EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
