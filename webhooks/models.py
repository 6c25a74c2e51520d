"""Webhook endpoints, their signing secrets, and the log of deliveries and attempts.

Every table has an ``organization`` column and row-level security. Messages follow Standard
Webhooks: each delivery has a ``webhook-id`` (``msg_...``) that stays the same across its
attempts, so a receiver can drop duplicates.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from tenants.models import Organization


class WebhookEndpoint(models.Model):
    """A URL of the organization that receives the event types it subscribed to."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    #: Event kinds (``kernel.events.EventKind`` with the audience "members").
    event_types = models.JSONField(default=list)
    description = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.url} ({'enabled' if self.enabled else 'disabled'})"


class WebhookSecret(models.Model):
    """A signing secret (``whsec_<base64>``). The current one has no ``expires_at``; a rotated
    one keeps signing until ``expires_at``, so receivers can switch without losing messages."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_secrets"
    )
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="secrets")
    # Kept in clear: signing needs it (like any HMAC key); the API shows it once only.
    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"secret of endpoint {self.endpoint_id}"


class WebhookDelivery(models.Model):
    """One message to one endpoint: ``pending`` while attempts remain, then ``succeeded`` or
    ``failed``. ``next_attempt_at`` is when the next attempt is due (None once it ended)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    message_id = models.CharField(max_length=40, unique=True)
    event_type = models.CharField(max_length=40)
    #: The JSON body: ``{"type", "timestamp", "data"}``.
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhooks_due")]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.message_id} {self.event_type} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery: the status code (None when no response came), how long
    it took and what went wrong."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_attempts"
    )
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"attempt of {self.delivery_id}: {self.status_code or self.error}"
