"""Named errors of the replicated state machine, each with a stable code.

Two kinds of failure exist and the difference is consensus-critical:

- ``InvalidTransaction`` (the *door* codes): the transaction is not well-formed or not properly
  authenticated by its sender (malformed, oversize, wrong chain, unknown sender, bad nonce, bad
  signature). Such a transaction never enters a block; a block containing one is ``InvalidBlock``.
- ``TransactionRejected`` (the *business* codes): the transaction is authentic but breaks a rule of
  the current state (insufficient funds, unknown account, missing governance approvals, ...). It is
  recorded in the block with a rejected receipt and consumes the sender's nonce.

The codes are part of the replicated state (receipts store them) and of the node API, so they never
change once released: add new codes, never rename old ones.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "DOOR_CODES",
    "ErrorCode",
    "InvalidBlock",
    "InvalidGenesis",
    "InvalidTransaction",
    "LedgerStateError",
    "StateDivergence",
    "TransactionRejected",
    "malformed",
]


class ErrorCode(StrEnum):
    """Stable reason codes; their string values are stored in receipts and shown by the API."""

    # Door codes: the transaction never enters a block.
    MALFORMED = "malformed"
    OVERSIZE = "oversize"
    WRONG_CHAIN = "wrong_chain"
    UNKNOWN_SENDER = "unknown_sender"
    BAD_NONCE = "bad_nonce"
    BAD_SIGNATURE = "bad_signature"
    # Business codes: the transaction is recorded as rejected.
    UNAUTHORISED = "unauthorised"
    DUPLICATE = "duplicate"
    UNKNOWN_ORGANIZATION = "unknown_organization"
    UNKNOWN_ACCOUNT = "unknown_account"
    UNKNOWN_VALIDATOR = "unknown_validator"
    NOT_ACTIVE = "not_active"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    CURRENCY_MISMATCH = "currency_mismatch"
    INVALID_PROOF_OF_POSSESSION = "invalid_proof_of_possession"
    VALIDATOR_SET_TOO_SMALL = "validator_set_too_small"
    SUPPLY_OVERFLOW = "supply_overflow"
    UNKNOWN_HOLD = "unknown_hold"
    HOLD_EXPIRED = "hold_expired"
    INVALID_EXPIRY = "invalid_expiry"
    QUOTE_EXPIRED = "quote_expired"
    QUOTE_MISMATCH = "quote_mismatch"
    EXCEEDS_HOLD = "exceeds_hold"


DOOR_CODES: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.MALFORMED,
        ErrorCode.OVERSIZE,
        ErrorCode.WRONG_CHAIN,
        ErrorCode.UNKNOWN_SENDER,
        ErrorCode.BAD_NONCE,
        ErrorCode.BAD_SIGNATURE,
    }
)


class LedgerStateError(Exception):
    """Base class of every error raised by ``ledger.state``."""


class InvalidTransaction(LedgerStateError):
    """A transaction refused at the door (mempool admission, block validation, decoding)."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def malformed(reason: str) -> InvalidTransaction:
    """Build the error every encoding and structure check raises."""
    return InvalidTransaction(ErrorCode.MALFORMED, reason)


class TransactionRejected(LedgerStateError):
    """An authentic transaction that breaks a business rule; it is recorded with this code."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class InvalidBlock(LedgerStateError):
    """A block that no honest validator may apply: it carries a transaction invalid at the door,
    or is larger than the block limit. ``index`` is the offending transaction's position (or -1)."""

    def __init__(self, index: int, reason: str, cause: InvalidTransaction | None = None) -> None:
        super().__init__(f"invalid block (transaction {index}): {reason}")
        self.index = index
        self.reason = reason
        self.cause = cause


class StateDivergence(LedgerStateError):
    """Replaying a certified block did not give the state root its header carries."""


class InvalidGenesis(LedgerStateError):
    """A genesis description that cannot start a chain (duplicate ids, bad key sizes, ...)."""
