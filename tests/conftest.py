"""Shared fixtures: a clean environment per test, a LocalMistral on loopback, a Session on it."""

from __future__ import annotations

import pytest
from replay import replay_server  # noqa: F401  (the replay server fixture, for every test)

import mistral_nb as mnb

TEST_KEY = "test-key-0123456789"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    # No real key, no user settings: every test talks to loopback only.
    for name in ("MISTRAL_API_KEY", "MISTRAL_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def local():
    with mnb.LocalMistral(api_key=TEST_KEY) as server:
        yield server


@pytest.fixture
async def session(local):
    async with mnb.Session(api_key=TEST_KEY, base_url=local.base_url) as session:
        yield session
