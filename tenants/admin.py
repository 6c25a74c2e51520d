"""Django admin for platform administrators: organizations, memberships, tokens, audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tenants import services
from tenants.access import signed_in_user
from tenants.models import ApiToken, AuditEvent, Invitation, Membership, Organization


class MembershipInline(admin.TabularInline[Membership, Organization]):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin[Organization]):
    list_display = ["slug", "name", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]
    actions = ["suspend", "resume"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Organizations are suspended, never deleted: their audit log is append-only.
        return False

    @admin.action(description="Suspend selected organizations")
    def suspend(self, request: HttpRequest, queryset: QuerySet[Organization]) -> None:
        for organization in queryset:
            services.organization_set_status(
                organization=organization,
                status="suspended",
                actor=signed_in_user(request),
                ip=request.META.get("REMOTE_ADDR"),
            )
        messages.success(request, f"Suspended {queryset.count()} organization(s).")

    @admin.action(description="Resume selected organizations")
    def resume(self, request: HttpRequest, queryset: QuerySet[Organization]) -> None:
        for organization in queryset:
            services.organization_set_status(
                organization=organization,
                status="active",
                actor=signed_in_user(request),
                ip=request.META.get("REMOTE_ADDR"),
            )
        messages.success(request, f"Resumed {queryset.count()} organization(s).")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "organization__slug"]
    autocomplete_fields = ["user", "organization"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin[Invitation]):
    list_display = ["email", "organization", "role", "created_at", "expires_at", "accepted_at"]
    list_filter = ["organization", "role"]
    readonly_fields = ["accepted_at", "accepted_by"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = [
        "name",
        "prefix",
        "organization",
        "membership",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["organization"]
    readonly_fields = ["prefix", "digest", "last_used_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are created through the UI/API so the secret is shown once


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    list_display = [
        "created_at",
        "organization",
        "actor_label",
        "action",
        "object_repr",
        "ip_address",
    ]
    list_filter = ["organization", "action"]
    search_fields = ["actor_label", "object_repr"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
