"""A settled payment's ledger receipt: served to the payer and the payee, verifiable offline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from ledger.receipts import ReceiptError, TransactionReceipt, verify_receipt
from payments.models import Account, Payment
from tenants.models import Membership
from tenants.roles import Role
from tests.conftest import World, api_as
from tests.ledger.portal.support import LedgerHarness
from tests.payments.api_support import error_code, pay
from tests.payments.ledger_support import Pipeline, funded_chain, pipeline_on


@pytest.fixture
def chain(world: World) -> LedgerHarness:
    return funded_chain(world)


@pytest.fixture
def pipeline(chain: LedgerHarness) -> Iterator[Pipeline]:
    with pipeline_on(chain) as running:
        yield running


def settled_payment(alice: Any, mallory: Any, pipeline: Pipeline) -> Payment:
    """alice pays globex 250.00 USD from acme's genesis account; the ledger settles it."""
    alice.get("/api/v1/orgs/acme/accounts/")
    mallory.get("/api/v1/orgs/globex/accounts/")
    pay(alice, from_account="acme:usd", to_account="globex:usd", amount=25_000, currency="USD",
        memo="invoice 7")  # fmt: skip
    pipeline.run()
    payment = Payment.objects.get()
    assert payment.status == Payment.Status.SETTLED
    return payment


def check(chain: LedgerHarness, document: Any) -> Any:
    receipt = TransactionReceipt.from_json(json.loads(json.dumps(document)))
    return verify_receipt(receipt, crypto=chain.crypto, genesis_hash=chain.genesis.hash)


def test_the_payer_gets_a_receipt_that_verifies_offline(
    alice: Any, mallory: Any, chain: LedgerHarness, pipeline: Pipeline
) -> None:
    # given a payment the ledger settled
    payment = settled_payment(alice, mallory, pipeline)
    # when alice fetches its receipt
    response = alice.get(f"/api/v1/orgs/acme/payments/{payment.pk}/receipt/")
    # then it verifies against the pinned genesis: the payment's transaction, its block, committed
    assert response.status_code == 200, response.content
    document = response.json()
    verified = check(chain, document)
    assert verified.tx_hash.hex() == payment.tx_hash == document["transaction"]["hash"]
    assert verified.height == payment.block_height
    assert verified.outcome.committed and verified.signers >= 3
    # and the memo is nowhere in it (the ledger only ever sees a keyed hash of it)
    assert "invoice 7" not in response.content.decode()


def test_flipping_a_byte_of_the_receipt_makes_it_fail(
    alice: Any, mallory: Any, chain: LedgerHarness, pipeline: Pipeline
) -> None:
    payment = settled_payment(alice, mallory, pipeline)
    document = alice.get(f"/api/v1/orgs/acme/payments/{payment.pk}/receipt/").json()
    for part, field in (("transaction", "tx"), ("block", "header"), ("block", "certificate")):
        tampered = json.loads(json.dumps(document))
        raw = bytearray.fromhex(tampered[part][field])
        raw[len(raw) // 2] ^= 0x01
        tampered[part][field] = raw.hex()
        with pytest.raises(ReceiptError):
            check(chain, tampered)


def test_the_payee_gets_the_same_receipt_and_a_third_organization_gets_404(
    world: World, alice: Any, mallory: Any, pipeline: Pipeline
) -> None:
    # given a settled payment from acme to globex, and charlie, a member of initech only
    payment = settled_payment(alice, mallory, pipeline)
    charlie = get_user_model().objects.create_user("charlie", "charlie@initech.example", "pw")
    Membership.objects.create(user=charlie, organization=world.initech, role=Role.OWNER)
    path = f"/api/v1/orgs/{{}}/payments/{payment.pk}/receipt/"
    payer = alice.get(path.format("acme"))
    # when globex's member (the payee) fetches it under globex
    payee = mallory.get(path.format("globex"))
    # then it is the very same document
    assert payee.status_code == 200 and payee.json() == payer.json()
    # and initech, neither payer nor payee, does not learn that the payment exists
    response = api_as(charlie, world.initech).get(path.format("initech"))
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_a_payment_not_settled_has_no_receipt(
    world: World, alice: Any, mallory: Any, accounts: dict[str, Account]
) -> None:
    # given a payment waiting for approval (above the threshold) and one in the outbox
    waiting = pay(alice, amount=500_000).json()
    queued = pay(alice, amount=1_000).json()
    assert (waiting["status"], queued["status"]) == ("pending_approval", "queued")
    for created in (waiting, queued):
        # when the payer or the payee asks for the receipt
        for client, org in ((alice, "acme"), (mallory, "globex")):
            response = client.get(f"/api/v1/orgs/{org}/payments/{created['id']}/receipt/")
            # then 409 not_settled
            assert response.status_code == 409, response.content
            assert error_code(response) == "not_settled"


def test_a_settled_payment_whose_block_is_not_mirrored_yet_answers_incomplete_mirror(
    world: World, alice: Any, accounts: dict[str, Account]
) -> None:
    # given a payment the worker saw settle before the follower mirrored its block
    created = pay(alice, amount=1_000).json()
    Payment.objects.filter(pk=created["id"]).update(
        status=Payment.Status.SETTLED, tx_hash="ab" * 32, block_height=3
    )
    # when alice asks for its receipt
    response = alice.get(f"/api/v1/orgs/acme/payments/{created['id']}/receipt/")
    # then the portal says its mirror lacks the block, rather than a receipt of nothing
    assert response.status_code == 409 and error_code(response) == "incomplete_mirror"
