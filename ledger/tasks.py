"""Celery tasks of the ledger (``default`` queue): the outbox worker.

Beat runs ``ledger.tasks.outbox_drain`` every 2 s (``portal/celery.py``); each run is one
pass of ``services.outbox_drain`` and is idempotent, so overlapping runs only skip each other's
locked rows.
"""

from __future__ import annotations

import logging

from celery import shared_task

from ledger import services
from ledger.client import NodeUnavailable

logger = logging.getLogger(__name__)


@shared_task(name="ledger.tasks.outbox_drain", acks_late=True, time_limit=120, soft_time_limit=100)
def outbox_drain(limit: int = 500) -> dict[str, int]:
    """Sign, submit and poll the outbox once; returns how many rows moved, per outcome."""
    try:
        report = services.outbox_drain(limit=limit)
    except NodeUnavailable as exc:
        # No node reachable (or none configured): the rows stay queued for the next run.
        logger.warning("ledger outbox: %s", exc)
        return {}
    return report.counts()
