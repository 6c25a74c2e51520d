"""One representative row of every payments model that a URL names by id, for one organization.

Accounts are made open directly (no ledger needed); the payment goes through the service, made
by a plain member, so it waits for approval (an owner may approve or cancel it).
"""

from __future__ import annotations

from django.db.models import Model

from payments import services
from payments.models import Account, Hold, Payment
from tenants.models import Organization
from tenants.roles import Role


def open_account(organization: Organization, name: str, currency: str = "EUR") -> Account:
    """An open account of ``organization`` (as if the ledger had committed its opening)."""
    return Account.objects.create(
        organization=organization,
        currency=currency,
        name=name,
        status=Account.Status.OPEN,
        ledger_account_id=f"{organization.slug}:{name.lower()}",
    )


def payments_objects(*, organization: Organization, member: object) -> dict[type[Model], Model]:
    """Two open accounts, a payment between them waiting for approval, and a queued hold."""
    source = open_account(organization, "main")
    target = open_account(organization, "savings")
    created = services.payment_create(
        organization=organization,
        actor=member,  # type: ignore[arg-type]
        role=Role.MEMBER,
        idempotency_key=f"walk-{organization.slug}",
        from_account=source.ledger_account_id,
        to_account=target.ledger_account_id,
        amount=1_000,
        currency="EUR",
    )
    placed = services.hold_place(
        organization=organization,
        actor=member,  # type: ignore[arg-type]
        role=Role.ADMIN,  # placing a hold takes an admin
        idempotency_key=f"walk-hold-{organization.slug}",
        from_account=source.ledger_account_id,
        to_account=target.ledger_account_id,
        amount=1_000,
        currency="EUR",
        expires_in=3600,
    )
    return {Account: source, Payment: created.payment, Hold: placed.hold}
