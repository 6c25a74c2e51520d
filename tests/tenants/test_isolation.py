"""mallory (globex) never reaches acme's objects, on every organization-scoped URL.

The URL patterns are walked from the URL configuration, so new endpoints are covered
automatically. Every URL parameter is filled with the id of a REAL acme object of the model the
view looks up (``PARAMETERS``); a route with a parameter missing from that map fails the walk, so
a new route cannot slip through with a made-up id. Each route is requested with every method it
allows:

- alice (owner of acme) on the same path never gets 404, and gets 200 for GET: the ids are real,
  so a 404 for mallory comes from the organization filter and not from a missing row;
- mallory under acme's slug gets 404: she is not a member, and the portal does not even confirm
  that the organization exists;
- mallory under globex's slug, as globex's owner so that no role check hides a missing filter,
  gets 404 for acme's tenant rows, and exactly what alice gets for alliance-wide rows (mirrored
  blocks and transactions, which every member of the alliance may read).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Model
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from biometrics.models import (
    Consent,
    Enrollment,
    IdentificationAttempt,
    Subject,
    VerificationAttempt,
)
from ledger.models import LedgerOutbox, MirrorBlock, MirrorTransaction
from payments.models import Account, Hold, Payment
from tenants.models import ApiToken, AuditEvent, Invitation, Membership
from tenants.roles import Role
from tests.biometrics.factories import biometrics_objects
from tests.conftest import PASSWORD, World, token_for
from tests.ledger.factories import ledger_objects
from tests.payments.factories import payments_objects
from tests.tenants.factories import tenants_objects
from tests.webhooks.factories import webhooks_objects
from webhooks.models import WebhookDelivery, WebhookEndpoint

METHODS = ("get", "post", "put", "patch", "delete")

#: (URL name, URL parameter) -> (model of the object the view looks up, attribute in the URL).
PARAMETERS: dict[tuple[str, str], tuple[type[Model], str]] = {
    # tenants, UI
    ("member_role", "pk"): (Membership, "pk"),
    ("member_remove", "pk"): (Membership, "pk"),
    ("invitation_revoke", "pk"): (Invitation, "pk"),
    ("invitation_resend", "pk"): (Invitation, "pk"),
    ("token_revoke", "pk"): (ApiToken, "pk"),
    # tenants, API
    ("member-detail", "pk"): (Membership, "pk"),
    ("invitation-detail", "pk"): (Invitation, "pk"),
    ("invitation-revoke", "pk"): (Invitation, "pk"),
    ("invitation-resend", "pk"): (Invitation, "pk"),
    ("token-detail", "pk"): (ApiToken, "pk"),
    ("audit-event-detail", "pk"): (AuditEvent, "pk"),
    # biometrics, UI
    ("biometrics_subject", "pk"): (Subject, "pk"),
    ("biometrics_subject_erase", "pk"): (Subject, "pk"),
    ("biometrics_consent_revoke", "pk"): (Subject, "pk"),
    ("biometrics_consent_revoke", "cid"): (Consent, "pk"),
    ("biometrics_enroll", "pk"): (Subject, "pk"),
    ("biometrics_verify", "pk"): (Subject, "pk"),
    ("biometrics_enrollment", "pk"): (Enrollment, "pk"),
    ("biometrics_verification", "pk"): (VerificationAttempt, "pk"),
    ("biometrics_identification", "pk"): (IdentificationAttempt, "pk"),
    # biometrics, API
    ("biometrics-subject-detail", "pk"): (Subject, "pk"),
    ("biometrics-api-consents", "pk"): (Subject, "pk"),
    ("biometrics-api-consent-revoke", "pk"): (Subject, "pk"),
    ("biometrics-api-consent-revoke", "cid"): (Consent, "pk"),
    ("biometrics-api-enrollments", "pk"): (Subject, "pk"),
    ("biometrics-api-verify", "pk"): (Subject, "pk"),
    ("biometrics-api-enrollment", "pk"): (Enrollment, "pk"),
    ("biometrics-api-verification", "pk"): (VerificationAttempt, "pk"),
    ("biometrics-api-identification", "pk"): (IdentificationAttempt, "pk"),
    # ledger
    ("ledger-outbox-detail", "pk"): (LedgerOutbox, "pk"),
    ("ledger-api-outbox-approvals", "pk"): (LedgerOutbox, "pk"),
    ("ledger_block", "height"): (MirrorBlock, "height"),
    ("ledger_tx", "tx_hash"): (MirrorTransaction, "hash"),
    ("ledger-api-tx-receipt", "tx_hash"): (MirrorTransaction, "hash"),
    # payments
    ("payments-payment-detail", "pk"): (Payment, "pk"),
    ("payments-api-payment-approve", "pk"): (Payment, "pk"),
    ("payments-api-payment-cancel", "pk"): (Payment, "pk"),
    ("payments-api-payment-receipt", "pk"): (Payment, "pk"),
    ("payments-api-account-statement", "account_id"): (Account, "ledger_account_id"),
    ("payments-hold-detail", "pk"): (Hold, "pk"),
    ("payments-api-hold-capture", "pk"): (Hold, "pk"),
    ("payments-api-hold-void", "pk"): (Hold, "pk"),
    # webhooks
    ("webhooks-endpoint-detail", "pk"): (WebhookEndpoint, "pk"),
    ("webhooks-api-endpoint-rotate-secret", "pk"): (WebhookEndpoint, "pk"),
    ("webhooks-api-endpoint-deliveries", "pk"): (WebhookEndpoint, "pk"),
    ("webhooks-api-delivery-redeliver", "pk"): (WebhookDelivery, "pk"),
}

#: Rows every member of the alliance may read, whatever organization they act for.
ALLIANCE_WIDE: frozenset[type[Model]] = frozenset({MirrorBlock, MirrorTransaction})

#: Routes over alliance-wide rows that only the row's own organization may use: a receipt is
#: served to the transaction's sender alone.
OWN_ONLY: frozenset[str] = frozenset({"ledger-api-tx-receipt"})

#: What the owner's GET answers where the factory's rows cannot give a full 200: the walk's
#: mirrored block is not a real block and no chain is pinned, so a receipt is refused with 409
#: ``no_chain`` -- after the lookup found the transaction, which is what the control proves.
#: The walk's payment waits for approval, so its receipt is refused with 409 ``not_settled``, also
#: after the scoped lookup found it.
OWNER_GET_STATUS: dict[str, int] = {
    "ledger-api-tx-receipt": 409,
    "payments-api-payment-receipt": 409,
}

#: Valid bodies for writes whose view validates its input before it looks the object up: without
#: them the answer would be 400 whether or not the lookup is scoped to the organization.
BODIES: dict[str, dict[str, Any]] = {
    "ledger-api-outbox-approvals": {"org_id": "acme", "signature": "5a" * 64},
}

#: Uploads are multipart: in JSON the answer would be 415 before the view looks anything up.
MULTIPART = frozenset(
    {"biometrics-api-enrollments", "biometrics-api-verify", "biometrics-api-identify"}
)

_PARAMETER = re.compile(r"<(?:\w+:)?(?P<a>\w+)>|\(\?P<(?P<b>\w+)>[^)]*\)")


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str  # the joined route, e.g. "api/v1/^orgs/(?P<org>[-a-zA-Z0-9_]+)/members/$"

    @property
    def parameters(self) -> list[str]:
        names = [m.group("a") or m.group("b") for m in _PARAMETER.finditer(self.pattern)]
        return [n for n in names if n != "org"]

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("api/")

    def path(self, org: str, values: dict[str, str]) -> str:
        def fill(match: re.Match[str]) -> str:
            name = match.group("a") or match.group("b")
            return org if name == "org" else values[name]

        path = _PARAMETER.sub(fill, self.pattern)
        # Drop the regex anchors of DRF router patterns.
        return "/" + re.sub(r"(^|/)\^", r"\1", path).replace("$", "")

    def __str__(self) -> str:
        return self.name


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def org_routes() -> list[Route]:
    """Every organization-scoped route (an ``org`` parameter), without the format variants."""
    routes = {
        Route(name=str(entry.name), pattern=route)
        for route, entry in _walk(get_resolver().url_patterns)
        if ("<slug:org>" in route or "(?P<org>" in route) and "(?P<format>" not in route
    }
    return sorted(routes, key=lambda r: r.pattern)


def as_owner_of_globex(world: World) -> None:
    Membership.objects.filter(user=world.mallory, organization=world.globex).update(role=Role.OWNER)


@pytest.fixture
def acme_objects(world: World) -> dict[type[Model], Model]:
    return {
        **tenants_objects(organization=world.acme, owner=world.alice, member=world.bob),
        **biometrics_objects(organization=world.acme, owner=world.alice),
        **ledger_objects(organization=world.acme),
        **payments_objects(organization=world.acme, member=world.bob),
        **webhooks_objects(organization=world.acme, owner=world.alice),
    }


def url_values(route: Route, objects: dict[type[Model], Model]) -> dict[str, str]:
    values = {}
    for parameter in route.parameters:
        if (route.name, parameter) not in PARAMETERS:
            pytest.fail(
                f"route {route.name!r} ({route.pattern}) takes {parameter!r}, which the walk "
                "cannot fill: add the model it names to PARAMETERS and a row of it to the app's "
                "factory (tests/<app>/factories.py)"
            )
        model, attribute = PARAMETERS[(route.name, parameter)]
        values[parameter] = str(getattr(objects[model], attribute))
    return values


def request(
    client: Client, method: str, path: str, body: dict[str, Any], route: Route
) -> HttpResponse:
    """One request whose writes are rolled back, so every request meets the same rows."""
    with transaction.atomic():
        if isinstance(client, APIClient):
            kind = "multipart" if route.name in MULTIPART else "json"
            response = getattr(client, method)(path, body, format=kind)
        else:
            response = getattr(client, method)(path, body)
        transaction.set_rollback(True)
    return response


class Clients:
    """Each user's ways in: a browser session for the UI; for the API, a bearer token of the
    user's own organization and the browser session (both authenticate API requests)."""

    def __init__(self, world: World) -> None:
        self.ui: dict[str, list[Client]] = {}
        self.api: dict[str, list[Client]] = {}
        for user, org in ((world.alice, world.acme), (world.mallory, world.globex)):
            ui, api_session, api_token = Client(), APIClient(), APIClient()
            assert ui.login(username=user.username, password=PASSWORD)
            assert api_session.login(username=user.username, password=PASSWORD)
            api_token.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user, org)}")
            self.ui[user.username] = [ui]
            self.api[user.username] = [api_token, api_session]

    def of(self, username: str, route: Route) -> list[Client]:
        return self.api[username] if route.is_api else self.ui[username]


