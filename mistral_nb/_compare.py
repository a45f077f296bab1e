"""Compare: one message, several settings, side by side, the conversation untouched.

Each variant runs on a fork of the session (``Session.fork``): the same endpoint,
tools and conversation so far, with the variant's settings.  The forks run at once,
each through the same engine and log schema as any turn; then they are closed, and
what each would have made of the conversation is kept, so that ``keep(i)`` can make
variant ``i`` the one the session goes on with.
"""

from __future__ import annotations

import asyncio
import difflib
import html
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._errors import ExperimentError, SessionBusyError
from ._settings import validate_settings
from ._sweep_rows import turn_row
from ._turn import Turn
from ._turnlog import TurnLog

if TYPE_CHECKING:
    from ._session import Session

__all__ = ["Comparison", "compare", "word_diff", "word_diff_html", "word_diff_text"]


def _word_matcher(
    before: str, after: str
) -> tuple[list[str], list[str], difflib.SequenceMatcher[str]]:
    """The two texts' words, and their matcher."""
    a, b = before.split(), after.split()
    return a, b, difflib.SequenceMatcher(a=a, b=b, autojunk=False)


def word_diff(before: str, after: str) -> tuple[float, int]:
    """How alike two texts are, word by word: (similarity 0..1, words changed)."""
    _, _, matcher = _word_matcher(before, after)
    changed = sum(
        max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    )
    return matcher.ratio(), changed


def word_diff_text(before: str, after: str) -> str:
    """Only what changed, as ``[-removed-] {+added+}`` (wdiff's notation); "" when equal."""
    a, b, matcher = _word_matcher(before, after)
    parts: list[str] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        removed = f"[-{' '.join(a[i1:i2])}-]" if i2 > i1 else ""
        added = f"{{+{' '.join(b[j1:j2])}+}}" if j2 > j1 else ""
        parts.append(" ".join(p for p in (removed, added) if p))
    return " … ".join(parts)


def word_diff_html(before: str, after: str) -> str:
    """``after`` as HTML, its words not in ``before`` highlighted, removed ones struck."""
    a, b, matcher = _word_matcher(before, after)
    parts: list[str] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            parts.append(html.escape(" ".join(b[j1:j2])))
            continue
        if i2 > i1:
            gone = html.escape(" ".join(a[i1:i2]))
            parts.append(f"<del style='color:#b71c1c'>{gone}</del>")
        if j2 > j1:
            new = html.escape(" ".join(b[j1:j2]))
            parts.append(f"<ins style='background:#e8f5e9;text-decoration:none'>{new}</ins>")
    return " ".join(parts)


