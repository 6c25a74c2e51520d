"""Property-style replay: a seeded random stream of transactions (valid, rejected and invalid at
the door; transfers, payments, holds with captures, voids and expiries, multi-transfers with
signed quotes, governance) is proposed block by block on one replica and re-applied from wire
bytes on another, checking the money invariants after every block."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass

import pytest

from ledger.state import (
    AccountOpen,
    Anchor,
    BiometricAction,
    BiometricCommitment,
    Consent,
    ConsentAction,
    DataSharing,
    ErrorCode,
    GenesisAccount,
    GovernancePayload,
    HoldCapture,
    HoldPlace,
    HoldStatus,
    HoldVoid,
    Leg,
    Mint,
    MultiTransfer,
    OrgRegister,
    Payload,
    Payment,
    Quote,
    Receipt,
    ReceiptStatus,
    SharingAction,
    State,
    Transaction,
    Transfer,
    TxType,
    ValidatorAdd,
    ValidatorRemove,
    apply_block,
    decode_transactions,
    genesis_state,
    propose_block,
    sign_quote,
)
from tests.ledger.state.world import (
    CHAIN_ID,
    VALIDATOR_ORGS,
    World,
    bls_key,
    default_accounts,
    fake_pop,
    fake_pop_verify,
    genesis_config,
    public_key,
    signing_key,
)

SENDERS = ("org-a", "org-b", "org-c", "org-d", "org-m")
# Every sender holds funded accounts (the liquidity provider org-a in both currencies).
GENESIS_ACCOUNTS = (
    *default_accounts(),
    GenesisAccount("c-eur", "EUR", "org-c", 20_000),
    GenesisAccount("d-usd", "USD", "org-d", 20_000),
    GenesisAccount("b-usd", "USD", "org-b", 0),
)
ACCOUNTS = ("a-eur", "b-eur", "a-usd", "m-eur", "c-eur", "d-usd", "b-usd", "x-eur", "n-usd")
POOL = [hashlib.sha256(b"pool" + bytes([i])).digest() for i in range(6)]
# Few hold and quote ids, so duplicates, captures of voided holds and reused quotes all happen.
HOLD_IDS = [hashlib.sha256(b"hold" + bytes([i])).digest() for i in range(24)]
QUOTE_IDS = [hashlib.sha256(b"quote" + bytes([i])).digest() for i in range(40)]
MINUTE = 60_000
# The ids random account openings use ("<sender letter>-<n>-<currency>").
OPENED = tuple(f"{org[-1]}-{n}-{c}" for org in SENDERS for n in range(4) for c in ("eur", "usd"))


@dataclass(frozen=True)
class Block:
    candidates: tuple[Transaction, ...]
    timestamp_ms: int


def _amount(rng: random.Random) -> int:
    return rng.choices([1, rng.randint(1, 3_000), rng.randint(1, 200_000)], [1, 8, 1])[0]


def random_quote(rng: random.Random, now_ms: int, sender: str) -> MultiTransfer:
    """An EUR -> USD payment of ``sender`` through org-a (the liquidity provider), sometimes
    mismatched, expired, badly signed or reusing a quote id."""
    pay, receive = rng.randint(1, 3_000), rng.randint(1, 3_000)
    expires = now_ms + rng.choice([-MINUTE, MINUTE, 10 * MINUTE])
    quote = Quote("org-a", rng.choice(QUOTE_IDS), "EUR", pay, "USD", receive, expires, bytes(64))
    signer = "org-a" if rng.random() < 0.9 else "org-b"
    quote = sign_quote(private_key=signing_key(signer), chain_id=CHAIN_ID, quote=quote)
    source = {"org-b": "b-eur", "org-c": "c-eur", "org-m": "m-eur"}.get(sender, "x-eur")
    legs = (
        Leg(source, "a-eur", "EUR", pay if rng.random() < 0.9 else pay + 1),
        Leg("a-usd", rng.choice(["n-usd", "b-usd", "d-usd"]), "USD", receive),
    )
    return MultiTransfer(legs, rng.choice(POOL), quote)


def random_payload(
    rng: random.Random, sender: str, now_ms: int, placed: list[tuple[str, bytes]]
) -> Payload | None:
    """A payload for ``sender`` in a block at ``now_ms``; ``None`` means "make it a governance
    action instead"."""
    kind = rng.choices(
        [
            "transfer", "payment", "hold", "capture", "void", "multi", "open", "bio", "consent",
            "share", "anchor", "governance",
        ],
        weights=[20, 12, 16, 14, 6, 8, 10, 4, 4, 4, 4, 6],
    )[0]  # fmt: skip
    if kind in ("transfer", "payment", "hold"):
        # Mostly from an account the sender may own (ids start with its letter) in its currency,
        # to one of the funded genesis accounts; sometimes anything at all.
        own = [a for a in ACCOUNTS if a[0] == sender[-1]]
        opened = [a for a in OPENED if a[0] == sender[-1]]
        roll = rng.random()
        source = rng.choice(
            own if own and roll < 0.7 else opened if roll < 0.85 else list(ACCOUNTS)
        )
        currency = source[-3:].upper() if rng.random() < 0.9 else rng.choice(["EUR", "USD"])
        funded = [a for a in ACCOUNTS[:7] if a != source and a.endswith(currency.lower())]
        others = [a for a in ACCOUNTS + OPENED if a != source]
        target = rng.choice(funded) if funded and rng.random() < 0.8 else rng.choice(others)
        if kind == "transfer":
            return Transfer(source, target, currency, _amount(rng))
        if kind == "payment":
            return Payment(source, target, currency, _amount(rng), rng.choice(POOL))
        expires = now_ms + rng.choice([-MINUTE, 0, 30 * MINUTE, 150 * MINUTE, 600 * MINUTE])
        hold_id = rng.choice(HOLD_IDS)
        placed.append((sender, hold_id))
        return HoldPlace(hold_id, source, target, currency, _amount(rng), expires, rng.choice(POOL))
    if kind in ("capture", "void"):
        mine = [hold_id for placer, hold_id in placed if placer == sender]
        hold_id = rng.choice(mine) if mine and rng.random() < 0.8 else rng.choice(HOLD_IDS)
        if kind == "void":
            return HoldVoid(hold_id)
        return HoldCapture(hold_id, rng.choice([1, rng.randint(1, 20_000)]))
    if kind == "multi":
        return random_quote(rng, now_ms, sender)
    if kind == "open":
        currency = rng.choice(["EUR", "USD"])
        return AccountOpen(f"{sender[-1]}-{rng.randint(0, 3)}-{currency.lower()}", currency, sender)
    if kind == "bio":
        return BiometricCommitment(rng.choice(list(BiometricAction)), rng.choice(POOL))
    if kind == "consent":
        return Consent(rng.choice(list(ConsentAction)), rng.choice(POOL))
    if kind == "share":
        grantee = rng.choice([s for s in (*SENDERS, "org-x") if s != sender])
        return DataSharing(rng.choice(list(SharingAction)), grantee, rng.choice(POOL))
    if kind == "anchor":
        return Anchor(rng.choice(POOL))
    return None


