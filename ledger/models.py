"""Django side of the ledger: the outbox of transactions the portal submits.

The outbox row is written in the same database transaction as the business change it records,
so a committed change always has its ledger transaction queued and a rolled-back change never
does. A later worker (the ledger-network issue) drains pending rows to the validators and moves
them through ``submitted`` to ``committed`` or ``rejected``.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from tenants.models import Organization


class LedgerOutbox(models.Model):
    """One ledger transaction waiting to be (or already) submitted for an organization.

    ``payload`` holds only commitments (hex keyed hashes) and action words, never personal or
    biometric data: the ledger is replicated to every member of the alliance.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUBMITTED = "submitted", "Submitted"
        COMMITTED = "committed", "Committed"
        REJECTED = "rejected", "Rejected"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="ledger_outbox"
    )
    tx_type = models.CharField(max_length=32)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=128, unique=True)
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "id"], name="ledger_outbox_status_id")]

    def __str__(self) -> str:
        return f"{self.tx_type} {self.idempotency_key} ({self.status})"
