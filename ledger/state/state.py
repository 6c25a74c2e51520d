"""The replicated state: immutable snapshots, genesis, admission, block application, state root.

``apply_block(state, txs, timestamp_ms=...)`` is a pure function of its arguments: every honest
validator that applies the same transactions to the same parent at the same block timestamp (the
header's ``timestamp_ms``) gets the same ``state_root``. A block carrying a
transaction that fails the door checks raises ``InvalidBlock`` and must not be voted for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.state.errors import InvalidBlock, InvalidGenesis, InvalidTransaction
from ledger.state.execution import (
    BlockContext,
    PopVerifier,
    begin_block,
    begin_epoch,
    check_admission,
    end_block,
    execute_transaction,
    is_valid_pop,
)
from ledger.state.limits import (
    ACCOUNT_ID_PATTERN,
    CURRENCY_PATTERN,
    MAX_AMOUNT,
    SLUG_PATTERN,
    check_id,
)
from ledger.state.records import (
    Account,
    ChainMeta,
    Hold,
    Organization,
    Receipt,
    StateReader,
    Supply,
    Validator,
    ValidatorSet,
    iter_records,
    keys,
)
from ledger.state.store import MerkleMap, Record
from ledger.state.transactions import Transaction

__all__ = [
    "MAX_BLOCK_BYTES",
    "BlockProposal",
    "GenesisAccount",
    "GenesisConfig",
    "GenesisOrganization",
    "GenesisValidator",
    "State",
    "apply_block",
    "decode_transactions",
    "genesis_state",
    "propose_block",
    "state_root",
    "validate_tx",
]

# Sum of the encoded sizes of a block's transactions.
MAX_BLOCK_BYTES = 4 * 1024 * 1024


class State(StateReader):
    """An immutable snapshot of the replicated state. ``pop_verify`` is the injected BLS
    proof-of-possession check; it is configuration, not state, and is not part of the root."""

    __slots__ = ("_store", "pop_verify")

    def __init__(self, store: MerkleMap, pop_verify: PopVerifier) -> None:
        self._store = store
        self.pop_verify = pop_verify

    def _get(self, key: bytes) -> Record | None:
        return self._store.get(key)

    @property
    def root(self) -> bytes:
        """The 32-byte state root (see ``store.py`` for its definition)."""
        return self._store.root

    @property
    def store(self) -> MerkleMap:
        return self._store

    def organizations(self) -> Iterator[Organization]:
        """Every registered organization, by id (O(state size): for tools and tests)."""
        return iter_records(self._store.items(b"o"), Organization)

    def accounts(self) -> Iterator[Account]:
        """Every account, by id (O(state size): for tools and tests)."""
        return iter_records(self._store.items(b"a"), Account)

    def holds(self) -> Iterator[Hold]:
        """Every hold, active or resolved, by id (O(state size): for tools and tests)."""
        return iter_records(self._store.items(b"h"), Hold)

    def __repr__(self) -> str:
        return f"State(chain={self.chain_id!r}, height={self.height}, root={self.root.hex()[:16]})"


def state_root(state: State) -> bytes:
    """The deterministic 32-byte commitment to the whole state, carried in block headers."""
    return state.root


# --- genesis ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenesisValidator:
    """A founding validator organization: its Ed25519 key and its validator's BLS key + PoP."""

    org_id: str
    public_key: bytes
    bls_public_key: bytes
    proof_of_possession: bytes


@dataclass(frozen=True)
class GenesisOrganization:
    """A founding member organization that does not run a validator."""

    org_id: str
    public_key: bytes


@dataclass(frozen=True)
class GenesisAccount:
    """An account that exists at genesis, possibly funded (this is how money enters at first)."""

    account_id: str
    currency: str
    owner: str
    balance: int = 0


