"""Shared helpers for the consensus tests (no tests here): keys, validator sets and a tiny
deterministic in-order driver for n replicas.

The driver delivers messages first-in first-out, performs every effect, and when nothing is in
flight jumps its virtual clock to the earliest requested timer. It is deliberately simple; the
adversarial schedules live in ledger/simulation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache

from ledger.consensus import crypto
from ledger.consensus.block_tree import make_genesis
from ledger.consensus.effects import (
    Broadcast,
    Commit,
    Effect,
    NewEpoch,
    PersistSafety,
    Send,
    SetTimer,
)
from ledger.consensus.errors import InvalidMessage
from ledger.consensus.params import ProtocolParams
from ledger.consensus.replica import Replica
from ledger.consensus.safety import SafetyState
from ledger.consensus.types import Block, Message, TimeoutMsg, Vote
from ledger.consensus.validators import ValidatorInfo, ValidatorSet

CHAIN_ID = b"alliance-test"


def blst() -> crypto.Backend:
    return crypto.backend("blst")


@cache
def secret_key(i: int) -> int:
    return crypto.KeyGen(b"alliance-consensus-test-key-%03d" % i + bytes(8))


@cache
def validator_infos(n: int, offset: int = 0) -> tuple[ValidatorInfo, ...]:
    backend = blst()
    return tuple(
        ValidatorInfo.from_secret_key(i, secret_key(i + offset), backend, f"v{i + offset}")
        for i in range(n)
    )


@cache
def validator_set(n: int, epoch: int = 0, offset: int = 0) -> ValidatorSet:
    return ValidatorSet(validator_infos(n, offset), crypto=blst(), epoch=epoch)


def payload_counter(index: int) -> Callable[[int], Sequence[bytes]]:
    """Each leader proposes one fresh transaction per block."""
    counter = [0]

    def source(max_bytes: int) -> Sequence[bytes]:
        counter[0] += 1
        return (b"tx-%d-%d" % (index, counter[0]),)

    return source


def make_replica(
    index: int,
    vset: ValidatorSet,
    *,
    genesis: Block | None = None,
    safety: SafetyState | None = None,
    params: ProtocolParams | None = None,
    on_reconfigure: Callable[[Block], ValidatorSet | None] | None = None,
    key_offset: int = 0,
    retain_committed: int | None = None,
) -> Replica:
    return Replica(
        chain_id=CHAIN_ID,
        index=index,
        secret_key=secret_key(index + key_offset),
        validator_set=vset,
        genesis=genesis if genesis is not None else make_genesis(CHAIN_ID, vset),
        crypto=blst(),
        params=params,
        safety=safety,
        payload_source=payload_counter(index),
        on_reconfigure=on_reconfigure,
        retain_committed=retain_committed,
    )


@dataclass
class Driver:
    """n replicas, an in-order network, a virtual clock."""

    replicas: list[Replica]
    now_ms: int = 0
    queue: deque[tuple[int, int, Message]] = field(default_factory=deque)
    timers: dict[int, int] = field(default_factory=dict)
    commits: dict[int, list[Block]] = field(default_factory=dict)
    persisted: dict[int, SafetyState] = field(default_factory=dict)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    epochs: dict[int, list[int]] = field(default_factory=dict)
    down: set[int] = field(default_factory=set)
    drop: Callable[[int, int, Message], bool] = lambda sender, to, message: False

    @classmethod
    def of(cls, n: int, **kwargs: object) -> Driver:
        vset = validator_set(n)
        genesis = make_genesis(CHAIN_ID, vset)
        return cls([make_replica(i, vset, genesis=genesis, **kwargs) for i in range(n)])  # type: ignore[arg-type]

    def start(self) -> None:
        for i, replica in enumerate(self.replicas):
            self.perform(i, replica.start(self.now_ms))

    def perform(self, index: int, effects: list[Effect]) -> None:
        persisted_first = False
        for position, effect in enumerate(effects):
            if isinstance(effect, PersistSafety):
                assert position == 0, "PersistSafety must come first"
                self.persisted[index] = effect.state
                persisted_first = True
            elif isinstance(effect, Send | Broadcast):
                if isinstance(effect.message, Vote | TimeoutMsg) and effect.message.signature:
                    # A vote/timeout may only leave after the state that allowed it is durable.
                    assert persisted_first or self.persisted.get(index) is not None
                targets = (
                    [effect.to]
                    if isinstance(effect, Send)
                    else [j for j in range(len(self.replicas)) if j != index]
                )
                for to in targets:
                    self.queue.append((index, to, effect.message))
            elif isinstance(effect, Commit):
                self.commits.setdefault(index, []).append(effect.block)
            elif isinstance(effect, SetTimer):
                self.timers[index] = effect.at_ms
            elif isinstance(effect, NewEpoch):
                self.epochs.setdefault(index, []).append(effect.epoch)

    def deliver_one(self) -> None:
        sender, to, message = self.queue.popleft()
        if to in self.down or sender in self.down or self.drop(sender, to, message):
            return
        try:
            effects = self.replicas[to].on_message(sender, message, self.now_ms)
        except InvalidMessage as error:
            self.rejected.append((to, f"{type(error).__name__}: {error}"))
            return
        self.perform(to, effects)

    def tick_earliest(self) -> None:
        live = {i: t for i, t in self.timers.items() if i not in self.down}
        if not live:
            return
        at = min(live.values())
        self.now_ms = max(self.now_ms, at)
        for i, t in sorted(live.items()):
            if t <= self.now_ms:
                del self.timers[i]
                self.perform(i, self.replicas[i].on_tick(self.now_ms))

    def run(self, until: Callable[[Driver], bool], max_steps: int = 20_000) -> None:
        for _ in range(max_steps):
            if until(self):
                return
            if self.queue:
                self.deliver_one()
            else:
                self.tick_earliest()
        raise AssertionError("driver did not reach its goal")

    def committed_hashes(self, index: int) -> list[bytes]:
        return [b.hash for b in self.commits.get(index, [])]

    def min_commits(self, indices: Sequence[int] | None = None) -> int:
        chosen = range(len(self.replicas)) if indices is None else indices
        return min(len(self.commits.get(i, [])) for i in chosen)
