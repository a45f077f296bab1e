"""Mistral's prices per model, and the cost of a request.

The prices are data, not code: ``mistral_nb/data/prices.json`` holds Mistral's published
USD prices per million tokens for every current and deprecated chat model, their aliases,
and the date and source of the figures. :func:`price_for` resolves an id or alias to a
:class:`Price`; :func:`cost_usd` prices one request the way Mistral bills it:

- cached prompt tokens (``usage.prompt_tokens_details.cached_tokens``) at the cached-input
  price: Mistral's published figure, else 10% of the input price (Mistral's rule);
- the rest of the prompt (text, images and documents alike) at the input price;
- completion tokens at the output price. Mistral's ``completion_tokens`` already counts
  the reasoning (thinking) tokens, which are billed as output: do not add them again;
- the batch API at 50% of all of it.

A model missing from the table costs ``float("nan")``, never a guess: a fine-tuned model,
a retired id, an alias Mistral's own data gives two meanings.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

__all__ = [
    "PRICES_AS_OF",
    "PRICES_SOURCE",
    "Price",
    "cost_usd",
    "price_for",
    "price_table",
    "usage_cost_usd",
]

_TABLE = resources.files("mistral_nb") / "data" / "prices.json"

Status = Literal["current", "preview", "deprecated"]


@dataclass(frozen=True)
class Price:
    """What Mistral charges for one chat model, in USD per million tokens.

    Attributes:
        model: The model's pinned id (``mistral-small-2603``), even when an alias was asked.
        name: Mistral's display name (``Mistral Small 4``).
        status: ``current``, ``preview`` (priced as current) or ``deprecated``.
        input: Prompt tokens, per million.
        cached_input: Cached prompt tokens, per million.
        output: Completion tokens (reasoning included), per million.
        cached_input_published: False when ``cached_input`` is our 10% computation.
        retired_on: The retirement date Mistral gives (ISO), if any; it may be past.
        replacement: The model Mistral names as the replacement, if any.
        as_of: The date of the prices.
        source: Where the prices come from.
    """

    model: str
    name: str
    status: Status
    input: float
    cached_input: float
    output: float
    cached_input_published: bool
    retired_on: str | None
    replacement: str | None
    as_of: str
    source: str = field(repr=False)


@dataclass(frozen=True)
class _Table:
    by_name: dict[str, Price]  # every id and alias -> its price
    batch_factor: float
    as_of: str
    source: str


@cache
def _table() -> _Table:
    raw = json.loads(_TABLE.read_text(encoding="utf-8"))
    factor = float(raw["cached_input_factor"])
    by_name: dict[str, Price] = {}
    for row in raw["models"]:
        published = row["cached_input"] is not None
        price = Price(
            model=row["id"],
            name=row["name"],
            status=row["status"],
            input=float(row["input"]),
            cached_input=float(row["cached_input"]) if published else row["input"] * factor,
            output=float(row["output"]),
            cached_input_published=published,
            retired_on=row.get("retired_on"),
            replacement=row.get("replacement"),
            as_of=raw["as_of"],
            source=raw["source"],
        )
        for name in (row["id"], *row["aliases"]):
            # Two rows claiming one name would make the price a guess: refuse the table.
            if name in by_name:
                raise RuntimeError(f"prices.json names {name!r} twice")
            by_name[name] = price
    # An alias Mistral's data gives to two models is listed as ambiguous, never priced.
    clash = set(raw["ambiguous_aliases"]) & set(by_name)
    if clash:
        raise RuntimeError(f"prices.json prices the ambiguous aliases {sorted(clash)}")
    return _Table(
        by_name=by_name,
        batch_factor=float(raw["batch_factor"]),
        as_of=raw["as_of"],
        source=raw["source"],
    )


PRICES_AS_OF: str = _table().as_of
"""The date of the prices in the table (ISO)."""

PRICES_SOURCE: str = _table().source
"""Where the prices in the table come from."""


def price_for(model: str) -> Price | None:
    """The price of ``model``, an id or an alias, or None when the table has none.

    Args:
        model: A model id as sent in the request (``mistral-small-latest``) or as the
            response names it.

    Returns:
        The :class:`Price` (whose ``model`` is the pinned id), or None for a model the
        table does not price: unknown, fine-tuned, retired, or an ambiguous alias.
    """
    if not isinstance(model, str):
        return None
    return _table().by_name.get(model.strip())


def cost_usd(
    model: str,
    prompt_tokens: Any,
    completion_tokens: Any,
    cached_tokens: Any = 0,
    *,
    batch: bool = False,
) -> float:
    """What one request costs at Mistral's list prices, in USD.

    A total function, fit for a log column: it never raises. Anything it cannot price
    honestly is NaN: an unknown model, a missing (None or NaN) prompt or completion
    count, a negative or fractional count, more cached tokens than prompt tokens.
    Integral floats are accepted, as a DataFrame column with gaps holds them.

    Args:
        model: The model id or alias.
        prompt_tokens: ``usage.prompt_tokens``, cached ones included.
        completion_tokens: ``usage.completion_tokens``, reasoning included.
        cached_tokens: ``usage.prompt_tokens_details.cached_tokens``; None counts as 0
            (Mistral leaves the field out when nothing was cached).
        batch: Priced as a batch-API request (50% off).

    Returns:
        The cost in USD, or ``float("nan")``.
    """
    price = price_for(model)
    prompt = _count(prompt_tokens)
    completion = _count(completion_tokens)
    cached = 0 if cached_tokens is None else _count(cached_tokens)
    if price is None or prompt is None or completion is None or cached is None:
        return math.nan
    if cached > prompt:
        return math.nan
    micro_usd = (
        (prompt - cached) * price.input + cached * price.cached_input + completion * price.output
    )
    cost = micro_usd / 1_000_000
    return cost * _table().batch_factor if batch else cost


def usage_cost_usd(model: str, usage: Any, *, batch: bool = False) -> float:
    """What one request costs, from its ``usage`` as Mistral or pipecat reports it.

    Reads the prompt and completion counts and the cached count from whichever form is
    given: Mistral's body (``prompt_tokens_details.cached_tokens``, or
    ``num_cached_tokens`` as the API sent it in February 2026) or pipecat's
    ``LLMTokenUsage`` (``cache_read_input_tokens``; Mistral's prompt count is gross of
    the cache, so nothing is added to it), as a mapping or an object. Never raises.

    Args:
        model: The model id or alias.
        usage: The usage mapping or object; None gives NaN.
        batch: Priced as a batch-API request (50% off).

    Returns:
        The cost in USD, or ``float("nan")``; see :func:`cost_usd`.
    """
    if usage is None:
        return math.nan
    details = _field(usage, "prompt_tokens_details")
    cached = _field(details, "cached_tokens") if details is not None else None
    for name in ("num_cached_tokens", "cache_read_input_tokens"):
        if cached is None:
            cached = _field(usage, name)
    return cost_usd(
        model,
        _field(usage, "prompt_tokens"),
        _field(usage, "completion_tokens"),
        cached,
        batch=batch,
    )


def _field(container: Any, name: str) -> Any:
    if isinstance(container, Mapping):
        return container.get(name)
    return getattr(container, name, None)


def price_table() -> Any:
    """Every priced id and alias as a pandas DataFrame, one row per name.

    Columns: ``model`` (as asked), ``id`` (the pinned id), ``name``, ``status``,
    ``input``, ``cached_input``, ``output`` (USD per million tokens),
    ``cached_input_published``, ``retired_on``, ``replacement``.
    """
    import pandas as pd  # deferred: only this view needs pandas

    rows = [
        {
            "model": name,
            "id": p.model,
            "name": p.name,
            "status": p.status,
            "input": p.input,
            "cached_input": p.cached_input,
            "output": p.output,
            "cached_input_published": p.cached_input_published,
            "retired_on": p.retired_on,
            "replacement": p.replacement,
        }
        for name, p in _table().by_name.items()
    ]
    frame = pd.DataFrame(rows)
    frame.attrs["as_of"] = PRICES_AS_OF
    frame.attrs["source"] = PRICES_SOURCE
    return frame


def _count(value: Any) -> int | None:
    """A token count as an int, or None when it is missing or not a count."""
    if type(value) is int:  # the common case, before the slower ABC checks
        return value if value >= 0 else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif isinstance(value, numbers.Real):
        as_float = float(value)
        if not math.isfinite(as_float) or not as_float.is_integer():
            return None
        number = int(as_float)
    else:
        return None
    return number if number >= 0 else None
