"""Writes of the biometrics app: keyword-only, typed, atomic, audited (house style rule 2).

Consent comes first: capture, enrollment, verification and identification each need a valid
consent of their purpose, checked when the request is made *and* again by the worker, so a
revocation stops use at once, even of work already queued. Every consent and template change
queues its commitment on the ledger outbox in the same transaction.

The ``*_process`` functions run in Celery workers (biometrics/tasks.py) with the engine; they
are idempotent: a finished job is returned as it is, and templates are written in the same
transaction that marks the enrollment finished (plus a unique constraint), so a retried job
never stores a photo twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from biometrics import crypto, selectors
from biometrics.engine import MODEL_ID, MODEL_NAME, FaceResult
from biometrics.errors import (
    CONSENT_REQUIRED,
    ERROR_CATALOG,
    IMAGE_TOO_LARGE,
    SUBJECT_ERASED,
    UNSUPPORTED_MEDIA_TYPE,
    BiometricError,
    EngineUnavailable,
)
from biometrics.events import EnrollmentProgressData, publish_enrollment_progress
from biometrics.images import MAX_UPLOAD_BYTES, sniff_format
from biometrics.matching import is_match
from biometrics.matching.codec import encode_embedding
from biometrics.models import (
    BiometricSettings,
    Consent,
    Enrollment,
    EnrollmentImage,
    FaceTemplate,
    IdentificationAttempt,
    MatchStatus,
    ProbeImage,
    Purpose,
    Subject,
    VerificationAttempt,
)
from ledger.outbox import ledger_submit
from tenants.errors import TenantError
from tenants.models import Organization
from tenants.services import audit_record

logger = logging.getLogger(__name__)

MAX_ENROLLMENT_IMAGES: Final = 5
PROBE_MAX_AGE: Final = timedelta(hours=1)
DUPLICATE_SUBJECT: Final = "duplicate_subject"
ENGINE_UNAVAILABLE: Final = "engine_unavailable"
IMAGES_MISSING: Final = "images_missing"

# The consent texts shown to the person before capture; the hash of the exact text is stored
# with each consent. Add a version, never edit one.
POLICY_TEXTS: Final[dict[str, str]] = {
    "1.0": (
        "I agree that {organization} takes photos of my face and derives from them a biometric "
        "template (a list of numbers describing my face) for the purpose stated below. The "
        "photos are deleted once the template is made. The template is stored encrypted, is "
        "never shared with other organizations, and is destroyed when I withdraw this consent "
        "or ask for erasure, which I may do at any time. Only a keyed fingerprint of this "
        "consent, which reveals nothing about me, is recorded on the alliance ledger."
    ),
}
CURRENT_POLICY_VERSION: Final = "1.0"


# Outcomes of a job that are not in the engine's catalog: code -> (message, HTTP status).
JOB_ERRORS: Final[dict[str, tuple[str, int]]] = {
    DUPLICATE_SUBJECT: (
        "This face matches another subject already enrolled; review the "
        "duplicates, or enroll anyway if they are different people.",
        409,
    ),
    "not_enrolled": ("This subject has no enrolled face yet.", 409),
    IMAGES_MISSING: ("The photos of this enrollment are no longer available.", 409),
    ENGINE_UNAVAILABLE: ("The face engine is not available; contact the administrators.", 503),
}


def error_message(code: str) -> str:
    """The human message for any biometric error or job outcome code."""
    return (ERROR_CATALOG.get(code) or JOB_ERRORS.get(code) or (code.replace("_", " "), 400))[0]


def error_http_status(code: str) -> int:
    return (ERROR_CATALOG.get(code) or JOB_ERRORS.get(code) or ("", 400))[1]


# --- errors that are not about the photo --------------------------------------------------------
class SubjectRefTaken(TenantError):
    code = "external_ref_taken"
    status = 409


class UnknownPolicyVersion(TenantError):
    code = "unknown_policy_version"
    status = 400


class InvalidImages(TenantError):
    code = "invalid_images"
    status = 400


class NotEnrolled(TenantError):
    code = "not_enrolled"
    status = 409


class FaceExtractor(Protocol):
    """What the processing functions need from the engine (``biometrics.engine.FaceEngine``)."""

    def extract_from_upload(self, data: bytes) -> FaceResult: ...


def policy_text(*, organization: Organization, version: str) -> str:
    """The consent text of ``version`` as shown to a person of ``organization``."""
    if version not in POLICY_TEXTS:
        raise UnknownPolicyVersion(
            f"Unknown consent policy version {version!r}.", details={"known": list(POLICY_TEXTS)}
        )
    return POLICY_TEXTS[version].format(organization=organization.name)


# --- settings -----------------------------------------------------------------------------------
@transaction.atomic
def settings_update(
    *,
    organization: Organization,
    threshold: float | None,
    retention_days: int | None,
    actor: AbstractBaseUser | None,
    ip: str | None = None,
) -> BiometricSettings:
    """Change the threshold override (clamped where used) and the template retention period."""
    row, _ = BiometricSettings.objects.select_for_update().get_or_create(organization=organization)
    row.threshold, row.retention_days = threshold, retention_days
    row.save(update_fields=["threshold", "retention_days"])
    audit_record(
        organization=organization,
        actor=actor,
        action="biometrics.settings.updated",
        obj=row,
        ip=ip,
        details={"threshold": threshold, "retention_days": retention_days},
    )
    return row


def _bump_gallery(organization: Organization) -> None:
    row, _ = BiometricSettings.objects.get_or_create(organization=organization)
    BiometricSettings.objects.filter(pk=row.pk).update(gallery_version=F("gallery_version") + 1)


# --- subjects and consents ----------------------------------------------------------------------
@transaction.atomic
def subject_create(
    *,
    organization: Organization,
    external_ref: str,
    display_name: str,
    actor: AbstractBaseUser | None,
    ip: str | None = None,
) -> Subject:
    """Create a subject with a fresh wrapped data key. ``external_ref`` is unique per org."""
    if Subject.objects.filter(organization=organization, external_ref=external_ref).exists():
        raise SubjectRefTaken(f"A subject with the reference {external_ref!r} already exists.")
    subject = Subject.objects.create(
        organization=organization,
        external_ref=external_ref,
        display_name=display_name,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    # The wrap is bound to the subject's id, known only after the insert.
    subject.data_key_wrapped = crypto.wrap_data_key(
        crypto.generate_data_key(), organization_id=organization.pk, subject_id=subject.pk
    )
    subject.save(update_fields=["data_key_wrapped"])
    audit_record(
        organization=organization,
        actor=actor,
        action="biometrics.subject.created",
        obj=subject,
        ip=ip,
    )
    return subject


def _require_active(subject: Subject) -> None:
    if subject.is_erased:
        raise BiometricError(SUBJECT_ERASED)


def _require_consent(organization: Organization, subject: Subject, purpose: str) -> None:
    if not selectors.has_valid_consent(organization=organization, subject=subject, purpose=purpose):
        raise BiometricError(CONSENT_REQUIRED, details={"purpose": purpose})


@transaction.atomic
def consent_grant(
    *,
    organization: Organization,
    subject: Subject,
    purpose: str,
    policy_version: str,
    method: str,
    granted_by: AbstractBaseUser | None,
    expires_at: datetime | None = None,
    ip: str | None = None,
) -> Consent:
    """Record a consent and queue its commitment (``consent``/``granted``) on the ledger."""
    _require_active(subject)
    text = policy_text(organization=organization, version=policy_version)
    consent = Consent.objects.create(
        organization=organization,
        subject=subject,
        purpose=Purpose(purpose),
        policy_version=policy_version,
        policy_text_sha256=hashlib.sha256(text.encode()).hexdigest(),
        method=method,
        granted_by=granted_by if granted_by is not None and granted_by.is_authenticated else None,
        expires_at=expires_at,
    )
    consent.commitment = crypto.compute_commitment(
        organization.pk,
        "consent",
        subject.pk,
        consent.pk,
        consent.purpose,
        consent.policy_version,
        consent.policy_text_sha256,
        consent.granted_at.isoformat(),
    )
    consent.save(update_fields=["commitment"])
    ledger_submit(
        organization=organization,
        tx_type="consent",
        payload={"action": "granted", "commitment": consent.commitment},
        idempotency_key=f"biometrics.consent.{consent.commitment}.granted",
    )
    audit_record(
        organization=organization,
        actor=granted_by,
        action="biometrics.consent.granted",
        obj=consent,
        ip=ip,
        details={"subject": subject.pk, "purpose": purpose},
    )
    return consent


@transaction.atomic
def consent_revoke(
    *,
    organization: Organization,
    consent: Consent,
    actor: AbstractBaseUser | None,
    ip: str | None = None,
) -> Consent:
    """Revoke a consent (idempotent). Without an enrollment consent left, the subject's
    templates are revoked too: they may no longer be kept."""
    consent = Consent.objects.select_for_update().get(pk=consent.pk, organization=organization)
    if consent.revoked_at is not None:
        return consent
    consent.revoked_at = timezone.now()
    consent.revoked_by = actor if actor is not None and actor.is_authenticated else None
    consent.save(update_fields=["revoked_at", "revoked_by"])
    ledger_submit(
        organization=organization,
        tx_type="consent",
        payload={"action": "revoked", "commitment": consent.commitment},
        idempotency_key=f"biometrics.consent.{consent.commitment}.revoked",
    )
    subject = consent.subject
    if consent.purpose == Purpose.ENROLLMENT and not selectors.has_valid_consent(
        organization=organization, subject=subject, purpose=Purpose.ENROLLMENT
    ):
        _templates_revoke(
            organization, FaceTemplate.objects.filter(organization=organization, subject=subject)
        )
    audit_record(
        organization=organization,
        actor=actor,
        action="biometrics.consent.revoked",
        obj=consent,
        ip=ip,
        details={"subject": subject.pk, "purpose": consent.purpose},
    )
    return consent


def _templates_revoke(organization: Organization, templates: Any) -> int:
    """Queue each template's revocation commitment, delete the templates, bump the gallery."""
    count = 0
    for template in templates.only("pk", "commitment"):
        ledger_submit(
            organization=organization,
            tx_type="biometric_commitment",
            payload={"action": "revoked", "commitment": template.commitment},
            idempotency_key=f"biometrics.template.{template.commitment}.revoked",
        )
        count += 1
    if count:
        templates.delete()
        _bump_gallery(organization)
    return count