def random_governance(rng: random.Random, world: World, sender: str) -> Transaction:
    org = rng.choice(["org-m", "org-n", "org-d"])
    options: list[GovernancePayload] = [
        OrgRegister("org-n", public_key(signing_key("org-n"))),
        ValidatorAdd(org, bls_key(org), fake_pop(bls_key(org))),
        ValidatorRemove(org),
        Mint(rng.choice(ACCOUNTS), rng.choice(["EUR", "USD"]), rng.randint(1, 50_000)),
    ]
    payload = rng.choice(options)
    approvers = rng.sample(VALIDATOR_ORGS, rng.choice([2, 3, 3, 4]))
    return world.governed(sender, payload, sorted(approvers))


def random_history(seed: int, transactions: int) -> list[Block]:
    """Blocks of candidates, about one in eight of them invalid at the door."""
    rng = random.Random(seed)
    world = World(accounts=GENESIS_ACCOUNTS)
    sent: list[Transaction] = []
    blocks: list[Block] = []
    now_ms = 0
    placed: list[tuple[str, bytes]] = []
    while len(sent) < transactions:
        # Gaps from a millisecond to 40 minutes: holds expire within blocks, across expiry
        # buckets (one hour wide) and sometimes exactly at a block's timestamp.
        now_ms += rng.choice([1, rng.randint(1, 40 * MINUTE), 5 * MINUTE])
        candidates: list[Transaction] = []
        for _ in range(rng.randint(0, 12)):
            sender = rng.choice(SENDERS)
            roll = rng.random()
            if roll < 0.06 and sent:
                candidates.append(rng.choice(sent))  # replay: bad_nonce
                continue
            if roll < 0.12:  # forged: right nonce, wrong key; does not consume the nonce
                forged = world.tx(
                    sender, Anchor(POOL[0]), nonce=world.next_nonce(sender), key=signing_key("evil")
                )
                candidates.append(forged)
                continue
            payload = random_payload(rng, sender, now_ms, placed)
            tx = (
                random_governance(rng, world, sender)
                if payload is None
                else world.tx(sender, payload)
            )
            candidates.append(tx)
            sent.append(tx)
        blocks.append(Block(tuple(candidates), now_ms))
    return blocks


