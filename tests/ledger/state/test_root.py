"""The state root: determinism, sensitivity to every change, and the Merkle map behind it."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass

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
    Mint,
    OrgRegister,
    SharingAction,
    Transaction,
    Transfer,
    ValidatorAdd,
    apply_block,
    compute_receipts_root,
    state_root,
)
from ledger.state.snapshot import InvalidSnapshot, decode_snapshot, encode_snapshot
from ledger.state.store import EMPTY_HASH, MerkleMap
from tests.ledger.state.world import (
    World,
    bls_key,
    fake_pop,
    fake_pop_verify,
    public_key,
    signing_key,
)

C = [hashlib.sha256(bytes([i])).digest() for i in range(8)]
THREE = ("org-a", "org-b", "org-c")

# A block timestamp after genesis (whose state has timestamp 0).
T = 1_000


@dataclass(frozen=True)
class Blob:
    data: bytes

    def encode(self) -> bytes:
        return self.data


def a_busy_history(world: World) -> list[Transaction]:
    """One block's worth of every kind of change."""
    return [
        world.governed("org-a", OrgRegister("org-n", public_key(signing_key("org-n"))), THREE),
        world.governed(
            "org-a", ValidatorAdd("org-m", bls_key("org-m"), fake_pop(bls_key("org-m"))), THREE
        ),
        world.governed("org-b", Mint("b-eur", "EUR", 300), THREE),
        world.tx("org-m", BiometricCommitment(BiometricAction.ENROLLED, C[0])),
        world.tx("org-m", Consent(ConsentAction.GRANTED, C[1])),
        world.tx("org-a", DataSharing(SharingAction.GRANT, "org-m", C[2])),
        world.tx("org-m", AccountOpen("m-usd", "USD", "org-m")),
        world.tx("org-a", Transfer("a-usd", "m-usd", "USD", 70)),
        world.tx("org-a", Transfer("a-eur", "b-eur", "EUR", 10**9)),  # rejected, still recorded
        world.tx("org-b", Anchor(C[3])),
    ]


def test_the_same_transactions_give_the_same_root_on_independent_replicas() -> None:
    # given two replicas built separately from the same genesis
    one, two = World(), World()

    # when they apply the same block
    one.apply(*a_busy_history(one))
    two.apply(*a_busy_history(two))

    # then
    assert state_root(one.state) == state_root(two.state)
    assert len(one.state.root) == 32


def test_the_root_is_stable_when_transactions_are_re_encoded() -> None:
    # given
    world = World()
    txs = a_busy_history(world)

    # when the block is applied from decoded wire bytes instead of the original objects
    direct, _ = apply_block(world.state, txs, timestamp_ms=T)
    decoded, _ = apply_block(
        world.state, [Transaction.decode(tx.encode()) for tx in txs], timestamp_ms=T
    )

    # then
    assert direct.root == decoded.root


def test_the_order_of_competing_transfers_changes_the_outcome_and_the_root() -> None:
    # given a-usd holds 5,000 and org-a opened a second USD account
    world = World()
    state, _ = apply_block(
        world.state, [world.tx("org-a", AccountOpen("a-usd2", "USD", "org-a"))], timestamp_ms=T
    )
    big = Transfer("a-usd", "a-usd2", "USD", 4_000)
    small = Transfer("a-usd", "a-usd2", "USD", 3_000)

    # when both are applied in either order (signed with sequential nonces each time)
    big_first, big_receipts = apply_block(
        state,
        [world.tx("org-a", big, nonce=2), world.tx("org-a", small, nonce=3)],
        timestamp_ms=2 * T,
    )
    small_first, small_receipts = apply_block(
        state,
        [world.tx("org-a", small, nonce=2), world.tx("org-a", big, nonce=3)],
        timestamp_ms=2 * T,
    )

    # then the second one is rejected each time, a different amount moves, and the roots differ
    assert [r.code for r in big_receipts] == [None, "insufficient_funds"]
    assert [r.code for r in small_receipts] == [None, "insufficient_funds"]
    big_account, small_account = big_first.account("a-usd2"), small_first.account("a-usd2")
    assert big_account is not None and small_account is not None
    assert (big_account.balance, small_account.balance) == (4_000, 3_000)
    assert big_first.root != small_first.root


def test_independent_transactions_in_another_order_still_change_the_root() -> None:
    # given: receipts record each transaction's position, so the block order is committed too
    world = World()
    a, m = world.tx("org-a", Anchor(C[0])), world.tx("org-m", Anchor(C[1]))

    # when
    am, _ = apply_block(world.state, [a, m], timestamp_ms=T)
    ma, _ = apply_block(world.state, [m, a], timestamp_ms=T)

    # then
    assert am.root != ma.root


