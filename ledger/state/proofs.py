"""Proofs about one block's state, checked against the state root in the block's header.

Two facts can be proved without the state itself, from the membership proof of one entry
(``store.EntryProof``):

- **a transaction's outcome**: the ``ChainMeta`` entry commits to ``receipts_root``, the hash of
  every receipt of the block that produced the state; with those receipts the verifier reads the
  receipt at a transaction's index (committed, or rejected with its code);
- **the next validator set**: the ``ValidatorSet`` entry of the block that ends an epoch holds the
  current validators and the pending changes, hence the validators of the next epoch.

Pure: a third party can check a receipt with this module and ``ledger.consensus``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ledger.consensus.encoding import DecodeError, Reader, Writer
from ledger.state.errors import InvalidTransaction, LedgerStateError
from ledger.state.records import (
    RECEIPTS_DOMAIN,
    ChainMeta,
    Receipt,
    Validator,
    ValidatorSet,
    keys,
)
from ledger.state.snapshot import decode_record
from ledger.state.state import State
from ledger.state.store import EntryProof, compute_entry_proof_root

__all__ = [
    "InvalidProof",
    "OutcomeProof",
    "ProvedOutcome",
    "compute_outcome_proof",
    "verify_next_validators",
    "verify_outcome",
]

#: The receipt record's tag byte (``Receipt.encode``).
_RECEIPT_TAG = 8


class InvalidProof(LedgerStateError):
    """A state proof that does not lead to the expected root or does not say what it claims."""


@dataclass(frozen=True)
class OutcomeProof:
    """The block's ``ChainMeta`` entry and every receipt of the block (encoded, in order)."""

    meta: EntryProof
    receipts: tuple[bytes, ...]


@dataclass(frozen=True)
class ProvedOutcome:
    """A receipt read from an outcome proof."""

    tx_hash: bytes
    committed: bool
    code: str
    height: int
    index: int


def compute_outcome_proof(state: State, receipts: Sequence[Receipt]) -> OutcomeProof:
    """The outcome proof for the block that produced ``state`` with ``receipts``."""
    return OutcomeProof(state.store.prove(keys.META), tuple(r.encode() for r in receipts))


def _entry(state_root: bytes, proof: EntryProof, key: bytes, what: str) -> object:
    if proof.key != key:
        raise InvalidProof(f"{what} proof is for another key")
    if compute_entry_proof_root(proof) != state_root:
        raise InvalidProof(f"{what} proof does not lead to the header's state root")
    try:
        return decode_record(proof.value)
    except InvalidTransaction as exc:  # the record decoders report malformed bytes this way
        raise InvalidProof(f"{what} record is malformed: {exc.reason}") from exc


def _meta(state_root: bytes, proof: EntryProof, height: int) -> ChainMeta:
    meta = _entry(state_root, proof, keys.META, "chain metadata")
    if not isinstance(meta, ChainMeta):
        raise InvalidProof("chain metadata proof holds another record")
    if meta.height != height:
        raise InvalidProof(f"chain metadata is of height {meta.height}, not {height}")
    return meta


def _decode_receipt(data: bytes) -> ProvedOutcome:
    try:
        r = Reader(data)
        tag, tx_hash, status = r.u8(), r.fixed(32), r.u8()
        code = r.fixed(r.u8()).decode("ascii")
        outcome = ProvedOutcome(tx_hash, status == 1, code, r.u64(), r.u32())
        r.finish()
    except (DecodeError, UnicodeDecodeError) as exc:
        raise InvalidProof("a receipt is malformed") from exc
    canonical = (
        Writer().u8(_RECEIPT_TAG).fixed(tx_hash, 32).u8(status).text(code)
        .u64(outcome.height).u32(outcome.index).getvalue()
    )  # fmt: skip
    if tag != _RECEIPT_TAG or status > 1 or canonical != data:
        raise InvalidProof("a receipt is not canonically encoded")
    return outcome


def verify_outcome(
    state_root: bytes, height: int, proof: OutcomeProof, index: int
) -> ProvedOutcome:
    """The receipt of the transaction at ``index`` of the block at ``height`` whose header carries
    ``state_root``; raises ``InvalidProof``."""
    meta = _meta(state_root, proof.meta, height)
    body = len(proof.receipts).to_bytes(4, "big") + b"".join(proof.receipts)
    if hashlib.sha256(RECEIPTS_DOMAIN + body).digest() != meta.receipts_root:
        raise InvalidProof("the receipts do not hash to the state's receipts root")
    if not 0 <= index < len(proof.receipts):
        raise InvalidProof(f"no receipt at index {index}")
    outcome = _decode_receipt(proof.receipts[index])
    if outcome.index != index or outcome.height != height:
        raise InvalidProof("the receipt names another position")
    return outcome


def verify_next_validators(
    state_root: bytes, *, height: int, epoch: int, meta: EntryProof, validators: EntryProof
) -> tuple[Validator, ...]:
    """The validators of epoch ``epoch + 1`` (in signer-bitmap order), proved from the state of
    the block that ended ``epoch``; raises ``InvalidProof``.

    That block is the first of its epoch whose state holds pending validator changes (the next
    block's state begins the next epoch), so its state is still of ``epoch`` and has pending
    changes; no other committed block of the chain has both (docs/ledger.md, "Epochs").
    """
    chain_meta = _meta(state_root, meta, height)
    if chain_meta.epoch != epoch:
        raise InvalidProof(f"the state is of epoch {chain_meta.epoch}, not {epoch}")
    record = _entry(state_root, validators, keys.VALIDATORS, "validator set")
    if not isinstance(record, ValidatorSet):
        raise InvalidProof("validator set proof holds another record")
    if not record.pending:
        raise InvalidProof("the block has no pending validator changes: it ends no epoch")
    return record.next_validators()
