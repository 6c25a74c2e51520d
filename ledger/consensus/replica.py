"""The replica: a pure DiemBFT v4 / Jolteon state machine driven by messages and ticks.

docs/ledger.md describes the protocol; each handler names the section it implements. Handlers are
all-or-nothing (an invalid message must not modify any state): ``_check_*`` methods validate the
whole message and may raise an ``InvalidMessage`` subclass without touching any state; only then
does ``_apply_*`` assign. The
``execute`` and ``on_reconfigure`` callbacks must be deterministic and must not raise; they can be
called while validating a message that is later rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .aggregation import VoteCollector
from .block_tree import BlockTree, make_root_qc
from .certificates import CertificateCache
from .effects import Broadcast, Commit, Effect, NewEpoch, PersistSafety, Send, SetTimer
from .errors import (
    ConsensusError,
    Equivocation,
    FutureMessage,
    InvalidCertificate,
    InvalidMessage,
    InvalidSignature,
    SafetyViolation,
    StaleMessage,
)
from .pacemaker import Pacemaker
from .params import ProtocolParams
from .proposer import build_proposal, compute_state_root
from .rules import (
    check_encodable,
    check_proposal,
    check_proposal_parent,
    check_timeout,
    check_vote,
)
from .safety import SafetyRules, SafetyState
from .signing import MAX_CHAIN_ID_BYTES
from .sync import build_sync_response, plan_sync_response
from .types import (
    Block,
    CommittedBlock,
    Message,
    Proposal,
    QuorumCert,
    SyncRequest,
    SyncResponse,
    TimeoutCert,
    TimeoutMsg,
    Vote,
)
from .validators import ValidatorSet

if TYPE_CHECKING:
    from .crypto import Backend

__all__ = ["Replica"]

PayloadSource = Callable[[int], Sequence[bytes]]
Execute = Callable[[bytes, Sequence[bytes], int], bytes]
Reconfigure = Callable[[Block], "ValidatorSet | None"]

#: Committed blocks (ending with the reconfiguration) broadcast when an epoch ends.
_EPOCH_PROOF_BLOCKS = 4

#: Re-sends of an unanswered ``SyncRequest`` (one per ``sync_retry_ms``, rotating over the peers)
#: before the replica waits for a new message to show it what it lacks.
_SYNC_RETRIES = 8


class Replica:
    """One validator's consensus state; see the module docstring and docs/ledger.md."""

    def __init__(
        self,
        *,
        chain_id: bytes,
        index: int,
        secret_key: int,
        validator_set: ValidatorSet,
        genesis: Block,
        crypto: Backend,
        params: ProtocolParams | None = None,
        safety: SafetyState | None = None,
        payload_source: PayloadSource | None = None,
        execute: Execute | None = None,
        on_reconfigure: Reconfigure | None = None,
        retain_committed: int | None = None,
    ) -> None:
        """``retain_committed``: keep only about that many recent committed blocks in memory
        (a node that stores and serves its chain itself); ``None`` keeps every one (the
        simulation and tests read the whole history)."""
        if not 0 < len(chain_id) <= MAX_CHAIN_ID_BYTES:
            raise ConsensusError(f"chain id must be 1..{MAX_CHAIN_ID_BYTES} bytes")
        if genesis.header.chain_id != chain_id or genesis.epoch != validator_set.epoch:
            raise ConsensusError("genesis does not match the chain id or the validator set epoch")
        if index < 0:
            raise ConsensusError("index must be >= 0")
        if retain_committed is not None and retain_committed < _EPOCH_PROOF_BLOCKS:
            raise ConsensusError(f"retain_committed must be >= {_EPOCH_PROOF_BLOCKS}")
        self.chain_id = chain_id
        self.index = index
        self.params = params if params is not None else ProtocolParams()
        self._rules = SafetyRules(
            chain_id=chain_id, index=index, secret_key=secret_key, crypto=crypto
        )
        # A replica whose key is not at ``index`` of the current set follows the chain without
        # signing (e.g. a validator that joins at a later epoch).
        self._public_key = crypto.SkToPk(secret_key)
        self._payload_source = payload_source
        self._execute = execute
        self._on_reconfigure = on_reconfigure
        self._committed: list[CommittedBlock] = []
        self._retain = retain_committed
        # Height of the block just below ``_committed[0]`` (blocks forgotten by retention count).
        self._committed_base = genesis.height
        self._tip = genesis
        self._certs = CertificateCache(chain_id)
        # (peer, sent at ms, target block hash, re-sends left)
        self._sync_pending: tuple[int, int, bytes, int] | None = None
        self._buffered: tuple[int, Proposal] | None = None
        self._in_propose = False
        self._propose_later = False
        self._reset_epoch(validator_set, genesis)
        state = safety if safety is not None else SafetyState(validator_set.epoch)
        self._safety = SafetyRules.enter_epoch(state, validator_set.epoch, genesis.round)
        self._restore_round()

    def _restore_round(self) -> None:
        """After a restart, resume in the round the persisted QC and TC justify (the lock's QC
        and the last TC may exist nowhere else; docs/ledger.md "Known liveness bugs")."""
        s, pm = self._safety, self._pacemaker
        if s.epoch != self.epoch:
            return
        if s.high_qc is not None:
            pm.round = max(pm.round, s.high_qc.round + 1)
        if s.last_tc is not None:
            pm.round = max(pm.round, s.last_tc.round + 1)

    def _reset_epoch(self, validator_set: ValidatorSet, root: Block) -> None:
        self._vset = validator_set
        # A validator dropped by a reconfiguration keeps following the chain but never signs.
        self._is_member = (
            self.index < validator_set.n
            and validator_set.public_key(self.index) == self._public_key
        )
        self._tree = BlockTree(root, make_root_qc(validator_set.epoch, root))
        self._pacemaker = Pacemaker(self.params, round=root.round + 1)
        self._votes = VoteCollector()
        self._proposals: dict[int, bytes] = {}
        self._last_proposed_round = root.round

    # -- read-only views ------------------------------------------------------------------------

    @property
    def safety_state(self) -> SafetyState:
        """The value to persist (the latest ``PersistSafety`` carries it too)."""
        return self._safety

    @property
    def round(self) -> int:
        return self._pacemaker.round

    @property
    def epoch(self) -> int:
        return self._vset.epoch

    @property
    def validator_set(self) -> ValidatorSet:
        return self._vset

    @property
    def high_qc(self) -> QuorumCert:
        return self._tree.high_qc

    @property
    def committed(self) -> tuple[Block, ...]:
        """Committed blocks in height order (genesis excluded; only the most recent ones when
        the replica was built with ``retain_committed``)."""
        return tuple(c.block for c in self._committed)

    @property
    def committed_with_certs(self) -> tuple[CommittedBlock, ...]:
        return tuple(self._committed)

    @property
    def committed_height(self) -> int:
        return self._tip.height

    def get_block(self, block_hash: bytes) -> Block | None:
        """A block of the tree (the last committed block or a pending one), if held."""
        return self._tree.get(block_hash)

    def snapshot(self) -> tuple[object, ...]:
        """Every piece of protocol state, as comparable values (tests check all-or-nothing)."""
        return (
            self._safety,
            self._vset.digest,
            self._tree.snapshot(),
            self._pacemaker.snapshot(),
            self._votes.snapshot(),
            tuple(sorted(self._proposals.items())),
            tuple(c.block.hash for c in self._committed),
            self._sync_pending,
            None if self._buffered is None else self._buffered[1].hash,
            self._last_proposed_round,
            self._propose_later,
        )

    # -- entry points ---------------------------------------------------------------------------

    def start(self, now_ms: int) -> list[Effect]:
        """Arm the first round timer (and propose if this replica leads it)."""
        effects: list[Effect] = []
        before = self._safety
        tc = self._safety.last_tc if self._safety.epoch == self.epoch else None
        self._enter_round(self._pacemaker.round, now_ms, tc, effects, force=True)
        return self._finish(before, effects, now_ms)

    def on_message(self, sender: int, message: Message, now_ms: int) -> list[Effect]:
        """Dispatch on the message type."""
        if isinstance(message, Proposal):
            return self.on_proposal(sender, message, now_ms)
        if isinstance(message, Vote):
            return self.on_vote(sender, message, now_ms)
        if isinstance(message, TimeoutMsg):
            return self.on_timeout(sender, message, now_ms)
        if isinstance(message, SyncRequest):
            return self.on_sync_request(sender, message, now_ms)
        if isinstance(message, SyncResponse):
            return self.on_sync_response(sender, message, now_ms)
        raise InvalidMessage(f"unknown message type {type(message).__name__}")

    def on_tick(self, now_ms: int) -> list[Effect]:
        """docs/ledger.md "Pacemaker": local timeout and re-broadcast when the round timer fires."""
        before = self._safety
        effects: list[Effect] = []
        self._retry_sync(now_ms, effects)
        if self._propose_later:
            self._propose_later = False
            self._propose(now_ms, effects)
        if self._pacemaker.is_expired(now_ms):
            self._local_timeout(now_ms, effects)
        return self._finish(before, effects, now_ms)

    # -- proposals (docs/ledger.md "Proposal") --------------------------------------------------

    def on_proposal(self, sender: int, proposal: Proposal, now_ms: int) -> list[Effect]:
        """docs/ledger.md "Proposal": check, apply its certificates, store the block, vote."""
        check_encodable(proposal)
        before = self._safety
        h = proposal.block.header
        if h.chain_id != self.chain_id:
            raise InvalidMessage("proposal for another chain")
        if h.epoch < self.epoch:
            raise StaleMessage("proposal from an old epoch")
        if h.epoch > self.epoch:
            effects = self._future_epoch(sender, proposal.qc.block_hash, now_ms)
            self._buffered = (sender, proposal)
            return self._finish(before, effects, now_ms)
        if self._proposals.get(h.round) == proposal.block.hash:
            return []  # a duplicate delivery of a proposal already processed
        parent = self._check_proposal(sender, proposal, now_ms)
        effects = []
        if parent is None:
            # Valid as far as we can tell, but we lack its ancestors: catch up first.
            self._request_sync(sender, proposal.qc.block_hash, now_ms, effects)
            self._buffered = (sender, proposal)
        else:
            self._apply_proposal(sender, proposal, now_ms, effects)
        return self._finish(before, effects, now_ms)

    def _check_proposal(self, sender: int, proposal: Proposal, now_ms: int) -> Block | None:
        """Every rule except those needing the parent block; returns the parent when known."""
        check_proposal(
            proposal, sender=sender, validator_set=self._vset, params=self.params, now_ms=now_ms
        )
        block, qc, tc = proposal.block, proposal.qc, proposal.tc
        h = block.header
        if h.round < self._pacemaker.round:
            raise StaleMessage(f"proposal for round {h.round} < current round")
        seen = self._proposals.get(h.round)
        if seen is not None and seen != block.hash:
            raise Equivocation(f"leader {sender} proposed two blocks in round {h.round}")
        self._require_qc(qc)
        if tc is not None:
            self._require_tc(tc)
        parent = self._tree.get(h.parent_hash)
        if parent is None:
            return None
        check_proposal_parent(
            block,
            parent,
            compute_state_root(self._execute, parent, block.payload, h.timestamp_ms),
        )
        return parent

    def _apply_proposal(
        self, sender: int, proposal: Proposal, now_ms: int, effects: list[Effect]
    ) -> None:
        epoch = self.epoch
        self._process_qc(proposal.qc, sender, now_ms, effects)
        if self.epoch != epoch:
            return  # the QC committed a reconfiguration: this proposal belongs to the old epoch
        if proposal.tc is not None:
            self._process_tc(proposal.tc, now_ms, effects)
        self._accept_proposal(proposal, now_ms, effects)

    def _accept_proposal(self, proposal: Proposal, now_ms: int, effects: list[Effect]) -> None:
        """Insert a validated block and vote for it if the safety rules allow."""
        block = proposal.block
        if block.hash in self._tree:
            return
        self._tree.insert_block(block)
        self._proposals[block.round] = block.hash
        if (
            self._is_member
            and block.round == self._pacemaker.round
            and SafetyRules.is_safe_to_vote(
                self._safety, block.round, proposal.qc.round, proposal.tc
            )
        ):
            try:
                self._safety, vote = self._rules.sign_vote(
                    self._safety, block, proposal.qc, proposal.tc
                )
            except SafetyViolation:
                return  # e.g. a persisted state from a later epoch: never sign
            self._deliver_vote(vote, now_ms, effects)
        if self._tree.get_qc(block.hash) is None:
            # Votes for this block may have arrived before it did.
            qc, bad = self._votes.prepare_for_block(
                block.round, block.hash, self._vset, self.chain_id
            )
            self._votes.drop(block.round, bad)
            if qc is not None:
                self._process_qc(qc, self.index, now_ms, effects)

    def _propose(self, now_ms: int, effects: list[Effect]) -> None:
        """docs/ledger.md "Proposal": extend the high QC (after a TC only if it is high enough)."""
        if self._in_propose:
            # Re-entered through our own vote (n = 1): propose on the next tick, not recursively.
            self._propose_later = True
            effects.append(SetTimer(now_ms))
            return
        r = self._pacemaker.round
        high_qc = self._tree.high_qc
        parent = self._tree.get(high_qc.block_hash)
        if (
            not self._is_member
            or self._last_proposed_round >= r
            # Voted or timed out in r already (e.g. proposed before a crash): a second proposal
            # would only be an equivocation that everybody rejects.
            or self._safety.last_voted_round >= r
            or parent is None
            or self._vset.leader(r) != self.index
        ):
            return
        proposal = build_proposal(
            chain_id=self.chain_id,
            epoch=self.epoch,
            round=r,
            proposer=self.index,
            high_qc=high_qc,
            parent=parent,
            last_tc=self._pacemaker.last_tc,
            payload_source=self._payload_source,
            execute=self._execute,
            params=self.params,
            now_ms=now_ms,
        )
        if proposal is None:
            return
        self._last_proposed_round = r
        effects.append(Broadcast(proposal))
        self._in_propose = True
        try:
            self._accept_proposal(proposal, now_ms, effects)
        finally:
            self._in_propose = False

    # -- votes (docs/ledger.md "Vote", "QuorumCert") -------------------------------------------

    def on_vote(self, sender: int, vote: Vote, now_ms: int) -> list[Effect]:
        """docs/ledger.md "Vote" and "QuorumCert": collect as next leader, aggregate at a quorum."""
        check_encodable(vote)
        before = self._safety
        if vote.epoch < self.epoch:
            raise StaleMessage("vote from an old epoch")
        if vote.epoch > self.epoch:
            return self._finish(before, self._future_epoch(sender, vote.block_hash, now_ms), now_ms)
        check_vote(vote, sender=sender, validator_set=self._vset)
        if self._vset.leader(vote.round + 1) != self.index or not self._is_member:
            raise InvalidMessage("vote sent to a replica that is not the next leader")
        if vote.round > self._pacemaker.round + self.params.max_round_lookahead:
            raise FutureMessage(f"vote for round {vote.round} is too far ahead")
        if vote.round <= self._tree.high_qc.round or self._votes.existing(vote) is not None:
            return []  # late (its round is certified already) or a duplicate
        qc: QuorumCert | None = None
        bad: tuple[int, ...] = ()
        if vote.block_hash in self._tree:
            qc, bad = self._votes.prepare_qc(vote, self._vset, self.chain_id)
        effects: list[Effect] = []
        self._votes.add(vote, bad)
        if qc is not None:
            self._process_qc(qc, sender, now_ms, effects)
        return self._finish(before, effects, now_ms)

    def _deliver_vote(self, vote: Vote, now_ms: int, effects: list[Effect]) -> None:
        next_leader = self._vset.leader(vote.round + 1)
        if next_leader != self.index:
            effects.append(Send(next_leader, vote))
            return
        try:
            qc, bad = self._votes.prepare_qc(vote, self._vset, self.chain_id)
        except InvalidSignature:  # pragma: no cover - our own signature always verifies
            return
        self._votes.add(vote, bad)
        if qc is not None:
            self._process_qc(qc, self.index, now_ms, effects)

    # -- timeouts (docs/ledger.md "Timeout", "TimeoutCert") -------------------------------------

    def on_timeout(self, sender: int, msg: TimeoutMsg, now_ms: int) -> list[Effect]:
        """docs/ledger.md "TimeoutMsg" and "TimeoutCert": apply certificates, collect, form a TC."""
        check_encodable(msg)
        before = self._safety
        if msg.epoch < self.epoch:
            raise StaleMessage("timeout from an old epoch")
        if msg.epoch > self.epoch:
            target = msg.high_qc.block_hash
            return self._finish(before, self._future_epoch(sender, target, now_ms), now_ms)
        check_timeout(msg, sender=sender, validator_set=self._vset)
        hq, last_tc = msg.high_qc, msg.last_tc
        round_after = self._pacemaker.round
        if hq.block_hash in self._tree:
            round_after = max(round_after, hq.round + 1)
        if last_tc is not None:
            round_after = max(round_after, last_tc.round + 1)
        if msg.round > round_after + self.params.max_round_lookahead:
            raise FutureMessage(f"timeout for round {msg.round} is too far ahead")
        self._require_qc(hq)
        if last_tc is not None:
            self._require_tc(last_tc)
        # A duplicate is not collected again, but its certificates are still looked at: after a
        # lost SyncResponse, the re-broadcast timeouts are what shows us that we lag (seed 149).
        duplicate = self._pacemaker.timeouts.existing(msg) is not None
        tc: TimeoutCert | None = None
        bad: tuple[int, ...] = ()
        if msg.round >= round_after and not duplicate:
            tc, bad = self._pacemaker.timeouts.prepare_tc(msg, self._vset, self.chain_id)
        # -- apply --
        effects: list[Effect] = []
        epoch = self.epoch
        self._process_qc(hq, sender, now_ms, effects)
        if self.epoch != epoch:
            return self._finish(before, effects, now_ms)
        if last_tc is not None:
            self._process_tc(last_tc, now_ms, effects)
        if msg.round >= self._pacemaker.round and not duplicate:
            self._pacemaker.timeouts.add(msg, bad)
            if tc is not None:
                self._process_tc(tc, now_ms, effects)
            elif (
                msg.round == self._pacemaker.round
                and self._pacemaker.my_timeout is None
                and self._pacemaker.timeouts.count(msg.round) > self._vset.f
            ):
                # f + 1 timeouts include an honest one: join, so the round ends quickly.
                self._local_timeout(now_ms, effects)
        return self._finish(before, effects, now_ms)

    def _local_timeout(self, now_ms: int, effects: list[Effect]) -> None:
        pm, high_qc = self._pacemaker, self._high_qc()
        round = pm.round
        if not self._is_member:
            return
        if pm.my_timeout is None:
            try:
                self._safety, msg = self._rules.sign_timeout(
                    self._safety, round, high_qc, pm.last_tc
                )
            except SafetyViolation:
                effects.append(SetTimer(pm.rearm(now_ms, high_qc.round)))
                return
            pm.my_timeout = msg
            effects.append(Broadcast(msg))
            tc, bad = pm.timeouts.prepare_tc(msg, self._vset, self.chain_id)
            pm.timeouts.add(msg, bad)
            if tc is not None:
                self._process_tc(tc, now_ms, effects)
        else:
            effects.append(Broadcast(pm.my_timeout))
        if pm.round == round:
            effects.append(SetTimer(pm.rearm(now_ms, high_qc.round)))

    # -- certificates, rounds, commits ----------------------------------------------------------

    def _high_qc(self) -> QuorumCert:
        """The highest QC to report: the tree's, or the persisted one that raised the lock when
        a restart lost its block (peers that lack the block sync it from the QC's signers)."""
        kept, tree_qc = self._safety.high_qc, self._tree.high_qc
        if kept is not None and kept.epoch == self.epoch and kept.round > tree_qc.round:
            return kept
        return tree_qc

    def _require_qc(self, qc: QuorumCert) -> None:
        if qc == self._tree.root_qc or self._tree.get_qc(qc.block_hash) == qc:
            return
        if not self._certs.check_qc(self._vset, qc):
            raise InvalidCertificate("QC does not verify")

    def _require_tc(self, tc: TimeoutCert) -> None:
        if not self._certs.check_tc(self._vset, tc):
            raise InvalidCertificate("TC does not verify")

    def _process_qc(self, qc: QuorumCert, peer: int, now_ms: int, effects: list[Effect]) -> None:
        """A verified QC: record it, commit by the 2-chain rule, advance the round."""
        if qc.epoch != self.epoch:
            return
        if qc.block_hash not in self._tree:
            if qc.round > self._tree.high_qc.round:
                self._request_sync(peer, qc.block_hash, now_ms, effects)
            return
        if self._tree.get_qc(qc.block_hash) is None:
            self._tree.insert_qc(qc)
            self._safety = SafetyRules.observe_qc(self._safety, qc)
            epoch = self.epoch
            for item in self._tree.commit_candidates(qc):
                self._commit(item, now_ms, effects)
                if self.epoch != epoch:
                    return
            if self._tip.hash != self._tree.root.hash:
                self._tree.advance_root(self._tip)
        if qc.round >= self._pacemaker.round:
            self._enter_round(qc.round + 1, now_ms, None, effects)

    def _process_tc(self, tc: TimeoutCert, now_ms: int, effects: list[Effect]) -> None:
        if tc.epoch == self.epoch and tc.round >= self._pacemaker.round:
            # Persisted: the TC may exist only here, and a restart must resume in its round.
            self._safety = SafetyRules.observe_tc(self._safety, tc)
            self._enter_round(tc.round + 1, now_ms, tc, effects)

    def _commit(self, item: CommittedBlock, now_ms: int, effects: list[Effect]) -> None:
        """docs/ledger.md "Epochs": a committed reconfiguration ends the epoch at this block."""
        self._remember_commit(item)
        self._tip = item.block
        effects.append(Commit(item.block, item.cert))
        new_set = self._on_reconfigure(item.block) if self._on_reconfigure is not None else None
        if new_set is not None:
            self._enter_epoch(new_set, item.block, now_ms, effects)

    def _remember_commit(self, item: CommittedBlock) -> None:
        self._committed.append(item)
        if self._retain is not None and len(self._committed) > 2 * self._retain:
            dropped = len(self._committed) - self._retain
            del self._committed[:dropped]  # amortised: once per ``retain`` commits
            self._committed_base += dropped

    def _enter_epoch(
        self, new_set: ValidatorSet, root: Block, now_ms: int, effects: list[Effect]
    ) -> None:
        if new_set.epoch != self.epoch + 1:
            raise ConsensusError("on_reconfigure must return the validator set of epoch + 1")
        self._reset_epoch(new_set, root)
        self._safety = SafetyRules.enter_epoch(self._safety, new_set.epoch, root.round)
        effects.append(NewEpoch(new_set.epoch, new_set))
        # The QC that committed the reconfiguration may exist only here (a leader that formed it
        # from votes): hand the proof to everyone, or they would stay in the old epoch until
        # their timers fire. A SyncResponse verifies itself; receivers that already have it
        # ignore it.
        recent = tuple(self._committed[-_EPOCH_PROOF_BLOCKS:])
        effects.append(Broadcast(SyncResponse(recent, ())))
        self._enter_round(root.round + 1, now_ms, None, effects, force=True)

    def _enter_round(
        self,
        round: int,
        now_ms: int,
        tc: TimeoutCert | None,
        effects: list[Effect],
        *,
        force: bool = False,
    ) -> None:
        pm = self._pacemaker
        if round <= pm.round and not force:
            return
        deadline = pm.enter_round(round, now_ms, self._high_qc().round, tc)
        self._votes.prune_below(round - 1)
        self._proposals = {r: h for r, h in self._proposals.items() if r >= round}
        effects.append(SetTimer(deadline))
        if self._vset.leader(round) == self.index:
            self._propose(now_ms, effects)

    # -- sync (docs/ledger.md "Sync") -----------------------------------------------------------

    def on_sync_request(self, sender: int, request: SyncRequest, now_ms: int) -> list[Effect]:
        """docs/ledger.md "SyncRequest and SyncResponse": answer with what we have; no change."""
        check_encodable(request)
        response = build_sync_response(
            request, self._committed, self._committed_base, self._tree, self.params.sync_max_blocks
        )
        return [Send(sender, response)]

    def on_sync_response(self, sender: int, response: SyncResponse, now_ms: int) -> list[Effect]:
        """docs/ledger.md "SyncRequest and SyncResponse": verify everything, then commit/insert."""
        check_encodable(response)
        before = self._safety
        if len(response.committed) + len(response.certified) > self.params.sync_max_blocks:
            raise InvalidMessage("sync response larger than sync_max_blocks")
        plan = plan_sync_response(
            response,
            chain_id=self.chain_id,
            tip=self._tip,
            validator_set=self._vset,
            tree=self._tree,
            check_qc=self._certs.check_qc,
            on_reconfigure=self._on_reconfigure,
        )
        effects: list[Effect] = []
        for item, new_set in plan.commits:
            self._remember_commit(item)
            self._tip = item.block
            effects.append(Commit(item.block, item.cert))
            if new_set is not None:
                self._enter_epoch(new_set, item.block, now_ms, effects)
            else:
                self._tree.advance_root(item.block)
        for entry in plan.certified:
            if entry.block.epoch != self.epoch:
                break  # a commit on the way reconfigured: the rest belongs to the old epoch
            if entry.block.height <= self._tip.height or entry.block.parent_hash not in self._tree:
                continue
            self._tree.insert_block(entry.block)
            self._process_qc(entry.qc, sender, now_ms, effects)
        self._sync_pending = None
        return self._finish(before, effects, now_ms)

    def _request_sync(self, peer: int, target: bytes, now_ms: int, effects: list[Effect]) -> None:
        pending = self._sync_pending
        if pending is not None and now_ms < pending[1] + self.params.sync_retry_ms:
            return
        if peer == self.index:
            return
        self._send_sync(peer, target, _SYNC_RETRIES, now_ms, effects)

    def _send_sync(
        self, peer: int, target: bytes, retries: int, now_ms: int, effects: list[Effect]
    ) -> None:
        self._sync_pending = (peer, now_ms, target, retries)
        effects.append(Send(peer, SyncRequest(self.epoch, self._tip.height, target)))
        if retries > 0:
            self._wake_at(now_ms + self.params.sync_retry_ms, effects)

    def _wake_at(self, at_ms: int, effects: list[Effect]) -> None:
        """Request a tick at ``at_ms`` without losing the round timer for callers that keep only
        the latest ``SetTimer``: the earlier of the two comes last, and that tick re-arms."""
        deadline = self._pacemaker.deadline_ms
        effects.extend(SetTimer(t) for t in sorted({at_ms, deadline}, reverse=True))

    def _retry_sync(self, now_ms: int, effects: list[Effect]) -> None:
        """An unanswered request (lost, or its peer crashed) is re-sent to the next peer, a
        bounded number of times; afterwards a new message showing the gap starts it again."""
        pending = self._sync_pending
        if pending is None or now_ms < pending[1] + self.params.sync_retry_ms:
            return
        peer, _, target, retries = pending
        self._sync_pending = None
        if retries <= 0 or target in self._tree or self._vset.n < 2:
            effects.append(SetTimer(self._pacemaker.deadline_ms))  # a sync tick: keep the round's
            return
        nxt = (peer + 1) % self._vset.n
        if nxt == self.index:
            nxt = (nxt + 1) % self._vset.n
        self._send_sync(nxt, target, retries - 1, now_ms, effects)

    def _future_epoch(self, sender: int, target: bytes, now_ms: int) -> list[Effect]:
        """A message from a later epoch cannot be checked yet: ask its sender to catch us up."""
        effects: list[Effect] = []
        self._request_sync(sender, target, now_ms, effects)
        return effects

    # -- bookkeeping ----------------------------------------------------------------------------

    def _finish(self, before: SafetyState, effects: list[Effect], now_ms: int) -> list[Effect]:
        """Retry a buffered proposal that became processable; put PersistSafety first."""
        self._retry_buffered(now_ms, effects)
        if self._safety != before:
            effects.insert(0, PersistSafety(self._safety))
        return effects

    def _retry_buffered(self, now_ms: int, effects: list[Effect]) -> None:
        if self._buffered is None:
            return
        sender, proposal = self._buffered
        block = proposal.block
        if block.epoch < self.epoch or block.round < self._pacemaker.round:
            self._buffered = None
            return
        if block.epoch != self.epoch or block.parent_hash not in self._tree:
            return
        self._buffered = None
        try:
            parent = self._check_proposal(sender, proposal, now_ms)
        except InvalidMessage:
            return
        if parent is not None:
            self._apply_proposal(sender, proposal, now_ms, effects)
