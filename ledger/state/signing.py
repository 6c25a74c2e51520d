"""Ed25519 signing and verification of transactions and governance approvals.

The sender signs ``SHA-256(TX_DOMAIN || body)`` (``Transaction.signing_root``); each approving
validator organization signs ``compute_governance_root``, which binds the governance action to the
chain, type, sender and nonce of the transaction that carries it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError

from ledger.consensus.encoding import Writer
from ledger.state.transactions import (
    GOVERNANCE_DOMAIN,
    TX_DOMAIN,
    Approval,
    GovernancePayload,
    Payload,
    Quote,
    Transaction,
)
from ledger.state.transactions.envelope import check_envelope, encode_body

__all__ = [
    "QUOTE_DOMAIN",
    "compute_governance_root",
    "compute_quote_root",
    "sign_approval",
    "sign_quote",
    "sign_transaction",
    "verify_ed25519",
    "with_approvals",
]

_G = TypeVar("_G", bound=GovernancePayload)

QUOTE_DOMAIN = b"alliance-ledger/quote/v1\x00"


def verify_ed25519(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Ed25519 verification with libsodium's rules (docs/ledger.md, "Transaction signatures";
    ADR 0004): RFC 8032 plus canonical S (no malleability), a canonically encoded public key,
    and neither the key nor R of small order. OpenSSL's check, used before, accepts the identity
    point as a key, for which ``R = identity, S = 0`` "signs" every message. Every validator
    must apply exactly this rule, so it lives here, in one place.

    Results are memoised (a pure function of its arguments), so a transaction verified at mempool
    admission costs nothing to re-verify when its block is applied in the same process."""
    return _verify_cached(bytes(public_key), bytes(signature), bytes(message))


@functools.lru_cache(maxsize=65536)
def _verify_cached(public_key: bytes, signature: bytes, message: bytes) -> bool:
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        crypto_sign_open(signature + message, public_key)
    except (CryptoError, ValueError, TypeError):
        return False
    return True


def sign_transaction(
    *, private_key: Ed25519PrivateKey, chain_id: str, sender: str, nonce: int, payload: Payload
) -> Transaction:
    """Build and sign a transaction with the sender organization's key."""
    check_envelope(chain_id, sender, nonce, payload)
    body = encode_body(chain_id, sender, nonce, payload)
    signature = private_key.sign(hashlib.sha256(TX_DOMAIN + body).digest())
    return Transaction(
        chain_id=chain_id, sender=sender, nonce=nonce, payload=payload, signature=signature
    )


def compute_governance_root(
    *, chain_id: str, sender: str, nonce: int, payload: GovernancePayload
) -> bytes:
    """What each approving validator organization signs: the action bound to its carrier tx."""
    prefix = Writer().text(chain_id).u8(int(payload.TYPE)).text(sender).u64(nonce).getvalue()
    return hashlib.sha256(GOVERNANCE_DOMAIN + prefix + payload.action_bytes()).digest()


def sign_approval(
    *,
    private_key: Ed25519PrivateKey,
    org_id: str,
    chain_id: str,
    sender: str,
    nonce: int,
    payload: GovernancePayload,
) -> Approval:
    """One validator organization's approval of ``payload`` carried by (sender, nonce)."""
    root = compute_governance_root(chain_id=chain_id, sender=sender, nonce=nonce, payload=payload)
    return Approval(org_id=org_id, signature=private_key.sign(root))


def with_approvals(payload: _G, approvals: list[Approval]) -> _G:
    """Return ``payload`` carrying ``approvals`` in their canonical (sorted) order."""
    return dataclasses.replace(payload, approvals=tuple(sorted(approvals, key=lambda a: a.org_id)))


def compute_quote_root(*, chain_id: str, quote: Quote) -> bytes:
    """What a quote's provider signs: the chain id, quote id, provider, both currencies and
    amounts and the expiry, under their own domain (a quote signature can never pass for a
    transaction or a governance approval, nor be used on another chain)."""
    prefix = Writer().text(chain_id).getvalue()
    return hashlib.sha256(QUOTE_DOMAIN + prefix + quote.terms()).digest()


def sign_quote(*, private_key: Ed25519PrivateKey, chain_id: str, quote: Quote) -> Quote:
    """Return ``quote`` signed by its provider organization's key."""
    root = compute_quote_root(chain_id=chain_id, quote=quote)
    return dataclasses.replace(quote, signature=private_key.sign(root))
