"""JSON views of payloads, transactions and receipts (node API, outbox input, explorer)."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.state import (
    ErrorCode,
    InvalidTransaction,
    Mint,
    Transfer,
    TxType,
    payload_from_json,
    payload_to_json,
    receipt_to_json,
    transaction_to_json,
    tx_type_from_name,
)
from tests.ledger.state.world import World, one_of_each_payload


def test_every_payload_round_trips_through_json() -> None:
    # given
    payloads = one_of_each_payload()

    # when
    again = [payload_from_json(p.TYPE.name.lower(), payload_to_json(p)) for p in payloads]

    # then
    assert again == payloads


def test_a_transfer_reads_naturally_as_json() -> None:
    assert payload_to_json(Transfer("a-eur", "b-eur", "EUR", 250)) == {
        "from_account": "a-eur",
        "to_account": "b-eur",
        "currency": "EUR",
        "amount": 250,
    }


def test_a_governed_payload_carries_its_approvals_and_may_omit_them_on_input() -> None:
    # given a signed governance transaction
    world = World()
    tx = world.governed("org-a", Mint("b-eur", "EUR", 5), ("org-a", "org-b", "org-c"))

    # when
    data = payload_to_json(tx.payload)
    bare = payload_from_json(TxType.MINT, {k: v for k, v in data.items() if k != "approvals"})

    # then
    assert [a["org_id"] for a in data["approvals"]] == ["org-a", "org-b", "org-c"]
    assert payload_from_json(TxType.MINT, data) == tx.payload
    assert bare == Mint("b-eur", "EUR", 5)


@pytest.mark.parametrize(
    ("tx_type", "data"),
    [
        ("transfer", {"from_account": "a", "to_account": "b", "currency": "EUR"}),
        (
            "transfer",
            {"from_account": "a", "to_account": "b", "currency": "EUR", "amount": 1, "x": 1},
        ),
        ("transfer", {"from_account": "a", "to_account": "b", "currency": "EUR", "amount": "1"}),
        ("anchor", {"commitment": "zz" * 32}),
        ("anchor", {"commitment": "00" * 31}),
        ("biometric_commitment", {"action": "deleted", "commitment": "00" * 32}),
        (
            "mint",
            {"account_id": "a", "currency": "EUR", "amount": 1, "approvals": [{"org_id": "a"}]},
        ),
        ("Transfer", {}),
        ("teleport", {}),
    ],
)
def test_bad_json_input_is_malformed(tx_type: str, data: dict[str, Any]) -> None:
    with pytest.raises(InvalidTransaction) as err:
        payload_from_json(tx_type, data)
    assert err.value.code is ErrorCode.MALFORMED


def test_transactions_and_receipts_have_json_views_for_the_api() -> None:
    # given
    world = World()
    tx = world.tx("org-a", Transfer("a-eur", "b-eur", "EUR", 10**9))
    (receipt,) = world.apply(tx)

    # when
    tx_json, receipt_json = transaction_to_json(tx), receipt_to_json(receipt)

    # then
    assert tx_json["hash"] == tx.tx_hash.hex()
    assert (tx_json["type"], tx_json["sender"], tx_json["nonce"]) == ("transfer", "org-a", 1)
    assert tx_json["size"] == len(tx.encode())
    assert receipt_json["status"] == "rejected"
    assert receipt_json["code"] == "insufficient_funds"
    assert receipt_json["height"] == 1 and receipt_json["index"] == 0
    assert tx_type_from_name("data_sharing") is TxType.DATA_SHARING
