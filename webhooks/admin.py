"""Platform admin views of the webhooks tables: read-only, since every change goes through the
services (URL checks, audit log); secrets are never shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from webhooks.models import WebhookDelivery, WebhookEndpoint


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("url", "organization", "enabled", "created_at")
    list_filter = ("enabled",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("message_id", "organization", "event_type", "status", "attempt_count")
    list_filter = ("status", "event_type")
    exclude = ("payload",)
