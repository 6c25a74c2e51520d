"""The tenants REST API: behaviour, roles, error shape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from tenants import tokens as token_secrets
from tenants.models import ApiToken, AuditEvent, Invitation, Membership
from tenants.roles import Role
from tests.conftest import PASSWORD, api_as, token_for
from tests.tenants.api_support import assert_error


def test_my_organizations_lists_each_membership_with_its_role(world) -> None:
    Membership.objects.create(user=world.alice, organization=world.initech, role=Role.VIEWER)
    client = APIClient()
    assert client.login(username="alice", password=PASSWORD)
    body = client.get("/api/v1/orgs/").json()
    assert [(o["slug"], o["role"]) for o in body["results"]] == [
        ("acme", "owner"),
        ("initech", "viewer"),
    ]


def test_a_token_sees_only_its_own_organization(world) -> None:
    Membership.objects.create(user=world.alice, organization=world.initech, role=Role.VIEWER)
    body = api_as(world.alice, world.acme).get("/api/v1/orgs/").json()
    assert [o["slug"] for o in body["results"]] == ["acme"]
    assert_error(api_as(world.alice, world.acme).get("/api/v1/orgs/initech/"), 404, "not_found")


def test_unauthenticated_requests_get_the_error_shape(world) -> None:
    assert_error(APIClient().get("/api/v1/orgs/acme/"), 401, "not_authenticated")


def test_unknown_api_path_is_a_json_404(world) -> None:
    assert_error(api_as(world.alice, world.acme).get("/api/v1/nothing/here/"), 404, "not_found")


def test_validation_errors_name_the_fields(world) -> None:
    response = api_as(world.alice, world.acme).post(
        "/api/v1/orgs/acme/invitations/", {"email": "not-an-email"}, format="json"
    )
    assert_error(response, 400, "validation_error")
    assert "email" in response.json()["error"]["details"]["fields"]


def test_a_member_cannot_change_roles_but_an_owner_can(world) -> None:
    bob_membership = Membership.objects.get(user=world.bob)
    url = f"/api/v1/orgs/acme/members/{bob_membership.pk}/"
    assert_error(
        api_as(world.bob, world.acme).patch(url, {"role": "admin"}, format="json"),
        403,
        "permission_denied",
    )
    response = api_as(world.alice, world.acme).patch(url, {"role": "operator"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "operator"
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.details == {"from": "member", "to": "operator"}
    assert event.actor == world.alice
    assert event.ip_address == "127.0.0.1"


def test_the_last_owner_cannot_be_demoted_or_removed(world) -> None:
    alice_membership = Membership.objects.get(user=world.alice)
    url = f"/api/v1/orgs/acme/members/{alice_membership.pk}/"
    client = api_as(world.alice, world.acme)
    assert_error(client.patch(url, {"role": "admin"}, format="json"), 409, "last_owner")
    assert_error(client.delete(url), 409, "last_owner")
    alice_membership.refresh_from_db()
    assert alice_membership.role == Role.OWNER


def test_a_second_owner_allows_the_first_to_step_down(world) -> None:
    bob_membership = Membership.objects.get(user=world.bob)
    client = api_as(world.alice, world.acme)
    client.patch(
        f"/api/v1/orgs/acme/members/{bob_membership.pk}/", {"role": "owner"}, format="json"
    )
    alice_membership = Membership.objects.get(user=world.alice)
    response = client.patch(
        f"/api/v1/orgs/acme/members/{alice_membership.pk}/", {"role": "admin"}, format="json"
    )
    assert response.status_code == 200
    assert Membership.objects.filter(organization=world.acme, role=Role.OWNER).count() == 1


def test_an_admin_cannot_make_owners(world) -> None:
    Membership.objects.filter(user=world.bob).update(role=Role.ADMIN)
    response = api_as(world.bob, world.acme).post(
        "/api/v1/orgs/acme/invitations/", {"email": "x@example.com", "role": "owner"}, format="json"
    )
    assert_error(response, 403, "role_not_grantable")
    assert not Invitation.objects.exists()


def test_tokens_are_hashed_at_rest_shown_once_and_revocable(world) -> None:
    client = api_as(world.bob, world.acme)
    created = client.post("/api/v1/orgs/acme/tokens/", {"name": "phone"}, format="json").json()
    secret = created["token"]
    row = ApiToken.objects.get(pk=created["id"])
    assert secret not in (row.digest, row.prefix)
    assert row.digest == token_secrets.digest(secret)
    listed = client.get("/api/v1/orgs/acme/tokens/").json()["results"]
    assert all("token" not in t for t in listed)

    phone = APIClient()
    phone.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert phone.get("/api/v1/orgs/acme/").status_code == 200
    assert client.delete(f"/api/v1/orgs/acme/tokens/{row.pk}/").json()["state"] == "revoked"
    assert_error(phone.get("/api/v1/orgs/acme/"), 401, "token_revoked")


def test_an_expired_token_is_refused(world) -> None:
    secret = token_for(world.bob, world.acme)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert_error(client.get("/api/v1/orgs/acme/"), 401, "token_expired")


def test_a_forged_token_is_refused(world) -> None:
    secret = token_for(world.bob, world.acme)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret[:-2]}xx")
    assert_error(client.get("/api/v1/orgs/acme/"), 401, "invalid_token")


def test_a_token_carries_the_current_role_of_its_membership(world) -> None:
    client = api_as(world.bob, world.acme)
    assert_error(client.get("/api/v1/orgs/acme/audit-events/"), 403, "permission_denied")
    Membership.objects.filter(user=world.bob).update(role=Role.ADMIN)
    assert client.get("/api/v1/orgs/acme/audit-events/").status_code == 200


def test_removing_a_member_kills_their_tokens(world) -> None:
    bob = api_as(world.bob, world.acme)
    membership = Membership.objects.get(user=world.bob)
    assert (
        api_as(world.alice, world.acme)
        .delete(f"/api/v1/orgs/acme/members/{membership.pk}/")
        .status_code
        == 204
    )
    assert_error(bob.get("/api/v1/orgs/acme/"), 401, "invalid_token")


def test_suspension_blocks_members_but_not_platform_admins(world) -> None:
    alice = api_as(world.alice, world.acme)
    admin = APIClient()
    assert admin.login(username="admin", password=PASSWORD)
    assert admin.post("/api/v1/admin/orgs/acme/suspend/").json()["status"] == "suspended"
    assert_error(alice.get("/api/v1/orgs/acme/"), 403, "organization_suspended")
    assert admin.get("/api/v1/admin/orgs/acme/").status_code == 200
    assert admin.post("/api/v1/admin/orgs/acme/resume/").json()["status"] == "active"
    assert alice.get("/api/v1/orgs/acme/").status_code == 200


def test_only_platform_admins_use_the_admin_api(world) -> None:
    assert_error(
        api_as(world.alice, world.acme).get("/api/v1/admin/orgs/"), 403, "permission_denied"
    )
    admin = APIClient()
    assert admin.login(username="admin", password=PASSWORD)
    created = admin.post(
        "/api/v1/admin/orgs/", {"slug": "hooli", "name": "Hooli", "owner": "bob"}, format="json"
    )
    assert created.status_code == 201
    assert Membership.objects.get(organization__slug="hooli").role == Role.OWNER
    assert_error(
        admin.post("/api/v1/admin/orgs/", {"slug": "hooli", "name": "Again"}, format="json"),
        409,
        "slug_taken",
    )


def test_invitations_email_a_link_that_works_once(
    world,
    client,
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(world.alice, world.acme).post(
            "/api/v1/orgs/acme/invitations/",
            {"email": "Carol@Example.com", "role": "operator"},
            format="json",
        )
    assert response.status_code == 201
    link = response.json()["accept_url"]
    assert len(mail.outbox) == 1 and link in mail.outbox[0].body
    path = link.split("testserver", 1)[1]
    accepted = client.post(
        path,
        {
            "username": "carol",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
        },
    )
    assert accepted.status_code == 302
    assert Membership.objects.get(user__username="carol").role == Role.OPERATOR
    client.logout()
    again = client.post(
        path,
        {
            "username": "carol2",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
        },
    )
    assert again.status_code == 410
    assert not Membership.objects.filter(user__username="carol2").exists()


def test_an_expired_invitation_is_refused(world, client) -> None:
    link = (
        api_as(world.alice, world.acme)
        .post("/api/v1/orgs/acme/invitations/", {"email": "dave@example.com"}, format="json")
        .json()["accept_url"]
    )
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.get(link.split("testserver", 1)[1])
    assert response.status_code == 410
    assert b"expired" in response.content


def test_a_tampered_invitation_link_is_refused(world, client) -> None:
    link = (
        api_as(world.alice, world.acme)
        .post("/api/v1/orgs/acme/invitations/", {"email": "erin@example.com"}, format="json")
        .json()["accept_url"]
    )
    assert client.get(link.split("testserver", 1)[1][:-3] + "xx/").status_code == 400


@pytest.mark.parametrize("path", ["/api/v1/orgs/acme/members/", "/api/v1/orgs/acme/tokens/"])
def test_token_throttling_answers_429_with_retry_after(world, settings, path) -> None:
    from kernel.throttling import TokenRateThrottle

    TokenRateThrottle.THROTTLE_RATES = {**TokenRateThrottle.THROTTLE_RATES, "token": "3/minute"}
    try:
        client = api_as(world.bob, world.acme)
        codes = [client.get(path).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        response = client.get(path)
        assert_error(response, 429, "throttled")
        assert response.json()["error"]["details"]["retry_after_seconds"] > 0
    finally:
        TokenRateThrottle.THROTTLE_RATES = {
            **TokenRateThrottle.THROTTLE_RATES,
            "token": settings.API_THROTTLE_TOKEN,
        }


def test_audit_list_is_filterable_and_paginated(world) -> None:
    client = api_as(world.alice, world.acme)
    for n in range(3):
        client.post("/api/v1/orgs/acme/invitations/", {"email": f"p{n}@example.com"}, format="json")
    body = client.get(
        "/api/v1/orgs/acme/audit-events/?action=invitation.created&page_size=2"
    ).json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert {e["action"] for e in body["results"]} == {"invitation.created"}


def test_a_registered_organization_gets_its_ledger_signing_key(world) -> None:
    from ledger.models import OrganizationKey

    admin = APIClient()
    assert admin.login(username="admin", password=PASSWORD)
    assert (
        admin.post(
            "/api/v1/admin/orgs/", {"slug": "umbrella", "name": "Umbrella"}, format="json"
        ).status_code
        == 201
    )
    key = OrganizationKey.objects.get(organization__slug="umbrella")
    assert key.status == OrganizationKey.Status.ACTIVE


def test_an_invitation_email_longer_than_the_column_is_a_validation_error(world) -> None:
    email = "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".example"
    assert len(email) > 254
    response = api_as(world.alice, world.acme).post(
        "/api/v1/orgs/acme/invitations/", {"email": email, "role": "member"}, format="json"
    )
    assert_error(response, 400, "validation_error")
    assert "email" in response.json()["error"]["details"]["fields"]
    assert not Invitation.objects.exists()


def test_a_contact_email_longer_than_the_column_is_a_validation_error(world) -> None:
    email = "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".example"
    response = api_as(world.alice, world.acme).patch(
        "/api/v1/orgs/acme/", {"contact_email": email}, format="json"
    )
    assert_error(response, 400, "validation_error")
    assert "contact_email" in response.json()["error"]["details"]["fields"]
