"""API tokens: expiry in the future, a cap per member, honest counts, no caching of secrets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tenants import selectors, services
from tenants.errors import InvalidField
from tenants.models import ApiToken, Membership
from tests.conftest import api_as
from tests.tenants.api_support import assert_error


def test_the_ui_refuses_a_token_that_has_already_expired(world) -> None:
    client = Client()
    client.force_login(world.bob)
    response = client.post("/o/acme/tokens/", {"name": "stale", "expires_at": "2001-01-01 00:00"})
    assert response.status_code == 200
    assert b"The expiry must be in the future." in response.content
    assert b'id="new-token"' not in response.content
    assert not ApiToken.objects.filter(name="stale").exists()


def test_the_service_refuses_a_past_expiry_as_a_validation_error(world) -> None:
    membership = Membership.objects.get(user=world.bob, organization=world.acme)
    with pytest.raises(InvalidField) as refused:
        services.token_create(
            membership=membership, name="x", expires_at=timezone.now() - timedelta(seconds=1)
        )
    assert refused.value.code == "validation_error"
    assert refused.value.details == {
        "fields": {"expires_at": ["The expiry must be in the future."]}
    }
    assert not ApiToken.objects.filter(name="x").exists()


def test_the_api_refuses_a_past_expiry(world) -> None:
    response = api_as(world.bob, world.acme).post(
        "/api/v1/orgs/acme/tokens/",
        {"name": "stale", "expires_at": "2001-01-01T00:00:00Z"},
        format="json",
    )
    assert_error(response, 400, "validation_error")
    assert "expires_at" in response.json()["error"]["details"]["fields"]


def test_active_tokens_leave_out_expired_and_revoked_ones(world) -> None:
    membership = Membership.objects.get(user=world.bob, organization=world.acme)
    services.token_create(membership=membership, name="live")
    expired, _ = services.token_create(membership=membership, name="expired")
    revoked, _ = services.token_create(membership=membership, name="revoked")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    services.token_revoke(api_token=revoked, actor=world.bob)
    assert selectors.organization_figures(organization=world.acme)["active_tokens"] == 1


def test_a_member_holds_at_most_the_configured_number_of_tokens(world, settings) -> None:
    settings.API_TOKENS_PER_MEMBER = 3
    bob = api_as(world.bob, world.acme)  # the client's own token is the first
    for name in ("two", "three"):
        assert (
            bob.post("/api/v1/orgs/acme/tokens/", {"name": name}, format="json").status_code == 201
        )
    response = bob.post("/api/v1/orgs/acme/tokens/", {"name": "four"}, format="json")
    assert_error(response, 409, "token_limit")
    assert response.json()["error"]["details"] == {"limit": 3}
    # a revoked or expired token frees its place; other members have their own allowance
    ApiToken.objects.filter(name="two").update(expires_at=timezone.now() - timedelta(hours=1))
    assert bob.post("/api/v1/orgs/acme/tokens/", {"name": "four"}, format="json").status_code == 201
    assert api_as(world.alice, world.acme).get("/api/v1/orgs/acme/").status_code == 200


def test_the_ui_explains_the_token_limit(world, settings) -> None:
    settings.API_TOKENS_PER_MEMBER = 1
    client = Client()
    client.force_login(world.bob)
    assert b'id="new-token"' in client.post("/o/acme/tokens/", {"name": "one"}).content
    refused = client.post("/o/acme/tokens/", {"name": "two"})
    assert b'id="new-token"' not in refused.content
    assert b"revoke one first" in refused.content


def test_responses_with_a_token_secret_are_never_cached(world) -> None:
    client = Client()
    client.force_login(world.bob)
    page = client.post("/o/acme/tokens/", {"name": "laptop"})
    assert "no-store" in page["Cache-Control"]
    created = api_as(world.bob, world.acme).post(
        "/api/v1/orgs/acme/tokens/", {"name": "ci"}, format="json"
    )
    assert created.status_code == 201
    assert "no-store" in created["Cache-Control"]
