"""Catch-up: building a SyncResponse and checking one before anything is applied.

docs/ledger.md, "Sync". A replica that sees a valid certificate or proposal for a block it lacks
asks the sender with a ``SyncRequest``. The ``SyncResponse`` carries committed blocks (each with its
``CommitCert``) from the requester's committed height + 1, then certified pending blocks with their
QCs. Every certificate is verified before anything is applied; a committed reconfiguration block
switches the validator set used to check everything after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .block_tree import BlockTree
from .certificates import is_commit_chain
from .errors import ConsensusError, InvalidCertificate, InvalidMessage
from .types import Block, CertifiedBlock, CommittedBlock, QuorumCert, SyncRequest, SyncResponse
from .validators import ValidatorSet

__all__ = ["SyncPlan", "build_sync_response", "plan_sync_response"]

QcCheck = Callable[[ValidatorSet, QuorumCert], bool]
Reconfigure = Callable[[Block], "ValidatorSet | None"]


@dataclass(frozen=True)
class SyncPlan:
    """What applying a verified SyncResponse will do: commits (with the validator set a
    reconfiguration block installs, else None), then certified blocks to insert."""

    commits: tuple[tuple[CommittedBlock, ValidatorSet | None], ...]
    certified: tuple[CertifiedBlock, ...]


def build_sync_response(
    request: SyncRequest,
    committed: Sequence[CommittedBlock],
    genesis_height: int,
    tree: BlockTree,
    max_blocks: int,
) -> SyncResponse:
    """Committed blocks above the requester's height, then the certified path to the target
    (or to our highest certified block when the target is unknown or uncertified)."""
    first = max(0, request.committed_height - genesis_height)
    sent = tuple(committed[first : first + max_blocks])
    certified: list[CertifiedBlock] = []
    if len(sent) < max_blocks:
        target = request.target_hash
        if target not in tree or tree.get_qc(target) is None:
            target = tree.high_qc.block_hash
        for block in tree.path_to(target) or []:
            qc = tree.get_qc(block.hash)
            if qc is None or len(sent) + len(certified) >= max_blocks:
                break
            certified.append(CertifiedBlock(block, qc))
    return SyncResponse(sent, tuple(certified))


def _check_child(parent: Block, block: Block, chain_id: bytes, epoch: int) -> None:
    h = block.header
    if h.chain_id != chain_id or h.epoch != epoch:
        raise InvalidMessage("sync: block from another chain or epoch")
    if h.height != parent.height + 1 or h.timestamp_ms <= parent.header.timestamp_ms:
        raise InvalidMessage("sync: block does not extend its parent (height or timestamp)")
    if parent.epoch == epoch and h.round <= parent.round:
        raise InvalidMessage("sync: block round does not increase")
    if not block.is_payload_consistent():
        raise InvalidMessage("sync: payload does not match the payload root")


def plan_sync_response(
    response: SyncResponse,
    *,
    chain_id: bytes,
    tip: Block,
    validator_set: ValidatorSet,
    tree: BlockTree,
    check_qc: QcCheck,
    on_reconfigure: Reconfigure | None,
) -> SyncPlan:
    """Verify the whole response against our committed ``tip``; raise InvalidMessage or change
    nothing. ``on_reconfigure`` is called for committed blocks (it must be a pure function)."""
    vs = validator_set
    current = tip
    commits: list[tuple[CommittedBlock, ValidatorSet | None]] = []
    for item in response.committed:
        block = item.block
        if block.height <= tip.height:
            continue  # we already committed it
        if block.parent_hash != current.hash:
            raise InvalidMessage("sync: committed blocks do not extend our committed chain")
        _check_child(current, block, chain_id, vs.epoch)
        if not is_commit_chain(block.header, item.cert, vs.epoch) or not check_qc(vs, item.cert.qc):
            raise InvalidCertificate("sync: commit certificate does not verify")
        new_set = on_reconfigure(block) if on_reconfigure is not None else None
        if new_set is not None and new_set.epoch != vs.epoch + 1:
            raise ConsensusError("on_reconfigure must return the set of epoch + 1")
        commits.append((item, new_set))
        current = block
        if new_set is not None:
            vs = new_set
    certified: list[CertifiedBlock] = []
    previous: Block | None = None
    for entry in response.certified:
        block = entry.block
        if block.height <= current.height:
            continue
        if previous is not None and block.parent_hash == previous.hash:
            parent: Block | None = previous
        elif block.parent_hash == current.hash:
            parent = current
        else:
            # Without new commits our own pending blocks stay in the tree and may be extended.
            parent = tree.get(block.parent_hash) if not commits else None
        if parent is None:
            raise InvalidMessage("sync: certified block does not extend a known block")
        _check_child(parent, block, chain_id, vs.epoch)
        qc = entry.qc
        if qc.block_hash != block.hash or qc.round != block.round or qc.epoch != vs.epoch:
            raise InvalidCertificate("sync: QC does not certify its block")
        if not check_qc(vs, qc):
            raise InvalidCertificate("sync: QC does not verify")
        certified.append(entry)
        previous = block
    return SyncPlan(tuple(commits), tuple(certified))
