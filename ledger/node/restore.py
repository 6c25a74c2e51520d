"""Startup from storage: the committed state and the block the replica starts from.

The committed state is rebuilt from the latest snapshot plus the stored blocks after it (no
certificate is re-verified: they were verified before being stored). A tip that ended an epoch is
not the replica's root: the replica starts from its parent and the tip is handed back to it as a
startup commit, so the replica enters the new epoch itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ledger.consensus import Block, CommittedBlock, ValidatorInfo, ValidatorSet
from ledger.consensus.crypto import Backend
from ledger.state import State, apply_block, decode_snapshot, decode_transactions

from .chain import ChainSpec
from .storage import Storage, StorageError

__all__ = ["RestoredChain", "restore_chain", "validator_set_for"]


@dataclass(frozen=True)
class RestoredChain:
    """Where a restarted validator stands: the stored tip height, the replica's root block and
    its state, and the commits to hand back to the replica at start."""

    tip: int
    root_block: Block
    root_state: State
    startup_commits: tuple[CommittedBlock, ...]


def restore_chain(
    storage: Storage, spec: ChainSpec, genesis_state: State, crypto: Backend
) -> RestoredChain:
    """Replay the stored chain; StorageError when it is incomplete or does not replay."""
    tip = storage.tip_height()
    state, parent_state = genesis_state, genesis_state
    first = 1
    snapshot = storage.latest_snapshot(tip - 1) if tip > 1 else None
    if snapshot is not None:
        height, data = snapshot
        stored = storage.get_block(height)
        if stored is None:
            raise StorageError(f"snapshot at {height} without its block")
        state = decode_snapshot(
            data, expected_root=stored.block.header.state_root, pop_verify=crypto.PopVerify
        )
        first = height + 1
    tip_block = spec.genesis_block
    for height in range(first, tip + 1):
        stored = storage.get_block(height)
        if stored is None:
            raise StorageError(f"block {height} missing below the tip {tip}")
        parent_state = state
        state, _ = apply_block(
            state,
            decode_transactions(stored.block.payload),
            timestamp_ms=stored.block.header.timestamp_ms,
        )
        if state.root != stored.block.header.state_root:
            raise StorageError(f"stored block {height} does not replay to its state root")
        tip_block = stored.block
    if tip == 0 or not state.pending_validator_changes:
        return RestoredChain(tip, tip_block, state, ())
    # The tip ended an epoch: restart from its parent, re-commit it through the replica.
    stored = storage.get_block(tip)
    if stored is None:
        raise StorageError(f"the tip {tip} is missing")
    parent = storage.get_block(tip - 1) if tip > 1 else None
    root_block = parent.block if parent is not None else spec.genesis_block
    return RestoredChain(
        tip, root_block, parent_state, (CommittedBlock(stored.block, stored.cert),)
    )


def validator_set_for(
    state: State,
    *,
    genesis_set: ValidatorSet,
    pops: Mapping[bytes, bytes],
    crypto: Backend,
) -> ValidatorSet:
    """The validator set of ``state``'s epoch (the genesis set, already verified, for epoch 0)."""
    if state.epoch == 0:
        return genesis_set
    infos = [
        ValidatorInfo(i, v.bls_public_key, pops[v.bls_public_key], v.org_id)
        for i, v in enumerate(state.validator_set)
    ]
    return ValidatorSet(infos, crypto=crypto, epoch=state.epoch)
