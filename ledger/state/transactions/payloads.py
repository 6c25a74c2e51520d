"""Transaction payloads: one frozen dataclass per ``TxType``, checked, encoded and decoded
through its ``FIELDS`` (field kinds in ``fields.py``); governance payloads also carry approvals."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Self

from ledger.consensus.encoding import Reader, Writer
from ledger.state.errors import malformed
from ledger.state.limits import SLUG_PATTERN
from ledger.state.transactions.fields import (
    ACCOUNT,
    AMOUNT,
    BLS_POP_SIZE,
    BLS_PUBLIC_KEY_SIZE,
    COMMITMENT,
    CURRENCY,
    ED25519_KEY,
    HOLD_ID,
    LEGS,
    QUOTE,
    REFERENCE,
    SIGNATURE_SIZE,
    SLUG,
    TIMESTAMP,
    BytesField,
    EnumField,
    FieldKind,
    Leg,
    Quote,
)

__all__ = [
    "GOVERNANCE_DOMAIN",
    "MAX_APPROVALS",
    "PAYLOAD_CLASSES",
    "AccountOpen",
    "Anchor",
    "Approval",
    "BiometricAction",
    "BiometricCommitment",
    "Consent",
    "ConsentAction",
    "DataSharing",
    "GovernancePayload",
    "HoldCapture",
    "HoldPlace",
    "HoldVoid",
    "Mint",
    "MultiTransfer",
    "OrgKeyRotate",
    "OrgRegister",
    "Payload",
    "PayloadBase",
    "Payment",
    "SharingAction",
    "Transfer",
    "TxType",
    "ValidatorAdd",
    "ValidatorRemove",
]

MAX_APPROVALS = 256
GOVERNANCE_DOMAIN = b"alliance-ledger/governance/v1\x00"


class TxType(IntEnum):
    """Transaction types; the value is the wire byte, ``name.lower()`` the API name."""

    ORG_REGISTER = 1
    ORG_KEY_ROTATE = 2
    VALIDATOR_ADD = 3
    VALIDATOR_REMOVE = 4
    BIOMETRIC_COMMITMENT = 5
    CONSENT = 6
    DATA_SHARING = 7
    ACCOUNT_OPEN = 8
    TRANSFER = 9
    MINT = 10
    ANCHOR = 11
    PAYMENT = 12
    HOLD_PLACE = 13
    HOLD_CAPTURE = 14
    HOLD_VOID = 15
    MULTI_TRANSFER = 16


class BiometricAction(IntEnum):
    ENROLLED = 1
    REVOKED = 2


class ConsentAction(IntEnum):
    GRANTED = 1
    REVOKED = 2


class SharingAction(IntEnum):
    GRANT = 1
    REVOKE = 2


@dataclass(frozen=True)
class Approval:
    """A validator organization's Ed25519 signature over a governance root."""

    org_id: str
    signature: bytes

    def __post_init__(self) -> None:
        SLUG.check(self.org_id, "approval org_id")
        BytesField(SIGNATURE_SIZE).check(self.signature, "approval signature")


class PayloadBase:
    """Shared structure checks and encoding, driven by each payload's ``FIELDS``."""

    TYPE: ClassVar[TxType]
    FIELDS: ClassVar[tuple[tuple[str, FieldKind], ...]]
    GOVERNED: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for name, kind in self.FIELDS:
            kind.check(getattr(self, name), name)
        if self.GOVERNED:
            approvals = getattr(self, "approvals")  # noqa: B009 - declared by governed subclasses
            if not isinstance(approvals, tuple) or not all(
                isinstance(a, Approval) for a in approvals
            ):
                raise malformed("approvals must be a tuple of Approval")
            if len(approvals) > MAX_APPROVALS:
                raise malformed(f"more than {MAX_APPROVALS} approvals")
            ids = [a.org_id for a in approvals]
            # Strictly ascending ids: one canonical order, and no organization counted twice.
            if any(a >= b for a, b in itertools.pairwise(ids)):
                raise malformed("approvals must be sorted by org_id without duplicates")
        self._check_extra()

    def _check_extra(self) -> None:
        """Per-type structural rules beyond field shapes (overridden where needed)."""

    def check_sender(self, sender: str) -> None:
        """Structural rules that involve the sender (overridden where needed)."""

    def action_bytes(self) -> bytes:
        """Encoding of the payload without approvals: what governance approvers sign."""
        w = Writer()
        for name, kind in self.FIELDS:
            kind.write(w, getattr(self, name))
        return w.getvalue()

    def encode(self) -> bytes:
        if not self.GOVERNED:
            return self.action_bytes()
        w = Writer()
        approvals: tuple[Approval, ...] = getattr(self, "approvals")  # noqa: B009
        w.u16(len(approvals))
        for approval in approvals:
            w.text(approval.org_id).fixed(approval.signature, SIGNATURE_SIZE)
        return self.action_bytes() + w.getvalue()

    @classmethod
    def decode_from(cls, r: Reader) -> Self:
        values: dict[str, Any] = {name: kind.read(r, name) for name, kind in cls.FIELDS}
        if cls.GOVERNED:
            count = r.u16()
            if count > MAX_APPROVALS:
                raise malformed(f"more than {MAX_APPROVALS} approvals")
            values["approvals"] = tuple(
                Approval(org_id=r.text(SLUG_PATTERN, "approval org_id"), signature=r.fixed(64))
                for _ in range(count)
            )
        return cls(**values)


