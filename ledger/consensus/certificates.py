"""Verification of certificates: QC, TC and the light-client commit check.

docs/ledger.md, "Verification rules". Each certificate costs one aggregate verification (the
validator set caches the aggregate key per signer bitmap, so after the first use the cost does not
depend on n). None of these functions raises on bad input; they return False.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from .signing import compute_timeout_signing_root, compute_vote_signing_root
from .types import Block, BlockHeader, CommitCert, QuorumCert, TimeoutCert
from .validators import ValidatorSet

__all__ = ["CertificateCache", "is_commit_chain", "verify_commit", "verify_qc", "verify_tc"]


def verify_qc(validator_set: ValidatorSet, chain_id: bytes, qc: QuorumCert) -> bool:
    """A quorum of the epoch's validators signed the vote root of ``qc``'s block."""
    if qc.epoch != validator_set.epoch or not validator_set.is_quorum(qc.signers):
        return False
    try:
        message = compute_vote_signing_root(chain_id, qc.epoch, qc.round, qc.block_hash)
    except ValueError:
        return False
    return validator_set.verify_aggregate(qc.signers, message, qc.signature)


def verify_tc(validator_set: ValidatorSet, chain_id: bytes, tc: TimeoutCert) -> bool:
    """A quorum timed out of ``tc.round``, each signer signing its own reported high QC round."""
    if tc.epoch != validator_set.epoch or not validator_set.is_quorum(tc.signers):
        return False
    signers = validator_set.indices_from_bitmap(tc.signers)
    if len(tc.high_qc_rounds) != len(signers) or any(r >= tc.round for r in tc.high_qc_rounds):
        return False
    by_round: dict[int, list[int]] = {}
    for index, high_qc_round in zip(signers, tc.high_qc_rounds, strict=True):
        by_round.setdefault(high_qc_round, []).append(index)
    try:
        groups = [
            (
                validator_set.bitmap_from_indices(members),
                compute_timeout_signing_root(chain_id, tc.epoch, tc.round, high_qc_round),
            )
            for high_qc_round, members in sorted(by_round.items())
        ]
    except ValueError:
        return False
    return validator_set.verify_aggregate_multi(groups, tc.signature)


def is_commit_chain(header: BlockHeader, cert: CommitCert, epoch: int) -> bool:
    """The structural part of a commit proof (no signatures): ``header`` followed by
    ``cert.headers`` is a parent-linked chain of one epoch whose last two blocks have consecutive
    rounds, and ``cert.qc`` names the last block."""
    chain = (header, *cert.headers)
    if len(chain) < 2 or header.epoch != epoch:
        return False
    for parent, child in pairwise(chain):
        if (
            child.parent_hash != parent.hash
            or child.height != parent.height + 1
            or child.round <= parent.round
            or child.epoch != epoch
            or child.chain_id != header.chain_id
        ):
            return False
    last, before = chain[-1], chain[-2]
    qc = cert.qc
    return (
        last.round == before.round + 1
        and qc.block_hash == last.hash
        and qc.round == last.round
        and qc.epoch == epoch
    )


def verify_commit(
    validator_set: ValidatorSet, block: Block | BlockHeader, certificate: CommitCert
) -> bool:
    """Light-client check: ``block`` is committed in ``validator_set``'s epoch.

    ``certificate`` is the chain of headers from the block's child up to a block C' whose parent C
    has round ``C'.round - 1``, plus the QC of C' (2-chain rule: C and therefore every ancestor of
    C, including ``block``, is committed). Costs one aggregate verification. For a ``Block`` the
    payload is also checked against the header's payload root.
    """
    header = block.header if isinstance(block, Block) else block
    if isinstance(block, Block) and not block.is_payload_consistent():
        return False
    if not is_commit_chain(header, certificate, validator_set.epoch):
        return False
    return verify_qc(validator_set, header.chain_id, certificate.qc)


class CertificateCache:
    """Remembers which certificates verified (by hash), so each costs one check per replica.

    A memo of facts, not protocol state: failures are not remembered (a later, valid certificate
    with the same hash cannot exist), and the size is bounded.
    """

    def __init__(self, chain_id: bytes, size: int = 4096) -> None:
        self._chain_id = chain_id
        self._size = size
        self._verified: dict[bytes, None] = {}

    def check_qc(self, validator_set: ValidatorSet, qc: QuorumCert) -> bool:
        return self._check(qc.hash, lambda: verify_qc(validator_set, self._chain_id, qc))

    def check_tc(self, validator_set: ValidatorSet, tc: TimeoutCert) -> bool:
        return self._check(tc.hash, lambda: verify_tc(validator_set, self._chain_id, tc))

    def _check(self, key: bytes, verify: Callable[[], bool]) -> bool:
        if key in self._verified:
            return True
        if not verify():
            return False
        if len(self._verified) >= self._size:
            self._verified.pop(next(iter(self._verified)))
        self._verified[key] = None
        return True
