"""One validator's durable storage: a SQLite file in WAL mode with ``synchronous=FULL``.

Tables:

- ``meta``: the ``SafetyState`` (written, and fsynced by the commit, before any vote or timeout
  that depends on it leaves the process), and the genesis hash the file belongs to;
- ``blocks``: committed blocks by height with their commit certificate and receipts;
- ``txs``: the transaction index (hash -> height, position, status, code, reason);
- ``pending``: the certified chain above the last committed block (blocks with their QCs), so a
  validator restarted together with all the others can still report its lock's QC (liveness);
- ``snapshots``: the committed state every ``snapshot_every`` blocks (``ledger.state.snapshot``),
  so a restart replays at most that many blocks instead of the whole chain;
- ``pops``: BLS proofs of possession of every validator key seen (genesis and ``validator_add``),
  needed to build the consensus validator set of a later epoch from the state.

Everything one replica handler causes is written in one transaction (``batch``): the node calls
``commit`` once, then sends. Blocking sqlite3 calls on the event loop are deliberate: they are
short, and the order "durable, then send" is what matters.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ledger.consensus import Block, CommitCert, QuorumCert, SafetyState, decode, encode
from ledger.state import Receipt, ReceiptStatus
from ledger.state.errors import ErrorCode

__all__ = ["Storage", "StorageError", "StoredBlock", "TxRecord"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, block BLOB NOT NULL,
    cert BLOB NOT NULL, receipts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS txs (
    hash BLOB PRIMARY KEY, height INTEGER NOT NULL, position INTEGER NOT NULL,
    status TEXT NOT NULL, code TEXT, reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (position INTEGER PRIMARY KEY, block BLOB, qc BLOB);
CREATE TABLE IF NOT EXISTS snapshots (height INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pops (public_key BLOB PRIMARY KEY, pop BLOB NOT NULL);
"""


class StorageError(RuntimeError):
    """The file belongs to another chain, or its content is inconsistent."""


@dataclass(frozen=True)
class StoredBlock:
    """A committed block as stored: the block, its commit certificate and its receipts."""

    block: Block
    cert: CommitCert
    receipts: tuple[Receipt, ...]


@dataclass(frozen=True)
class TxRecord:
    """Where a committed transaction is and how it ended."""

    tx_hash: bytes
    height: int
    position: int
    status: str
    code: str | None
    reason: str


def _receipts_json(receipts: Sequence[Receipt]) -> str:
    return json.dumps(
        [[r.tx_hash.hex(), str(r.status), r.code, r.height, r.index, r.reason] for r in receipts]
    )


def _receipts_from_json(text: str) -> tuple[Receipt, ...]:
    return tuple(
        Receipt(
            bytes.fromhex(h),
            ReceiptStatus(status),
            None if code is None else ErrorCode(code),
            height,
            index,
            reason,
        )
        for h, status, code, height, index, reason in json.loads(text)
    )


