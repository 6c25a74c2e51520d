"""Organization signing keys (generate, import, rotate) and governance approvals of parked
outbox rows."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from ledger import keys
from ledger.errors import (
    INVALID_APPROVAL,
    KEY_IN_USE,
    NOT_AWAITING,
    NOT_GOVERNED,
    NOT_READY,
    ROTATION_PENDING,
    LedgerError,
)
from ledger.models import (
    LedgerOutbox,
    LedgerSender,
    MirrorChain,
    OrganizationKey,
)
from ledger.outbox import ledger_id_for, ledger_submit, payload_for
from ledger.state import (
    Approval,
    GovernancePayload,
    InvalidTransaction,
    compute_governance_root,
)
from tenants.models import Organization


@transaction.atomic
def organization_key_ensure(*, organization: Organization) -> OrganizationKey:
    """The organization's active signing key, generated (and sealed) on first use, and its
    ledger sender row. Call it at registration; the worker calls it too before signing."""
    LedgerSender.objects.get_or_create(
        organization=organization, defaults={"ledger_id": ledger_id_for(organization)}
    )
    existing = (
        OrganizationKey.objects.select_for_update()
        .filter(organization=organization, status=OrganizationKey.Status.ACTIVE)
        .first()
    )
    if existing is not None:
        return existing
    sealed = keys.seal(keys.generate(), organization_id=organization.pk)
    return OrganizationKey.objects.create(
        organization=organization,
        public_key=sealed.public_key,
        sealed_nonce=sealed.nonce,
        sealed_key=sealed.ciphertext,
        status=OrganizationKey.Status.ACTIVE,
    )


@transaction.atomic
def organization_key_import(
    *, organization: Organization, ledger_id: str, private_key: Any, next_nonce: int = 1
) -> OrganizationKey:
    """Make ``organization`` act on the ledger as ``ledger_id`` with an existing Ed25519 key
    (a devnet member's ``DIR/orgs/<org>.ed25519``, or a key registered by governance elsewhere).

    Idempotent for the same key and ledger id. Refused with ``LedgerError(key_in_use)``
    once the organization has signed anything with another key: its nonces belong to the old
    identity."""
    already = OrganizationKey.objects.filter(
        organization=organization,
        status=OrganizationKey.Status.ACTIVE,
        public_key=keys.public_key_hex(private_key),
        organization__ledger_sender__ledger_id=ledger_id,
    ).first()
    if already is not None:
        return already  # imported before: a repeated setup step is a no-op
    if LedgerOutbox.objects.filter(organization=organization, nonce__isnull=False).exists():
        raise LedgerError(KEY_IN_USE)
    sealed = keys.seal(private_key, organization_id=organization.pk)
    OrganizationKey.objects.filter(organization=organization).exclude(
        public_key=sealed.public_key
    ).update(status=OrganizationKey.Status.RETIRED, retired_at=timezone.now())
    LedgerSender.objects.update_or_create(
        organization=organization, defaults={"ledger_id": ledger_id, "next_nonce": next_nonce}
    )
    row, _ = OrganizationKey.objects.update_or_create(
        public_key=sealed.public_key,
        defaults={
            "organization": organization, "sealed_nonce": sealed.nonce,
            "sealed_key": sealed.ciphertext, "status": OrganizationKey.Status.ACTIVE,
            "retired_at": None,
        },
    )  # fmt: skip
    return row


def organization_signing_key(*, organization: Organization) -> Any:
    """The decrypted active key (worker only; never log or return it to a client)."""
    row = organization_key_ensure(organization=organization)
    return keys.open_key(
        keys.SealedKey(row.public_key, bytes(row.sealed_nonce), bytes(row.sealed_key)),
        organization_id=organization.pk,
    )


@transaction.atomic
def organization_key_rotate(*, organization: Organization) -> LedgerOutbox:
    """Generate a new key (``pending``) and queue ``org_key_rotate`` for it.

    The transaction is governed: the worker reserves its nonce and parks it in
    ``awaiting_approvals``; more than two thirds of the validator organizations must then sign
    ``governance_root(outbox)`` and their approvals be added with ``outbox_approval_add``. The new
    key becomes active when the follower mirrors the committed rotation; until then the old key
    keeps signing. Raises ``LedgerError(rotation_pending)`` if one is already under way.
    """
    organization_key_ensure(organization=organization)
    if OrganizationKey.objects.filter(
        organization=organization, status=OrganizationKey.Status.PENDING
    ).exists():
        raise LedgerError(ROTATION_PENDING)
    sealed = keys.seal(keys.generate(), organization_id=organization.pk)
    OrganizationKey.objects.create(
        organization=organization,
        public_key=sealed.public_key,
        sealed_nonce=sealed.nonce,
        sealed_key=sealed.ciphertext,
        status=OrganizationKey.Status.PENDING,
    )
    return ledger_submit(
        organization=organization,
        tx_type="org_key_rotate",
        payload={"org_id": ledger_id_for(organization), "public_key": sealed.public_key},
        idempotency_key=f"ledger.org_key_rotate.{sealed.public_key}",
    )


@transaction.atomic
def organization_register_sponsor(
    *, sponsor: Organization, organization: Organization
) -> LedgerOutbox:
    """Queue ``org_register`` of ``organization``'s key (generated if needed), carried by
    ``sponsor``, a member already on the ledger.

    A new organization cannot send its own registration (the ledger does not know it yet). Like
    every governance transaction it is parked for approvals of more than two thirds of the
    validator organizations; once committed, the organization's queued rows (retried meanwhile
    as ``unknown_sender``) go through."""
    key = organization_key_ensure(organization=organization)
    return ledger_submit(
        organization=sponsor,
        tx_type="org_register",
        payload={"org_id": ledger_id_for(organization), "public_key": key.public_key},
        idempotency_key=f"ledger.org_register.{key.public_key}",
    )


def governance_root(*, outbox: LedgerOutbox) -> str:
    """What each approving validator organization signs for a parked governance row (hex)."""
    chain = MirrorChain.objects.first()
    if outbox.nonce is None or chain is None:
        raise LedgerError(NOT_READY)
    payload = payload_for(outbox.tx_type, outbox.payload)
    if not isinstance(payload, GovernancePayload):
        raise LedgerError(NOT_GOVERNED)
    root = compute_governance_root(
        chain_id=_state_chain_id(chain),
        sender=ledger_id_for(outbox.organization),
        nonce=outbox.nonce,
        payload=payload,
    )
    return root.hex()


def governance_required() -> int:
    """Approvals a governance transaction needs: more than two thirds of the validator
    organizations of the pinned genesis (later epochs' sets are not tracked here: pass
    ``required`` explicitly after a validator-set change)."""
    chain = MirrorChain.objects.first()
    n = len(chain.genesis["validators"]) if chain is not None else 1
    return 2 * n // 3 + 1


@transaction.atomic
def outbox_approval_add(
    *, outbox: LedgerOutbox, org_id: str, signature: str, required: int | None = None
) -> LedgerOutbox:
    """Add one validator organization's approval (64-byte Ed25519 signature, hex) to a parked
    governance row; with ``required`` approvals the row returns to ``pending`` for signing.

    The signatures are checked by every validator when the transaction is applied (a wrong one
    rejects it with ``unauthorised``); ``required`` is more than two thirds of the validator
    organizations of the current epoch."""
    row = LedgerOutbox.objects.select_for_update().get(pk=outbox.pk)
    if row.status != LedgerOutbox.Status.AWAITING_APPROVALS:
        raise LedgerError(NOT_AWAITING)
    try:
        approval = Approval(org_id=org_id, signature=bytes.fromhex(signature))
    except (ValueError, InvalidTransaction) as exc:
        raise LedgerError(INVALID_APPROVAL, f"Not an approval: {exc}") from exc
    required = governance_required() if required is None else required
    approvals = [a for a in row.approvals if a["org_id"] != org_id]
    approvals.append({"org_id": approval.org_id, "signature": approval.signature.hex()})
    row.approvals = sorted(approvals, key=lambda a: a["org_id"])
    if len(row.approvals) >= required:
        row.status = LedgerOutbox.Status.PENDING
    row.updated_at = timezone.now()
    row.save(update_fields=["approvals", "status", "updated_at"])
    return row


def _state_chain_id(chain: MirrorChain) -> str:
    return str(chain.genesis["state"]["chain_id"])
