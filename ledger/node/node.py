"""The validator process: one ``Replica`` driven by an asyncio loop, a real clock and real peers.

Effects are performed in order with one rule on top (docs/ledger.md, "Effects"): everything a
handler made durable-worthy (its ``PersistSafety``, its ``Commit``s, the certified chain above the
tip) is written in ONE SQLite transaction and committed (fsynced) before any ``Send`` or
``Broadcast`` of that handler leaves. ``SetTimer`` becomes ``loop.call_later``.

Restart (``restore.py``): the committed state is rebuilt from storage; the replica starts with
the stored tip as its root and the persisted ``SafetyState``, then the stored certified chain above
the tip is handed back to it as a local ``SyncResponse`` (its QCs verify again), so a validator
restarted together with all the others still knows the QC of its lock. A tip that ended an epoch
is re-committed the same way from its parent (the replica enters the new epoch itself).

Catch-up: the replica asks for missing blocks (``SyncRequest``) when it sees a certificate for a
block it lacks; this node answers such requests from its storage (``sync_server.py``). On every
new link, and after each response that advanced the tip without reaching the responder's
certified chain, the node asks again: a restarted validator fetches batches back to back. Every
commit certificate is verified by the replica before a block is applied, and every block is
replayed (its state root recomputed) before it is stored.

Blocks and QCs kept beside the replica live in a ``BlockCache`` (``cache.py``); test-only faults
wrap the transport and the payload source (``faults.py``), so the node has no fault checks.
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from ledger.consensus import (
    Block,
    Broadcast,
    CertifiedBlock,
    Commit,
    CommitCert,
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
    decode_transactions,
    encode_snapshot,
)

from .cache import BlockCache
from .chain import ChainSpec
from .collector import FullCollector
from .config import NodeConfig
from .faults import Byzantine, ByzantineTransport, PayloadSource
from .mempool import Admission, Mempool
from .restore import restore_chain, validator_set_for
from .storage import Storage, StorageError
from .sync_server import build_sync_response
from .transport import Transport
from .wire import CONSENSUS, TXS, ProtocolError, decode_txs, encode_txs

__all__ = ["Node", "now_ms"]

logger = logging.getLogger(__name__)

_MESSAGE_TYPES = (Proposal, Vote, TimeoutMsg, SyncRequest, SyncResponse)
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
        self.cache = BlockCache()
        # The clock reading handed to the replica's running handler: a proposal it builds is
        # stamped max(this, parent + 1), so the leader's payload is executed at that time once.
        self._handler_now = 0
        self._pending_saved: QuorumCert | None = None
        restored = restore_chain(self.storage, spec, genesis, crypto)
        self.executor = Executor(restored.root_state)
        self.cache.add_block(restored.root_block)
        self._startup_commits = restored.startup_commits
        self.byzantine = (
            Byzantine(
                config.byzantine,
                secret_key=secret_key,
                crypto=crypto,
                execute=self.executor.execute_root,
                get_block=lambda h: self.replica.get_block(h),
            )
            if config.byzantine is not None
            else None
        )
        payload_source: PayloadSource = self._payload_source
        if self.byzantine is not None:
            payload_source = self.byzantine.payload_source(payload_source)
        vset = validator_set_for(
            restored.root_state, genesis_set=self.genesis_set, pops=self._pops, crypto=crypto
        )
        self.replica = Replica(
            chain_id=spec.chain_id,
            index=self.index,
            secret_key=secret_key,
            validator_set=vset,
            genesis=restored.root_block,
            crypto=crypto,
            params=self.params,
            safety=self.storage.load_safety(),
            payload_source=payload_source,
            execute=self._execute,
            on_reconfigure=self._on_reconfigure,
            # Storage keeps and serves the chain; memory holds only recent blocks.
            retain_committed=_RETAIN_COMMITTED,
        )
        self._startup_pending = self.storage.load_pending()
        logger.info(
            "validator %d restored at height %d (epoch %d)", self.index, restored.tip, vset.epoch
        )
        transport = Transport(
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
        transport.on_connected = self._on_connected
        self.transport: Transport | ByzantineTransport = (
            transport if self.byzantine is None else ByzantineTransport(transport, self.byzantine)
        )
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._gossip: list[bytes] = []
        self._commit_event = asyncio.Event()
        self.rejected: dict[str, int] = {}
        self._started = False
        self._snapshot_future: asyncio.Future[bytes] | None = None
        self._collector = FullCollector(index=self.index, every_s=config.full_gc_every_s)
        #: Garbage collection figures for ``GET /v1/status`` (``collector.py``).
        self.gc_stats = self._collector.stats

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.transport.start()
        effects: list[Effect] = []
        chain = [CertifiedBlock(b, q) for b, q in self._startup_pending]
        if self._startup_commits or chain:
            response = SyncResponse(self._startup_commits, tuple(chain))
            self._learn(response)
            self._prewarm(response)
            try:
                effects += self.replica.on_sync_response(self.index, response, self._clock())
            except InvalidMessage as exc:
                logger.warning("stored certified chain not usable after restart: %s", exc)
        effects += self.replica.start(self._clock())
        self._started = True
        self._apply(effects)
        gc.freeze()  # the restored state (collector.py says why)
        self._collector.start()

    async def stop(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._collector.stop()
        gc.unfreeze()  # the process may go on without this node (tests run nodes in process)
        if self._snapshot_future is not None:
            with contextlib.suppress(Exception):
                await self._snapshot_future  # stored before the file closes
            await asyncio.sleep(0)  # its done-callback (the write) runs now
        await self.transport.stop()
        self.storage.close()

    # -- the replica's hooks -----------------------------------------------------------------

    def _clock(self) -> int:
        """Read the clock for a replica handler and remember the reading for its hooks."""
        self._handler_now = now_ms()
        return self._handler_now

    def _payload_source(self, limit: int) -> Sequence[bytes]:
        """The leader's transactions, built on the state of the block it extends (the high QC's
        block, exactly what ``build_proposal`` takes as parent)."""
        parent = self.replica.get_block(self.replica.high_qc.block_hash)
        if parent is None or not len(self.mempool):
            return ()
        try:
            parent_state = self.executor.state(parent.header.state_root)
            candidates = self.mempool.candidates(self.params.max_block_txs, parent_state.next_nonce)
            proposal = self.executor.propose(
                parent.header.state_root,
                candidates,
                # The timestamp build_proposal gives the block (the same clock reading the
                # replica's handler got), so this execution is the one the block's root reuses.
                timestamp_ms=max(self._handler_now, parent.header.timestamp_ms + 1),
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

    def _execute(
        self, parent_state_root: bytes, payload: Sequence[bytes], timestamp_ms: int
    ) -> bytes:
        """``Executor.execute_root`` (never raises), reusing the mempool's decoded copies of
        transactions we already admitted: decoding is a large part of a transaction's cost."""
        hashes = [hashlib.sha256(data).digest() for data in payload]
        known_root = self.executor.known_root(parent_state_root, hashes, timestamp_ms)
        if known_root is not None:
            return known_root
        try:
            txs = []
            for data, tx_hash in zip(payload, hashes, strict=True):
                known = self.mempool.get(tx_hash)
                txs.append(known if known is not None else Transaction.decode(data))
            if not self._has_state(parent_state_root):
                self._rebuild_state(parent_state_root)
            return self.executor.execute(parent_state_root, txs, timestamp_ms).state_root
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
        by_root = self.cache.blocks_by_state_root()
        chain: list[Block] = []
        root = state_root
        while not self._has_state(root):
            block = by_root.get(root)
            parent = None if block is None else self.cache.parent(block)
            if block is None or parent is None or len(chain) > 1000:
                raise LookupError(f"cannot rebuild state {state_root.hex()[:16]}")
            chain.append(block)
            root = parent.header.state_root
        logger.warning(
            "validator %d re-executes %d block(s) to rebuild a state", self.index, len(chain)
        )
        for block in reversed(chain):
            parent = self.cache.parent(block)
            if parent is None:  # the walk above found it; only a bug gets here
                raise LookupError(f"parent of block {block.height} vanished")
            self.executor.execute(
                parent.header.state_root,
                decode_transactions(block.payload),
                block.header.timestamp_ms,
            )

    def _on_reconfigure(self, block: Block) -> ValidatorSet | None:
        """Replay every committed block (sync commits were never executed here), then report the
        next epoch's validator set if the block ended the epoch."""
        parent = self.cache.parent(block)
        if parent is None:
            self._halt(f"committed block {block.height} has an unknown parent")
        replayed = self._execute(parent.header.state_root, block.payload, block.header.timestamp_ms)
        if replayed != block.header.state_root:
            self._halt(f"certified block {block.height} does not replay to its state root")
        self.cache.add_block(block)
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
            return []
        # ``_on_reconfigure`` replayed it to its state root before the replica committed it.
        if not self._has_state(block.header.state_root):
            self._halt(f"committed block {block.height} was never replayed here")
        receipts = self.executor.receipts(block.header.state_root)
        self.storage.save_block(block, cert, receipts)
        state = self.executor.commit(block.header.state_root)
        if block.height % self.config.snapshot_every == 0 and not state.pending_validator_changes:
            self._snapshot(block.height, state)
        self.cache.prune_blocks_below(block.height)
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
        self.cache.add_qc(high)
        if high == self._pending_saved:
            return
        tip = self.storage.tip_height()
        chain: list[tuple[Block, QuorumCert]] = []
        block = self.replica.get_block(high.block_hash)
        while block is not None and block.height > tip:
            chain.append((block, self.cache.qc_for(block.hash) or high))
            block = self.replica.get_block(block.parent_hash)
        chain.reverse()
        usable: list[tuple[Block, QuorumCert]] = []
        for b, qc in chain:
            if qc.block_hash != b.hash:
                break
            usable.append((b, qc))
        self.storage.save_pending(usable)
        self._pending_saved = high
        self.cache.prune_qcs(lambda h: self.replica.get_block(h) is not None)

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
            self._run(lambda: self.replica.on_tick(self._clock()))
        except Exception:  # keep the loop alive; the next timer retries
            logger.exception("tick failed")

    def _run(self, handler: Callable[[], list[Effect]]) -> None:
        try:
            effects = handler()
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
                    self._admit_gossiped(data)
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
        self._run(lambda: self.replica.on_message(peer, message, self._clock()))
        if (
            isinstance(message, SyncResponse)
            and message.committed
            and not message.certified
            and self.storage.tip_height() > before
        ):
            self._request_sync(peer)  # the responder has more: fetch the next batch now

    def _learn(self, message: Message) -> None:
        """Remember QCs and blocks the replica's hooks and the pending chain need."""
        self.cache.learn(message)

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
            parent = self.cache.parent(block)
            # Another peer's response may start below our tip: skip what we already committed.
            if block.height > tip and parent is not None:
                self._execute(parent.header.state_root, block.payload, block.header.timestamp_ms)

    def _answer_sync(self, peer: int, request: SyncRequest) -> None:
        response = build_sync_response(
            storage=self.storage,
            replica=self.replica,
            peer=peer,
            request=request,
            max_blocks=self.params.sync_max_blocks,
            now_ms=now_ms(),
        )
        if response is not None:
            self.transport.send(peer, CONSENSUS, response.encoded)

    def _request_sync(self, peer: int) -> None:
        request = SyncRequest(self.replica.epoch, self.storage.tip_height(), ZERO_HASH)
        self.transport.send(peer, CONSENSUS, request.encoded)

    def _on_connected(self, peer: int) -> None:
        if self._started:
            self._request_sync(peer)

    # -- transactions ------------------------------------------------------------------------

    def _admit_gossiped(self, data: bytes) -> None:
        """A peer's gossip: admitted if valid, silently dropped otherwise (not gossiped again)."""
        with contextlib.suppress(Exception):
            self.mempool.add(data, self.executor.committed)

    def _flush_gossip(self) -> None:
        batch, self._gossip = self._gossip, []
        if batch:
            self.transport.broadcast(TXS, encode_txs(batch))

    def submit(self, data: bytes | Transaction) -> Admission:
        """``POST /v1/txs``: admit and gossip (raises InvalidTransaction / MempoolFull)."""
        admission = self.mempool.add(data, self.executor.committed)
        if not admission.duplicate:
            if not self._gossip:
                asyncio.get_running_loop().call_later(_GOSSIP_DELAY_S, self._flush_gossip)
            self._gossip.append(admission.tx.encoding)
        return admission

    async def wait_for_commit(self, timeout: float) -> None:
        """Return after the next commit (or the timeout)."""
        event = self._commit_event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def partition(self, peers: list[int], duration_s: float) -> None:
        self.transport.partition(peers, duration_s)
