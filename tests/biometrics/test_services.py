"""Biometrics services, crypto and the ledger outbox on a real database.

Most tests need no face engine: they exercise consent, encryption, erasure and the outbox
directly. The erasure test with real templates uses DeepFace (marked ``deepface``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from biometrics import crypto, selectors, services
from biometrics.errors import CONSENT_REQUIRED, SUBJECT_ERASED, BiometricError
from biometrics.models import (
    Consent,
    Enrollment,
    EnrollmentImage,
    FaceTemplate,
    Purpose,
    Subject,
)
from ledger.models import LedgerOutbox
from ledger.outbox import InvalidPayload, OutboxConflict, ledger_submit
from tests.biometrics.api_support import create_subject, enrolled_subject, identify


def new_subject(world: Any, ref: str = "EMP-1", *purposes: str) -> Subject:
    subject = services.subject_create(
        organization=world.acme, external_ref=ref, display_name="Grace Hopper", actor=world.alice
    )
    for purpose in purposes:
        services.consent_grant(
            organization=world.acme,
            subject=subject,
            purpose=purpose,
            policy_version="1.0",
            method=Consent.Method.WRITTEN,
            granted_by=world.alice,
        )
    return subject


# --- crypto ---------------------------------------------------------------------------------------


def test_a_sealed_payload_opens_only_with_its_key_and_its_binding() -> None:
    key, other = crypto.generate_data_key(), crypto.generate_data_key()
    sealed = crypto.seal(key, b"embedding bytes", aad=b"template|1|2")
    assert crypto.open_sealed(key, sealed, aad=b"template|1|2") == b"embedding bytes"
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(other, sealed, aad=b"template|1|2")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(key, sealed, aad=b"template|1|3")  # moved to another subject


def test_a_wrapped_data_key_is_bound_to_its_subject() -> None:
    key = crypto.generate_data_key()
    wrapped = crypto.wrap_data_key(key, organization_id=1, subject_id=7)
    assert crypto.unwrap_data_key(wrapped, organization_id=1, subject_id=7) == key
    with pytest.raises(crypto.DecryptionFailed):
        crypto.unwrap_data_key(wrapped, organization_id=2, subject_id=7)


def test_the_kek_comes_from_settings_and_is_required_in_production(settings: Any) -> None:
    settings.BIOMETRICS_KEK = "ab" * 32
    assert crypto.get_kek() == bytes.fromhex("ab" * 32)
    settings.BIOMETRICS_KEK = "too short"
    with pytest.raises(ImproperlyConfigured):
        crypto.get_kek()
    settings.BIOMETRICS_KEK, settings.PRODUCTION = None, True
    with pytest.raises(ImproperlyConfigured):
        crypto.get_kek()
    settings.PRODUCTION = False
    assert len(crypto.get_kek()) == 32  # development: derived from SECRET_KEY


def test_commitments_are_keyed_per_organization_and_unambiguous() -> None:
    a = crypto.compute_commitment(1, "template", 5, "00ff")
    assert len(a) == 64 and a == crypto.compute_commitment(1, "template", 5, "00ff")
    assert a != crypto.compute_commitment(2, "template", 5, "00ff")
    assert crypto.compute_commitment(1, "ab", "c") != crypto.compute_commitment(1, "a", "bc")


# --- the outbox -----------------------------------------------------------------------------------


def test_the_outbox_is_idempotent_per_key_and_refuses_anything_but_commitments(world: Any) -> None:
    commitment = "0" * 64
    first = ledger_submit(
        organization=world.acme,
        tx_type="consent",
        payload={"action": "granted", "commitment": commitment},
        idempotency_key="k1",
    )
    again = ledger_submit(
        organization=world.acme,
        tx_type="consent",
        payload={"action": "granted", "commitment": commitment},
        idempotency_key="k1",
    )
    assert again.pk == first.pk and LedgerOutbox.objects.count() == 1
    with pytest.raises(OutboxConflict):
        ledger_submit(
            organization=world.acme,
            tx_type="consent",
            payload={"action": "revoked", "commitment": commitment},
            idempotency_key="k1",
        )
    with pytest.raises(InvalidPayload):
        ledger_submit(
            organization=world.acme,
            tx_type="consent",
            payload={"name": "Grace Hopper"},
            idempotency_key="k2",
        )
    with pytest.raises(InvalidPayload):
        ledger_submit(
            organization=world.acme,
            tx_type="consent",
            payload={"embedding": [0.1, 0.2]},
            idempotency_key="k3",
        )


# --- subjects, consent, enrollment ----------------------------------------------------------------


def test_a_new_subject_gets_its_own_wrapped_data_key(world: Any) -> None:
    first, second = new_subject(world, "A"), new_subject(world, "B")
    assert selectors.subject_data_key(first) != selectors.subject_data_key(second)
    assert len(selectors.subject_data_key(first)) == 32
    assert bytes(first.data_key_wrapped) != selectors.subject_data_key(first)


def test_enrollment_is_refused_without_a_valid_enrollment_consent(world: Any) -> None:
    # given consents for other purposes, and an expired enrollment consent
    subject = new_subject(world, "EMP-1", Purpose.VERIFICATION, Purpose.IDENTIFICATION)
    expired = services.consent_grant(
        organization=world.acme,
        subject=subject,
        purpose=Purpose.ENROLLMENT,
        policy_version="1.0",
        method=Consent.Method.WRITTEN,
        granted_by=world.alice,
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert expired.state == "expired"
    # when an enrollment is created
    with pytest.raises(BiometricError) as caught:
        services.enrollment_create(
            organization=world.acme,
            subject=subject,
            images=[b"\xff\xd8\xff" + b"0" * 100],
            actor=world.alice,
        )
    # then consent is required, and nothing was stored
    assert caught.value.code == CONSENT_REQUIRED
    assert Enrollment.objects.count() == EnrollmentImage.objects.count() == 0


def test_pending_enrollment_photos_are_sealed_with_the_subject_key(
    world: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    subject = new_subject(world, "EMP-1", Purpose.ENROLLMENT)
    jpeg = b"\xff\xd8\xff\xe0" + b"pixels" * 50
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        enrollment = services.enrollment_create(
            organization=world.acme, subject=subject, images=[jpeg], actor=world.alice
        )
    # the job is queued on commit, and the stored photo is not the photo
    assert len(callbacks) == 3  # audit event, progress event, the task
    image = EnrollmentImage.objects.get(enrollment=enrollment)
    assert jpeg not in bytes(image.ciphertext)
    key = selectors.subject_data_key(subject)
    opened = crypto.open_sealed(
        key,
        crypto.Sealed(bytes(image.nonce), bytes(image.ciphertext)),
        aad=b"enrollment-image|%d|%d|0" % (world.acme.pk, enrollment.pk),
    )
    assert opened == jpeg


def test_erasing_a_subject_shreds_its_key_and_leaves_a_tombstone(world: Any) -> None:
    # given a subject with consents and a pending enrollment photo
    subject = new_subject(world, "EMP-1", Purpose.ENROLLMENT, Purpose.VERIFICATION)
    enrollment = services.enrollment_create(
        organization=world.acme,
        subject=subject,
        images=[b"\xff\xd8\xff" + b"0" * 64],
        actor=world.alice,
    )
    # when it is erased
    services.subject_erase(organization=world.acme, subject=subject, actor=world.alice)
    # then the key is gone, nothing personal remains, the photo and the job are gone/failed
    erased = Subject.objects.get(pk=subject.pk)
    assert (erased.status, erased.data_key_wrapped, erased.display_name) == ("erased", None, "")
    assert erased.external_ref == f"erased-{subject.pk}"
    assert EnrollmentImage.objects.count() == 0
    assert Enrollment.objects.get(pk=enrollment.pk).error_code == SUBJECT_ERASED
    with pytest.raises(BiometricError) as caught:
        selectors.subject_data_key(erased)
    assert caught.value.code == SUBJECT_ERASED
    # and every consent is revoked on the ledger
    revoked = LedgerOutbox.objects.filter(tx_type="consent", payload__action="revoked")
    assert revoked.count() == 2
    # and the subject is still found, as erased (the tombstone)
    found = selectors.subject_get(organization=world.acme, subject_id=subject.pk)
    assert found is not None and found.is_erased
    # and later requests about it get subject_erased (a second erasure too)
    for call in (
        lambda: services.subject_erase(organization=world.acme, subject=erased, actor=None),
        lambda: services.consent_grant(
            organization=world.acme,
            subject=erased,
            purpose=Purpose.ENROLLMENT,
            policy_version="1.0",
            method="written",
            granted_by=world.alice,
        ),
    ):
        with pytest.raises(BiometricError) as caught:
            call()
        assert caught.value.code == SUBJECT_ERASED


def test_another_organization_never_finds_the_subject(world: Any) -> None:
    subject = new_subject(world, "EMP-1")
    assert selectors.subject_get(organization=world.globex, subject_id=subject.pk) is None
    assert list(selectors.subject_list(organization=world.globex)) == []


def test_a_threshold_setting_is_clamped_into_the_safe_bounds(world: Any) -> None:
    services.settings_update(
        organization=world.acme, threshold=0.5, retention_days=30, actor=world.alice
    )
    assert selectors.threshold_for(organization=world.acme) == 0.09
    services.settings_update(
        organization=world.acme, threshold=0.001, retention_days=None, actor=world.alice
    )
    assert selectors.threshold_for(organization=world.acme) == 0.03
    assert selectors.threshold_for(organization=world.globex) == 0.07


# --- erasure with real templates -----------------------------------------------------------------


@pytest.mark.deepface
def test_after_erasure_the_template_cannot_be_decrypted_nor_identified(
    engine_ready: None,
    world: Any,
    alice: Any,
    real_photos: dict[str, bytes],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # given obama enrolled, and a copy of his stored template (a backup, say)
    subject_id = enrolled_subject(
        alice,
        "acme",
        "obama",
        django_capture_on_commit_callbacks,
        "obama.jpg",
        real_photos["obama.jpg"],
    )
    template = FaceTemplate.objects.get(subject_id=subject_id)
    backup = crypto.Sealed(bytes(template.nonce), bytes(template.ciphertext))
    aad = selectors.template_aad(world.acme.pk, subject_id)
    assert identify(alice, "acme", "obama2.jpg", real_photos["obama2.jpg"]).json()["candidates"]
    # when he is erased through the API
    assert alice.delete(f"/api/v1/orgs/acme/subjects/{subject_id}/").status_code == 204
    # then no key in the database opens the backup any more
    assert Subject.objects.get(pk=subject_id).data_key_wrapped is None
    assert FaceTemplate.objects.filter(subject_id=subject_id).count() == 0
    for other in Subject.objects.exclude(data_key_wrapped=None):
        with pytest.raises(crypto.DecryptionFailed):
            crypto.open_sealed(selectors.subject_data_key(other), backup, aad=aad)
    # and identification no longer finds him
    after = identify(alice, "acme", "obama2.jpg", real_photos["obama2.jpg"])
    assert after.status_code == 200 and after.json()["candidates"] == []
    # and the template's revocation commitment is in the outbox
    assert LedgerOutbox.objects.filter(
        tx_type="biometric_commitment",
        payload={"action": "revoked", "commitment": template.commitment},
    ).exists()
    # and later requests get subject_erased
    gone = alice.get(f"/api/v1/orgs/acme/subjects/{subject_id}/")
    assert (gone.status_code, gone.json()["error"]["code"]) == (410, "subject_erased")


@pytest.mark.deepface
def test_revoking_the_enrollment_consent_revokes_the_templates(
    engine_ready: None,
    world: Any,
    alice: Any,
    real_photos: dict[str, bytes],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    subject_id = create_subject(alice, "acme", "obama")
    from tests.biometrics.api_support import enroll, grant

    enrollment_consent, *_ = grant(alice, "acme", subject_id)
    enroll(
        alice,
        "acme",
        subject_id,
        django_capture_on_commit_callbacks,
        ("obama.jpg", real_photos["obama.jpg"]),
    )
    commitment = FaceTemplate.objects.get(subject_id=subject_id).commitment
    alice.post(f"/api/v1/orgs/acme/subjects/{subject_id}/consents/{enrollment_consent}/revoke/")
    assert FaceTemplate.objects.filter(subject_id=subject_id).count() == 0
    assert (
        LedgerOutbox.objects.filter(payload={"action": "revoked", "commitment": commitment}).count()
        == 1
    )
    assert (
        identify(alice, "acme", "obama2.jpg", real_photos["obama2.jpg"]).json()["candidates"] == []
    )