@transaction.atomic
def subject_erase(
    *,
    organization: Organization,
    subject: Subject,
    actor: AbstractBaseUser | None,
    ip: str | None = None,
) -> Subject:
    """Erase a subject: destroy its data key (crypto-shredding), revoke its templates and
    consents on the ledger, drop it from the gallery, keep only a tombstone without personal
    data. Later requests about it get ``subject_erased``."""
    subject = Subject.objects.select_for_update().get(pk=subject.pk, organization=organization)
    _require_active(subject)
    _templates_revoke(
        organization, FaceTemplate.objects.filter(organization=organization, subject=subject)
    )
    for consent in Consent.objects.filter(
        organization=organization, subject=subject, revoked_at__isnull=True
    ):
        consent_revoke(organization=organization, consent=consent, actor=actor, ip=ip)
    EnrollmentImage.objects.filter(organization=organization, enrollment__subject=subject).delete()
    Enrollment.objects.filter(
        organization=organization,
        subject=subject,
        status__in=[Enrollment.Status.PENDING, Enrollment.Status.PROCESSING],
    ).update(status=Enrollment.Status.FAILED, error_code=SUBJECT_ERASED, updated_at=timezone.now())
    subject.status = Subject.Status.ERASED
    subject.data_key_wrapped = None
    subject.display_name = ""
    subject.external_ref = f"erased-{subject.pk}"  # frees the reference, keeps no personal data
    subject.erased_at = timezone.now()
    subject.save(
        update_fields=["status", "data_key_wrapped", "display_name", "external_ref", "erased_at"]
    )
    _bump_gallery(organization)
    audit_record(
        organization=organization,
        actor=actor,
        action="biometrics.subject.erased",
        obj=subject,
        ip=ip,
    )
    return subject


