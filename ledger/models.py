"""Django side of the ledger: the outbox, organization keys and nonces, and the verified mirror.

Tenant rows (``organization`` column, row-level security): ``LedgerOutbox``, ``OrganizationKey``,
``LedgerSender``. Alliance-wide rows (no organization; every member may read them, the follower
writes them in system context): ``MirrorChain``, ``MirrorBlock``, ``MirrorTransaction``,
``MirrorAccount``. A mirror row records the sender's ledger id (the organization slug), never a
foreign key, because the ledger also carries organizations this portal does not host.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import models
from django.utils import timezone

from tenants.models import Organization


class LedgerOutbox(models.Model):
    """One ledger transaction waiting to be (or already) submitted for an organization.

    ``payload`` holds only commitments (hex keyed hashes), identifiers and action words, never
    personal or biometric data: the ledger is replicated to every member of the alliance.
    The signed bytes (``tx_bytes``) and their hash are stored before the first submission, so a
    retry resubmits the same transaction (the node deduplicates by hash; the nonce prevents a
    second application).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        AWAITING_APPROVALS = "awaiting_approvals", "Awaiting governance approvals"
        SUBMITTED = "submitted", "Submitted"
        COMMITTED = "committed", "Committed"
        REJECTED = "rejected", "Rejected"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="ledger_outbox"
    )
    tx_type = models.CharField(max_length=32)
    payload = models.JSONField()
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=128, unique=True)
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    nonce = models.PositiveBigIntegerField(null=True, blank=True)
    tx_hash = models.CharField(max_length=64, blank=True, db_index=True)
    tx_bytes = models.BinaryField(null=True, blank=True, editable=False)
    #: Governance approvals collected so far: [{"org_id", "signature"}] (hex signatures).
    approvals = models.JSONField(default=list, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    height = models.PositiveBigIntegerField(null=True, blank=True)
    code = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "ledger outbox entry"
        verbose_name_plural = "ledger outbox entries"
        indexes = [models.Index(fields=["status", "id"], name="ledger_outbox_status_id")]

    def __str__(self) -> str:
        return f"{self.tx_type} {self.idempotency_key} ({self.status})"


class OrganizationKey(models.Model):
    """An organization's Ed25519 signing key, encrypted at rest (AES-GCM, ledger.keys).

    One ``active`` key signs transactions; a rotation creates a ``pending`` key that becomes
    active once the ``org_key_rotate`` transaction (with governance approvals) is committed.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PENDING = "pending", "Pending rotation"
        RETIRED = "retired", "Retired"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="ledger_keys"
    )
    public_key = models.CharField(max_length=64, unique=True)
    sealed_nonce = models.BinaryField(editable=False)
    sealed_key = models.BinaryField(editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(status="active"),
                name="ledger_one_active_key_per_org",
            )
        ]

    def __str__(self) -> str:
        return f"{self.public_key[:16]}… ({self.status})"


class LedgerSender(models.Model):
    """The organization's ledger identity and its next transaction nonce (persisted, so two
    workers never sign two transactions with one nonce: it is taken under a row lock)."""

    organization = models.OneToOneField(
        Organization, on_delete=models.PROTECT, related_name="ledger_sender"
    )
    ledger_id = models.CharField(max_length=64, unique=True)
    next_nonce = models.PositiveBigIntegerField(default=1)

    def __str__(self) -> str:
        return f"{self.ledger_id} (next nonce {self.next_nonce})"


class MirrorChain(models.Model):
    """The pinned genesis of the chain the follower mirrors (one row)."""

    chain_id = models.CharField(max_length=128)
    genesis = models.JSONField()
    genesis_hash = models.CharField(max_length=64)
    source = models.CharField(max_length=300)
    pinned_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"chain {self.chain_id} genesis {self.genesis_hash[:16]}"


class MirrorBlock(models.Model):
    """A committed block, mirrored after its commit certificate verified."""

    height = models.PositiveBigIntegerField(unique=True)
    hash = models.CharField(max_length=64, unique=True)
    parent_hash = models.CharField(max_length=64)
    epoch = models.PositiveBigIntegerField()
    round = models.PositiveBigIntegerField()
    proposer = models.PositiveIntegerField()
    proposer_name = models.CharField(max_length=64, blank=True)
    timestamp_ms = models.PositiveBigIntegerField()
    state_root = models.CharField(max_length=64)
    payload_root = models.CharField(max_length=64)
    tx_count = models.PositiveIntegerField(default=0)
    signers = models.JSONField(default=list)
    block = models.BinaryField(editable=False)
    certificate = models.BinaryField(editable=False)
    #: Membership proofs in the block's state (``ledger.state.store.EntryProof`` as JSON) that
    #: receipts need and the mirror cannot recompute without replaying the chain: ``meta`` (the
    #: chain metadata, committing to the block's receipts) and, for the block that ends an epoch,
    #: ``validators``. Empty for blocks mirrored before receipts existed (receipts replay those).
    state_proofs = models.JSONField(default=dict, blank=True, editable=False)
    mirrored_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-height"]

    def __str__(self) -> str:
        return f"block {self.height} {self.hash[:16]}"

    @property
    def time(self) -> datetime:
        """The proposer's timestamp as an aware UTC datetime."""
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)


class MirrorTransaction(models.Model):
    """A transaction of a mirrored block with its receipt (committed or rejected + code)."""

    block = models.ForeignKey(MirrorBlock, on_delete=models.CASCADE, related_name="transactions")
    position = models.PositiveIntegerField()
    hash = models.CharField(max_length=64, unique=True)
    tx_type = models.CharField(max_length=32)
    sender = models.CharField(max_length=64, db_index=True)
    nonce = models.PositiveBigIntegerField()
    status = models.CharField(max_length=16)
    code = models.CharField(max_length=40, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    payload = models.JSONField(default=dict)

    class Meta:
        ordering = ["-block__height", "position"]
        indexes = [models.Index(fields=["sender", "nonce"], name="ledger_mirror_tx_sender")]

    def __str__(self) -> str:
        return f"{self.tx_type} {self.hash[:16]} ({self.status})"


class MirrorAccount(models.Model):
    """An account of the replicated state as of ``height`` (written by the follower): the
    posted ``balance`` and ``held``, the sum of its active holds (``available`` is the
    difference)."""

    account_id = models.CharField(max_length=64, unique=True)
    currency = models.CharField(max_length=3)
    owner = models.CharField(max_length=64, db_index=True)
    balance = models.BigIntegerField()
    held = models.BigIntegerField(default=0)
    height = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["account_id"]

    def __str__(self) -> str:
        return f"{self.account_id} {self.balance} {self.currency}"

    @property
    def available(self) -> int:
        return self.balance - self.held
