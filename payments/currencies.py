"""The currencies the portal pays in, with their ISO 4217 exponent (minor units per major unit
as a power of ten). The one table: serializers, the approval policy and the ledger payloads all
read it. Amounts are always integers of minor units (cents, fils, yen)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["CURRENCIES", "DEFAULT_APPROVAL_THRESHOLD_MAJOR", "default_threshold", "exponent"]

CURRENCIES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "BHD": 3,
        "CHF": 2,
        "EUR": 2,
        "GBP": 2,
        "JPY": 0,
        "USD": 2,
    }
)

#: Payments above this many major units wait for a second person, unless the organization set
#: its own threshold for the currency.
DEFAULT_APPROVAL_THRESHOLD_MAJOR: Final = 1_000


def exponent(currency: str) -> int:
    """The ISO 4217 exponent of a supported ``currency`` (KeyError for any other)."""
    return CURRENCIES[currency]


def default_threshold(currency: str) -> int:
    """The default approval threshold of ``currency`` in minor units."""
    # int ** int is typed Any (a negative exponent would give a float); exponents are >= 0.
    return int(DEFAULT_APPROVAL_THRESHOLD_MAJOR * 10 ** exponent(currency))
