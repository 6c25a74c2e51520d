"""Serving catch-up: the answer to a peer's ``SyncRequest``.

Committed blocks come from storage (any height, raw bytes decoded once, within a byte budget per
response); when they reach the tip and room is left, the replica's certified chain above the tip
follows (what the replica itself would answer).
"""

from __future__ import annotations

from ledger.consensus import (
    CertifiedBlock,
    CommittedBlock,
    Replica,
    Send,
    SyncRequest,
    SyncResponse,
    decode,
)

from .storage import Storage

__all__ = ["SYNC_BYTES_BUDGET", "build_sync_response"]

#: Bytes of committed blocks per SyncResponse this node sends (the frame limit is larger).
SYNC_BYTES_BUDGET = 8 << 20


def build_sync_response(
    *,
    storage: Storage,
    replica: Replica,
    peer: int,
    request: SyncRequest,
    max_blocks: int,
    now_ms: int,
    bytes_budget: int = SYNC_BYTES_BUDGET,
) -> SyncResponse | None:
    """The response to ``request`` from ``peer``; None when it asks beyond our stored tip."""
    tip = storage.tip_height()
    if request.committed_height > tip:
        return None
    first = request.committed_height + 1
    last = min(tip, request.committed_height + max_blocks)
    committed: list[CommittedBlock] = []
    size = 0
    for raw_block, raw_cert in storage.get_raw_blocks(first, last):
        size += len(raw_block) + len(raw_cert)
        if committed and size > bytes_budget:
            break
        committed.append(CommittedBlock(decode(raw_block), decode(raw_cert)))
    certified: tuple[CertifiedBlock, ...] = ()
    room = max_blocks - len(committed)
    if room > 0 and (not committed or committed[-1].block.height == tip):
        own = SyncRequest(request.epoch, tip, request.target_hash)
        for effect in replica.on_sync_request(peer, own, now_ms):
            if isinstance(effect, Send) and isinstance(effect.message, SyncResponse):
                certified = effect.message.certified[:room]
    return SyncResponse(tuple(committed), certified)
