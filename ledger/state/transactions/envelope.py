"""The signed transaction envelope: version, chain, type, sender, nonce, payload, signature.

Wire format (all integers big-endian, ``ledger.consensus.encoding``)::

    u8 version=1 | text chain_id | u8 type | text sender | u64 nonce | u32 len + payload | sig[64]
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from ledger.consensus.encoding import DecodeError, Reader, Writer
from ledger.state.errors import ErrorCode, InvalidTransaction, malformed
from ledger.state.limits import MAX_AMOUNT, SLUG_PATTERN
from ledger.state.transactions.fields import SIGNATURE_SIZE, SLUG, BytesField
from ledger.state.transactions.payloads import PAYLOAD_CLASSES, Payload, PayloadBase, TxType

__all__ = [
    "MAX_TX_BYTES",
    "TX_DOMAIN",
    "TX_ENCODING_VERSION",
    "Transaction",
    "check_envelope",
    "encode_body",
]

TX_ENCODING_VERSION = 1
MAX_TX_BYTES = 16 * 1024
TX_DOMAIN = b"alliance-ledger/tx/v1\x00"


def encode_body(chain_id: str, sender: str, nonce: int, payload: Payload) -> bytes:
    return (
        Writer()
        .u8(TX_ENCODING_VERSION)
        .text(chain_id)
        .u8(int(payload.TYPE))
        .text(sender)
        .u64(nonce)
        .var(payload.encode())
        .getvalue()
    )


def check_envelope(chain_id: object, sender: object, nonce: object, payload: object) -> None:
    SLUG.check(chain_id, "chain_id")
    SLUG.check(sender, "sender")
    if type(nonce) is not int or not 0 < nonce <= MAX_AMOUNT:
        raise malformed("nonce must be an integer in 1..2**63-1")
    if not isinstance(payload, PayloadBase) or type(payload) not in PAYLOAD_CLASSES.values():
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
        BytesField(SIGNATURE_SIZE).check(self.signature, "signature")
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
        try:
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
            payload_bytes = r.var(MAX_TX_BYTES)
            payload_reader = Reader(payload_bytes)
            payload = payload_class.decode_from(payload_reader)
            payload_reader.finish()
            signature = r.fixed(SIGNATURE_SIZE)
            r.finish()
        except DecodeError as exc:
            raise malformed(str(exc)) from exc
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
