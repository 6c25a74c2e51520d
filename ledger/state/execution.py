"""Transaction execution: door checks, per-type ``process_*`` handlers, and the block context.

A handler validates everything first and raises ``TransactionRejected`` on a business-rule failure;
its writes go to a per-transaction layer that is merged only on success, so a rejected transaction
changes nothing but the sender's nonce and its receipt (all-or-nothing, whatever the handler does).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from ledger.state.errors import ErrorCode, InvalidTransaction, TransactionRejected
from ledger.state.limits import HOLD_EXPIRY_BUCKET_MS, MAX_AMOUNT, MAX_HOLD_DURATION_MS
from ledger.state.records import (
    Account,
    AnchorRecord,
    ChainMeta,
    ChangeKind,
    ExpiryBucket,
    ExpiryIndex,
    Hold,
    HoldStatus,
    Organization,
    QuoteRecord,
    Receipt,
    ReceiptStatus,
    StateReader,
    StatusRecord,
    Supply,
    ValidatorChange,
    ValidatorSet,
    compute_receipts_root,
    keys,
)
from ledger.state.signing import compute_governance_root, compute_quote_root, verify_ed25519
from ledger.state.store import MerkleMap, Overlay, Record
from ledger.state.transactions import (
    AccountOpen,
    Anchor,
    BiometricAction,
    BiometricCommitment,
    Consent,
    ConsentAction,
    DataSharing,
    GovernancePayload,
    HoldCapture,
    HoldPlace,
    HoldVoid,
    Mint,
    MultiTransfer,
    OrgKeyRotate,
    OrgRegister,
    Payment,
    SharingAction,
    Transaction,
    Transfer,
    TxType,
    ValidatorAdd,
    ValidatorRemove,
)

__all__ = ["BlockContext", "PopVerifier", "check_admission", "execute_transaction"]

PopVerifier = Callable[[bytes, bytes], bool]
"""``pop_verify(bls_public_key_48, proof_of_possession_96) -> bool``: KeyValidate + PopVerify of
the ciphersuite, injected by the caller (the BLS facade) so this package stays pure."""


class BlockContext(StateReader):
    """Mutable view of a state while one block is applied; ``finish`` yields the new map."""

    def __init__(self, base: MerkleMap, pop_verify: PopVerifier) -> None:
        self._overlay = Overlay(base)
        self._tx_writes: dict[bytes, Record | None] = {}
        self.pop_verify = pop_verify

    def _get(self, key: bytes) -> Record | None:
        if key in self._tx_writes:
            return self._tx_writes[key]
        return self._overlay.get(key)

    def put(self, key: bytes, value: Record) -> None:
        self._tx_writes[key] = value

    def delete(self, key: bytes) -> None:
        self._tx_writes[key] = None

    def keep(self) -> None:
        """Merge the current transaction's writes into the block."""
        for key, value in self._tx_writes.items():
            if value is None:
                self._overlay.delete(key)
            else:
                self._overlay.put(key, value)
        self._tx_writes.clear()

    def discard(self) -> None:
        """Drop the current transaction's writes (it was rejected)."""
        self._tx_writes.clear()

    def finish(self) -> MerkleMap:
        self.keep()
        return self._overlay.finish()


def is_valid_pop(pop_verify: PopVerifier, bls_public_key: bytes, proof: bytes) -> bool:
    """Run the injected check; a verifier that raises on malformed input counts as "invalid"."""
    try:
        return pop_verify(bls_public_key, proof) is True
    except Exception:  # the hook is foreign code; any failure to verify is a failed proof
        return False


def check_admission(reader: StateReader, tx: Transaction, *, nonce_window: int = 0) -> Organization:
    """The door checks (structure and size were checked when ``tx`` was built or decoded).

    ``nonce_window`` lets a mempool queue up to that many future nonces of one sender; block
    application always uses 0 (the nonce must be exactly the next one)."""
    if tx.chain_id != reader.chain_id:
        raise InvalidTransaction(
            ErrorCode.WRONG_CHAIN, f"transaction for chain {tx.chain_id!r}, not {reader.chain_id!r}"
        )
    org = reader.organization(tx.sender)
    if org is None:
        raise InvalidTransaction(ErrorCode.UNKNOWN_SENDER, f"no organization {tx.sender!r}")
    expected = org.nonce + 1
    if tx.nonce < expected:
        raise InvalidTransaction(
            ErrorCode.BAD_NONCE, f"nonce {tx.nonce} already used (next is {expected})"
        )
    if tx.nonce > expected + nonce_window:
        raise InvalidTransaction(ErrorCode.BAD_NONCE, f"nonce {tx.nonce}, expected {expected}")
    if not verify_ed25519(org.public_key, tx.signature, tx.signing_root):
        raise InvalidTransaction(ErrorCode.BAD_SIGNATURE, f"not signed by {tx.sender!r}'s key")
    return org


