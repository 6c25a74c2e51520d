"""Celery tasks of the payments app (thin: each calls one service)."""

from __future__ import annotations

from celery import shared_task

from payments import services
from tenants.rls import system_context


@shared_task(time_limit=300, soft_time_limit=240)
def idempotency_keys_expire() -> int:
    """Periodic: forget payment idempotency keys past their 24 hours (every organization)."""
    with system_context():
        return services.idempotency_keys_expire()
