"""The mempool: transactions admitted at the door and waiting for a block.

- Admission (``add``): decode (``malformed`` / ``oversize``), dedup by hash, then
  ``validate_tx(committed_state, tx, nonce_window=...)`` (``wrong_chain``, ``unknown_sender``,
  ``bad_nonce``, ``bad_signature``). The refusal carries the state's ``ErrorCode``.
- Bounded: at most ``max_txs`` transactions and ``max_bytes`` bytes; a full pool refuses
  (``MempoolFull``) rather than evicting what others already queued.
- ``candidates(limit, next_nonce)``: what a leader offers ``Executor.propose`` on a parent state:
  each sender's consecutive nonces from the parent's next one, senders interleaved.
- ``remove_committed`` drops transactions whose nonce the committed state has used (committed, or
  superseded by another transaction with that nonce); ``drop`` removes those a proposal found
  invalid at the door (e.g. a rotated key), remembering why for ``GET /v1/txs/<hash>``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ledger.state import (
    ErrorCode,
    InvalidTransaction,
    State,
    Transaction,
    validate_tx,
)

__all__ = ["Admission", "Mempool", "MempoolFull", "Refusal"]

_REMEMBERED_REFUSALS = 10_000


class MempoolFull(Exception):
    """The pool is at its size bound; the client should retry later."""


@dataclass(frozen=True)
class Refusal:
    code: str
    reason: str


@dataclass(frozen=True)
class Admission:
    """The outcome of an accepted ``add``: the hash, and whether it was already queued."""

    tx: Transaction
    duplicate: bool


class Mempool:
    """See the module docstring. Not thread-safe: the node's event loop owns it.

    Transactions are kept by hash and, per sender, by nonce (several transactions may carry one
    nonce; the first to arrive is offered first), so a leader's ``candidates`` walk each sender's
    consecutive nonces from the parent state's next one: O(block), not O(pool), and transactions
    already included in uncommitted ancestors are never offered again."""

    def __init__(
        self, *, max_txs: int = 50_000, max_bytes: int = 64 << 20, nonce_window: int = 1024
    ):
        self._max_txs = max_txs
        self._max_bytes = max_bytes
        self._nonce_window = nonce_window
        self._txs: dict[bytes, Transaction] = {}
        # sender -> nonce -> hashes in arrival order; sender -> lowest nonce that may be queued
        self._queues: dict[str, dict[int, list[bytes]]] = {}
        self._floors: dict[str, int] = {}
        self._bytes = 0
        self._refused: OrderedDict[bytes, Refusal] = OrderedDict()

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._txs

    def add(self, data: bytes | Transaction, state: State) -> Admission:
        """Admit a transaction (encoded, or already decoded) checked against the committed
        ``state``; ``InvalidTransaction`` (with its code) or ``MempoolFull`` when refused."""
        tx = data if isinstance(data, Transaction) else Transaction.decode(data)
        if tx.tx_hash in self._txs:
            return Admission(tx, duplicate=True)
        validate_tx(state, tx, nonce_window=self._nonce_window)
        if len(self._txs) >= self._max_txs or self._bytes + len(tx.encoding) > self._max_bytes:
            raise MempoolFull(f"mempool holds {len(self._txs)} transactions")
        self._txs[tx.tx_hash] = tx
        self._bytes += len(tx.encoding)
        queue = self._queues.get(tx.sender)
        if queue is None:
            queue = self._queues[tx.sender] = {}
            self._floors[tx.sender] = state.next_nonce(tx.sender)
        queue.setdefault(tx.nonce, []).append(tx.tx_hash)
        self._refused.pop(tx.tx_hash, None)
        return Admission(tx, duplicate=False)

    def get(self, tx_hash: bytes) -> Transaction | None:
        return self._txs.get(tx_hash)

    def candidates(self, limit: int, next_nonce: Callable[[str], int]) -> list[Transaction]:
        """Up to ``limit`` transactions that could follow a state whose senders' next nonces
        ``next_nonce`` gives: each sender's consecutive nonces from there, senders taking turns
        (one transaction each per turn), the first arrival for a nonce held twice."""
        chosen: list[Transaction] = []
        cursors = {sender: next_nonce(sender) for sender in self._queues}
        active = list(cursors)
        while active and len(chosen) < limit:
            still = []
            for sender in active:
                hashes = self._queues[sender].get(cursors[sender])
                if not hashes:
                    continue
                chosen.append(self._txs[hashes[0]])
                cursors[sender] += 1
                still.append(sender)
                if len(chosen) >= limit:
                    break
            active = still
        return chosen

    def remove_committed(self, state: State, committed: Iterable[bytes]) -> None:
        """Forget committed transactions and those whose nonce the committed ``state`` used."""
        committed_set = set(committed)
        for tx_hash in committed_set:
            self._remove(tx_hash)
        for sender in list(self._queues):
            floor, next_nonce = self._floors[sender], state.next_nonce(sender)
            for nonce in range(floor, next_nonce):
                for tx_hash in list(self._queues.get(sender, {}).get(nonce, ())):
                    self._remove(tx_hash)
                    self._remember(
                        tx_hash,
                        Refusal(str(ErrorCode.BAD_NONCE), "another transaction used this nonce"),
                    )
            if sender in self._floors:
                self._floors[sender] = max(floor, next_nonce)

    def drop(self, tx_hash: bytes, error: InvalidTransaction) -> None:
        """Remove a transaction found invalid at the door when a block was built."""
        if tx_hash in self._txs:
            self._remove(tx_hash)
            self._remember(tx_hash, Refusal(str(error.code), error.reason))

    def refusal(self, tx_hash: bytes) -> Refusal | None:
        """Why a transaction that was in the pool was dropped, if it was (bounded memory)."""
        return self._refused.get(tx_hash)

    def _remove(self, tx_hash: bytes) -> None:
        tx = self._txs.pop(tx_hash, None)
        if tx is None:
            return
        self._bytes -= len(tx.encoding)
        queue = self._queues[tx.sender]
        hashes = queue[tx.nonce]
        hashes.remove(tx_hash)
        if not hashes:
            del queue[tx.nonce]
            if not queue:
                del self._queues[tx.sender]
                del self._floors[tx.sender]

    def _remember(self, tx_hash: bytes, refusal: Refusal) -> None:
        self._refused[tx_hash] = refusal
        while len(self._refused) > _REMEMBERED_REFUSALS:
            self._refused.popitem(last=False)
