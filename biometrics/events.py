"""Typed realtime events of the biometrics app, sent only through ``kernel.events.publish``."""

from __future__ import annotations

from typing import TypedDict

from django.db import transaction

from kernel.events import publish


class EnrollmentProgressData(TypedDict):
    """``enrollment.progress``: where an enrollment job is; ids and codes only, no names."""

    enrollment_id: int
    subject_id: int
    status: str
    progress: int
    error_code: str
    duplicates: int


def publish_enrollment_progress(
    *, organization_id: int, organization_slug: str, data: EnrollmentProgressData
) -> None:
    """Publish after the surrounding transaction commits (at once outside one)."""
    transaction.on_commit(
        lambda: publish(
            organization_id,
            {"type": "enrollment.progress", "organization": organization_slug, "data": dict(data)},
        )
    )
