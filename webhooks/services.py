"""Writes of the webhooks app: endpoints, secret rotation, and delivering messages.

A message is delivered with a short timeout and retried on any failure (no answer, or a status
outside 2xx) after each delay of :data:`RETRY_SCHEDULE`, which spans more than 24 hours; then it
is ``failed``. Every attempt is recorded. Signing follows Standard Webhooks (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``).
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timedelta
from typing import Any, Final

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from kernel.events import Event
from tenants.errors import NotFound
from tenants.models import Organization
from tenants.services import audit_record
from webhooks import selectors, transport
from webhooks.errors import WEBHOOK_EVENT_TYPE_UNKNOWN, WebhookError
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookSecret

__all__ = [
    "RETRY_SCHEDULE",
    "deliveries_enqueue",
    "deliveries_fan_out",
    "delivery_attempt",
    "delivery_redeliver",
    "endpoint_create",
    "endpoint_delete",
    "endpoint_rotate_secret",
    "endpoint_update",
]

#: Delay before the retry that follows the n-th failed attempt (31 hours in all): a receiver
#: that is down for a day still gets the message.
RETRY_SCHEDULE: Final[tuple[timedelta, ...]] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
)


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _check_event_types(event_types: list[str]) -> list[str]:
    available = selectors.event_types_available()
    unknown = sorted(set(event_types) - set(available))
    if unknown:
        raise WebhookError(
            WEBHOOK_EVENT_TYPE_UNKNOWN, details={"unknown": unknown, "available": available}
        )
    return sorted(set(event_types))


def _endpoint(organization: Organization, endpoint_id: int) -> WebhookEndpoint:
    endpoint = selectors.endpoint_get(organization=organization, endpoint_id=endpoint_id)
    if endpoint is None:
        raise NotFound()
    return endpoint


@transaction.atomic
def endpoint_create(
    *,
    organization: Organization,
    actor: User | None,
    url: str,
    event_types: list[str],
    description: str = "",
    enabled: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint and its first secret; the secret is returned here only."""
    transport.resolve_allowed(url)
    endpoint = WebhookEndpoint.objects.create(
        organization=organization,
        url=url,
        event_types=_check_event_types(event_types),
        description=description,
        enabled=enabled,
    )
    secret = _new_secret()
    WebhookSecret.objects.create(organization=organization, endpoint=endpoint, secret=secret)
    audit_record(
        organization=organization,
        actor=actor,
        action="webhooks.endpoint.created",
        obj=endpoint,
        details={"url": url, "event_types": endpoint.event_types},
    )
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *, organization: Organization, actor: User | None, endpoint_id: int, **fields: Any
) -> WebhookEndpoint:
    """Change ``url``, ``event_types``, ``description`` or ``enabled`` (those given)."""
    endpoint = _endpoint(organization, endpoint_id)
    if "url" in fields:
        transport.resolve_allowed(fields["url"])
    if "event_types" in fields:
        fields["event_types"] = _check_event_types(fields["event_types"])
    for name in ("url", "event_types", "description", "enabled"):
        if name in fields:
            setattr(endpoint, name, fields[name])
    endpoint.updated_at = timezone.now()
    endpoint.save()
    audit_record(
        organization=organization,
        actor=actor,
        action="webhooks.endpoint.updated",
        obj=endpoint,
        details={k: v for k, v in fields.items() if k in ("url", "event_types", "enabled")},
    )
    return endpoint


@transaction.atomic
def endpoint_delete(*, organization: Organization, actor: User | None, endpoint_id: int) -> None:
    """Delete an endpoint with its secrets and delivery log."""
    endpoint = _endpoint(organization, endpoint_id)
    audit_record(
        organization=organization, actor=actor, action="webhooks.endpoint.deleted", obj=endpoint
    )
    endpoint.delete()


