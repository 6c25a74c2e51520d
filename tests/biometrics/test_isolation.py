"""Tenant isolation of every biometrics endpoint, and of 1:N identification.

mallory (globex) never sees or touches acme's subjects, consents, enrollments or attempts:
under acme's slug she is not a member (404), under her own slug acme's ids do not exist (404).
globex's identification never matches acme's subjects, even for the same face.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from biometrics.models import (
    Consent,
    Enrollment,
    IdentificationAttempt,
    Subject,
    VerificationAttempt,
)
from tenants.models import Membership
from tenants.roles import Role
from tests.biometrics.api_support import create_subject, enrolled_subject, identify, photo
from tests.biometrics.factories import biometrics_objects
from tests.biometrics.photos import make_gradient_jpeg
from tests.conftest import api_as


@pytest.fixture
def acme_ids(world: Any) -> dict[str, int]:
    """One of each acme object (no engine needed: the factory makes rows through the services)."""
    objects = biometrics_objects(organization=world.acme, owner=world.alice)
    return {
        "subject": objects[Subject].pk,
        "consent": objects[Consent].pk,
        "enrollment": objects[Enrollment].pk,
        "verification": objects[VerificationAttempt].pk,
        "identification": objects[IdentificationAttempt].pk,
    }


def requests(org: str, ids: dict[str, int]) -> list[tuple[str, str, dict[str, Any]]]:
    base, s = f"/api/v1/orgs/{org}", ids["subject"]
    jpeg = make_gradient_jpeg(64, 64)
    return [
        ("get", f"{base}/subjects/{s}/", {}),
        ("delete", f"{base}/subjects/{s}/", {}),
        ("get", f"{base}/subjects/{s}/consents/", {}),
        ("post", f"{base}/subjects/{s}/consents/", {"data": {"purpose": "verification"}}),
        ("post", f"{base}/subjects/{s}/consents/{ids['consent']}/revoke/", {}),
        ("get", f"{base}/subjects/{s}/enrollments/", {}),
        (
            "post",
            f"{base}/subjects/{s}/enrollments/",
            {"data": {"images": [photo("a.jpg", jpeg)]}, "format": "multipart"},
        ),
        (
            "post",
            f"{base}/subjects/{s}/verify/",
            {"data": {"image": photo("a.jpg", jpeg)}, "format": "multipart"},
        ),
        ("get", f"{base}/enrollments/{ids['enrollment']}/", {}),
        ("get", f"{base}/verifications/{ids['verification']}/", {}),
        ("get", f"{base}/identifications/{ids['identification']}/", {}),
    ]


def test_mallory_gets_404_for_every_acme_biometrics_url(
    world: Any, acme_ids: dict[str, int]
) -> None:
    mallory = api_as(world.mallory, world.globex)
    for method, path, kwargs in [
        *requests("acme", acme_ids),
        ("get", "/api/v1/orgs/acme/subjects/", {}),
        ("post", "/api/v1/orgs/acme/identify/", {}),
        ("get", "/api/v1/orgs/acme/biometrics/settings/", {}),
    ]:
        response = getattr(mallory, method)(path, **kwargs)
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "not_found"


def test_acme_ids_do_not_exist_under_globex_even_for_its_owner(
    world: Any, acme_ids: dict[str, int]
) -> None:
    # given mallory as owner of globex, so no role check can hide a missing filter
    Membership.objects.filter(user=world.mallory).update(role=Role.OWNER)
    mallory = api_as(world.mallory, world.globex)
    for method, path, kwargs in requests("globex", acme_ids):
        response = getattr(mallory, method)(path, **kwargs)
        assert response.status_code == 404, (method, path, response.status_code)
    # and acme's rows are untouched
    subject = Subject.objects.get(pk=acme_ids["subject"])
    assert subject.status == "active" and subject.consents.get().revoked_at is None
    assert mallory.get("/api/v1/orgs/globex/subjects/").json()["results"] == []


def test_mallory_cannot_open_acme_biometrics_pages(world: Any, acme_ids: dict[str, int]) -> None:
    from django.test import Client

    from tests.conftest import PASSWORD

    # given mallory as owner of globex, so only a missing object filter could let her through
    Membership.objects.filter(user=world.mallory).update(role=Role.OWNER)
    ui = Client()
    assert ui.login(username="mallory", password=PASSWORD)
    s, e = acme_ids["subject"], acme_ids["enrollment"]
    v, i = acme_ids["verification"], acme_ids["identification"]
    for path in (
        "/o/acme/subjects/",
        f"/o/acme/subjects/{s}/",
        "/o/acme/identify/",
        f"/o/globex/subjects/{s}/",
        f"/o/globex/subjects/{s}/enroll/",
        f"/o/globex/subjects/{s}/verify/",
        f"/o/globex/enrollments/{e}/",
        f"/o/globex/verifications/{v}/",
        f"/o/globex/identifications/{i}/",
    ):
        assert ui.get(path).status_code == 404, path
    for path in (
        f"/o/globex/subjects/{s}/erase/",
        f"/o/globex/subjects/{s}/consents/{acme_ids['consent']}/revoke/",
    ):
        assert ui.post(path).status_code == 404, path
    assert Subject.objects.get(pk=s).status == "active"


@pytest.mark.deepface
def test_globex_identification_never_matches_acme_subjects(
    engine_ready: None,
    world: Any,
    alice: APIClient,
    real_photos: dict[str, bytes],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # given obama enrolled in acme, and biden in globex
    capture = django_capture_on_commit_callbacks
    enrolled_subject(alice, "acme", "obama", capture, "obama.jpg", real_photos["obama.jpg"])
    Membership.objects.filter(user=world.mallory).update(role=Role.OPERATOR)
    mallory = api_as(world.mallory, world.globex)
    biden = enrolled_subject(
        mallory, "globex", "biden", capture, "biden.jpg", real_photos["biden.jpg"]
    )
    # when globex identifies a photo of obama
    response = identify(mallory, "globex", "obama2.jpg", real_photos["obama2.jpg"])
    # then nobody is found (acme's obama is not in globex's gallery)
    assert response.status_code == 200
    assert response.json()["candidates"] == []
    # and when globex enrolls obama too, only its own subject is ever a candidate
    own = create_subject(mallory, "globex", "obama-g")
    from tests.biometrics.api_support import enroll, grant

    grant(mallory, "globex", own)
    assert (
        enroll(mallory, "globex", own, capture, ("obama.jpg", real_photos["obama.jpg"]))[
            "duplicates"
        ]
        == []
    )  # acme's obama is not a duplicate in globex
    found = identify(mallory, "globex", "obama3.jpg", real_photos["obama3.jpg"]).json()
    assert [c["subject_id"] for c in found["candidates"]] == [own]
    assert biden != own