class Storage:
    """The SQLite file of one validator; not thread-safe (one event loop uses it)."""

    def __init__(self, path: Path | str, *, genesis_hash: bytes) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk (WAL fsynced) when it returns; the safety state needs that.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._in_batch = False
        # The stored tip, read on every consensus message: cached, set by ``save_block`` (the only
        # writer of ``blocks``) and forgotten when a transaction rolls back.
        self._tip: int | None = None
        found = self._meta("genesis")
        if found is None:
            with self.batch():
                self._set_meta("genesis", genesis_hash.hex())
        elif found != genesis_hash.hex():
            raise StorageError(f"{path} belongs to another chain (genesis {found[:16]}...)")

    def close(self) -> None:
        self._db.close()

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One durable transaction; nested calls join the outer one."""
        if self._in_batch:
            yield
            return
        self._in_batch = True
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            self._tip = None
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._in_batch = False

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- safety ------------------------------------------------------------------------------

    def load_safety(self) -> SafetyState | None:
        text = self._meta("safety")
        if text is None:
            return None
        values = json.loads(text)
        e, lv, pr, ht = values[:4]
        # The certificates that justify the lock and the round (seeds 102/965 of the simulator:
        # a restarted replica that lost them could neither vote nor time out). Older rows have
        # only the four rounds.
        high_qc = decode(bytes.fromhex(values[4])) if len(values) > 4 and values[4] else None
        last_tc = decode(bytes.fromhex(values[5])) if len(values) > 5 and values[5] else None
        return SafetyState(e, lv, pr, ht, high_qc=high_qc, last_tc=last_tc)

    def save_safety(self, state: SafetyState) -> None:
        value = [
            state.epoch,
            state.last_voted_round,
            state.preferred_round,
            state.highest_timeout_round,
            encode(state.high_qc).hex() if state.high_qc is not None else None,
            encode(state.last_tc).hex() if state.last_tc is not None else None,
        ]
        with self.batch():
            self._set_meta("safety", json.dumps(value))

    # -- blocks ------------------------------------------------------------------------------

    def save_block(self, block: Block, cert: CommitCert, receipts: Sequence[Receipt]) -> None:
        """Store a committed block (height must be tip + 1) and index its transactions."""
        with self.batch():
            tip = self.tip_height()
            if block.height != tip + 1:
                raise StorageError(f"block {block.height} does not follow the stored tip {tip}")
            self._db.execute(
                "INSERT INTO blocks (height, hash, block, cert, receipts) VALUES (?, ?, ?, ?, ?)",
                (block.height, block.hash, block.encoded, cert.encoded, _receipts_json(receipts)),
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO txs (hash, height, position, status, code, reason) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (r.tx_hash, block.height, r.index, str(r.status), r.code, r.reason)
                    for r in receipts
                ],
            )
            self._tip = block.height

    def tip_height(self) -> int:
        """Height of the last stored committed block (0 = only genesis)."""
        if self._tip is None:
            row = self._db.execute("SELECT MAX(height) FROM blocks").fetchone()
            self._tip = 0 if row[0] is None else int(row[0])
        return self._tip

    def get_block(self, height: int) -> StoredBlock | None:
        row = self._db.execute(
            "SELECT block, cert, receipts FROM blocks WHERE height = ?", (height,)
        ).fetchone()
        if row is None:
            return None
        return StoredBlock(
            decode(bytes(row[0])), decode(bytes(row[1])), _receipts_from_json(row[2])
        )

    def get_raw_blocks(self, first: int, last: int) -> list[tuple[bytes, bytes]]:
        """(encoded block, encoded certificate) for heights first..last, in order."""
        rows = self._db.execute(
            "SELECT block, cert FROM blocks WHERE height BETWEEN ? AND ? ORDER BY height",
            (first, last),
        ).fetchall()
        return [(bytes(b), bytes(c)) for b, c in rows]

    def get_tx(self, tx_hash: bytes) -> TxRecord | None:
        row = self._db.execute(
            "SELECT height, position, status, code, reason FROM txs WHERE hash = ?", (tx_hash,)
        ).fetchone()
        if row is None:
            return None
        return TxRecord(tx_hash, int(row[0]), int(row[1]), str(row[2]), row[3], str(row[4]))

    # -- the certified chain above the tip -----------------------------------------------------

    def save_pending(self, chain: Sequence[tuple[Block, QuorumCert]]) -> None:
        with self.batch():
            self._db.execute("DELETE FROM pending")
            self._db.executemany(
                "INSERT INTO pending (position, block, qc) VALUES (?, ?, ?)",
                [(i, b.encoded, q.encoded) for i, (b, q) in enumerate(chain)],
            )

    def load_pending(self) -> list[tuple[Block, QuorumCert]]:
        rows = self._db.execute("SELECT block, qc FROM pending ORDER BY position").fetchall()
        return [(decode(bytes(b)), decode(bytes(q))) for b, q in rows]

    # -- snapshots and proofs of possession ----------------------------------------------------

    def save_snapshot(self, height: int, data: bytes, *, keep: int = 2) -> None:
        with self.batch():
            self._db.execute(
                "INSERT OR REPLACE INTO snapshots (height, data) VALUES (?, ?)", (height, data)
            )
            self._db.execute(
                "DELETE FROM snapshots WHERE height NOT IN "
                "(SELECT height FROM snapshots ORDER BY height DESC LIMIT ?)",
                (keep,),
            )

    def latest_snapshot(self, at_most: int) -> tuple[int, bytes] | None:
        row = self._db.execute(
            "SELECT height, data FROM snapshots WHERE height <= ? ORDER BY height DESC LIMIT 1",
            (at_most,),
        ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def save_pops(self, pops: dict[bytes, bytes]) -> None:
        with self.batch():
            self._db.executemany(
                "INSERT OR IGNORE INTO pops (public_key, pop) VALUES (?, ?)", list(pops.items())
            )

    def load_pops(self) -> dict[bytes, bytes]:
        return {bytes(k): bytes(v) for k, v in self._db.execute("SELECT public_key, pop FROM pops")}
