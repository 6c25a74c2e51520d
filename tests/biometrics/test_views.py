"""The server-rendered biometrics pages: the enrollment form, consent revocation, results."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from biometrics import services
from biometrics.forms import EnrollForm
from biometrics.models import Consent, Enrollment, IdentificationAttempt, Purpose, Subject


@pytest.fixture
def ada(world: Any) -> Subject:
    return services.subject_create(
        organization=world.acme,
        external_ref="EMP-1",
        display_name="Ada Lovelace",
        actor=world.alice,
    )


def _grant(world: Any, subject: Subject, purpose: str) -> Consent:
    return services.consent_grant(
        organization=world.acme,
        subject=subject,
        purpose=purpose,
        policy_version=services.CURRENT_POLICY_VERSION,
        method=Consent.Method.WRITTEN,
        granted_by=world.alice,
    )


def _owner(world: Any) -> Client:
    client = Client()
    client.force_login(world.alice)
    return client


def _photo() -> SimpleUploadedFile:
    return SimpleUploadedFile("face.jpg", b"\xff\xd8\xff not really a photo", "image/jpeg")


def test_the_enroll_form_needs_no_consent_step_when_consent_is_on_file() -> None:
    form = EnrollForm({}, {"images": _photo()}, consent_on_file=True)
    assert form.is_valid(), form.errors
    assert "method" not in form.fields


def test_the_enroll_form_still_requires_consent_when_none_is_on_file() -> None:
    form = EnrollForm({}, {"images": _photo()}, consent_on_file=False)
    assert not form.is_valid()
    assert "consent_given" in form.errors


def test_photos_for_a_subject_with_consent_on_file_are_enrolled(world, ada, monkeypatch) -> None:
    _grant(world, ada, Purpose.ENROLLMENT)
    sent: dict[str, Any] = {}

    def enrollment_create(**kwargs: Any) -> Enrollment:
        sent.update(kwargs)
        return Enrollment.objects.create(organization=world.acme, subject=ada)

    monkeypatch.setattr(services, "enrollment_create", enrollment_create)
    response = _owner(world).post(f"/o/acme/subjects/{ada.pk}/enroll/", {"images": _photo()})
    assert response.status_code == 302
    assert "/o/acme/enrollments/" in response["Location"]
    assert sent["subject"] == ada
    assert Consent.objects.filter(subject=ada).count() == 1  # no second consent recorded


def test_an_invalid_enrollment_shows_why(world, ada) -> None:
    _grant(world, ada, Purpose.ENROLLMENT)
    response = _owner(world).post(f"/o/acme/subjects/{ada.pk}/enroll/", {})
    assert response.status_code == 200
    assert b'role="alert"' in response.content
    assert b"Choose 1 to 5 photos." in response.content


def test_the_revoke_message_names_the_purpose_in_words(world, ada) -> None:
    consent = _grant(world, ada, Purpose.IDENTIFICATION)
    response = _owner(world).post(
        f"/o/acme/subjects/{ada.pk}/consents/{consent.pk}/revoke/", follow=True
    )
    assert response.status_code == 200
    message = re.search(rb'<li class="message success">(.*?)</li>', response.content).group(1)
    assert message == (
        b"Consent to identification (searching a photo among everyone enrolled) revoked."
    )


def test_identification_results_show_the_subject_name(world, ada) -> None:
    attempt = IdentificationAttempt.objects.create(
        organization=world.acme,
        threshold=0.07,
        model="Dlib",
        status="succeeded",
        candidates=[{"subject_id": ada.pk, "distance": 0.01}],
    )
    client = Client()
    client.force_login(world.bob)  # a viewer: names are shown to every member
    response = client.get(f"/o/acme/identifications/{attempt.pk}/")
    assert response.status_code == 200
    assert b"Ada Lovelace" in response.content
    assert b"EMP-1" in response.content
