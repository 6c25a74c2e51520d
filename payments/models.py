"""Accounts, payments, approval thresholds and idempotency keys of the payments app.

Every table has an ``organization`` column and row-level security. A payment's row belongs to
the payer (``organization``) and is also readable by the payee (``payee_organization``, a
read-only share in the policy). Accounts are referenced by their ledger account id
(``to_field``), so a payment names both of its accounts without joining the other
organization's rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from ledger.models import LedgerOutbox
from tenants.models import Organization


class Account(models.Model):
    """An organization's account in one currency, mirrored from the ledger.

    ``opening`` until the ledger commits its ``account_open`` (then ``open``); an account the
    ledger refused to open is ``closed``. Balances are not stored here: they are the follower's
    ``MirrorAccount`` rows, keyed by ``ledger_account_id``.
    """

    class Status(models.TextChoices):
        OPENING = "opening", "Opening"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="payment_accounts"
    )
    currency = models.CharField(max_length=3)
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPENING)
    ledger_account_id = models.CharField(max_length=64, unique=True)
    #: A biometric subject's id, for wallets held by a person (later); None for the
    #: organization's own accounts.
    subject_id = models.PositiveBigIntegerField(null=True, blank=True)
    #: The ``account_open`` outbox row (None for accounts adopted from the genesis).
    outbox = models.OneToOneField(
        LedgerOutbox, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.ledger_account_id} {self.currency} ({self.status})"


class Payment(models.Model):
    """A payment from one of the payer's accounts to any open account of the alliance.

    ``pending_approval`` -> ``queued`` (outbox row written) -> ``settled`` | ``rejected``, or
    ``canceled`` before submission. ``submitted`` is read from the outbox row (the worker sent
    it) and never stored. ``failure_code`` is the ledger receipt's code (``insufficient_funds``).
    """

    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        QUEUED = "queued", "Queued"
        SUBMITTED = "submitted", "Submitted"
        SETTLED = "settled", "Settled"
        REJECTED = "rejected", "Rejected"
        CANCELED = "canceled", "Canceled"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="payments_made"
    )
    payee_organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="payments_received"
    )
    from_account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        to_field="ledger_account_id",
        related_name="payments_out",
    )
    to_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, to_field="ledger_account_id", related_name="payments_in"
    )
    currency = models.CharField(max_length=3)
    amount = models.PositiveBigIntegerField()
    #: Free text kept in the portal; the ledger only ever sees a keyed hash of it.
    memo = models.CharField(max_length=140, blank=True)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING_APPROVAL
    )
    failure_code = models.CharField(max_length=40, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    canceled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    outbox = models.OneToOneField(
        LedgerOutbox, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tx_hash = models.CharField(max_length=64, blank=True)
    block_height = models.PositiveBigIntegerField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["organization", "-id"], name="payments_payer_id"),
            models.Index(fields=["payee_organization", "-id"], name="payments_payee_id"),
        ]

    def __str__(self) -> str:
        return f"payment {self.pk} {self.amount} {self.currency} ({self.status})"


class Hold(models.Model):
    """Funds reserved on one of the payer's accounts for an account of the alliance (the
    ledger's two-phase transfer): ``queued`` (its ``hold_place`` in the outbox) -> ``active``
    once the ledger committed it (``rejected`` with ``failure_code`` if refused) -> ``captured``
    (``captured_amount`` moved, the rest released), ``voided`` or ``expired`` (the ledger
    released it at the first block at or after ``expires_at_ms``). Like a payment, the row is the
    payer's and readable by the payee."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        ACTIVE = "active", "Active"
        CAPTURED = "captured", "Captured"
        VOIDED = "voided", "Voided"
        EXPIRED = "expired", "Expired"
        REJECTED = "rejected", "Rejected"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="holds_placed"
    )
    payee_organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="holds_received"
    )
    #: The ledger's 32-byte hold id, hex: random, so no client can guess another's.
    hold_id = models.CharField(max_length=64, unique=True)
    from_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, to_field="ledger_account_id", related_name="holds_out"
    )
    to_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, to_field="ledger_account_id", related_name="holds_in"
    )
    currency = models.CharField(max_length=3)
    amount = models.PositiveBigIntegerField()
    captured_amount = models.PositiveBigIntegerField(default=0)
    #: Ledger block time (Unix milliseconds) at or after which the ledger releases the hold.
    expires_at_ms = models.PositiveBigIntegerField(db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    failure_code = models.CharField(max_length=40, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    #: The ``hold_place`` outbox row.
    outbox = models.OneToOneField(
        LedgerOutbox, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    #: The pending (or last) ``hold_capture`` / ``hold_void`` outbox row.
    resolve_outbox = models.OneToOneField(
        LedgerOutbox, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    #: The amount asked by the pending capture (kept until the ledger decides it).
    capture_requested = models.PositiveBigIntegerField(null=True, blank=True)
    block_height = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["organization", "-id"], name="payments_hold_payer_id"),
            models.Index(fields=["payee_organization", "-id"], name="payments_hold_payee_id"),
        ]

    def __str__(self) -> str:
        return f"hold {self.pk} {self.amount} {self.currency} ({self.status})"


class ApprovalThreshold(models.Model):
    """An organization's own maker-checker threshold for one currency, in minor units
    (payments above it wait for approval). Currencies without a row use the default."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="approval_thresholds"
    )
    currency = models.CharField(max_length=3)
    amount = models.PositiveBigIntegerField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "currency"], name="payments_one_threshold_per_currency"
            )
        ]

    def __str__(self) -> str:
        return f"{self.currency} > {self.amount}"


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` for a payment or a hold, with the fingerprint of the
    request body it came with: the same key and body answer with the same payment (or hold),
    another body is refused.
    Kept at least ``KEEP_HOURS`` (``payments.tasks.idempotency_keys_expire`` removes older)."""

    KEEP_HOURS = 24

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="payment_idempotency_keys"
    )
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    #: What the key created: a payment or a hold (exactly one).
    payment = models.ForeignKey(
        Payment, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    hold = models.ForeignKey(
        Hold, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    response_status = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"], name="payments_one_idempotency_key_per_org"
            )
        ]

    def __str__(self) -> str:
        if self.hold_id is not None:
            return f"{self.key} -> hold {self.hold_id}"
        return f"{self.key} -> payment {self.payment_id}"
