"""Payments, two-phase holds (place / capture / void / expiry) and atomic multi-transfers."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from ledger.consensus.encoding import Writer
from ledger.state import (
    ErrorCode,
    GenesisAccount,
    HoldCapture,
    HoldPlace,
    HoldStatus,
    HoldVoid,
    InvalidBlock,
    InvalidTransaction,
    Leg,
    MultiTransfer,
    Payment,
    Quote,
    Receipt,
    Transaction,
    Transfer,
    TxType,
    account_to_json,
    apply_block,
    decode_snapshot,
    encode_snapshot,
    hold_to_json,
    payload_from_json,
    payload_to_json,
)
from ledger.state.limits import HOLD_EXPIRY_BUCKET_MS
from tests.ledger.state.world import (
    CHAIN_ID,
    World,
    default_accounts,
    fake_pop_verify,
    signed_quote,
)

REF = hashlib.sha256(b"payment 42 + memo").digest()
H1, H2, H3 = (hashlib.sha256(b"hold%d" % i).digest() for i in range(3))
Q1, Q2 = (hashlib.sha256(b"quote%d" % i).digest() for i in range(2))
HOUR = HOLD_EXPIRY_BUCKET_MS


def fx_world() -> World:
    """The standard world plus USD liquidity held by org-b (the quote provider)."""
    return World(accounts=(*default_accounts(), GenesisAccount("b-usd", "USD", "org-b", 10_000)))


def codes(receipts: tuple[Receipt, ...]) -> list[str | None]:
    return [None if r.code is None else str(r.code) for r in receipts]


def balance(world: World, account_id: str) -> tuple[int, int]:
    account = world.state.account(account_id)
    assert account is not None
    return account.balance, account.held


# -- payments ----------------------------------------------------------------------------------


def test_a_payment_moves_funds_like_a_transfer_and_refuses_what_a_transfer_refuses() -> None:
    world = World()

    receipts = world.apply(
        world.tx("org-a", Payment("a-eur", "b-eur", "EUR", 1_500, REF)),
        world.tx("org-m", Payment("a-eur", "m-eur", "EUR", 1, REF)),  # not the owner
        world.tx("org-a", Payment("a-usd", "b-eur", "USD", 1, REF)),  # currency mismatch
        world.tx("org-m", Payment("m-eur", "b-eur", "EUR", 1_001, REF)),  # overdraft
    )

    assert codes(receipts) == [None, "unauthorised", "currency_mismatch", "insufficient_funds"]
    assert balance(world, "a-eur") == (98_500, 0)
    assert balance(world, "b-eur") == (1_500, 0)


def test_a_payment_keeps_its_reference_as_hex_in_json() -> None:
    payment = Payment("a-eur", "b-eur", "EUR", 1_500, REF)

    data = payload_to_json(payment)

    assert data == {
        "from_account": "a-eur",
        "to_account": "b-eur",
        "currency": "EUR",
        "amount": 1_500,
        "reference": REF.hex(),
    }
    assert payload_from_json("payment", data) == payment


def test_a_payment_between_one_account_and_itself_is_malformed() -> None:
    with pytest.raises(InvalidTransaction) as excinfo:
        Payment("a-eur", "a-eur", "EUR", 1, REF)
    assert excinfo.value.code is ErrorCode.MALFORMED


# -- holds -------------------------------------------------------------------------------------


def test_a_hold_reserves_funds_without_moving_them() -> None:
    world = World()

    receipts = world.apply(
        world.tx("org-m", HoldPlace(H1, "m-eur", "b-eur", "EUR", 600, 2 * HOUR, REF)),
        world.tx("org-m", Transfer("m-eur", "b-eur", "EUR", 401)),  # only 400 available
        world.tx("org-m", Payment("m-eur", "b-eur", "EUR", 400, REF)),
    )

    assert codes(receipts) == [None, "insufficient_funds", None]
    assert balance(world, "m-eur") == (600, 600)
    assert world.state.supply("EUR") == 101_000
    hold = world.state.hold(H1)
    assert hold is not None and hold.status is HoldStatus.ACTIVE and hold.sender == "org-m"
    assert account_to_json(world.state.account("m-eur")) == {  # type: ignore[arg-type]
        "account_id": "m-eur",
        "currency": "EUR",
        "owner": "org-m",
        "balance": 600,
        "held": 600,
        "available": 0,
    }


def test_a_hold_is_refused_for_a_reused_id_a_past_expiry_or_missing_funds() -> None:
    world = World()
    world.apply(world.tx("org-a", HoldPlace(H1, "a-eur", "b-eur", "EUR", 10, HOUR, REF)))
    now = world.state.timestamp_ms + 1_000

    receipts = world.apply(
        world.tx("org-a", HoldPlace(H1, "a-eur", "b-eur", "EUR", 10, 2 * HOUR, REF)),
        world.tx("org-a", HoldPlace(H2, "a-eur", "b-eur", "EUR", 10, now, REF)),
        world.tx("org-m", HoldPlace(H2, "m-eur", "b-eur", "EUR", 1_001, 2 * HOUR, REF)),
        world.tx("org-m", HoldPlace(H3, "a-eur", "b-eur", "EUR", 1, 2 * HOUR, REF)),
    )

    assert codes(receipts) == ["duplicate", "invalid_expiry", "insufficient_funds", "unauthorised"]
    assert world.state.hold(H2) is None and world.state.hold(H3) is None


def test_a_partial_capture_moves_the_amount_and_releases_the_rest_once() -> None:
    world = World()
    world.apply(world.tx("org-a", HoldPlace(H1, "a-eur", "b-eur", "EUR", 1_000, HOUR, REF)))

    receipts = world.apply(
        world.tx("org-b", HoldCapture(H1, 700)),  # only the placer captures
        world.tx("org-a", HoldCapture(H1, 1_001)),
        world.tx("org-a", HoldCapture(H1, 700)),
        world.tx("org-a", HoldCapture(H1, 1)),
        world.tx("org-a", HoldVoid(H1)),
    )

    assert codes(receipts) == ["unauthorised", "exceeds_hold", None, "not_active", "not_active"]
    assert balance(world, "a-eur") == (99_300, 0)
    assert balance(world, "b-eur") == (700, 0)
    hold = world.state.hold(H1)
    assert hold is not None
    assert (hold.status, hold.captured, hold.resolved_height) == (HoldStatus.CAPTURED, 700, 2)
    assert hold_to_json(hold) == {
        "hold_id": H1.hex(),
        "sender": "org-a",
        "from_account": "a-eur",
        "to_account": "b-eur",
        "currency": "EUR",
        "amount": 1_000,
        "expires_at_ms": HOUR,
        "reference": REF.hex(),
        "status": "captured",
        "captured": 700,
        "resolved_height": 2,
    }


def test_the_payee_may_decline_a_hold_and_a_stranger_may_not_touch_it() -> None:
    world = World()
    world.apply(
        world.tx("org-a", HoldPlace(H1, "a-eur", "b-eur", "EUR", 1_000, HOUR, REF)),
        world.tx("org-a", HoldPlace(H2, "a-eur", "b-eur", "EUR", 1_000, HOUR, REF)),
    )

    receipts = world.apply(
        world.tx("org-m", HoldVoid(H1)),
        world.tx("org-b", HoldVoid(H1)),  # the destination's owner declines
        world.tx("org-a", HoldVoid(H2)),  # the placer cancels
        world.tx("org-a", HoldVoid(H3)),
    )

    assert codes(receipts) == ["unauthorised", None, None, "unknown_hold"]
    assert balance(world, "a-eur") == (100_000, 0)
    assert [world.state.hold(h).status for h in (H1, H2)] == [  # type: ignore[union-attr]
        HoldStatus.VOIDED,
        HoldStatus.VOIDED,
    ]


def test_a_hold_expires_at_the_start_of_the_first_block_at_or_after_its_expiry() -> None:
    # given a hold expiring at 5000 ms, placed in the block at 1000 ms
    world = World()
    world.apply(world.tx("org-a", HoldPlace(H1, "a-eur", "b-eur", "EUR", 1_000, 5_000, REF)))
    # when a block at 4999 ms passes, the hold is still active
    world.apply(after_ms=3_999)
    assert balance(world, "a-eur") == (100_000, 1_000)

    # when the block at exactly 5000 ms captures it
    receipts = world.apply(world.tx("org-a", HoldCapture(H1, 10)), after_ms=1)

    # then it expired before the block's transactions ran, releasing the funds
    assert codes(receipts) == ["hold_expired"]
    assert balance(world, "a-eur") == (100_000, 0)
    hold = world.state.hold(H1)
    assert hold is not None and (hold.status, hold.resolved_height) == (HoldStatus.EXPIRED, 3)


def test_expiry_reads_only_the_due_buckets_and_empties_the_index_when_all_are_resolved() -> None:
    # given holds in three hourly buckets, one of them voided early
    world = World()
    world.apply(
        world.tx("org-a", HoldPlace(H1, "a-eur", "b-eur", "EUR", 1, HOUR + 5, REF)),
        world.tx("org-a", HoldPlace(H2, "a-eur", "b-eur", "EUR", 2, 3 * HOUR + 5, REF)),
        world.tx("org-a", HoldPlace(H3, "a-eur", "b-eur", "EUR", 4, 2 * HOUR, REF)),
        world.tx("org-a", HoldVoid(H3)),
    )
    index = world.state.expiry_index()
    assert index is not None and index.buckets == (1, 2, 3)

    # when time passes the first two buckets
    world.apply(after_ms=2 * HOUR + 10)

    # then those buckets are gone, the voided hold kept its outcome, the third bucket waits
    index = world.state.expiry_index()
    assert index is not None and index.buckets == (3,)
    assert world.state.expiry_bucket(1) is None and world.state.expiry_bucket(2) is None
    assert [world.state.hold(h).status for h in (H1, H2, H3)] == [  # type: ignore[union-attr]
        HoldStatus.EXPIRED,
        HoldStatus.ACTIVE,
        HoldStatus.VOIDED,
    ]
    assert balance(world, "a-eur") == (100_000, 2)

    # and once the last one expires, no index or bucket record remains
    world.apply(after_ms=2 * HOUR)
    assert world.state.expiry_index() is None
    assert list(world.state.store.items(b"e")) == []
    assert balance(world, "a-eur") == (100_000, 0)


def test_a_block_must_be_later_than_its_parent_and_the_time_changes_the_root() -> None:
    world = World()
    world.apply(after_ms=1_000)
    tx = world.tx("org-a", Payment("a-eur", "b-eur", "EUR", 1, REF))

    with pytest.raises(InvalidBlock):
        apply_block(world.state, [tx], timestamp_ms=1_000)
    early, _ = apply_block(world.state, [tx], timestamp_ms=1_001)
    late, _ = apply_block(world.state, [tx], timestamp_ms=1_002)

    assert early.root != late.root
    assert (early.timestamp_ms, late.timestamp_ms) == (1_001, 1_002)


def test_a_snapshot_with_holds_and_quotes_rebuilds_the_same_state() -> None:
    world = fx_world()
    world.apply(
        world.tx("org-a", HoldPlace(H1, "a-eur", "b-eur", "EUR", 1_000, HOUR, REF)),
        world.tx("org-a", HoldPlace(H2, "a-eur", "b-eur", "EUR", 1_000, HOUR, REF)),
        world.tx("org-a", HoldCapture(H2, 10)),
        world.tx("org-a", fx_payment(Q1)),
    )

    loaded = decode_snapshot(
        encode_snapshot(world.state), expected_root=world.state.root, pop_verify=fake_pop_verify
    )

    assert loaded.root == world.state.root
    assert list(loaded.holds()) == list(world.state.holds())
    assert loaded.quote(Q1) == world.state.quote(Q1)
    assert loaded.timestamp_ms == world.state.timestamp_ms


# -- multi-transfers ---------------------------------------------------------------------------


def fx_payment(
    quote_id: bytes,
    *,
    pay: int = 1_000,
    receive: int = 1_080,
    expires_at_ms: int = HOUR,
    signer: str = "org-b",
    legs: tuple[Leg, ...] | None = None,
) -> MultiTransfer:
    """org-a pays 1000 EUR to org-b, which pays 1080 USD into org-a's USD account."""
    quote = Quote("org-b", quote_id, "EUR", pay, "USD", receive, expires_at_ms, bytes(64))
    if legs is None:
        legs = (Leg("a-eur", "b-eur", "EUR", pay), Leg("b-usd", "a-usd", "USD", receive))
    return MultiTransfer(legs, REF, signed_quote(quote, signer))


