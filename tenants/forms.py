from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone

from kernel.http import client_ip
from tenants import services
from tenants.models import Invitation, Organization
from tenants.roles import Role

# The columns' length: an address the validator accepts (up to 320 characters) may not fit it.
_INVITATION_EMAIL_MAX = Invitation._meta.get_field("email").max_length
_CONTACT_EMAIL_MAX = Organization._meta.get_field("contact_email").max_length


class RateLimitedAuthenticationForm(AuthenticationForm):
    """Login form that locks a (username, IP) pair out after repeated failures."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked_out": "Too many failed attempts. Try again in %(minutes)d minutes.",
    }

    def clean(self) -> dict[str, Any]:
        username = (self.data.get("username") or "").strip()
        ip = client_ip(self.request) if self.request else None
        password = self.data.get("password") or ""
        # Only a request that will check a password counts (an empty field checks none).
        if username and password and not services.login_attempt_begin(username=username, ip=ip):
            raise forms.ValidationError(
                self.error_messages["locked_out"],
                code="locked_out",
                params={"minutes": max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)},
            )
        cleaned = super().clean()
        if self.user_cache is not None:
            services.login_attempts_clear(username=username, ip=ip)
        return cleaned


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=_INVITATION_EMAIL_MAX)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    expires_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Optional. Leave empty for a token that does not expire.",
    )

    def clean_expires_at(self) -> Any:
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return value


class OrganizationSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    contact_email = forms.EmailField(required=False, max_length=_CONTACT_EMAIL_MAX)


class AcceptInvitationForm(forms.Form):
    """For invitees without an account: choose a username and a password."""

    username = forms.CharField(max_length=150)
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Password (again)", widget=forms.PasswordInput, strip=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("password1") != cleaned.get("password2"):
            raise forms.ValidationError("The two passwords differ.")
        if cleaned.get("password1"):
            password_validation.validate_password(cleaned["password1"])
        return cleaned