@dataclass(frozen=True)
class OrgRegister(PayloadBase):
    """Register a member organization with its Ed25519 public key (governance)."""

    TYPE = TxType.ORG_REGISTER
    FIELDS = (("org_id", SLUG), ("public_key", ED25519_KEY))
    GOVERNED = True
    org_id: str
    public_key: bytes
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class OrgKeyRotate(PayloadBase):
    """Replace an organization's Ed25519 key, e.g. after compromise or loss (governance)."""

    TYPE = TxType.ORG_KEY_ROTATE
    FIELDS = (("org_id", SLUG), ("public_key", ED25519_KEY))
    GOVERNED = True
    org_id: str
    public_key: bytes
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class ValidatorAdd(PayloadBase):
    """Schedule a registered organization to join the validator set at the next epoch."""

    TYPE = TxType.VALIDATOR_ADD
    FIELDS = (
        ("org_id", SLUG),
        ("bls_public_key", BytesField(BLS_PUBLIC_KEY_SIZE)),
        ("proof_of_possession", BytesField(BLS_POP_SIZE)),
    )
    GOVERNED = True
    org_id: str
    bls_public_key: bytes
    proof_of_possession: bytes
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class ValidatorRemove(PayloadBase):
    """Schedule a validator to leave the validator set at the next epoch (governance)."""

    TYPE = TxType.VALIDATOR_REMOVE
    FIELDS = (("org_id", SLUG),)
    GOVERNED = True
    org_id: str
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class Mint(PayloadBase):
    """Issue new money into an account (governance); raises that currency's total supply."""

    TYPE = TxType.MINT
    FIELDS = (("account_id", ACCOUNT), ("currency", CURRENCY), ("amount", AMOUNT))
    GOVERNED = True
    account_id: str
    currency: str
    amount: int
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class BiometricCommitment(PayloadBase):
    """A subject's template commitment (a 32-byte keyed hash, never biometric data)."""

    TYPE = TxType.BIOMETRIC_COMMITMENT
    FIELDS = (("action", EnumField(BiometricAction)), ("commitment", COMMITMENT))
    action: BiometricAction
    commitment: bytes


@dataclass(frozen=True)
class Consent(PayloadBase):
    """A consent granted or revoked, as a 32-byte commitment."""

    TYPE = TxType.CONSENT
    FIELDS = (("action", EnumField(ConsentAction)), ("commitment", COMMITMENT))
    action: ConsentAction
    commitment: bytes


@dataclass(frozen=True)
class DataSharing(PayloadBase):
    """The sender (grantor) grants or revokes a data-sharing scope to another organization."""

    TYPE = TxType.DATA_SHARING
    FIELDS = (("action", EnumField(SharingAction)), ("grantee", SLUG), ("scope", COMMITMENT))
    action: SharingAction
    grantee: str
    scope: bytes

    def check_sender(self, sender: str) -> None:
        if self.grantee == sender:
            raise malformed("an organization cannot grant data sharing to itself")


@dataclass(frozen=True)
class AccountOpen(PayloadBase):
    """Open an account in one currency; the owner must be the sender."""

    TYPE = TxType.ACCOUNT_OPEN
    FIELDS = (("account_id", ACCOUNT), ("currency", CURRENCY), ("owner", SLUG))
    account_id: str
    currency: str
    owner: str

    def check_sender(self, sender: str) -> None:
        # An organization may not open accounts (future liabilities) in another's name.
        if self.owner != sender:
            raise malformed("the account owner must be the sender")