# --- uploads ------------------------------------------------------------------------------------
def check_upload(data: bytes) -> None:
    """The cheap checks the web process makes before queueing a photo: size and real format
    (magic bytes). Decoding, pixel limits and faces are the worker's job."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise BiometricError(
            IMAGE_TOO_LARGE, details={"bytes": len(data), "max_bytes": MAX_UPLOAD_BYTES}
        )
    if sniff_format(data) is None:
        raise BiometricError(UNSUPPORTED_MEDIA_TYPE)


def _image_aad(organization_id: int, enrollment_id: int, position: int) -> bytes:
    return b"enrollment-image|%d|%d|%d" % (organization_id, enrollment_id, position)


def _probe_aad(organization_id: int, probe_id: int) -> bytes:
    return b"probe|%d|%d" % (organization_id, probe_id)


def _progress(enrollment: Enrollment) -> None:
    data = EnrollmentProgressData(
        enrollment_id=enrollment.pk,
        subject_id=enrollment.subject_id,
        status=enrollment.status,
        progress=enrollment.progress,
        error_code=enrollment.error_code,
        duplicates=len(enrollment.duplicates),
    )
    publish_enrollment_progress(
        organization_id=enrollment.organization_id,
        organization_slug=enrollment.organization.slug,
        data=data,
    )


# --- enrollment ---------------------------------------------------------------------------------
@transaction.atomic
def enrollment_create(
    *,
    organization: Organization,
    subject: Subject,
    images: Sequence[bytes],
    actor: AbstractBaseUser | None,
    allow_duplicates: bool = False,
    ip: str | None = None,
) -> Enrollment:
    """Queue an enrollment of 1 to 5 photos. The photos are sealed with the subject's data key
    until the worker has used them; the job starts after commit."""
    _require_active(subject)
    _require_consent(organization, subject, Purpose.ENROLLMENT)
    if not 1 <= len(images) <= MAX_ENROLLMENT_IMAGES:
        raise InvalidImages(
            f"Send 1 to {MAX_ENROLLMENT_IMAGES} images.", details={"count": len(images)}
        )
    for position, data in enumerate(images):
        try:
            check_upload(data)
        except BiometricError as exc:
            exc.details = {**exc.details, "image": position}
            raise
    key = selectors.subject_data_key(subject)
    enrollment = Enrollment.objects.create(
        organization=organization,
        subject=subject,
        image_count=len(images),
        created_by=actor if actor is not None and actor.is_authenticated else None,
        allow_duplicates=allow_duplicates,
    )
    for position, data in enumerate(images):
        sealed = crypto.seal(key, data, aad=_image_aad(organization.pk, enrollment.pk, position))
        EnrollmentImage.objects.create(
            organization=organization,
            enrollment=enrollment,
            position=position,
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
        )
    audit_record(
        organization=organization,
        actor=actor,
        action="biometrics.enrollment.created",
        obj=enrollment,
        ip=ip,
        details={"subject": subject.pk, "images": len(images)},
    )
    _progress(enrollment)
    from biometrics import tasks  # tasks import this module

    transaction.on_commit(
        lambda: tasks.enrollment_process_task.delay(enrollment.pk, organization.pk)
    )
    return enrollment


def _save_progress(enrollment: Enrollment, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(enrollment, name, value)
    enrollment.updated_at = timezone.now()
    Enrollment.objects.filter(pk=enrollment.pk).update(updated_at=enrollment.updated_at, **fields)
    _progress(enrollment)


@transaction.atomic
def _enrollment_fail(
    enrollment: Enrollment, code: str, message: str, duplicates: list[dict[str, Any]] | None = None
) -> Enrollment:
    locked = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
    if locked.is_finished:
        return locked
    EnrollmentImage.objects.filter(enrollment=locked).delete()  # nothing is kept on failure
    locked.status, locked.error_code, locked.error_message = (
        Enrollment.Status.FAILED,
        code,
        message[:200],
    )
    locked.duplicates = duplicates or []
    locked.progress, locked.completed_at = 100, timezone.now()
    locked.updated_at = locked.completed_at
    locked.save()
    _progress(locked)
    return locked


def enrollment_process(
    *, enrollment_id: int, organization_id: int, engine: FaceExtractor
) -> Enrollment:
    """Turn an enrollment's photos into templates (worker side; idempotent).

    Every photo is analysed before anything is written; a photo that cannot be used fails the
    whole job with its code and nothing is stored. A face matching another subject fails it with
    ``duplicate_subject`` (listing them) unless the operator allowed duplicates.
    """
    enrollment = Enrollment.objects.select_related("subject", "organization").get(
        pk=enrollment_id, organization_id=organization_id
    )
    if enrollment.is_finished:
        return enrollment
    organization, subject = enrollment.organization, enrollment.subject
    _save_progress(
        enrollment,
        status=Enrollment.Status.PROCESSING,
        progress=5,
        attempts=enrollment.attempts + 1,
    )
    try:
        _require_active(subject)
        _require_consent(organization, subject, Purpose.ENROLLMENT)
        key = selectors.subject_data_key(subject)
        images = list(EnrollmentImage.objects.filter(enrollment=enrollment))
        if len(images) != enrollment.image_count:
            # Photos gone while the job is unfinished (manual deletion): never enroll a part.
            return _enrollment_fail(enrollment, IMAGES_MISSING, "The photos are gone.")
        faces: list[tuple[int, FaceResult]] = []
        for done, image in enumerate(images, start=1):
            data = crypto.open_sealed(
                key,
                crypto.Sealed(bytes(image.nonce), bytes(image.ciphertext)),
                aad=_image_aad(organization.pk, enrollment.pk, image.position),
            )
            try:
                faces.append((image.position, engine.extract_from_upload(data)))
            except BiometricError as exc:
                exc.details = {**exc.details, "image": image.position}
                raise
            _save_progress(enrollment, progress=5 + round(80 * done / len(images)))
    except BiometricError as exc:
        return _enrollment_fail(enrollment, exc.code, exc.message)
    except EngineUnavailable as exc:
        logger.exception("Face engine unavailable for enrollment %s", enrollment.pk)
        return _enrollment_fail(enrollment, ENGINE_UNAVAILABLE, str(exc))

    duplicates = _find_duplicates(organization, subject, faces)
    if duplicates and not enrollment.allow_duplicates:
        return _enrollment_fail(
            enrollment,
            DUPLICATE_SUBJECT,
            "This face matches another subject already enrolled.",
            duplicates,
        )
    return _enrollment_store(enrollment, faces, duplicates, key)


def _find_duplicates(
    organization: Organization, subject: Subject, faces: list[tuple[int, FaceResult]]
) -> list[dict[str, Any]]:
    gallery = selectors.gallery_for(organization=organization)
    threshold = selectors.threshold_for(organization=organization)
    best: dict[int, float] = {}
    for _position, face in faces:
        for match in gallery.search(face.embedding, top_k=6, threshold=threshold):
            if match.id != subject.pk:
                best[match.id] = min(best.get(match.id, 2.0), match.distance)
    refs = dict(
        Subject.objects.filter(
            organization=organization, pk__in=best, status=Subject.Status.ACTIVE
        ).values_list("pk", "external_ref")
    )
    return sorted(
        (
            {"subject_id": pk, "external_ref": refs[pk], "distance": round(d, 6)}
            for pk, d in best.items()
            if pk in refs
        ),
        key=lambda d: d["distance"],
    )


@transaction.atomic
def _enrollment_store(
    enrollment: Enrollment,
    faces: list[tuple[int, FaceResult]],
    duplicates: list[dict[str, Any]],
    key: bytes,
) -> Enrollment:
    locked = (
        Enrollment.objects.select_for_update().select_related("organization").get(pk=enrollment.pk)
    )
    if locked.is_finished:  # a concurrent duplicate delivery finished first
        return locked
    organization = locked.organization
    model_name, model_version = MODEL_ID.split("/", 1)
    assert model_name == MODEL_NAME
    for position, face in faces:
        plaintext = encode_embedding(face.embedding)
        sealed = crypto.seal(
            key, plaintext, aad=selectors.template_aad(organization.pk, locked.subject_id)
        )
        commitment = crypto.compute_commitment(
            organization.pk, "template", locked.subject_id, hashlib.sha256(plaintext).hexdigest()
        )
        FaceTemplate.objects.create(
            organization=organization,
            subject_id=locked.subject_id,
            enrollment=locked,
            source_position=position,
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
            model=model_name,
            model_version=model_version,
            quality=face.quality.score,
            box=face.box._asdict(),
            commitment=commitment,
        )
        ledger_submit(
            organization=organization,
            tx_type="biometric_commitment",
            payload={"action": "enrolled", "commitment": commitment},
            idempotency_key=f"biometrics.template.{commitment}.enrolled",
        )
    EnrollmentImage.objects.filter(enrollment=locked).delete()
    locked.faces = [
        {
            "image": position,
            "box": face.box._asdict(),
            "image_size": list(face.image_size),
            "quality": face.quality.score,
            "sharpness": face.quality.sharpness,
        }
        for position, face in faces
    ]
    locked.duplicates = duplicates
    locked.status, locked.progress = Enrollment.Status.SUCCEEDED, 100
    locked.completed_at = locked.updated_at = timezone.now()
    locked.save()
    _bump_gallery(organization)
    _progress(locked)
    return locked


# --- verification and identification ------------------------------------------------------------
def _probe_create(organization: Organization, data: bytes) -> ProbeImage:
    check_upload(data)
    probe = ProbeImage.objects.create(organization=organization, nonce=b"", ciphertext=b"")
    sealed = crypto.seal(
        crypto.get_probe_key(organization.pk), data, aad=_probe_aad(organization.pk, probe.pk)
    )
    probe.nonce, probe.ciphertext = sealed.nonce, sealed.ciphertext
    probe.save(update_fields=["nonce", "ciphertext"])
    return probe


def _probe_take(probe_id: int | None, organization_id: int) -> bytes | None:
    """The probe photo's bytes, deleting it: a photo is read once, then it is gone."""
    probe = ProbeImage.objects.filter(pk=probe_id, organization_id=organization_id).first()
    if probe is None:
        return None
    data = crypto.open_sealed(
        crypto.get_probe_key(organization_id),
        crypto.Sealed(bytes(probe.nonce), bytes(probe.ciphertext)),
        aad=_probe_aad(organization_id, probe.pk),
    )
    probe.delete()
    return data


