"""Transactions: canonical encoding, decoding errors, structural checks, signatures."""

from __future__ import annotations

import hashlib

import pytest

from ledger.consensus.encoding import Writer
from ledger.state import (
    MAX_TX_BYTES,
    AccountOpen,
    Anchor,
    Approval,
    BiometricAction,
    BiometricCommitment,
    Consent,
    ConsentAction,
    DataSharing,
    ErrorCode,
    InvalidTransaction,
    OrgRegister,
    SharingAction,
    Transaction,
    Transfer,
    TxType,
    ValidatorAdd,
    ValidatorRemove,
)
from tests.ledger.state.world import (
    CHAIN_ID,
    World,
    bls_key,
    fake_pop,
    one_of_each_payload,
)

C1 = hashlib.sha256(b"one").digest()


def raw_tx(type_byte: int, payload: bytes, *, version: int = 1, sender: str = "org-a") -> bytes:
    """Hand-built wire bytes, to feed the decoder inputs no constructor would produce."""
    w = Writer().u8(version).text(CHAIN_ID).u8(type_byte).text(sender).u64(1).var(payload)
    return w.getvalue() + bytes(64)


def test_every_transaction_type_survives_an_encode_decode_round_trip() -> None:
    # given
    world = World()
    txs = [world.tx("org-a", p) for p in one_of_each_payload()]

    # when
    decoded = [Transaction.decode(tx.encode()) for tx in txs]

    # then
    assert decoded == txs
    assert [d.tx_hash for d in decoded] == [t.tx_hash for t in txs]
    # and the decoder's fast path (it does not rebuild the transaction) derives the same bytes
    for d, t in zip(decoded, txs, strict=True):
        assert (d.encoding, d.signing_root) == (t.encoding, t.signing_root)
    assert {t.type for t in txs} == set(TxType)


def test_the_hash_is_sha256_of_the_encoding() -> None:
    # given
    tx = World().tx("org-a", Anchor(C1))

    # then
    assert tx.tx_hash == hashlib.sha256(tx.encode()).digest()
    assert len(tx.encode()) == len(tx.encoding)


def test_it_rejects_trailing_bytes_as_malformed() -> None:
    # given
    data = World().tx("org-a", Anchor(C1)).encode() + b"\x00"

    # when / then
    with pytest.raises(InvalidTransaction) as err:
        Transaction.decode(data)
    assert err.value.code is ErrorCode.MALFORMED


def test_it_rejects_a_truncated_encoding_as_malformed() -> None:
    data = World().tx("org-a", Anchor(C1)).encode()[:-1]

    with pytest.raises(InvalidTransaction) as err:
        Transaction.decode(data)
    assert err.value.code is ErrorCode.MALFORMED


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (raw_tx(int(TxType.ANCHOR), C1, version=2), "version"),
        (raw_tx(99, C1), "unknown transaction type"),
        (raw_tx(int(TxType.ANCHOR), C1 + b"\x00"), "trailing"),
        (raw_tx(int(TxType.ANCHOR), C1[:31]), "truncated"),
        (raw_tx(int(TxType.ANCHOR), C1, sender="Org-A"), "sender"),
        (raw_tx(int(TxType.BIOMETRIC_COMMITMENT), b"\x03" + C1), "BiometricAction"),
    ],
)
def test_it_rejects_non_canonical_or_unknown_input_as_malformed(data: bytes, fragment: str) -> None:
    with pytest.raises(InvalidTransaction) as err:
        Transaction.decode(data)
    assert err.value.code is ErrorCode.MALFORMED
    assert fragment in err.value.reason


def test_it_rejects_a_non_ascii_identifier_as_malformed() -> None:
    data = raw_tx(int(TxType.ANCHOR), C1, sender="org-a").replace(b"org-a", b"org-\xe4")

    with pytest.raises(InvalidTransaction) as err:
        Transaction.decode(data)
    assert err.value.code is ErrorCode.MALFORMED


