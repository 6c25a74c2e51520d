"""Reads of the payments app. Every tenant read takes ``organization``; the alliance-wide
directory is the one read across organizations (open accounts' ids, currencies and names only,
never balances), which is why it runs in the system context on PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.db.models import Q, QuerySet

from ledger.models import LedgerOutbox, MirrorAccount
from payments.currencies import CURRENCIES, default_threshold
from payments.models import Account, ApprovalThreshold, Hold, Payment
from tenants.models import Organization
from tenants.rls import system_context

__all__ = [
    "DirectoryEntry",
    "account_balances",
    "account_list",
    "account_owned_open_get",
    "approval_thresholds",
    "directory_account_get",
    "directory_accounts",
    "hold_get",
    "hold_list",
    "payment_get",
    "payment_list",
    "payment_status",
]

Direction = Literal["incoming", "outgoing"]


def account_list(*, organization: Organization) -> QuerySet[Account]:
    """The organization's accounts, oldest first."""
    return Account.objects.filter(organization=organization).order_by("id")


def account_owned_open_get(*, organization: Organization, ledger_account_id: str) -> Account | None:
    """The organization's open account with this ledger id, or None."""
    return Account.objects.filter(
        organization=organization, ledger_account_id=ledger_account_id, status=Account.Status.OPEN
    ).first()


def account_balances(*, ledger_account_ids: list[str]) -> dict[str, tuple[int, int]]:
    """``(posted, held)`` balances (minor units) of the given accounts as the follower last
    mirrored them; an account the ledger has not reported yet is absent."""
    return {
        account_id: (balance, held)
        for account_id, balance, held in MirrorAccount.objects.filter(
            account_id__in=ledger_account_ids
        ).values_list("account_id", "balance", "held")
    }


@dataclass(frozen=True)
class DirectoryEntry:
    """One open account as every member of the alliance sees it."""

    id: str
    organization: str
    currency: str
    name: str


def directory_accounts() -> list[DirectoryEntry]:
    """Every organization's open accounts (no balances), by organization and id."""
    # Across organizations by design: the directory is what payers choose payees from.
    with system_context():
        return [
            DirectoryEntry(id=i, organization=slug, currency=currency, name=name)
            for i, slug, currency, name in Account.objects.filter(status=Account.Status.OPEN)
            .order_by("organization__slug", "ledger_account_id")
            .values_list("ledger_account_id", "organization__slug", "currency", "name")
        ]


def directory_account_get(*, ledger_account_id: str) -> Account | None:
    """Any organization's open account with this ledger id (a payee), or None."""
    with system_context():
        return (
            Account.objects.select_related("organization")
            .filter(ledger_account_id=ledger_account_id, status=Account.Status.OPEN)
            .first()
        )


def payment_list(
    *, organization: Organization, direction: Direction | None = None
) -> QuerySet[Payment]:
    """Payments the organization made (``outgoing``), received (``incoming``) or both, newest
    first."""
    if direction == "outgoing":
        scope = Q(organization=organization)
    elif direction == "incoming":
        scope = Q(payee_organization=organization)
    else:
        scope = Q(organization=organization) | Q(payee_organization=organization)
    return (
        Payment.objects.filter(scope)
        .select_related("organization", "payee_organization", "outbox")
        .order_by("-id")
    )


def payment_get(
    *, organization: Organization, payment_id: int | str, as_payer: bool = False
) -> Payment | None:
    """A payment the organization made or received (only made, with ``as_payer``), or None."""
    try:
        pk = int(payment_id)
    except (TypeError, ValueError):
        return None
    direction: Direction | None = "outgoing" if as_payer else None
    return payment_list(organization=organization, direction=direction).filter(pk=pk).first()


def payment_status(payment: Payment) -> str:
    """The status a client sees: a queued payment whose outbox row the worker has sent to a
    validator is ``submitted`` (read from the row, so the worker needs no payments hook). The
    payee cannot read the payer's outbox row and sees ``queued`` until the decision."""
    if payment.status == Payment.Status.QUEUED:
        outbox = payment.outbox if payment.outbox_id is not None else None
        if outbox is not None and outbox.status == LedgerOutbox.Status.SUBMITTED:
            return Payment.Status.SUBMITTED
    return payment.status


def _scope(organization: Organization, direction: Direction | None) -> Q:
    if direction == "outgoing":
        return Q(organization=organization)
    if direction == "incoming":
        return Q(payee_organization=organization)
    return Q(organization=organization) | Q(payee_organization=organization)


def hold_list(*, organization: Organization, direction: Direction | None = None) -> QuerySet[Hold]:
    """Holds the organization placed (``outgoing``), that reserve funds for it (``incoming``) or
    both, newest first."""
    return (
        Hold.objects.filter(_scope(organization, direction))
        .select_related("organization", "payee_organization")
        .order_by("-id")
    )


def hold_get(
    *, organization: Organization, hold_pk: int | str, as_payer: bool = False
) -> Hold | None:
    """A hold the organization placed or is the payee of (only placed, with ``as_payer``)."""
    try:
        pk = int(hold_pk)
    except (TypeError, ValueError):
        return None
    direction: Direction | None = "outgoing" if as_payer else None
    return hold_list(organization=organization, direction=direction).filter(pk=pk).first()


def approval_thresholds(*, organization: Organization) -> dict[str, int]:
    """The maker-checker threshold (minor units) of every supported currency."""
    own = dict(
        ApprovalThreshold.objects.filter(organization=organization).values_list(
            "currency", "amount"
        )
    )
    return {currency: own.get(currency, default_threshold(currency)) for currency in CURRENCIES}
