"""Member transactions: biometric commitments, consents, data sharing, accounts, transfers,
anchors; and the rule that a business rejection is recorded and consumes the nonce."""

from __future__ import annotations

import hashlib

import pytest

from ledger.state import (
    AccountOpen,
    Anchor,
    BiometricAction,
    BiometricCommitment,
    Consent,
    ConsentAction,
    DataSharing,
    ErrorCode,
    InvalidBlock,
    InvalidTransaction,
    ReceiptStatus,
    SharingAction,
    Transfer,
    compute_receipts_root,
    validate_tx,
)
from tests.ledger.state.world import World

C1 = hashlib.sha256(b"subject-1").digest()
SCOPE = hashlib.sha256(b"scope:templates").digest()


def test_a_template_commitment_is_enrolled_then_revoked() -> None:
    # given
    world = World()

    # when
    (enrolled,) = world.apply(world.tx("org-m", BiometricCommitment(BiometricAction.ENROLLED, C1)))
    record_after_enrol = world.state.biometric_commitment("org-m", C1)
    (revoked,) = world.apply(world.tx("org-m", BiometricCommitment(BiometricAction.REVOKED, C1)))

    # then
    assert enrolled.status is ReceiptStatus.COMMITTED and revoked.status is ReceiptStatus.COMMITTED
    assert record_after_enrol is not None and record_after_enrol.active
    assert record_after_enrol.height == 1
    record = world.state.biometric_commitment("org-m", C1)
    assert record is not None and not record.active and record.height == 2
    # commitments are per organization: org-a never enrolled this one
    assert world.state.biometric_commitment("org-a", C1) is None


def test_enrolling_twice_is_a_duplicate_and_revoking_twice_is_not_active() -> None:
    world = World()
    enrol = BiometricCommitment(BiometricAction.ENROLLED, C1)
    revoke = BiometricCommitment(BiometricAction.REVOKED, C1)

    receipts = world.apply(
        world.tx("org-m", enrol),
        world.tx("org-m", enrol),
        world.tx("org-m", revoke),
        world.tx("org-m", revoke),
        world.tx("org-m", enrol),  # re-enrolment after revocation is allowed
    )

    assert [r.code for r in receipts] == [
        None,
        ErrorCode.DUPLICATE,
        None,
        ErrorCode.NOT_ACTIVE,
        None,
    ]


def test_a_consent_is_granted_then_revoked_and_cannot_be_revoked_twice() -> None:
    world = World()

    receipts = world.apply(
        world.tx("org-a", Consent(ConsentAction.GRANTED, C1)),
        world.tx("org-a", Consent(ConsentAction.REVOKED, C1)),
        world.tx("org-a", Consent(ConsentAction.REVOKED, C1)),
    )

    assert [r.code for r in receipts] == [None, None, ErrorCode.NOT_ACTIVE]
    consent = world.state.consent("org-a", C1)
    assert consent is not None and not consent.active


def test_data_sharing_is_granted_and_revoked_between_two_registered_organizations() -> None:
    # given
    world = World()

    # when
    (grant,) = world.apply(world.tx("org-a", DataSharing(SharingAction.GRANT, "org-m", SCOPE)))
    active = world.state.grant("org-a", "org-m", SCOPE)
    (again,) = world.apply(world.tx("org-a", DataSharing(SharingAction.GRANT, "org-m", SCOPE)))
    (revoke,) = world.apply(world.tx("org-a", DataSharing(SharingAction.REVOKE, "org-m", SCOPE)))

    # then
    assert grant.code is None and active is not None and active.active
    assert again.code is ErrorCode.DUPLICATE
    assert revoke.code is None
    revoked = world.state.grant("org-a", "org-m", SCOPE)
    assert revoked is not None and not revoked.active
    # the grant is directional
    assert world.state.grant("org-m", "org-a", SCOPE) is None


def test_data_sharing_with_an_unknown_organization_is_rejected() -> None:
    world = World()

    (receipt,) = world.apply(world.tx("org-a", DataSharing(SharingAction.GRANT, "org-x", SCOPE)))

    assert receipt.code is ErrorCode.UNKNOWN_ORGANIZATION


