"""ledger/state stays pure: the standard library (minus clocks, randomness, I/O and networking),
``cryptography`` (Ed25519 keys and signing), ``nacl`` (libsodium's Ed25519 verification) and
itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import ledger.state

PACKAGE_DIR = Path(ledger.state.__file__).parent
FORBIDDEN = {
    "asyncio",
    "datetime",
    "os",
    "random",
    "secrets",
    "socket",
    "subprocess",
    "threading",
    "time",
    "uuid",
}
ALLOWED_THIRD_PARTY = {"cryptography", "nacl"}
# The one module of another ledger package the state machine uses: the ledger's single canonical
# encoder, so a transaction inside a block and the block itself are written by the same code.
ALLOWED_LEDGER_MODULES = {"ledger.consensus.encoding"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_state_machine_imports_only_the_standard_library_its_crypto_libraries_and_itself() -> (
    None
):
    # given
    modules = sorted(PACKAGE_DIR.rglob("*.py"))

    # when
    offending = {
        str(path.relative_to(PACKAGE_DIR)): sorted(
            root
            for root in imported_roots(path)
            if root in FORBIDDEN
            or not (
                root in sys.stdlib_module_names
                or root in ALLOWED_THIRD_PARTY
                or root in {"__future__", "ledger"}
            )
        )
        for path in modules
    }

    # then
    assert len(modules) >= 8
    assert {name: bad for name, bad in offending.items() if bad} == {}


def test_the_state_machine_imports_no_other_ledger_package_but_the_canonical_encoder() -> None:
    # given / when: ledger.state must not depend on consensus logic, node or the Django side
    foreign = {
        str(path.relative_to(PACKAGE_DIR)): node.module
        for path in PACKAGE_DIR.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith("ledger")
        and not node.module.startswith("ledger.state")
        and node.module not in ALLOWED_LEDGER_MODULES
    }

    # then
    assert foreign == {}
