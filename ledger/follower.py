"""The follower: verify committed blocks with the light-client check and mirror them.

Two layers:

- :class:`ChainVerifier` (no Django): holds the pinned genesis, the current epoch's validator set
  and the replayed state. ``apply(block, cert)`` checks the hash link, the commit certificate
  (``verify_commit``, docs/ledger.md "Commit certificate") and the state root by replaying the
  transactions with ``ledger.state``; it is all-or-nothing and raises :class:`ChainError`.
  Epoch changes follow ``ledger.state``: a block whose state holds pending validator changes ends
  its epoch, and the next block is verified against ``state.next_validator_set()`` (proofs of
  possession come from the genesis and the committed ``validator_add`` transactions).
  ``manage.py ledger_verify`` uses the same class over the mirror.
- :class:`Follower` (Django): streams ``/v1/blocks?from=`` from any node, switches node on a
  failure or a refused block, and hands each verified block to ``services.mirror_block``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from ledger.client import NodeError
from ledger.consensus import Block, CommitCert, ValidatorInfo, ValidatorSet, decode, verify_commit
from ledger.consensus.crypto import Backend
from ledger.consensus.crypto import backend as crypto_backend
from ledger.consensus.errors import ConsensusError, DecodeError
from ledger.state import (
    GenesisConfig,
    LedgerStateError,
    Receipt,
    State,
    Transaction,
    TxType,
    ValidatorAdd,
    apply_block,
    decode_transactions,
    genesis_state,
)

__all__ = [
    "AppliedBlock",
    "BadCertificate",
    "BadLink",
    "BadStateRoot",
    "ChainError",
    "ChainVerifier",
    "Follower",
    "GenesisInfo",
    "parse_block_object",
]

logger = logging.getLogger(__name__)


class ChainError(Exception):
    """A block that does not belong on the verified chain; ``height`` names it."""

    def __init__(self, height: int, message: str) -> None:
        super().__init__(f"block {height}: {message}")
        self.height = height
        self.message = message


class BadLink(ChainError):
    """Wrong height, parent hash, epoch or chain id, or an undecodable block."""


class BadCertificate(ChainError):
    """The commit certificate does not verify against the epoch's validator set."""


class BadStateRoot(ChainError):
    """Replaying the transactions does not give the header's state root (or is invalid)."""


@dataclass(frozen=True)
class GenesisInfo:
    """The pinned description of the chain (``GET /v1/genesis`` or genesis.json)."""

    chain_id: bytes
    block: Block
    validators: tuple[ValidatorInfo, ...]
    config: GenesisConfig
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GenesisInfo:
        """Parse the node API's genesis description; ``ValueError`` on a malformed one."""
        try:
            block = decode(bytes.fromhex(data["genesis_block"]))
            if not isinstance(block, Block):
                raise ValueError("genesis_block is not a block")
            validators = tuple(
                ValidatorInfo(
                    index=int(v["index"]),
                    public_key=bytes.fromhex(v["public_key"]),
                    proof_of_possession=bytes.fromhex(v["pop"]),
                    name=str(v.get("name", "")),
                )
                for v in sorted(data["validators"], key=lambda v: int(v["index"]))
            )
            return cls(
                chain_id=bytes.fromhex(data["chain_id"]),
                block=block,
                validators=validators,
                config=GenesisConfig.from_dict(data["state"]),
                raw=dict(data),
            )
        except (KeyError, TypeError, DecodeError, LedgerStateError) as exc:
            raise ValueError(f"malformed genesis description: {exc!r}") from exc


@dataclass(frozen=True)
class AppliedBlock:
    """A verified block and what replaying it produced."""

    block: Block
    cert: CommitCert
    transactions: tuple[Transaction, ...]
    receipts: tuple[Receipt, ...]
    state: State
    signers: tuple[int, ...]
    proposer_name: str
    #: The state before the block: what the block changed is found by comparing (the holds
    #: that expired at it are in the parent's expiry index, not in any transaction).
    parent_state: State


def parse_block_object(item: dict[str, Any]) -> tuple[Block, CommitCert]:
    """Decode the ``block`` and ``certificate`` of a node API block object (BadLink if not)."""
    height = int(item.get("height", -1))
    try:
        block = decode(bytes.fromhex(item["block"]))
        cert = decode(bytes.fromhex(item["certificate"]))
    except (KeyError, TypeError, ValueError, DecodeError) as exc:
        raise BadLink(height, f"undecodable block or certificate ({exc})") from exc
    if not isinstance(block, Block) or not isinstance(cert, CommitCert):
        raise BadLink(height, "block or certificate of the wrong type")
    return block, cert