def execute_transaction(ctx: BlockContext, tx: Transaction, index: int) -> Receipt:
    """Apply one transaction that passed ``check_admission``; return its receipt."""
    code: ErrorCode | None
    try:
        _HANDLERS[tx.type](ctx, tx, tx.payload)
    except TransactionRejected as rejection:
        ctx.discard()
        status, code, reason = ReceiptStatus.REJECTED, rejection.code, rejection.reason
    else:
        ctx.keep()
        status, code, reason = ReceiptStatus.COMMITTED, None, ""
    # Re-read the sender: a committed key rotation may just have replaced its record.
    sender = ctx.organization(tx.sender)
    if sender is None:  # unreachable: check_admission found it and nothing deletes organizations
        raise LookupError(f"sender {tx.sender!r} vanished during execution")
    ctx.put(keys.organization(tx.sender), dataclasses.replace(sender, nonce=tx.nonce))
    ctx.keep()
    return Receipt(tx.tx_hash, status, code, ctx.height, index, reason)


def begin_epoch(ctx: BlockContext) -> None:
    """Apply the pending validator-set changes and move to the next epoch."""
    record = ctx.validators
    ctx.put(keys.VALIDATORS, ValidatorSet(record.next_validators(), ()))
    ctx.put(keys.META, dataclasses.replace(ctx.meta, epoch=ctx.meta.epoch + 1))
    ctx.keep()


def begin_block(ctx: BlockContext, timestamp_ms: int) -> None:
    """Height + 1 and the block's header timestamp, then release the holds due at it."""
    meta: ChainMeta = ctx.meta
    ctx.put(keys.META, dataclasses.replace(meta, height=meta.height + 1, timestamp_ms=timestamp_ms))
    ctx.keep()
    expire_holds(ctx)


def _expiry_index(ctx: BlockContext) -> tuple[int, ...]:
    record = ctx.expiry_index()
    return () if record is None else record.buckets


def _put_expiry_index(ctx: BlockContext, buckets: tuple[int, ...]) -> None:
    if buckets:
        ctx.put(keys.EXPIRY_INDEX, ExpiryIndex(buckets))
    else:
        ctx.delete(keys.EXPIRY_INDEX)


def expire_holds(ctx: BlockContext) -> None:
    """Release every active hold whose ``expires_at_ms`` is at or before the block's timestamp,
    before the block's transactions (docs/ledger.md, "Payments"). Cost: the entries of the due
    buckets, found through the expiry index, never a scan of all holds."""
    now = ctx.meta.timestamp_ms
    index = _expiry_index(ctx)
    due = 0
    while due < len(index) and index[due] <= now // HOLD_EXPIRY_BUCKET_MS:
        number = index[due]
        bucket_key = keys.expiry_bucket(number)
        bucket = ctx.expiry_bucket(number)
        entries = () if bucket is None else bucket.entries
        # Entries are sorted by time: the due ones are a prefix.
        cut = bisect.bisect_right(entries, (now, b"\xff" * 32))
        for _, hold_id in entries[:cut]:
            hold = ctx.hold(hold_id)
            if hold is not None and hold.status is HoldStatus.ACTIVE:
                _release(ctx, hold, HoldStatus.EXPIRED)
        if cut < len(entries):
            ctx.put(bucket_key, ExpiryBucket(entries[cut:]))
            break  # a bucket with entries still ahead of ``now`` is the last due one
        ctx.delete(bucket_key)
        due += 1
    if due:
        _put_expiry_index(ctx, index[due:])
    ctx.keep()


