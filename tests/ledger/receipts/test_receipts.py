"""Receipts a payer can verify offline: payload inclusion proofs, the document, its verifier.

The chain is made by four REAL replicas (blst) over REAL ``ledger.state`` transactions, with a
validator added by governance so the receipt of a later transaction crosses an epoch change.
No database: the receipt is assembled from the replicas' committed blocks and executed states.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from ledger.consensus import compute_payload_root
from ledger.consensus.crypto import backend
from ledger.receipts import (
    EpochChange,
    ReceiptError,
    TransactionReceipt,
    compute_inclusion_proof,
    genesis_hash_from_json,
    verify_inclusion_proof,
    verify_receipt,
)
from ledger.state import (
    GenesisAccount,
    Transfer,
    ValidatorAdd,
    sign_approval,
    sign_transaction,
    with_approvals,
)
from ledger.state.proofs import compute_outcome_proof
from ledger.state.records import keys
from tests.ledger.consensus.support import secret_key
from tests.ledger.portal.support import (
    CHAIN,
    VALIDATOR_ORGS,
    LedgerHarness,
    org_key,
    raw_public_key,
    secret_key_pk,
)

# --- payload inclusion proofs ----------------------------------------------------------------


def payload(size: int) -> list[bytes]:
    return [f"tx-{i}".encode() * (i % 3 + 1) for i in range(size)]


@pytest.mark.parametrize("size", range(1, 71))
def test_every_leaf_of_every_payload_size_is_proved_against_the_payload_root(size: int) -> None:
    txs = payload(size)
    root = compute_payload_root(txs)
    for index, tx in enumerate(txs):
        path = compute_inclusion_proof(txs, index)
        assert len(path) <= (size - 1).bit_length()
        assert verify_inclusion_proof(tx, index, size, path, root)


@pytest.mark.parametrize("size", [2, 3, 5, 7, 8, 13, 64, 70])
def test_a_wrong_index_sibling_leaf_or_root_fails(size: int) -> None:
    txs = payload(size)
    root = compute_payload_root(txs)
    for index, tx in enumerate(txs):
        path = compute_inclusion_proof(txs, index)
        for other in range(size):
            if txs[other] != tx:
                assert not verify_inclusion_proof(tx, other, size, path, root)
        assert not verify_inclusion_proof(tx + b"!", index, size, path, root)
        assert not verify_inclusion_proof(txs[(index + 1) % size], index, size, path, root)
        for k in range(len(path)):
            bad = bytes([path[k][0] ^ 1]) + path[k][1:]
            assert not verify_inclusion_proof(
                tx, index, size, (*path[:k], bad, *path[k + 1 :]), root
            )
        assert not verify_inclusion_proof(tx, index, size, path[:-1], root)
        assert not verify_inclusion_proof(tx, index, size, (*path, root), root)
        assert not verify_inclusion_proof(tx, index, size, path, bytes(32))
        assert not verify_inclusion_proof(tx, size, size, path, root)


def test_an_index_outside_the_payload_has_no_proof() -> None:
    with pytest.raises(IndexError):
        compute_inclusion_proof(payload(3), 3)
    with pytest.raises(IndexError):
        compute_inclusion_proof([], 0)


# --- a real chain ----------------------------------------------------------------------------


def transfer(nonce: int, amount: int) -> bytes:
    tx = sign_transaction(
        private_key=org_key("val-a"), chain_id=CHAIN, sender="val-a", nonce=nonce,
        payload=Transfer("val-a:eur", "val-b:eur", "EUR", amount),
    )  # fmt: skip
    return tx.encoding


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[LedgerHarness, dict[str, bytes]]]:
    """Epoch 0: a paid and an overdrawn transfer, then val-e added by governance; epoch 1: two
    more transfers."""
    harness = LedgerHarness(
        {"val-e": raw_public_key(org_key("val-e"))},
        accounts=(
            GenesisAccount("val-a:eur", "EUR", "val-a", 100),
            GenesisAccount("val-b:eur", "EUR", "val-b", 0),
        ),
        joining=1,
    )
    txs = {"paid": transfer(1, 60), "overdrawn": transfer(2, 500)}
    for data in txs.values():
        harness.submit(data)
    harness.commit_pending()
    add = ValidatorAdd(
        "val-e", secret_key_pk(4, harness.crypto), harness.crypto.PopProve(secret_key(4))
    )
    approvals = [
        sign_approval(
            private_key=org_key(org), org_id=org, chain_id=CHAIN, sender="val-a", nonce=3,
            payload=add,
        )
        for org in VALIDATOR_ORGS[:3]
    ]  # fmt: skip
    harness.submit(
        sign_transaction(
            private_key=org_key("val-a"), chain_id=CHAIN, sender="val-a", nonce=3,
            payload=with_approvals(add, approvals),
        ).encoding
    )  # fmt: skip
    harness.driver.run(
        lambda d: any(c.block.epoch == 1 for c in d.replicas[0].committed_with_certs)
    )
    txs["late"], txs["later"] = transfer(4, 10), transfer(5, 5)
    harness.submit(txs["late"])
    harness.submit(txs["later"])
    harness.commit_pending()
    yield harness, txs


def build(harness: LedgerHarness, tx: bytes) -> TransactionReceipt:
    """The receipt of ``tx`` from the replicas' committed blocks and executed states."""
    committed = harness.committed
    item = next(c for c in committed if tx in c.block.payload)
    block = item.block
    index = block.payload.index(tx)
    changes = []
    for epoch in range(block.epoch):
        end = [c for c in committed if c.block.epoch == epoch][-1]
        state = harness.executor.state(end.block.header.state_root)
        changes.append(
            EpochChange(
                end.block.header, end.cert, state.store.prove(keys.META),
                state.store.prove(keys.VALIDATORS),
            )
        )  # fmt: skip
    state = harness.executor.state(block.header.state_root)
    outcome = compute_outcome_proof(state, harness.executor.receipts(block.header.state_root))
    return TransactionReceipt(
        chain_id=harness.chain_id,
        genesis=harness.genesis,
        genesis_validators=harness.vset.validators,
        epoch_changes=tuple(changes),
        header=block.header,
        cert=item.cert,
        tx=tx,
        index=index,
        tree_size=len(block.payload),
        audit_path=compute_inclusion_proof(block.payload, index),
        outcome=outcome,
    )


