"""Every error code of the biometrics app, in one place.

A ``BiometricError`` is the caller's fault or the photo's: a ``kernel.errors.DomainError`` with
a stable ``code`` that clients switch on, a human ``message`` for the person in front of the
camera, an HTTP ``status`` for the one exception handler, and optional JSON-safe ``details``.
Its codes are :data:`ERROR_CATALOG` (the photo and the subject) and :data:`JOB_ERRORS` (how a
queued enrollment, verification or identification can end); :data:`CATALOG` is both.
``EngineUnavailable`` is the operator's problem (weights or packages missing) and is kept apart
on purpose: it must surface as a server error, never as "your photo is bad".
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from kernel.errors import CatalogError
from tenants.errors import TenantError

__all__ = [
    "CATALOG",
    "CONSENT_REQUIRED",
    "DUPLICATE_SUBJECT",
    "ENGINE_UNAVAILABLE",
    "ERROR_CATALOG",
    "FACE_TOO_SMALL",
    "IMAGES_MISSING",
    "IMAGE_TOO_LARGE",
    "IMAGE_UNREADABLE",
    "JOB_ERRORS",
    "LOW_QUALITY",
    "MULTIPLE_FACES",
    "NOT_ENROLLED",
    "NO_FACE",
    "SUBJECT_ERASED",
    "UNSUPPORTED_MEDIA_TYPE",
    "BiometricError",
    "EngineUnavailable",
    "InvalidImages",
    "NotEnrolled",
    "SubjectRefTaken",
    "UnknownPolicyVersion",
    "error_message",
    "error_status",
]

IMAGE_UNREADABLE: Final = "image_unreadable"
UNSUPPORTED_MEDIA_TYPE: Final = "unsupported_media_type"
IMAGE_TOO_LARGE: Final = "image_too_large"
NO_FACE: Final = "no_face"
MULTIPLE_FACES: Final = "multiple_faces"
FACE_TOO_SMALL: Final = "face_too_small"
LOW_QUALITY: Final = "low_quality"
CONSENT_REQUIRED: Final = "consent_required"
SUBJECT_ERASED: Final = "subject_erased"
DUPLICATE_SUBJECT: Final = "duplicate_subject"
NOT_ENROLLED: Final = "not_enrolled"
IMAGES_MISSING: Final = "images_missing"
ENGINE_UNAVAILABLE: Final = "engine_unavailable"

# code -> (default human message, HTTP status). The codes are a public contract: never rename
# one, only add. 422 marks "we read your photo, but it cannot be used".
ERROR_CATALOG: Final[Mapping[str, tuple[str, int]]] = MappingProxyType(
    {
        IMAGE_UNREADABLE: ("The image could not be read; the file may be damaged.", 400),
        UNSUPPORTED_MEDIA_TYPE: ("Only JPEG, PNG and WebP images are accepted.", 415),
        IMAGE_TOO_LARGE: ("The image is too large (at most 10 MB and 40 megapixels).", 413),
        NO_FACE: ("No face was found in the image.", 422),
        MULTIPLE_FACES: ("More than one face was found; the photo must show exactly one.", 422),
        FACE_TOO_SMALL: ("The face is too small; move closer to the camera.", 422),
        LOW_QUALITY: ("The face is too blurry; hold still and use better light.", 422),
        # Consent is a state of the subject, not a permission of the caller, hence 409.
        CONSENT_REQUIRED: ("A valid consent for this purpose is required first.", 409),
        SUBJECT_ERASED: ("This subject has been erased.", 410),
    }
)

# Outcomes of a job that are not about the photo: code -> (message, HTTP status).
JOB_ERRORS: Final[Mapping[str, tuple[str, int]]] = MappingProxyType(
    {
        DUPLICATE_SUBJECT: (
            "This face matches another subject already enrolled; review the "
            "duplicates, or enroll anyway if they are different people.",
            409,
        ),
        NOT_ENROLLED: ("This subject has no enrolled face yet.", 409),
        IMAGES_MISSING: ("The photos of this enrollment are no longer available.", 409),
        ENGINE_UNAVAILABLE: ("The face engine is not available; contact the administrators.", 503),
    }
)

CATALOG: Final[Mapping[str, tuple[str, int]]] = MappingProxyType({**ERROR_CATALOG, **JOB_ERRORS})


def error_message(code: str) -> str:
    """The human message for any biometric error or job outcome code."""
    return CATALOG.get(code, (code.replace("_", " "), 400))[0]


def error_status(code: str) -> int:
    return CATALOG.get(code, ("", 400))[1]


class BiometricError(CatalogError):
    """A biometric request that cannot be served, with a stable machine-readable code from
    :data:`CATALOG` (its default message and HTTP status come from there)."""

    catalog = CATALOG


class SubjectRefTaken(TenantError):
    """Another subject of the organization already has this external reference.

    A ``TenantError`` (a uniqueness rule of the organization's records, not a photo problem),
    so the UI shows its own message next to the reference field."""

    code = "external_ref_taken"
    status = 409


class UnknownPolicyVersion(TenantError):
    code = "unknown_policy_version"
    status = 400


class InvalidImages(TenantError):
    code = "invalid_images"
    status = 400


class NotEnrolled(TenantError):
    code = NOT_ENROLLED
    status = 409


class EngineUnavailable(RuntimeError):
    """The face engine cannot run here (packages or offline weights missing); an operator fix."""
