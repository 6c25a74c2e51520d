"""mallory (globex) never reaches acme's objects, on every organization-scoped URL.

The URL patterns are walked from the URL configuration, so new endpoints are covered
automatically: any pattern with an ``org`` parameter is requested with every method.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from tenants import services
from tenants.models import ApiToken, AuditEvent, Invitation, Membership
from tenants.roles import Role
from tests.conftest import PASSWORD, token_for

METHODS = ["get", "post", "patch", "put", "delete"]


def _walk(patterns, prefix: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    routes: list[str] = []
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            routes.extend(_walk(entry.url_patterns, route))
        elif isinstance(entry, URLPattern):
            routes.append(route)
    return routes


def org_routes() -> list[str]:
    routes = [r for r in _walk(get_resolver().url_patterns) if "<slug:org>" in r or "(?P<org>" in r]
    # Remove regex anchors and format suffix variants of DRF routers.
    return sorted(
        {
            re.sub(r"(^|/)\^", r"\1", r).replace("$", "")
            for r in routes
            if "format" not in r and "\\.(?P" not in r
        }
    )


def fill(route: str, *, org: str, ids: dict[str, int]) -> str:
    path = re.sub(r"\(\?P<org>[^)]*\)", org, route)
    path = re.sub(r"<(?:slug:)?org>", org, path)

    def value(match: re.Match[str]) -> str:
        name = match.group("name")
        return str(ids.get(name, ids["pk"]))

    path = re.sub(r"<(?:\w+:)?(?P<name>\w+)>", value, path)
    path = re.sub(r"\(\?P<(?P<name>\w+)>[^)]*\)", value, path)
    return "/" + path


@pytest.fixture
def acme_objects(world):  # type: ignore[no-untyped-def]
    membership = Membership.objects.get(user=world.bob, organization=world.acme)
    token_for(world.alice, world.acme)
    services.invitation_create(
        organization=world.acme,
        email="carol@acme.example",
        role=Role.MEMBER,
        actor=world.alice,
        actor_role=Role.OWNER,
    )
    return {
        "membership": membership.pk,
        "token": ApiToken.objects.filter(organization=world.acme).first().pk,
        "invitation": Invitation.objects.filter(organization=world.acme).first().pk,
        "audit": AuditEvent.objects.filter(organization=world.acme).first().pk,
    }


def test_the_walk_finds_the_organization_scoped_routes() -> None:
    routes = org_routes()
    assert any(r.startswith("o/") for r in routes), routes
    assert any("api/v1/orgs/" in r and "members" in r for r in routes), routes
    assert len(routes) >= 15


@pytest.mark.parametrize("route", org_routes())
def test_mallory_never_reaches_acme_through_any_route(world, acme_objects, route) -> None:  # type: ignore[no-untyped-def]
    """Given mallory (member of globex), when she requests acme's URL with acme's object ids,
    then every method answers 403/404/405 and never a success or redirect."""
    ui = Client()
    assert ui.login(username="mallory", password=PASSWORD)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(world.mallory, world.globex)}")
    for pk_name, pk in acme_objects.items():
        path = fill(route, org="acme", ids={"pk": pk, pk_name: pk})
        client = api if path.startswith("/api/") else ui
        for method in METHODS:
            response = getattr(client, method)(path)
            assert response.status_code in (403, 404, 405), (method, path, response.status_code)


@pytest.mark.parametrize("route", [r for r in org_routes() if "<pk>" in r or "(?P<pk>" in r])
def test_mallory_cannot_reach_acme_objects_through_her_own_organization(
    world, acme_objects, route
) -> None:  # type: ignore[no-untyped-def]
    """Given an acme object id, when mallory asks for it under globex, then it is not found."""
    api = APIClient()
    # mallory as admin of globex, so role checks do not hide a missing object filter.
    Membership.objects.filter(user=world.mallory).update(role=Role.OWNER)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(world.mallory, world.globex)}")
    ui = Client()
    assert ui.login(username="mallory", password=PASSWORD)
    for pk_name, pk in acme_objects.items():
        path = fill(route, org="globex", ids={"pk": pk, pk_name: pk})
        client = api if path.startswith("/api/") else ui
        for method in METHODS:
            response = getattr(client, method)(path)
            assert response.status_code in (403, 404, 405), (method, path, response.status_code)


def test_mallory_lists_only_globex_members(world) -> None:  # type: ignore[no-untyped-def]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(world.mallory, world.globex)}")
    response = api.get("/api/v1/orgs/globex/members/")
    assert response.status_code == 200
    assert [m["username"] for m in response.json()["results"]] == ["mallory"]
