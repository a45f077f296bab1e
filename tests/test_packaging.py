"""The package's public surface and its packaging files stay in step."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import mistral_nb as mnb

ROOT = Path(__file__).resolve().parents[1]
ENGINE = [
    p for p in (ROOT / "mistral_nb").rglob("*.py") if "ui" not in p.relative_to(ROOT).parts[1:2]
]


def isort_order(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical.
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_matches_the_namespace():
    assert mnb.__all__ == sorted(mnb.__all__, key=isort_order)
    assert len(set(mnb.__all__)) == len(mnb.__all__)
    for name in mnb.__all__:
        assert hasattr(mnb, name), name


def test_public_classes_show_the_public_path():
    for name in ("Session", "TurnLog", "ToolRegistry", "LocalMistral", "SettingsError"):
        assert getattr(mnb, name).__module__ == "mistral_nb"


def test_environment_yml_lists_every_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    environment = (ROOT / "environment.yml").read_text()
    wanted = project["dependencies"] + project["optional-dependencies"]["lab"]
    missing = [dep for dep in wanted if f"- {dep}\n" not in environment]
    assert not missing, f"environment.yml lacks {missing}"


def imported_modules(path: Path) -> list[str]:
    """Every absolute module ``path`` imports, at any depth (functions included)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def test_the_engine_never_imports_widgets():
    for path in ENGINE:
        for name in imported_modules(path):
            assert not name.startswith(("ipywidgets", "IPython")), f"{path} imports {name}"


def test_pipecat_is_imported_in_one_subpackage_only():
    seam = ROOT / "mistral_nb" / "_pipecat"
    importers = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "mistral_nb").rglob("*.py")
        if any(name.split(".")[0] == "pipecat" for name in imported_modules(path))
    }
    assert importers, "the seam must import pipecat somewhere"
    outside = sorted(p for p in importers if not (ROOT / p).is_relative_to(seam))
    assert outside == [], f"pipecat imported outside mistral_nb/_pipecat: {outside}"


def test_the_ui_never_imports_pipecat():
    for path in (ROOT / "mistral_nb" / "ui").rglob("*.py"):
        for name in imported_modules(path):
            assert name.split(".")[0] != "pipecat", f"{path} imports {name}"
            assert "_pipecat" not in name, f"{path} reaches into the pipecat seam"


def test_importing_the_package_does_not_load_the_local_endpoint():
    # mistral-common and jsonschema's format checkers cost ~1 s: LocalMistral loads
    # when first used.
    import subprocess
    import sys

    code = (
        "import sys, mistral_nb; "
        "print(sorted(m for m in sys.modules if m.startswith(('mistral_common', "
        "'mistral_nb.local', 'rfc3987'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]", out


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    command = 'pip install -e ".[test]" && python -m pytest'
    assert command in readme
    assert command in (ROOT / ".ci" / "run").read_text()