@transaction.atomic
def verification_request(
    *,
    organization: Organization,
    subject: Subject,
    image: bytes,
    actor: AbstractBaseUser | None,
) -> VerificationAttempt:
    """Check consent and enrollment, seal the photo for a worker, record a pending attempt."""
    _require_active(subject)
    _require_consent(organization, subject, Purpose.VERIFICATION)
    if not FaceTemplate.objects.filter(organization=organization, subject=subject).exists():
        raise NotEnrolled("This subject has no enrolled face yet.")
    return VerificationAttempt.objects.create(
        organization=organization,
        subject=subject,
        probe=_probe_create(organization, image),
        requested_by=actor if actor is not None and actor.is_authenticated else None,
        threshold=selectors.threshold_for(organization=organization),
        model=MODEL_ID,
    )


@transaction.atomic
def _attempt_finish(attempt: Any, **fields: Any) -> Any:
    locked = type(attempt).objects.select_for_update().get(pk=attempt.pk)
    if locked.status != MatchStatus.PENDING:
        return locked
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.save()
    return locked


def verification_process(
    *, attempt_id: int, organization_id: int, engine: FaceExtractor
) -> VerificationAttempt:
    """Compare the probe with the subject's templates (worker side; idempotent)."""
    attempt = VerificationAttempt.objects.select_related("subject", "organization").get(
        pk=attempt_id, organization_id=organization_id
    )
    if attempt.status != MatchStatus.PENDING:
        return attempt
    started = time.perf_counter()
    organization, subject = attempt.organization, attempt.subject
    data = _probe_take(attempt.probe_id, organization_id)
    try:
        if data is None:
            raise BiometricError(SUBJECT_ERASED, "The photo is no longer available.")
        _require_active(subject)
        _require_consent(organization, subject, Purpose.VERIFICATION)  # revocation stops use
        face = engine.extract_from_upload(data)
        stored = selectors.template_embeddings(organization=organization, subject=subject)
    except BiometricError as exc:
        return _attempt_finish(
            attempt, status=MatchStatus.FAILED, error_code=exc.code, duration_ms=_ms(started)
        )
    except EngineUnavailable:
        logger.exception("Face engine unavailable for verification %s", attempt.pk)
        return _attempt_finish(attempt, status=MatchStatus.FAILED, error_code=ENGINE_UNAVAILABLE)
    if not stored:
        return _attempt_finish(
            attempt,
            status=MatchStatus.FAILED,
            error_code=NotEnrolled.code,
            duration_ms=_ms(started),
        )
    distances = [float(1.0 - float(emb @ face.embedding)) for _t, emb in stored]
    best = max(0.0, min(distances))
    verified = is_match(best, attempt.threshold)
    if verified:
        now = timezone.now()
        FaceTemplate.objects.filter(pk__in=[t.pk for t, _e in stored]).update(last_used_at=now)
        Subject.objects.filter(pk=subject.pk).update(last_used_at=now)
    return _attempt_finish(
        attempt,
        status=MatchStatus.SUCCEEDED,
        verified=verified,
        distance=round(best, 6),
        duration_ms=_ms(started),
    )