def _release(ctx: BlockContext, hold: Hold, status: HoldStatus, captured: int = 0) -> None:
    """Resolve an active hold: un-reserve its amount on the source and record the outcome."""
    source = ctx.account(hold.from_account)
    if source is None:  # unreachable: accounts are never deleted
        raise LookupError(f"account {hold.from_account!r} of a hold vanished")
    ctx.put(
        keys.account(hold.from_account),
        dataclasses.replace(
            source, balance=source.balance - captured, held=source.held - hold.amount
        ),
    )
    ctx.put(
        keys.hold(hold.hold_id),
        dataclasses.replace(hold, status=status, captured=captured, resolved_height=ctx.height),
    )


def end_block(ctx: BlockContext, receipts: Sequence[Receipt]) -> None:
    meta: ChainMeta = ctx.meta
    ctx.put(keys.META, dataclasses.replace(meta, receipts_root=compute_receipts_root(receipts)))
    ctx.keep()


def _reject(code: ErrorCode, reason: str) -> TransactionRejected:
    return TransactionRejected(code, reason)


def _require_governance(ctx: BlockContext, tx: Transaction, payload: GovernancePayload) -> None:
    """More than two thirds of the current validator organizations must have approved."""
    validator_orgs = ctx.validators.org_ids
    root = compute_governance_root(
        chain_id=tx.chain_id, sender=tx.sender, nonce=tx.nonce, payload=payload
    )
    for approval in payload.approvals:
        org = ctx.organization(approval.org_id)
        if approval.org_id not in validator_orgs or org is None:
            raise _reject(
                ErrorCode.UNAUTHORISED, f"{approval.org_id!r} is not a validator organization"
            )
        if not verify_ed25519(org.public_key, approval.signature, root):
            raise _reject(ErrorCode.UNAUTHORISED, f"bad approval signature from {org.org_id!r}")
    approved, total = len(payload.approvals), len(validator_orgs)
    if 3 * approved <= 2 * total:
        raise _reject(
            ErrorCode.UNAUTHORISED,
            f"{approved} of {total} validator organizations approved; more than 2/3 needed",
        )


def process_org_register(ctx: BlockContext, tx: Transaction, p: OrgRegister) -> None:
    _require_governance(ctx, tx, p)
    if ctx.organization(p.org_id) is not None:
        raise _reject(ErrorCode.DUPLICATE, f"organization {p.org_id!r} already registered")
    ctx.put(keys.organization(p.org_id), Organization(p.org_id, p.public_key, 0))


def process_org_key_rotate(ctx: BlockContext, tx: Transaction, p: OrgKeyRotate) -> None:
    _require_governance(ctx, tx, p)
    org = ctx.organization(p.org_id)
    if org is None:
        raise _reject(ErrorCode.UNKNOWN_ORGANIZATION, f"no organization {p.org_id!r}")
    ctx.put(keys.organization(p.org_id), dataclasses.replace(org, public_key=p.public_key))


def process_validator_add(ctx: BlockContext, tx: Transaction, p: ValidatorAdd) -> None:
    _require_governance(ctx, tx, p)
    if ctx.organization(p.org_id) is None:
        raise _reject(ErrorCode.UNKNOWN_ORGANIZATION, f"no organization {p.org_id!r}")
    record = ctx.validators
    upcoming = record.next_validators()
    if any(v.org_id == p.org_id for v in upcoming):
        raise _reject(ErrorCode.DUPLICATE, f"{p.org_id!r} is already (or about to be) a validator")
    if any(v.bls_public_key == p.bls_public_key for v in upcoming):
        raise _reject(ErrorCode.DUPLICATE, "BLS public key already used by another validator")
    if not is_valid_pop(ctx.pop_verify, p.bls_public_key, p.proof_of_possession):
        raise _reject(ErrorCode.INVALID_PROOF_OF_POSSESSION, "proof of possession does not verify")
    change = ValidatorChange(ChangeKind.ADD, p.org_id, p.bls_public_key)
    ctx.put(keys.VALIDATORS, ValidatorSet(record.validators, (*record.pending, change)))


def process_validator_remove(ctx: BlockContext, tx: Transaction, p: ValidatorRemove) -> None:
    _require_governance(ctx, tx, p)
    record = ctx.validators
    upcoming = record.next_validators()
    if all(v.org_id != p.org_id for v in upcoming):
        raise _reject(
            ErrorCode.UNKNOWN_VALIDATOR, f"{p.org_id!r} is not (or no longer) a validator"
        )
    if len(upcoming) <= 1:
        raise _reject(ErrorCode.VALIDATOR_SET_TOO_SMALL, "cannot remove the last validator")
    change = ValidatorChange(ChangeKind.REMOVE, p.org_id)
    ctx.put(keys.VALIDATORS, ValidatorSet(record.validators, (*record.pending, change)))


