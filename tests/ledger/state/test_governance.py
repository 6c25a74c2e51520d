"""Governance transactions: organization registry, key rotation, validator-set changes, mint."""

from __future__ import annotations

import pytest

from ledger.state import (
    Anchor,
    ChangeKind,
    ErrorCode,
    InvalidBlock,
    Mint,
    OrgKeyRotate,
    OrgRegister,
    ReceiptStatus,
    State,
    ValidatorAdd,
    ValidatorRemove,
    sign_approval,
    with_approvals,
)
from ledger.state.limits import MAX_AMOUNT
from tests.ledger.state.world import (
    CHAIN_ID,
    World,
    bls_key,
    fake_pop,
    public_key,
    signing_key,
)

THREE = ("org-a", "org-b", "org-c")
C1 = bytes(range(32))


def test_a_new_organization_registered_by_three_of_four_validators_can_transact() -> None:
    # given
    world = World()
    key = signing_key("org-n")
    world.keys["org-n"] = key

    # when
    (receipt,) = world.apply(world.governed("org-a", OrgRegister("org-n", public_key(key)), THREE))
    (first,) = world.apply(world.tx("org-n", Anchor(C1)))

    # then
    assert receipt.status is ReceiptStatus.COMMITTED and receipt.code is None
    org = world.state.organization("org-n")
    assert org is not None and org.public_key == public_key(key) and org.nonce == 1
    assert first.status is ReceiptStatus.COMMITTED


@pytest.mark.parametrize(
    ("validators", "approvers", "status"),
    [
        (4, 2, ReceiptStatus.REJECTED),  # 1/2
        (4, 3, ReceiptStatus.COMMITTED),  # 3/4
        (3, 2, ReceiptStatus.REJECTED),  # exactly 2/3 is not enough
        (3, 3, ReceiptStatus.COMMITTED),
        (6, 4, ReceiptStatus.REJECTED),  # exactly 2/3 again
        (6, 5, ReceiptStatus.COMMITTED),
        (1, 1, ReceiptStatus.COMMITTED),
        (1, 0, ReceiptStatus.REJECTED),
    ],
)
def test_governance_needs_strictly_more_than_two_thirds_of_the_validators(
    validators: int, approvers: int, status: ReceiptStatus
) -> None:
    # given
    orgs = tuple(f"org-{i}" for i in range(validators))
    world = World(validators=orgs, accounts=())

    # when
    payload = OrgRegister("org-n", public_key(signing_key("org-n")))
    (receipt,) = world.apply(world.governed("org-0", payload, orgs[:approvers]))

    # then
    assert receipt.status is status
    if status is ReceiptStatus.REJECTED:
        assert receipt.code is ErrorCode.UNAUTHORISED
        assert world.state.organization("org-n") is None


def test_an_approval_from_a_non_validator_organization_is_unauthorised() -> None:
    world = World()
    payload = OrgRegister("org-n", public_key(signing_key("org-n")))

    (receipt,) = world.apply(world.governed("org-a", payload, ("org-a", "org-b", "org-m")))

    assert receipt.status is ReceiptStatus.REJECTED
    assert receipt.code is ErrorCode.UNAUTHORISED
    assert "org-m" in receipt.reason


def test_approvals_cannot_be_replayed_in_another_transaction() -> None:
    # given approvals collected for org-a's nonce 1
    world = World()
    payload = OrgKeyRotate("org-m", public_key(signing_key("org-m2")))
    approvals = [
        sign_approval(
            private_key=world.keys[o],
            org_id=o,
            chain_id=CHAIN_ID,
            sender="org-a",
            nonce=1,
            payload=payload,
        )
        for o in THREE
    ]
    world.apply(world.tx("org-a", with_approvals(payload, approvals)))

    # when the same approvals ride on org-a's next transaction
    (replay,) = world.apply(world.tx("org-a", with_approvals(payload, approvals)))

    # then
    assert replay.status is ReceiptStatus.REJECTED
    assert replay.code is ErrorCode.UNAUTHORISED


def test_key_rotation_makes_the_old_key_useless_and_the_new_key_valid() -> None:
    # given
    world = World()
    new_key = signing_key("org-m-rotated")
    world.apply(world.governed("org-a", OrgKeyRotate("org-m", public_key(new_key)), THREE))

    # when / then the old key is refused at the door
    with pytest.raises(InvalidBlock) as err:
        world.apply(world.tx("org-m", Anchor(C1), nonce=1))
    assert err.value.cause is not None and err.value.cause.code is ErrorCode.BAD_SIGNATURE

    # and the new key works
    (receipt,) = world.apply(world.tx("org-m", Anchor(C1), nonce=1, key=new_key))
    assert receipt.status is ReceiptStatus.COMMITTED


def test_rotating_the_key_of_an_unknown_organization_is_rejected() -> None:
    world = World()

    (receipt,) = world.apply(
        world.governed("org-a", OrgKeyRotate("org-x", public_key(signing_key("x"))), THREE)
    )

    assert receipt.code is ErrorCode.UNKNOWN_ORGANIZATION


def test_registering_an_existing_organization_is_a_duplicate() -> None:
    world = World()

    (receipt,) = world.apply(
        world.governed("org-a", OrgRegister("org-m", public_key(signing_key("x"))), THREE)
    )

    assert receipt.code is ErrorCode.DUPLICATE


