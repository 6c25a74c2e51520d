"""Ledger transactions: typed payloads, canonical encoding, Ed25519 signing, governance approvals.

Signing helpers live in ``signing.py``. Wire format (all integers big-endian, see
``encoding.py``)::

    u8 version=1 | text chain_id | u8 type | text sender | u64 nonce | u32 len + payload | sig[64]

The sender signs ``SHA-256(TX_DOMAIN || everything before the signature)`` with Ed25519, so a
signature is bound to one chain, one type, one sender and one nonce. ``tx_hash`` is SHA-256 of the
full encoding. Governance payloads carry approvals: Ed25519 signatures by validator organizations
over ``compute_governance_root`` which binds the action to the carrying transaction's chain, sender
and nonce, so an approval can never be replayed in another transaction.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, Self

from ledger.state.encoding import (
    ACCOUNT_ID_PATTERN,
    CURRENCY_PATTERN,
    MAX_AMOUNT,
    SLUG_PATTERN,
    Reader,
    Writer,
    check_id,
    malformed,
)
from ledger.state.errors import ErrorCode, InvalidTransaction

__all__ = [
    "BLS_POP_SIZE",
    "BLS_PUBLIC_KEY_SIZE",
    "COMMITMENT_SIZE",
    "ED25519_PUBLIC_KEY_SIZE",
    "GOVERNANCE_DOMAIN",
    "MAX_APPROVALS",
    "MAX_TX_BYTES",
    "PAYLOAD_CLASSES",
    "SIGNATURE_SIZE",
    "TX_DOMAIN",
    "AccountOpen",
    "Anchor",
    "Approval",
    "BiometricAction",
    "BiometricCommitment",
    "Consent",
    "ConsentAction",
    "DataSharing",
    "GovernancePayload",
    "Mint",
    "OrgKeyRotate",
    "OrgRegister",
    "Payload",
    "SharingAction",
    "Transaction",
    "Transfer",
    "TxType",
    "ValidatorAdd",
    "ValidatorRemove",
]

TX_ENCODING_VERSION = 1
MAX_TX_BYTES = 16 * 1024
MAX_APPROVALS = 256
COMMITMENT_SIZE = 32
ED25519_PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
BLS_PUBLIC_KEY_SIZE = 48
BLS_POP_SIZE = 96
TX_DOMAIN = b"alliance-ledger/tx/v1\x00"
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


class BiometricAction(IntEnum):
    ENROLLED = 1
    REVOKED = 2


class ConsentAction(IntEnum):
    GRANTED = 1
    REVOKED = 2


class SharingAction(IntEnum):
    GRANT = 1
    REVOKE = 2


# --- field kinds: one place that knows how each field type is checked, written and read -------


class _Text:
    def __init__(self, pattern: Any) -> None:
        self.pattern = pattern

    def check(self, value: object, what: str) -> None:
        check_id(value, self.pattern, what)

    def write(self, w: Writer, value: Any) -> None:
        w.text(value)

    def read(self, r: Reader, what: str) -> Any:
        return r.text(self.pattern, what)

    def to_json(self, value: Any) -> Any:
        return value

    def from_json(self, value: object, what: str) -> Any:
        return check_id(value, self.pattern, what)


class _Bytes:
    def __init__(self, size: int) -> None:
        self.size = size

    def check(self, value: object, what: str) -> None:
        if not isinstance(value, bytes) or len(value) != self.size:
            raise malformed(f"{what} must be exactly {self.size} bytes")

    def write(self, w: Writer, value: Any) -> None:
        w.fixed(value, self.size)

    def read(self, r: Reader, what: str) -> Any:
        return r.fixed(self.size)

    def to_json(self, value: Any) -> Any:
        return bytes(value).hex()

    def from_json(self, value: object, what: str) -> Any:
        try:
            raw = bytes.fromhex(value) if isinstance(value, str) else None
        except ValueError:
            raw = None
        if raw is None or len(raw) != self.size:
            raise malformed(f"{what} must be {self.size} bytes as hex")
        return raw


class _Amount:
    def check(self, value: object, what: str) -> None:
        # bool is an int subclass; refusing it keeps True from becoming an amount of 1.
        if type(value) is not int or not 0 < value <= MAX_AMOUNT:
            raise malformed(f"{what} must be an integer in 1..{MAX_AMOUNT}")

    def write(self, w: Writer, value: Any) -> None:
        w.u64(value)

    def read(self, r: Reader, what: str) -> Any:
        value = r.u64()
        self.check(value, what)
        return value

    def to_json(self, value: Any) -> Any:
        return value

    def from_json(self, value: object, what: str) -> Any:
        self.check(value, what)
        return value


class _Enum:
    def __init__(self, enum: type[IntEnum]) -> None:
        self.enum = enum

    def check(self, value: object, what: str) -> None:
        if not isinstance(value, self.enum):
            raise malformed(f"{what} must be a {self.enum.__name__}")

    def write(self, w: Writer, value: Any) -> None:
        w.u8(int(value))

    def read(self, r: Reader, what: str) -> Any:
        raw = r.u8()
        try:
            return self.enum(raw)
        except ValueError:
            raise malformed(f"{what} {raw} is not a {self.enum.__name__}") from None

    def to_json(self, value: Any) -> Any:
        return self.enum(value).name.lower()

    def from_json(self, value: object, what: str) -> Any:
        members = {m.name.lower(): m for m in self.enum}
        if not isinstance(value, str) or value not in members:
            raise malformed(f"{what} must be one of {sorted(members)}")
        return members[value]


_Kind = _Text | _Bytes | _Amount | _Enum
SLUG = _Text(SLUG_PATTERN)
ACCOUNT = _Text(ACCOUNT_ID_PATTERN)
CURRENCY = _Text(CURRENCY_PATTERN)
COMMITMENT = _Bytes(COMMITMENT_SIZE)
ED25519_KEY = _Bytes(ED25519_PUBLIC_KEY_SIZE)
AMOUNT = _Amount()


@dataclass(frozen=True)
class Approval:
    """A validator organization's Ed25519 signature over a governance root."""

    org_id: str
    signature: bytes

    def __post_init__(self) -> None:
        SLUG.check(self.org_id, "approval org_id")
        _Bytes(SIGNATURE_SIZE).check(self.signature, "approval signature")


