"""Output shapes of the ledger explorer REST API (read-only; no business rules here)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from kernel.patterns import anchored
from ledger import services
from ledger.errors import LedgerError
from ledger.models import (
    LedgerOutbox,
    MirrorAccount,
    MirrorBlock,
    MirrorTransaction,
    OrganizationKey,
)
from ledger.state.limits import SLUG_PATTERN


class BlockSerializer(serializers.ModelSerializer[MirrorBlock]):
    time = serializers.DateTimeField(read_only=True, help_text="Proposal time (UTC).")

    class Meta:
        model = MirrorBlock
        fields = [
            "height", "hash", "parent_hash", "epoch", "round", "proposer", "proposer_name",
            "timestamp_ms", "time", "tx_count", "signers", "state_root",
        ]  # fmt: skip


class TransactionSerializer(serializers.ModelSerializer[MirrorTransaction]):
    height = serializers.IntegerField(source="block.height", read_only=True)
    block_hash = serializers.CharField(source="block.hash", read_only=True)

    class Meta:
        model = MirrorTransaction
        fields = [
            "hash", "height", "block_hash", "position", "tx_type", "sender", "nonce", "status",
            "code", "reason", "payload",
        ]  # fmt: skip


class BlockDetailSerializer(BlockSerializer):
    payload_root = serializers.CharField()
    certificate = serializers.SerializerMethodField(help_text="Encoded commit certificate (hex).")
    transactions = serializers.SerializerMethodField()

    class Meta(BlockSerializer.Meta):
        fields = [*BlockSerializer.Meta.fields, "payload_root", "certificate", "transactions"]

    def get_certificate(self, block: MirrorBlock) -> str:
        return bytes(block.certificate).hex()

    def get_transactions(self, block: MirrorBlock) -> list[dict[str, Any]]:
        # The reverse manager hands each row its parent block already: no join, no second copy.
        rows = block.transactions.order_by("position")
        return list(TransactionSerializer(rows, many=True).data)


class PeerSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField()
    connected = serializers.BooleanField()
    last_seen_ms = serializers.IntegerField(allow_null=True, required=False)


class ValidatorHealthSerializer(serializers.Serializer[Any]):
    url = serializers.CharField()
    healthy = serializers.BooleanField()
    error = serializers.CharField(required=False)
    validator = serializers.IntegerField(required=False)
    name = serializers.CharField(required=False)
    epoch = serializers.IntegerField(required=False)
    round = serializers.IntegerField(required=False)
    height = serializers.IntegerField(required=False)
    state_root = serializers.CharField(required=False)
    mempool = serializers.IntegerField(required=False)
    peers = PeerSerializer(many=True, required=False)


class OutboxSerializer(serializers.ModelSerializer[LedgerOutbox]):
    governance_root = serializers.SerializerMethodField(
        help_text="For a row awaiting approvals: what each approving validator organization "
        "signs (Ed25519, hex)."
    )

    class Meta:
        model = LedgerOutbox
        fields = [
            "id", "tx_type", "payload", "status", "nonce", "tx_hash", "attempts", "last_error",
            "code", "height", "idempotency_key", "created_at", "submitted_at", "finished_at",
            "next_attempt_at", "approvals", "governance_root",
        ]  # fmt: skip

    def get_governance_root(self, row: LedgerOutbox) -> str | None:
        if row.status != LedgerOutbox.Status.AWAITING_APPROVALS:
            return None
        try:
            return services.governance_root(outbox=row)
        except LedgerError:
            return None


class ApprovalInputSerializer(serializers.Serializer[Any]):
    org_id = serializers.RegexField(anchored(SLUG_PATTERN), help_text="Approving org.")
    signature = serializers.RegexField(r"^[0-9a-f]{128}$", help_text="Ed25519 signature, hex.")


class AccountSerializer(serializers.ModelSerializer[MirrorAccount]):
    class Meta:
        model = MirrorAccount
        fields = ["account_id", "currency", "owner", "balance", "height"]


class OrganizationKeySerializer(serializers.ModelSerializer[OrganizationKey]):
    class Meta:
        model = OrganizationKey
        fields = ["id", "public_key", "status", "created_at", "retired_at"]


class KeyRotationSerializer(serializers.Serializer[Any]):
    outbox = OutboxSerializer()
    message = serializers.CharField()
