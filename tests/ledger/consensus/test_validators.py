"""Validator set: quorum sizes, bitmaps, once-only key validation, aggregate checks, bad signers."""

from __future__ import annotations

import pytest

from ledger.consensus import (
    InvalidSignature,
    InvalidValidatorSet,
    QuorumCert,
    TimeoutMsg,
    ValidatorInfo,
    ValidatorSet,
    Vote,
    compute_timeout_signing_root,
    compute_vote_signing_root,
    make_root_qc,
    verify_qc,
    verify_tc,
)
from ledger.consensus.aggregation import TimeoutCollector, VoteCollector
from tests.ledger.consensus.support import (
    CHAIN_ID,
    blst,
    secret_key,
    validator_infos,
    validator_set,
)

BLOCK = b"\x42" * 32


def vote(i: int, round: int = 3, block_hash: bytes = BLOCK, *, bad: bool = False) -> Vote:
    message = compute_vote_signing_root(CHAIN_ID, 0, round, block_hash)
    signed = compute_vote_signing_root(CHAIN_ID, 0, round + 1, block_hash) if bad else message
    return Vote(0, round, block_hash, i, blst().Sign(secret_key(i), signed))


@pytest.mark.parametrize(
    ("n", "f", "quorum"),
    [(1, 0, 1), (3, 0, 3), (4, 1, 3), (5, 1, 4), (6, 1, 5), (7, 2, 5), (10, 3, 7), (16, 5, 11)],
)
def test_the_quorum_is_n_minus_f_with_f_the_largest_tolerable_faults(n, f, quorum) -> None:
    # given n validators / when the set is built
    vset = validator_set(n)
    # then f = (n - 1) // 3 and the quorum is 2f + 1 for n = 3f + 1, n - f in general
    assert (vset.f, vset.quorum) == (f, quorum)
    # and two quorums always share an honest validator
    assert 2 * vset.quorum - n >= f + 1


def test_bitmaps_round_trip_and_reject_bits_past_the_end() -> None:
    # given a set of 10 validators
    vset = validator_set(10)
    # when indices are packed / then they unpack, least significant bit first
    bitmap = vset.bitmap_from_indices([0, 3, 9])
    assert bitmap == bytes([0b0000_1001, 0b0000_0010])
    assert vset.indices_from_bitmap(bitmap) == (0, 3, 9)
    # and malformed bitmaps are refused
    with pytest.raises(ValueError, match="past the end"):
        vset.indices_from_bitmap(bytes([0, 0b0000_0100]))
    with pytest.raises(ValueError, match="wrong length"):
        vset.indices_from_bitmap(b"\x01")
    assert not vset.is_quorum(vset.bitmap_from_indices(range(6)))
    assert vset.is_quorum(vset.bitmap_from_indices(range(7)))


def test_a_key_with_a_wrong_proof_of_possession_is_refused_when_the_set_is_built() -> None:
    # given validator 1 presenting validator 0's proof
    infos = list(validator_infos(4))
    infos[1] = ValidatorInfo(1, infos[1].public_key, infos[0].proof_of_possession, "v1")
    # when the set is built / then it is refused with the named error
    with pytest.raises(InvalidValidatorSet, match="validator 1: invalid proof of possession"):
        ValidatorSet(infos, crypto=blst(), epoch=0)


def test_a_successor_set_does_not_revalidate_known_keys() -> None:
    # given a backend that counts validations
    class Counting:
        def __init__(self) -> None:
            self.inner = blst()
            self.name = "counting"
            self.checks = 0

        def __getattr__(self, name: str):
            return getattr(self.inner, name)

        def KeyValidate(self, pk: bytes) -> bool:
            self.checks += 1
            return bool(self.inner.KeyValidate(pk))

    counting = Counting()
    first = ValidatorSet(validator_infos(4), crypto=counting, epoch=0)  # type: ignore[arg-type]
    # when the next epoch adds one validator
    second = first.successor(validator_infos(5), epoch=1)
    # then only the new key was validated
    assert counting.checks == 5
    assert (second.epoch, second.n) == (1, 5)


def test_the_aggregate_key_of_a_bitmap_is_computed_once() -> None:
    # given a set and a quorum's signatures
    vset = ValidatorSet(validator_infos(4), crypto=blst(), epoch=0)
    message = compute_vote_signing_root(CHAIN_ID, 0, 3, BLOCK)
    signers = vset.bitmap_from_indices([0, 1, 2])
    signature = vset.aggregate([vote(i).signature for i in range(3)])
    assert signature is not None
    # when the aggregate is verified twice
    assert vset.verify_aggregate(signers, message, signature)
    cached = vset.aggregate_public_key(signers)
    assert vset.verify_aggregate(signers, message, signature)
    # then the cached aggregate key is reused and a wrong message fails
    assert vset.aggregate_public_key(signers) is cached
    assert not vset.verify_aggregate(signers, b"\x00" * 32, signature)