class _PayloadBase:
    """Shared structure checks and encoding, driven by each payload's ``FIELDS``."""

    TYPE: ClassVar[TxType]
    FIELDS: ClassVar[tuple[tuple[str, _Kind], ...]]
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
class OrgRegister(_PayloadBase):
    """Register a member organization with its Ed25519 public key (governance)."""

    TYPE = TxType.ORG_REGISTER
    FIELDS = (("org_id", SLUG), ("public_key", ED25519_KEY))
    GOVERNED = True
    org_id: str
    public_key: bytes
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class OrgKeyRotate(_PayloadBase):
    """Replace an organization's Ed25519 key, e.g. after compromise or loss (governance)."""

    TYPE = TxType.ORG_KEY_ROTATE
    FIELDS = (("org_id", SLUG), ("public_key", ED25519_KEY))
    GOVERNED = True
    org_id: str
    public_key: bytes
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class ValidatorAdd(_PayloadBase):
    """Schedule a registered organization to join the validator set at the next epoch."""

    TYPE = TxType.VALIDATOR_ADD
    FIELDS = (
        ("org_id", SLUG),
        ("bls_public_key", _Bytes(BLS_PUBLIC_KEY_SIZE)),
        ("proof_of_possession", _Bytes(BLS_POP_SIZE)),
    )
    GOVERNED = True
    org_id: str
    bls_public_key: bytes
    proof_of_possession: bytes
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class ValidatorRemove(_PayloadBase):
    """Schedule a validator to leave the validator set at the next epoch (governance)."""

    TYPE = TxType.VALIDATOR_REMOVE
    FIELDS = (("org_id", SLUG),)
    GOVERNED = True
    org_id: str
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class Mint(_PayloadBase):
    """Issue new money into an account (governance); raises that currency's total supply."""

    TYPE = TxType.MINT
    FIELDS = (("account_id", ACCOUNT), ("currency", CURRENCY), ("amount", AMOUNT))
    GOVERNED = True
    account_id: str
    currency: str
    amount: int
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class BiometricCommitment(_PayloadBase):
    """A subject's template commitment (a 32-byte keyed hash, never biometric data)."""

    TYPE = TxType.BIOMETRIC_COMMITMENT
    FIELDS = (("action", _Enum(BiometricAction)), ("commitment", COMMITMENT))
    action: BiometricAction
    commitment: bytes


@dataclass(frozen=True)
class Consent(_PayloadBase):
    """A consent granted or revoked, as a 32-byte commitment."""

    TYPE = TxType.CONSENT
    FIELDS = (("action", _Enum(ConsentAction)), ("commitment", COMMITMENT))
    action: ConsentAction
    commitment: bytes


@dataclass(frozen=True)
class DataSharing(_PayloadBase):
    """The sender (grantor) grants or revokes a data-sharing scope to another organization."""

    TYPE = TxType.DATA_SHARING
    FIELDS = (("action", _Enum(SharingAction)), ("grantee", SLUG), ("scope", COMMITMENT))
    action: SharingAction
    grantee: str
    scope: bytes

    def check_sender(self, sender: str) -> None:
        if self.grantee == sender:
            raise malformed("an organization cannot grant data sharing to itself")


