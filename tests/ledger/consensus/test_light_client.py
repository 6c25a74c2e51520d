"""verify_commit: the light-client check of a committed block (docs/ledger.md, "CommitCert")."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from ledger.consensus import CommitCert, CommittedBlock, verify_commit
from ledger.consensus.types import Block
from tests.ledger.consensus.support import Driver, validator_set

_COMMITTED: tuple[CommittedBlock, ...] | None = None


def committed() -> tuple[CommittedBlock, ...]:
    """Blocks committed by four replicas, each with the certificate its Commit effect carried."""
    global _COMMITTED
    if _COMMITTED is None:
        driver = Driver.of(4)
        driver.start()
        driver.run(lambda d: d.min_commits() >= 6)
        _COMMITTED = driver.replicas[0].committed_with_certs
    return _COMMITTED


def test_every_committed_block_verifies_with_its_certificate() -> None:
    # given committed blocks and their certificates / when a light client checks them
    # then all verify against the validator set alone
    vset = validator_set(4)
    assert all(verify_commit(vset, c.block, c.cert) for c in committed())
    assert all(verify_commit(vset, c.block.header, c.cert) for c in committed())


def test_the_certificate_of_a_block_is_its_child_header_and_the_childs_qc() -> None:
    # given a block committed in the steady state (one round per block)
    item = committed()[2]
    # then its certificate is one header (its child, round + 1) and the QC of that child
    (child,) = item.cert.headers
    assert child.parent_hash == item.block.hash and child.round == item.block.round + 1
    assert item.cert.qc.block_hash == child.hash


def test_a_certificate_does_not_prove_another_block() -> None:
    # given block 2's certificate / when presented for block 3 / then it fails
    items = committed()
    assert not verify_commit(validator_set(4), items[3].block, items[2].cert)


def test_a_block_with_a_swapped_payload_does_not_verify() -> None:
    # given a committed block whose transactions were replaced
    item = committed()[1]
    forged = Block(item.block.header, (b"steal everything",))
    # when checked / then it fails (the payload root binds the payload)
    assert not verify_commit(validator_set(4), forged, item.cert)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda c: replace(c, qc=replace(c.qc, signature=bytes(96))), id="zero sig"),
        pytest.param(
            lambda c: replace(c, qc=replace(c.qc, signature=c.qc.signature[:-1] + b"\x00")),
            id="flipped sig byte",
        ),
        pytest.param(lambda c: replace(c, qc=replace(c.qc, signers=b"\x03")), id="2 signers"),
        pytest.param(lambda c: replace(c, qc=replace(c.qc, round=c.qc.round + 1)), id="qc round"),
        pytest.param(lambda c: replace(c, headers=()), id="no child"),
        pytest.param(
            lambda c: replace(c, headers=(replace(c.headers[0], round=c.headers[0].round + 1),)),
            id="child not at round + 1",
        ),
    ],
)
def test_a_tampered_certificate_does_not_verify(tamper) -> None:
    # given a genuine certificate / when it is tampered with / then it fails
    item = committed()[2]
    assert not verify_commit(validator_set(4), item.block, tamper(item.cert))


def test_a_certificate_does_not_verify_against_another_validator_set() -> None:
    # given the same chain judged by a set of other keys, or of another epoch
    item = committed()[2]
    # then it fails
    assert not verify_commit(validator_set(4, offset=10), item.block, item.cert)
    assert not verify_commit(validator_set(4, epoch=1), item.block, item.cert)


def test_an_ancestor_is_proven_by_the_chain_of_headers_up_to_the_certified_child() -> None:
    # given blocks 1 and 2 and block 2's certificate
    items = committed()
    first, second = items[0], items[1]
    cert = CommitCert((second.block.header, *second.cert.headers), second.cert.qc)
    # when block 1 is presented with the longer chain / then it verifies
    assert verify_commit(validator_set(4), first.block, cert)


def test_verification_costs_one_aggregate_check_whatever_n_after_the_first_call() -> None:
    # given certificates from networks of 4 and 16 validators
    timings = {}
    for n in (4, 16):
        driver = Driver.of(n)
        driver.start()
        driver.run(lambda d: d.min_commits() >= 2)
        item = driver.replicas[0].committed_with_certs[0]
        vset = validator_set(n)
        assert verify_commit(vset, item.block, item.cert)  # warms the aggregate-key cache
        # when verified repeatedly
        start = time.perf_counter()
        for _ in range(20):
            assert verify_commit(vset, item.block, item.cert)
        timings[n] = (time.perf_counter() - start) / 20
    # then the cost does not grow with n (generous bound: timing noise on a shared machine)
    assert timings[16] < 3 * timings[4] + 0.002


@pytest.mark.slow
def test_a_certificate_made_with_blst_verifies_with_the_py_ecc_reference_backend() -> None:
    # given a commit certificate produced by replicas using blst
    from ledger.consensus import ValidatorSet, crypto
    from tests.ledger.consensus.support import validator_infos

    item = committed()[1]
    # when a light client holding the same set checks it with py_ecc (byte-identical backends)
    reference = ValidatorSet(validator_infos(4), crypto=crypto.backend("py_ecc"), epoch=0)
    # then it verifies, and a forged one does not
    assert verify_commit(reference, item.block, item.cert)
    assert not verify_commit(reference, committed()[2].block, item.cert)
