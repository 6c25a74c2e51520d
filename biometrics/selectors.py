"""Reads of the biometrics app. Every selector takes the organization; a ``*_get`` returns the
object or ``None`` (the caller decides what a missing object means: 404 in the API and the UI).

Also home of the per-process 1:N gallery cache: a worker keeps each organization's decrypted
embeddings as one normalised float32 matrix and rebuilds it when the organization's
``gallery_version`` (bumped in the same transaction as any gallery change) has moved on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from biometrics import crypto
from biometrics.engine import DEEPFACE_VERSION, MODEL_NAME
from biometrics.errors import SUBJECT_ERASED, BiometricError
from biometrics.matching import (
    EMBEDDING_DIM,
    Gallery,
    GalleryCache,
    clamp_threshold,
    create_gallery,
)
from biometrics.matching.codec import decode_embedding
from biometrics.models import (
    BiometricSettings,
    Consent,
    Enrollment,
    FaceTemplate,
    IdentificationAttempt,
    Purpose,
    Subject,
    VerificationAttempt,
)
from ledger.models import LedgerOutbox
from tenants.models import Organization

MODEL_VERSION = f"deepface-{DEEPFACE_VERSION}"

# One per worker process; keys are (organization id, organization created_at) so that a reused
# primary key (a test database rolled back, a restored backup) can never see another's gallery.
_galleries: GalleryCache[int] = GalleryCache()


def get_gallery_cache() -> GalleryCache[int]:
    return _galleries


def _gallery_key(organization: Organization) -> tuple[int, str]:
    return (organization.pk, organization.created_at.isoformat())


# --- settings -----------------------------------------------------------------------------------
def settings_for(*, organization: Organization) -> BiometricSettings:
    """The organization's settings (an unsaved default when it never changed them)."""
    found = BiometricSettings.objects.filter(organization=organization).first()
    return found or BiometricSettings(organization=organization)


def threshold_for(*, organization: Organization) -> float:
    """The cosine threshold in force: the organization's override clamped to the safe bounds."""
    return clamp_threshold(settings_for(organization=organization).threshold)


# --- subjects -----------------------------------------------------------------------------------
def subject_list(
    *, organization: Organization, query: str = "", include_erased: bool = False
) -> QuerySet[Subject]:
    subjects = (
        Subject.objects.filter(organization=organization)
        .annotate(template_count=Count("templates", distinct=True))
        .order_by("-created_at", "-id")
    )
    if not include_erased:
        subjects = subjects.filter(status=Subject.Status.ACTIVE)
    if query:
        subjects = subjects.filter(
            Q(external_ref__icontains=query) | Q(display_name__icontains=query)
        )
    return subjects


def subject_get(*, organization: Organization, subject_id: int | str) -> Subject | None:
    """The organization's subject (erased or not), or ``None`` if it has no such subject."""
    pk = _as_id(subject_id)
    if pk is None:
        return None
    return Subject.objects.filter(organization=organization, pk=pk).first()


def consent_list(*, organization: Organization, subject: Subject) -> QuerySet[Consent]:
    return Consent.objects.filter(organization=organization, subject=subject)


def consent_get(
    *, organization: Organization, subject: Subject, consent_id: int | str
) -> Consent | None:
    pk = _as_id(consent_id)
    if pk is None:
        return None
    return Consent.objects.filter(organization=organization, subject=subject, pk=pk).first()


def has_valid_consent(*, organization: Organization, subject: Subject, purpose: str) -> bool:
    """Whether a consent for ``purpose`` is in force now (not revoked, not expired)."""
    return (
        valid_consents(organization=organization, purpose=purpose).filter(subject=subject).exists()
    )


