"""One representative row of every biometrics model that a URL names by id, for one organization.

Rows are made through the services where a service exists, and directly otherwise, so no face
engine is needed.
"""

from __future__ import annotations

from django.db.models import Model

from biometrics import services
from biometrics.models import (
    Consent,
    Enrollment,
    IdentificationAttempt,
    Purpose,
    Subject,
    VerificationAttempt,
)
from tenants.models import Organization


def biometrics_objects(*, organization: Organization, owner: object) -> dict[type[Model], Model]:
    """A subject with an enrollment consent, an enrollment and one attempt of each kind."""
    subject = services.subject_create(
        organization=organization, external_ref="EMP-1", display_name="Ada", actor=owner
    )
    consent = services.consent_grant(
        organization=organization,
        subject=subject,
        purpose=Purpose.ENROLLMENT,
        policy_version="1.0",
        method=Consent.Method.WRITTEN,
        granted_by=owner,
    )
    return {
        Subject: subject,
        Consent: consent,
        Enrollment: Enrollment.objects.create(organization=organization, subject=subject),
        VerificationAttempt: VerificationAttempt.objects.create(
            organization=organization, subject=subject, threshold=0.07, model="Dlib"
        ),
        IdentificationAttempt: IdentificationAttempt.objects.create(
            organization=organization, threshold=0.07, model="Dlib"
        ),
    }