def process_mint(ctx: BlockContext, tx: Transaction, p: Mint) -> None:
    _require_governance(ctx, tx, p)
    account = ctx.account(p.account_id)
    if account is None:
        raise _reject(ErrorCode.UNKNOWN_ACCOUNT, f"no account {p.account_id!r}")
    if account.currency != p.currency:
        raise _reject(
            ErrorCode.CURRENCY_MISMATCH, f"account holds {account.currency}, not {p.currency}"
        )
    supply = ctx.supply(p.currency)
    # Balances never exceed the supply, so bounding the supply bounds every balance too.
    if supply + p.amount > MAX_AMOUNT:
        raise _reject(ErrorCode.SUPPLY_OVERFLOW, f"{p.currency} supply would exceed 2**63-1")
    ctx.put(
        keys.account(p.account_id), dataclasses.replace(account, balance=account.balance + p.amount)
    )
    ctx.put(keys.supply(p.currency), Supply(p.currency, supply + p.amount))


def _toggle(
    ctx: BlockContext, key: bytes, current: StatusRecord | None, activate: bool, what: str
) -> None:
    is_active = current is not None and current.active
    if activate and is_active:
        raise _reject(ErrorCode.DUPLICATE, f"{what} is already active")
    if not activate and not is_active:
        raise _reject(ErrorCode.NOT_ACTIVE, f"{what} is not active")
    ctx.put(key, StatusRecord(activate, ctx.height))


def process_biometric_commitment(
    ctx: BlockContext, tx: Transaction, p: BiometricCommitment
) -> None:
    current = ctx.biometric_commitment(tx.sender, p.commitment)
    key = keys.biometric(tx.sender, p.commitment)
    _toggle(ctx, key, current, p.action is BiometricAction.ENROLLED, "template commitment")


def process_consent(ctx: BlockContext, tx: Transaction, p: Consent) -> None:
    current = ctx.consent(tx.sender, p.commitment)
    _toggle(
        ctx,
        keys.consent(tx.sender, p.commitment),
        current,
        p.action is ConsentAction.GRANTED,
        "consent",
    )


def process_data_sharing(ctx: BlockContext, tx: Transaction, p: DataSharing) -> None:
    if ctx.organization(p.grantee) is None:
        raise _reject(ErrorCode.UNKNOWN_ORGANIZATION, f"no organization {p.grantee!r}")
    current = ctx.grant(tx.sender, p.grantee, p.scope)
    key = keys.grant(tx.sender, p.grantee, p.scope)
    _toggle(ctx, key, current, p.action is SharingAction.GRANT, "data-sharing grant")


def process_account_open(ctx: BlockContext, tx: Transaction, p: AccountOpen) -> None:
    if ctx.account(p.account_id) is not None:
        raise _reject(ErrorCode.DUPLICATE, f"account {p.account_id!r} already exists")
    ctx.put(keys.account(p.account_id), Account(p.account_id, p.currency, p.owner, 0))


def _accounts(
    ctx: BlockContext, from_account: str, to_account: str, currency: str, owner: str | None
) -> tuple[Account, Account]:
    """Both accounts of a movement: existing, the source owned by ``owner`` (unless None), both
    of ``currency``."""
    source, target = ctx.account(from_account), ctx.account(to_account)
    if source is None:
        raise _reject(ErrorCode.UNKNOWN_ACCOUNT, f"no account {from_account!r}")
    if target is None:
        raise _reject(ErrorCode.UNKNOWN_ACCOUNT, f"no account {to_account!r}")
    if owner is not None and source.owner != owner:
        raise _reject(ErrorCode.UNAUTHORISED, f"{owner!r} does not own {from_account!r}")
    if source.currency != currency or target.currency != currency:
        raise _reject(
            ErrorCode.CURRENCY_MISMATCH,
            f"{currency} transfer between {source.currency} and {target.currency} accounts",
        )
    return source, target


def _require_available(account: Account, amount: int) -> None:
    # Held funds are reserved for their holds: only the available part can leave the account.
    if account.available < amount:
        raise _reject(
            ErrorCode.INSUFFICIENT_FUNDS,
            f"available {account.available} (balance {account.balance}, held {account.held}) "
            f"is less than {amount}",
        )