@transaction.atomic
def endpoint_rotate_secret(
    *,
    organization: Organization,
    actor: User | None,
    endpoint_id: int,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    """A new current secret; the previous ones keep signing for ``WEBHOOKS_SECRET_OVERLAP``
    seconds (messages carry one signature per valid secret). Returns the secret and when the
    old ones stop signing."""
    now = now or timezone.now()
    endpoint = _endpoint(organization, endpoint_id)
    until = now + timedelta(seconds=settings.WEBHOOKS_SECRET_OVERLAP)
    # A secret already expiring keeps its own, earlier end.
    WebhookSecret.objects.filter(
        organization=organization, endpoint=endpoint, expires_at__isnull=True
    ).update(expires_at=until)
    WebhookSecret.objects.filter(
        organization=organization, endpoint=endpoint, expires_at__lte=now
    ).delete()
    secret = _new_secret()
    WebhookSecret.objects.create(organization=organization, endpoint=endpoint, secret=secret)
    audit_record(
        organization=organization, actor=actor, action="webhooks.secret.rotated", obj=endpoint
    )
    return secret, until


def deliveries_enqueue(organization_id: int, event: Event) -> None:
    """The event sink (kernel.events.publish): fan ``event`` out to the organization's
    endpoints in a task, after commit. The task runs in system context because the publisher
    may be acting for another organization (a payment is published to its payee too)."""
    from webhooks.tasks import webhook_event_fan_out

    payload = {"type": event["type"], "timestamp": event.get("at"), "data": event["data"]}
    transaction.on_commit(lambda: webhook_event_fan_out.delay(organization_id, payload))


def deliveries_fan_out(
    *, organization_id: int, payload: dict[str, Any], now: datetime | None = None
) -> list[int]:
    """One pending delivery per endpoint subscribed to the payload's type; returns their ids."""
    now = now or timezone.now()
    payload = {**payload, "timestamp": payload.get("timestamp") or now.isoformat()}
    endpoints = selectors.endpoints_subscribed(
        organization_id=organization_id, event_type=payload["type"]
    )
    with transaction.atomic():
        deliveries = [
            WebhookDelivery.objects.create(
                organization_id=organization_id,
                endpoint=endpoint,
                message_id="msg_" + secrets.token_hex(16),
                event_type=payload["type"],
                payload=payload,
                next_attempt_at=now,
            )
            for endpoint in endpoints
        ]
    return [d.pk for d in deliveries]


def _claim(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """Take a due delivery for one attempt: its ``next_attempt_at`` moves past the request's
    timeout, so the periodic scan does not send it twice meanwhile, and a worker that dies
    mid-request leaves it to be retried after that lease."""
    lease = timedelta(seconds=settings.WEBHOOKS_TIMEOUT + 60)
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("endpoint")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None
        delivery.next_attempt_at = now + lease
        delivery.save(update_fields=["next_attempt_at"])
        return delivery


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery | None:
    """Send a due delivery once and record the attempt; then ``succeeded``, the next retry, or
    ``failed`` after the last one. Idempotent: a delivery not due (or ended) is left alone."""
    now = now or timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    signing_secrets = selectors.secrets_valid(endpoint=endpoint, now=now)
    if not endpoint.enabled:
        result = transport.AttemptResult(None, 0, "The endpoint is disabled.")
    else:
        headers = {
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": transport.sign(
                secrets=signing_secrets, message_id=delivery.message_id, timestamp=now, body=body
            ),
        }
        result = transport.post(
            url=endpoint.url, headers=headers, body=body, timeout=settings.WEBHOOKS_TIMEOUT
        )
    with transaction.atomic():
        WebhookAttempt.objects.create(
            organization_id=delivery.organization_id,
            delivery=delivery,
            attempted_at=now,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            error=result.error,
        )
        delivery.attempt_count += 1
        if result.succeeded:
            delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.SUCCEEDED, None
        elif delivery.attempt_count > len(RETRY_SCHEDULE):
            delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
        else:
            delivery.next_attempt_at = now + RETRY_SCHEDULE[delivery.attempt_count - 1]
        delivery.save(update_fields=["attempt_count", "status", "next_attempt_at"])
    return delivery


@transaction.atomic
def delivery_redeliver(
    *, organization: Organization, actor: User | None, delivery_id: int
) -> WebhookDelivery:
    """Send a delivery again now, whatever its status: one more attempt with the same
    ``webhook-id``. A failed delivery that fails again stays ``failed`` (no new schedule)."""
    from webhooks.tasks import webhook_deliver

    delivery = selectors.delivery_get(organization=organization, delivery_id=delivery_id)
    if delivery is None:
        raise NotFound()
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.attempt_count = min(delivery.attempt_count, len(RETRY_SCHEDULE))
    delivery.save(update_fields=["status", "next_attempt_at", "attempt_count"])
    audit_record(
        organization=organization,
        actor=actor,
        action="webhooks.delivery.redelivered",
        obj=delivery,
    )
    transaction.on_commit(lambda: webhook_deliver.delay(delivery.pk))
    return delivery
