from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache

from tenants.models import Invitation, Organization
from tenants.roles import Role

# The columns' length: an address the validator accepts (up to 320 characters) may not fit it.
_INVITATION_EMAIL_MAX = Invitation._meta.get_field("email").max_length
_CONTACT_EMAIL_MAX = Organization._meta.get_field("contact_email").max_length


def _lockout_key(username: str, ip: str | None) -> str:
    return f"login-failures:{username.lower()}:{ip or '-'}"


class RateLimitedAuthenticationForm(AuthenticationForm):
    """Login form that locks a (username, IP) pair out after repeated failures."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked_out": "Too many failed attempts. Try again in %(minutes)d minutes.",
    }

    def clean(self) -> dict[str, Any]:
        username = (self.data.get("username") or "").strip()
        ip = self.request.META.get("REMOTE_ADDR") if self.request else None
        key = _lockout_key(username, ip)
        failures = cache.get(key, 0)
        if failures >= settings.LOGIN_MAX_FAILURES:
            raise forms.ValidationError(
                self.error_messages["locked_out"],
                code="locked_out",
                params={"minutes": max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)},
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            cache.set(key, failures + 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
            raise
        cache.delete(key)
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
