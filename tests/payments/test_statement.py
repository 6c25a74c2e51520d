"""Account statements: the account's committed ledger movements, from the mirror, with the
running balance, the organization's own memos, date filters, pages and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest

from ledger.models import MirrorAccount, MirrorBlock, MirrorChain, MirrorTransaction
from payments.api.renderers import decimal_amount
from payments.models import Account, Payment
from tests.conftest import World
from tests.ledger.portal.support import LedgerHarness
from tests.payments.api_support import error_code, pay
from tests.payments.ledger_support import FUNDS, Pipeline, funded_chain, pipeline_on

URL = "/api/v1/orgs/acme/accounts/acme:main/statement/"
_HASHES = count(1)


def day(d: int, hour: int = 12) -> int:
    """Milliseconds of 2026-03-<d> <hour>:00 UTC."""
    return int(datetime(2026, 3, d, hour, tzinfo=UTC).timestamp() * 1000)


def block(height: int, at_ms: int) -> MirrorBlock:
    return MirrorBlock.objects.create(
        height=height, hash=f"{height:064x}", parent_hash=f"{height - 1:064x}", epoch=0,
        round=height, proposer=0, timestamp_ms=at_ms, state_root="51" * 32,
        payload_root="9a" * 32, block=b"", certificate=b"",
    )  # fmt: skip


def tx(
    at: MirrorBlock, position: int, tx_type: str, status: str = "committed", **payload: Any
) -> MirrorTransaction:
    return MirrorTransaction.objects.create(
        block=at, position=position, hash=f"{next(_HASHES):064x}", tx_type=tx_type,
        sender="acme", nonce=position, status=status, payload=payload,
    )  # fmt: skip


def transfer(at: MirrorBlock, position: int, source: str, target: str, amount: int) -> Any:
    return tx(at, position, "transfer", from_account=source, to_account=target, currency="EUR",
              amount=amount)  # fmt: skip


@pytest.fixture
def history(world: World, accounts: dict[str, Account]) -> dict[str, MirrorTransaction]:
    """acme:main's mirrored history over three days of March 2026, genesis balance 5,000.00,
    mixed with movements of other accounts, rejected ones and holds that are only placed."""
    MirrorChain.objects.create(
        chain_id="c1", genesis_hash="00" * 32, source="test",
        genesis={"state": {"accounts": [
            {"account_id": "acme:main", "currency": "EUR", "owner": "acme", "balance": 500_000},
        ]}},
    )  # fmt: skip
    b1, b2, b3 = block(1, day(1)), block(2, day(2)), block(3, day(3))
    hold = "ab" * 16
    # Created out of order: the statement orders by (height, position), not by insertion.
    rows = {
        "multi": tx(b3, 1, "multi_transfer", reference="00" * 32, quote={}, legs=[
            {"from_account": "globex:main", "to_account": "acme:main", "currency": "EUR",
             "amount": 700},
            {"from_account": "acme:savings", "to_account": "initech:main", "currency": "EUR",
             "amount": 5},
            {"from_account": "acme:main", "to_account": "initech:main", "currency": "EUR",
             "amount": 200},
        ]),
        "capture": tx(b3, 0, "hold_capture", hold_id=hold, amount=3_000),
        "paid": tx(b2, 1, "payment", from_account="acme:main", to_account="globex:main",
                   currency="EUR", amount=12_345, reference="11" * 32),
        "mint": tx(b1, 2, "mint", account_id="acme:main", currency="EUR", amount=100_000),
        "received": transfer(b1, 0, "globex:main", "acme:main", 2_500),
    }  # fmt: skip
    tx(b1, 1, "transfer", status="rejected", from_account="acme:main", to_account="globex:main",
       currency="EUR", amount=9_999_999)  # fmt: skip
    transfer(b1, 3, "globex:main", "initech:main", 50)
    tx(b2, 0, "hold_place", hold_id=hold, from_account="acme:main", to_account="globex:main",
       currency="EUR", amount=4_000, expires_at_ms=day(9), reference="22" * 32)  # fmt: skip
    tx(b2, 2, "hold_place", hold_id="cd" * 16, from_account="acme:main",
       to_account="globex:main", currency="EUR", amount=1, expires_at_ms=day(9),
       reference="33" * 32)  # fmt: skip
    return rows


def payment_row(world: World, row: MirrorTransaction, memo: str, **kwargs: Any) -> Payment:
    payment: Payment = Payment.objects.create(
        **{"organization": world.acme, "payee_organization": world.globex,
           "from_account_id": "acme:main", "to_account_id": "globex:main"} | kwargs,
        currency="EUR", amount=row.payload.get("amount", 1), memo=memo, status="settled",
        created_by=world.alice, tx_hash=row.hash, block_height=row.block.height,
    )  # fmt: skip
    return payment


def entries(response: Any) -> list[tuple[Any, ...]]:
    assert response.status_code == 200, response.content
    return [
        (e["direction"], e["amount"], e["balance_after"], e["counterparty"], e["block_height"])
        for e in response.json()["results"]
    ]


def test_it_lists_the_committed_movements_in_ledger_order_with_the_running_balance(
    alice: Any, history: dict[str, MirrorTransaction]
) -> None:
    # when alice reads acme:main's statement
    response = alice.get(URL)
    # then every committed movement of the account, in (height, position) order, and nothing
    # else: not the rejected transfer, other accounts' transfers or legs, nor placed holds
    assert entries(response) == [
        ("in", 2_500, 502_500, "globex:main", 1),
        ("in", 100_000, 602_500, None, 1),
        ("out", 12_345, 590_155, "globex:main", 2),
        ("out", 3_000, 587_155, "globex:main", 3),
        ("in", 700, 587_855, "globex:main", 3),
        ("out", 200, 587_655, "initech:main", 3),
    ]
    first = response.json()["results"][0]
    assert first == {
        "direction": "in", "amount": 2_500, "balance_after": 502_500,
        "counterparty": "globex:main", "memo": "", "payment_id": None,
        "tx_hash": history["received"].hash, "block_height": 1, "at": "2026-03-01T12:00:00Z",
    }  # fmt: skip


def test_an_account_opened_after_genesis_starts_from_zero(
    alice: Any, history: dict[str, MirrorTransaction]
) -> None:
    response = alice.get("/api/v1/orgs/acme/accounts/acme:savings/statement/")
    assert entries(response) == [("out", 5, -5, "initech:main", 3)]


def test_memo_and_payment_id_come_only_from_the_organizations_own_payments(
    world: World, alice: Any, mallory: Any, history: dict[str, MirrorTransaction]
) -> None:
    # given acme's payment of the `paid` transaction, and globex's of the `received` one
    own = payment_row(world, history["paid"], "invoice 42")
    payment_row(
        world, history["received"], "globex's private note", organization=world.globex,
        payee_organization=world.initech, from_account_id="globex:main",
        to_account_id="initech:main",
    )  # fmt: skip
    # when alice reads the statement
    results = alice.get(URL).json()["results"]
    # then the memo and id of acme's own payment show, never another organization's
    by_hash = {e["tx_hash"]: (e["memo"], e["payment_id"]) for e in results}
    assert by_hash[history["paid"].hash] == ("invoice 42", own.pk)
    assert by_hash[history["received"].hash] == ("", None)
    assert "globex's private note" not in alice.get(URL + "?format=csv").content.decode()


def test_a_payee_sees_the_memo_of_a_payment_it_received(
    world: World, mallory: Any, history: dict[str, MirrorTransaction], accounts: Any
) -> None:
    payment = payment_row(world, history["paid"], "for globex")
    results = mallory.get("/api/v1/orgs/globex/accounts/globex:main/statement/").json()
    paid = [e for e in results["results"] if e["tx_hash"] == history["paid"].hash]
    assert [(e["direction"], e["memo"], e["payment_id"]) for e in paid] == [
        ("in", "for globex", payment.pk)
    ]


def test_the_dates_filter_by_block_day_and_the_balance_counts_what_came_before(
    alice: Any, history: dict[str, MirrorTransaction]
) -> None:
    assert entries(alice.get(URL + "?from=2026-03-02&to=2026-03-02")) == [
        ("out", 12_345, 590_155, "globex:main", 2)
    ]
    assert [e[4] for e in entries(alice.get(URL + "?from=2026-03-02"))] == [2, 3, 3, 3]
    assert [e[4] for e in entries(alice.get(URL + "?to=2026-03-01"))] == [1, 1]
    assert entries(alice.get(URL + "?from=2026-03-04")) == []


@pytest.mark.parametrize(
    "query",
    ["from=2026-3-1", "from=yesterday", "to=2026-02-30", "from=20260301", "to=2026-03-01T00:00",
     "from=2026-03-03&to=2026-03-01"],
)  # fmt: skip
def test_a_bad_date_is_a_validation_error(
    alice: Any, history: dict[str, MirrorTransaction], query: str
) -> None:
    response = alice.get(f"{URL}?{query}")
    assert response.status_code == 400 and error_code(response) == "validation_error"
    assert set(response.json()["error"]["details"]["fields"]) <= {"from", "to"}
    # and the same in CSV: errors stay JSON
    response = alice.get(f"{URL}?{query}&format=csv")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert error_code(response) == "validation_error"


def test_the_statement_is_paginated(alice: Any, history: dict[str, MirrorTransaction]) -> None:
    first = alice.get(URL + "?page_size=4").json()
    second = alice.get(URL + "?page_size=4&page=2").json()
    assert (first["count"], len(first["results"]), len(second["results"])) == (6, 4, 2)
    assert second["results"][-1]["balance_after"] == 587_655


def test_the_csv_has_a_header_decimal_amounts_and_an_attachment_name(
    world: World, alice: Any, history: dict[str, MirrorTransaction]
) -> None:
    payment_row(world, history["paid"], '=HYPERLINK("http://x")')
    # when alice downloads March 2 to 3 as CSV
    response = alice.get(URL + "?from=2026-03-02&to=2026-03-03&format=csv")
    # then a CSV attachment named after the account and the range
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="statement-acme:main-2026-03-02-2026-03-03.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
        "direction", "amount", "amount_minor", "balance_after", "balance_after_minor",
        "counterparty", "memo", "payment_id", "tx_hash", "block_height", "at",
    ]  # fmt: skip
    assert [r[:7] for r in rows[1:]] == [
        ["out", "123.45", "12345", "5901.55", "590155", "globex:main",
         "'=HYPERLINK(\"http://x\")"],
        ["out", "30.00", "3000", "5871.55", "587155", "globex:main", ""],
        ["in", "7.00", "700", "5878.55", "587855", "globex:main", ""],
        ["out", "2.00", "200", "5876.55", "587655", "initech:main", ""],
    ]  # fmt: skip
    assert rows[1][9:] == ["2", "2026-03-02T12:00:00Z"]
    # and without dates, every entry, named from start to end
    whole = alice.get(URL + "?format=csv")
    assert 'filename="statement-acme:main-start-end.csv"' in whole["Content-Disposition"]
    assert len(list(csv.reader(io.StringIO(whole.content.decode())))) == 7


@pytest.mark.parametrize(
    ("minor", "places", "text"),
    [(123450, 2, "1234.50"), (5, 2, "0.05"), (0, 2, "0.00"), (1050, 0, "1050"),
     (1050, 3, "1.050"), (-5, 2, "-0.05"), (10**17 + 1, 2, "1000000000000000.01")],
)  # fmt: skip
def test_decimal_amounts_use_the_currency_exponent_exactly(
    minor: int, places: int, text: str
) -> None:
    assert decimal_amount(minor, places) == text


def test_only_the_accounts_organization_reads_its_statement(
    world: World, alice: Any, mallory: Any, history: dict[str, MirrorTransaction]
) -> None:
    # mallory under acme's slug (not a member), under globex's slug (not globex's account)
    for path in (URL, "/api/v1/orgs/globex/accounts/acme:main/statement/"):
        for suffix in ("", "?format=csv"):
            response = mallory.get(path + suffix)
            assert response.status_code == 404 and error_code(response) == "not_found"
    # and an account id that does not exist is 404 for alice too
    response = alice.get("/api/v1/orgs/acme/accounts/acme:nope/statement/")
    assert response.status_code == 404


@pytest.fixture
def pipeline(world: World) -> Iterator[tuple[LedgerHarness, Pipeline]]:
    chain = funded_chain(world)
    with pipeline_on(chain) as running:
        yield chain, running


def test_the_statement_of_real_ledger_payments_ends_at_the_mirrored_balance(
    alice: Any, mallory: Any, pipeline: tuple[LedgerHarness, Pipeline]
) -> None:
    # given two payments from acme:usd to globex:usd settled on a real ledger
    _chain, running = pipeline
    alice.get("/api/v1/orgs/acme/accounts/")
    mallory.get("/api/v1/orgs/globex/accounts/")
    for amount, memo in ((25_000, "first"), (1_050, "second")):
        pay(alice, from_account="acme:usd", to_account="globex:usd", amount=amount,
            currency="USD", memo=memo)  # fmt: skip
    running.run()
    assert set(Payment.objects.values_list("status", flat=True)) == {"settled"}
    # when each side reads its statement
    payer = alice.get("/api/v1/orgs/acme/accounts/acme:usd/statement/").json()["results"]
    payee = mallory.get("/api/v1/orgs/globex/accounts/globex:usd/statement/").json()["results"]
    # then both payments show with their memos, from the genesis funds down
    assert sorted((e["direction"], e["amount"], e["memo"]) for e in payer) == [
        ("out", 1_050, "second"), ("out", 25_000, "first"),
    ]  # fmt: skip
    assert sorted((e["direction"], e["amount"], e["memo"]) for e in payee) == [
        ("in", 1_050, "second"), ("in", 25_000, "first"),
    ]  # fmt: skip
    # and the last running balance is the balance the follower mirrored
    final = MirrorAccount.objects.get(account_id="acme:usd").balance
    assert payer[-1]["balance_after"] == final == FUNDS - 26_050
    assert payee[-1]["balance_after"] == MirrorAccount.objects.get(account_id="globex:usd").balance


def test_options_with_format_csv_describes_the_endpoint_in_json(
    alice: Any, history: dict[str, MirrorTransaction]
) -> None:
    # given a client that asks for the CSV rendering of an OPTIONS request
    response = alice.options(f"{URL}?format=csv&from=2000-01-01&to=2000-01-01")
    # then the description is JSON (CSV is only for statement rows), not a server error
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json()["name"]
