"""What a well-formed value of the state machine looks like: identifier patterns and amount bounds.

The bytes themselves are written and read by the ledger's one canonical encoder
(``ledger.consensus.encoding``); this module holds only the state machine's own rules on top of it.
"""

from __future__ import annotations

import re

from ledger.state.errors import malformed

__all__ = [
    "ACCOUNT_ID_PATTERN",
    "CURRENCY_PATTERN",
    "HOLD_EXPIRY_BUCKET_MS",
    "MAX_AMOUNT",
    "MAX_HOLD_DURATION_MS",
    "SLUG_PATTERN",
    "check_id",
]

# Amounts and balances stay within a signed 64-bit integer so every database can mirror them.
MAX_AMOUNT = 2**63 - 1

# A hold expires at most this long after the block that places it: bounds the expiry index.
MAX_HOLD_DURATION_MS = 90 * 24 * 3600 * 1000
# Width of one expiry bucket (holds expiring in the same hour share one state record).
HOLD_EXPIRY_BUCKET_MS = 3600 * 1000

# Organization ids and chain ids: Django-slug-shaped, lowercase ASCII only (no Unicode folding).
SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Account ids also allow '.' and ':' so the portal can namespace them ("acme:eur-main").
ACCOUNT_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._:-]{0,63}")
# ISO-4217-shaped: three uppercase ASCII letters.
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")


def check_id(value: object, pattern: re.Pattern[str], what: str) -> str:
    """Return ``value`` if it is a string fully matching ``pattern``, else raise malformed."""
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise malformed(f"{what} {value!r} does not match {pattern.pattern}")
    return value