def test_a_quorum_of_votes_forms_a_qc_that_verifies() -> None:
    # given the next leader collecting votes
    vset, collector = validator_set(4), VoteCollector()
    collector.add(vote(0))
    collector.add(vote(1))
    # when the third vote arrives
    qc, bad = collector.prepare_qc(vote(2), vset, CHAIN_ID)
    # then a QC over the three signers verifies, and nobody is blamed
    assert qc is not None and bad == ()
    assert vset.indices_from_bitmap(qc.signers) == (0, 1, 2)
    assert verify_qc(vset, CHAIN_ID, qc)


def test_a_bad_vote_held_earlier_is_found_and_dropped_when_the_aggregate_fails() -> None:
    # given two good votes and one with a bad signature already held
    vset, collector = validator_set(4), VoteCollector()
    collector.add(vote(0))
    collector.add(vote(2, bad=True))
    collector.add(vote(1))
    # when a fourth, good vote completes a quorum
    qc, bad = collector.prepare_qc(vote(3), vset, CHAIN_ID)
    # then the bad signer is named and the QC is formed from the good ones
    assert bad == (2,)
    assert qc is not None and vset.indices_from_bitmap(qc.signers) == (0, 1, 3)
    assert verify_qc(vset, CHAIN_ID, qc)


def test_the_vote_that_completes_a_quorum_with_a_bad_signature_is_rejected_by_name() -> None:
    # given two good votes
    vset, collector = validator_set(4), VoteCollector()
    collector.add(vote(0))
    collector.add(vote(1))
    before = collector.snapshot()
    # when a third vote with a bad signature arrives / then it is rejected and nothing changed
    with pytest.raises(InvalidSignature, match="validator 3"):
        collector.prepare_qc(vote(3, bad=True), vset, CHAIN_ID)
    assert collector.snapshot() == before


def test_a_qc_with_a_flipped_signer_bit_or_too_few_signers_does_not_verify() -> None:
    # given a valid QC
    vset, collector = validator_set(4), VoteCollector()
    collector.add(vote(0))
    collector.add(vote(1))
    qc, _ = collector.prepare_qc(vote(2), vset, CHAIN_ID)
    assert qc is not None
    # when its bitmap names another signer, or only two / then it fails
    swapped = QuorumCert(0, 3, BLOCK, vset.bitmap_from_indices([0, 1, 3]), qc.signature)
    short = QuorumCert(0, 3, BLOCK, vset.bitmap_from_indices([0, 1]), qc.signature)
    other_block = QuorumCert(0, 3, b"\x43" * 32, qc.signers, qc.signature)
    assert not verify_qc(vset, CHAIN_ID, swapped)
    assert not verify_qc(vset, CHAIN_ID, short)
    assert not verify_qc(vset, CHAIN_ID, other_block)
    assert not verify_qc(vset, b"another-chain", qc)


def timeout(i: int, round: int, high_qc_round: int, *, bad: bool = False) -> TimeoutMsg:
    genesis_like = make_root_qc(0, _FakeRoot(high_qc_round))  # type: ignore[arg-type]
    signed_round = high_qc_round + 1 if bad else high_qc_round
    root = compute_timeout_signing_root(CHAIN_ID, 0, round, signed_round)
    return TimeoutMsg(0, round, i, genesis_like, None, blst().Sign(secret_key(i), root))


class _FakeRoot:
    """Just enough of a Block for make_root_qc (round and hash)."""

    def __init__(self, round: int) -> None:
        self.round = round
        self.hash = bytes([round]) * 32


def test_timeouts_with_different_high_qc_rounds_form_a_tc_that_verifies() -> None:
    # given timeouts for round 5 reporting high QC rounds 2, 4 and 4
    vset, collector = validator_set(4), TimeoutCollector()
    collector.add(timeout(0, 5, 2))
    collector.add(timeout(1, 5, 4))
    # when the third arrives
    tc, bad = collector.prepare_tc(timeout(3, 5, 4), vset, CHAIN_ID)
    # then the TC carries each signer's high QC round and verifies
    assert tc is not None and bad == ()
    assert tc.high_qc_rounds == (2, 4, 4) and tc.max_high_qc_round == 4
    assert verify_tc(vset, CHAIN_ID, tc)
    # and lying about a signer's high QC round breaks it
    forged = type(tc)(tc.epoch, tc.round, tc.signers, (4, 4, 4), tc.signature)
    assert not verify_tc(vset, CHAIN_ID, forged)


def test_a_bad_timeout_signature_is_found_and_the_tc_is_formed_without_it() -> None:
    # given two good timeouts and a bad one held
    vset, collector = validator_set(4), TimeoutCollector()
    collector.add(timeout(0, 5, 2))
    collector.add(timeout(1, 5, 2, bad=True))
    collector.add(timeout(2, 5, 3))
    # when a good fourth arrives
    tc, bad = collector.prepare_tc(timeout(3, 5, 4), vset, CHAIN_ID)
    # then the bad author is found and excluded
    assert bad == (1,)
    assert tc is not None and vset.indices_from_bitmap(tc.signers) == (0, 2, 3)
    assert verify_tc(vset, CHAIN_ID, tc)
