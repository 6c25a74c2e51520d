"""Enrollment: photos sealed with the subject key (web), turned into templates (worker)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from biometrics import crypto, selectors
from biometrics.engine import MODEL_ID, MODEL_NAME, FaceResult
from biometrics.errors import (
    DUPLICATE_SUBJECT,
    ENGINE_UNAVAILABLE,
    IMAGES_MISSING,
    BiometricError,
    EngineUnavailable,
    InvalidImages,
)
from biometrics.events import EnrollmentProgressData, publish_enrollment_progress
from biometrics.matching.codec import encode_embedding
from biometrics.models import (
    Enrollment,
    EnrollmentImage,
    FaceTemplate,
    Purpose,
    Subject,
)
from biometrics.services.common import (
    MAX_ENROLLMENT_IMAGES,
    FaceExtractor,
    bump_gallery,
    check_upload,
    require_active,
    require_consent,
)
from ledger.outbox import ledger_submit
from tenants.models import Organization
from tenants.services import audit_record

logger = logging.getLogger(__name__)


def _image_aad(organization_id: int, enrollment_id: int, position: int) -> bytes:
    return b"enrollment-image|%d|%d|%d" % (organization_id, enrollment_id, position)


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
    actor: User | None,
    allow_duplicates: bool = False,
    ip: str | None = None,
) -> Enrollment:
    """Queue an enrollment of 1 to 5 photos. The photos are sealed with the subject's data key
    until the worker has used them; the job starts after commit."""
    require_active(subject)
    require_consent(organization, subject, Purpose.ENROLLMENT)
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
        require_active(subject)
        require_consent(organization, subject, Purpose.ENROLLMENT)
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
    bump_gallery(organization)
    _progress(locked)
    return locked
