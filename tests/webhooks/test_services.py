"""Delivering: retries on a schedule spanning more than 24 hours (computed, never slept),
the attempt log, secret rotation's overlap, and the periodic scan of due retries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.conftest import World
from tests.webhooks.receiver_support import Receiver
from webhooks import selectors, services, tasks
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

PAYLOAD = {"type": "payment.updated", "timestamp": "2026-12-06T00:00:00+00:00", "data": {}}


def endpoint_at(world: World, url: str) -> tuple[WebhookEndpoint, str]:
    return services.endpoint_create(
        organization=world.acme, actor=world.alice, url=url, event_types=["payment.updated"]
    )


def one_delivery(world: World) -> WebhookDelivery:
    [delivery_id] = services.deliveries_fan_out(organization_id=world.acme.pk, payload=PAYLOAD)
    return WebhookDelivery.objects.get(pk=delivery_id)


def test_the_retry_schedule_spans_more_than_a_day() -> None:
    assert sum(services.RETRY_SCHEDULE, timedelta()) > timedelta(hours=24)
    assert list(services.RETRY_SCHEDULE) == sorted(services.RETRY_SCHEDULE)


def test_a_failing_receiver_gets_retries_on_the_schedule_then_the_delivery_fails(
    world: World, hook: Receiver
) -> None:
    # given a receiver that answers 500
    hook.status = 500
    endpoint_at(world, hook.url)
    delivery = one_delivery(world)
    now = delivery.next_attempt_at
    assert now is not None
    # when every retry is attempted exactly when it falls due
    for attempt, delay in enumerate(services.RETRY_SCHEDULE, start=1):
        result = services.delivery_attempt(delivery_id=delivery.pk, now=now)
        assert result is not None
        # then the next one is due after the scheduled delay, and the attempt is logged
        assert (result.status, result.attempt_count) == ("pending", attempt)
        assert result.next_attempt_at == now + delay
        now = now + delay
    last = services.delivery_attempt(delivery_id=delivery.pk, now=now)
    assert last is not None
    assert (last.status, last.next_attempt_at) == ("failed", None)
    attempts = list(last.attempts.all())
    assert len(attempts) == len(services.RETRY_SCHEDULE) + 1 == len(hook.requests)
    assert {(a.status_code, a.error) for a in attempts} == {(500, "HTTP 500")}
    assert all(a.duration_ms >= 0 for a in attempts)


def test_an_attempt_before_it_is_due_sends_nothing(world: World, hook: Receiver) -> None:
    hook.status = 503
    endpoint_at(world, hook.url)
    delivery = one_delivery(world)
    first = services.delivery_attempt(delivery_id=delivery.pk)
    assert first is not None and first.next_attempt_at is not None
    early = first.next_attempt_at - timedelta(seconds=1)
    assert services.delivery_attempt(delivery_id=delivery.pk, now=early) is None
    assert len(hook.requests) == 1
    # and the periodic scan picks it up only once it is due
    assert selectors.deliveries_due(now=early) == []
    assert selectors.deliveries_due(now=first.next_attempt_at) == [delivery.pk]


def test_a_receiver_that_is_down_is_logged_without_a_status_code(world: World) -> None:
    endpoint_at(world, "http://127.0.0.1:9/closed")
    delivery = one_delivery(world)
    result = services.delivery_attempt(delivery_id=delivery.pk)
    assert result is not None and result.status == "pending"
    [attempt] = result.attempts.all()
    assert attempt.status_code is None
    assert attempt.error.startswith("ConnectError")


def test_the_periodic_scan_sends_due_retries(world: World, hook: Receiver) -> None:
    endpoint_at(world, hook.url)
    delivery = one_delivery(world)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=1)
    )
    assert tasks.webhook_deliveries_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    assert len(hook.requests) == 1


def test_a_rotated_secret_stops_signing_after_the_overlap(world: World, settings: Any) -> None:
    settings.WEBHOOKS_SECRET_OVERLAP = 24 * 3600
    endpoint, first = endpoint_at(world, "http://127.0.0.1:9/")
    now = timezone.now()
    second, until = services.endpoint_rotate_secret(
        organization=world.acme, actor=world.alice, endpoint_id=endpoint.pk, now=now
    )
    assert until == now + timedelta(hours=24)
    assert selectors.secrets_valid(endpoint=endpoint, now=now) == [second, first]
    assert selectors.secrets_valid(endpoint=endpoint, now=until - timedelta(seconds=1)) == [
        second,
        first,
    ]
    assert selectors.secrets_valid(endpoint=endpoint, now=until) == [second]


def test_a_second_rotation_keeps_the_first_secret_s_earlier_end(world: World) -> None:
    endpoint, first = endpoint_at(world, "http://127.0.0.1:9/")
    now = timezone.now()
    second, first_until = services.endpoint_rotate_secret(
        organization=world.acme, actor=world.alice, endpoint_id=endpoint.pk, now=now
    )
    later = now + timedelta(hours=12)
    third, _ = services.endpoint_rotate_secret(
        organization=world.acme, actor=world.alice, endpoint_id=endpoint.pk, now=later
    )
    assert selectors.secrets_valid(endpoint=endpoint, now=later) == [third, first, second]
    assert selectors.secrets_valid(endpoint=endpoint, now=first_until) == [third, second]


def test_a_disabled_endpoint_gets_no_new_deliveries(world: World) -> None:
    endpoint, _ = endpoint_at(world, "http://127.0.0.1:9/")
    services.endpoint_update(
        organization=world.acme, actor=world.alice, endpoint_id=endpoint.pk, enabled=False
    )
    assert services.deliveries_fan_out(organization_id=world.acme.pk, payload=PAYLOAD) == []
