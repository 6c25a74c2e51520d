"""Serializers of the webhooks API: parse and render only."""

from __future__ import annotations

from rest_framework import serializers

from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class EndpointSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    event_types = serializers.ListField(child=serializers.CharField(max_length=40), max_length=20)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "event_types", "description", "enabled", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class EndpointCreatedSerializer(EndpointSerializer):
    """The endpoint with its secret, shown this once."""

    secret = serializers.CharField(read_only=True)

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class SecretRotatedSerializer(serializers.Serializer[None]):
    secret = serializers.CharField(read_only=True)
    previous_valid_until = serializers.DateTimeField(read_only=True)


class AttemptSerializer(serializers.ModelSerializer[WebhookAttempt]):
    class Meta:
        model = WebhookAttempt
        fields = ["attempted_at", "status_code", "duration_ms", "error"]


class DeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    attempts = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "message_id", "event_type", "status", "attempt_count", "next_attempt_at",
            "created_at", "payload", "attempts",
        ]  # fmt: skip