@dataclass(frozen=True)
class AccountOpen(_PayloadBase):
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
class Transfer(_PayloadBase):
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
class Anchor(_PayloadBase):
    """An arbitrary 32-byte commitment recorded for audit."""

    TYPE = TxType.ANCHOR
    FIELDS = (("commitment", COMMITMENT),)
    commitment: bytes


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
    )
}


def encode_body(chain_id: str, sender: str, nonce: int, payload: Payload) -> bytes:
    return (
        Writer()
        .u8(TX_ENCODING_VERSION)
        .text(chain_id)
        .u8(int(payload.TYPE))
        .text(sender)
        .u64(nonce)
        .var_bytes(payload.encode())
        .getvalue()
    )


def check_envelope(chain_id: object, sender: object, nonce: object, payload: object) -> None:
    SLUG.check(chain_id, "chain_id")
    SLUG.check(sender, "sender")
    if type(nonce) is not int or not 0 < nonce <= MAX_AMOUNT:
        raise malformed("nonce must be an integer in 1..2**63-1")
    if not isinstance(payload, _PayloadBase) or type(payload) not in PAYLOAD_CLASSES.values():
        raise malformed(f"unknown payload type {type(payload).__name__}")
    payload.check_sender(str(sender))


@dataclass(frozen=True)
class Transaction:
    """A signed ledger transaction. Construction validates structure and size; the encoding,
    signing root and hash are computed once here."""

    chain_id: str
    sender: str
    nonce: int
    payload: Payload
    signature: bytes
    encoding: bytes = field(init=False, repr=False, compare=False)
    signing_root: bytes = field(init=False, repr=False, compare=False)
    tx_hash: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_envelope(self.chain_id, self.sender, self.nonce, self.payload)
        _Bytes(SIGNATURE_SIZE).check(self.signature, "signature")
        body = encode_body(self.chain_id, self.sender, self.nonce, self.payload)
        encoding = body + self.signature
        if len(encoding) > MAX_TX_BYTES:
            raise InvalidTransaction(
                ErrorCode.OVERSIZE, f"{len(encoding)} bytes exceeds {MAX_TX_BYTES}"
            )
        object.__setattr__(self, "encoding", encoding)
        object.__setattr__(self, "signing_root", hashlib.sha256(TX_DOMAIN + body).digest())
        object.__setattr__(self, "tx_hash", hashlib.sha256(encoding).digest())

    @property
    def type(self) -> TxType:
        return self.payload.TYPE

    def encode(self) -> bytes:
        return self.encoding

    @classmethod
    def decode(cls, data: bytes) -> Transaction:
        """Parse a canonical encoding; raise ``InvalidTransaction`` (oversize / malformed)."""
        if len(data) > MAX_TX_BYTES:
            raise InvalidTransaction(
                ErrorCode.OVERSIZE, f"{len(data)} bytes exceeds {MAX_TX_BYTES}"
            )
        r = Reader(data)
        version = r.u8()
        if version != TX_ENCODING_VERSION:
            raise malformed(f"unknown encoding version {version}")
        chain_id = r.text(SLUG_PATTERN, "chain_id")
        raw_type = r.u8()
        try:
            payload_class = PAYLOAD_CLASSES[TxType(raw_type)]
        except ValueError:
            raise malformed(f"unknown transaction type {raw_type}") from None
        sender = r.text(SLUG_PATTERN, "sender")
        nonce = r.u64()
        payload_bytes = r.var_bytes(MAX_TX_BYTES)
        payload_reader = Reader(payload_bytes)
        payload = payload_class.decode_from(payload_reader)
        payload_reader.done()
        signature = r.fixed(SIGNATURE_SIZE)
        r.done()
        check_envelope(chain_id, sender, nonce, payload)
        # The envelope fields above are fixed-width or length-prefixed, so the input is canonical
        # exactly when the payload is; re-encoding only the payload guards field kinds against
        # admitting a second encoding of one value, without rebuilding the whole transaction.
        if payload.encode() != payload_bytes:
            raise malformed("non-canonical encoding")
        data = bytes(data)
        tx = object.__new__(cls)
        for name, value in (
            ("chain_id", chain_id), ("sender", sender), ("nonce", nonce), ("payload", payload),
            ("signature", signature), ("encoding", data),
            ("signing_root", hashlib.sha256(TX_DOMAIN + data[:-SIGNATURE_SIZE]).digest()),
            ("tx_hash", hashlib.sha256(data).digest()),
        ):  # fmt: skip
            object.__setattr__(tx, name, value)
        return tx
