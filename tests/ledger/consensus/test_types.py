"""Canonical encoding, hashes and signing roots of the consensus values (docs/ledger.md)."""

from __future__ import annotations

import hashlib

import pytest

from ledger.consensus import (
    Block,
    BlockHeader,
    CertifiedBlock,
    CommitCert,
    CommittedBlock,
    DecodeError,
    Proposal,
    QuorumCert,
    SyncRequest,
    SyncResponse,
    TimeoutCert,
    TimeoutMsg,
    Vote,
    compute_payload_root,
    compute_timeout_signing_root,
    compute_vote_signing_root,
    decode,
    encode,
)

CHAIN = b"alliance-test"
SIG = bytes(range(96))


def header(round: int = 7, parent: bytes = bytes(range(32))) -> BlockHeader:
    return BlockHeader(
        chain_id=CHAIN,
        epoch=1,
        round=round,
        height=5,
        parent_hash=parent,
        payload_root=compute_payload_root([b"a", b"b", b"c"]),
        state_root=b"\x11" * 32,
        proposer=2,
        timestamp_ms=1_700_000_000_000,
    )


def qc(round: int = 7) -> QuorumCert:
    return QuorumCert(1, round, b"\x22" * 32, b"\x0b", SIG)


def tc() -> TimeoutCert:
    return TimeoutCert(1, 8, b"\x07", (3, 6, 6), SIG)


def every_value() -> list[object]:
    block = Block(header(), (b"a", b"b", b"c"))
    return [
        header(),
        block,
        Block(header(), ()),
        qc(),
        QuorumCert(0, 0, b"\x00" * 32, b"", b""),
        tc(),
        CommitCert((header(8), header(9)), qc(9)),
        Proposal(block, qc(6)),
        Proposal(block, qc(5), tc()),
        Vote(1, 7, b"\x33" * 32, 3, SIG),
        TimeoutMsg(1, 9, 0, qc(), None, SIG),
        TimeoutMsg(1, 9, 0, qc(), tc(), SIG),
        SyncRequest(1, 42, b"\x44" * 32),
        SyncResponse(),
        SyncResponse(
            (CommittedBlock(block, CommitCert((header(8),), qc(8))),),
            (CertifiedBlock(block, qc()),),
        ),
    ]


@pytest.mark.parametrize("value", every_value(), ids=lambda v: type(v).__name__)
def test_decoding_an_encoded_value_gives_back_an_equal_value(value: object) -> None:
    # given a consensus value / when it is encoded and decoded
    data = encode(value)  # type: ignore[arg-type]
    back = decode(data)
    # then the value and its bytes are the same
    assert back == value
    assert encode(back) == data


def test_a_block_header_hash_is_sha256_of_its_canonical_bytes_and_does_not_change() -> None:
    # given a fixed header
    h = header()
    # when its bytes are laid out by hand as docs/ledger.md specifies
    expected_bytes = (
        b"\x01"
        + len(CHAIN).to_bytes(4, "big")
        + CHAIN
        + (1).to_bytes(8, "big")
        + (7).to_bytes(8, "big")
        + (5).to_bytes(8, "big")
        + bytes(range(32))
        + compute_payload_root([b"a", b"b", b"c"])
        + b"\x11" * 32
        + (2).to_bytes(4, "big")
        + (1_700_000_000_000).to_bytes(8, "big")
    )
    # then encoding and hash match, and the hash is pinned (a change breaks every chain)
    assert encode(h) == expected_bytes
    assert h.hash == hashlib.sha256(expected_bytes).digest()
    assert h.hash.hex() == "f74ffe0d270e6e1b3cfbacd38dcf364a786fc5878bd1bd5c7761c385b567d435"


def test_the_block_hash_is_the_header_hash_and_is_computed_once() -> None:
    # given a block
    block = Block(header(), (b"a", b"b", b"c"))
    # when its hash is read twice
    first = block.hash
    # then it is the header digest, cached on the header object
    assert first == block.header.hash
    assert block.header.__dict__["hash"] is first
    assert block.hash is first


def test_the_payload_root_is_the_rfc6962_merkle_tree_hash() -> None:
    # given three transactions
    def leaf(tx: bytes) -> bytes:
        return hashlib.sha256(b"\x00" + tx).digest()

    def node(left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + left + right).digest()

    # when the root is computed / then it splits at the largest power of two below n
    assert compute_payload_root([]) == hashlib.sha256(b"").digest()
    assert compute_payload_root([b"a"]) == leaf(b"a")
    expected = node(node(leaf(b"a"), leaf(b"b")), leaf(b"c"))
    assert compute_payload_root([b"a", b"b", b"c"]) == expected


def test_a_block_whose_payload_was_altered_no_longer_matches_its_payload_root() -> None:
    # given a consistent block / when one transaction is changed
    good = Block(header(), (b"a", b"b", b"c"))
    bad = Block(header(), (b"a", b"b", b"x"))
    # then only the original is consistent
    assert good.is_payload_consistent()
    assert not bad.is_payload_consistent()


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda data: data + b"\x00", "trailing bytes"),
        (lambda data: data[:-1], "truncated input"),
        (lambda data: b"\xff" + data[1:], "unknown type tag"),
        (lambda data: b"", "truncated input"),
    ],
)
def test_decoding_rejects_anything_but_the_canonical_bytes(mutate, reason) -> None:
    # given valid bytes of a proposal / when they are altered
    data = encode(Proposal(Block(header(), (b"a",)), qc(6)))
    # then decoding raises the named error
    with pytest.raises(DecodeError, match=reason):
        decode(mutate(data))


def test_decoding_rejects_an_optional_flag_other_than_zero_or_one() -> None:
    # given a proposal without TC (its last byte is the 0 flag) / when the flag is set to 2
    data = encode(Proposal(Block(header(), ()), qc(6)))
    # then decoding fails
    with pytest.raises(DecodeError, match="non-canonical flag"):
        decode(data[:-1] + b"\x02")


def test_the_vote_signing_root_is_the_documented_bytes() -> None:
    # given the documented layout / when the root is computed
    root = compute_vote_signing_root(CHAIN, 1, 7, b"\x22" * 32)
    expected = hashlib.sha256(
        b"ALLIANCE-LEDGER/VOTE/V1\x00"
        + len(CHAIN).to_bytes(2, "big")
        + CHAIN
        + (1).to_bytes(8, "big")
        + (7).to_bytes(8, "big")
        + b"\x22" * 32
    ).digest()
    # then it matches and is pinned
    assert root == expected
    assert root.hex() == "b9a1a40bfcce2720239349f4c9e7578ed190b8d66766d88a10ec1239521646aa"


def test_the_timeout_signing_root_is_the_documented_bytes_and_differs_from_votes() -> None:
    # given the documented layout / when the root is computed
    root = compute_timeout_signing_root(CHAIN, 1, 7, 5)
    expected = hashlib.sha256(
        b"ALLIANCE-LEDGER/TIMEOUT/V1\x00"
        + len(CHAIN).to_bytes(2, "big")
        + CHAIN
        + (1).to_bytes(8, "big")
        + (7).to_bytes(8, "big")
        + (5).to_bytes(8, "big")
    ).digest()
    # then it matches, and chain id and epoch separate otherwise equal roots
    assert root == expected
    assert compute_vote_signing_root(b"other", 1, 7, b"\x22" * 32) != compute_vote_signing_root(
        CHAIN, 1, 7, b"\x22" * 32
    )
    assert compute_vote_signing_root(CHAIN, 2, 7, b"\x22" * 32) != compute_vote_signing_root(
        CHAIN, 1, 7, b"\x22" * 32
    )
