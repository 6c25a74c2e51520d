"""Property-style replay: a seeded random stream of transactions (valid, rejected and invalid at
the door) is proposed block by block on one replica and re-applied from wire bytes on another."""

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
    GovernancePayload,
    Mint,
    OrgRegister,
    Payload,
    Receipt,
    ReceiptStatus,
    SharingAction,
    State,
    Transaction,
    Transfer,
    ValidatorAdd,
    ValidatorRemove,
    apply_block,
    decode_transactions,
    genesis_state,
    propose_block,
)
from tests.ledger.state.world import (
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
ACCOUNTS = ("a-eur", "b-eur", "a-usd", "m-eur", "x-eur", "n-eur", "n-usd")
POOL = [hashlib.sha256(b"pool" + bytes([i])).digest() for i in range(6)]


@dataclass(frozen=True)
class Block:
    candidates: tuple[Transaction, ...]


def random_payload(rng: random.Random, world: World, sender: str) -> Payload | None:
    """A payload for ``sender``; ``None`` means "make it a governance action instead"."""
    kind = rng.choices(
        ["transfer", "open", "bio", "consent", "share", "anchor", "governance"],
        weights=[40, 8, 10, 10, 10, 7, 6],
    )[0]
    if kind == "transfer":
        source = rng.choice(ACCOUNTS)
        return Transfer(
            source,
            rng.choice([a for a in ACCOUNTS if a != source]),
            rng.choice(["EUR", "EUR", "EUR", "USD"]),
            rng.choice([1, rng.randint(1, 5_000), rng.randint(1, 200_000)]),
        )
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
    world = World()
    sent: list[Transaction] = []
    blocks: list[Block] = []
    while len(sent) < transactions:
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
            payload = random_payload(rng, world, sender)
            tx = (
                random_governance(rng, world, sender)
                if payload is None
                else world.tx(sender, payload)
            )
            candidates.append(tx)
            sent.append(tx)
        blocks.append(Block(tuple(candidates)))
    return blocks


def check_invariants(state: State, included: Counter[str]) -> None:
    accounts = list(state.accounts())
    assert all(a.balance >= 0 for a in accounts)
    for currency in {a.currency for a in accounts}:
        assert sum(a.balance for a in accounts if a.currency == currency) == state.supply(currency)
    for sender in SENDERS:
        assert state.next_nonce(sender) == included[sender] + 1


@dataclass
class ModelAccount:
    currency: str
    owner: str
    balance: int


class MoneyModel:
    """An independent reference for the money rules: predicts every transfer's outcome."""

    def __init__(self) -> None:
        self.accounts = {
            a.account_id: ModelAccount(a.currency, a.owner, a.balance) for a in default_accounts()
        }

    def predict_transfer(self, sender: str, t: Transfer) -> ErrorCode | None:
        source, target = self.accounts.get(t.from_account), self.accounts.get(t.to_account)
        if source is None or target is None:
            return ErrorCode.UNKNOWN_ACCOUNT
        if source.owner != sender:
            return ErrorCode.UNAUTHORISED
        if source.currency != t.currency or target.currency != t.currency:
            return ErrorCode.CURRENCY_MISMATCH
        if source.balance < t.amount:
            return ErrorCode.INSUFFICIENT_FUNDS
        source.balance -= t.amount
        target.balance += t.amount
        return None

    def follow(self, tx: Transaction, receipt: Receipt) -> None:
        """Track the outcomes the model does not predict (openings, governance mints)."""
        p = tx.payload
        if receipt.status is not ReceiptStatus.COMMITTED:
            return
        if isinstance(p, AccountOpen):
            self.accounts[p.account_id] = ModelAccount(p.currency, p.owner, 0)
        elif isinstance(p, Mint):
            self.accounts[p.account_id].balance += p.amount

    def balances(self) -> dict[str, int]:
        return {account_id: entry.balance for account_id, entry in self.accounts.items()}


def replay_by_proposal(
    blocks: list[Block],
) -> tuple[list[bytes], list[tuple[Receipt, ...]], list[list[bytes]]]:
    state = World().state
    model = MoneyModel()
    roots, receipts, wire = [], [], []
    included: Counter[str] = Counter()
    for block in blocks:
        proposal = propose_block(state, block.candidates)
        for _, error in proposal.excluded:
            assert error.code in {ErrorCode.BAD_NONCE, ErrorCode.BAD_SIGNATURE}
        for tx, receipt in zip(proposal.transactions, proposal.receipts, strict=True):
            if isinstance(tx.payload, Transfer):
                assert receipt.code == model.predict_transfer(tx.sender, tx.payload)
            model.follow(tx, receipt)
        included.update(tx.sender for tx in proposal.transactions)
        state = proposal.state
        check_invariants(state, included)
        assert {a.account_id: a.balance for a in state.accounts()} == model.balances()
        roots.append(state.root)
        receipts.append(proposal.receipts)
        wire.append([tx.encode() for tx in proposal.transactions])
    return roots, receipts, wire


def replay_from_wire(wire: list[list[bytes]]) -> tuple[list[bytes], list[tuple[Receipt, ...]]]:
    state = genesis_state(genesis_config(), pop_verify=fake_pop_verify)
    roots, receipts = [], []
    for encoded in wire:
        state, block_receipts = apply_block(state, decode_transactions(encoded))
        roots.append(state.root)
        receipts.append(block_receipts)
    return roots, receipts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_independent_replays_of_a_random_history_agree_block_by_block(seed: int) -> None:
    # given a few hundred random transactions in blocks
    blocks = random_history(seed, transactions=300)

    # when one replica proposes them and another applies the proposed blocks from wire bytes
    roots, receipts, wire = replay_by_proposal(blocks)
    replayed_roots, replayed_receipts = replay_from_wire(wire)

    # then every block's root and receipts agree
    assert replayed_roots == roots
    assert replayed_receipts == receipts
    # and the history exercised both outcomes and several rejection codes
    outcomes = Counter(r.status for block in receipts for r in block)
    codes = {r.code for block in receipts for r in block if r.code is not None}
    assert outcomes[ReceiptStatus.COMMITTED] > 50 and outcomes[ReceiptStatus.REJECTED] > 20
    assert {ErrorCode.INSUFFICIENT_FUNDS, ErrorCode.UNKNOWN_ACCOUNT, ErrorCode.DUPLICATE} <= codes


def test_different_random_histories_end_in_different_roots() -> None:
    first, _, _ = replay_by_proposal(random_history(1, transactions=60))
    second, _, _ = replay_by_proposal(random_history(2, transactions=60))

    assert first[-1] != second[-1]
