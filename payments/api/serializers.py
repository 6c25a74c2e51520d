"""Serializers of the payments API: parse and render only."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from kernel.patterns import anchored
from ledger.state.limits import ACCOUNT_ID_PATTERN, MAX_AMOUNT
from payments.currencies import CURRENCIES
from payments.models import Account, Hold, Payment
from payments.selectors import payment_status
from payments.services import MAX_HOLD_SECONDS, MIN_HOLD_SECONDS

_CURRENCY_CHOICES = sorted(CURRENCIES)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class AmountField(serializers.IntegerField):
    """A positive integer of minor units; strings, floats and booleans are refused (an amount
    that was rounded or parsed on the way is not the amount the client meant)."""

    default_error_messages = {
        **serializers.IntegerField.default_error_messages,
        "not_integer": "Send an integer number of minor units (e.g. 1050 for 10.50 EUR).",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_AMOUNT)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if type(data) is not int:  # bool is an int subclass: refused here too
            self.fail("not_integer")
        return int(super().to_internal_value(data))


class LedgerAccountIdField(serializers.RegexField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(anchored(ACCOUNT_ID_PATTERN), max_length=64, **kwargs)


class PaymentAccountSerializer(serializers.ModelSerializer[Any]):
    """An account with its balances in minor units as the ledger last reported them:
    ``posted``, ``held`` (reserved by active holds) and ``available = posted - held``."""

    id = serializers.CharField(source="ledger_account_id", read_only=True)
    posted = serializers.SerializerMethodField()
    held = serializers.SerializerMethodField()
    available = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = ["id", "currency", "name", "status", "posted", "held", "available", "subject_id"]
        read_only_fields = fields

    def _balances(self, account: Account) -> tuple[int, int]:
        balances: dict[str, tuple[int, int]] = self.context.get("balances", {})
        return balances.get(account.ledger_account_id, (0, 0))

    def get_posted(self, account: Account) -> int:
        return self._balances(account)[0]

    def get_held(self, account: Account) -> int:
        return self._balances(account)[1]

    def get_available(self, account: Account) -> int:
        return self.get_posted(account) - self.get_held(account)


class PaymentAccountOpenSerializer(serializers.Serializer[Any]):
    currency = serializers.ChoiceField(choices=_CURRENCY_CHOICES)
    name = serializers.CharField(max_length=100)


class DirectoryAccountSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    organization = serializers.CharField(help_text="Slug of the organization holding it.")
    currency = serializers.CharField()
    name = serializers.CharField()


class PaymentCreateSerializer(serializers.Serializer[Any]):
    from_account = LedgerAccountIdField(help_text="One of the organization's open accounts.")
    to_account = LedgerAccountIdField(help_text="Any open account of the directory.")
    amount = AmountField(help_text="Minor units of the currency (its ISO 4217 exponent).")
    currency = serializers.ChoiceField(choices=_CURRENCY_CHOICES)
    memo = serializers.CharField(max_length=140, required=False, allow_blank=True, default="")


class PaymentSerializer(serializers.ModelSerializer[Any]):
    """A payment as the payer or the payee sees it (``direction`` is relative to the caller's
    organization)."""

    payer = serializers.CharField(source="organization.slug", read_only=True)
    payee = serializers.CharField(source="payee_organization.slug", read_only=True)
    from_account = serializers.CharField(source="from_account_id", read_only=True)
    to_account = serializers.CharField(source="to_account_id", read_only=True)
    status = serializers.SerializerMethodField()
    direction = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = [
            "id", "direction", "payer", "payee", "from_account", "to_account", "amount",
            "currency", "memo", "status", "failure_code", "tx_hash", "block_height",
            "settled_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_status(self, payment: Payment) -> str:
        return payment_status(payment)

    def get_direction(self, payment: Payment) -> str:
        organization = self.context.get("organization")
        if organization is not None and payment.organization_id == organization.pk:
            return "outgoing"
        return "incoming"


class DirectionQuerySerializer(serializers.Serializer[Any]):
    direction = serializers.ChoiceField(choices=["incoming", "outgoing"], required=False)


class ApprovalPolicySerializer(serializers.Serializer[Any]):
    """Maker-checker thresholds per currency, in minor units: a payment above its currency's
    threshold waits for a second person (admin or owner)."""

    thresholds = serializers.DictField(child=AmountField())

    def validate_thresholds(self, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(CURRENCIES))
        if unknown:
            raise serializers.ValidationError(f"Unsupported currencies: {', '.join(unknown)}.")
        return value


class DayField(serializers.DateField):
    """A day as exactly ``YYYY-MM-DD`` (``strptime`` alone would take ``2026-3-1``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(input_formats=["%Y-%m-%d"], **kwargs)

    def to_internal_value(self, value: Any) -> Any:
        if not isinstance(value, str) or not _DAY.fullmatch(value):
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(value)


class StatementQuerySerializer(serializers.Serializer[Any]):
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD``: UTC days of block time, both included."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # ``from`` is a Python keyword, so the fields cannot be declared as attributes.
        return {
            "from": DayField(required=False),
            "to": DayField(required=False),
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "from" in attrs and "to" in attrs and attrs["from"] > attrs["to"]:
            raise serializers.ValidationError({"to": ["Must not be before `from`."]})
        return attrs


class StatementEntrySerializer(serializers.Serializer[Any]):
    """One movement of the account: amounts in minor units, ``balance_after`` the posted
    balance after it; ``memo`` and ``payment_id`` only for the organization's own payments."""

    direction = serializers.ChoiceField(choices=["in", "out"])
    amount = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    counterparty = serializers.CharField(allow_null=True, help_text="None for a mint.")
    memo = serializers.CharField(allow_blank=True)
    payment_id = serializers.IntegerField(allow_null=True)
    tx_hash = serializers.CharField()
    block_height = serializers.IntegerField()
    at = serializers.DateTimeField(help_text="The block's time (ISO 8601, UTC).")


class StatementPageSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = StatementEntrySerializer(many=True)


class HoldCreateSerializer(serializers.Serializer[Any]):
    from_account = LedgerAccountIdField(help_text="One of the organization's open accounts.")
    to_account = LedgerAccountIdField(help_text="Any open account of the directory.")
    amount = AmountField(help_text="Minor units of the currency to reserve.")
    currency = serializers.ChoiceField(choices=_CURRENCY_CHOICES)
    expires_in = serializers.IntegerField(
        min_value=MIN_HOLD_SECONDS,
        max_value=MAX_HOLD_SECONDS,
        help_text="Seconds until the ledger releases the hold by itself (1 to 90 days).",
    )


class HoldCaptureSerializer(serializers.Serializer[Any]):
    amount = AmountField(
        required=False, help_text="Minor units to move (default: all); the rest is released."
    )


class HoldSerializer(serializers.ModelSerializer[Any]):
    """A hold as its payer or its payee sees it."""

    payer = serializers.CharField(source="organization.slug", read_only=True)
    payee = serializers.CharField(source="payee_organization.slug", read_only=True)
    from_account = serializers.CharField(source="from_account_id", read_only=True)
    to_account = serializers.CharField(source="to_account_id", read_only=True)

    class Meta:
        model = Hold
        fields = [
            "id", "payer", "payee", "from_account", "to_account", "amount", "captured_amount",
            "currency", "expires_at_ms", "status", "failure_code", "block_height", "created_at",
            "updated_at",
        ]  # fmt: skip
        read_only_fields = fields
