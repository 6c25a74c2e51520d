"""The pure packages import nothing impure: checked on the AST of every .py file they contain.

The rule (the portal depends on the pure cores, never the other way round): ``ledger/consensus``,
``ledger/simulation``, ``ledger/state`` and ``biometrics/matching`` are pure cores that the
validator process, the portal and the simulator all drive. A pure core must behave identically
given the same inputs, so it may not reach for:

- frameworks and I/O: ``django``, ``celery``, ``channels``, ``deepface``, ``asyncio``, ``socket``;
- clocks: ``time``, ``datetime`` (time is an argument, ``now_ms``);
- the process environment: ``os.environ``, ``os.getenv`` (whoever starts the process reads its
  settings and passes them in, e.g. ``crypto.configure(name)``);
- global or OS randomness: the module-level functions of ``random`` (``random.random()``,
  ``random.randint()``, ``from random import choice`` ...), ``os.urandom`` and ``secrets``.
  Importing ``random`` to *type* or *construct* a seeded ``random.Random`` (passed in explicitly)
  is allowed, so ``random.Random`` is the one permitted attribute of the module.

The check parses every file (including imports inside functions), so it covers whatever the
helpers add to those folders later; an empty folder passes trivially.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_PACKAGES = ("ledger/consensus", "ledger/simulation", "ledger/state", "biometrics/matching")
FORBIDDEN_MODULES = frozenset(
    {"django", "celery", "channels", "deepface", "asyncio", "socket", "time", "datetime", "secrets"}
)
ALLOWED_RANDOM_NAMES = frozenset({"Random"})
FORBIDDEN_OS_NAMES = frozenset({"urandom", "environ", "environb", "getenv", "getenvb", "putenv"})


def find_impurities(source: str, filename: str = "<string>") -> list[str]:
    """Every forbidden import or call in ``source``, as ``"file:line: what"`` strings."""
    tree = ast.parse(source, filename=filename)
    problems: list[str] = []
    random_aliases: set[str] = set()
    os_aliases: set[str] = set()

    def report(node: ast.AST, what: str) -> None:
        problems.append(f"{filename}:{getattr(node, 'lineno', 0)}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in FORBIDDEN_MODULES:
                    report(node, f"import {alias.name}")
                if alias.name == "random":
                    random_aliases.add(alias.asname or "random")
                if alias.name == "os":
                    os_aliases.add(alias.asname or "os")
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            top = node.module.split(".")[0]
            if top in FORBIDDEN_MODULES:
                report(node, f"from {node.module} import ...")
            if node.module == "random":
                for alias in node.names:
                    if alias.name not in ALLOWED_RANDOM_NAMES:
                        report(node, f"from random import {alias.name}")
            if node.module == "os":
                for alias in node.names:
                    if alias.name in FORBIDDEN_OS_NAMES:
                        report(node, f"from os import {alias.name}")
    # Attribute uses need the aliases collected above, hence a second walk.
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in random_aliases and node.attr not in ALLOWED_RANDOM_NAMES:
                report(node, f"random.{node.attr} (module-level randomness)")
            if node.value.id in os_aliases and node.attr in FORBIDDEN_OS_NAMES:
                report(node, f"os.{node.attr}")
    return problems


def pure_python_files() -> list[Path]:
    files: list[Path] = []
    for package in PURE_PACKAGES:
        folder = ROOT / package
        if folder.is_dir():
            files.extend(sorted(folder.rglob("*.py")))
    return files


def test_the_checker_flags_every_kind_of_forbidden_use() -> None:
    # Given a file that does every forbidden thing once
    source = "\n".join(
        [
            "import time",
            "import datetime as dt",
            "from django.db import models",
            "import asyncio, socket",
            "import secrets",
            "import random",
            "import os",
            "from random import randint",
            "from os import getenv",
            "def f():",
            "    import celery",
            "    x = random.random()",
            "    name = os.environ.get('LEDGER_BLS_BACKEND') or os.getenv('X')",
            "    return os.urandom(8)",
        ]
    )
    # When it is checked
    problems = find_impurities(source)
    # Then each use is reported with its line
    whats = [p.split(": ", 1)[1] for p in problems]
    assert sorted(whats) == sorted(
        [
            "import time",
            "import datetime",
            "from django.db import ...",
            "import asyncio",
            "import socket",
            "import secrets",
            "from random import randint",
            "import celery",
            "random.random (module-level randomness)",
            "from os import getenv",
            "os.environ",
            "os.getenv",
            "os.urandom",
        ]
    )


def test_the_checker_allows_a_seeded_random_instance_passed_in() -> None:
    # Given code that only types and constructs random.Random
    source = (
        "import random\nfrom random import Random\n"
        "def f(rng: random.Random) -> int:\n    return rng.randint(1, 6)\n"
        "def g(seed: int) -> Random:\n    return random.Random(seed)\n"
    )
    # When it is checked / Then nothing is reported
    assert find_impurities(source) == []


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_the_pure_package_imports_nothing_impure(package: str) -> None:
    # Given every Python file currently in the package (an empty or missing folder passes)
    files = [f for f in pure_python_files() if f.is_relative_to(ROOT / package)]
    # When each is parsed and checked
    problems: list[str] = []
    for path in files:
        problems.extend(find_impurities(path.read_text(), str(path.relative_to(ROOT))))
    # Then there is no forbidden import or call
    assert problems == []
