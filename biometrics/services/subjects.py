"""Subjects, consents, erasure, settings and retention (writes; keyword-only, atomic, audited)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from biometrics import crypto, selectors
from biometrics.errors import (
    SUBJECT_ERASED,
    SubjectRefTaken,
)
from biometrics.models import (
    BiometricSettings,
    Consent,
    Enrollment,
    EnrollmentImage,
    FaceTemplate,
    ProbeImage,
    Purpose,
    Subject,
)
from biometrics.services.common import (
    PROBE_MAX_AGE,
    bump_gallery,
    policy_text,
    require_active,
)
from ledger.outbox import ledger_submit
from tenants.models import Organization
from tenants.services import audit_record


# --- settings -----------------------------------------------------------------------------------
@transaction.atomic
def settings_update(
    *,
    organization: Organization,
    threshold: float | None,
    retention_days: int | None,
    actor: User | None,
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


# --- subjects and consents ----------------------------------------------------------------------
@transaction.atomic
def subject_create(
    *,
    organization: Organization,
    external_ref: str,
    display_name: str,
    actor: User | None,
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


@transaction.atomic
def consent_grant(
    *,
    organization: Organization,
    subject: Subject,
    purpose: str,
    policy_version: str,
    method: str,
    granted_by: User | None,
    expires_at: datetime | None = None,
    ip: str | None = None,
) -> Consent:
    """Record a consent and queue its commitment (``consent``/``granted``) on the ledger."""
    require_active(subject)
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
    actor: User | None,
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
        bump_gallery(organization)
    return count


@transaction.atomic
def subject_erase(
    *,
    organization: Organization,
    subject: Subject,
    actor: User | None,
    ip: str | None = None,
) -> Subject:
    """Erase a subject: destroy its data key (crypto-shredding), revoke its templates and
    consents on the ledger, drop it from the gallery, keep only a tombstone without personal
    data. Later requests about it get ``subject_erased``."""
    subject = Subject.objects.select_for_update().get(pk=subject.pk, organization=organization)
    require_active(subject)
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
    bump_gallery(organization)
    audit_record(
        organization=organization,
        actor=actor,
        action="biometrics.subject.erased",
        obj=subject,
        ip=ip,
    )
    return subject


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