def valid_consents(*, organization: Organization, purpose: str) -> QuerySet[Consent]:
    now = timezone.now()
    return Consent.objects.filter(
        organization=organization, purpose=purpose, revoked_at__isnull=True
    ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def template_list(*, organization: Organization, subject: Subject) -> QuerySet[FaceTemplate]:
    return FaceTemplate.objects.filter(organization=organization, subject=subject).defer(
        "ciphertext", "nonce"
    )


def enrollment_list(*, organization: Organization, subject: Subject) -> QuerySet[Enrollment]:
    return Enrollment.objects.filter(organization=organization, subject=subject)


def enrollment_get(*, organization: Organization, enrollment_id: int | str) -> Enrollment | None:
    pk = _as_id(enrollment_id)
    if pk is None:
        return None
    return (
        Enrollment.objects.filter(organization=organization, pk=pk)
        .select_related("subject")
        .first()
    )


def verification_get(
    *, organization: Organization, attempt_id: int | str
) -> VerificationAttempt | None:
    pk = _as_id(attempt_id)
    if pk is None:
        return None
    return VerificationAttempt.objects.filter(organization=organization, pk=pk).first()


def identification_get(
    *, organization: Organization, attempt_id: int | str
) -> IdentificationAttempt | None:
    pk = _as_id(attempt_id)
    if pk is None:
        return None
    return IdentificationAttempt.objects.filter(organization=organization, pk=pk).first()


def verification_list(
    *, organization: Organization, subject: Subject
) -> QuerySet[VerificationAttempt]:
    return VerificationAttempt.objects.filter(organization=organization, subject=subject)


def identification_list(*, organization: Organization) -> QuerySet[IdentificationAttempt]:
    return IdentificationAttempt.objects.filter(organization=organization)


def commitment_list(*, organization: Organization, subject: Subject) -> list[dict[str, Any]]:
    """The subject's ledger commitments (consents and templates) with their outbox status."""
    commitments: list[dict[str, Any]] = [
        {"kind": "consent", "object": f"consent {c.pk} ({c.purpose})", "commitment": c.commitment}
        for c in consent_list(organization=organization, subject=subject)
        if c.commitment
    ] + [
        {"kind": "template", "object": f"template {t.pk}", "commitment": t.commitment}
        for t in template_list(organization=organization, subject=subject)
    ]
    by_commitment: dict[str, list[str]] = defaultdict(list)
    rows = LedgerOutbox.objects.filter(organization=organization).filter(
        payload__commitment__in=[c["commitment"] for c in commitments]
    )
    for row in rows.order_by("id"):
        by_commitment[row.payload["commitment"]].append(f"{row.payload['action']}: {row.status}")
    for entry in commitments:
        entry["ledger"] = by_commitment.get(entry["commitment"], [])
    return commitments


def candidates_display(
    *,
    organization: Organization,
    candidates: Iterable[dict[str, Any]],
    with_names: bool = False,
) -> list[dict[str, Any]]:
    """Stored identification candidates with their current external references (and display
    names, for the UI); subjects erased since then are left out."""
    candidates = list(candidates)
    subjects = {
        pk: (ref, name)
        for pk, ref, name in Subject.objects.filter(
            organization=organization,
            status=Subject.Status.ACTIVE,
            pk__in=[c["subject_id"] for c in candidates],
        ).values_list("pk", "external_ref", "display_name")
    }
    rows = []
    for c in candidates:
        if c["subject_id"] not in subjects:
            continue
        ref, name = subjects[c["subject_id"]]
        row = {"subject_id": c["subject_id"], "external_ref": ref, "distance": c["distance"]}
        if with_names:
            row["display_name"] = name
        rows.append(row)
    return rows


# --- gallery (workers only: decrypts templates) --------------------------------------------------
def gallery_version(*, organization: Organization) -> int:
    return (
        BiometricSettings.objects.filter(organization=organization)
        .values_list("gallery_version", flat=True)
        .first()
        or 0
    )


def subject_data_key(subject: Subject) -> bytes:
    """The subject's unwrapped data key; ``subject_erased`` once it has been destroyed."""
    if subject.is_erased or not subject.data_key_wrapped:
        raise BiometricError(SUBJECT_ERASED)
    return crypto.unwrap_data_key(
        subject.data_key_wrapped, organization_id=subject.organization_id, subject_id=subject.pk
    )


def template_aad(organization_id: int, subject_id: int) -> bytes:
    return b"template|%d|%d" % (organization_id, subject_id)


def template_embeddings(
    *, organization: Organization, subject: Subject
) -> list[tuple[FaceTemplate, np.ndarray]]:
    """The subject's templates of the current model, decrypted."""
    key = subject_data_key(subject)
    aad = template_aad(organization.pk, subject.pk)
    templates = FaceTemplate.objects.filter(
        organization=organization, subject=subject, model=MODEL_NAME, model_version=MODEL_VERSION
    )
    return [(t, decode_embedding(crypto.open_sealed(key, _sealed(t), aad=aad))) for t in templates]


def _load_gallery(organization: Organization) -> Gallery[int]:
    templates = (
        FaceTemplate.objects.filter(
            organization=organization,
            subject__status=Subject.Status.ACTIVE,
            model=MODEL_NAME,
            model_version=MODEL_VERSION,
        )
        .select_related("subject")
        .order_by("subject_id", "id")
    )
    ids: list[int] = []
    rows: list[np.ndarray] = []
    keys: dict[int, bytes] = {}
    for template in templates:
        subject = template.subject
        if subject.pk not in keys:
            keys[subject.pk] = subject_data_key(subject)
        plaintext = crypto.open_sealed(
            keys[subject.pk], _sealed(template), aad=template_aad(organization.pk, subject.pk)
        )
        ids.append(subject.pk)
        rows.append(decode_embedding(plaintext))
    matrix = np.stack(rows) if rows else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    # FAISS takes over for large galleries when installed (same answers, faster search).
    return create_gallery(ids, matrix)


def gallery_for(*, organization: Organization) -> Gallery[int]:
    """The organization's 1:N gallery (subject ids), from this process's cache when current."""
    version = gallery_version(organization=organization)  # read before loading: see cache.py
    return _galleries.get(_gallery_key(organization), version, lambda: _load_gallery(organization))


def identifiable_subject_ids(*, organization: Organization, subject_ids: Iterable[int]) -> set[int]:
    """Which of ``subject_ids`` are active and consent to identification right now."""
    return set(
        valid_consents(organization=organization, purpose=Purpose.IDENTIFICATION)
        .filter(subject_id__in=list(subject_ids), subject__status=Subject.Status.ACTIVE)
        .values_list("subject_id", flat=True)
    )


def _sealed(template: FaceTemplate) -> crypto.Sealed:
    return crypto.Sealed(nonce=bytes(template.nonce), ciphertext=bytes(template.ciphertext))


def _as_id(value: int | str) -> int | None:
    # An id that is not a number names nothing: the same answer as an unknown id.
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