def check(harness: LedgerHarness, document: Any, pin: bytes | None = None) -> Any:
    receipt = TransactionReceipt.from_json(json.loads(json.dumps(document)))
    return verify_receipt(receipt, crypto=harness.crypto, genesis_hash=pin)


def test_a_receipt_proves_inclusion_finality_and_the_committed_outcome(chain) -> None:
    harness, txs = chain
    # given the receipt of the paid transfer, as JSON
    document = build(harness, txs["paid"]).to_json()
    # when a third party verifies it against the genesis it trusts
    verified = check(harness, document, pin=harness.genesis.hash)
    # then it names the transaction, its block and epoch 0, a quorum of signers and the outcome
    item = next(c for c in harness.committed if txs["paid"] in c.block.payload)
    assert verified.tx_hash.hex() == document["transaction"]["hash"]
    assert (verified.height, verified.epoch, verified.validators) == (item.block.height, 0, 4)
    assert verified.signers >= 3 and verified.outcome.committed
    assert verified.summary().startswith(
        f"valid: tx {verified.tx_hash.hex()} in block {item.block.height}, epoch 0, "
        f"signed by {verified.signers} of 4 validators"
    )
    assert "(pinned)" in verified.summary()


def test_a_receipt_proves_that_the_state_machine_rejected_a_transaction(chain) -> None:
    harness, txs = chain
    verified = check(harness, build(harness, txs["overdrawn"]).to_json())
    assert not verified.outcome.committed and verified.outcome.code == "insufficient_funds"
    assert "rejected by the state machine (insufficient_funds)" in verified.summary()
    assert "NOT pinned" in verified.summary()


def test_a_receipt_after_an_epoch_change_carries_the_chain_of_custody(chain) -> None:
    harness, txs = chain
    receipt = build(harness, txs["late"])
    assert receipt.tree_size == 2 and receipt.audit_path
    verified = verify_receipt(receipt, crypto=harness.crypto, genesis_hash=harness.genesis.hash)
    assert (verified.epoch, verified.validators, verified.outcome.committed) == (1, 5, True)
    assert len(receipt.epoch_changes) == 1
    # without the epoch change the block's validator set is unproven
    with pytest.raises(ReceiptError) as error:
        verify_receipt(replace(receipt, epoch_changes=()), crypto=harness.crypto)
    assert error.value.part == "validators"


