"""The mempool: transactions admitted at the door and waiting for a block.

- Admission (``add``): decode (``malformed`` / ``oversize``), dedup by hash, then
  ``validate_tx(committed_state, tx, nonce_window=...)`` (``wrong_chain``, ``unknown_sender``,
  ``bad_nonce``, ``bad_signature``). The refusal carries the state's ``ErrorCode``.
- Bounded: at most ``max_txs`` transactions and ``max_bytes`` bytes; a full pool refuses
  (``MempoolFull``) rather than evicting what others already queued.
- ``candidates(limit)``: what a leader offers ``Executor.propose``, in (nonce, arrival) order so a
  sender's transactions come in nonce order and senders interleave.
- ``remove_committed`` drops transactions whose nonce the committed state has used (committed, or
  superseded by another transaction with that nonce); ``drop`` removes those a proposal found
  invalid at the door (e.g. a rotated key), remembering why for ``GET /v1/txs/<hash>``.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterable
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
    """See the module docstring. Not thread-safe: the node's event loop owns it."""

    def __init__(
        self, *, max_txs: int = 50_000, max_bytes: int = 64 << 20, nonce_window: int = 1024
    ):
        self._max_txs = max_txs
        self._max_bytes = max_bytes
        self._nonce_window = nonce_window
        self._txs: dict[bytes, tuple[int, Transaction]] = {}
        self._bytes = 0
        self._seq = itertools.count()
        self._refused: OrderedDict[bytes, Refusal] = OrderedDict()

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._txs

    def add(self, data: bytes | Transaction, state: State) -> Admission:
        """Admit a transaction (encoded, or already decoded); ``InvalidTransaction`` (with its
        code) or ``MempoolFull`` when refused."""
        tx = data if isinstance(data, Transaction) else Transaction.decode(data)
        if tx.tx_hash in self._txs:
            return Admission(tx, duplicate=True)
        validate_tx(state, tx, nonce_window=self._nonce_window)
        if len(self._txs) >= self._max_txs or self._bytes + len(tx.encoding) > self._max_bytes:
            raise MempoolFull(f"mempool holds {len(self._txs)} transactions")
        self._txs[tx.tx_hash] = (next(self._seq), tx)
        self._bytes += len(tx.encoding)
        self._refused.pop(tx.tx_hash, None)
        return Admission(tx, duplicate=False)

    def get(self, tx_hash: bytes) -> Transaction | None:
        item = self._txs.get(tx_hash)
        return None if item is None else item[1]

    def candidates(self, limit: int) -> list[Transaction]:
        """Up to ``limit`` transactions in (nonce, arrival) order."""
        ordered = sorted(self._txs.values(), key=lambda item: (item[1].nonce, item[0]))
        return [tx for _, tx in ordered[:limit]]

    def remove_committed(self, state: State, committed: Iterable[bytes]) -> None:
        """Forget committed transactions and those whose nonce is now used."""
        committed_set = set(committed)
        for tx_hash in committed_set:
            self._remove(tx_hash)
        stale = []
        nonces: dict[str, int] = {}
        for tx_hash, (_, tx) in self._txs.items():
            if tx.sender not in nonces:
                nonces[tx.sender] = state.next_nonce(tx.sender)
            if tx.nonce < nonces[tx.sender]:
                stale.append(tx_hash)
        for tx_hash in stale:
            self._remove(tx_hash)
            self._remember(
                tx_hash,
                Refusal(str(ErrorCode.BAD_NONCE), "another transaction used this nonce"),
            )

    def drop(self, tx_hash: bytes, error: InvalidTransaction) -> None:
        """Remove a transaction found invalid at the door when a block was built."""
        if tx_hash in self._txs:
            self._remove(tx_hash)
            self._remember(tx_hash, Refusal(str(error.code), error.reason))

    def refusal(self, tx_hash: bytes) -> Refusal | None:
        """Why a transaction that was in the pool was dropped, if it was (bounded memory)."""
        return self._refused.get(tx_hash)

    def _remove(self, tx_hash: bytes) -> None:
        item = self._txs.pop(tx_hash, None)
        if item is not None:
            self._bytes -= len(item[1].encoding)

    def _remember(self, tx_hash: bytes, refusal: Refusal) -> None:
        self._refused[tx_hash] = refusal
        while len(self._refused) > _REMEMBERED_REFUSALS:
            self._refused.popitem(last=False)
