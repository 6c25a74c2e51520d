"""Invitations: bound to the invited address, one open per address, the link shown once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from tenants import selectors, services
from tenants.errors import InvitationWrongUser
from tenants.models import Invitation, Membership
from tenants.roles import Role
from tests.conftest import api_as
from tests.tenants.api_support import assert_error

SIGNUP = {"password1": "a-long-passphrase-42", "password2": "a-long-passphrase-42"}


def invite(world, email: str, role: str = "member") -> tuple[int, str]:
    response = api_as(world.alice, world.acme).post(
        "/api/v1/orgs/acme/invitations/", {"email": email, "role": role}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    return body["id"], body["accept_url"].split("testserver", 1)[1]


def test_a_signed_in_user_with_another_address_cannot_accept(world) -> None:
    # given an invitation for carol, whose link mallory got hold of
    pk, path = invite(world, "carol@example.com")
    client = Client()
    client.force_login(world.mallory)
    # when mallory accepts it
    page = client.get(path)
    refused = client.post(path)
    # then she is refused with the reason, is not a member, and the invitation stays pending
    assert b"This invitation is for carol@example.com" in page.content
    assert refused.status_code == 403
    assert b"Log in with the invited account" in refused.content
    assert not Membership.objects.filter(user=world.mallory, organization=world.acme).exists()
    assert Invitation.objects.get(pk=pk).state == "pending"


def test_the_service_names_the_wrong_user_refusal(world) -> None:
    _invitation, link = services.invitation_create(
        organization=world.acme,
        email="carol@example.com",
        role=Role.MEMBER,
        actor=world.alice,
        actor_role=Role.OWNER,
    )
    token = link.rsplit("/", 2)[-2]
    with pytest.raises(InvitationWrongUser) as refused:
        services.invitation_accept(token=token, user=world.mallory)
    assert (refused.value.code, refused.value.status) == ("invitation_wrong_user", 403)


def test_the_invited_account_accepts_whatever_the_case_of_its_address(world) -> None:
    carol = get_user_model().objects.create_user("carol", "Carol@Example.COM", "pw-carol-12345")
    pk, path = invite(world, "carol@example.com", "operator")
    client = Client()
    client.force_login(carol)
    assert client.post(path).status_code == 302
    assert Membership.objects.get(user=carol, organization=world.acme).role == Role.OPERATOR
    assert Invitation.objects.get(pk=pk).state == "accepted"


def test_signing_up_through_the_link_uses_the_invited_address(world) -> None:
    _pk, path = invite(world, "dave@example.com")
    response = Client().post(path, {"username": "dave", **SIGNUP})
    assert response.status_code == 302
    assert get_user_model().objects.get(username="dave").email == "dave@example.com"


def test_signing_up_is_refused_when_the_address_has_an_account(world) -> None:
    # mallory's address has an account: a second account for it would dodge the binding
    _pk, path = invite(world, "mallory@globex.example")
    response = Client().post(path, {"username": "mallory2", **SIGNUP})
    assert not get_user_model().objects.filter(username="mallory2").exists()
    assert b"log in to accept" in response.content


def test_a_second_invitation_to_an_address_replaces_the_first(world) -> None:
    first, first_path = invite(world, "erin@example.com", "viewer")
    second, second_path = invite(world, "ERIN@example.com", "operator")
    assert Invitation.objects.get(pk=first).state == "revoked"
    assert Invitation.objects.get(pk=second).state == "pending"
    assert selectors.invitation_pending_list(organization=world.acme).count() == 1
    # the old link no longer works; the new one does
    assert Client().get(first_path).status_code == 400
    assert Client().get(second_path).status_code == 200


def test_accepting_closes_every_other_invitation_to_the_address(world) -> None:
    # given two open invitations to one address (made before one-per-address was enforced)
    def legacy_invitation() -> Invitation:
        return Invitation.objects.create(
            organization=world.acme,
            email="frank@example.com",
            role=Role.VIEWER,
            invited_by=world.alice,
            expires_at=timezone.now() + timedelta(days=1),
        )

    older, newer = legacy_invitation(), legacy_invitation()
    path = services.invitation_link(newer, base_url="http://testserver").split("testserver")[1]
    # when frank accepts the newer one
    assert Client().post(path, {"username": "frank", **SIGNUP}).status_code == 302
    # then no invitation to him is left pending
    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.state, newer.state) == ("accepted", "accepted")
    assert newer.accepted_by.username == "frank"


def test_pending_invitations_leave_out_people_who_joined(world) -> None:
    # given an invitation to an address whose account a platform admin then adds directly
    _pk, _path = invite(world, "grace@example.com")
    grace = get_user_model().objects.create_user("grace", "grace@example.com", "pw-grace-12345")
    Invitation.objects.update(accepted_at=None)  # as if the invitation were left untouched
    Membership.objects.create(user=grace, organization=world.acme, role=Role.MEMBER)
    # then the dashboard does not count it as pending
    assert selectors.organization_figures(organization=world.acme)["pending_invitations"] == 0


def test_the_inviter_sees_the_link_once_with_no_store(world) -> None:
    client = Client()
    client.force_login(world.alice)
    created = client.post(
        "/o/acme/members/invite/", {"email": "heidi@example.com", "role": "member"}, follow=True
    )
    match = re.search(rb'<code id="new-invitation-link">([^<]+)</code>', created.content)
    assert match and b"/invitations/accept/" in match.group(1)
    assert "no-store" in created["Cache-Control"]
    again = client.get("/o/acme/members/")
    assert match.group(1) not in again.content


def test_resending_mails_the_same_link_again_with_a_new_expiry(
    world,
    django_capture_on_commit_callbacks,
) -> None:
    pk, path = invite(world, "ivan@example.com")
    Invitation.objects.filter(pk=pk).update(expires_at=Invitation.objects.get(pk=pk).created_at)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(world.alice, world.acme).post(
            f"/api/v1/orgs/acme/invitations/{pk}/resend/", format="json"
        )
    assert response.status_code == 200
    assert response.json()["state"] == "pending"
    assert response.json()["accept_url"].endswith(path)
    assert "no-store" in response["Cache-Control"]
    assert path in mail.outbox[-1].body
    assert Client().get(path).status_code == 200


def test_a_revoked_invitation_cannot_be_resent(world) -> None:
    pk, _path = invite(world, "judy@example.com")
    alice = api_as(world.alice, world.acme)
    alice.post(f"/api/v1/orgs/acme/invitations/{pk}/revoke/", format="json")
    assert_error(
        alice.post(f"/api/v1/orgs/acme/invitations/{pk}/resend/", format="json"),
        400,
        "invitation_invalid",
    )


def test_the_ui_resend_button_is_for_admins_only(world) -> None:
    pk, _path = invite(world, "ken@example.com")
    client = Client()
    client.force_login(world.bob)
    assert client.post(f"/o/acme/invitations/{pk}/resend/").status_code == 403
    client.force_login(world.mallory)
    assert client.post(f"/o/acme/invitations/{pk}/resend/").status_code == 404
    client.force_login(world.alice)
    assert client.post(f"/o/acme/invitations/{pk}/resend/").status_code == 302
