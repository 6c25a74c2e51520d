"""Celery tasks of the biometrics queue: thin, id-based, idempotent, enqueued after commit.

Every task takes ids (the organization explicitly), narrows the database session to that
organization, and calls one service. The services make a retried task harmless (a finished job
is returned untouched; templates are written together with the job's final state under a unique
constraint), so ``acks_late`` redelivery after a killed worker never duplicates a template.

The face engine is loaded and warmed once per worker process in ``worker_process_init`` (only
in Celery's worker children, and only for workers consuming the ``biometrics`` queue); the web
process never imports DeepFace.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, current_app, shared_task
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.signals import worker_process_init
from django.db import OperationalError

from biometrics import services
from biometrics.engine import get_engine, is_engine_installed
from tenants import rls

logger = logging.getLogger(__name__)

BIOMETRICS_QUEUE = "biometrics"
_TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),  # a database blip: try again, the job is idempotent
    "retry_backoff": True,
    "max_retries": 5,
    "soft_time_limit": 120,
    "time_limit": 150,
}


@shared_task(name="biometrics.tasks.enrollment_process", **_TASK_OPTIONS)
def enrollment_process_task(enrollment_id: int, organization_id: int) -> str:
    """Process one enrollment; returns its final status."""
    with rls.organization_context(organization_id):
        enrollment = services.enrollment_process(
            enrollment_id=enrollment_id, organization_id=organization_id, engine=get_engine()
        )
    return enrollment.status


@shared_task(name="biometrics.tasks.verification_process", **_TASK_OPTIONS)
def verification_process_task(attempt_id: int, organization_id: int) -> str:
    """Answer one 1:1 verification; returns its final status."""
    with rls.organization_context(organization_id):
        attempt = services.verification_process(
            attempt_id=attempt_id, organization_id=organization_id, engine=get_engine()
        )
    return attempt.status


@shared_task(name="biometrics.tasks.identification_process", **_TASK_OPTIONS)
def identification_process_task(attempt_id: int, organization_id: int) -> str:
    """Answer one 1:N identification; returns its final status."""
    with rls.organization_context(organization_id):
        attempt = services.identification_process(
            attempt_id=attempt_id, organization_id=organization_id, engine=get_engine()
        )
    return attempt.status


@shared_task(name="biometrics.tasks.retention_apply", acks_late=True, time_limit=600)
def retention_task() -> dict[str, int]:
    """Periodic: erase templates unused past each organization's retention period."""
    with rls.system_context():
        return services.retention_apply()


def dispatch_and_wait(task: Task[..., Any], *args: int, timeout: float) -> bool:
    """Queue ``task`` and wait up to ``timeout`` seconds; True when it finished in time.

    Called by the web process *after* the request's service committed (the worker must see
    the rows). On timeout the job goes on in the worker and the client polls a status URL.
    """
    result = task.apply_async(args=args)
    try:
        result.get(timeout=timeout, propagate=False, disable_sync_subtasks=False)
    except CeleryTimeout:
        return False
    return True


def serves_biometrics(consumed: set[str]) -> bool:
    """Whether a worker consuming ``consumed`` (empty: every queue) runs biometrics tasks."""
    return not consumed or BIOMETRICS_QUEUE in consumed


def _consumed_queues() -> set[str]:
    # The worker's own app (portal.celery), reached without importing the project layer.
    return set(current_app.amqp.queues.consume_from or {})


@worker_process_init.connect
def warm_engine(**_kwargs: Any) -> None:
    """Load and warm DeepFace once in each worker process that serves the biometrics queue."""
    if not serves_biometrics(_consumed_queues()):
        return
    if not is_engine_installed():
        logger.warning("Face engine not installed; biometrics tasks will fail until it is")
        return
    seconds = get_engine().warm_up()
    logger.info("Face engine warm in %.2f s", seconds)
