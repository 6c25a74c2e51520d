"""Ledger writes of the portal (a package: keys, mirror, worker; house style rule 1).

- ``signing``: organization Ed25519 keys (generate, import, rotate) and governance approvals.
- ``mirror``: the pinned genesis and the mirror of verified blocks (the follower's writes).
- ``worker``: the outbox worker (sign once, submit, poll, retry with back-off).
- ``receipts``: offline-verifiable receipts of an organization's transactions, from the mirror.
"""

from ledger.services.mirror import chain_genesis, chain_pin, follower_verifier, mirror_block
from ledger.services.receipts import receipt_for_transaction
from ledger.services.signing import (
    LedgerServiceError,
    governance_required,
    governance_root,
    organization_key_ensure,
    organization_key_import,
    organization_key_rotate,
    organization_register_sponsor,
    organization_signing_key,
    outbox_approval_add,
)
from ledger.services.worker import (
    MAX_BACKOFF_SECONDS,
    DrainReport,
    outbox_drain,
    outbox_sign_pending,
    outbox_submit_due,
)

__all__ = [
    "MAX_BACKOFF_SECONDS",
    "DrainReport",
    "LedgerServiceError",
    "chain_genesis",
    "chain_pin",
    "follower_verifier",
    "governance_required",
    "governance_root",
    "mirror_block",
    "organization_key_ensure",
    "organization_key_import",
    "organization_key_rotate",
    "organization_register_sponsor",
    "organization_signing_key",
    "outbox_approval_add",
    "outbox_drain",
    "outbox_sign_pending",
    "outbox_submit_due",
    "receipt_for_transaction",
]
