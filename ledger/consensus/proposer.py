"""What the leader of a round proposes (docs/ledger.md, "Pacemaker and leaders", "Proposal")."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .block_tree import make_block
from .params import ProtocolParams
from .types import Block, Proposal, QuorumCert, TimeoutCert

__all__ = ["build_proposal", "compute_state_root", "take_payload"]

PayloadSource = Callable[[int], Sequence[bytes]]
#: (parent state root, payload, the block's header timestamp) -> the block's state root.
Execute = Callable[[bytes, Sequence[bytes], int], bytes]


def take_payload(source: PayloadSource | None, params: ProtocolParams) -> tuple[bytes, ...]:
    """The leader's transactions, cut to the block limits so its own proposal is never refused."""
    if source is None:
        return ()
    taken: list[bytes] = []
    size = 0
    for tx in source(params.max_block_bytes):
        if len(taken) >= params.max_block_txs or size + len(tx) > params.max_block_bytes:
            break
        taken.append(bytes(tx))
        size += len(tx)
    return tuple(taken)


def compute_state_root(
    execute: Execute | None, parent: Block, payload: Sequence[bytes], timestamp_ms: int
) -> bytes:
    """The state root a child of ``parent`` with ``payload`` and header timestamp
    ``timestamp_ms`` must carry (execution depends on the time: holds expire by it)."""
    if execute is None:
        return parent.header.state_root
    return execute(parent.header.state_root, payload, timestamp_ms)


def build_proposal(
    *,
    chain_id: bytes,
    epoch: int,
    round: int,
    proposer: int,
    high_qc: QuorumCert,
    parent: Block,
    last_tc: TimeoutCert | None,
    payload_source: PayloadSource | None,
    execute: Execute | None,
    params: ProtocolParams,
    now_ms: int,
) -> Proposal | None:
    """A child of the high QC block, or None when the round cannot be justified: after a timeout
    the leader needs the TC of ``round - 1`` and a high QC at least as high as every high QC
    reported in it (otherwise honest validators would refuse to vote)."""
    tc = None
    if round != high_qc.round + 1:
        tc = last_tc
        if tc is None or tc.round + 1 != round or high_qc.round < tc.max_high_qc_round:
            return None
    payload = take_payload(payload_source, params)
    timestamp_ms = max(now_ms, parent.header.timestamp_ms + 1)
    state_root = compute_state_root(execute, parent, payload, timestamp_ms)
    if len(state_root) != len(parent.header.state_root):
        # The executor could not produce a state for this parent (it signals that with a root
        # no header can carry): propose nothing rather than an invalid block; the round times
        # out and a later leader proposes once the parent's state is known.
        return None
    block = make_block(
        chain_id=chain_id,
        epoch=epoch,
        round=round,
        parent=parent,
        payload=payload,
        proposer=proposer,
        timestamp_ms=timestamp_ms,
        state_root=state_root,
    )
    return Proposal(block, high_qc, tc)
