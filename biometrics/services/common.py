"""Shared pieces of the biometrics services: constants, named errors, consent checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Final, Protocol

from django.db.models import F

from biometrics import selectors
from biometrics.engine import FaceResult
from biometrics.errors import (
    CONSENT_REQUIRED,
    ERROR_CATALOG,
    IMAGE_TOO_LARGE,
    SUBJECT_ERASED,
    UNSUPPORTED_MEDIA_TYPE,
    BiometricError,
)
from biometrics.images import MAX_UPLOAD_BYTES, sniff_format
from biometrics.models import (
    BiometricSettings,
    Subject,
)
from tenants.errors import TenantError
from tenants.models import Organization

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


def bump_gallery(organization: Organization) -> None:
    row, _ = BiometricSettings.objects.get_or_create(organization=organization)
    BiometricSettings.objects.filter(pk=row.pk).update(gallery_version=F("gallery_version") + 1)


def require_active(subject: Subject) -> None:
    if subject.is_erased:
        raise BiometricError(SUBJECT_ERASED)


def require_consent(organization: Organization, subject: Subject, purpose: str) -> None:
    if not selectors.has_valid_consent(organization=organization, subject=subject, purpose=purpose):
        raise BiometricError(CONSENT_REQUIRED, details={"purpose": purpose})


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