def check_invariants(state: State, included: Counter[str]) -> None:
    accounts = list(state.accounts())
    holds = list(state.holds())
    # Nothing is negative, and held funds are covered by the balance they reserve.
    assert all(a.balance >= 0 and a.held >= 0 and a.available >= 0 for a in accounts)
    # Holds move nothing until capture: the balances of a currency always add up to its supply.
    for currency in {a.currency for a in accounts}:
        mine = [a for a in accounts if a.currency == currency]
        assert sum(a.balance for a in mine) == state.supply(currency)
        assert sum(a.held for a in mine) <= sum(a.balance for a in mine)
    # An account's ``held`` is exactly the sum of its active holds, and no active hold is due.
    active = [h for h in holds if h.status is HoldStatus.ACTIVE]
    for account in accounts:
        assert account.held == sum(h.amount for h in active if h.from_account == account.account_id)
    assert all(h.expires_at_ms > state.timestamp_ms for h in active)
    for hold in holds:
        resolved = hold.status is not HoldStatus.ACTIVE
        assert (hold.resolved_height > 0) == resolved
        assert hold.captured <= hold.amount and (hold.captured > 0) == (
            hold.status is HoldStatus.CAPTURED
        )
    for sender in SENDERS:
        assert state.next_nonce(sender) == included[sender] + 1


@dataclass
class ModelAccount:
    currency: str
    owner: str
    balance: int
    held: int = 0


@dataclass
class ModelHold:
    sender: str
    source: str
    target: str
    amount: int
    expires_at_ms: int
    status: str = "active"