def test_a_receipt_against_another_genesis_is_refused(chain) -> None:
    harness, txs = chain
    document = build(harness, txs["paid"]).to_json()
    with pytest.raises(ReceiptError) as error:
        check(harness, document, pin=bytes(32))
    assert error.value.part == "genesis"
    genesis = genesis_hash_from_json(harness.genesis_json())
    assert check(harness, document, pin=genesis).genesis_pinned


def flip(value: str, position: int) -> str:
    """Change one byte of a hex string (the low bit of the byte at ``position``)."""
    raw = bytearray(bytes.fromhex(value))
    raw[position] ^= 1
    return raw.hex()


def hex_fields(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every hex string of the document with its path (chain id, names and the format aside)."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield from hex_fields(value, (*path, key))
    elif isinstance(document, list):
        for i, value in enumerate(document):
            yield from hex_fields(value, (*path, i))
    elif isinstance(document, str) and path[-1] not in ("format", "name"):
        yield path, document


def setter(document: Any, path: tuple[Any, ...]) -> Callable[[Any], None]:
    target = document
    for key in path[:-1]:
        target = target[key]

    def put(value: Any) -> None:
        target[path[-1]] = value

    return put


EXPECTED_PART = {
    "genesis": {"genesis"},
    "epoch_changes": {"validators"},
    "block": {"header", "certificate"},
    "transaction": {"transaction", "audit_path"},
    "outcome": {"outcome"},
    "chain_id": {"genesis"},
}


@pytest.mark.slow
def test_changing_any_byte_of_a_receipt_makes_it_fail_naming_the_part(chain) -> None:
    harness, txs = chain
    document = build(harness, txs["late"]).to_json()
    pin = harness.genesis.hash
    checked = 0
    for path, value in hex_fields(document):
        size = len(value) // 2
        # Every byte of the short fields, a spread of positions in the long ones.
        positions = range(size) if size <= 64 else sorted({*range(0, size, size // 40), size - 1})
        for position in positions:
            tampered = json.loads(json.dumps(document))
            setter(tampered, path)(flip(value, position))
            with pytest.raises(ReceiptError) as error:
                check(harness, tampered, pin=pin)
            assert error.value.part in EXPECTED_PART[path[0]] | {"validators"}, (path, position)
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    ("part", "path", "position"),
    [
        ("transaction", ("transaction", "tx"), 10),
        ("audit_path", ("transaction", "audit_path", 0), 3),
        ("header", ("block", "header"), 40),
        ("certificate", ("block", "certificate"), -5),
        ("validators", ("genesis", "validators", 2, "public_key"), 7),
        ("validators", ("epoch_changes", 0, "validators_proof", "value"), 10),
        ("validators", ("epoch_changes", 0, "certificate"), -3),
        ("outcome", ("outcome", "receipts", 0), 40),
        ("outcome", ("outcome", "meta_proof", "siblings", 5), 0),
    ],
)
def test_a_changed_byte_in_each_part_is_named(chain, part, path, position) -> None:
    harness, txs = chain
    document = build(harness, txs["late"]).to_json()
    target = document
    for key in path[:-1]:
        target = target[key]
    value = target[path[-1]]
    target[path[-1]] = flip(value, position % (len(value) // 2))
    with pytest.raises(ReceiptError) as error:
        check(harness, document, pin=harness.genesis.hash)
    assert error.value.part == part


def test_a_changed_transaction_count_or_version_is_refused(chain) -> None:
    harness, txs = chain
    document = build(harness, txs["paid"]).to_json()
    document["transaction"]["tree_size"] += 1
    with pytest.raises(ReceiptError):
        check(harness, document)
    document = build(harness, txs["paid"]).to_json()
    document["version"] = 2
    with pytest.raises(ReceiptError) as error:
        check(harness, document)
    assert error.value.part == "document"


def test_the_reference_backend_verifies_the_same_receipt(chain) -> None:
    harness, txs = chain
    receipt = build(harness, txs["late"])
    verified = verify_receipt(receipt, crypto=backend("py_ecc"), genesis_hash=harness.genesis.hash)
    assert (verified.epoch, verified.validators, verified.outcome.committed) == (1, 5, True)
