"""Which addresses a webhook may reach: checked when an endpoint is saved and again before every
attempt, on the address actually connected to (DNS rebinding)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.conftest import World
from tests.webhooks.receiver_support import Receiver
from webhooks import services, transport
from webhooks.errors import WebhookError
from webhooks.models import WebhookDelivery


def answers(*addresses: str) -> Any:
    """A stand-in for socket.getaddrinfo that answers ``addresses`` in turn, one per call."""
    queue = list(addresses)

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    return getaddrinfo


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.1.2.3/",
        "http://192.168.0.10:8080/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://224.0.0.1/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
    ],
)
def test_it_refuses_urls_that_resolve_to_non_public_addresses(url: str, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(WebhookError) as refused:
        transport.resolve_allowed(url)
    assert refused.value.code == "webhook_url_forbidden"


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http:///x"])
def test_it_refuses_other_schemes_and_missing_hosts(url: str) -> None:
    with pytest.raises(WebhookError):
        transport.resolve_allowed(url)


def test_a_name_with_one_private_answer_is_refused(settings: Any, monkeypatch: Any) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = False

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(WebhookError):
        transport.resolve_allowed("https://hooks.example/")


def test_a_public_answer_is_allowed(settings: Any, monkeypatch: Any) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    monkeypatch.setattr(socket, "getaddrinfo", answers("93.184.216.34"))
    assert str(transport.resolve_allowed("https://hooks.example/")) == "93.184.216.34"


@pytest.mark.django_db
def test_a_name_rebound_to_loopback_after_the_check_is_not_delivered(
    world: World, hook: Receiver, settings: Any, monkeypatch: Any
) -> None:
    # given an endpoint whose name resolved to a public address when it was saved
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    port = hook.url.split(":")[2].split("/")[0]
    monkeypatch.setattr(socket, "getaddrinfo", answers("93.184.216.34", "127.0.0.1"))
    services.endpoint_create(
        organization=world.acme,
        actor=world.alice,
        url=f"http://rebind.example:{port}/hooks",
        event_types=["payment.updated"],
    )
    [delivery_id] = services.deliveries_fan_out(
        organization_id=world.acme.pk,
        payload={"type": "payment.updated", "timestamp": None, "data": {}},
    )
    # when the name answers 127.0.0.1 at delivery time
    result = services.delivery_attempt(delivery_id=delivery_id)
    # then nothing reaches the local receiver and the attempt says why
    assert result is not None and result.status == WebhookDelivery.Status.PENDING
    assert hook.requests == []
    [attempt] = result.attempts.all()
    assert attempt.status_code is None
    assert "private" in attempt.error


@pytest.mark.django_db
def test_the_request_goes_to_the_checked_address_with_the_host_name(
    world: World, hook: Receiver, monkeypatch: Any
) -> None:
    port = hook.url.split(":")[2].split("/")[0]
    monkeypatch.setattr(socket, "getaddrinfo", answers("127.0.0.1"))
    result = transport.post(
        url=f"http://receiver.example:{port}/hooks", headers={}, body="{}", timeout=5
    )
    assert result.succeeded
    assert hook.requests[0].headers["Host"] == f"receiver.example:{port}"
