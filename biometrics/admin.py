"""Platform admin views of the biometrics tables: metadata only, never key material or pixels.

Subjects are erased through the service (crypto-shredding and ledger revocation), never by a
plain admin delete, so deletion is disabled here.
"""

from __future__ import annotations

from django.contrib import admin

from biometrics.models import (
    BiometricSettings,
    Consent,
    Enrollment,
    FaceTemplate,
    IdentificationAttempt,
    Subject,
    VerificationAttempt,
)
from kernel.admin import ReadOnlyAdmin


@admin.register(Subject)
class SubjectAdmin(ReadOnlyAdmin[Subject]):
    list_display = ["id", "organization", "external_ref", "status", "created_at", "last_used_at"]
    list_filter = ["status", "organization"]
    search_fields = ["external_ref"]
    exclude = ["data_key_wrapped"]


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin[Consent]):
    list_display = [
        "id",
        "organization",
        "subject",
        "purpose",
        "policy_version",
        "granted_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["purpose", "organization"]


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyAdmin[Enrollment]):
    list_display = [
        "id",
        "organization",
        "subject",
        "status",
        "progress",
        "error_code",
        "attempts",
        "created_at",
    ]
    list_filter = ["status", "organization"]


@admin.register(FaceTemplate)
class FaceTemplateAdmin(ReadOnlyAdmin[FaceTemplate]):
    list_display = [
        "id",
        "organization",
        "subject",
        "model",
        "model_version",
        "quality",
        "created_at",
        "last_used_at",
    ]
    exclude = ["ciphertext", "nonce"]


@admin.register(VerificationAttempt)
class VerificationAttemptAdmin(ReadOnlyAdmin[VerificationAttempt]):
    list_display = [
        "id",
        "organization",
        "subject",
        "status",
        "verified",
        "distance",
        "threshold",
        "duration_ms",
        "created_at",
    ]


@admin.register(IdentificationAttempt)
class IdentificationAttemptAdmin(ReadOnlyAdmin[IdentificationAttempt]):
    list_display = [
        "id",
        "organization",
        "status",
        "distance",
        "threshold",
        "duration_ms",
        "created_at",
    ]


@admin.register(BiometricSettings)
class BiometricSettingsAdmin(admin.ModelAdmin[BiometricSettings]):
    list_display = ["organization", "threshold", "retention_days", "gallery_version"]
    readonly_fields = ["gallery_version"]