@transaction.atomic
def identification_request(
    *,
    organization: Organization,
    image: bytes,
    top_k: int,
    actor: AbstractBaseUser | None,
) -> IdentificationAttempt:
    """Seal the photo for a worker and record a pending 1:N search."""
    return IdentificationAttempt.objects.create(
        organization=organization,
        probe=_probe_create(organization, image),
        top_k=top_k,
        requested_by=actor if actor is not None and actor.is_authenticated else None,
        threshold=selectors.threshold_for(organization=organization),
        model=MODEL_ID,
    )


def identification_process(
    *, attempt_id: int, organization_id: int, engine: FaceExtractor
) -> IdentificationAttempt:
    """Search the probe in the organization's gallery (worker side; idempotent). Only active
    subjects with a valid identification consent can be candidates."""
    attempt = IdentificationAttempt.objects.select_related("organization").get(
        pk=attempt_id, organization_id=organization_id
    )
    if attempt.status != MatchStatus.PENDING:
        return attempt
    started = time.perf_counter()
    organization = attempt.organization
    data = _probe_take(attempt.probe_id, organization_id)
    try:
        if data is None:
            raise BiometricError(SUBJECT_ERASED, "The photo is no longer available.")
        face = engine.extract_from_upload(data)
    except BiometricError as exc:
        return _attempt_finish(
            attempt, status=MatchStatus.FAILED, error_code=exc.code, duration_ms=_ms(started)
        )
    except EngineUnavailable:
        logger.exception("Face engine unavailable for identification %s", attempt.pk)
        return _attempt_finish(attempt, status=MatchStatus.FAILED, error_code=ENGINE_UNAVAILABLE)
    gallery = selectors.gallery_for(organization=organization)
    # Ask for more than top_k: subjects without identification consent are filtered out after.
    matches = gallery.search(
        face.embedding, top_k=max(attempt.top_k * 4, 20), threshold=attempt.threshold
    )
    allowed = selectors.identifiable_subject_ids(
        organization=organization, subject_ids=[m.id for m in matches]
    )
    candidates = [
        {"subject_id": m.id, "distance": round(m.distance, 6)} for m in matches if m.id in allowed
    ][: attempt.top_k]
    if candidates:
        Subject.objects.filter(pk=candidates[0]["subject_id"]).update(last_used_at=timezone.now())
    return _attempt_finish(
        attempt,
        status=MatchStatus.SUCCEEDED,
        candidates=candidates,
        distance=candidates[0]["distance"] if candidates else None,
        duration_ms=_ms(started),
    )


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


# --- retention ----------------------------------------------------------------------------------
def retention_apply(*, now: datetime | None = None) -> dict[str, int]:
    """Erase templates unused for longer than each organization's ``retention_days`` (and probe
    photos a dead worker left behind). Runs in system context from a periodic task."""
    now = now or timezone.now()
    erased = 0
    for row in BiometricSettings.objects.filter(retention_days__isnull=False).select_related(
        "organization"
    ):
        cutoff = now - timedelta(days=row.retention_days or 0)
        stale = FaceTemplate.objects.filter(organization=row.organization).filter(
            last_used_at__lt=cutoff
        ) | FaceTemplate.objects.filter(
            organization=row.organization, last_used_at__isnull=True, created_at__lt=cutoff
        )
        with transaction.atomic():
            erased += _templates_revoke(row.organization, stale)
    probes, _ = ProbeImage.objects.filter(created_at__lt=now - PROBE_MAX_AGE).delete()
    return {"templates": erased, "probes": probes}
