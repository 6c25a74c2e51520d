"""Membership proofs in the bucketed Merkle map, and the outcome proofs built on them."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import pytest

from ledger.state.proofs import InvalidProof, OutcomeProof, verify_next_validators, verify_outcome
from ledger.state.store import BUCKET_BITS, EntryProof, MerkleMap, compute_entry_proof_root


@dataclass(frozen=True)
class Blob:
    data: bytes

    def encode(self) -> bytes:
        return b"\x09" + self.data


def a_map(size: int, seed: int = 7) -> tuple[MerkleMap, dict[bytes, Blob]]:
    rng = random.Random(seed)
    entries = {rng.randbytes(rng.randint(1, 40)): Blob(rng.randbytes(8)) for _ in range(size)}
    # A few keys in one bucket, so proofs with several entry hashes are exercised.
    entries.update({b"k" + bytes([i]): Blob(bytes([i])) for i in range(4)})
    return MerkleMap().updated(entries), entries


def test_every_entry_is_proved_against_the_root_and_proving_changes_nothing() -> None:
    store, entries = a_map(3000)
    root = store.root
    for key, value in entries.items():
        proof = store.prove(key)
        assert proof.value == value.encode() and len(proof.siblings) == BUCKET_BITS
        assert compute_entry_proof_root(proof) == root
    assert store.root == root


def test_a_changed_key_value_bucket_entry_or_sibling_leads_elsewhere() -> None:
    store, entries = a_map(3000)
    key = next(iter(entries))
    proof = store.prove(key)
    flipped = bytes([proof.siblings[3][0] ^ 1]) + proof.siblings[3][1:]
    bad = [
        replace(proof, value=proof.value + b"x"),
        replace(proof, key=key + b"x"),
        replace(proof, bucket=(*proof.bucket, bytes(32))),
        replace(proof, bucket=()),
        replace(proof, siblings=(*proof.siblings[:3], flipped, *proof.siblings[4:])),
        replace(proof, siblings=proof.siblings[:-1]),
    ]
    for tampered in bad:
        assert compute_entry_proof_root(tampered) != store.root


def test_an_absent_key_has_no_proof() -> None:
    store, _ = a_map(10)
    with pytest.raises(KeyError):
        store.prove(b"absent")


def test_an_outcome_proof_for_another_record_or_root_is_refused() -> None:
    store, entries = a_map(50)
    key = next(iter(entries))
    proof = store.prove(key)
    with pytest.raises(InvalidProof, match="another key"):
        verify_outcome(store.root, 1, OutcomeProof(proof, ()), 0)
    meta_like = EntryProof(b"m", proof.value, proof.bucket, proof.siblings)
    with pytest.raises(InvalidProof, match="state root"):
        verify_outcome(store.root, 1, OutcomeProof(meta_like, ()), 0)
    with pytest.raises(InvalidProof):
        verify_next_validators(store.root, height=1, epoch=0, meta=meta_like, validators=proof)
