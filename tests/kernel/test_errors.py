"""One domain error, one shape, one list of codes (kernel/errors.py, docs/api.md)."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

import biometrics.errors
import ledger.errors
import payments.errors
import tenants.errors
import webhooks.errors
from kernel.errors import GENERIC_CODES, DomainError, codes_of, exception_handler

ROOT = Path(__file__).resolve().parents[2]
APP_ERROR_MODULES: tuple[ModuleType, ...] = (
    tenants.errors,
    biometrics.errors,
    ledger.errors,
    payments.errors,
    webhooks.errors,
)
_ROW = re.compile(r"^\| `([a-z_]+)` \| (\d{3}) \|", re.MULTILINE)


def _declared_codes() -> dict[str, int]:
    codes = dict(GENERIC_CODES)
    for module in APP_ERROR_MODULES:
        for code, status in codes_of(module).items():
            # the same code means the same status wherever it is declared
            assert codes.setdefault(code, status) == status, (module.__name__, code)
    return codes


def _documented_codes() -> dict[str, int]:
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    rows = _ROW.findall(section)
    assert len(rows) == len({code for code, _ in rows}), "a code is listed twice"
    return {code: int(status) for code, status in rows}


def test_docs_list_every_declared_code_with_its_status_and_no_other() -> None:
    declared, documented = _declared_codes(), _documented_codes()
    assert sorted(set(declared) - set(documented)) == [], "declared but not in docs/api.md"
    assert sorted(set(documented) - set(declared)) == [], "in docs/api.md but declared nowhere"
    assert documented == declared


def test_every_app_error_is_a_domain_error_with_a_client_or_server_status() -> None:
    for module in APP_ERROR_MODULES:
        for code, status in codes_of(module).items():
            assert re.fullmatch(r"[a-z][a-z_]*", code), code
            assert 400 <= status < 600, (code, status)
    assert issubclass(tenants.errors.TenantError, DomainError)
    assert issubclass(tenants.errors.AccessDenied, DomainError)
    assert issubclass(biometrics.errors.BiometricError, DomainError)
    assert issubclass(ledger.errors.LedgerError, DomainError)
    assert issubclass(payments.errors.PaymentError, DomainError)


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (tenants.errors.LastOwner("The last owner cannot leave."), "last_owner", 409),
        (tenants.errors.OrganizationSuspended(), "organization_suspended", 403),
        (biometrics.errors.BiometricError("no_face", details={"x": 1}), "no_face", 422),
        (ledger.errors.LedgerError("rotation_pending"), "rotation_pending", 409),
        (DomainError("Refused.", code="custom_code", status=418), "custom_code", 418),
    ],
)
def test_the_one_handler_renders_any_domain_error_in_the_one_shape(
    error: DomainError, code: str, status: int
) -> None:
    response = exception_handler(error, {})
    assert response is not None
    assert response.status_code == status
    assert response.data == {
        "error": {"code": code, "message": error.message, "details": dict(error.details)}
    }
    assert error.message


def test_an_unknown_ledger_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown LedgerError code"):
        ledger.errors.LedgerError("no_such_code")
