"""JSON-ready views of transactions, payloads and receipts, for the node API, the outbox and the
explorer. Bytes are lowercase hex, enums their lowercase names, amounts integers. Only the binary
encoding (``Transaction.encode``) is signed and hashed; this is a presentation and input format.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.state.errors import malformed
from ledger.state.limits import SLUG_PATTERN, check_id
from ledger.state.records import Account, Hold, Receipt
from ledger.state.transactions import (
    PAYLOAD_CLASSES,
    SIGNATURE_SIZE,
    Approval,
    Payload,
    Transaction,
    TxType,
)

__all__ = [
    "account_to_json",
    "hold_to_json",
    "payload_from_json",
    "payload_to_json",
    "receipt_to_json",
    "transaction_to_json",
    "tx_type_from_name",
]


def tx_type_from_name(name: str) -> TxType:
    """``"transfer"`` -> ``TxType.TRANSFER``; ``InvalidTransaction(malformed)`` if unknown."""
    for member in TxType:
        if member.name.lower() == name:
            return member
    raise malformed(f"unknown transaction type {name!r}")


def payload_to_json(payload: Payload) -> dict[str, Any]:
    data = {name: kind.to_json(getattr(payload, name)) for name, kind in payload.FIELDS}
    if payload.GOVERNED:
        approvals: tuple[Approval, ...] = getattr(payload, "approvals")  # noqa: B009
        data["approvals"] = [
            {"org_id": a.org_id, "signature": a.signature.hex()} for a in approvals
        ]
    return data


def payload_from_json(tx_type: TxType | str, data: Mapping[str, Any]) -> Payload:
    """Build and validate a payload; ``InvalidTransaction(malformed)`` on any bad or extra field.
    Governance payloads may omit ``approvals`` (they are added later with ``with_approvals``)."""
    kind = tx_type if isinstance(tx_type, TxType) else tx_type_from_name(tx_type)
    cls = PAYLOAD_CLASSES[kind]
    if not isinstance(data, Mapping):
        raise malformed("payload must be an object")
    expected = {name for name, _ in cls.FIELDS} | ({"approvals"} if cls.GOVERNED else set())
    unknown, missing = set(data) - expected, {name for name, _ in cls.FIELDS} - set(data)
    if unknown or missing:
        raise malformed(f"payload fields: unknown {sorted(unknown)}, missing {sorted(missing)}")
    values: dict[str, Any] = {name: k.from_json(data[name], name) for name, k in cls.FIELDS}
    if cls.GOVERNED:
        values["approvals"] = tuple(_approval(a) for a in data.get("approvals", ()))
    return cls(**values)


def _approval(data: object) -> Approval:
    if not isinstance(data, Mapping) or set(data) != {"org_id", "signature"}:
        raise malformed("an approval is an object with org_id and signature")
    signature = data["signature"]
    try:
        raw = bytes.fromhex(signature) if isinstance(signature, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != SIGNATURE_SIZE:
        raise malformed("approval signature must be 64 bytes as hex")
    return Approval(check_id(data["org_id"], SLUG_PATTERN, "approval org_id"), raw)


def transaction_to_json(tx: Transaction) -> dict[str, Any]:
    return {
        "hash": tx.tx_hash.hex(),
        "chain_id": tx.chain_id,
        "type": tx.type.name.lower(),
        "sender": tx.sender,
        "nonce": tx.nonce,
        "payload": payload_to_json(tx.payload),
        "signature": tx.signature.hex(),
        "size": len(tx.encoding),
    }


def receipt_to_json(receipt: Receipt) -> dict[str, Any]:
    return {
        "tx_hash": receipt.tx_hash.hex(),
        "status": str(receipt.status),
        "code": None if receipt.code is None else str(receipt.code),
        "reason": receipt.reason,
        "height": receipt.height,
        "index": receipt.index,
    }


def account_to_json(account: Account) -> dict[str, Any]:
    """``balance`` is the posted amount (as before holds existed); ``held`` the sum of the
    account's active holds and ``available`` what it can spend (``balance - held``)."""
    return {
        "account_id": account.account_id,
        "currency": account.currency,
        "owner": account.owner,
        "balance": account.balance,
        "held": account.held,
        "available": account.available,
    }


def hold_to_json(hold: Hold) -> dict[str, Any]:
    return {
        "hold_id": hold.hold_id.hex(),
        "sender": hold.sender,
        "from_account": hold.from_account,
        "to_account": hold.to_account,
        "currency": hold.currency,
        "amount": hold.amount,
        "expires_at_ms": hold.expires_at_ms,
        "reference": hold.reference.hex(),
        "status": hold.status.name.lower(),
        "captured": hold.captured,
        "resolved_height": hold.resolved_height,
    }
