"""Platform admin views of the payments tables: read-only, since every change goes through
the services (ledger outbox, audit log, approvals)."""

from __future__ import annotations

from django.contrib import admin

from kernel.admin import ReadOnlyAdmin
from payments.models import Account, ApprovalThreshold, Payment


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin[Account]):
    list_display = ("ledger_account_id", "organization", "currency", "name", "status")
    list_filter = ("status", "currency")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin[Payment]):
    list_display = ("id", "organization", "payee_organization", "amount", "currency", "status")
    list_filter = ("status", "currency")


@admin.register(ApprovalThreshold)
class ApprovalThresholdAdmin(ReadOnlyAdmin[ApprovalThreshold]):
    list_display = ("organization", "currency", "amount")
