"""Byzantine validators for the simulator.

A Byzantine validator here is an honest ``Replica`` holding the Byzantine key, wrapped by a
*behaviour* that rewrites what the replica sends (and may add messages of its own, crafted with the
exported signing helpers). Working from an honest replica keeps the attacks realistic: the
Byzantine node knows the current round, the high QC and the leader schedule, and its forged
messages are well-formed except in the one way the behaviour intends.

Behaviours (``BEHAVIOURS``):

``equivocate``
    As leader, sends two different proposals for its round (same parent and QC, different
    payloads) to two random halves of the other validators, and votes for both.
``double_vote``
    Every vote is followed (or preceded) by a validly signed vote for a different block hash in the
    same round, to the same recipient.
``bad_signature``
    Votes and timeouts carry corrupted, random or wrong-message signatures or name another voter;
    timeouts may carry a high QC with a corrupted aggregate; as leader it first sends a proposal
    whose QC has a corrupted aggregate or too few signers.
``withhold``
    Silent: sends nothing at all (a crash from the start that nobody can distinguish from a slow
    network).
``replay``
    Behaves honestly and also re-sends random old messages it received (and its own) to random
    validators.
``future``
    Behaves honestly and also sends validly signed votes and timeouts for rounds far ahead, and
    proposals with far-future rounds, epochs and timestamps.
``twins``
    Not a wrapper: the simulator runs two honest replicas with the same key and index (Twins,
    Bano et al. 2020); see ``scenario.py``.

Honest replicas must reject the bad messages with a named ``InvalidMessage`` subclass, which the
simulator counts; no behaviour may make two honest replicas commit different blocks (at most f
Byzantine validators).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ledger.consensus.crypto import Backend
from ledger.consensus.effects import Broadcast, Effect, Send
from ledger.consensus.errors import InvalidMessage
from ledger.consensus.signing import compute_timeout_signing_root, compute_vote_signing_root
from ledger.consensus.types import (
    HASH_SIZE,
    Block,
    Message,
    Proposal,
    QuorumCert,
    TimeoutMsg,
    Vote,
    compute_payload_root,
)
from ledger.consensus.validators import ValidatorSet

__all__ = [
    "BEHAVIOURS",
    "Actor",
    "ByzantineActor",
    "ByzantineBehaviour",
    "ByzantineContext",
    "make_behaviour",
    "parse_behaviour",
]


class ByzantineBehaviour(StrEnum):
    """The one set of Byzantine behaviour names, shared by the simulator and the validator process
    (whose test-only ``"byzantine"`` setting accepts a subset of them)."""

    EQUIVOCATE = "equivocate"
    DOUBLE_VOTE = "double_vote"
    BAD_SIGNATURE = "bad_signature"
    WITHHOLD = "withhold"
    REPLAY = "replay"
    FUTURE = "future"
    TWINS = "twins"


BEHAVIOURS: tuple[ByzantineBehaviour, ...] = tuple(ByzantineBehaviour)


def parse_behaviour(
    name: str, allowed: tuple[ByzantineBehaviour, ...] = BEHAVIOURS
) -> ByzantineBehaviour:
    """The behaviour called ``name`` if it is in ``allowed``; ValueError naming them otherwise."""
    if name not in allowed:
        choices = ", ".join(str(b) for b in allowed)
        raise ValueError(f"unknown Byzantine behaviour {name!r}; choose from {choices}")
    return ByzantineBehaviour(name)


#: Bound on what a replaying node remembers, so a long run does not grow without limit.
_REPLAY_MEMORY = 256
#: Far enough ahead to be beyond any look-ahead window a replica could keep.
_FAR_FUTURE = 10**9


class Actor(Protocol):
    """What the simulator drives: an honest ``Replica`` or a Byzantine wrapper of one."""

    def start(self, now_ms: int) -> list[Effect]: ...

    def on_message(self, sender: int, message: Message, now_ms: int) -> list[Effect]: ...

    def on_tick(self, now_ms: int) -> list[Effect]: ...


@dataclass(frozen=True)
class ByzantineContext:
    """What a Byzantine validator knows: its own key and the public parameters of the chain."""

    index: int
    secret_key: int
    chain_id: bytes
    validator_set: ValidatorSet
    crypto: Backend

    @property
    def others(self) -> list[int]:
        return [i for i in range(self.validator_set.n) if i != self.index]

    def sign_vote(self, epoch: int, round: int, block_hash: bytes) -> bytes:
        root = compute_vote_signing_root(self.chain_id, epoch, round, block_hash)
        return self.crypto.Sign(self.secret_key, root)

    def sign_timeout(self, epoch: int, round: int, high_qc_round: int) -> bytes:
        root = compute_timeout_signing_root(self.chain_id, epoch, round, high_qc_round)
        return self.crypto.Sign(self.secret_key, root)


class Behaviour:
    """Base: honest. Subclasses rewrite outgoing effects and may add their own messages."""

    name: str = "honest"

    def __init__(self, context: ByzantineContext, rng: random.Random) -> None:
        self.context = context
        self.rng = rng
        self.last_proposal: Proposal | None = None

    def observe(self, sender: int, message: Message) -> None:
        """Called for every message the Byzantine node receives (before its replica sees it)."""
        if isinstance(message, Proposal):
            self.last_proposal = message

    def rewrite(self, effects: list[Effect], now_ms: int) -> list[Effect]:
        """What the node actually sends instead of ``effects`` (honest: the same)."""
        return effects

    # -- helpers --------------------------------------------------------------------------------

    def recipients(self, effect: Send | Broadcast) -> list[int]:
        return [effect.to] if isinstance(effect, Send) else self.context.others

    def halves(self) -> tuple[list[int], list[int]]:
        others = self.context.others
        self.rng.shuffle(others)
        middle = len(others) // 2
        return others[:middle], others[middle:]


class Equivocate(Behaviour):
    name: str = ByzantineBehaviour.EQUIVOCATE

    def rewrite(self, effects: list[Effect], now_ms: int) -> list[Effect]:
        out: list[Effect] = []
        for effect in effects:
            message = _message_of(effect)
            if isinstance(message, Proposal):
                twin = _conflicting_proposal(message, tag=b"equivocation")
                first, second = self.halves()
                out += [Send(to, message) for to in first]
                out += [Send(to, twin) for to in second]
                # Vote for the twin too, so both proposals can gather votes.
                block = twin.block
                vote = Vote(
                    block.epoch, block.round, block.hash, self.context.index,
                    self.context.sign_vote(block.epoch, block.round, block.hash),
                )  # fmt: skip
                leader = self.context.validator_set.leader(block.round + 1)
                if leader != self.context.index:
                    out.append(Send(leader, vote))
            else:
                out.append(effect)
        return out


class DoubleVote(Behaviour):
    name: str = ByzantineBehaviour.DOUBLE_VOTE

    def rewrite(self, effects: list[Effect], now_ms: int) -> list[Effect]:
        out: list[Effect] = []
        for effect in effects:
            message = _message_of(effect)
            if isinstance(message, Vote) and isinstance(effect, Send | Broadcast):
                other_hash = self.rng.randbytes(HASH_SIZE)
                forged = dataclasses.replace(
                    message,
                    block_hash=other_hash,
                    signature=self.context.sign_vote(message.epoch, message.round, other_hash),
                )
                pair = [message, forged]
                self.rng.shuffle(pair)
                out += [Send(to, m) for to in self.recipients(effect) for m in pair]
            else:
                out.append(effect)
        return out


class BadSignature(Behaviour):
    name: str = ByzantineBehaviour.BAD_SIGNATURE

    def rewrite(self, effects: list[Effect], now_ms: int) -> list[Effect]:
        out: list[Effect] = []
        for effect in effects:
            message = _message_of(effect)
            if isinstance(message, Vote | TimeoutMsg) and isinstance(effect, Send | Broadcast):
                bad = self._spoil(message)
                out += [Send(to, bad) for to in self.recipients(effect)]
            elif isinstance(message, Proposal) and isinstance(effect, Send | Broadcast):
                spoiled = dataclasses.replace(message, qc=self._spoil_qc(message.qc))
                out += [Send(to, spoiled) for to in self.recipients(effect)]
                if self.rng.random() < 0.5:
                    # Sometimes follow with the real one: it must still be accepted.
                    out.append(effect)
            else:
                out.append(effect)
        return out

    def _spoil(self, message: Vote | TimeoutMsg) -> Vote | TimeoutMsg:
        choice = self.rng.randrange(5)
        if choice == 4 and isinstance(message, TimeoutMsg):
            # A correctly signed timeout whose high QC (a certificate) has a bad aggregate.
            return dataclasses.replace(message, high_qc=self._spoil_qc(message.high_qc))
        if choice == 4:
            choice = 0
        if choice == 0:  # one flipped bit
            signature = bytearray(message.signature)
            signature[self.rng.randrange(len(signature))] ^= 1 << self.rng.randrange(8)
            return dataclasses.replace(message, signature=bytes(signature))
        if choice == 1:  # random bytes of the right size
            return dataclasses.replace(message, signature=self.rng.randbytes(96))
        if choice == 2:  # a valid signature over another round
            if isinstance(message, Vote):
                sig = self.context.sign_vote(message.epoch, message.round + 1, message.block_hash)
            else:
                sig = self.context.sign_timeout(
                    message.epoch, message.round + 1, message.high_qc.round
                )
            return dataclasses.replace(message, signature=sig)
        # A message naming another validator as its signer (impersonation).
        victim = self.rng.choice(self.context.others)
        if isinstance(message, Vote):
            return dataclasses.replace(message, voter=victim)
        return dataclasses.replace(message, author=victim)

    def _spoil_qc(self, qc: QuorumCert) -> QuorumCert:
        if not qc.signers.strip(b"\x00"):
            # The epoch's root certificate has no signature to spoil: claim a fake quorum instead.
            signers = self.context.validator_set.bitmap_from_indices(
                range(self.context.validator_set.quorum)
            )
            return dataclasses.replace(qc, signers=signers, signature=self.rng.randbytes(96))
        if self.rng.random() < 0.5:
            signature = bytearray(qc.signature)
            signature[self.rng.randrange(len(signature))] ^= 0x01
            return dataclasses.replace(qc, signature=bytes(signature))
        # Too few signers: only this validator, with its own valid signature.
        sig = self.context.sign_vote(qc.epoch, qc.round, qc.block_hash)
        bitmap = self.context.validator_set.bitmap_from_indices([self.context.index])
        return dataclasses.replace(qc, signers=bitmap, signature=sig)


class Withhold(Behaviour):
    name: str = ByzantineBehaviour.WITHHOLD

    def rewrite(self, effects: list[Effect], now_ms: int) -> list[Effect]:
        return []


class Replay(Behaviour):
    name: str = ByzantineBehaviour.REPLAY

    def __init__(self, context: ByzantineContext, rng: random.Random) -> None:
        super().__init__(context, rng)
        self.memory: list[Message] = []

    def _remember(self, message: Message) -> None:
        if len(self.memory) >= _REPLAY_MEMORY:
            self.memory[self.rng.randrange(_REPLAY_MEMORY)] = message
        else:
            self.memory.append(message)

    def observe(self, sender: int, message: Message) -> None:
        super().observe(sender, message)
        self._remember(message)

    def rewrite(self, effects: list[Effect], now_ms: int) -> list[Effect]:
        out = list(effects)
        for effect in effects:
            message = _message_of(effect)
            if message is not None:
                self._remember(message)
        if self.memory and self.rng.random() < 0.5:
            for _ in range(self.rng.randint(1, 3)):
                out.append(Send(self.rng.choice(self.context.others), self.rng.choice(self.memory)))
        return out


class Future(Behaviour):
    name: str = ByzantineBehaviour.FUTURE

    def rewrite(self, effects: list[Effect], now_ms: int) -> list[Effect]:
        out = list(effects)
        if self.last_proposal is None or self.rng.random() < 0.5:
            return out
        out.append(Send(self.rng.choice(self.context.others), self._forge(self.last_proposal)))
        return out

    def _forge(self, seen: Proposal) -> Message:
        context = self.context
        epoch, round = seen.block.epoch, seen.block.round
        choice = self.rng.randrange(5)
        if choice == 0:  # a vote far ahead (valid signature)
            ahead = round + self.rng.choice([1_001, 10_000, _FAR_FUTURE])
            block_hash = self.rng.randbytes(HASH_SIZE)
            return Vote(epoch, ahead, block_hash, context.index,
                        context.sign_vote(epoch, ahead, block_hash))  # fmt: skip
        if choice == 1:  # a timeout far ahead (valid signature, real high QC)
            ahead = round + self.rng.choice([1_001, 10_000, _FAR_FUTURE])
            signature = context.sign_timeout(epoch, ahead, seen.qc.round)
            return TimeoutMsg(epoch, ahead, context.index, seen.qc, None, signature)
        if choice == 2:  # a vote in a far-future epoch
            far_epoch = epoch + self.rng.choice([1, 1_000])
            return Vote(far_epoch, round, seen.block.hash, context.index,
                        context.sign_vote(far_epoch, round, seen.block.hash))  # fmt: skip
        # A proposal for a far-future round this node leads, or with a far-future timestamp.
        n = context.validator_set.n
        if choice == 3:
            ahead = round + 1_000 * n
            ahead += (context.index - ahead) % n
            header = dataclasses.replace(seen.block.header, round=ahead, proposer=context.index)
        else:
            header = dataclasses.replace(
                seen.block.header,
                proposer=context.index,
                timestamp_ms=seen.block.header.timestamp_ms + _FAR_FUTURE,
            )
        return dataclasses.replace(seen, block=Block(header, seen.block.payload))


_BEHAVIOURS: dict[ByzantineBehaviour, type[Behaviour]] = {
    ByzantineBehaviour(cls.name): cls
    for cls in (Equivocate, DoubleVote, BadSignature, Withhold, Replay, Future)
}


def make_behaviour(name: str, context: ByzantineContext, rng: random.Random) -> Behaviour:
    """The behaviour called ``name`` (one of BEHAVIOURS except ``twins``); ValueError otherwise."""
    return _BEHAVIOURS[parse_behaviour(name, tuple(_BEHAVIOURS))](context, rng)


class ByzantineActor:
    """An honest replica with the Byzantine key whose output goes through a behaviour."""

    def __init__(self, inner: Actor, behaviour: Behaviour) -> None:
        self.inner = inner
        self.behaviour = behaviour
        #: Invalid messages the inner replica refused (forged by other Byzantine nodes, say).
        self.inner_rejections = 0

    def start(self, now_ms: int) -> list[Effect]:
        return self.behaviour.rewrite(self.inner.start(now_ms), now_ms)

    def on_message(self, sender: int, message: Message, now_ms: int) -> list[Effect]:
        self.behaviour.observe(sender, message)
        try:
            effects = self.inner.on_message(sender, message, now_ms)
        except InvalidMessage:
            self.inner_rejections += 1
            effects = []
        return self.behaviour.rewrite(effects, now_ms)

    def on_tick(self, now_ms: int) -> list[Effect]:
        return self.behaviour.rewrite(self.inner.on_tick(now_ms), now_ms)


def _message_of(effect: Effect) -> Message | None:
    if isinstance(effect, Send | Broadcast):
        message: Message = effect.message
        return message
    return None


def _conflicting_proposal(proposal: Proposal, *, tag: bytes) -> Proposal:
    """Same round, parent and QC as ``proposal`` but another payload, hence another block hash."""
    payload: Sequence[bytes] = (*proposal.block.payload, tag + proposal.block.hash)
    header = dataclasses.replace(proposal.block.header, payload_root=compute_payload_root(payload))
    return dataclasses.replace(proposal, block=Block(header, tuple(payload)))
