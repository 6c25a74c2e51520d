"""Safety rules (DiemBFT v4 / Jolteon 2-chain; docs/ledger.md, "Safety rules").

``SafetyState`` is the one value a validator must persist before any vote or timeout it signs leaves
the process; ``SafetyRules`` is pure: every method takes the current state and returns the new one
together with the signed message, so the caller decides when to persist and send.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .errors import SafetyViolation
from .signing import compute_timeout_signing_root, compute_vote_signing_root
from .types import Block, QuorumCert, TimeoutCert, TimeoutMsg, Vote

if TYPE_CHECKING:
    from .crypto import Backend

__all__ = ["SafetyRules", "SafetyState"]


@dataclass(frozen=True)
class SafetyState:
    """What a validator must remember across crashes (persist before sending what depends on it).

    - ``last_voted_round``: highest round in which it voted or timed out; it never signs a vote
      for a round at or below it ("never vote twice in a round").
    - ``preferred_round``: highest QC round it has seen (the 2-chain lock); it reports it in its
      timeouts and only times out with a high QC at least this high.
    - ``highest_timeout_round``: highest round it signed a timeout for.
    - ``epoch``: the epoch these rounds belong to; the rules refuse to sign for any other epoch.
    - ``high_qc``: the QC that raised ``preferred_round`` (None while the lock is the epoch's
      root). Without it a restarted validator could not time out (its high QC would be below its
      lock), and if nobody else held that QC the chain would stall.
    - ``last_tc``: the highest TC it entered a round through. A restarted validator re-enters
      that round and hands the TC on in its timeouts; without it, a validator that alone formed
      the TC and then timed out in the next round could sign nothing the others need.

    Both certificates were verified before they were recorded; like DiemBFT's persisted block
    store and highest certificates, they are trusted as the validator's own durable memory.
    """

    epoch: int
    last_voted_round: int = 0
    preferred_round: int = 0
    highest_timeout_round: int = 0
    high_qc: QuorumCert | None = None
    last_tc: TimeoutCert | None = None


class SafetyRules:
    """Signs votes and timeouts only when the DiemBFT v4 rules allow it."""

    def __init__(self, *, chain_id: bytes, index: int, secret_key: int, crypto: Backend) -> None:
        self._chain_id = chain_id
        self._index = index
        self._secret_key = secret_key
        self._crypto = crypto

    @staticmethod
    def observe_qc(state: SafetyState, qc: QuorumCert) -> SafetyState:
        """Raise the lock (preferred round) to a QC of the current epoch, remembering the QC."""
        if qc.epoch != state.epoch or qc.round <= state.preferred_round:
            return state
        return replace(state, preferred_round=qc.round, high_qc=qc)

    @staticmethod
    def observe_tc(state: SafetyState, tc: TimeoutCert) -> SafetyState:
        """Remember the highest TC of the current epoch (so its round survives a crash)."""
        if tc.epoch != state.epoch or (
            state.last_tc is not None and tc.round <= state.last_tc.round
        ):
            return state
        return replace(state, last_tc=tc)

    @staticmethod
    def enter_epoch(state: SafetyState, epoch: int, root_round: int) -> SafetyState:
        """The state for a new epoch starting after ``root_round``; a newer persisted state wins."""
        if state.epoch >= epoch:
            return state
        return SafetyState(epoch, root_round, root_round, root_round)

    @staticmethod
    def is_safe_to_vote(
        state: SafetyState, block_round: int, qc_round: int, tc: TimeoutCert | None
    ) -> bool:
        """Vote rule: a new round, and the block extends its parent's QC by one round or, after a
        timeout, extends a QC at least as high as every high QC reported in the TC (the lock)."""
        if block_round <= max(state.last_voted_round, qc_round):
            return False
        if block_round == qc_round + 1:
            return True
        return tc is not None and block_round == tc.round + 1 and qc_round >= tc.max_high_qc_round

    @staticmethod
    def is_safe_to_timeout(
        state: SafetyState, round: int, qc_round: int, last_tc: TimeoutCert | None
    ) -> bool:
        """Timeout rule: report a high QC no lower than the lock, for the round just entered."""
        if qc_round < state.preferred_round or round <= max(state.last_voted_round - 1, qc_round):
            return False
        return round == qc_round + 1 or (last_tc is not None and round == last_tc.round + 1)

    def sign_vote(
        self, state: SafetyState, block: Block, qc: QuorumCert, tc: TimeoutCert | None
    ) -> tuple[SafetyState, Vote]:
        """The new state and the vote; raises SafetyViolation when the rules forbid voting."""
        if block.epoch != state.epoch or qc.epoch != state.epoch:
            raise SafetyViolation("vote for another epoch")
        if not self.is_safe_to_vote(state, block.round, qc.round, tc):
            raise SafetyViolation(f"not safe to vote in round {block.round}")
        new_state = replace(self.observe_qc(state, qc), last_voted_round=block.round)
        root = compute_vote_signing_root(self._chain_id, state.epoch, block.round, block.hash)
        signature = self._crypto.Sign(self._secret_key, root)
        return new_state, Vote(state.epoch, block.round, block.hash, self._index, signature)

    def sign_timeout(
        self, state: SafetyState, round: int, high_qc: QuorumCert, last_tc: TimeoutCert | None
    ) -> tuple[SafetyState, TimeoutMsg]:
        """The new state and the timeout message; raises SafetyViolation when not allowed."""
        if high_qc.epoch != state.epoch:
            raise SafetyViolation("timeout for another epoch")
        if not self.is_safe_to_timeout(state, round, high_qc.round, last_tc):
            raise SafetyViolation(f"not safe to time out in round {round}")
        new_state = replace(
            state,
            last_voted_round=max(state.last_voted_round, round),
            highest_timeout_round=max(state.highest_timeout_round, round),
        )
        root = compute_timeout_signing_root(self._chain_id, state.epoch, round, high_qc.round)
        signature = self._crypto.Sign(self._secret_key, root)
        tc = last_tc if last_tc is not None and last_tc.round == round - 1 else None
        return new_state, TimeoutMsg(state.epoch, round, self._index, high_qc, tc, signature)