def test_a_validator_added_waits_for_the_next_epoch() -> None:
    # given
    world = World()
    add = ValidatorAdd("org-m", bls_key("org-m"), fake_pop(bls_key("org-m")))

    # when
    (receipt,) = world.apply(world.governed("org-a", add, THREE))

    # then the current set is unchanged and the change is pending
    assert receipt.status is ReceiptStatus.COMMITTED
    assert [v.org_id for v in world.state.validator_set] == ["org-a", "org-b", "org-c", "org-d"]
    (pending,) = world.state.pending_validator_changes
    assert (pending.kind, pending.org_id, pending.bls_public_key) == (
        ChangeKind.ADD,
        "org-m",
        bls_key("org-m"),
    )
    assert "org-m" in [v.org_id for v in world.state.next_validator_set()]

    # when the next block is applied (the consensus layer ended the epoch at the change)
    world.apply()

    # then
    assert world.state.epoch == 1
    assert [v.org_id for v in world.state.validator_set] == [
        "org-a",
        "org-b",
        "org-c",
        "org-d",
        "org-m",
    ]
    assert world.state.pending_validator_changes == ()


def test_a_validator_removed_leaves_at_the_next_epoch_and_stops_counting_for_governance() -> None:
    # given
    world = World()
    (receipt,) = world.apply(world.governed("org-a", ValidatorRemove("org-d"), THREE))
    assert receipt.status is ReceiptStatus.COMMITTED
    assert len(world.state.validator_set) == 4

    # when
    world.apply()

    # then 2 of the 3 remaining validators is exactly 2/3: not enough any more
    assert [v.org_id for v in world.state.validator_set] == ["org-a", "org-b", "org-c"]
    payload = OrgRegister("org-n", public_key(signing_key("org-n")))
    (two,) = world.apply(world.governed("org-a", payload, ("org-a", "org-b")))
    assert two.code is ErrorCode.UNAUTHORISED
    (old,) = world.apply(world.governed("org-a", payload, ("org-a", "org-b", "org-d")))
    assert old.code is ErrorCode.UNAUTHORISED


def test_validator_add_with_a_bad_proof_of_possession_is_rejected() -> None:
    world = World()
    add = ValidatorAdd("org-m", bls_key("org-m"), bytes(96))

    (receipt,) = world.apply(world.governed("org-a", add, THREE))

    assert receipt.code is ErrorCode.INVALID_PROOF_OF_POSSESSION
    assert world.state.pending_validator_changes == ()


def test_a_proof_of_possession_hook_that_raises_counts_as_an_invalid_proof() -> None:
    # given a verifier that raises on input it cannot parse
    world = World()

    def exploding(pk: bytes, proof: bytes) -> bool:
        raise ValueError("not a G2 point")

    world.state = State(world.state.store, exploding)
    add = ValidatorAdd("org-m", bls_key("org-m"), fake_pop(bls_key("org-m")))

    # when
    (receipt,) = world.apply(world.governed("org-a", add, THREE))

    # then
    assert receipt.code is ErrorCode.INVALID_PROOF_OF_POSSESSION


@pytest.mark.parametrize(
    ("org", "bls_of", "code"),
    [
        ("org-b", "org-b", ErrorCode.DUPLICATE),  # already a validator
        ("org-m", "org-b", ErrorCode.DUPLICATE),  # BLS key already in use
        ("org-x", "org-x", ErrorCode.UNKNOWN_ORGANIZATION),
    ],
)
def test_validator_add_refuses_duplicates_and_unknown_organizations(
    org: str, bls_of: str, code: ErrorCode
) -> None:
    world = World()
    add = ValidatorAdd(org, bls_key(bls_of), fake_pop(bls_key(bls_of)))

    (receipt,) = world.apply(world.governed("org-a", add, THREE))

    assert receipt.code is code


def test_removing_a_non_validator_or_the_last_validator_is_rejected() -> None:
    # given
    world = World(validators=("org-a",), accounts=())

    # when
    (unknown,) = world.apply(world.governed("org-a", ValidatorRemove("org-m"), ("org-a",)))
    (last,) = world.apply(world.governed("org-a", ValidatorRemove("org-a"), ("org-a",)))

    # then
    assert unknown.code is ErrorCode.UNKNOWN_VALIDATOR
    assert last.code is ErrorCode.VALIDATOR_SET_TOO_SMALL


def test_mint_with_governance_raises_balance_and_supply() -> None:
    world = World()

    (receipt,) = world.apply(world.governed("org-a", Mint("b-eur", "EUR", 7_000), THREE))

    assert receipt.status is ReceiptStatus.COMMITTED
    assert world.balances()["b-eur"] == 7_000
    assert world.state.supply("EUR") == 108_000


@pytest.mark.parametrize(
    ("payload", "approvers", "code"),
    [
        (Mint("b-eur", "EUR", 7_000), ("org-a", "org-b"), ErrorCode.UNAUTHORISED),
        (Mint("x-eur", "EUR", 7_000), THREE, ErrorCode.UNKNOWN_ACCOUNT),
        (Mint("b-eur", "USD", 7_000), THREE, ErrorCode.CURRENCY_MISMATCH),
        (Mint("b-eur", "EUR", MAX_AMOUNT), THREE, ErrorCode.SUPPLY_OVERFLOW),
    ],
)
def test_mint_rejections_leave_balances_and_supply_unchanged(
    payload: Mint, approvers: tuple[str, ...], code: ErrorCode
) -> None:
    world = World()
    before = world.balances()

    (receipt,) = world.apply(world.governed("org-a", payload, approvers))

    assert receipt.code is code
    assert world.balances() == before
    assert world.state.supply("EUR") == 101_000
