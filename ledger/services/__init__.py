"""Ledger services of the portal (a package: keys, mirror, worker, nodes): writes, and the
reads that call the validators or re-verify the chain.

- ``signing``: organization Ed25519 keys (generate, import, rotate) and governance approvals.
- ``mirror``: the pinned genesis, the mirror of verified blocks (the follower's writes) and its
  full re-verification.
- ``worker``: the outbox worker (sign once, submit, poll, retry with back-off).
- ``nodes``: the validators' health, from their node API (a network call, hence not a selector).
- ``receipts``: offline-verifiable receipts of an organization's transactions, from the mirror
  (built by replaying the mirror when a block predates its stored proofs, so not a plain read).
"""

from ledger.services.mirror import (
    MirrorVerdict,
    chain_genesis,
    chain_pin,
    follower_verifier,
    mirror_block,
    mirror_verify,
)
from ledger.services.nodes import validator_health
from ledger.services.receipts import receipt_for_transaction
from ledger.services.signing import (
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
    "MirrorVerdict",
    "chain_genesis",
    "chain_pin",
    "follower_verifier",
    "governance_required",
    "governance_root",
    "mirror_block",
    "mirror_verify",
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
    "validator_health",
]