@dataclass(frozen=True)
class GenesisConfig:
    """Everything the first state is built from; every validator must be given the same one."""

    chain_id: str
    validators: tuple[GenesisValidator, ...]
    organizations: tuple[GenesisOrganization, ...] = ()
    accounts: tuple[GenesisAccount, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (bytes as hex), e.g. for ``genesis.json``."""
        return {
            "chain_id": self.chain_id,
            "validators": [
                {
                    "org_id": v.org_id,
                    "public_key": v.public_key.hex(),
                    "bls_public_key": v.bls_public_key.hex(),
                    "proof_of_possession": v.proof_of_possession.hex(),
                }
                for v in self.validators
            ],
            "organizations": [
                {"org_id": o.org_id, "public_key": o.public_key.hex()} for o in self.organizations
            ],
            "accounts": [
                {
                    "account_id": a.account_id,
                    "currency": a.currency,
                    "owner": a.owner,
                    "balance": a.balance,
                }
                for a in self.accounts
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenesisConfig:
        """Inverse of ``to_dict``; raises ``InvalidGenesis`` on a missing or mistyped field."""
        try:
            return cls(
                chain_id=str(data["chain_id"]),
                validators=tuple(
                    GenesisValidator(
                        org_id=str(v["org_id"]),
                        public_key=bytes.fromhex(v["public_key"]),
                        bls_public_key=bytes.fromhex(v["bls_public_key"]),
                        proof_of_possession=bytes.fromhex(v["proof_of_possession"]),
                    )
                    for v in data["validators"]
                ),
                organizations=tuple(
                    GenesisOrganization(str(o["org_id"]), bytes.fromhex(o["public_key"]))
                    for o in data.get("organizations", ())
                ),
                accounts=tuple(
                    GenesisAccount(
                        str(a["account_id"]), str(a["currency"]), str(a["owner"]), int(a["balance"])
                    )
                    for a in data.get("accounts", ())
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidGenesis(f"bad genesis description: {exc!r}") from exc


def _org_keys(config: GenesisConfig) -> list[tuple[str, bytes]]:
    return [(v.org_id, v.public_key) for v in config.validators] + [
        (o.org_id, o.public_key) for o in config.organizations
    ]


def _check_genesis(config: GenesisConfig, pop_verify: PopVerifier) -> None:
    try:
        check_id(config.chain_id, SLUG_PATTERN, "chain_id")
        if not config.validators:
            raise InvalidGenesis("at least one validator is required")
        org_ids = [v.org_id for v in config.validators] + [o.org_id for o in config.organizations]
        for org_id in org_ids:
            check_id(org_id, SLUG_PATTERN, "org_id")
        if len(set(org_ids)) != len(org_ids):
            raise InvalidGenesis("duplicate organization id")
        for org_id, public_key in _org_keys(config):
            if len(public_key) != 32:
                raise InvalidGenesis(f"{org_id}: Ed25519 public key must be 32 bytes")
        bls_keys = [v.bls_public_key for v in config.validators]
        if len(set(bls_keys)) != len(bls_keys):
            raise InvalidGenesis("two validators share a BLS key")
        for v in config.validators:
            if len(v.bls_public_key) != 48 or len(v.proof_of_possession) != 96:
                raise InvalidGenesis(f"{v.org_id}: BLS key must be 48 bytes and PoP 96 bytes")
            if not is_valid_pop(pop_verify, v.bls_public_key, v.proof_of_possession):
                raise InvalidGenesis(f"{v.org_id}: proof of possession does not verify")
        account_ids = [a.account_id for a in config.accounts]
        if len(set(account_ids)) != len(account_ids):
            raise InvalidGenesis("duplicate account id")
        supply: dict[str, int] = {}
        for a in config.accounts:
            check_id(a.account_id, ACCOUNT_ID_PATTERN, "account_id")
            check_id(a.currency, CURRENCY_PATTERN, "currency")
            if a.owner not in org_ids:
                raise InvalidGenesis(f"account {a.account_id}: unknown owner {a.owner!r}")
            supply[a.currency] = supply.get(a.currency, 0) + a.balance
            if a.balance < 0 or supply[a.currency] > MAX_AMOUNT:
                raise InvalidGenesis(f"account {a.account_id}: balance out of range")
    except InvalidTransaction as exc:  # identifier checks reuse the transaction validators
        raise InvalidGenesis(exc.reason) from exc


def genesis_state(config: GenesisConfig, *, pop_verify: PopVerifier) -> State:
    """Build height-0, epoch-0 state. ``pop_verify`` checks BLS proofs of possession (here for the
    genesis validators, later for ``validator_add``); pass the consensus layer's BLS facade."""
    _check_genesis(config, pop_verify)
    writes: dict[bytes, Record | None] = {
        keys.META: ChainMeta(config.chain_id, height=0, epoch=0),
        keys.VALIDATORS: ValidatorSet(
            tuple(
                Validator(v.org_id, v.bls_public_key)
                for v in sorted(config.validators, key=lambda v: v.org_id)
            )
        ),
    }
    for org_id, public_key in _org_keys(config):
        writes[keys.organization(org_id)] = Organization(org_id, public_key, 0)
    supply: dict[str, int] = {}
    for a in config.accounts:
        writes[keys.account(a.account_id)] = Account(a.account_id, a.currency, a.owner, a.balance)
        supply[a.currency] = supply.get(a.currency, 0) + a.balance
    for currency, amount in supply.items():
        writes[keys.supply(currency)] = Supply(currency, amount)
    return State(MerkleMap().updated(writes), pop_verify)


# --- admission and block application --------------------------------------------------------


def validate_tx(state: State, tx: Transaction, *, nonce_window: int = 0) -> None:
    """Mempool admission: raise ``InvalidTransaction`` (wrong_chain, unknown_sender, bad_nonce,
    bad_signature) or return. Malformed and oversize inputs fail earlier, in ``Transaction.decode``.

    Business rules (funds, governance, ...) are not checked here: they are decided when the block
    is applied, against the state at that point, and recorded in the receipt."""
    check_admission(state, tx, nonce_window=nonce_window)


def decode_transactions(encoded: Sequence[bytes]) -> list[Transaction]:
    """Decode a block's transactions; any undecodable one makes the block invalid."""
    txs = []
    for index, data in enumerate(encoded):
        try:
            txs.append(Transaction.decode(data))
        except InvalidTransaction as exc:
            raise InvalidBlock(index, exc.reason, exc) from exc
    return txs


def apply_block(
    state: State, txs: Sequence[Transaction], *, timestamp_ms: int
) -> tuple[State, tuple[Receipt, ...]]:
    """Apply one block with header timestamp ``timestamp_ms``: height + 1, the timestamp recorded,
    holds due at it released; if the parent recorded validator-set changes, apply them and begin
    the next epoch (see ``_open_block``); then each transaction in order. Raises
    ``InvalidBlock``; ``state`` is never modified. Call it once per block of the chain, including
    blocks without transactions."""
    size = sum(len(tx.encoding) for tx in txs)
    if size > MAX_BLOCK_BYTES:
        raise InvalidBlock(-1, f"{size} bytes of transactions exceeds {MAX_BLOCK_BYTES}")
    ctx = _open_block(state, timestamp_ms)
    receipts = []
    for index, tx in enumerate(txs):
        try:
            check_admission(ctx, tx)
        except InvalidTransaction as exc:
            raise InvalidBlock(index, exc.reason, exc) from exc
        receipts.append(execute_transaction(ctx, tx, index))
    end_block(ctx, receipts)
    return State(ctx.finish(), state.pop_verify), tuple(receipts)


@dataclass(frozen=True)
class BlockProposal:
    """What a leader proposes: the admitted transactions, the resulting state and receipts, the
    candidates refused at the door (with why) and those left for a later block (no room)."""

    transactions: tuple[Transaction, ...]
    state: State
    receipts: tuple[Receipt, ...]
    excluded: tuple[tuple[Transaction, InvalidTransaction], ...]
    deferred: tuple[Transaction, ...]


def propose_block(
    state: State,
    candidates: Sequence[Transaction],
    *,
    timestamp_ms: int,
    max_block_bytes: int = MAX_BLOCK_BYTES,
    max_transactions: int | None = None,
) -> BlockProposal:
    """Fill a block from mempool candidates (in the given order), skipping those that fail the
    door checks at their position, so ``apply_block(state, proposal.transactions, timestamp_ms=
    timestamp_ms)`` reproduces ``proposal.state`` exactly (door checks do not depend on the
    timestamp, so the chosen transactions do not either). ``excluded`` includes future nonces
    (``bad_nonce`` with a nonce above ``state.next_nonce(sender)``): a mempool keeps those and
    drops the rest."""
    ctx = _open_block(state, timestamp_ms)
    chosen: list[Transaction] = []
    receipts: list[Receipt] = []
    excluded: list[tuple[Transaction, InvalidTransaction]] = []
    deferred: list[Transaction] = []
    room = min(max_block_bytes, MAX_BLOCK_BYTES)
    for tx in candidates:
        if max_transactions is not None and len(chosen) >= max_transactions:
            deferred.append(tx)
            continue
        if len(tx.encoding) > room:
            deferred.append(tx)
            continue
        try:
            check_admission(ctx, tx)
        except InvalidTransaction as exc:
            excluded.append((tx, exc))
            continue
        receipts.append(execute_transaction(ctx, tx, len(chosen)))
        chosen.append(tx)
        room -= len(tx.encoding)
    end_block(ctx, receipts)
    return BlockProposal(
        transactions=tuple(chosen),
        state=State(ctx.finish(), state.pop_verify),
        receipts=tuple(receipts),
        excluded=tuple(excluded),
        deferred=tuple(deferred),
    )


def _open_block(state: State, timestamp_ms: int) -> BlockContext:
    """Start a block on ``state`` at ``timestamp_ms`` (which must be after the parent's: the
    consensus layer guarantees it for every block it certifies). Epoch rule (docs/ledger.md
    "Epochs"): the consensus layer ends an epoch at the committed block whose state holds pending
    validator-set changes, and the next epoch's first block is that block's child; so a block
    whose parent state has pending changes begins the new epoch, and the state's epoch and
    validator set always match the consensus layer's. (Uncommitted old-epoch children of such a
    block are abandoned by the replica.)"""
    if type(timestamp_ms) is not int or not state.timestamp_ms < timestamp_ms < 1 << 64:
        raise InvalidBlock(-1, f"timestamp {timestamp_ms!r} is not after {state.timestamp_ms}")
    ctx = BlockContext(state.store, state.pop_verify)
    begin_block(ctx, timestamp_ms)
    if ctx.pending_validator_changes:
        begin_epoch(ctx)
    return ctx
