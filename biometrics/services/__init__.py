"""Writes of the biometrics app: keyword-only, typed, atomic, audited; views, tasks
and commands stay thin and call them.

Consent comes first: capture, enrollment, verification and identification each need a valid
consent of their purpose, checked when the request is made *and* again by the worker, so a
revocation stops use at once, even of work already queued. Every consent and template change
queues its commitment on the ledger outbox in the same transaction.

The ``*_process`` functions run in Celery workers (biometrics/tasks.py) with the engine; they
are idempotent: a finished job is returned as it is, and templates are written in the same
transaction that marks the enrollment finished (plus a unique constraint), so a retried job
never stores a photo twice.
"""

from biometrics.services.common import (
    CURRENT_POLICY_VERSION,
    MAX_ENROLLMENT_IMAGES,
    POLICY_TEXTS,
    PROBE_MAX_AGE,
    FaceExtractor,
    check_upload,
    policy_text,
)
from biometrics.services.enrollment import enrollment_create, enrollment_process
from biometrics.services.matching import (
    identification_process,
    identification_request,
    verification_process,
    verification_request,
)
from biometrics.services.subjects import (
    consent_grant,
    consent_revoke,
    retention_apply,
    settings_update,
    subject_create,
    subject_erase,
)

__all__ = [
    "CURRENT_POLICY_VERSION",
    "MAX_ENROLLMENT_IMAGES",
    "POLICY_TEXTS",
    "PROBE_MAX_AGE",
    "FaceExtractor",
    "check_upload",
    "consent_grant",
    "consent_revoke",
    "enrollment_create",
    "enrollment_process",
    "identification_process",
    "identification_request",
    "policy_text",
    "retention_apply",
    "settings_update",
    "subject_create",
    "subject_erase",
    "verification_process",
    "verification_request",
]
