"""Reads of the webhooks app. Every selector over tenant rows takes the organization."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from kernel.events import EVENT_AUDIENCE
from tenants.models import Organization
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookSecret


def event_types_available() -> list[str]:
    """The event kinds an endpoint may subscribe to: those every member may read."""
    return sorted(kind for kind, audience in EVENT_AUDIENCE.items() if audience == "members")


def endpoint_list(*, organization: Organization) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(organization=organization)


def endpoint_get(*, organization: Organization, endpoint_id: int) -> WebhookEndpoint | None:
    return endpoint_list(organization=organization).filter(pk=endpoint_id).first()


def endpoints_subscribed(*, organization_id: int, event_type: str) -> list[WebhookEndpoint]:
    """The organization's enabled endpoints that subscribed to ``event_type`` (filtered here:
    SQLite has no JSON containment lookup, and an organization has few endpoints)."""
    endpoints = WebhookEndpoint.objects.filter(organization_id=organization_id, enabled=True)
    return [e for e in endpoints if event_type in e.event_types]


def secrets_valid(*, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a message sent at ``now``: the current one first, then rotated
    ones still inside their overlap."""
    rows = WebhookSecret.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now),
        organization_id=endpoint.organization_id,
        endpoint=endpoint,
    ).order_by("expires_at", "-id")
    current = [r.secret for r in rows if r.expires_at is None]
    overlapping = [r.secret for r in rows if r.expires_at is not None]
    return current + overlapping


def delivery_list(*, organization: Organization, endpoint_id: int) -> QuerySet[WebhookDelivery]:
    return (
        WebhookDelivery.objects.filter(organization=organization, endpoint_id=endpoint_id)
        .prefetch_related("attempts")
        .order_by("-id")
    )


def delivery_get(*, organization: Organization, delivery_id: int) -> WebhookDelivery | None:
    return (
        WebhookDelivery.objects.filter(organization=organization, pk=delivery_id)
        .prefetch_related("attempts")
        .first()
    )


def deliveries_due(*, now: datetime, limit: int = 500) -> list[int]:
    """Ids of pending deliveries whose next attempt is due (every organization: the worker's
    periodic scan, in system context)."""
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
