"""The import contracts of ``make lint`` (pyproject.toml ``[tool.importlinter]``): the project
keeps them, and each kind of violation breaks them."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": str(LINT_IMPORTS.parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _project_contracts() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _skeleton(tmp_path: Path) -> Path:
    """An empty package for every module the contracts name, under the project's contracts."""
    config = _project_contracts()
    names = set(config["root_packages"])  # type: ignore[arg-type]
    for contract in config["contracts"]:  # type: ignore[attr-defined]
        for key in ("layers", "source_modules", "forbidden_modules"):
            names.update(name for name in contract.get(key, []) if not name.startswith("("))
    for name in names:
        if name.split(".")[0] not in config["root_packages"]:  # type: ignore[operator]
            continue  # an external package (django, ...)
        package = tmp_path.joinpath(*name.split("."))
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").touch()
    project = tmp_path / "pyproject.toml"
    project.write_text(_toml_section((ROOT / "pyproject.toml").read_text()))
    return tmp_path


def _toml_section(text: str) -> str:
    # The [tool.importlinter] tables, verbatim: the contracts under test are the project's own.
    start = text.index("[tool.importlinter]")
    return text[start:]


def test_the_project_keeps_its_import_contracts() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_skeleton_without_violations_keeps_the_contracts(tmp_path: Path) -> None:
    result = _lint_imports(_skeleton(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("importer", "statement", "complaint"),
    [
        ("kernel", "import tenants", "kernel is not allowed to import tenants"),
        ("kernel", "import portal", "kernel is not allowed to import portal"),
        ("tenants", "import portal", "tenants is not allowed to import portal"),
        ("tenants", "import ledger", "tenants is not allowed to import ledger"),
        ("ledger.services", "import biometrics", "ledger is not allowed to import biometrics"),
        ("biometrics.views", "import portal", "biometrics is not allowed to import portal"),
        ("ledger.consensus", "import django", "ledger.consensus is not allowed to import django"),
        ("ledger.state", "import ledger.models", "state is not allowed to import ledger.models"),
        ("biometrics.matching", "import deepface", "matching is not allowed to import deepface"),
    ],
)  # fmt: skip
def test_a_forbidden_import_breaks_the_contracts(
    tmp_path: Path, importer: str, statement: str, complaint: str
) -> None:
    # given the project's contracts over a skeleton of its packages
    root = _skeleton(tmp_path)
    # when one module makes a forbidden import
    module = root.joinpath(*importer.split(".")) / "__init__.py"
    module.write_text(statement + "\n")
    result = _lint_imports(root)
    # then import-linter fails and names it
    assert result.returncode != 0
    assert complaint in " ".join(result.stdout.split())


def test_no_test_module_imports_another_test_module() -> None:
    # given every module under tests/
    tests_dir = Path(__file__).resolve().parents[1]
    offending = {}
    for path in tests_dir.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        # when its imports are read
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests"):
                # `from tests.x.test_y import z` and `from tests.x import test_y` alike
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
                if any(name.rsplit(".", 1)[-1].startswith("test_") for name in names):
                    offending[str(path.relative_to(tests_dir))] = node.module
    # then shared fixtures live in conftest.py and helpers in modules not named test_*
    assert offending == {}
