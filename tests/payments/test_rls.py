"""Row-level security of the payments tables (PostgreSQL): a payment is the payer's row, which
the payee may read and never write, and no third organization sees."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, transaction

from payments import selectors
from payments.models import Account, Payment
from tenants import rls
from tests.conftest import World
from tests.payments.api_support import pay


@pytest.fixture
def acme_pays_globex(world: World, alice: Any, accounts: dict[str, Account]) -> Payment:
    pay(alice)
    return Payment.objects.get()


def test_the_payee_reads_the_payment_and_a_third_organization_does_not(
    postgres: None, world: World, acme_pays_globex: Payment
) -> None:
    with rls.organization_context(world.globex.pk):
        # Deliberately unfiltered: the policy alone decides.
        assert list(Payment.objects.values_list("pk", flat=True)) == [acme_pays_globex.pk]
        assert set(Account.objects.values_list("organization__slug", flat=True)) == {"globex"}
        # and the payer's outbox row stays hidden, so the payee sees the stored status
        payment = selectors.payment_get(organization=world.globex, payment_id=acme_pays_globex.pk)
        assert payment is not None and selectors.payment_status(payment) == "queued"
    with rls.organization_context(world.initech.pk):
        assert not Payment.objects.exists()


def test_the_payee_cannot_change_the_payment(
    postgres: None, world: World, acme_pays_globex: Payment
) -> None:
    with rls.organization_context(world.globex.pk), pytest.raises(DatabaseError):  # noqa: SIM117
        with transaction.atomic():
            Payment.objects.filter(pk=acme_pays_globex.pk).update(status="settled")


def test_the_directory_shows_every_organizations_open_accounts_from_a_tenant_context(
    postgres: None, world: World, accounts: dict[str, Account]
) -> None:
    with rls.organization_context(world.globex.pk):
        assert {e.organization for e in selectors.directory_accounts()} == {
            "acme", "globex", "initech",
        }  # fmt: skip
        assert Account.objects.count() == 1  # outside the directory, only globex's own
