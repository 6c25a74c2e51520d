"""Celery tasks of the webhooks app (thin: each calls one service, in system context because
a worker serves every organization)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from tenants.rls import system_context
from webhooks import selectors, services


@shared_task(time_limit=60, soft_time_limit=50)
def webhook_event_fan_out(organization_id: int, payload: dict[str, Any]) -> list[int]:
    """One delivery per subscribed endpoint of the organization, each sent at once."""
    with system_context():
        delivery_ids = services.deliveries_fan_out(organization_id=organization_id, payload=payload)
    for delivery_id in delivery_ids:
        webhook_deliver.delay(delivery_id)
    return delivery_ids


# The time limit leaves room for the request's own timeout; acks_late so a delivery taken by a
# worker that dies is run again (the attempt is idempotent: a delivery not due is left alone).
@shared_task(acks_late=True, time_limit=int(settings.WEBHOOKS_TIMEOUT) + 30)
def webhook_deliver(delivery_id: int) -> str | None:
    with system_context():
        delivery = services.delivery_attempt(delivery_id=delivery_id)
    return delivery.status if delivery is not None else None


@shared_task(time_limit=120, soft_time_limit=100)
def webhook_deliveries_due() -> int:
    """Periodic: send every retry that is due (every organization)."""
    with system_context():
        due = selectors.deliveries_due(now=timezone.now())
    for delivery_id in due:
        webhook_deliver.delay(delivery_id)
    return len(due)
