"""Field kinds of transaction payloads: one place that knows how each field type is checked,
written (canonical encoding) and read, and how it looks in JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ledger.consensus.encoding import Reader, Writer
from ledger.state.errors import malformed
from ledger.state.limits import (
    ACCOUNT_ID_PATTERN,
    CURRENCY_PATTERN,
    MAX_AMOUNT,
    SLUG_PATTERN,
    check_id,
)

__all__ = [
    "ACCOUNT",
    "AMOUNT",
    "BLS_POP_SIZE",
    "BLS_PUBLIC_KEY_SIZE",
    "COMMITMENT",
    "COMMITMENT_SIZE",
    "CURRENCY",
    "ED25519_KEY",
    "ED25519_PUBLIC_KEY_SIZE",
    "HOLD_ID",
    "LEGS",
    "MAX_LEGS",
    "MIN_LEGS",
    "QUOTE",
    "REFERENCE",
    "SIGNATURE_SIZE",
    "SLUG",
    "TIMESTAMP",
    "AmountField",
    "BytesField",
    "EnumField",
    "FieldKind",
    "Leg",
    "LegsField",
    "Quote",
    "QuoteField",
    "TextField",
]

COMMITMENT_SIZE = 32
ED25519_PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
BLS_PUBLIC_KEY_SIZE = 48
BLS_POP_SIZE = 96


class TextField:
    """An ASCII identifier matching ``pattern`` (ids, currencies): u8 length + bytes."""

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


class BytesField:
    """Exactly ``size`` raw bytes (commitments, keys); hex in JSON."""

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


class AmountField:
    """An amount in minor units: a u64 in 1..MAX_AMOUNT."""

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


class EnumField:
    """A small IntEnum as one byte; its lower-case member name in JSON."""

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


SLUG = TextField(SLUG_PATTERN)
ACCOUNT = TextField(ACCOUNT_ID_PATTERN)
CURRENCY = TextField(CURRENCY_PATTERN)
COMMITMENT = BytesField(COMMITMENT_SIZE)
ED25519_KEY = BytesField(ED25519_PUBLIC_KEY_SIZE)
AMOUNT = AmountField()
# Milliseconds since the Unix epoch, compared with block header timestamps.
TIMESTAMP = AmountField()
HOLD_ID = BytesField(32)
# A 32-byte opaque reference (the portal sends a keyed hash of its payment id, never plaintext).
REFERENCE = BytesField(32)
SIGNATURE = BytesField(SIGNATURE_SIZE)

MIN_LEGS = 2
MAX_LEGS = 8


def _object(value: object, names: tuple[str, ...], what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or set(value) != set(names):
        raise malformed(f"{what} must be an object with exactly {list(names)}")
    return value


@dataclass(frozen=True)
class Leg:
    """One movement of a ``multi_transfer``: ``amount`` of ``currency`` between two accounts."""

    from_account: str
    to_account: str
    currency: str
    amount: int

    NAMES = ("from_account", "to_account", "currency", "amount")

    def __post_init__(self) -> None:
        ACCOUNT.check(self.from_account, "leg from_account")
        ACCOUNT.check(self.to_account, "leg to_account")
        CURRENCY.check(self.currency, "leg currency")
        AMOUNT.check(self.amount, "leg amount")
        if self.from_account == self.to_account:
            raise malformed("a leg needs two different accounts")

    def write(self, w: Writer) -> None:
        w.text(self.from_account).text(self.to_account).text(self.currency).u64(self.amount)

    @classmethod
    def read(cls, r: Reader) -> Leg:
        return cls(
            r.text(ACCOUNT_ID_PATTERN, "leg from_account"),
            r.text(ACCOUNT_ID_PATTERN, "leg to_account"),
            r.text(CURRENCY_PATTERN, "leg currency"),
            r.u64(),
        )


@dataclass(frozen=True)
class Quote:
    """A liquidity provider's signed exchange quote: it pays ``receive_amount`` of
    ``receive_currency`` against ``pay_amount`` of ``pay_currency`` until ``expires_at_ms``.
    ``signature`` is the provider organization's Ed25519 signature over ``compute_quote_root``."""

    provider: str
    quote_id: bytes
    pay_currency: str
    pay_amount: int
    receive_currency: str
    receive_amount: int
    expires_at_ms: int
    signature: bytes

    NAMES = (
        "provider", "quote_id", "pay_currency", "pay_amount", "receive_currency",
        "receive_amount", "expires_at_ms", "signature",
    )  # fmt: skip

    def __post_init__(self) -> None:
        SLUG.check(self.provider, "quote provider")
        COMMITMENT.check(self.quote_id, "quote_id")
        CURRENCY.check(self.pay_currency, "quote pay_currency")
        AMOUNT.check(self.pay_amount, "quote pay_amount")
        CURRENCY.check(self.receive_currency, "quote receive_currency")
        AMOUNT.check(self.receive_amount, "quote receive_amount")
        TIMESTAMP.check(self.expires_at_ms, "quote expires_at_ms")
        SIGNATURE.check(self.signature, "quote signature")

    def terms(self) -> bytes:
        """Everything but the signature: the part the provider signs (with the chain id)."""
        w = Writer().text(self.provider).fixed(self.quote_id, 32)
        w.text(self.pay_currency).u64(self.pay_amount)
        w.text(self.receive_currency).u64(self.receive_amount)
        return w.u64(self.expires_at_ms).getvalue()


