"""Fixtures for the real-browser tests: Chromium driven by Playwright, JupyterLab, Voilà.

The browser is Debian's ``chromium`` (Playwright's own browser download cannot work on
these machines), found at ``MISTRAL_NB_CHROMIUM`` or on PATH.  Without it, or without
the ``playwright`` package, the tests skip with a one-line reason; with
``MISTRAL_NB_REQUIRE_BROWSER=1`` (what ``.ci/run`` sets) that skip is a failure instead.

Servers and the browser are module-scoped: one JupyterLab for the lab tests, one
Notebook 7 for the Notebook 7 tests, one Voilà for the Voilà tests, torn down before the rest of the suite runs (Playwright's sync API
keeps an event loop of its own, which async tests elsewhere should not meet).
Screenshots go to a temp dir, or to ``MISTRAL_NB_SCREENSHOTS`` when set; the run's summary
says where.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .jupyter_servers import Server, start_lab, start_notebook7, start_voila, write_notebook
from .playground_page import Screenshots

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}

_screenshot_dirs: list[Path] = []


def _find_chromium() -> str | None:
    named = os.environ.get("MISTRAL_NB_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _missing() -> str | None:
    """Why the browser tests cannot run here, in one line; None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if _find_chromium() is None:
        return "no Chromium found (apt-get install -y chromium, or set MISTRAL_NB_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium executable; skips (or fails, when required) without one."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("MISTRAL_NB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"MISTRAL_NB_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    path = _find_chromium()
    assert path is not None
    return path


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def screenshots(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Screenshots:
    named = os.environ.get("MISTRAL_NB_SCREENSHOTS")
    if named:
        folder = Path(named) / request.module.__name__
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = tmp_path_factory.mktemp(f"screenshots-{request.module.__name__}")
    _screenshot_dirs.append(folder)
    return Screenshots(folder)


@pytest.fixture(scope="module")
def jupyter_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the servers serve; tests write their notebooks into it."""
    return tmp_path_factory.mktemp("notebooks")


@pytest.fixture(scope="module")
def lab(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, jupyter_root: Path
) -> Iterator[Server]:
    """JupyterLab 4 with its default settings, on 127.0.0.1."""
    server = start_lab(tmp_path_factory.mktemp("jupyterlab-home"), jupyter_root)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def notebook7(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, jupyter_root: Path
) -> Iterator[Server]:
    """Jupyter Notebook 7 with its default settings, on 127.0.0.1."""
    server = start_notebook7(tmp_path_factory.mktemp("notebook7-home"), jupyter_root)
    try:
        yield server
    finally:
        server.stop()


def voila_server(
    tmp_path_factory: pytest.TempPathFactory, root: Path, name: str, cells: list[str]
) -> Iterator[Server]:
    """Voilà serving a notebook of ``cells`` (written as ``root/name``), for ``yield from``."""
    write_notebook(root / name, cells)
    server = start_voila(tmp_path_factory.mktemp("voila-home"), root, name)
    try:
        yield server
    finally:
        server.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    taken = [d for d in _screenshot_dirs if any(d.glob("*.png"))]
    for folder in taken:
        terminalreporter.write_line(f"browser screenshots: {folder}")
