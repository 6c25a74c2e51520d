"""Reads of the payments app. Every tenant read takes ``organization``; the alliance-wide
directory is the one read across organizations (open accounts' ids, currencies and names only,
never balances), which is why it runs in the system context on PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from django.db.models import Q, QuerySet

from ledger.errors import INCOMPLETE_MIRROR, LedgerError
from ledger.models import LedgerOutbox, MirrorAccount, MirrorChain, MirrorTransaction
from ledger.receipts import TransactionReceipt
from ledger.services import receipt_for_transaction
from ledger.state import ReceiptStatus
from payments.currencies import CURRENCIES, default_threshold
from payments.errors import PAYMENT_NOT_SETTLED, PaymentError
from payments.models import Account, ApprovalThreshold, Hold, Payment
from tenants.models import Organization
from tenants.rls import system_context

__all__ = [
    "STATEMENT_TX_TYPES",
    "DirectoryEntry",
    "StatementEntry",
    "account_balances",
    "account_get",
    "account_list",
    "account_owned_open_get",
    "approval_thresholds",
    "directory_account_get",
    "directory_accounts",
    "hold_get",
    "hold_list",
    "payment_get",
    "payment_list",
    "payment_receipt",
    "payment_status",
    "statement_entries",
]

Direction = Literal["incoming", "outgoing"]


def account_list(*, organization: Organization) -> QuerySet[Account]:
    """The organization's accounts, oldest first."""
    return Account.objects.filter(organization=organization).order_by("id")


def account_get(*, organization: Organization, ledger_account_id: str) -> Account | None:
    """The organization's account with this ledger id, whatever its status, or None."""
    return Account.objects.filter(
        organization=organization, ledger_account_id=ledger_account_id
    ).first()


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


def payment_receipt(*, payment: Payment) -> TransactionReceipt:
    """The offline-verifiable receipt of a settled payment's ledger transaction.

    Callers look the payment up with :func:`payment_get` first, so the payer and the payee may
    both fetch it: besides the payment's own transaction, a receipt holds only alliance-wide
    data (the genesis, block headers, commit certificates and the statuses of the block's
    transactions, which every member reads in the explorer). ``PaymentError(not_settled)``
    before the ledger committed the payment; ``LedgerError(incomplete_mirror)`` while the
    follower has not mirrored its block yet (the worker may learn the decision first).
    """
    if payment.status != Payment.Status.SETTLED or not payment.tx_hash:
        raise PaymentError(PAYMENT_NOT_SETTLED)
    # The ledger serves a receipt to the transaction's sender, which is always the payer.
    receipt = receipt_for_transaction(organization=payment.organization, tx_hash=payment.tx_hash)
    if receipt is None:
        raise LedgerError(INCOMPLETE_MIRROR, "The block of this payment is not mirrored yet.")
    return receipt


#: Committed transaction types that move posted money between accounts (a hold only reserves
#: it; its capture moves it, between the accounts its ``hold_place`` named).
STATEMENT_TX_TYPES: tuple[str, ...] = (
    "transfer", "payment", "mint", "hold_capture", "multi_transfer",
)  # fmt: skip


@dataclass(frozen=True)
class StatementEntry:
    """One movement of an account's posted balance, in minor units of its currency.

    ``counterparty`` is the other account (None for a mint); ``memo`` and ``payment_id`` come
    from the organization's own payments (made or received), never from the ledger.
    """

    direction: Literal["in", "out"]
    amount: int
    balance_after: int
    counterparty: str | None
    memo: str
    payment_id: int | None
    tx_hash: str
    block_height: int
    at: datetime