@dataclass
class Comparison:
    """Variants of one message, side by side; ``keep(i)`` continues with variant ``i``.

    Attributes:
        id: This comparison's id (the ``comparison`` column).
        text: The user's message.
        variants: Each variant's settings, as given (Mistral's names).
        turns: Each variant's turn, in the order of ``variants``.
        logs: Each variant's own :class:`TurnLog`.
    """

    id: str
    text: str
    variants: list[dict[str, Any]]
    turns: list[Turn]
    logs: list[TurnLog]
    _conversations: list[list[dict[str, Any]]] = field(repr=False)
    _session: Any = field(repr=False, default=None)
    kept: int | None = None

    def to_frame(self) -> pd.DataFrame:
        """One row per variant: its settings, reply, status, tokens, TTFB, tokens/s, cost,
        and how it differs from the first variant (``similarity``, ``changed_words``)."""
        first = self.turns[0].text if self.turns else ""
        rows = []
        for index, (variant, turn) in enumerate(zip(self.variants, self.turns, strict=True)):
            similarity, changed = word_diff(first, turn.text)
            rows.append(
                {
                    "comparison": self.id,
                    "variant": index,
                    "model": turn.settings.get("model"),
                    **variant,
                    **turn_row(turn),
                    "similarity": similarity,
                    "changed_words": changed,
                }
            )
        return pd.DataFrame(rows)

    def keep(self, index: int) -> Turn:
        """Make variant ``index`` part of the conversation, as if it had been sent there.

        The session's conversation becomes the variant's (the message and its reply), and
        the variant's turn is appended to ``session.log`` under the next turn number.
        The session's settings stay as they are.

        Raises:
            ExperimentError: no such variant, or the session is closed.
            SessionBusyError: a turn is running on the session.
        """
        if not isinstance(index, int) or not 0 <= index < len(self.turns):
            raise ExperimentError(
                f"keep({index!r}): pick a variant from 0 to {len(self.turns) - 1}"
            )
        session = self._session
        if session is None or session.closed:
            raise ExperimentError("the session this comparison came from is closed")
        if session.busy:
            raise SessionBusyError("a turn is running: keep() after it ends")
        turn = Turn.from_dict(self.turns[index].to_dict())
        turn.turn = session.log.next_turn_number()
        messages = self._conversations[index]
        before = len(session.messages)

        async def adopt() -> None:
            session._chat.set_messages(messages)
            session._turn_starts.append(before)

        session._runtime.call(adopt())
        session.log.append(turn)
        self.kept = index
        return turn

    def __repr__(self) -> str:
        shown = ", ".join(f"{i}: {t.status} {t.text[:30]!r}" for i, t in enumerate(self.turns))
        return f"<Comparison {self.id} of {len(self.turns)} variants: {shown}>"

    def _repr_html_(self) -> str:
        first = self.turns[0].text if self.turns else ""
        cells = []
        for index, (variant, turn) in enumerate(zip(self.variants, self.turns, strict=True)):
            head = ", ".join(f"{k}={v!r}" for k, v in variant.items()) or "(session settings)"
            body = html.escape(turn.text) if index == 0 else word_diff_html(first, turn.text)
            row = turn_row(turn)
            facts = [
                html.escape(str(turn.settings.get("model") or "")),
                html.escape(turn.status),
                _fmt(row["ttfb_s"], "{:.2f} s TTFB"),
                _fmt(row["tokens_per_s"], "{:.0f} tokens/s"),
                f"{row['prompt_tokens']} → {row['completion_tokens']} tokens",
                _fmt(row["cost_usd"], "${:.6f}"),
            ]
            error = (
                f"<div style='color:#c62828'>{html.escape(turn.error)}</div>" if turn.error else ""
            )
            kept = " ✔ kept" if self.kept == index else ""
            cells.append(
                "<td style='vertical-align:top;text-align:left;padding:6px;"
                "border:1px solid #ddd'>"
                f"<div style='font-weight:bold'>variant {index}{kept}: {html.escape(head)}</div>"
                f"<div style='white-space:pre-wrap'>{body}</div>{error}"
                f"<div style='font-size:smaller;color:#666'>{' · '.join(facts)}</div></td>"
            )
        return (
            f"<div class='mistral-nb-compare'><div style='color:#666'>comparison {self.id}: "
            f"{html.escape(self.text[:200])}</div>"
            f"<table style='table-layout:fixed;width:100%'><tr>{''.join(cells)}</tr></table></div>"
        )


def _fmt(value: Any, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return pattern.format(value)


async def compare(
    session: Session,
    text: str,
    variants: Sequence[Mapping[str, Any]],
    images: Iterable[Any] | None = None,
) -> Comparison:
    """Send ``text`` once per variant, each on a fork of ``session``, all at once.

    Args:
        session: The session whose conversation and endpoint the variants share.
        text: The user's message.
        variants: One settings dict per variant (``[{"model": ...}, {"temperature": 0}]``);
            what a variant leaves out is the session's.
        images: Sent with the message to every variant.

    Raises:
        ExperimentError: no variant, or one that is not a dict.
        SettingsError: a variant's setting Mistral would refuse (nothing is sent).
    """
    if isinstance(variants, Mapping) or not variants:
        raise ExperimentError("variants= is a list of settings dicts, at least one")
    checked = []
    for variant in variants:
        if not isinstance(variant, Mapping):
            raise ExperimentError(f"a variant is a dict of settings, not {variant!r}")
        checked.append(validate_settings(variant))
    images = list(images) if images is not None else None
    forks: list[Session] = []
    try:
        opened = await asyncio.gather(
            *(asyncio.to_thread(session.fork, log=TurnLog(), **variant) for variant in checked),
            return_exceptions=True,
        )
        forks = [fork for fork in opened if not isinstance(fork, BaseException)]
        for failure in opened:
            if isinstance(failure, BaseException):
                raise failure
        turns = await asyncio.gather(*(fork.send(text, images=images) for fork in forks))
        conversations = [fork.messages for fork in forks]
        logs = [fork.log for fork in forks]
    finally:
        await asyncio.gather(*(fork.aclose() for fork in forks), return_exceptions=True)
    return Comparison(
        id=uuid.uuid4().hex[:8],
        text=text,
        variants=[dict(v) for v in variants],
        turns=list(turns),
        logs=logs,
        _conversations=conversations,
        _session=session,
    )
