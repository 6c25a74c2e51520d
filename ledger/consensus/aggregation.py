"""Collecting votes into QuorumCerts and timeouts into TimeoutCerts (docs/ledger.md, "QC", "TC").

Partial signatures are NOT verified one by one on arrival: once a quorum of them is held they are
aggregated and the aggregate is verified once. Only when that fails is each partial checked, to
find and drop the bad signers. Collectors follow the handlers' all-or-nothing discipline:
``prepare_*`` computes (and may raise) without touching the collector, ``add`` assigns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import Equivocation, InvalidSignature
from .signing import compute_timeout_signing_root, compute_vote_signing_root
from .types import QuorumCert, TimeoutCert, TimeoutMsg, Vote
from .validators import ValidatorSet

__all__ = ["AggregationResult", "TimeoutCollector", "VoteCollector", "aggregate_partials"]


@dataclass(frozen=True)
class AggregationResult:
    """An aggregate of a quorum (or None) and the signers whose partials were found bad."""

    signers: tuple[int, ...]
    signature: bytes | None
    bad: tuple[int, ...]


def aggregate_partials(
    validator_set: ValidatorSet, partials: Mapping[int, tuple[bytes, bytes]]
) -> AggregationResult:
    """Aggregate ``{index: (message, signature)}``; one verification on the happy path."""
    indices = tuple(sorted(partials))
    groups: dict[bytes, list[int]] = {}
    for index in indices:
        groups.setdefault(partials[index][0], []).append(index)
    aggregate = validator_set.aggregate([partials[i][1] for i in indices])
    if aggregate is not None:
        checks = [(validator_set.bitmap_from_indices(g), m) for m, g in sorted(groups.items())]
        if validator_set.verify_aggregate_multi(checks, aggregate):
            return AggregationResult(indices, aggregate, ())
    # The aggregate failed: find the culprits (the only place single signatures are checked).
    bad: list[int] = []
    for message, members in groups.items():
        bad += validator_set.find_bad_signers({i: partials[i][1] for i in members}, message)
    good = tuple(i for i in indices if i not in bad)
    signature = None
    if len(good) >= validator_set.quorum:
        # Every remaining partial verified on its own, so their aggregate verifies too.
        signature = validator_set.aggregate([partials[i][1] for i in good])
    return AggregationResult(good, signature, tuple(sorted(bad)))


def _form_qc(
    votes: Mapping[int, Vote], validator_set: ValidatorSet, chain_id: bytes
) -> tuple[QuorumCert | None, tuple[int, ...]]:
    """Aggregate votes for one (epoch, round, block) once a quorum is held."""
    if len(votes) < validator_set.quorum:
        return None, ()
    first = next(iter(votes.values()))
    message = compute_vote_signing_root(chain_id, first.epoch, first.round, first.block_hash)
    result = aggregate_partials(
        validator_set, {i: (message, v.signature) for i, v in votes.items()}
    )
    if result.signature is None:
        return None, result.bad
    qc = QuorumCert(
        first.epoch, first.round, first.block_hash,
        validator_set.bitmap_from_indices(result.signers), result.signature,
    )  # fmt: skip
    return qc, result.bad


class VoteCollector:
    """Votes received as the next leader, per round, at most one per voter and round."""

    def __init__(self) -> None:
        self._votes: dict[int, dict[int, Vote]] = {}

    def existing(self, vote: Vote) -> Vote | None:
        """The vote already held from this voter in this round; Equivocation if it differs."""
        held = self._votes.get(vote.round, {}).get(vote.voter)
        if held is not None and held != vote:
            raise Equivocation(f"validator {vote.voter} voted twice in round {vote.round}")
        return held

    def prepare_qc(
        self, vote: Vote, validator_set: ValidatorSet, chain_id: bytes
    ) -> tuple[QuorumCert | None, tuple[int, ...]]:
        """The QC that adding ``vote`` would form (or None) and the bad voters to drop.

        Raises InvalidSignature (changing nothing) when ``vote``'s own signature is bad.
        """
        same = {
            v.voter: v
            for v in self._votes.get(vote.round, {}).values()
            if v.block_hash == vote.block_hash
        }
        same[vote.voter] = vote
        qc, bad = _form_qc(same, validator_set, chain_id)
        if vote.voter in bad:
            raise InvalidSignature(f"bad vote signature from validator {vote.voter}")
        return qc, bad

    def prepare_for_block(
        self, round: int, block_hash: bytes, validator_set: ValidatorSet, chain_id: bytes
    ) -> tuple[QuorumCert | None, tuple[int, ...]]:
        """The QC the held votes for a block form, if any (used when the block arrives late)."""
        held = {
            v.voter: v for v in self._votes.get(round, {}).values() if v.block_hash == block_hash
        }
        return _form_qc(held, validator_set, chain_id)

    def add(self, vote: Vote, bad: tuple[int, ...] = ()) -> None:
        self._votes.setdefault(vote.round, {})[vote.voter] = vote
        self.drop(vote.round, bad)

    def drop(self, round: int, voters: tuple[int, ...]) -> None:
        for voter in voters:
            self._votes.get(round, {}).pop(voter, None)

    def prune_below(self, round: int) -> None:
        """Forget votes for rounds below ``round`` (their QC exists or can no longer matter)."""
        for old in [r for r in self._votes if r < round]:
            del self._votes[old]

    def snapshot(self) -> tuple[tuple[int, int, bytes], ...]:
        return tuple(
            sorted((r, i, v.hash) for r, votes in self._votes.items() for i, v in votes.items())
        )


class TimeoutCollector:
    """Timeouts received per round, at most one per author and round."""

    def __init__(self) -> None:
        self._timeouts: dict[int, dict[int, TimeoutMsg]] = {}

    def count(self, round: int) -> int:
        return len(self._timeouts.get(round, {}))

    def existing(self, msg: TimeoutMsg) -> TimeoutMsg | None:
        held = self._timeouts.get(msg.round, {}).get(msg.author)
        if held is not None and held != msg:
            raise Equivocation(f"validator {msg.author} sent two timeouts for round {msg.round}")
        return held

    def prepare_tc(
        self, msg: TimeoutMsg, validator_set: ValidatorSet, chain_id: bytes
    ) -> tuple[TimeoutCert | None, tuple[int, ...]]:
        """The TC that adding ``msg`` would form and the bad authors; InvalidSignature if ``msg``'s
        own signature is bad."""
        held = dict(self._timeouts.get(msg.round, {}))
        held[msg.author] = msg
        if len(held) < validator_set.quorum:
            return None, ()
        partials = {
            i: (
                compute_timeout_signing_root(chain_id, m.epoch, m.round, m.high_qc.round),
                m.signature,
            )
            for i, m in held.items()
        }
        result = aggregate_partials(validator_set, partials)
        if msg.author in result.bad:
            raise InvalidSignature(f"bad timeout signature from validator {msg.author}")
        if result.signature is None:
            return None, result.bad
        tc = TimeoutCert(
            msg.epoch, msg.round, validator_set.bitmap_from_indices(result.signers),
            tuple(held[i].high_qc.round for i in result.signers), result.signature,
        )  # fmt: skip
        return tc, result.bad

    def add(self, msg: TimeoutMsg, bad: tuple[int, ...] = ()) -> None:
        self._timeouts.setdefault(msg.round, {})[msg.author] = msg
        for author in bad:
            self._timeouts[msg.round].pop(author, None)

    def prune_below(self, round: int) -> None:
        for old in [r for r in self._timeouts if r < round]:
            del self._timeouts[old]

    def snapshot(self) -> tuple[tuple[int, int, bytes], ...]:
        return tuple(
            sorted((r, i, m.hash) for r, held in self._timeouts.items() for i, m in held.items())
        )