def test_a_quoted_multi_transfer_applies_every_leg() -> None:
    world = fx_world()

    receipts = world.apply(world.tx("org-a", fx_payment(Q1)))

    assert codes(receipts) == [None]
    assert balance(world, "a-eur") == (99_000, 0)
    assert balance(world, "b-eur") == (1_000, 0)
    assert balance(world, "b-usd") == (8_920, 0)
    assert balance(world, "a-usd") == (6_080, 0)
    assert world.state.quote(Q1) is not None
    assert (world.state.supply("EUR"), world.state.supply("USD")) == (101_000, 15_000)


def test_a_multi_transfer_is_refused_for_a_bad_quote() -> None:
    world = fx_world()
    world.apply(world.tx("org-a", fx_payment(Q1)))
    balances = world.balances()
    now = world.state.timestamp_ms

    receipts = world.apply(
        world.tx("org-a", fx_payment(Q1)),  # quote already used
        world.tx("org-a", fx_payment(Q2, expires_at_ms=now + 999)),  # expired by the next block
        world.tx("org-a", fx_payment(Q2, signer="org-a")),  # not the provider's signature
        world.tx(
            "org-a",
            fx_payment(
                Q2,
                legs=(Leg("a-eur", "b-eur", "EUR", 1_000), Leg("b-usd", "a-usd", "USD", 1_081)),
            ),
        ),  # takes more than quoted
        world.tx(
            "org-a",
            fx_payment(
                Q2,
                legs=(Leg("m-eur", "b-eur", "EUR", 1_000), Leg("b-usd", "a-usd", "USD", 1_080)),
            ),
        ),  # moves a third party's money
    )

    assert codes(receipts) == [
        "duplicate",
        "quote_expired",
        "unauthorised",
        "quote_mismatch",
        "unauthorised",
    ]
    assert world.balances() == balances
    assert world.state.quote(Q2) is None


