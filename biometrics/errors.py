"""Named errors of the biometrics app, each with a stable code (house style rule 5).

A ``BiometricError`` is the caller's fault or the photo's: it carries a stable ``code`` that
clients switch on, a human ``message`` for the person in front of the camera, an
``http_status`` for the API's one exception handler, and optional JSON-safe ``details``.
``EngineUnavailable`` is the operator's problem (weights or packages missing) and is kept apart
on purpose: it must surface as a server error, never as "your photo is bad".
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "CONSENT_REQUIRED",
    "ERROR_CATALOG",
    "FACE_TOO_SMALL",
    "IMAGE_TOO_LARGE",
    "IMAGE_UNREADABLE",
    "LOW_QUALITY",
    "MULTIPLE_FACES",
    "NO_FACE",
    "SUBJECT_ERASED",
    "UNSUPPORTED_MEDIA_TYPE",
    "BiometricError",
    "EngineUnavailable",
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


class BiometricError(Exception):
    """A biometric request that cannot be served, with a stable machine-readable code."""

    code: str
    message: str
    http_status: int
    details: Mapping[str, Any]

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        if code not in ERROR_CATALOG:
            raise ValueError(f"unknown biometric error code {code!r}")
        default_message, http_status = ERROR_CATALOG[code]
        self.code = code
        self.message = message or default_message
        self.http_status = http_status
        self.details = dict(details or {})
        super().__init__(f"{code}: {self.message}")

    def __repr__(self) -> str:
        return f"BiometricError({self.code!r}, {self.message!r}, details={dict(self.details)!r})"


class EngineUnavailable(RuntimeError):
    """The face engine cannot run here (packages or offline weights missing); an operator fix."""
