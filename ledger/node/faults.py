"""Test-only Byzantine behaviours of a validator process (config ``"byzantine"``).

They rewrite what the validator sends, after its own honest replica decided it:

- ``bad_signature``: every vote and timeout leaves with a valid-looking signature over the wrong
  message (a real G2 point, so only the aggregate check can catch it);
- ``equivocate``: as leader it sends its proposal to the even-indexed peers and a different block
  for the same round (same parent, empty payload, later timestamp) to the odd-indexed ones.

The node itself has no fault checks: a Byzantine validator's transport is wrapped in a
``ByzantineTransport`` (consensus frames to each peer pass through the behaviour) and its payload
source in ``Byzantine.payload_source``. The config loader refuses them outside test mode
(``LEDGER_NODE_TEST_MODE=1``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

from ledger.consensus import Block, Message, Proposal, TimeoutMsg, Vote, decode, make_block
from ledger.consensus.crypto import Backend
from ledger.simulation.byzantine import ByzantineBehaviour

from .transport import Transport
from .wire import CONSENSUS

__all__ = ["Byzantine", "ByzantineTransport", "PayloadSource"]

logger = logging.getLogger(__name__)

Execute = Callable[[bytes, tuple[bytes, ...], int], bytes]
GetBlock = Callable[[bytes], "Block | None"]
#: The replica's hook: a byte budget -> the transactions a leader proposes.
PayloadSource = Callable[[int], Sequence[bytes]]


class Byzantine:
    """Rewrites outgoing consensus messages; ``outgoing`` returns (recipient, message) pairs."""

    def __init__(
        self,
        behaviour: ByzantineBehaviour,
        *,
        secret_key: int,
        crypto: Backend,
        execute: Execute,
        get_block: GetBlock,
    ) -> None:
        self.behaviour = behaviour
        self._sk = secret_key
        self._crypto = crypto
        self._execute = execute
        self._get_block = get_block
        #: How many messages were rewritten (the fault tests check the behaviour really ran).
        self.rewritten = 0

    def outgoing(self, to: int, message: Message) -> Message:
        """The message peer ``to`` receives instead of ``message``."""
        rewritten: Message | None = None
        if self.behaviour is ByzantineBehaviour.BAD_SIGNATURE and isinstance(
            message, Vote | TimeoutMsg
        ):
            wrong = self._crypto.Sign(self._sk, b"not what was claimed" + message.hash)
            rewritten = dataclasses.replace(message, signature=wrong)
        if (
            self.behaviour is ByzantineBehaviour.EQUIVOCATE
            and isinstance(message, Proposal)
            and to % 2 == 1
        ):
            rewritten = self._twin(message)
        if rewritten is None:
            return message
        self.rewritten += 1
        if self.rewritten in (1, 5, 10, 100, 1000):
            logger.warning("byzantine (%s): %d messages rewritten", self.behaviour, self.rewritten)
        return rewritten

    def payload_source(self, honest: PayloadSource) -> PayloadSource:
        """The leader's payload: an equivocator proposes empty blocks, which keeps its twin
        (empty too) and the original equally valid; other behaviours propose honestly."""
        if self.behaviour is ByzantineBehaviour.EQUIVOCATE:
            return lambda limit: ()
        return honest

    def _twin(self, proposal: Proposal) -> Proposal | None:
        block = proposal.block
        parent = self._get_block(block.parent_hash)
        if parent is None:
            return None
        timestamp_ms = block.header.timestamp_ms + 1
        root = self._execute(parent.header.state_root, (), timestamp_ms)
        twin = make_block(
            chain_id=block.header.chain_id,
            epoch=block.epoch,
            round=block.round,
            parent=parent,
            payload=(),
            proposer=block.header.proposer,
            timestamp_ms=timestamp_ms,
            state_root=root,
        )
        return Proposal(twin, proposal.qc, proposal.tc)


class ByzantineTransport:
    """The transport a Byzantine validator's node talks to: every consensus frame goes through
    ``byzantine.outgoing`` for its recipient; everything else passes unchanged."""

    def __init__(self, inner: Transport, byzantine: Byzantine) -> None:
        self.inner = inner
        self.byzantine = byzantine

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    def send(self, to: int, kind: int, body: bytes) -> None:
        if kind == CONSENSUS:
            # Decoding again costs a little, and only on the test-only Byzantine validators.
            message = decode(body)
            if isinstance(message, Proposal | Vote | TimeoutMsg):
                body = self.byzantine.outgoing(to, message).encoded
        self.inner.send(to, kind, body)

    def broadcast(self, kind: int, body: bytes) -> None:
        self.inner.broadcast(kind, body)

    def status(self) -> list[dict[str, object]]:
        return self.inner.status()

    def partition(self, peers: list[int], duration_s: float) -> None:
        self.inner.partition(peers, duration_s)
