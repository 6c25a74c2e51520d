"""The validator process: one ``Replica`` driven by an asyncio loop, a real clock and real peers.

Effects are performed in order with one rule on top (docs/ledger.md, "Effects"): everything a
handler made durable-worthy (its ``PersistSafety``, its ``Commit``s, the certified chain above the
tip) is written in ONE SQLite transaction and committed (fsynced) before any ``Send`` or
``Broadcast`` of that handler leaves. ``SetTimer`` becomes ``loop.call_later``.

Restart: the committed state is rebuilt from the latest snapshot plus the stored blocks after it
(no certificate is re-verified: they were verified before being stored); the replica starts with
the stored tip as its root and the persisted ``SafetyState``, then the stored certified chain above
the tip is handed back to it as a local ``SyncResponse`` (its QCs verify again), so a validator
restarted together with all the others still knows the QC of its lock. A tip that ended an epoch
is re-committed the same way from its parent (the replica enters the new epoch itself).

Catch-up: the replica asks for missing blocks (``SyncRequest``) when it sees a certificate for a
block it lacks; this node answers such requests from its storage (committed blocks, any height)
plus the replica's certified chain. On every new link, and after each response that advanced the
tip without reaching the responder's certified chain, the node asks again: a restarted validator
fetches batches back to back. Every commit certificate is verified by the replica before a block
is applied, and every block is replayed (its state root recomputed) before it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ledger.consensus import (
    Block,
    Broadcast,
    CertifiedBlock,
    Commit,
    CommitCert,
    CommittedBlock,
    ConsensusError,
    DecodeError,
    Effect,
    InvalidMessage,
    Message,
    NewEpoch,
    PersistSafety,
    Proposal,
    QuorumCert,
    Replica,
    Send,
    SetTimer,
    SyncRequest,
    SyncResponse,
    TimeoutMsg,
    ValidatorInfo,
    ValidatorSet,
    Vote,
    decode,
)
from ledger.consensus.crypto import Backend
from ledger.consensus.types import ZERO_HASH
from ledger.simulation.byzantine import ByzantineBehaviour
from ledger.state import (
    INVALID_STATE_ROOT,
    MAX_BLOCK_BYTES,
    ErrorCode,
    Executor,
    LedgerStateError,
    State,
    Transaction,
    TxType,
    ValidatorAdd,
    apply_block,
    decode_snapshot,
    decode_transactions,
    encode_snapshot,
)

from .chain import ChainSpec
from .config import NodeConfig
from .faults import Byzantine
from .mempool import Mempool
from .storage import Storage, StorageError
from .transport import Transport
from .wire import CONSENSUS, TXS, ProtocolError, decode_txs, encode_txs

__all__ = ["Node", "now_ms"]

logger = logging.getLogger(__name__)

_MESSAGE_TYPES = (Proposal, Vote, TimeoutMsg, SyncRequest, SyncResponse)
#: Bytes of committed blocks per SyncResponse this node sends (the frame limit is larger).
_SYNC_BYTES_BUDGET = 8 << 20
_GOSSIP_DELAY_S = 0.01
_RETAIN_COMMITTED = 64

_WALL_AT_START = time.time()
_MONO_AT_START = time.monotonic()


def now_ms() -> int:
    """Wall-clock milliseconds that never go backwards in this process: block timestamps must be
    comparable across validators (the replica bounds clock drift) and monotonic here."""
    return int((_WALL_AT_START + (time.monotonic() - _MONO_AT_START)) * 1000)


class Node:
    """One validator; ``start``/``stop`` on a running loop. ``api.py`` serves its read methods."""

    def __init__(
        self, *, config: NodeConfig, spec: ChainSpec, secret_key: int, crypto: Backend
    ) -> None:
        self.config = config
        self.spec = spec
        self.crypto = crypto
        self.index = config.index
        self.params = config.params
        self.genesis_set, genesis = spec.verify(crypto)
        self.genesis_state = genesis
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.storage = Storage(
            Path(config.data_dir) / "node.sqlite3", genesis_hash=spec.genesis_block.hash
        )
        self._pops = {v.public_key: v.proof_of_possession for v in spec.validators}
        self._pops.update(self.storage.load_pops())
        self.storage.save_pops(self._pops)
        self.mempool = Mempool(max_txs=config.mempool_max_txs, nonce_window=config.nonce_window)
        # Blocks (by hash) we may need as parents or to rebuild a state; QCs we have seen.
        self._roots: dict[bytes, Block] = {}
        self._qcs: dict[bytes, QuorumCert] = {}
        self._pending_saved: QuorumCert | None = None
        self._restore(secret_key)
        self.byzantine = (
            Byzantine(
                config.byzantine,
                secret_key=secret_key,
                crypto=crypto,
                execute=self.executor.execute_root,
                get_block=lambda h: self.replica.get_block(h),
            )
            if config.byzantine
            else None
        )
        self.transport = Transport(
            chain_id=spec.chain_id,
            index=self.index,
            secret_key=secret_key,
            crypto=crypto,
            peers=list(config.peers),
            listen_host=config.listen_host,
            listen_port=config.listen_port,
            public_key_of=self._public_key_of,
            on_frame=self._on_frame,
        )
        self.transport.on_connected = self._on_connected
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._gossip: list[bytes] = []
        self._commit_event = asyncio.Event()
        self.rejected: dict[str, int] = {}
        self._started = False
        self._full_gc_timer: asyncio.TimerHandle | None = None
        self._snapshot_future: asyncio.Future[bytes] | None = None
        #: Garbage collection figures for ``GET /v1/status`` (see ``_full_gc``).
        self.gc_stats: dict[str, float] = {"full_collections": 0, "last_pause_ms": 0.0}

    # -- restart -----------------------------------------------------------------------------

    def _restore(self, secret_key: int) -> None:
        tip = self.storage.tip_height()
        state, parent_state = self.genesis_state, self.genesis_state
        first = 1
        snapshot = self.storage.latest_snapshot(tip - 1) if tip > 1 else None
        if snapshot is not None:
            height, data = snapshot
            stored = self.storage.get_block(height)
            if stored is None:
                raise StorageError(f"snapshot at {height} without its block")
            state = decode_snapshot(
                data, expected_root=stored.block.header.state_root, pop_verify=self.crypto.PopVerify
            )
            first = height + 1
        tip_block = self.spec.genesis_block
        for height in range(first, tip + 1):
            stored = self.storage.get_block(height)
            if stored is None:
                raise StorageError(f"block {height} missing below the tip {tip}")
            parent_state = state
            state, _ = apply_block(state, decode_transactions(stored.block.payload))
            if state.root != stored.block.header.state_root:
                raise StorageError(f"stored block {height} does not replay to its state root")
            tip_block = stored.block
        self._startup_commits: list[CommittedBlock] = []
        root_block, root_state = tip_block, state
        if tip > 0 and state.pending_validator_changes:
            # The tip ended an epoch: restart from its parent, re-commit it through the replica.
            stored = self.storage.get_block(tip)
            parent = self.storage.get_block(tip - 1) if tip > 1 else None
            assert stored is not None
            root_block = parent.block if parent is not None else self.spec.genesis_block
            root_state = parent_state
            self._startup_commits.append(CommittedBlock(stored.block, stored.cert))
        self.executor = Executor(root_state)
        self._tip_root = root_block.header.state_root
        self._roots[root_block.hash] = root_block
        vset = self._validator_set_for(root_state)
        self.replica = Replica(
            chain_id=self.spec.chain_id,
            index=self.index,
            secret_key=secret_key,
            validator_set=vset,
            genesis=root_block,
            crypto=self.crypto,
            params=self.params,
            safety=self.storage.load_safety(),
            payload_source=self._payload_source,
            execute=self._execute,
            on_reconfigure=self._on_reconfigure,
            # Storage keeps and serves the chain; memory holds only recent blocks.
            retain_committed=_RETAIN_COMMITTED,
        )
        self._startup_pending = self.storage.load_pending()
        logger.info("validator %d restored at height %d (epoch %d)", self.index, tip, vset.epoch)

    def _validator_set_for(self, state: State) -> ValidatorSet:
        if state.epoch == 0:
            return self.genesis_set
        infos = [
            ValidatorInfo(i, v.bls_public_key, self._pops[v.bls_public_key], v.org_id)
            for i, v in enumerate(state.validator_set)
        ]
        return ValidatorSet(infos, crypto=self.crypto, epoch=state.epoch)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.transport.start()
        effects: list[Effect] = []
        chain = [CertifiedBlock(b, q) for b, q in self._startup_pending]
        if self._startup_commits or chain:
            response = SyncResponse(tuple(self._startup_commits), tuple(chain))
            self._learn(response)
            self._prewarm(response)
            try:
                effects += self.replica.on_sync_response(self.index, response, now_ms())
            except InvalidMessage as exc:
                logger.warning("stored certified chain not usable after restart: %s", exc)
        effects += self.replica.start(now_ms())
        self._started = True
        self._apply(effects)
        gc.freeze()  # the restored state
        self._schedule_full_gc()

    async def stop(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._full_gc_timer is not None:
            self._full_gc_timer.cancel()
        gc.unfreeze()  # the process may go on without this node (tests run nodes in process)
        if self._snapshot_future is not None:
            with contextlib.suppress(Exception):
                await self._snapshot_future  # stored before the file closes
            await asyncio.sleep(0)  # its done-callback (the write) runs now
        await self.transport.stop()
        self.storage.close()

    # -- garbage collection ------------------------------------------------------------------
    #
    # CPython's full collections scan every tracked object; the state grows with the chain
    # (every anchor, account, grant is a few objects), so they stalled a validator's loop for
    # 150-760 ms every few seconds under load (measured with a gc callback at 2,000 tx/s), which
    # was most of the p99 finality. So each commit freezes what is alive (``gc.freeze``: moved to
    # the permanent generation, never scanned again; reference counting still frees it when it
    # dies) and young collections only see new objects. The price: a reference cycle frozen
    # while alive is not collected when it dies; one full collection every ``full_gc_every_s``
    # reclaims those (a pause, but one in minutes instead of one every few seconds).

    def _schedule_full_gc(self) -> None:
        loop = asyncio.get_running_loop()
        self._full_gc_timer = loop.call_later(self.config.full_gc_every_s, self._full_gc)

    def _full_gc(self) -> None:
        started = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        pause_ms = 1000 * (time.perf_counter() - started)
        self.gc_stats["full_collections"] += 1
        self.gc_stats["last_pause_ms"] = round(pause_ms, 1)
        self.gc_stats["last_collected"] = collected
        logger.info(
            "validator %d: full collection freed %d objects in %.0f ms",
            self.index, collected, pause_ms,
        )  # fmt: skip
        self._schedule_full_gc()

    # -- the replica's hooks -----------------------------------------------------------------

    def _payload_source(self, limit: int) -> Sequence[bytes]:
        """The leader's transactions, built on the state of the block it extends (the high QC's
        block, exactly what ``build_proposal`` takes as parent)."""
        if self.byzantine is not None and self.byzantine.behaviour is ByzantineBehaviour.EQUIVOCATE:
            return ()  # keeps the twin (empty) and the original equally valid
        parent = self.replica.get_block(self.replica.high_qc.block_hash)
        if parent is None or not len(self.mempool):
            return ()
        try:
            parent_state = self.executor.state(parent.header.state_root)
            candidates = self.mempool.candidates(self.params.max_block_txs, parent_state.next_nonce)
            proposal = self.executor.propose(
                parent.header.state_root,
                candidates,
                max_block_bytes=min(limit, MAX_BLOCK_BYTES),
                max_transactions=self.params.max_block_txs,
            )
        except LookupError:
            return ()
        for tx, error in proposal.excluded:
            # A used or future nonce may be fine on another branch or later: keep it.
            if error.code != ErrorCode.BAD_NONCE:
                self.mempool.drop(tx.tx_hash, error)
        return [tx.encoding for tx in proposal.transactions]

    def _execute(self, parent_state_root: bytes, payload: Sequence[bytes]) -> bytes:
        """``Executor.execute_root`` (never raises), reusing the mempool's decoded copies of
        transactions we already admitted: decoding is a large part of a transaction's cost."""
        hashes = [hashlib.sha256(data).digest() for data in payload]
        known_root = self.executor.known_root(parent_state_root, hashes)
        if known_root is not None:
            return known_root
        try:
            txs = []
            for data, tx_hash in zip(payload, hashes, strict=True):
                known = self.mempool.get(tx_hash)
                txs.append(known if known is not None else Transaction.decode(data))
            if not self._has_state(parent_state_root):
                self._rebuild_state(parent_state_root)
            return self.executor.execute(parent_state_root, txs).state_root
        except (LedgerStateError, LookupError):
            return INVALID_STATE_ROOT  # not remembered: an unknown parent may arrive later

    def _has_state(self, state_root: bytes) -> bool:
        try:
            self.executor.state(state_root)
        except LookupError:
            return False
        return True

    def _rebuild_state(self, state_root: bytes) -> None:
        """Re-execute known blocks from the nearest ancestor whose state we hold up to the block
        with ``state_root`` (a block the replica holds but that was never executed here, e.g.
        one that arrived by sync before its parent's state existed). Raises LookupError."""
        by_root = {b.header.state_root: b for b in self._roots.values()}
        chain: list[Block] = []
        root = state_root
        while not self._has_state(root):
            block = by_root.get(root)
            parent = None if block is None else self._roots.get(block.parent_hash)
            if block is None or parent is None or len(chain) > 1000:
                raise LookupError(f"cannot rebuild state {state_root.hex()[:16]}")
            chain.append(block)
            root = parent.header.state_root
        logger.warning(
            "validator %d re-executes %d block(s) to rebuild a state", self.index, len(chain)
        )
        for block in reversed(chain):
            parent_root = self._roots[block.parent_hash].header.state_root
            self.executor.execute(parent_root, decode_transactions(block.payload))

    def _on_reconfigure(self, block: Block) -> ValidatorSet | None:
        """Replay every committed block (sync commits were never executed here), then report the
        next epoch's validator set if the block ended the epoch."""
        parent = self._roots.get(block.parent_hash)
        if parent is None:
            self._halt(f"committed block {block.height} has an unknown parent")
        if self._execute(parent.header.state_root, block.payload) != block.header.state_root:
            self._halt(f"certified block {block.height} does not replay to its state root")
        self._roots[block.hash] = block
        validators = self.executor.reconfiguration(block.header.state_root)
        if validators is None:
            return None
        self._learn_pops(block)
        infos = []
        for i, v in enumerate(validators):
            pop = self._pops.get(v.bls_public_key)
            if pop is None:
                self._halt(f"no proof of possession for {v.org_id}")
            infos.append(ValidatorInfo(i, v.bls_public_key, pop, v.org_id))
        return self.replica.validator_set.successor(infos, epoch=self.replica.epoch + 1)

    def _learn_pops(self, block: Block) -> None:
        """Proofs of possession of keys added in this epoch (this block and stored ones)."""
        blocks = [block]
        height = self.storage.tip_height()
        while height > 0:
            stored = self.storage.get_block(height)
            if stored is None or stored.block.epoch != block.epoch:
                break
            blocks.append(stored.block)
            height -= 1
        for b in blocks:
            for tx in decode_transactions(b.payload):
                if tx.type is TxType.VALIDATOR_ADD and isinstance(tx.payload, ValidatorAdd):
                    self._pops[tx.payload.bls_public_key] = tx.payload.proof_of_possession
        self.storage.save_pops(self._pops)

    def _halt(self, why: str) -> NoReturn:
        """This validator disagrees with a quorum-certified fact: stop, never vote on."""
        logger.critical("validator %d halts: %s", self.index, why)
        logging.shutdown()
        os._exit(70)

    def _public_key_of(self, index: int) -> bytes | None:
        vset = self.replica.validator_set
        if 0 <= index < vset.n:
            return vset.public_key(index)
        if 0 <= index < self.genesis_set.n:
            return self.genesis_set.public_key(index)
        return None

    # -- performing effects ------------------------------------------------------------------

    def _apply(self, effects: list[Effect]) -> None:
        commits = [e for e in effects if isinstance(e, Commit)]
        safety = [e.state for e in effects if isinstance(e, PersistSafety)]
        committed_hashes: list[bytes] = []
        if not safety and not commits and self.replica.high_qc == self._pending_saved:
            self._perform(effects)  # nothing to make durable first
            return
        try:
            with self.storage.batch():
                if safety:
                    self.storage.save_safety(safety[-1])
                for c in commits:
                    committed_hashes += self._record_commit(c.block, c.cert)
                self._save_pending()
        except (StorageError, sqlite3.Error, OSError) as exc:
            self._halt(f"storage failed: {exc!r}")  # never send what is not durable
        # Durable: now the votes and timeouts that depend on it may leave.
        self._perform(effects)
        if commits:
            self.mempool.remove_committed(self.executor.committed, committed_hashes)
            self._commit_event.set()
            self._commit_event = asyncio.Event()
            gc.freeze()  # the committed state is long-lived: no collection scans it again

    def _perform(self, effects: list[Effect]) -> None:
        """Send, broadcast and arm timers (after whatever they depend on is durable)."""
        for effect in effects:
            if isinstance(effect, Send):
                self._send(effect.to, effect.message)
            elif isinstance(effect, Broadcast):
                self._learn(effect.message)
                if self._is_idle_proposal(effect.message):
                    asyncio.get_running_loop().call_later(
                        self.config.idle_block_delay_ms / 1000, self._broadcast, effect.message
                    )
                else:
                    self._broadcast(effect.message)
            elif isinstance(effect, SetTimer):
                self._set_timer(effect.at_ms)
            elif isinstance(effect, NewEpoch):
                logger.info("validator %d entered epoch %d", self.index, effect.epoch)

    def _record_commit(self, block: Block, cert: CommitCert) -> list[bytes]:
        """Store a committed block with its receipts and prune the executor; a block at a
        stored height must be the stored one (a re-commit after restart)."""
        tip = self.storage.tip_height()
        if block.height <= tip:
            stored = self.storage.get_block(block.height)
            if stored is None or stored.block.hash != block.hash:
                self._halt(f"conflicting commit at height {block.height}")
            self.executor.commit(block.header.state_root)
            self._tip_root = block.header.state_root
            return []
        # ``_on_reconfigure`` replayed it to its state root before the replica committed it.
        if not self._has_state(block.header.state_root):
            self._halt(f"committed block {block.height} was never replayed here")
        receipts = self.executor.receipts(block.header.state_root)
        self.storage.save_block(block, cert, receipts)
        state = self.executor.commit(block.header.state_root)
        self._tip_root = block.header.state_root
        if block.height % self.config.snapshot_every == 0 and not state.pending_validator_changes:
            self._snapshot(block.height, state)
        self._roots = {h: v for h, v in self._roots.items() if v.height >= block.height}
        return [r.tx_hash for r in receipts]

    def _snapshot(self, height: int, state: State) -> None:
        """Store the committed state at ``height`` for faster restarts. Encoding takes 200 ms at
        60,000 state entries and grows with the state, so it runs on a worker thread (states are
        immutable) and only the write comes back to the loop; one at a time, a snapshot due
        while another is encoding is skipped (restart then replays a few more blocks)."""
        if self._snapshot_future is not None and not self._snapshot_future.done():
            return
        future = asyncio.get_running_loop().run_in_executor(None, encode_snapshot, state)
        self._snapshot_future = future

        def store(done: asyncio.Future[bytes]) -> None:
            try:
                self.storage.save_snapshot(height, done.result())
            except (StorageError, sqlite3.Error, OSError, ValueError, asyncio.CancelledError):
                logger.exception("validator %d: snapshot at %d not stored", self.index, height)

        future.add_done_callback(store)

    def _save_pending(self) -> None:
        """Persist the certified chain from the tip to the high QC when the high QC moved."""
        high = self.replica.high_qc
        self._qcs[high.block_hash] = high
        if high == self._pending_saved:
            return
        tip = self.storage.tip_height()
        chain: list[tuple[Block, QuorumCert]] = []
        block = self.replica.get_block(high.block_hash)
        while block is not None and block.height > tip:
            chain.append((block, self._qcs.get(block.hash) or high))
            block = self.replica.get_block(block.parent_hash)
        chain.reverse()
        usable: list[tuple[Block, QuorumCert]] = []
        for b, qc in chain:
            if qc.block_hash != b.hash:
                break
            usable.append((b, qc))
        self.storage.save_pending(usable)
        self._pending_saved = high
        if len(self._qcs) > 256:
            self._qcs = {h: q for h, q in self._qcs.items() if self.replica.get_block(h)}

    def _is_idle_proposal(self, message: Message) -> bool:
        """An empty proposal whose parent and grandparent are empty too: the chain is idle, so
        it waits ``idle_block_delay_ms`` (less than a round timeout) instead of spinning. The
        two blocks after a non-empty one go at once, so that block commits without delay."""
        if not isinstance(message, Proposal) or message.block.payload:
            return False
        if self.config.idle_block_delay_ms <= 0:
            return False
        parent = self.replica.get_block(message.block.parent_hash)
        if parent is not None and parent.payload:
            return False
        grandparent = None if parent is None else self.replica.get_block(parent.parent_hash)
        return grandparent is None or not grandparent.payload

    def _broadcast(self, message: Message) -> None:
        for peer in self._peer_indices():
            self._send(peer, message)

    def _peer_indices(self) -> list[int]:
        return [i for i in range(self.replica.validator_set.n) if i != self.index]

    def _send(self, to: int, message: Message) -> None:
        if self.byzantine is not None:
            message = self.byzantine.outgoing(to, message)
        self.transport.send(to, CONSENSUS, message.encoded)

    def _set_timer(self, at_ms: int) -> None:
        if at_ms in self._timers:
            return
        delay = max(0.0, (at_ms - now_ms()) / 1000)
        loop = asyncio.get_running_loop()
        self._timers[at_ms] = loop.call_later(delay, self._tick, at_ms)

    def _tick(self, at_ms: int) -> None:
        self._timers.pop(at_ms, None)
        try:
            self._run(lambda: self.replica.on_tick(now_ms()))
        except Exception:  # keep the loop alive; the next timer retries
            logger.exception("tick failed")

    def _run(self, handler: object) -> None:
        try:
            effects = handler()  # type: ignore[operator]
        except InvalidMessage as exc:
            name = type(exc).__name__
            self.rejected[name] = self.rejected.get(name, 0) + 1
            logger.debug("rejected: %s", exc)
            return
        except ConsensusError as exc:
            logger.warning("consensus error: %s", exc)
            return
        except Exception:  # a bug in one handler must not stop the loop or lose the timer
            logger.exception("replica handler failed")
            self._set_timer(now_ms() + self.params.base_timeout_ms)
            return
        self._apply(effects)

    # -- incoming frames ---------------------------------------------------------------------

    def _on_frame(self, peer: int, kind: int, body: bytes) -> None:
        if kind == CONSENSUS:
            try:
                message = decode(body)
            except DecodeError as exc:
                raise ProtocolError(f"undecodable consensus message: {exc}") from None
            if not isinstance(message, _MESSAGE_TYPES):
                raise ProtocolError(f"{type(message).__name__} is not a message")
            try:
                self._on_message(peer, message)
            except Exception:  # a bug must not take the link (or the node) down
                logger.exception("error handling %s from %d", type(message).__name__, peer)
        elif kind == TXS:
            for data in decode_txs(body):
                if hashlib.sha256(data).digest() not in self.mempool:
                    self._admit(data, gossip=False)
        else:
            raise ProtocolError(f"unknown frame kind {kind}")

    def _on_message(self, peer: int, message: Message) -> None:
        self._learn(message)
        if isinstance(message, SyncRequest):
            self._answer_sync(peer, message)
            return
        before = self.storage.tip_height()
        if isinstance(message, SyncResponse):
            self._prewarm(message)
        self._run(lambda: self.replica.on_message(peer, message, now_ms()))
        if (
            isinstance(message, SyncResponse)
            and message.committed
            and not message.certified
            and self.storage.tip_height() > before
        ):
            self._request_sync(peer)  # the responder has more: fetch the next batch now

    def _learn(self, message: Message) -> None:
        """Remember QCs and block state roots the replica's hooks and the pending chain need."""
        if isinstance(message, Proposal):
            self._qcs[message.qc.block_hash] = message.qc
            b = message.block
            self._roots.setdefault(b.hash, b)
        elif isinstance(message, TimeoutMsg):
            self._qcs[message.high_qc.block_hash] = message.high_qc
        elif isinstance(message, SyncResponse):
            for item in message.committed:
                b = item.block
                self._roots.setdefault(b.hash, b)
            for entry in message.certified:
                b = entry.block
                self._qcs[b.hash] = entry.qc
                self._roots.setdefault(b.hash, b)

    def _prewarm(self, response: SyncResponse) -> None:
        """Execute every block of a response, in order, before the replica sees it: it inserts
        certified blocks without executing them, and a proposal extending one (maybe a buffered
        proposal retried in the same handler, maybe our own) needs its state. Executing before
        the certificates are checked costs at most one frame of work from an authenticated
        validator."""
        blocks = [item.block for item in response.committed]
        blocks += [entry.block for entry in response.certified]
        tip = self.storage.tip_height()
        for block in blocks:
            parent = self._roots.get(block.parent_hash)
            # Another peer's response may start below our tip: skip what we already committed.
            if block.height > tip and parent is not None:
                self._execute(parent.header.state_root, block.payload)

    def _answer_sync(self, peer: int, request: SyncRequest) -> None:
        """Committed blocks from storage (any height), then the replica's certified chain."""
        tip = self.storage.tip_height()
        if request.committed_height > tip:
            return
        first = request.committed_height + 1
        last = min(tip, request.committed_height + self.params.sync_max_blocks)
        committed: list[CommittedBlock] = []
        size = 0
        for raw_block, raw_cert in self.storage.get_raw_blocks(first, last):
            size += len(raw_block) + len(raw_cert)
            if committed and size > _SYNC_BYTES_BUDGET:
                break
            committed.append(CommittedBlock(decode(raw_block), decode(raw_cert)))
        certified: tuple[CertifiedBlock, ...] = ()
        room = self.params.sync_max_blocks - len(committed)
        if room > 0 and (not committed or committed[-1].block.height == tip):
            own = SyncRequest(request.epoch, tip, request.target_hash)
            for effect in self.replica.on_sync_request(peer, own, now_ms()):
                if isinstance(effect, Send) and isinstance(effect.message, SyncResponse):
                    certified = effect.message.certified[:room]
        self.transport.send(peer, CONSENSUS, SyncResponse(tuple(committed), certified).encoded)

    def _request_sync(self, peer: int) -> None:
        request = SyncRequest(self.replica.epoch, self.storage.tip_height(), ZERO_HASH)
        self.transport.send(peer, CONSENSUS, request.encoded)

    def _on_connected(self, peer: int) -> None:
        if self._started:
            self._request_sync(peer)

    # -- transactions ------------------------------------------------------------------------

    def _admit(self, data: bytes | Transaction, *, gossip: bool) -> object:
        """Mempool admission (raises for the API); gossip newly admitted ones to the peers."""
        try:
            admission = self.mempool.add(data, self.executor.committed)
        except Exception:
            if gossip:
                raise
            return None
        if gossip and not admission.duplicate:
            if not self._gossip:
                asyncio.get_running_loop().call_later(_GOSSIP_DELAY_S, self._flush_gossip)
            self._gossip.append(admission.tx.encoding)
        return admission

    def _flush_gossip(self) -> None:
        batch, self._gossip = self._gossip, []
        if batch:
            self.transport.broadcast(TXS, encode_txs(batch))

    def submit(self, data: bytes | Transaction) -> object:
        """``POST /v1/txs``: admit and gossip (raises InvalidTransaction / MempoolFull)."""
        return self._admit(data, gossip=True)

    async def wait_for_commit(self, timeout: float) -> None:
        """Return after the next commit (or the timeout)."""
        event = self._commit_event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def partition(self, peers: list[int], duration_s: float) -> None:
        self.transport.partition(peers, duration_s)
