"""Hypothesis settings shared by the fuzz tests (tests/test_fuzz_*.py)."""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

SCALE = float(os.environ.get("MISTRAL_NB_FUZZ_SCALE", "1"))


def fuzz(max_examples: int, *, deadline_s: float = 5.0) -> settings:
    """Deterministic, database-less settings: the same examples on every run and in CI.

    MISTRAL_NB_FUZZ_SCALE=50 runs fifty times as many examples, for a longer hunt.
    ``deadline_s`` bounds one example (a hang is a failure, not a stuck suite).
    """
    return settings(
        max_examples=int(max_examples * SCALE),
        database=None,
        derandomize=True,
        deadline=timedelta(seconds=deadline_s),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
