"""Every error code of the ledger's Django side (keys, governance, the mirror), in one place.

A :class:`LedgerError` is a ``kernel.errors.DomainError`` with a code from :data:`CATALOG`; the
one exception handler renders it. The state machine's rejection codes (``ledger.state``'s
``ErrorCode``) are not API errors: they are stored on outbox rows as the ledger reported them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from kernel.errors import CatalogError

__all__ = [
    "CATALOG",
    "CORRUPT_MIRROR",
    "GENESIS_MISMATCH",
    "INCOMPLETE_MIRROR",
    "INVALID_APPROVAL",
    "INVALID_HASH",
    "KEY_IN_USE",
    "NOT_AWAITING",
    "NOT_GOVERNED",
    "NOT_READY",
    "NO_CHAIN",
    "ROTATION_PENDING",
    "LedgerError",
]

KEY_IN_USE: Final = "key_in_use"
ROTATION_PENDING: Final = "rotation_pending"
NOT_READY: Final = "not_ready"
NOT_GOVERNED: Final = "not_governed"
NOT_AWAITING: Final = "not_awaiting"
INVALID_APPROVAL: Final = "invalid_approval"
GENESIS_MISMATCH: Final = "genesis_mismatch"
INVALID_HASH: Final = "invalid_hash"
NO_CHAIN: Final = "no_chain"
INCOMPLETE_MIRROR: Final = "incomplete_mirror"
CORRUPT_MIRROR: Final = "corrupt_mirror"

# code -> (default message, HTTP status). Never rename a code, only add. A refused key or
# governance action conflicts with the current state of the organization's keys or outbox: 409.
CATALOG: Final[Mapping[str, tuple[str, int]]] = MappingProxyType(
    {
        KEY_IN_USE: ("The organization has already signed transactions.", 409),
        ROTATION_PENDING: ("A key rotation is already under way.", 409),
        NOT_READY: ("The transaction has no nonce yet.", 409),
        NOT_GOVERNED: ("Only governance transactions need approvals.", 409),
        NOT_AWAITING: ("The transaction is not awaiting approvals.", 409),
        INVALID_APPROVAL: ("Not an approval.", 409),
        GENESIS_MISMATCH: ("The node serves another chain than the pinned one.", 409),
        INVALID_HASH: ("A hash is 64 hex digits.", 400),
        NO_CHAIN: ("No ledger chain is pinned yet.", 409),
        INCOMPLETE_MIRROR: ("The portal's mirror of the ledger lacks a block this needs.", 409),
        CORRUPT_MIRROR: ("A mirrored block does not decode.", 409),
    }
)


class LedgerError(CatalogError):
    """A ledger action that cannot be done, with a stable code from :data:`CATALOG`."""

    catalog = CATALOG