class MoneyModel:
    """An independent reference for the money rules: predicts every transfer's, payment's and
    hold operation's outcome, and expires holds on its own clock."""

    def __init__(self) -> None:
        self.accounts = {
            a.account_id: ModelAccount(a.currency, a.owner, a.balance) for a in GENESIS_ACCOUNTS
        }
        self.holds: dict[bytes, ModelHold] = {}
        self.now_ms = 0

    def begin_block(self, timestamp_ms: int) -> None:
        self.now_ms = timestamp_ms
        for hold in self.holds.values():
            if hold.status == "active" and hold.expires_at_ms <= timestamp_ms:
                hold.status = "expired"
                self.accounts[hold.source].held -= hold.amount

    def _check_move(
        self, sender: str, source_id: str, target_id: str, currency: str, amount: int
    ) -> ErrorCode | None:
        source, target = self.accounts.get(source_id), self.accounts.get(target_id)
        if source is None or target is None:
            return ErrorCode.UNKNOWN_ACCOUNT
        if source.owner != sender:
            return ErrorCode.UNAUTHORISED
        if source.currency != currency or target.currency != currency:
            return ErrorCode.CURRENCY_MISMATCH
        if source.balance - source.held < amount:
            return ErrorCode.INSUFFICIENT_FUNDS
        return None

    def predict(self, sender: str, p: Payload) -> ErrorCode | None:
        """The outcome of a money payload (applied to the model when it commits)."""
        if isinstance(p, Transfer | Payment):
            code = self._check_move(sender, p.from_account, p.to_account, p.currency, p.amount)
            if code is None:
                self.accounts[p.from_account].balance -= p.amount
                self.accounts[p.to_account].balance += p.amount
            return code
        if isinstance(p, HoldPlace):
            code = self._check_move(sender, p.from_account, p.to_account, p.currency, 0)
            if code is not None:
                return code
            if p.hold_id in self.holds:
                return ErrorCode.DUPLICATE
            if not self.now_ms < p.expires_at_ms:
                return ErrorCode.INVALID_EXPIRY
            source = self.accounts[p.from_account]
            if source.balance - source.held < p.amount:
                return ErrorCode.INSUFFICIENT_FUNDS
            source.held += p.amount
            self.holds[p.hold_id] = ModelHold(
                sender, p.from_account, p.to_account, p.amount, p.expires_at_ms
            )
            return None
        assert isinstance(p, HoldCapture | HoldVoid)
        hold = self.holds.get(p.hold_id)
        if hold is None:
            return ErrorCode.UNKNOWN_HOLD
        if hold.status != "active":
            return ErrorCode.HOLD_EXPIRED if hold.status == "expired" else ErrorCode.NOT_ACTIVE
        if isinstance(p, HoldCapture):
            if sender != hold.sender:
                return ErrorCode.UNAUTHORISED
            if p.amount > hold.amount:
                return ErrorCode.EXCEEDS_HOLD
            hold.status = "captured"
            self.accounts[hold.source].held -= hold.amount
            self.accounts[hold.source].balance -= p.amount
            self.accounts[hold.target].balance += p.amount
            return None
        if sender not in (hold.sender, self.accounts[hold.target].owner):
            return ErrorCode.UNAUTHORISED
        hold.status = "voided"
        self.accounts[hold.source].held -= hold.amount
        return None

    def follow(self, tx: Transaction, receipt: Receipt) -> None:
        """Track the outcomes the model does not predict (openings, mints, multi-transfers)."""
        p = tx.payload
        if receipt.status is not ReceiptStatus.COMMITTED:
            return
        if isinstance(p, AccountOpen):
            self.accounts[p.account_id] = ModelAccount(p.currency, p.owner, 0)
        elif isinstance(p, Mint):
            self.accounts[p.account_id].balance += p.amount
        elif isinstance(p, MultiTransfer):
            for leg in p.legs:
                self.accounts[leg.from_account].balance -= leg.amount
                self.accounts[leg.to_account].balance += leg.amount

    def balances(self) -> dict[str, int]:
        return {account_id: entry.balance for account_id, entry in self.accounts.items()}

    def held(self) -> dict[str, int]:
        return {account_id: entry.held for account_id, entry in self.accounts.items()}


