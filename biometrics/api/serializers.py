"""Input and output shapes of the biometrics REST API (thin: no business rules here)."""

from __future__ import annotations

import math
from typing import Any

from rest_framework import serializers

from biometrics.errors import error_message
from biometrics.models import BiometricSettings, Consent, Enrollment, Purpose, Subject
from biometrics.services import CURRENT_POLICY_VERSION, MAX_ENROLLMENT_IMAGES
from kernel.patterns import EXTERNAL_REF, anchored


class SubjectInputSerializer(serializers.Serializer[Any]):
    external_ref = serializers.RegexField(
        anchored(EXTERNAL_REF),
        max_length=100,
        help_text="The organization's own reference for the person (unique per organization).",
    )
    display_name = serializers.CharField(max_length=200, allow_blank=True, default="")


class SubjectSerializer(serializers.ModelSerializer[Subject]):
    template_count = serializers.SerializerMethodField()

    class Meta:
        model = Subject
        fields = [
            "id",
            "external_ref",
            "display_name",
            "status",
            "created_at",
            "last_used_at",
            "template_count",
        ]

    def get_template_count(self, subject: Subject) -> int:
        annotated = getattr(subject, "template_count", None)
        return annotated if annotated is not None else subject.templates.count()


class ConsentInputSerializer(serializers.Serializer[Any]):
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    policy_version = serializers.CharField(max_length=50, default=CURRENT_POLICY_VERSION)
    method = serializers.ChoiceField(
        choices=Consent.Method.choices, default=Consent.Method.ELECTRONIC
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ConsentSerializer(serializers.ModelSerializer[Consent]):
    granted_by = serializers.CharField(source="granted_by.username", default=None, read_only=True)
    state = serializers.CharField(read_only=True)

    class Meta:
        model = Consent
        fields = [
            "id",
            "subject",
            "purpose",
            "policy_version",
            "policy_text_sha256",
            "method",
            "granted_by",
            "granted_at",
            "expires_at",
            "revoked_at",
            "state",
            "commitment",
        ]


class EnrollmentInputSerializer(serializers.Serializer[Any]):
    images = serializers.ListField(
        child=serializers.FileField(),
        min_length=1,
        max_length=MAX_ENROLLMENT_IMAGES,
        help_text="1 to 5 photos (JPEG, PNG or WebP, at most 10 MB each) showing one face.",
    )
    allow_duplicates = serializers.BooleanField(
        default=False,
        help_text="Enroll even if the face matches another subject (they are still reported).",
    )


class JobAcceptedSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.CharField()
    status_url = serializers.CharField()


class ErrorSummarySerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    message = serializers.CharField()


class DuplicateSerializer(serializers.Serializer[Any]):
    subject_id = serializers.IntegerField()
    external_ref = serializers.CharField()
    distance = serializers.FloatField()


class EnrollmentSerializer(serializers.ModelSerializer[Enrollment]):
    error = serializers.SerializerMethodField()
    duplicates = DuplicateSerializer(many=True)
    subject_id = serializers.IntegerField()

    class Meta:
        model = Enrollment
        fields = [
            "id",
            "subject_id",
            "status",
            "progress",
            "error",
            "duplicates",
            "faces",
            "attempts",
            "created_at",
            "completed_at",
        ]

    def get_error(self, enrollment: Enrollment) -> dict[str, str] | None:
        return error_summary(enrollment.error_code, enrollment.error_message)


class ImageInputSerializer(serializers.Serializer[Any]):
    image = serializers.FileField(help_text="A photo (JPEG, PNG or WebP, at most 10 MB).")


class IdentifyInputSerializer(ImageInputSerializer):
    top_k = serializers.IntegerField(min_value=1, max_value=20, default=5)


class VerificationResultSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.CharField()
    verified = serializers.BooleanField(allow_null=True)
    distance = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField()
    model = serializers.CharField()
    error = ErrorSummarySerializer(allow_null=True)


class CandidateSerializer(serializers.Serializer[Any]):
    subject_id = serializers.IntegerField()
    external_ref = serializers.CharField()
    distance = serializers.FloatField()


class IdentificationResultSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.CharField()
    candidates = CandidateSerializer(many=True)
    threshold = serializers.FloatField()
    model = serializers.CharField()
    error = ErrorSummarySerializer(allow_null=True)


class BiometricSettingsSerializer(serializers.ModelSerializer[BiometricSettings]):
    effective_threshold = serializers.FloatField(read_only=True)

    class Meta:
        model = BiometricSettings
        fields = ["threshold", "retention_days", "effective_threshold"]
        extra_kwargs = {
            "threshold": {
                "min_value": 0.0,
                "max_value": 2.0,
                "help_text": "Cosine threshold override; clamped to the safe bounds.",
            },
            "retention_days": {"min_value": 1, "max_value": 36500},
        }

    def validate_threshold(self, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise serializers.ValidationError("Must be a finite number.")
        return value


def error_summary(code: str, message: str = "") -> dict[str, str] | None:
    """``{"code", "message"}`` for a failed job (the catalog's message when none was kept)."""
    if not code:
        return None
    return {"code": code, "message": message or error_message(code)}


def attempt_error(attempt: Any) -> dict[str, str] | None:
    return error_summary(attempt.error_code)