def test_every_state_change_changes_the_root() -> None:
    # given
    world = World()
    roots = [world.state.root]

    # when each transaction is applied in its own block
    for tx in a_busy_history(world):
        world.apply(tx)
        roots.append(world.state.root)
    world.apply()  # the block after the validator_add begins epoch 1
    roots.append(world.state.root)

    # then no two states share a root
    assert len(set(roots)) == len(roots)


def test_applying_a_block_leaves_the_parent_snapshot_unchanged() -> None:
    world = World()
    parent = world.state
    root, balances = parent.root, world.balances()

    apply_block(parent, a_busy_history(world), timestamp_ms=T)

    assert parent.root == root
    assert {a.account_id: a.balance for a in parent.accounts()} == balances
    assert parent.organization("org-n") is None


def test_the_merkle_root_does_not_depend_on_insertion_order_or_batching() -> None:
    # given
    rng = random.Random(7)
    items = {rng.randbytes(rng.randint(1, 40)): Blob(rng.randbytes(20)) for _ in range(3_000)}
    keys = list(items)

    # when built in one batch, and incrementally in shuffled chunks
    one_batch = MerkleMap().updated(items)
    rng.shuffle(keys)
    incremental = MerkleMap()
    for start in range(0, len(keys), 250):
        incremental = incremental.updated({k: items[k] for k in keys[start : start + 250]})

    # then
    assert one_batch.root == incremental.root
    assert len(one_batch) == len(incremental) == len(items)


def test_the_merkle_map_is_persistent_and_deleting_everything_returns_the_empty_root() -> None:
    # given
    base = MerkleMap().updated({b"k1": Blob(b"v1"), b"k2": Blob(b"v2")})
    root = base.root

    # when
    changed = base.updated({b"k1": Blob(b"other")})
    emptied = base.updated({b"k1": None, b"k2": None})

    # then
    assert base.root == root and base.get(b"k1") == Blob(b"v1")
    assert changed.root != root and changed.get(b"k1") == Blob(b"other")
    assert emptied.root == EMPTY_HASH and len(emptied) == 0
    assert MerkleMap().root == EMPTY_HASH


def test_writing_back_the_same_value_restores_the_same_root() -> None:
    base = MerkleMap().updated({b"k1": Blob(b"v1")})

    round_trip = base.updated({b"k1": Blob(b"v2")}).updated({b"k1": Blob(b"v1")})

    assert round_trip.root == base.root


def test_the_state_commits_to_the_receipts_of_its_block() -> None:
    # given
    world = World()
    ok = world.tx("org-a", Transfer("a-eur", "b-eur", "EUR", 5))
    too_much = world.tx("org-a", Transfer("a-eur", "b-eur", "EUR", 10**9))

    # when
    receipts = world.apply(ok, too_much)

    # then
    assert world.state.receipts_root == compute_receipts_root(receipts)
    forged = (receipts[0], dataclasses.replace(receipts[1], code=ErrorCode.UNKNOWN_ACCOUNT))
    assert compute_receipts_root(forged) != world.state.receipts_root
    world.apply()
    assert world.state.receipts_root == compute_receipts_root([])


def test_a_snapshot_round_trips_to_the_same_root_and_keeps_working() -> None:
    # given a state with every kind of record
    world = World()
    world.apply(*a_busy_history(world))

    # when
    data = encode_snapshot(world.state)
    loaded = decode_snapshot(data, expected_root=world.state.root, pop_verify=fake_pop_verify)

    # then
    assert loaded.root == world.state.root
    assert list(loaded.accounts()) == list(world.state.accounts())
    assert loaded.pending_validator_changes == world.state.pending_validator_changes
    follow_up = world.tx("org-a", Anchor(C[7]))
    later = world.state.timestamp_ms + 1
    assert (
        apply_block(loaded, [follow_up], timestamp_ms=later)[0].root
        == apply_block(world.state, [follow_up], timestamp_ms=later)[0].root
    )


def test_a_snapshot_that_does_not_rebuild_the_trusted_root_is_refused() -> None:
    # given
    world = World()
    data = encode_snapshot(world.state)
    tampered = data.replace((100_000).to_bytes(8, "big"), (900_000).to_bytes(8, "big"))

    # when / then
    assert tampered != data
    with pytest.raises(InvalidSnapshot):
        decode_snapshot(tampered, expected_root=world.state.root, pop_verify=fake_pop_verify)
    with pytest.raises(InvalidSnapshot):
        decode_snapshot(data + b"\x00", expected_root=world.state.root, pop_verify=fake_pop_verify)
    with pytest.raises(InvalidSnapshot):
        decode_snapshot(data, expected_root=bytes(32), pop_verify=fake_pop_verify)