class ChainVerifier:
    """The verified tip of the chain, its validator set and its replayed state."""

    def __init__(self, genesis: GenesisInfo, crypto: Backend | None = None) -> None:
        self.crypto = crypto if crypto is not None else crypto_backend()
        self.genesis = genesis
        try:
            vset = ValidatorSet(genesis.validators, crypto=self.crypto, epoch=0)
        except ConsensusError as exc:
            raise BadLink(0, f"invalid genesis validator set: {exc}") from exc
        header = genesis.block.header
        if (
            header.height != 0
            or header.chain_id != genesis.chain_id
            or genesis.block.payload != (vset.digest,)
            or not genesis.block.is_payload_consistent()
        ):
            raise BadLink(0, "genesis block does not match the pinned chain id or validator set")
        try:
            state = genesis_state(genesis.config, pop_verify=self.crypto.PopVerify)
        except LedgerStateError as exc:
            raise BadStateRoot(0, f"invalid genesis state: {exc}") from exc
        if state.root != header.state_root:
            raise BadStateRoot(0, "genesis state root does not match the genesis block")
        self.validator_set = vset
        self.state = state
        self.tip = genesis.block
        self.pops: dict[bytes, bytes] = {
            v.public_key: v.proof_of_possession for v in genesis.validators
        }

    @property
    def height(self) -> int:
        return self.tip.height

    def apply(
        self, block: Block, cert: CommitCert, *, check_certificate: bool = True
    ) -> AppliedBlock:
        """Verify ``block`` as the next block and advance (all-or-nothing)."""
        h = block.header
        if h.height != self.tip.height + 1:
            raise BadLink(h.height, f"expected height {self.tip.height + 1}")
        if h.parent_hash != self.tip.hash:
            raise BadLink(h.height, "parent hash does not link to the previous block")
        if h.chain_id != self.genesis.chain_id or h.epoch != self.validator_set.epoch:
            raise BadLink(h.height, "wrong chain id or epoch")
        if check_certificate and not verify_commit(self.validator_set, block, cert):
            raise BadCertificate(h.height, "commit certificate does not verify")
        if not block.is_payload_consistent():
            raise BadLink(h.height, "payload does not match the payload root")
        try:
            txs = decode_transactions(block.payload)
            state, receipts = apply_block(self.state, txs, timestamp_ms=h.timestamp_ms)
        except LedgerStateError as exc:
            raise BadStateRoot(h.height, f"replay fails: {exc}") from exc
        if state.root != h.state_root:
            raise BadStateRoot(h.height, "replayed state root differs from the header")
        pops = dict(self.pops)
        for tx, receipt in zip(txs, receipts, strict=True):
            if tx.type is TxType.VALIDATOR_ADD and str(receipt.status) == "committed":
                payload = tx.payload
                assert isinstance(payload, ValidatorAdd)
                pops[payload.bls_public_key] = payload.proof_of_possession
        vset = self.validator_set
        next_vset = vset
        if state.pending_validator_changes:
            next_vset = self._next_set(h.height, state, pops)
        signers = tuple(vset.indices_from_bitmap(cert.qc.signers))
        proposer = vset.validators[h.proposer].name if h.proposer < vset.n else ""
        # Assign only now: every check passed.
        parent_state = self.state
        self.state, self.tip, self.pops, self.validator_set = state, block, pops, next_vset
        return AppliedBlock(
            block, cert, tuple(txs), receipts, state, signers, proposer, parent_state
        )

    def _next_set(self, height: int, state: State, pops: dict[bytes, bytes]) -> ValidatorSet:
        infos = []
        for index, v in enumerate(state.next_validator_set()):
            pop = pops.get(v.bls_public_key)
            if pop is None:
                raise BadStateRoot(height, f"no proof of possession known for {v.org_id}")
            infos.append(ValidatorInfo(index, v.bls_public_key, pop, v.org_id))
        try:
            return self.validator_set.successor(infos, epoch=self.validator_set.epoch + 1)
        except ConsensusError as exc:
            raise BadStateRoot(height, f"invalid next validator set: {exc}") from exc


class Follower:
    """Streams committed blocks from the nodes and mirrors each verified one.

    ``mirror`` persists an ``AppliedBlock`` (``services.mirror_block``); it is injected so this
    class stays testable without the database layer deciding what to verify.
    """

    def __init__(
        self,
        client: Any,
        verifier: ChainVerifier,
        mirror: Callable[[AppliedBlock, dict[str, Any]], object],
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_backoff: float = 10.0,
    ) -> None:
        self.client = client
        self.verifier = verifier
        self.mirror = mirror
        self.sleep = sleep
        self.max_backoff = max_backoff
        self.node = 0
        self.refused: list[tuple[str, str]] = []  # (node url, why) for logs and tests

    def _stream(self) -> Iterator[dict[str, Any]]:
        return iter(self.client.stream_blocks(self.node, self.verifier.height + 1))

    def process(self, item: dict[str, Any]) -> AppliedBlock:
        """Verify and mirror one block object (ChainError when it does not verify)."""
        block, cert = parse_block_object(item)
        if block.height <= self.verifier.height:
            raise BadLink(block.height, "already mirrored")
        applied = self.verifier.apply(block, cert)
        self.mirror(applied, item)
        return applied

    def run(
        self,
        *,
        until_height: int | None = None,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> int:
        """Follow until ``until_height`` is mirrored or ``deadline`` passes (forever if neither).

        A transport failure, a broken stream or a block that does not verify makes the follower
        switch to the next node and continue from its verified height. Returns the height."""
        backoff = 0.5
        while until_height is None or self.verifier.height < until_height:
            if deadline is not None and clock() >= deadline:
                break
            url = self.client.urls[self.node]
            try:
                for item in self._stream():
                    if item.get("height", 0) <= self.verifier.height:
                        continue  # a node replaying what we already hold
                    self.process(item)
                    backoff = 0.5
                    if until_height is not None and self.verifier.height >= until_height:
                        return self.verifier.height
                    if deadline is not None and clock() >= deadline:
                        return self.verifier.height
                reason = "stream ended"
            except ChainError as exc:
                # The node served a block that does not verify: never mirror it, try another.
                reason = f"refused {exc}"
                self.refused.append((url, str(exc)))
                logger.warning("ledger follower: %s from %s", exc, url)
            except (httpx.HTTPError, OSError, ValueError, NodeError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                logger.info("ledger follower: %s failed (%s); switching node", url, reason)
            self.node = (self.node + 1) % len(self.client.urls)
            if self.node == 0:
                # A full turn over the nodes without progress: wait before the next turn.
                self.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            logger.debug("ledger follower: %s: %s", url, reason)
        return self.verifier.height