class LegsField:
    """``MIN_LEGS``..``MAX_LEGS`` legs: a bounded list (``Writer.seq``); objects in JSON."""

    def check(self, value: object, what: str) -> None:
        if not isinstance(value, tuple) or not all(isinstance(leg, Leg) for leg in value):
            raise malformed(f"{what} must be a tuple of Leg")
        if not MIN_LEGS <= len(value) <= MAX_LEGS:
            raise malformed(f"{what} must have {MIN_LEGS}..{MAX_LEGS} legs")

    def write(self, w: Writer, value: Any) -> None:
        w.seq(value, lambda w, leg: leg.write(w), MAX_LEGS)

    def read(self, r: Reader, what: str) -> Any:
        return r.seq(Leg.read, MAX_LEGS)

    def to_json(self, value: Any) -> Any:
        return [{name: getattr(leg, name) for name in Leg.NAMES} for leg in value]

    def from_json(self, value: object, what: str) -> Any:
        if not isinstance(value, list):
            raise malformed(f"{what} must be a list")
        legs = []
        for item in value:
            data = _object(item, Leg.NAMES, "a leg")
            legs.append(Leg(**{name: data[name] for name in Leg.NAMES}))
        self.check(tuple(legs), what)
        return tuple(legs)


class QuoteField:
    """A ``Quote``: its terms then its signature; an object with hex bytes in JSON."""

    def check(self, value: object, what: str) -> None:
        if not isinstance(value, Quote):
            raise malformed(f"{what} must be a Quote")

    def write(self, w: Writer, value: Any) -> None:
        w.fixed(value.terms(), len(value.terms())).fixed(value.signature, SIGNATURE_SIZE)

    def read(self, r: Reader, what: str) -> Any:
        return Quote(
            r.text(SLUG_PATTERN, "quote provider"),
            r.fixed(32),
            r.text(CURRENCY_PATTERN, "quote pay_currency"),
            r.u64(),
            r.text(CURRENCY_PATTERN, "quote receive_currency"),
            r.u64(),
            r.u64(),
            r.fixed(SIGNATURE_SIZE),
        )

    def to_json(self, value: Any) -> Any:
        data = {name: getattr(value, name) for name in Quote.NAMES}
        data["quote_id"] = value.quote_id.hex()
        data["signature"] = value.signature.hex()
        return data

    def from_json(self, value: object, what: str) -> Any:
        data = dict(_object(value, Quote.NAMES, what))
        data["quote_id"] = COMMITMENT.from_json(data["quote_id"], "quote_id")
        data["signature"] = SIGNATURE.from_json(data["signature"], "quote signature")
        return Quote(**data)


FieldKind = TextField | BytesField | AmountField | EnumField | LegsField | QuoteField
LEGS = LegsField()
QUOTE = QuoteField()
