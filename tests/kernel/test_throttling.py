"""Anonymous throttling keys on the socket's address, whatever X-Forwarded-For says."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from kernel.throttling import AnonRateThrottle


def test_anonymous_clients_cannot_pick_their_address_with_a_header() -> None:
    request = Request(
        APIRequestFactory().get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    )
    assert AnonRateThrottle().get_ident(request) == "203.0.113.9"