def replay_by_proposal(
    blocks: list[Block],
) -> tuple[list[bytes], list[tuple[Receipt, ...]], list[tuple[int, list[bytes]]]]:
    state = World(accounts=GENESIS_ACCOUNTS).state
    model = MoneyModel()
    roots, receipts, wire = [], [], []
    included: Counter[str] = Counter()
    for block in blocks:
        proposal = propose_block(state, block.candidates, timestamp_ms=block.timestamp_ms)
        model.begin_block(block.timestamp_ms)
        for _, error in proposal.excluded:
            assert error.code in {ErrorCode.BAD_NONCE, ErrorCode.BAD_SIGNATURE}
        for tx, receipt in zip(proposal.transactions, proposal.receipts, strict=True):
            if isinstance(tx.payload, Transfer | Payment | HoldPlace | HoldCapture | HoldVoid):
                assert receipt.code == model.predict(tx.sender, tx.payload), receipt.reason
            model.follow(tx, receipt)
        included.update(tx.sender for tx in proposal.transactions)
        state = proposal.state
        check_invariants(state, included)
        assert {a.account_id: a.balance for a in state.accounts()} == model.balances()
        assert {a.account_id: a.held for a in state.accounts()} == model.held()
        roots.append(state.root)
        receipts.append(proposal.receipts)
        wire.append((block.timestamp_ms, [tx.encode() for tx in proposal.transactions]))
    return roots, receipts, wire


def replay_from_wire(
    wire: list[tuple[int, list[bytes]]],
) -> tuple[list[bytes], list[tuple[Receipt, ...]]]:
    state = genesis_state(genesis_config(accounts=GENESIS_ACCOUNTS), pop_verify=fake_pop_verify)
    roots, receipts = [], []
    for timestamp_ms, encoded in wire:
        state, block_receipts = apply_block(
            state, decode_transactions(encoded), timestamp_ms=timestamp_ms
        )
        roots.append(state.root)
        receipts.append(block_receipts)
    return roots, receipts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_independent_replays_of_a_random_history_agree_block_by_block(seed: int) -> None:
    # given a few hundred random transactions in blocks
    blocks = random_history(seed, transactions=600)

    # when one replica proposes them and another applies the proposed blocks from wire bytes
    roots, receipts, wire = replay_by_proposal(blocks)
    replayed_roots, replayed_receipts = replay_from_wire(wire)

    # then every block's root and receipts agree
    assert replayed_roots == roots
    assert replayed_receipts == receipts
    # and the history exercised both outcomes, several rejection codes and every money path
    outcomes = Counter(r.status for block in receipts for r in block)
    codes = {r.code for block in receipts for r in block if r.code is not None}
    assert outcomes[ReceiptStatus.COMMITTED] > 100 and outcomes[ReceiptStatus.REJECTED] > 20
    assert {
        ErrorCode.INSUFFICIENT_FUNDS, ErrorCode.UNKNOWN_ACCOUNT, ErrorCode.DUPLICATE,
        ErrorCode.HOLD_EXPIRED, ErrorCode.QUOTE_EXPIRED, ErrorCode.INVALID_EXPIRY,
    } <= codes  # fmt: skip
    committed = {
        Transaction.decode(data).type
        for (_, block), block_receipts in zip(wire, receipts, strict=True)
        for data, receipt in zip(block, block_receipts, strict=True)
        if receipt.status is ReceiptStatus.COMMITTED
    }
    assert {
        TxType.TRANSFER, TxType.PAYMENT, TxType.HOLD_PLACE, TxType.HOLD_CAPTURE,
        TxType.HOLD_VOID, TxType.MULTI_TRANSFER,
    } <= committed  # fmt: skip
    final = replay_states(wire)[-1]
    assert {h.status for h in final.holds()} >= {
        HoldStatus.CAPTURED,
        HoldStatus.VOIDED,
        HoldStatus.EXPIRED,
    }


def replay_states(wire: list[tuple[int, list[bytes]]]) -> list[State]:
    state = genesis_state(genesis_config(accounts=GENESIS_ACCOUNTS), pop_verify=fake_pop_verify)
    states = []
    for timestamp_ms, encoded in wire:
        state, _ = apply_block(state, decode_transactions(encoded), timestamp_ms=timestamp_ms)
        states.append(state)
    return states


def test_different_random_histories_end_in_different_roots() -> None:
    first, _, _ = replay_by_proposal(random_history(1, transactions=60))
    second, _, _ = replay_by_proposal(random_history(2, transactions=60))

    assert first[-1] != second[-1]