def test_it_rejects_unsorted_governance_approvals_as_malformed() -> None:
    # given approvals written in descending order by hand
    action = Writer().text("org-a").getvalue()
    approvals = (
        Writer().u16(2).text("org-b").fixed(bytes(64), 64).text("org-a").fixed(bytes(64), 64)
    )
    data = raw_tx(int(TxType.VALIDATOR_REMOVE), action + approvals.getvalue())

    # when / then
    with pytest.raises(InvalidTransaction) as err:
        Transaction.decode(data)
    assert err.value.code is ErrorCode.MALFORMED
    assert "sorted" in err.value.reason


def test_it_rejects_an_input_over_the_size_limit_as_oversize_before_parsing() -> None:
    with pytest.raises(InvalidTransaction) as err:
        Transaction.decode(b"\x01" * (MAX_TX_BYTES + 1))
    assert err.value.code is ErrorCode.OVERSIZE


def test_it_refuses_to_build_a_transaction_over_the_size_limit() -> None:
    # given more approvals than fit in MAX_TX_BYTES (each is ~70 bytes)
    approvals = tuple(Approval(f"org-{i:04d}", bytes(64)) for i in range(250))
    payload = ValidatorRemove("org-d", approvals)

    # when / then
    with pytest.raises(InvalidTransaction) as err:
        World().tx("org-a", payload)
    assert err.value.code is ErrorCode.OVERSIZE


@pytest.mark.parametrize(
    "build",
    [
        lambda: BiometricCommitment(BiometricAction.ENROLLED, C1[:31]),
        lambda: BiometricCommitment(BiometricAction.ENROLLED, C1 + b"\x00"),
        lambda: BiometricCommitment(BiometricAction.ENROLLED, "face.jpg"),  # type: ignore[arg-type]
        lambda: Consent(ConsentAction.GRANTED, b"x" * 64),
        lambda: Transfer("a-eur", "b-eur", "EUR", 0),
        lambda: Transfer("a-eur", "b-eur", "EUR", -5),
        lambda: Transfer("a-eur", "b-eur", "EUR", True),
        lambda: Transfer("a-eur", "a-eur", "EUR", 5),
        lambda: Transfer("a-eur", "b-eur", "eur", 5),
        lambda: AccountOpen("a-gbp", "GBPX", "org-a"),
        lambda: ValidatorAdd("org-m", bls_key("org-m")[:47], fake_pop(bls_key("org-m"))),
        lambda: OrgRegister("ORG", bytes(32)),
    ],
)
def test_it_refuses_structurally_invalid_payloads_as_malformed(build: object) -> None:
    with pytest.raises(InvalidTransaction) as err:
        build()  # type: ignore[operator]
    assert err.value.code is ErrorCode.MALFORMED


def test_an_account_can_only_be_opened_by_its_owner() -> None:
    with pytest.raises(InvalidTransaction) as err:
        World().tx("org-m", AccountOpen("m-usd", "USD", "org-a"))
    assert err.value.code is ErrorCode.MALFORMED


def test_an_organization_cannot_grant_data_sharing_to_itself() -> None:
    with pytest.raises(InvalidTransaction) as err:
        World().tx("org-a", DataSharing(SharingAction.GRANT, "org-a", C1))
    assert err.value.code is ErrorCode.MALFORMED


def test_the_signature_covers_the_chain_id() -> None:
    # given a transaction signed for one chain
    tx = World().tx("org-a", Anchor(C1))

    # when its fields are re-wrapped with another chain id but the same signature
    moved = Transaction(
        chain_id="other-chain",
        sender=tx.sender,
        nonce=tx.nonce,
        payload=tx.payload,
        signature=tx.signature,
    )

    # then the signing roots differ, so the old signature cannot verify
    assert moved.signing_root != tx.signing_root
    assert moved.tx_hash != tx.tx_hash
