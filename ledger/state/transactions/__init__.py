"""Ledger transactions: typed payloads, canonical encoding, Ed25519 signing, governance approvals.

Signing helpers live in ``ledger/state/signing.py``. The package follows the seams of a
transaction: ``fields`` (how each field kind is checked, written and read), ``payloads`` (one
dataclass per type), ``envelope`` (the signed ``Transaction`` and its wire format)::

    u8 version=1 | text chain_id | u8 type | text sender | u64 nonce | u32 len + payload | sig[64]

The sender signs ``SHA-256(TX_DOMAIN || everything before the signature)`` with Ed25519, so a
signature is bound to one chain, one type, one sender and one nonce. ``tx_hash`` is SHA-256 of the
full encoding. Governance payloads carry approvals: Ed25519 signatures by validator organizations
over ``compute_governance_root`` which binds the action to the carrying transaction's chain, sender
and nonce, so an approval can never be replayed in another transaction.
"""

from __future__ import annotations

from ledger.state.transactions.envelope import MAX_TX_BYTES, TX_DOMAIN, Transaction
from ledger.state.transactions.fields import (
    BLS_POP_SIZE,
    BLS_PUBLIC_KEY_SIZE,
    COMMITMENT_SIZE,
    ED25519_PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    Leg,
    Quote,
)
from ledger.state.transactions.payloads import (
    GOVERNANCE_DOMAIN,
    MAX_APPROVALS,
    PAYLOAD_CLASSES,
    AccountOpen,
    Anchor,
    Approval,
    BiometricAction,
    BiometricCommitment,
    Consent,
    ConsentAction,
    DataSharing,
    GovernancePayload,
    HoldCapture,
    HoldPlace,
    HoldVoid,
    Mint,
    MultiTransfer,
    OrgKeyRotate,
    OrgRegister,
    Payload,
    Payment,
    SharingAction,
    Transfer,
    TxType,
    ValidatorAdd,
    ValidatorRemove,
)

__all__ = [
    "BLS_POP_SIZE",
    "BLS_PUBLIC_KEY_SIZE",
    "COMMITMENT_SIZE",
    "ED25519_PUBLIC_KEY_SIZE",
    "GOVERNANCE_DOMAIN",
    "MAX_APPROVALS",
    "MAX_TX_BYTES",
    "PAYLOAD_CLASSES",
    "SIGNATURE_SIZE",
    "TX_DOMAIN",
    "AccountOpen",
    "Anchor",
    "Approval",
    "BiometricAction",
    "BiometricCommitment",
    "Consent",
    "ConsentAction",
    "DataSharing",
    "GovernancePayload",
    "HoldCapture",
    "HoldPlace",
    "HoldVoid",
    "Leg",
    "Mint",
    "MultiTransfer",
    "OrgKeyRotate",
    "OrgRegister",
    "Payload",
    "Payment",
    "Quote",
    "SharingAction",
    "Transaction",
    "Transfer",
    "TxType",
    "ValidatorAdd",
    "ValidatorRemove",
]