def _move(
    ctx: BlockContext, from_account: str, to_account: str, currency: str, amount: int
) -> None:
    """Move ``amount`` of available funds (the caller has checked who may move them)."""
    source, target = _accounts(ctx, from_account, to_account, currency, None)
    _require_available(source, amount)
    ctx.put(
        keys.account(from_account), dataclasses.replace(source, balance=source.balance - amount)
    )
    ctx.put(keys.account(to_account), dataclasses.replace(target, balance=target.balance + amount))


def process_transfer(ctx: BlockContext, tx: Transaction, p: Transfer) -> None:
    _accounts(ctx, p.from_account, p.to_account, p.currency, tx.sender)
    _move(ctx, p.from_account, p.to_account, p.currency, p.amount)


def process_payment(ctx: BlockContext, tx: Transaction, p: Payment) -> None:
    # The reference is committed with the transaction (its hash, the block's payload root); the
    # state needs nothing more from it.
    _accounts(ctx, p.from_account, p.to_account, p.currency, tx.sender)
    _move(ctx, p.from_account, p.to_account, p.currency, p.amount)


def process_hold_place(ctx: BlockContext, tx: Transaction, p: HoldPlace) -> None:
    source, _ = _accounts(ctx, p.from_account, p.to_account, p.currency, tx.sender)
    if ctx.hold(p.hold_id) is not None:
        raise _reject(ErrorCode.DUPLICATE, f"hold {p.hold_id.hex()} already exists")
    now = ctx.meta.timestamp_ms
    if not now < p.expires_at_ms <= now + MAX_HOLD_DURATION_MS:
        raise _reject(
            ErrorCode.INVALID_EXPIRY,
            f"expiry {p.expires_at_ms} is not within ({now}, {now + MAX_HOLD_DURATION_MS}]",
        )
    _require_available(source, p.amount)
    ctx.put(keys.account(p.from_account), dataclasses.replace(source, held=source.held + p.amount))
    ctx.put(
        keys.hold(p.hold_id),
        Hold(
            p.hold_id, tx.sender, p.from_account, p.to_account, p.currency, p.amount,
            p.expires_at_ms, p.reference,
        ),
    )  # fmt: skip
    number = p.expires_at_ms // HOLD_EXPIRY_BUCKET_MS
    bucket_key = keys.expiry_bucket(number)
    bucket = ctx.expiry_bucket(number)
    entries = list(() if bucket is None else bucket.entries)
    bisect.insort(entries, (p.expires_at_ms, p.hold_id))
    ctx.put(bucket_key, ExpiryBucket(tuple(entries)))
    index = _expiry_index(ctx)
    if number not in index:
        _put_expiry_index(ctx, tuple(sorted((*index, number))))


def _active_hold(ctx: BlockContext, hold_id: bytes) -> Hold:
    hold = ctx.hold(hold_id)
    if hold is None:
        raise _reject(ErrorCode.UNKNOWN_HOLD, f"no hold {hold_id.hex()}")
    if hold.status is HoldStatus.EXPIRED:
        raise _reject(ErrorCode.HOLD_EXPIRED, f"hold {hold_id.hex()} expired")
    if hold.status is not HoldStatus.ACTIVE:
        raise _reject(ErrorCode.NOT_ACTIVE, f"hold {hold_id.hex()} is {hold.status.name.lower()}")
    return hold


def process_hold_capture(ctx: BlockContext, tx: Transaction, p: HoldCapture) -> None:
    hold = _active_hold(ctx, p.hold_id)
    if hold.sender != tx.sender:
        raise _reject(ErrorCode.UNAUTHORISED, f"only {hold.sender!r} can capture this hold")
    if p.amount > hold.amount:
        raise _reject(
            ErrorCode.EXCEEDS_HOLD, f"capture {p.amount} exceeds the hold's {hold.amount}"
        )
    _release(ctx, hold, HoldStatus.CAPTURED, captured=p.amount)
    target = ctx.account(hold.to_account)
    if target is None:  # unreachable: accounts are never deleted
        raise LookupError(f"account {hold.to_account!r} of a hold vanished")
    ctx.put(
        keys.account(hold.to_account),
        dataclasses.replace(target, balance=target.balance + p.amount),
    )


