"""Django admin for platform administrators: read-only views of the outbox, keys and mirror.

Everything here is written by services (outbox worker, follower); the admin never edits it, so
the mirror stays what ``ledger_verify`` checks and no private key material is ever shown.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from ledger.models import (
    LedgerOutbox,
    LedgerSender,
    MirrorAccount,
    MirrorBlock,
    MirrorChain,
    MirrorTransaction,
    OrganizationKey,
)

_M = TypeVar("_M", bound=Model)


class ReadOnlyAdmin(admin.ModelAdmin[_M]):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LedgerOutbox)
class LedgerOutboxAdmin(ReadOnlyAdmin[LedgerOutbox]):
    list_display = ["id", "organization", "tx_type", "status", "nonce", "attempts", "height"]
    list_filter = ["status", "tx_type"]
    search_fields = ["idempotency_key", "tx_hash", "organization__slug"]
    exclude = ["tx_bytes"]


@admin.register(OrganizationKey)
class OrganizationKeyAdmin(ReadOnlyAdmin[OrganizationKey]):
    list_display = ["organization", "public_key", "status", "created_at", "retired_at"]
    list_filter = ["status"]
    exclude = ["sealed_nonce", "sealed_key"]


@admin.register(LedgerSender)
class LedgerSenderAdmin(ReadOnlyAdmin[LedgerSender]):
    list_display = ["organization", "ledger_id", "next_nonce"]


@admin.register(MirrorChain)
class MirrorChainAdmin(ReadOnlyAdmin[MirrorChain]):
    list_display = ["chain_id", "genesis_hash", "source", "pinned_at"]


@admin.register(MirrorBlock)
class MirrorBlockAdmin(ReadOnlyAdmin[MirrorBlock]):
    list_display = ["height", "hash", "epoch", "round", "proposer_name", "tx_count"]
    search_fields = ["hash"]
    exclude = ["block", "certificate"]


@admin.register(MirrorTransaction)
class MirrorTransactionAdmin(ReadOnlyAdmin[MirrorTransaction]):
    list_display = ["hash", "tx_type", "sender", "nonce", "status", "code"]
    list_filter = ["tx_type", "status"]
    search_fields = ["hash", "sender"]


@admin.register(MirrorAccount)
class MirrorAccountAdmin(ReadOnlyAdmin[MirrorAccount]):
    list_display = ["account_id", "owner", "currency", "balance", "height"]
    search_fields = ["account_id", "owner"]