def assert_not_found(response: HttpResponse, route: Route, what: str) -> None:
    assert response.status_code == 404, (what, response.status_code, response.content[:300])
    if route.is_api:
        assert response.json()["error"]["code"] == "not_found", (what, response.content[:300])


def test_the_walk_finds_the_organization_scoped_routes() -> None:
    names = {route.name for route in org_routes()}
    # UI and API, and object routes of every app.
    assert {"members", "member-list", "biometrics_subject", "ledger-outbox-detail"} <= names
    assert len(names) >= 50


def test_the_walk_fails_on_a_route_it_cannot_fill() -> None:
    route = Route(name="widget-detail", pattern="api/v1/orgs/<slug:org>/widgets/<int:pk>/")
    with pytest.raises(pytest.fail.Exception, match="widget-detail"):
        url_values(route, {})


@pytest.mark.parametrize("route", org_routes(), ids=str)
def test_mallory_never_reaches_acme_objects_through_any_route(
    world: World, acme_objects: dict[type[Model], Model], route: Route
) -> None:
    # given real acme ids for every parameter of the route, and mallory as owner of globex
    values = url_values(route, acme_objects)
    body = BODIES.get(route.name, {})
    acme_path, globex_path = route.path("acme", values), route.path("globex", values)
    models = [PARAMETERS[(route.name, parameter)][0] for parameter in route.parameters]
    alliance_wide = (
        bool(models)
        and all(model in ALLIANCE_WIDE for model in models)
        and route.name not in OWN_ONLY
    )
    as_owner_of_globex(world)
    clients = Clients(world)
    alices, malloris = clients.of("alice", route), clients.of("mallory", route)
    allowed = []
    for method in METHODS:
        # when alice (owner of acme) asks for acme's objects: the positive control
        owners = [request(alice, method, acme_path, body, route) for alice in alices]
        if {owner.status_code for owner in owners} == {405}:
            continue
        allowed.append(method)
        for owner in owners:
            assert owner.status_code != 404, (method, acme_path, owner.content[:300])
            if method == "get":
                expected = OWNER_GET_STATUS.get(route.name, 200)
                assert owner.status_code == expected, (method, acme_path, owner.status_code)
        for mallory in malloris:
            # then mallory gets 404 under acme's slug: she is not a member
            outsider = request(mallory, method, acme_path, body, route)
            assert_not_found(outsider, route, f"{method} {acme_path}")
            if not route.parameters:
                continue  # under globex's slug, an org-level route shows globex's own data
            # and under globex's slug, acme's rows do not exist (alliance-wide rows are shared)
            foreign = request(mallory, method, globex_path, body, route)
            if alliance_wide:
                assert foreign.status_code == owners[0].status_code, (method, globex_path)
            else:
                assert_not_found(foreign, route, f"{method} {globex_path}")
    assert allowed, f"alice got 405 for every method of {route.pattern}"


def test_mallory_lists_only_globex_members(world: World) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(world.mallory, world.globex)}")
    response = api.get("/api/v1/orgs/globex/members/")
    assert response.status_code == 200
    assert [m["username"] for m in response.json()["results"]] == ["mallory"]
