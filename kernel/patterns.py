"""Identifier patterns, one definition per kind.

Patterns are unanchored and meant for ``fullmatch`` (``re.match`` with ``$`` would let a trailing
newline through). ``anchored`` spells one as a regex string for form and serializer
``RegexField``s (which strip surrounding whitespace first) and OpenAPI ``pattern``s.

The ledger's own identifiers (organization ids, account ids, currency codes) are part of its wire
format and are defined once in the pure state machine, ``ledger.state.limits`` (``SLUG_PATTERN``,
``ACCOUNT_ID_PATTERN``, ``CURRENCY_PATTERN``); the pure packages import nothing of the Django side
and the kernel imports no app, so the ledger's Django code imports them from there.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "EXTERNAL_REF",
    "HEX_DIGEST",
    "HEX_DIGEST_ANY_CASE",
    "WORD",
    "anchored",
]

#: A SHA-256 digest, HMAC commitment or 32-byte public key as the portal writes it: lowercase hex.
HEX_DIGEST: Final = re.compile(r"[0-9a-f]{64}")
#: The same 32 bytes as a person may paste them (lookups and key settings accept upper case).
HEX_DIGEST_ANY_CASE: Final = re.compile(r"[0-9a-fA-F]{64}")
#: A short lowercase word: transaction type names, payload field names, action words.
WORD: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
#: An organization's own reference for a biometric subject (an employee number, an e-mail, ...).
EXTERNAL_REF: Final = re.compile(r"[\w.:@+-]+")


def anchored(pattern: re.Pattern[str]) -> str:
    """``pattern`` as a regex string matching whole values (``^(?:...)$``)."""
    return f"^(?:{pattern.pattern})$"
