"""A small deterministic ledger world shared by the state machine's tests (``tests/ledger/state``).

Four validator organizations (``org-a`` .. ``org-d``) and one plain member (``org-m``, mallory's
organization). Keys are derived from names, so every run and every replay sees the same bytes.
BLS proofs of possession are faked (PoP = SHA-512 chain of the key) since verifying real ones is
the BLS facade's job; ``pop_verify`` is the injected hook.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.state import (
    AccountOpen,
    Anchor,
    BiometricAction,
    BiometricCommitment,
    Consent,
    ConsentAction,
    DataSharing,
    GenesisAccount,
    GenesisConfig,
    GenesisOrganization,
    GenesisValidator,
    GovernancePayload,
    HoldCapture,
    HoldPlace,
    HoldVoid,
    Leg,
    Mint,
    MultiTransfer,
    OrgKeyRotate,
    OrgRegister,
    Payload,
    Payment,
    Quote,
    Receipt,
    SharingAction,
    State,
    Transaction,
    Transfer,
    ValidatorAdd,
    ValidatorRemove,
    apply_block,
    genesis_state,
    sign_approval,
    sign_quote,
    sign_transaction,
    with_approvals,
)

CHAIN_ID = "alliance-test"
VALIDATOR_ORGS = ("org-a", "org-b", "org-c", "org-d")
MEMBER_ORGS = ("org-m",)


def signing_key(name: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"ed25519:" + name.encode()).digest()
    )


def public_key(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def bls_key(name: str) -> bytes:
    return hashlib.sha384(b"bls:" + name.encode()).digest()


def fake_pop(bls_public_key: bytes) -> bytes:
    return (hashlib.sha512(b"pop:" + bls_public_key).digest() + bytes(32))[:96]


def fake_pop_verify(bls_public_key: bytes, proof: bytes) -> bool:
    return proof == fake_pop(bls_public_key)


def default_accounts() -> tuple[GenesisAccount, ...]:
    return (
        GenesisAccount("a-eur", "EUR", "org-a", 100_000),
        GenesisAccount("b-eur", "EUR", "org-b", 0),
        GenesisAccount("a-usd", "USD", "org-a", 5_000),
        GenesisAccount("m-eur", "EUR", "org-m", 1_000),
    )


def genesis_config(
    validators: Sequence[str] = VALIDATOR_ORGS,
    members: Sequence[str] = MEMBER_ORGS,
    accounts: Iterable[GenesisAccount] | None = None,
) -> GenesisConfig:
    return GenesisConfig(
        chain_id=CHAIN_ID,
        validators=tuple(
            GenesisValidator(
                org_id=org,
                public_key=public_key(signing_key(org)),
                bls_public_key=bls_key(org),
                proof_of_possession=fake_pop(bls_key(org)),
            )
            for org in validators
        ),
        organizations=tuple(
            GenesisOrganization(org, public_key(signing_key(org))) for org in members
        ),
        accounts=tuple(default_accounts() if accounts is None else accounts),
    )


class World:
    """A chain under test: builds signed transactions with locally tracked nonces."""

    def __init__(
        self,
        validators: Sequence[str] = VALIDATOR_ORGS,
        members: Sequence[str] = MEMBER_ORGS,
        accounts: Iterable[GenesisAccount] | None = None,
    ) -> None:
        self.validators = tuple(validators)
        self.state: State = genesis_state(
            genesis_config(validators, members, accounts), pop_verify=fake_pop_verify
        )
        self.keys = {org: signing_key(org) for org in (*validators, *members)}
        self._nonces: dict[str, int] = {}

    def next_nonce(self, sender: str) -> int:
        return self._nonces.get(sender, 0) + 1

    def tx(
        self,
        sender: str,
        payload: Payload,
        *,
        nonce: int | None = None,
        key: Ed25519PrivateKey | None = None,
        chain_id: str = CHAIN_ID,
    ) -> Transaction:
        """Sign a transaction; without an explicit nonce it takes (and reserves) the next one."""
        if nonce is None:
            nonce = self.next_nonce(sender)
            self._nonces[sender] = nonce
        return sign_transaction(
            private_key=key or self.keys[sender],
            chain_id=chain_id,
            sender=sender,
            nonce=nonce,
            payload=payload,
        )

    def governed(
        self, sender: str, payload: GovernancePayload, approvers: Iterable[str]
    ) -> Transaction:
        """A governance transaction carrying approvals from ``approvers``."""
        nonce = self.next_nonce(sender)
        approvals = [
            sign_approval(
                private_key=self.keys[org],
                org_id=org,
                chain_id=CHAIN_ID,
                sender=sender,
                nonce=nonce,
                payload=payload,
            )
            for org in approvers
        ]
        return self.tx(sender, with_approvals(payload, approvals))

    def apply(self, *txs: Transaction, after_ms: int = 1000) -> tuple[Receipt, ...]:
        """Apply one block ``after_ms`` after the previous one and keep its state."""
        timestamp_ms = self.state.timestamp_ms + after_ms
        self.state, receipts = apply_block(self.state, txs, timestamp_ms=timestamp_ms)
        return receipts

    def balances(self) -> dict[str, int]:
        return {a.account_id: a.balance for a in self.state.accounts()}


_C1 = hashlib.sha256(b"one").digest()
_HOLD = hashlib.sha256(b"hold").digest()


def one_of_each_payload() -> list[Payload]:
    """One payload of every transaction type, valid against the world."""
    return [
        OrgRegister("org-n", public_key(signing_key("org-n"))),
        OrgKeyRotate("org-m", public_key(signing_key("org-m2"))),
        ValidatorAdd("org-m", bls_key("org-m"), fake_pop(bls_key("org-m"))),
        ValidatorRemove("org-d"),
        Mint("a-eur", "EUR", 500),
        BiometricCommitment(BiometricAction.ENROLLED, _C1),
        Consent(ConsentAction.REVOKED, _C1),
        DataSharing(SharingAction.GRANT, "org-b", _C1),
        AccountOpen("a-gbp", "GBP", "org-a"),
        Transfer("a-eur", "b-eur", "EUR", 42),
        Anchor(_C1),
        Payment("a-eur", "b-eur", "EUR", 42, _C1),
        HoldPlace(_HOLD, "a-eur", "b-eur", "EUR", 40, 3_600_000, _C1),
        HoldCapture(_HOLD, 30),
        HoldVoid(_HOLD),
        MultiTransfer(
            (Leg("a-eur", "b-eur", "EUR", 100), Leg("b-usd", "a-usd", "USD", 90)),
            _C1,
            signed_quote(Quote("org-b", _C1, "EUR", 100, "USD", 90, 3_600_000, bytes(64))),
        ),
    ]


def signed_quote(quote: Quote, signer: str | None = None) -> Quote:
    """``quote`` signed by its provider's key (or ``signer``'s) for the test chain."""
    key = signing_key(signer or quote.provider)
    return sign_quote(private_key=key, chain_id=CHAIN_ID, quote=quote)