@dataclass(frozen=True)
class Transfer(PayloadBase):
    """Move ``amount`` minor units between two ``currency`` accounts; the sender owns the source."""

    TYPE = TxType.TRANSFER
    FIELDS = (
        ("from_account", ACCOUNT),
        ("to_account", ACCOUNT),
        ("currency", CURRENCY),
        ("amount", AMOUNT),
    )
    from_account: str
    to_account: str
    currency: str
    amount: int

    def _check_extra(self) -> None:
        if self.from_account == self.to_account:
            raise malformed("a transfer needs two different accounts")


@dataclass(frozen=True)
class Anchor(PayloadBase):
    """An arbitrary 32-byte commitment recorded for audit."""

    TYPE = TxType.ANCHOR
    FIELDS = (("commitment", COMMITMENT),)
    commitment: bytes


@dataclass(frozen=True)
class Payment(PayloadBase):
    """A transfer carrying a 32-byte ``reference`` (an opaque keyed hash chosen by the payer)."""

    TYPE = TxType.PAYMENT
    FIELDS = (
        ("from_account", ACCOUNT),
        ("to_account", ACCOUNT),
        ("currency", CURRENCY),
        ("amount", AMOUNT),
        ("reference", REFERENCE),
    )
    from_account: str
    to_account: str
    currency: str
    amount: int
    reference: bytes

    def _check_extra(self) -> None:
        if self.from_account == self.to_account:
            raise malformed("a payment needs two different accounts")


@dataclass(frozen=True)
class HoldPlace(PayloadBase):
    """Reserve ``amount`` on ``from_account`` for ``to_account`` until ``expires_at_ms`` (the
    first phase of a two-phase transfer); ``hold_capture`` or ``hold_void`` resolves it."""

    TYPE = TxType.HOLD_PLACE
    FIELDS = (
        ("hold_id", HOLD_ID),
        ("from_account", ACCOUNT),
        ("to_account", ACCOUNT),
        ("currency", CURRENCY),
        ("amount", AMOUNT),
        ("expires_at_ms", TIMESTAMP),
        ("reference", REFERENCE),
    )
    hold_id: bytes
    from_account: str
    to_account: str
    currency: str
    amount: int
    expires_at_ms: int
    reference: bytes

    def _check_extra(self) -> None:
        if self.from_account == self.to_account:
            raise malformed("a hold needs two different accounts")


@dataclass(frozen=True)
class HoldCapture(PayloadBase):
    """Move ``amount`` (1..the held amount) of an active hold to its destination and release the
    rest; only the organization that placed the hold may capture it."""

    TYPE = TxType.HOLD_CAPTURE
    FIELDS = (("hold_id", HOLD_ID), ("amount", AMOUNT))
    hold_id: bytes
    amount: int


@dataclass(frozen=True)
class HoldVoid(PayloadBase):
    """Release an active hold without moving anything (its placer or the destination's owner)."""

    TYPE = TxType.HOLD_VOID
    FIELDS = (("hold_id", HOLD_ID),)
    hold_id: bytes


@dataclass(frozen=True)
class MultiTransfer(PayloadBase):
    """2..8 legs applied atomically (all or none), e.g. a cross-currency payment through a
    liquidity provider; legs from the provider's accounts are authorised by its signed quote."""

    TYPE = TxType.MULTI_TRANSFER
    FIELDS = (("legs", LEGS), ("reference", REFERENCE), ("quote", QUOTE))
    legs: tuple[Leg, ...]
    reference: bytes
    quote: Quote


Payload = (
    OrgRegister
    | OrgKeyRotate
    | ValidatorAdd
    | ValidatorRemove
    | Mint
    | BiometricCommitment
    | Consent
    | DataSharing
    | AccountOpen
    | Transfer
    | Anchor
    | Payment
    | HoldPlace
    | HoldCapture
    | HoldVoid
    | MultiTransfer
)
GovernancePayload = OrgRegister | OrgKeyRotate | ValidatorAdd | ValidatorRemove | Mint

PAYLOAD_CLASSES: dict[TxType, type[Payload]] = {
    cls.TYPE: cls
    for cls in (
        OrgRegister,
        OrgKeyRotate,
        ValidatorAdd,
        ValidatorRemove,
        Mint,
        BiometricCommitment,
        Consent,
        DataSharing,
        AccountOpen,
        Transfer,
        Anchor,
        Payment,
        HoldPlace,
        HoldCapture,
        HoldVoid,
        MultiTransfer,
    )
}