def process_hold_void(ctx: BlockContext, tx: Transaction, p: HoldVoid) -> None:
    hold = _active_hold(ctx, p.hold_id)
    target = ctx.account(hold.to_account)
    # The payer may cancel its hold, and the payee may decline it; nobody else may touch it.
    if tx.sender != hold.sender and (target is None or target.owner != tx.sender):
        raise _reject(ErrorCode.UNAUTHORISED, f"{tx.sender!r} can neither cancel nor decline")
    _release(ctx, hold, HoldStatus.VOIDED)


def _require_quote(ctx: BlockContext, tx: Transaction, p: MultiTransfer) -> None:
    """The quote is live, unused, signed by its provider and matches the legs."""
    quote = p.quote
    if ctx.meta.timestamp_ms > quote.expires_at_ms:
        raise _reject(ErrorCode.QUOTE_EXPIRED, f"quote expired at {quote.expires_at_ms}")
    if ctx.quote(quote.quote_id) is not None:
        raise _reject(ErrorCode.DUPLICATE, f"quote {quote.quote_id.hex()} already used")
    provider = ctx.organization(quote.provider)
    if provider is None:
        raise _reject(ErrorCode.UNKNOWN_ORGANIZATION, f"no organization {quote.provider!r}")
    root = compute_quote_root(chain_id=tx.chain_id, quote=quote)
    if not verify_ed25519(provider.public_key, quote.signature, root):
        raise _reject(ErrorCode.UNAUTHORISED, f"quote not signed by {quote.provider!r}'s key")
    paid = received = 0
    for leg in p.legs:
        source, target = _accounts(ctx, leg.from_account, leg.to_account, leg.currency, None)
        if source.owner == tx.sender:
            if target.owner == quote.provider and leg.currency == quote.pay_currency:
                paid += leg.amount
        elif source.owner == quote.provider:
            if leg.currency != quote.receive_currency:
                raise _reject(
                    ErrorCode.QUOTE_MISMATCH, f"the quote pays {quote.receive_currency} only"
                )
            received += leg.amount
        else:
            raise _reject(
                ErrorCode.UNAUTHORISED,
                f"{leg.from_account!r} belongs to neither {tx.sender!r} nor the quote's provider",
            )
    if paid != quote.pay_amount or received != quote.receive_amount:
        raise _reject(
            ErrorCode.QUOTE_MISMATCH,
            f"legs pay {paid} {quote.pay_currency} for {received} {quote.receive_currency}; "
            f"the quote says {quote.pay_amount} for {quote.receive_amount}",
        )


def process_multi_transfer(ctx: BlockContext, tx: Transaction, p: MultiTransfer) -> None:
    _require_quote(ctx, tx, p)
    # Legs apply in order on the running balances; any failure rejects the transaction, and
    # execute_transaction then discards every leg already applied (all or none).
    for leg in p.legs:
        _move(ctx, leg.from_account, leg.to_account, leg.currency, leg.amount)
    ctx.put(keys.quote(p.quote.quote_id), QuoteRecord(p.quote.provider, ctx.height))


def process_anchor(ctx: BlockContext, tx: Transaction, p: Anchor) -> None:
    if ctx.anchor(p.commitment) is not None:
        raise _reject(ErrorCode.DUPLICATE, "commitment already anchored")
    ctx.put(keys.anchor(p.commitment), AnchorRecord(tx.sender, ctx.height))


# Each handler's payload type matches its TxType (Transaction construction guarantees it).
_HANDLERS: dict[TxType, Callable[[BlockContext, Transaction, Any], None]] = {
    TxType.ORG_REGISTER: process_org_register,
    TxType.ORG_KEY_ROTATE: process_org_key_rotate,
    TxType.VALIDATOR_ADD: process_validator_add,
    TxType.VALIDATOR_REMOVE: process_validator_remove,
    TxType.MINT: process_mint,
    TxType.BIOMETRIC_COMMITMENT: process_biometric_commitment,
    TxType.CONSENT: process_consent,
    TxType.DATA_SHARING: process_data_sharing,
    TxType.ACCOUNT_OPEN: process_account_open,
    TxType.TRANSFER: process_transfer,
    TxType.ANCHOR: process_anchor,
    TxType.PAYMENT: process_payment,
    TxType.HOLD_PLACE: process_hold_place,
    TxType.HOLD_CAPTURE: process_hold_capture,
    TxType.HOLD_VOID: process_hold_void,
    TxType.MULTI_TRANSFER: process_multi_transfer,
}
