"""1:1 verification and 1:N identification: a pending attempt (web), its answer (worker)."""

from __future__ import annotations

import logging
import time
from typing import Any, TypedDict, TypeVar

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from biometrics import crypto, selectors
from biometrics.engine import MODEL_ID
from biometrics.errors import (
    ENGINE_UNAVAILABLE,
    SUBJECT_ERASED,
    BiometricError,
    EngineUnavailable,
    NotEnrolled,
)
from biometrics.matching import is_match
from biometrics.models import (
    FaceTemplate,
    IdentificationAttempt,
    MatchStatus,
    ProbeImage,
    Purpose,
    Subject,
    VerificationAttempt,
)
from biometrics.services.common import (
    FaceExtractor,
    check_upload,
    require_active,
    require_consent,
)
from tenants.models import Organization

logger = logging.getLogger(__name__)

_Attempt = TypeVar("_Attempt", VerificationAttempt, IdentificationAttempt)


class Candidate(TypedDict):
    """One entry of ``IdentificationAttempt.candidates``: a subject id and its distance."""

    subject_id: int
    distance: float


def _probe_aad(organization_id: int, probe_id: int) -> bytes:
    return b"probe|%d|%d" % (organization_id, probe_id)


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
    if probe_id is None:
        return None
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
    actor: User | None,
) -> VerificationAttempt:
    """Check consent and enrollment, seal the photo for a worker, record a pending attempt."""
    require_active(subject)
    require_consent(organization, subject, Purpose.VERIFICATION)
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
def _attempt_finish(attempt: _Attempt, **fields: Any) -> _Attempt:
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
        require_active(subject)
        require_consent(organization, subject, Purpose.VERIFICATION)  # revocation stops use
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
    actor: User | None,
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
        Candidate(subject_id=m.id, distance=round(m.distance, 6))
        for m in matches
        if m.id in allowed
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
