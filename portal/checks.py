"""System checks for production configuration that Django's own --deploy checks do not cover."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def check_production_secrets(app_configs: Any, **kwargs: Any) -> list[Error]:
    errors: list[Error] = []
    if settings.PRODUCTION and not settings.BIOMETRICS_KEK:
        errors.append(
            Error(
                "BIOMETRICS_KEK is not set.",
                hint="Set a random 32-byte key (hex) in BIOMETRICS_KEK or "
                "BIOMETRICS_KEK_FILE; it wraps every template key.",
                id="portal.E001",
            )
        )
    if settings.PRODUCTION and not settings.LEDGER_KEY_ENCRYPTION_KEY:
        errors.append(
            Error(
                "LEDGER_KEY_ENCRYPTION_KEY is not set.",
                hint="Set a random 32-byte key (hex); it wraps every organization's signing key.",
                id="portal.E003",
            )
        )
    if settings.PRODUCTION and not settings.USING_POSTGRES:
        errors.append(
            Error(
                "Production runs on PostgreSQL (row-level security).",
                hint="Set DATABASE_URL to a PostgreSQL database.",
                id="portal.E002",
            )
        )
    return errors
