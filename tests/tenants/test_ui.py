"""The server-rendered UI: login with lock-out, pages with titles, roles."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tenants.models import Invitation, Membership
from tenants.roles import Role
from tenants.services import audit_record
from tests.conftest import PASSWORD


def title(response) -> str:
    match = re.search(rb"<title>(.*?)</title>", response.content, re.S)
    assert match, "every page has a title"
    return match.group(1).decode().strip()


def test_login_locks_out_after_repeated_failures(world, settings) -> None:
    settings.LOGIN_MAX_FAILURES = 3
    client = Client()
    for _ in range(3):
        assert client.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    locked = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 200
    assert b"Too many failed attempts" in locked.content
    assert "_auth_user_id" not in client.session


def test_login_then_the_dashboard_shows_real_figures(world) -> None:
    client = Client()
    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/o/acme/"
    assert title(response) == "Acme Corporation dashboard · Alliance Portal"
    assert re.search(rb'data-figure="members">2<', response.content)


@pytest.mark.parametrize(
    "path,expected",
    [
        ("/o/acme/members/", "Members of Acme Corporation"),
        ("/o/acme/tokens/", "API tokens · Acme Corporation"),
        ("/o/acme/settings/", "Settings · Acme Corporation"),
        ("/o/acme/audit/", "Audit log · Acme Corporation"),
    ],
)
def test_owner_pages_render_with_titles(world, path, expected) -> None:
    client = Client()
    client.force_login(world.alice)
    response = client.get(path)
    assert response.status_code == 200
    assert title(response).startswith(expected)


def test_a_member_cannot_open_admin_pages(world) -> None:
    client = Client()
    client.force_login(world.bob)
    assert client.get("/o/acme/audit/").status_code == 403
    assert client.get("/o/acme/settings/").status_code == 403
    assert client.get("/o/acme/members/").status_code == 200


def test_a_suspended_organization_shows_a_clear_page(world) -> None:
    world.acme.status = "suspended"
    world.acme.save()
    client = Client()
    client.force_login(world.alice)
    response = client.get("/o/acme/")
    assert response.status_code == 403
    assert b"suspended" in response.content


def test_a_token_created_in_the_ui_is_shown_once(world) -> None:
    client = Client()
    client.force_login(world.bob)
    created = client.post("/o/acme/tokens/", {"name": "laptop"})
    secret = re.search(rb'<code id="new-token">(ap_[^<]+)</code>', created.content).group(1)
    again = client.get("/o/acme/tokens/")
    assert secret not in again.content
    assert b"laptop" in again.content


def test_the_switcher_lists_every_membership(world) -> None:
    Membership.objects.create(user=world.alice, organization=world.initech, role=Role.ADMIN)
    client = Client()
    client.force_login(world.alice)
    page = client.get("/")
    assert b"Acme Corporation" in page.content and b"Initech" in page.content
    assert client.get("/switch/?org=initech").url == "/o/initech/"


def test_the_platform_admin_page_is_for_superusers_only(world) -> None:
    client = Client()
    client.force_login(world.alice)
    assert client.get("/platform/organizations/").status_code in (302, 404)
    client.force_login(world.admin)
    page = client.get("/platform/organizations/")
    assert page.status_code == 200 and b"globex" in page.content
    client.post("/platform/organizations/globex/suspend/")
    world.globex.refresh_from_db()
    assert world.globex.status == "suspended"


def test_the_api_docs_are_served_locally(client) -> None:
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert b"cdn" not in page.content.lower() and b"jsdelivr" not in page.content.lower()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER, Role.OPERATOR, Role.ADMIN, Role.OWNER])
def test_every_navigation_link_opens_for_the_role_that_sees_it(world, role) -> None:
    Membership.objects.filter(user=world.bob, organization=world.acme).update(role=role)
    client = Client()
    client.force_login(world.bob)
    page = client.get("/o/acme/")
    nav = re.search(rb'<nav class="orgnav".*?</nav>', page.content, re.S).group(0)
    links = [href.decode() for href in re.findall(rb'href="([^"]+)"', nav)]
    assert links, "the navigation has links"
    for href in links:
        assert client.get(href).status_code == 200, (role, href)
    # each link is shown exactly to the roles its view accepts
    assert ("/o/acme/identify/" in links) == role.at_least(Role.OPERATOR)
    assert ("/o/acme/audit/" in links) == role.at_least(Role.ADMIN)
    assert ("/o/acme/settings/" in links) == role.at_least(Role.ADMIN)


def test_the_only_member_of_a_suspended_organization_is_not_sent_in_a_circle(world) -> None:
    world.globex.status = "suspended"
    world.globex.save()
    client = Client()
    client.force_login(world.mallory)
    denied = client.get("/o/globex/")
    assert denied.status_code == 403
    back = re.search(rb'<a href="([^"]+)">Back to your organizations</a>', denied.content)
    home = client.get(back.group(1).decode())
    assert home.status_code == 200
    assert b"suspended" in home.content


@pytest.mark.parametrize("slug", ["\x00", "not a slug", "é", "a/b"])
def test_the_switcher_answers_not_found_for_a_value_that_is_no_slug(world, slug) -> None:
    client = Client()
    client.force_login(world.alice)
    response = client.get("/switch/", {"org": slug})
    assert response.status_code in (400, 404), response.status_code


def test_an_invitation_to_an_address_longer_than_the_column_is_refused(world) -> None:
    client = Client()
    client.force_login(world.alice)
    email = "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".example"  # 255+ characters, valid form
    assert len(email) > 254
    response = client.post("/o/acme/members/invite/", {"email": email, "role": "member"})
    assert response.status_code == 302
    assert not Invitation.objects.exists()


def test_audit_details_read_as_a_key_value_list(world) -> None:
    audit_record(
        organization=world.acme,
        actor=world.alice,
        action="member.role_changed",
        details={"old_role": "member", "new_role": "<b>admin</b>", "notified": True,
                 "scopes": ["read", "write"]},
    )  # fmt: skip
    client = Client()
    client.force_login(world.alice)
    response = client.get("/o/acme/audit/?action=member.role_changed")
    assert response.status_code == 200
    assert b'<li><span class="muted">old role</span>: member</li>' in response.content
    assert b'<span class="muted">new role</span>: &lt;b&gt;admin&lt;/b&gt;</li>' in response.content
    assert b'<span class="muted">notified</span>: yes</li>' in response.content
    assert b'<span class="muted">scopes</span>: read, write</li>' in response.content
    assert b"{&#x27;old_role&#x27;" not in response.content
    assert b"<b>admin</b>" not in response.content