def test_a_multi_transfer_applies_no_leg_when_one_fails() -> None:
    # given a provider without enough USD for the second leg
    world = fx_world()
    balances = world.balances()

    receipts = world.apply(world.tx("org-a", fx_payment(Q1, receive=10_001)))

    assert codes(receipts) == ["insufficient_funds"]
    assert world.balances() == balances
    assert world.state.quote(Q1) is None


def test_the_quote_signature_binds_the_chain_and_every_term() -> None:
    world = fx_world()
    good = fx_payment(Q1)
    tampered = dataclasses.replace(
        good, quote=dataclasses.replace(good.quote, receive_amount=1_079)
    )
    tampered = dataclasses.replace(
        tampered,
        legs=(Leg("a-eur", "b-eur", "EUR", 1_000), Leg("b-usd", "a-usd", "USD", 1_079)),
    )

    receipts = world.apply(world.tx("org-a", tampered))

    assert codes(receipts) == ["unauthorised"]


@pytest.mark.parametrize("count", [1, 9])
def test_a_multi_transfer_needs_two_to_eight_legs(count: int) -> None:
    legs = tuple(Leg("a-eur", f"x-{i}", "EUR", 1) for i in range(count))
    good = fx_payment(Q1)

    with pytest.raises(InvalidTransaction) as excinfo:
        MultiTransfer(legs, REF, good.quote)
    assert excinfo.value.code is ErrorCode.MALFORMED

    # and the decoder refuses such a list as well (hand-built bytes, no constructor involved)
    w = Writer().seq(legs, lambda w, leg: leg.write(w), 16).fixed(REF, 32)
    payload = w.getvalue() + good.quote.terms() + good.quote.signature
    data = Writer().u8(1).text(CHAIN_ID).u8(int(TxType.MULTI_TRANSFER)).text("org-a").u64(1)
    with pytest.raises(InvalidTransaction) as decoded:
        Transaction.decode(data.var(payload).getvalue() + bytes(64))
    assert decoded.value.code is ErrorCode.MALFORMED


def test_a_multi_transfer_round_trips_through_json() -> None:
    payload = fx_payment(Q1)

    data = payload_to_json(payload)

    assert data["legs"][1] == {
        "from_account": "b-usd",
        "to_account": "a-usd",
        "currency": "USD",
        "amount": 1_080,
    }
    assert data["quote"]["quote_id"] == Q1.hex()
    assert set(data["quote"]) == {
        "provider",
        "quote_id",
        "pay_currency",
        "pay_amount",
        "receive_currency",
        "receive_amount",
        "expires_at_ms",
        "signature",
    }
    assert payload_from_json("multi_transfer", data) == payload
    with pytest.raises(InvalidTransaction):
        payload_from_json("multi_transfer", {**data, "legs": data["legs"][:1]})
