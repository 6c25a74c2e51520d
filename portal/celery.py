"""The Celery app: JSON only, late acks for work that must not be lost, time limits, two queues.

Tasks take ids (tenant context passed explicitly as ``organization_id``), are enqueued after
commit (a worker never sees a row that is not there yet) and are idempotent (a redelivered task
changes nothing twice).
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    # A task whose worker dies is redelivered instead of being acknowledged as failed.
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=300,
    task_soft_time_limit=240,
    task_default_queue="default",
    task_queues=(Queue("default"), Queue("biometrics")),
    task_routes={"biometrics.tasks.*": {"queue": "biometrics"}},
    broker_connection_retry_on_startup=True,
    result_expires=3600,
    beat_schedule={
        # Erase templates unused past each organization's retention period.
        "biometrics-retention": {"task": "biometrics.tasks.retention_apply", "schedule": 3600.0},
        # Sign, submit and track the ledger outbox (idempotent: the worker locks rows).
        "ledger-outbox-drain": {"task": "ledger.tasks.outbox_drain", "schedule": 2.0},
        # Forget payment idempotency keys older than their 24 hours.
        "payments-idempotency-keys-expire": {
            "task": "payments.tasks.idempotency_keys_expire",
            "schedule": 3600.0,
        },
        # Send the webhook retries that are due (each attempt is idempotent).
        "webhooks-deliveries-due": {
            "task": "webhooks.tasks.webhook_deliveries_due",
            "schedule": 5.0,
        },
    },
)
app.autodiscover_tasks()
