"""Biometrics domain models, all tenant-scoped (non-null ``organization``; RLS on PostgreSQL).

Nothing here stores a face image or an embedding in the clear: templates and pending photos are
AES-GCM ciphertexts under the subject's data key (biometrics/crypto.py), probe photos under a
per-organization key, and both kinds of pending photo are deleted as soon as a worker used them.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.models import Organization


class BiometricSettings(models.Model):
    """An organization's biometric settings and its gallery version.

    ``threshold`` overrides the model's cosine threshold; it is clamped into the matching
    module's safe bounds wherever it is used. ``retention_days`` erases templates unused that
    long (None: keep). ``gallery_version`` is bumped by every change of the 1:N gallery, so each
    worker's in-memory copy knows when to rebuild.
    """

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="biometric_settings"
    )
    threshold = models.FloatField(null=True, blank=True)
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    gallery_version = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "biometric settings"

    def __str__(self) -> str:
        return f"biometric settings of {self.organization}"


class Subject(models.Model):
    """A person an organization enrolls. Erasure keeps only a tombstone without personal data."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ERASED = "erased", "Erased"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    external_ref = models.CharField(max_length=100)
    display_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # nonce || AES-GCM(KEK, data key); NULL once erased (crypto-shredding).
    data_key_wrapped = models.BinaryField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_ref"], name="subject_unique_external_ref"
            )
        ]

    def __str__(self) -> str:
        return f"subject {self.pk}"

    @property
    def is_erased(self) -> bool:
        return self.status == self.Status.ERASED


class Purpose(models.TextChoices):
    ENROLLMENT = "enrollment", "Enrollment"
    VERIFICATION = "verification", "Verification (1:1)"
    IDENTIFICATION = "identification", "Identification (1:N)"


class Consent(models.Model):
    """A subject's consent to one purpose under one version of the policy text."""

    class Method(models.TextChoices):
        WRITTEN = "written", "Signed form"
        ELECTRONIC = "electronic", "Electronic (checkbox or signature pad)"
        VERBAL = "verbal", "Verbal, witnessed by the operator"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    policy_version = models.CharField(max_length=50)
    policy_text_sha256 = models.CharField(max_length=64)
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.ELECTRONIC)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    commitment = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-granted_at", "-id"]
        indexes = [models.Index(fields=["subject", "purpose"], name="consent_subject_purpose")]

    def __str__(self) -> str:
        return f"consent {self.pk} ({self.purpose})"

    def is_valid(self, now: datetime | None = None) -> bool:
        at = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > at)

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "valid"


class Enrollment(models.Model):
    """One enrollment job: 1 to 5 photos turned into templates by a worker."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="enrollments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.CharField(max_length=200, blank=True)
    # [{"subject_id", "external_ref", "distance"}]: other subjects the face matched.
    duplicates = models.JSONField(default=list, blank=True)
    # Per photo: {"box": {...}, "image_size": [w, h], "quality": float} (no pixels, no embedding).
    faces = models.JSONField(default=list, blank=True)
    image_count = models.PositiveSmallIntegerField(default=0)
    # The operator saw the duplicates and enrolls anyway (twins, a re-registration on purpose).
    allow_duplicates = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"enrollment {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class EnrollmentImage(models.Model):
    """An uploaded photo waiting for its enrollment's worker, sealed with the subject's data
    key; deleted once processed (and unreadable anyway once the subject is erased)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="images")
    position = models.PositiveSmallIntegerField()
    nonce = models.BinaryField()
    ciphertext = models.BinaryField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "position"], name="enrollment_image_unique_position"
            )
        ]

    def __str__(self) -> str:
        return f"photo {self.position} of enrollment {self.enrollment_id}"


class FaceTemplate(models.Model):
    """One face embedding of a subject, encrypted with the subject's data key.

    ``model`` and ``model_version`` travel with the template: embeddings of different models are
    not comparable, so a model change means deliberate re-enrollment. One template per
    (enrollment, photo): a retried enrollment can never store a photo twice.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="templates")
    enrollment = models.ForeignKey(
        Enrollment, null=True, blank=True, on_delete=models.SET_NULL, related_name="templates"
    )
    source_position = models.PositiveSmallIntegerField(default=0)
    nonce = models.BinaryField()
    ciphertext = models.BinaryField()
    model = models.CharField(max_length=32)
    model_version = models.CharField(max_length=64)
    quality = models.FloatField()
    box = models.JSONField(default=dict)
    commitment = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "source_position"], name="template_unique_enrollment_photo"
            )
        ]

    def __str__(self) -> str:
        return f"template {self.pk} ({self.model})"

    @property
    def model_id(self) -> str:
        return f"{self.model}/{self.model_version}"


class ProbeImage(models.Model):
    """A verification or identification photo waiting for a worker, sealed with the
    organization's probe key; deleted by the worker that reads it (no image is kept)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    nonce = models.BinaryField()
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"probe {self.pk}"


class MatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class VerificationAttempt(models.Model):
    """A 1:1 check of a photo against one subject: who asked, the answer, no image."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(
        Subject, on_delete=models.CASCADE, related_name="verification_attempts"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    probe = models.ForeignKey(
        ProbeImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=MatchStatus.choices, default="pending")
    verified = models.BooleanField(null=True)
    distance = models.FloatField(null=True, blank=True)
    threshold = models.FloatField()
    model = models.CharField(max_length=100)
    error_code = models.CharField(max_length=32, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"verification {self.pk} ({self.status})"


class IdentificationAttempt(models.Model):
    """A 1:N search of a photo in the organization's gallery: who asked, the answer, no image.

    ``candidates`` holds subject ids and distances only.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    probe = models.ForeignKey(
        ProbeImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=MatchStatus.choices, default="pending")
    top_k = models.PositiveSmallIntegerField(default=5)
    candidates = models.JSONField(default=list, blank=True)
    distance = models.FloatField(null=True, blank=True)  # the best candidate's, if any
    threshold = models.FloatField()
    model = models.CharField(max_length=100)
    error_code = models.CharField(max_length=32, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"identification {self.pk} ({self.status})"
