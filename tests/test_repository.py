"""The repository stands alone: no tracked file points at this machine's own folders.

A path such as the checkout's folder, root's home or the project's shared reference
folder next to the repository works here and nowhere else: a fresh clone in CI, or on
a colleague's machine, fails (or silently reads nothing).  Tests make what they need
under ``tmp_path`` or keep a copy under ``tests/``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Written so that this file does not match itself.
MACHINE_PATHS = r"/(work|root)/|\.\./shared"


def tracked_text_matching(pattern: str) -> list[str]:
    """``file:line: text`` for every line of a tracked text file matching ``pattern``."""
    found = subprocess.run(
        ["git", "grep", "-n", "-I", "-E", pattern, "--", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode not in (0, 1):  # 1: nothing matched
        raise RuntimeError(f"git grep failed: {found.stderr.strip()}")
    return [line[:200] for line in found.stdout.splitlines()]


@pytest.fixture(autouse=True)
def _needs_a_git_checkout() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing is tracked here")


def test_no_tracked_file_names_a_folder_of_this_machine() -> None:
    hits = tracked_text_matching(MACHINE_PATHS)
    assert not hits, (
        "tracked files name absolute paths of one machine (or the shared reference folder); "
        "copy what they "
        "read into tests/ (say where it came from) or build it under tmp_path:\n" + "\n".join(hits)
    )


def test_no_tracked_file_names_where_this_checkout_lives() -> None:
    # Wherever the repository happens to be cloned, nothing may depend on it.
    hits = tracked_text_matching(str(ROOT).replace(".", r"\."))
    assert not hits, "tracked files name this checkout's folder:\n" + "\n".join(hits)


def test_the_check_sees_tracked_files() -> None:
    # A guard on the guard: a pattern every checkout has must be found.
    assert tracked_text_matching("mistral_nb"), "git grep found nothing: the check is blind"
