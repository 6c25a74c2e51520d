"""Platform admin views of the payments tables: read-only, since every change goes through
the services (ledger outbox, audit log, approvals)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from payments.models import Account, ApprovalThreshold, Payment


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("ledger_account_id", "organization", "currency", "name", "status")
    list_filter = ("status", "currency")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("id", "organization", "payee_organization", "amount", "currency", "status")
    list_filter = ("status", "currency")


@admin.register(ApprovalThreshold)
class ApprovalThresholdAdmin(ReadOnlyAdmin):
    list_display = ("organization", "currency", "amount")
