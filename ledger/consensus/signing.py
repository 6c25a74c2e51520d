"""Domain-separated signing roots (docs/ledger.md, "Signing roots").

A validator never signs a message directly: it signs the 32-byte SHA-256 of

    DOMAIN || u16(len(chain_id)) || chain_id || u64(epoch) || u64(round) || tail

with ``DOMAIN`` one of the ASCII tags below (each ends with a NUL byte so no tag is a prefix of
another) and ``tail`` the 32-byte block hash for a vote or u64(high_qc_round) for a timeout. The
chain id and epoch in every root stop a signature from being replayed on another chain or in
another epoch of the same chain. The BLS ciphersuite adds its own DST on top.
"""

from __future__ import annotations

import hashlib

from .types import HASH_SIZE

__all__ = [
    "MAX_CHAIN_ID_BYTES",
    "TIMEOUT_DOMAIN",
    "VOTE_DOMAIN",
    "compute_timeout_signing_root",
    "compute_vote_signing_root",
]

VOTE_DOMAIN = b"ALLIANCE-LEDGER/VOTE/V1\x00"
TIMEOUT_DOMAIN = b"ALLIANCE-LEDGER/TIMEOUT/V1\x00"
MAX_CHAIN_ID_BYTES = 64


def _prefix(domain: bytes, chain_id: bytes, epoch: int, round: int) -> bytes:
    if not 0 < len(chain_id) <= MAX_CHAIN_ID_BYTES:
        raise ValueError(f"chain id must be 1..{MAX_CHAIN_ID_BYTES} bytes")
    return (
        domain
        + len(chain_id).to_bytes(2, "big")
        + chain_id
        + epoch.to_bytes(8, "big")
        + round.to_bytes(8, "big")
    )


def compute_vote_signing_root(chain_id: bytes, epoch: int, round: int, block_hash: bytes) -> bytes:
    """The 32 bytes a validator signs to vote for ``block_hash`` in ``(epoch, round)``."""
    if len(block_hash) != HASH_SIZE:
        raise ValueError("block hash must be 32 bytes")
    return hashlib.sha256(_prefix(VOTE_DOMAIN, chain_id, epoch, round) + block_hash).digest()


def compute_timeout_signing_root(
    chain_id: bytes, epoch: int, round: int, high_qc_round: int
) -> bytes:
    """The 32 bytes a validator signs to time out of ``round`` reporting its high QC round."""
    tail = high_qc_round.to_bytes(8, "big")
    return hashlib.sha256(_prefix(TIMEOUT_DOMAIN, chain_id, epoch, round) + tail).digest()
