"""Mistral's batch input from a sweep spec: one ``{"custom_id", "body"}`` line per run.

Used by :mod:`mistral_nb.batch` (``to_jsonl``, ``submit``); ``custom_id`` is the run's
number, so results join back to the planned runs.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ._errors import ExperimentError
from ._settings import SETTINGS, validate_settings
from ._structured import to_response_format
from ._sweep_rows import plan_runs, split_prompt

__all__ = ["to_jsonl", "to_lines"]

_SPEC_KEYS = {"prompt", "grid", "settings", "repeats", "base", "schema"}


def _spec(spec: Any, prompt: Any, repeats: int | None) -> dict[str, Any]:
    """A sweep spec from a spec dict, a bare grid plus ``prompt=``, or a frame of runs."""
    if isinstance(spec, pd.DataFrame):
        frame = spec
        swept = [c for c in frame.attrs.get("swept", []) if c in frame.columns] or [
            c for c in frame.columns if c in SETTINGS
        ]
        rows = frame[swept].drop_duplicates().to_dict("records") if swept else [{}]
        clean = [{k: v for k, v in row.items() if not _missing(v)} for row in rows]
        spec = {"settings": clean, "base": frame.attrs.get("base") or {}}
        if frame.attrs.get("prompt") is not None:
            spec["prompt"] = frame.attrs["prompt"]
        if "repeat" in frame and len(frame):
            spec["repeats"] = int(frame["repeat"].max()) + 1
    if not isinstance(spec, Mapping):
        raise ExperimentError(
            "give a sweep spec ({'prompt': ..., 'grid': {...}}), a grid with prompt=..., "
            "or a DataFrame of runs (a sweep's result)"
        )
    spec = dict(spec)
    if not _SPEC_KEYS & set(spec):
        spec = {"grid": spec}  # a bare grid
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise ExperimentError(
            f"unknown key(s) {sorted(unknown)} in the batch spec; it takes {sorted(_SPEC_KEYS)}"
        )
    if prompt is not None:
        spec["prompt"] = prompt
    if repeats is not None:
        spec["repeats"] = repeats
    if spec.get("prompt") is None:
        raise ExperimentError("the batch needs a prompt: put it in the spec or pass prompt=...")
    return spec


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _body(settings: Mapping[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    system = settings.get("system_prompt")
    for name, value in settings.items():
        wire = SETTINGS[name].wire_name
        if wire is not None and value is not None:
            body[wire] = value
    body["messages"] = ([{"role": "system", "content": system}] if system else []) + messages
    return body


def to_lines(
    spec: Any, *, prompt: Any = None, repeats: int | None = None, model: str | None = None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The batch input lines (``{"custom_id", "body"}``) of a spec, and the job metadata.

    Raises:
        ExperimentError, SettingsError: the spec cannot become a batch.
    """
    spec = _spec(spec, prompt, repeats)
    runs, swept = plan_runs(spec.get("grid"), spec.get("settings"), spec.get("repeats", 1))
    prior, text = split_prompt(spec["prompt"])
    shared = validate_settings(dict(spec.get("base") or {}))
    if model is not None:
        shared.setdefault("model", model)
    if spec.get("schema") is not None:
        shared["response_format"] = to_response_format(spec["schema"])
    messages = [*prior, {"role": "user", "content": text}]
    lines = [
        {"custom_id": str(run.index), "body": _body({**shared, **run.settings}, messages)}
        for run in runs
    ]
    metadata = {
        "mistral_nb_swept": ",".join(swept),
        "mistral_nb_repeats": str(spec.get("repeats", 1)),
    }
    return lines, metadata


def to_jsonl(
    spec: Any,
    path: str | os.PathLike[str],
    *,
    prompt: Any = None,
    repeats: int | None = None,
    model: str | None = None,
) -> Path:
    """Write Mistral's batch input for a sweep spec: one ``{"custom_id", "body"}`` line per run.

    Args:
        spec: ``{"prompt": ..., "grid": {...} | "settings": [...], "repeats": n,
            "base": {...}, "schema": ...}``, a bare grid (with ``prompt=``), or a
            DataFrame of runs (a sweep's result: its swept columns are the settings).
        path: Where to write the JSONL file.
        model: Put in each body that does not name one (the job's model also applies).

    Returns:
        The path written.
    """
    lines, _ = to_lines(spec, prompt=prompt, repeats=repeats, model=model)
    path = Path(path)
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), "utf-8")
    return path
