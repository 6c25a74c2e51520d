"""The biometrics REST API end to end: real database, real DeepFace on real photos (offline).

Tasks run in process (the embedded default, CELERY_TASK_ALWAYS_EAGER); enrollment starts on
commit, so requests that enroll run inside ``django_capture_on_commit_callbacks(execute=True)``.
The request helpers are in ``api_support.py``, the shared fixtures in ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from biometrics.engine import MODEL_ID
from biometrics.models import Enrollment, EnrollmentImage, FaceTemplate, ProbeImage, Subject
from ledger.models import LedgerOutbox
from tenants.models import Membership
from tenants.roles import Role
from tests.biometrics.api_support import (
    API,
    create_subject,
    enroll,
    enrolled_subject,
    error_code,
    grant,
    identify,
    photo,
    verify,
)
from tests.biometrics.photos import (
    compose_side_by_side,
    make_decompression_bomb_png,
    make_gradient_jpeg,
    make_oversized_upload,
    make_text_named_jpg,
    make_truncated_jpeg,
)
from tests.conftest import api_as

# --- subjects, consents, roles (no engine needed) ----------------------------------------------


def test_an_operator_creates_a_subject_and_a_viewer_reads_it(world: Any, alice: APIClient) -> None:
    # given alice (owner) creates a subject
    subject_id = create_subject(alice, "acme", "EMP-001", "Ada Lovelace")
    # when bob (a plain member, i.e. at least a viewer) lists and reads subjects
    bob = api_as(world.bob, world.acme)
    listing = bob.get(f"{API}/acme/subjects/")
    detail = bob.get(f"{API}/acme/subjects/{subject_id}/")
    # then he sees it, without any key material
    assert [s["external_ref"] for s in listing.json()["results"]] == ["EMP-001"]
    assert detail.status_code == 200
    assert detail.json() == {
        **detail.json(),
        "id": subject_id,
        "display_name": "Ada Lovelace",
        "status": "active",
        "template_count": 0,
    }
    assert "data_key_wrapped" not in detail.json()


def test_a_second_subject_with_the_same_reference_is_refused(alice: APIClient) -> None:
    create_subject(alice, "acme", "EMP-001")
    response = alice.post(f"{API}/acme/subjects/", {"external_ref": "EMP-001"}, format="json")
    assert response.status_code == 409
    assert error_code(response) == "external_ref_taken"


def test_a_member_below_operator_cannot_create_enroll_verify_or_identify(
    world: Any, alice: APIClient
) -> None:
    # given a subject with consents, and bob a plain member
    subject_id = create_subject(alice, "acme", "EMP-001")
    grant(alice, "acme", subject_id)
    bob = api_as(world.bob, world.acme)
    jpeg = make_gradient_jpeg()
    # when bob tries every write
    responses = [
        bob.post(f"{API}/acme/subjects/", {"external_ref": "X"}, format="json"),
        bob.post(
            f"{API}/acme/subjects/{subject_id}/consents/", {"purpose": "enrollment"}, format="json"
        ),
        bob.post(
            f"{API}/acme/subjects/{subject_id}/enrollments/",
            {"images": [photo("a.jpg", jpeg)]},
            format="multipart",
        ),
        verify(bob, "acme", subject_id, "a.jpg", jpeg),
        identify(bob, "acme", "a.jpg", jpeg),
        bob.delete(f"{API}/acme/subjects/{subject_id}/"),
    ]
    # then each is 403 permission_denied and nothing was queued
    assert [r.status_code for r in responses] == [403] * 6
    assert {error_code(r) for r in responses} == {"permission_denied"}
    assert Enrollment.objects.count() == ProbeImage.objects.count() == 0


def test_only_an_admin_erases_a_subject(world: Any, alice: APIClient) -> None:
    subject_id = create_subject(alice, "acme", "EMP-001")
    Membership.objects.filter(user=world.bob).update(role=Role.OPERATOR)
    operator = api_as(world.bob, world.acme)
    assert operator.delete(f"{API}/acme/subjects/{subject_id}/").status_code == 403
    assert alice.delete(f"{API}/acme/subjects/{subject_id}/").status_code == 204
    assert Subject.objects.get(pk=subject_id).status == "erased"


def test_enrollment_without_consent_is_refused_with_consent_required(
    alice: APIClient, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # given a subject who consented to verification only
    subject_id = create_subject(alice, "acme", "EMP-001")
    grant(alice, "acme", subject_id, "verification")
    # when an enrollment is posted
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(
            f"{API}/acme/subjects/{subject_id}/enrollments/",
            {"images": [photo("a.jpg", make_gradient_jpeg())]},
            format="multipart",
        )
    # then it is refused before any photo is stored
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "consent_required",
        "message": "A valid consent for this purpose is required first.",
        "details": {"purpose": "enrollment"},
    }
    assert Enrollment.objects.count() == EnrollmentImage.objects.count() == 0


def test_consent_grant_and_revoke_queue_commitments_on_the_ledger_outbox(alice: APIClient) -> None:
    # given a consent granted through the API
    subject_id = create_subject(alice, "acme", "EMP-001", "Ada Lovelace")
    (consent_id,) = grant(alice, "acme", subject_id, "verification")
    # when it is revoked (twice: the second is a no-op)
    url = f"{API}/acme/subjects/{subject_id}/consents/{consent_id}/revoke/"
    first, second = alice.post(url), alice.post(url)
    # then the consent is revoked and the outbox holds granted + revoked of one commitment
    assert first.status_code == second.status_code == 200
    assert first.json()["state"] == "revoked"
    rows = list(LedgerOutbox.objects.values_list("tx_type", "payload", "status"))
    commitment = first.json()["commitment"]
    assert rows == [
        ("consent", {"action": "granted", "commitment": commitment}, "pending"),
        ("consent", {"action": "revoked", "commitment": commitment}, "pending"),
    ]
    assert "Ada" not in str(rows) and "EMP-001" not in str(rows)


def test_an_unknown_policy_version_is_refused(alice: APIClient) -> None:
    subject_id = create_subject(alice, "acme", "EMP-001")
    response = alice.post(
        f"{API}/acme/subjects/{subject_id}/consents/",
        {"purpose": "enrollment", "policy_version": "9.9"},
        format="json",
    )
    assert response.status_code == 400
    assert error_code(response) == "unknown_policy_version"


@pytest.mark.parametrize(
    ("name", "make", "status", "code"),
    [
        ("portrait.jpg", lambda p: make_text_named_jpg()[1], 415, "unsupported_media_type"),
        ("big.jpg", lambda p: make_oversized_upload(p["obama.jpg"]), 413, "image_too_large"),
    ],
)
def test_an_upload_refused_at_the_edge_leaves_nothing_behind(
    alice: APIClient,
    real_photos: dict[str, bytes],
    django_capture_on_commit_callbacks: Callable[..., Any],
    name: str,
    make: Callable[[dict[str, bytes]], bytes],
    status: int,
    code: str,
) -> None:
    subject_id = create_subject(alice, "acme", "EMP-001")
    grant(alice, "acme", subject_id)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(
            f"{API}/acme/subjects/{subject_id}/enrollments/",
            {"images": [photo(name, make(real_photos))]},
            format="multipart",
        )
    assert (response.status_code, error_code(response)) == (status, code)
    assert Enrollment.objects.count() == EnrollmentImage.objects.count() == 0


def test_the_api_schema_documents_the_biometrics_endpoints(alice: APIClient) -> None:
    schema = alice.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert (
        "multipart/form-data"
        in (
            paths["/api/v1/orgs/{org}/subjects/{id}/enrollments/"]["post"]["requestBody"]["content"]
        )
    )
    assert "202" in paths["/api/v1/orgs/{org}/identify/"]["post"]["responses"]
    for path in (
        "/api/v1/orgs/{org}/subjects/",
        "/api/v1/orgs/{org}/subjects/{id}/verify/",
        "/api/v1/orgs/{org}/enrollments/{id}/",
        "/api/v1/orgs/{org}/subjects/{id}/consents/{cid}/revoke/",
    ):
        assert path in paths, sorted(paths)


# --- with the real engine -----------------------------------------------------------------------


@pytest.mark.deepface
def test_an_enrolled_person_verifies_and_another_person_does_not(
    engine_ready: None,
    alice: APIClient,
    real_photos: dict[str, bytes],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # given obama enrolled from one photo
    subject_id = create_subject(alice, "acme", "EMP-044")
    grant(alice, "acme", subject_id)
    result = enroll(
        alice,
        "acme",
        subject_id,
        django_capture_on_commit_callbacks,
        ("obama.jpg", real_photos["obama.jpg"]),
    )
    assert result["status"] == "succeeded" and result["progress"] == 100
    assert result["error"] is None and result["duplicates"] == []
    assert result["faces"][0]["quality"] > 0.5 and result["faces"][0]["box"]["w"] >= 64
    template = FaceTemplate.objects.get(subject_id=subject_id)
    assert template.model_id == MODEL_ID and len(bytes(template.ciphertext)) == 512 + 16
    assert EnrollmentImage.objects.count() == 0  # photos are gone once used
    # when another photo of obama, then one of biden, are verified against him
    same = verify(alice, "acme", subject_id, "obama2.jpg", real_photos["obama2.jpg"])
    other = verify(alice, "acme", subject_id, "biden.jpg", real_photos["biden.jpg"])
    # then the first verifies and the second does not
    assert same.status_code == other.status_code == 200
    assert same.json()["verified"] is True and other.json()["verified"] is False
    assert same.json()["distance"] <= same.json()["threshold"] == 0.07 < other.json()["distance"]
    assert same.json()["model"] == MODEL_ID
    assert ProbeImage.objects.count() == 0  # no probe photo is kept


@pytest.mark.deepface
def test_identification_returns_the_right_subject_first_among_several(
    engine_ready: None,
    alice: APIClient,
    real_photos: dict[str, bytes],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # given three different people enrolled
    capture = django_capture_on_commit_callbacks
    obama = enrolled_subject(alice, "acme", "obama", capture, "obama.jpg", real_photos["obama.jpg"])
    biden = enrolled_subject(alice, "acme", "biden", capture, "biden.jpg", real_photos["biden.jpg"])
    enrolled_subject(alice, "acme", "astro", capture, "astronaut.png", real_photos["astronaut.png"])
    # when new photos of obama and of biden are identified
    first = identify(alice, "acme", "obama3.jpg", real_photos["obama3.jpg"])
    second = identify(alice, "acme", "obama2.jpg", real_photos["obama2.jpg"], top_k=1)
    # then obama comes first (and alone: the others are beyond the threshold)
    assert first.status_code == 200, first.content
    body = first.json()
    assert [c["subject_id"] for c in body["candidates"]] == [obama]
    assert body["candidates"][0]["external_ref"] == "obama"
    assert body["candidates"][0]["distance"] <= body["threshold"] == 0.07
    assert [c["subject_id"] for c in second.json()["candidates"]] == [obama]
    assert biden != obama


@pytest.mark.deepface
def test_a_second_enrollment_of_the_same_person_is_flagged_as_a_duplicate(
    engine_ready: None,
    alice: APIClient,
    real_photos: dict[str, bytes],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # given obama enrolled as EMP-1
    capture = django_capture_on_commit_callbacks
    first = enrolled_subject(alice, "acme", "EMP-1", capture, "obama.jpg", real_photos["obama.jpg"])
    # when a new subject EMP-2 is enrolled with another photo of obama
    second = create_subject(alice, "acme", "EMP-2")
    grant(alice, "acme", second)
    flagged = enroll(alice, "acme", second, capture, ("obama2.jpg", real_photos["obama2.jpg"]))
    # then it fails as a duplicate naming EMP-1, and stores nothing
    assert flagged["status"] == "failed"
    assert flagged["error"]["code"] == "duplicate_subject"
    assert [(d["subject_id"], d["external_ref"]) for d in flagged["duplicates"]] == [
        (first, "EMP-1")
    ]
    assert FaceTemplate.objects.filter(subject_id=second).count() == 0
    # and when the operator enrolls anyway, it succeeds and still reports the duplicate
    forced = enroll(
        alice,
        "acme",
        second,
        capture,
        ("obama2.jpg", real_photos["obama2.jpg"]),
        allow_duplicates=True,
    )
    assert forced["status"] == "succeeded"
    assert [d["subject_id"] for d in forced["duplicates"]] == [first]


BAD_PHOTOS: list[tuple[str, Callable[[dict[str, bytes]], bytes], int, str]] = [
    ("no_face.jpg", lambda p: make_gradient_jpeg(), 422, "no_face"),
    (
        "two.jpg",
        lambda p: compose_side_by_side(p["obama.jpg"], p["biden.jpg"]),
        422,
        "multiple_faces",
    ),
    ("cut.jpg", lambda p: make_truncated_jpeg(p["obama.jpg"]), 400, "image_unreadable"),
    ("bomb.png", lambda p: make_decompression_bomb_png(), 413, "image_too_large"),
    ("portrait.jpg", lambda p: make_text_named_jpg()[1], 415, "unsupported_media_type"),
    ("big.jpg", lambda p: make_oversized_upload(p["obama.jpg"]), 413, "image_too_large"),
]


@pytest.mark.deepface
@pytest.mark.parametrize(
    ("name", "make", "status", "code"), BAD_PHOTOS, ids=[b[3] + ":" + b[0] for b in BAD_PHOTOS]
)
def test_a_bad_photo_gets_its_code_and_leaves_nothing_half_written(
    engine_ready: None,
    alice: APIClient,
    real_photos: dict[str, bytes],
    django_capture_on_commit_callbacks: Callable[..., Any],
    name: str,
    make: Callable[[dict[str, bytes]], bytes],
    status: int,
    code: str,
) -> None:
    # given an enrolled subject
    capture = django_capture_on_commit_callbacks
    subject_id = enrolled_subject(
        alice, "acme", "EMP-1", capture, "obama.jpg", real_photos["obama.jpg"]
    )
    templates_before = FaceTemplate.objects.count()
    data = make(real_photos)
    # when the bad photo is verified, identified and enrolled
    verified = verify(alice, "acme", subject_id, name, data)
    identified = identify(alice, "acme", name, data)
    with capture(execute=True):
        enrolling = alice.post(
            f"{API}/acme/subjects/{subject_id}/enrollments/",
            {"images": [photo("good.jpg", real_photos["obama2.jpg"]), photo(name, data)]},
            format="multipart",
        )
    # then verify and identify answer with the code and status
    for response in (verified, identified):
        assert (response.status_code, error_code(response)) == (status, code), response.content
    # and the enrollment fails with the code, wholly: no template from the good photo either
    if enrolling.status_code == 202:
        job = alice.get(enrolling.json()["status_url"]).json()
        assert (job["status"], job["error"]["code"]) == ("failed", code)
    else:
        assert (enrolling.status_code, error_code(enrolling)) == (status, code)
    assert FaceTemplate.objects.count() == templates_before
    assert EnrollmentImage.objects.count() == ProbeImage.objects.count() == 0


@pytest.mark.deepface
def test_revoking_verification_consent_stops_verification_at_once(
    engine_ready: None,
    alice: APIClient,
    real_photos: dict[str, bytes],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # given an enrolled subject who then revokes the verification consent
    subject_id = create_subject(alice, "acme", "EMP-1")
    _enrollment, verification, _identification = grant(alice, "acme", subject_id)
    assert (
        enroll(
            alice,
            "acme",
            subject_id,
            django_capture_on_commit_callbacks,
            ("obama.jpg", real_photos["obama.jpg"]),
        )["status"]
        == "succeeded"
    )
    alice.post(f"{API}/acme/subjects/{subject_id}/consents/{verification}/revoke/")
    # when a photo of the same person is verified
    response = verify(alice, "acme", subject_id, "obama2.jpg", real_photos["obama2.jpg"])
    # then consent is required, and no probe was kept
    assert (response.status_code, error_code(response)) == (409, "consent_required")
    assert ProbeImage.objects.count() == 0


@pytest.mark.deepface
def test_a_slow_worker_turns_verification_into_202_with_a_status_url(
    engine_ready: None,
    alice: APIClient,
    real_photos: dict[str, bytes],
    django_capture_on_commit_callbacks: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from biometrics import tasks

    subject_id = enrolled_subject(
        alice,
        "acme",
        "EMP-1",
        django_capture_on_commit_callbacks,
        "obama.jpg",
        real_photos["obama.jpg"],
    )
    # given a worker that does not answer within the timeout (the job stays queued)
    queued: list[tuple[int, ...]] = []
    monkeypatch.setattr(
        tasks, "dispatch_and_wait", lambda task, *args, timeout: queued.append(args) or False
    )
    # when a verification is requested
    response = verify(alice, "acme", subject_id, "obama2.jpg", real_photos["obama2.jpg"])
    # then 202 with a status URL that says pending, and after the worker ran, the answer
    assert response.status_code == 202
    url = response.json()["status_url"]
    assert alice.get(url).json()["status"] == "pending"
    tasks.verification_process_task.apply(args=queued[0])
    done = alice.get(url).json()
    assert (done["status"], done["verified"], done["error"]) == ("succeeded", True, None)


def test_an_admin_tunes_the_threshold_within_the_safe_bounds(world: Any, alice: APIClient) -> None:
    # given alice (owner) sets a threshold far too permissive
    url = f"{API}/acme/biometrics/settings/"
    response = alice.patch(url, {"threshold": 0.5, "retention_days": 90}, format="json")
    # then it is stored but the effective threshold is clamped to the safe maximum
    assert response.status_code == 200
    assert response.json() == {"threshold": 0.5, "retention_days": 90, "effective_threshold": 0.09}
    # and a plain member may read but not change it
    bob = api_as(world.bob, world.acme)
    assert bob.get(url).json()["effective_threshold"] == 0.09
    assert bob.patch(url, {"threshold": 0.05}, format="json").status_code == 403
    # and a value out of range is refused
    refused = alice.patch(url, {"threshold": 3}, format="json")
    assert (refused.status_code, error_code(refused)) == (400, "validation_error")


def test_verifying_a_subject_without_a_template_is_refused_as_not_enrolled(
    alice: APIClient,
) -> None:
    subject_id = create_subject(alice, "acme", "EMP-001")
    grant(alice, "acme", subject_id, "verification")
    response = verify(alice, "acme", subject_id, "a.jpg", make_gradient_jpeg())
    assert (response.status_code, error_code(response)) == (409, "not_enrolled")
    assert ProbeImage.objects.count() == 0