def statement_entries(
    *,
    organization: Organization,
    account: Account,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[StatementEntry]:
    """The account's committed movements in (height, position) order, with the running balance
    from its genesis balance (0 for an account opened later), limited to block times from
    ``date_from`` to ``date_to`` (UTC days, both included) after the balance is computed."""
    acc = account.ledger_account_id
    holds = _hold_accounts(acc)
    rows = (
        MirrorTransaction.objects.select_related("block")
        .filter(status=ReceiptStatus.COMMITTED, tx_type__in=STATEMENT_TX_TYPES)
        .filter(
            Q(payload__from_account=acc)
            | Q(payload__to_account=acc)
            | Q(tx_type="mint", payload__account_id=acc)
            | Q(tx_type="hold_capture", payload__hold_id__in=list(holds))
            # Legs are a list, which JSON key lookups cannot search on every database.
            | Q(tx_type="multi_transfer")
        )
        .order_by("block__height", "position")
    )
    hashes: list[str] = []
    moves: list[tuple[MirrorTransaction, str, int, str | None]] = []
    for row in rows:
        for direction, amount, counterparty in _movements(row, acc, holds):
            moves.append((row, direction, amount, counterparty))
            hashes.append(row.hash)
    payments = {
        p.tx_hash: p
        for p in payment_list(organization=organization).filter(tx_hash__in=set(hashes))
    }
    start = _day_start_ms(date_from) if date_from is not None else None
    end = _day_start_ms(date_to + timedelta(days=1)) if date_to is not None else None
    balance = _genesis_balance(acc)
    entries = []
    for row, direction, amount, counterparty in moves:
        balance += amount if direction == "in" else -amount
        at_ms = row.block.timestamp_ms
        if (start is not None and at_ms < start) or (end is not None and at_ms >= end):
            continue
        payment = payments.get(row.hash)
        entries.append(
            StatementEntry(
                direction="in" if direction == "in" else "out",
                amount=amount,
                balance_after=balance,
                counterparty=counterparty,
                memo=payment.memo if payment is not None else "",
                payment_id=payment.pk if payment is not None else None,
                tx_hash=row.hash,
                block_height=row.block.height,
                at=row.block.time,
            )
        )
    return entries


def _hold_accounts(acc: str) -> dict[str, tuple[str, str]]:
    """hold id (hex) -> (from, to) of the committed holds placed on or for ``acc``."""
    placed = MirrorTransaction.objects.filter(
        status=ReceiptStatus.COMMITTED, tx_type="hold_place"
    ).filter(Q(payload__from_account=acc) | Q(payload__to_account=acc))
    return {
        str(p["hold_id"]): (str(p["from_account"]), str(p["to_account"]))
        for p in placed.values_list("payload", flat=True)
    }


def _movements(
    row: MirrorTransaction, acc: str, holds: dict[str, tuple[str, str]]
) -> list[tuple[str, int, str | None]]:
    """(direction, amount, counterparty) of each part of ``row`` that touches ``acc``."""
    payload: dict[str, Any] = row.payload
    if row.tx_type == "mint":
        return [("in", int(payload["amount"]), None)] if payload["account_id"] == acc else []
    if row.tx_type == "hold_capture":
        source, target = holds[str(payload["hold_id"])]
        legs = [(source, target, int(payload["amount"]))]
    elif row.tx_type == "multi_transfer":
        legs = [
            (leg["from_account"], leg["to_account"], int(leg["amount"])) for leg in payload["legs"]
        ]
    else:
        legs = [(payload["from_account"], payload["to_account"], int(payload["amount"]))]
    moves: list[tuple[str, int, str | None]] = []
    for source, target, amount in legs:
        if source == acc:
            moves.append(("out", amount, target))
        elif target == acc:
            moves.append(("in", amount, source))
    return moves


def _genesis_balance(acc: str) -> int:
    """The account's balance in the pinned genesis (0 when it was opened later)."""
    chain = MirrorChain.objects.first()
    accounts = chain.genesis.get("state", {}).get("accounts", []) if chain is not None else []
    return next((int(a["balance"]) for a in accounts if a["account_id"] == acc), 0)


def _day_start_ms(day: date) -> int:
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp() * 1000)