def test_an_opened_account_starts_empty_and_cannot_be_opened_twice() -> None:
    world = World()

    first, second = world.apply(
        world.tx("org-m", AccountOpen("m-usd", "USD", "org-m")),
        world.tx("org-m", AccountOpen("m-usd", "USD", "org-m")),
    )

    assert first.code is None and second.code is ErrorCode.DUPLICATE
    account = world.state.account("m-usd")
    assert account is not None
    assert (account.currency, account.owner, account.balance) == ("USD", "org-m", 0)


def test_a_transfer_moves_minor_units_and_conserves_supply() -> None:
    world = World()

    (receipt,) = world.apply(world.tx("org-a", Transfer("a-eur", "b-eur", "EUR", 2_500)))

    assert receipt.status is ReceiptStatus.COMMITTED
    balances = world.balances()
    assert (balances["a-eur"], balances["b-eur"]) == (97_500, 2_500)
    assert sum(a.balance for a in world.state.accounts() if a.currency == "EUR") == 101_000
    assert world.state.supply("EUR") == 101_000


@pytest.mark.parametrize(
    ("sender", "transfer", "code"),
    [
        ("org-a", Transfer("a-eur", "b-eur", "EUR", 100_001), ErrorCode.INSUFFICIENT_FUNDS),
        ("org-a", Transfer("a-eur", "a-usd", "EUR", 1), ErrorCode.CURRENCY_MISMATCH),
        ("org-a", Transfer("a-usd", "b-eur", "USD", 1), ErrorCode.CURRENCY_MISMATCH),
        ("org-a", Transfer("a-eur", "b-eur", "USD", 1), ErrorCode.CURRENCY_MISMATCH),
        ("org-a", Transfer("a-eur", "x-eur", "EUR", 1), ErrorCode.UNKNOWN_ACCOUNT),
        ("org-a", Transfer("x-eur", "b-eur", "EUR", 1), ErrorCode.UNKNOWN_ACCOUNT),
        ("org-m", Transfer("a-eur", "m-eur", "EUR", 1), ErrorCode.UNAUTHORISED),
    ],
)
def test_a_transfer_that_breaks_a_rule_is_recorded_as_rejected_and_consumes_the_nonce(
    sender: str, transfer: Transfer, code: ErrorCode
) -> None:
    # given
    world = World()
    before = world.balances()
    tx = world.tx(sender, transfer)

    # when
    (receipt,) = world.apply(tx)

    # then the block holds it with its reason, and nothing moved
    assert receipt.status is ReceiptStatus.REJECTED
    assert receipt.code is code
    assert receipt.reason
    assert world.balances() == before
    assert world.state.receipts_root == compute_receipts_root([receipt])
    assert world.state.next_nonce(sender) == 2


def test_mallory_cannot_drain_org_a_even_when_the_transfer_is_recorded() -> None:
    world = World()

    (receipt,) = world.apply(world.tx("org-m", Transfer("a-eur", "m-eur", "EUR", 100_000)))

    assert receipt.code is ErrorCode.UNAUTHORISED
    assert world.balances()["a-eur"] == 100_000


def test_a_replayed_committed_transaction_is_refused_as_bad_nonce() -> None:
    # given a committed transfer
    world = World()
    tx = world.tx("org-a", Transfer("a-eur", "b-eur", "EUR", 10))
    world.apply(tx)

    # when it is submitted again
    with pytest.raises(InvalidTransaction) as admission:
        validate_tx(world.state, tx)
    with pytest.raises(InvalidBlock) as block:
        world.apply(tx)

    # then
    assert admission.value.code is ErrorCode.BAD_NONCE
    assert block.value.cause is not None and block.value.cause.code is ErrorCode.BAD_NONCE
    assert world.balances()["b-eur"] == 10


def test_an_anchor_records_who_anchored_it_first() -> None:
    world = World()

    first, second = world.apply(world.tx("org-m", Anchor(C1)), world.tx("org-a", Anchor(C1)))

    assert first.code is None and second.code is ErrorCode.DUPLICATE
    anchor = world.state.anchor(C1)
    assert anchor is not None and (anchor.org_id, anchor.height) == ("org-m", 1)
