"""Shared pieces of the biometrics services: constants, consent checks, upload checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Final, Protocol

from django.db.models import F

from biometrics import selectors
from biometrics.engine import FaceResult
from biometrics.errors import (
    CONSENT_REQUIRED,
    IMAGE_TOO_LARGE,
    SUBJECT_ERASED,
    UNSUPPORTED_MEDIA_TYPE,
    BiometricError,
    UnknownPolicyVersion,
)
from biometrics.images import MAX_UPLOAD_BYTES, sniff_format
from biometrics.models import (
    BiometricSettings,
    Subject,
)
from tenants.models import Organization

MAX_ENROLLMENT_IMAGES: Final = 5
PROBE_MAX_AGE: Final = timedelta(hours=1)

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
