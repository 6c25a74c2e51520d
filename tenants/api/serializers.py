from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from tenants.models import ApiToken, AuditEvent, Invitation, Membership, Organization
from tenants.roles import Role

# The columns' length: an address the validator accepts (up to 320 characters) may not fit it.
_INVITATION_EMAIL_MAX: int = Invitation._meta.get_field("email").max_length or 254
_CONTACT_EMAIL_MAX: int = Organization._meta.get_field("contact_email").max_length or 254


class MyOrganizationSerializer(serializers.Serializer[Membership]):
    """An organization as seen by one of its members."""

    slug = serializers.SlugField(source="organization.slug")
    name = serializers.CharField(source="organization.name")
    status = serializers.ChoiceField(
        source="organization.status", choices=Organization.Status.choices
    )
    role = serializers.ChoiceField(choices=Role.choices)
    created_at = serializers.DateTimeField(source="organization.created_at")


class OrganizationSerializer(serializers.ModelSerializer[Organization]):
    # Empty when unset, so documented as a plain string rather than format "email".
    contact_email = serializers.CharField(read_only=True)

    class Meta:
        model = Organization
        fields = ["slug", "name", "status", "contact_email", "created_at"]
        read_only_fields = ["slug", "status", "created_at"]


class OrganizationSettingsInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200, required=False)
    contact_email = serializers.EmailField(
        required=False, allow_blank=True, max_length=_CONTACT_EMAIL_MAX
    )


class MemberSerializer(serializers.ModelSerializer[Membership]):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "created_at"]
        read_only_fields = ["id", "username", "email", "created_at"]


class MemberRoleInputSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    invited_by = serializers.CharField(source="invited_by.username", read_only=True, default=None)
    state = serializers.CharField(read_only=True)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "role",
            "state",
            "invited_by",
            "created_at",
            "expires_at",
            "accepted_at",
        ]
        read_only_fields = fields


class InvitationInputSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField(max_length=_INVITATION_EMAIL_MAX)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class InvitationCreatedSerializer(InvitationSerializer):
    accept_url = serializers.CharField(read_only=True)

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "accept_url"]
        read_only_fields = fields


class TokenSerializer(serializers.ModelSerializer[ApiToken]):
    owner = serializers.CharField(source="membership.user.username", read_only=True)
    state = serializers.CharField(read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "owner",
            "state",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields


class TokenInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate_expires_at(self, value: datetime | None) -> datetime | None:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value


class TokenCreatedSerializer(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret; shown only once.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "ip_address",
            "details",
        ]
        read_only_fields = fields


# --- Platform admin ---------------------------------------------------------------------------
class AdminOrganizationSerializer(serializers.ModelSerializer[Organization]):
    contact_email = serializers.CharField(read_only=True)
    member_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Organization
        fields = ["slug", "name", "status", "contact_email", "created_at", "member_count"]
        read_only_fields = ["status", "created_at", "member_count"]


class AdminOrganizationInputSerializer(serializers.Serializer[Any]):
    slug = serializers.SlugField(max_length=50)
    name = serializers.CharField(max_length=200)
    owner = serializers.CharField(required=False, help_text="Username of the first owner.")


class AdminMembershipInputSerializer(serializers.Serializer[Any]):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)
