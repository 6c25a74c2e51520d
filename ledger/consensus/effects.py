"""Effects returned by the replica's handlers; the caller (node, simulator, test) performs them.

Order matters: a ``PersistSafety`` always comes first in a handler's list, before any ``Send`` or
``Broadcast`` of a vote or timeout signed under that state; the caller must make it durable before
sending anything that follows it.

- ``Send(to, message)``: to one validator (index in the replica's current validator set). A replica
  never sends to itself: what it would send to itself it processes internally.
- ``Broadcast(message)``: to every validator of the replica's current validator set EXCEPT itself.
- ``Commit(block, cert)``: the block is final; emitted once per block, in height order. ``cert``
  proves it to anyone holding the epoch's validator set (``verify_commit``).
- ``SetTimer(at_ms)``: call ``on_tick(now_ms)`` at or after ``at_ms``. Early, late, duplicate or
  superseded ticks are harmless; only the latest request matters.
- ``PersistSafety(state)``: make ``state`` durable; on restart pass it as ``Replica(safety=...)``.
- ``NewEpoch(epoch, validator_set)``: informational; the replica now runs the given epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .safety import SafetyState
from .types import Block, CommitCert, Message
from .validators import ValidatorSet

__all__ = ["Broadcast", "Commit", "Effect", "NewEpoch", "PersistSafety", "Send", "SetTimer"]


@dataclass(frozen=True)
class Send:
    to: int
    message: Message


@dataclass(frozen=True)
class Broadcast:
    message: Message


@dataclass(frozen=True)
class Commit:
    block: Block
    cert: CommitCert


@dataclass(frozen=True)
class SetTimer:
    at_ms: int


@dataclass(frozen=True)
class PersistSafety:
    state: SafetyState


@dataclass(frozen=True)
class NewEpoch:
    epoch: int
    validator_set: ValidatorSet


Effect = Union[Send, Broadcast, Commit, SetTimer, PersistSafety, NewEpoch]  # noqa: UP007
