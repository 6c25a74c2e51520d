"""Offline receipt verification: median time per receipt, blst and py_ecc, in one run.

Usage: ``.venv/bin/python bench/receipts.py [--txs 1000] [--sizes 4 64]`` (from the repository
root). Prints, never asserts. For each validator count it builds a real chain piece with
``ledger.state`` (genesis, one block of ``--txs`` signed anchor transactions executed into its
state root and receipts) and ``ledger.consensus`` (the block, its child in the next round, a
quorum certificate on the child signed by 2f+1 validators), makes the receipt of the block's
middle transaction, and times ``TransactionReceipt.from_json`` + ``verify_receipt`` (what
``manage.py verify_receipt`` does after reading the file) per backend. Each call builds its
validator set from the document, so no aggregate key is cached between calls.

A receipt in epoch 0 costs one aggregate verification; each epoch change it crosses adds one
more (the certificate of the block that ended the epoch); this script measures epoch 0 only.
Times are process CPU time (the machine is shared; see bench/bls.py). Goals: <= 5 ms with blst,
<= 400 ms with py_ecc.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.consensus import (
    CommitCert,
    QuorumCert,
    ValidatorInfo,
    ValidatorSet,
    compute_vote_signing_root,
    make_block,
    make_genesis,
)
from ledger.consensus.crypto import KeyGen, backend
from ledger.receipts import (
    TransactionReceipt,
    compute_inclusion_proof,
    verify_receipt,
)
from ledger.state import (
    Anchor,
    GenesisConfig,
    GenesisValidator,
    apply_block,
    genesis_state,
    sign_transaction,
)
from ledger.state.proofs import compute_outcome_proof

CHAIN = "bench-receipts"


def median_ms(operation: Callable[[], object], repetitions: int) -> float:
    samples = []
    for _ in range(repetitions):
        start = time.process_time()
        operation()
        samples.append(time.process_time() - start)
    return statistics.median(samples) * 1000


def build_receipt(n: int, tx_count: int) -> dict[str, Any]:
    """The JSON receipt of the middle transaction of a committed block on an n-validator chain."""
    fast, rng = backend("blst"), random.Random(2026)
    sks = [KeyGen(rng.randbytes(32)) for _ in range(n)]
    orgs = [f"val-{i:02d}" for i in range(n)]
    ed = {org: Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)) for org in orgs}
    infos = tuple(
        ValidatorInfo(i, fast.SkToPk(sk), fast.PopProve(sk), org)
        for i, (sk, org) in enumerate(zip(sks, orgs, strict=True))
    )
    config = GenesisConfig(
        chain_id=CHAIN,
        validators=tuple(
            GenesisValidator(org, ed[org].public_key().public_bytes_raw(), v.public_key,
                             v.proof_of_possession)
            for org, v in zip(orgs, infos, strict=True)
        ),
    )  # fmt: skip
    state = genesis_state(config, pop_verify=fast.PopVerify)
    vset = ValidatorSet(infos, crypto=fast, epoch=0)
    chain_id = CHAIN.encode()
    genesis = make_genesis(chain_id, vset, state_root=state.root)
    txs = [
        sign_transaction(
            private_key=ed[orgs[i % n]], chain_id=CHAIN, sender=orgs[i % n], nonce=i // n + 1,
            payload=Anchor(rng.randbytes(32)),
        )
        for i in range(tx_count)
    ]  # fmt: skip
    after, receipts = apply_block(state, txs, timestamp_ms=1)
    payload = [tx.encoding for tx in txs]
    block = make_block(
        chain_id=chain_id, epoch=0, round=1, parent=genesis, payload=payload, proposer=1,
        timestamp_ms=1, state_root=after.root,
    )  # fmt: skip
    child = make_block(
        chain_id=chain_id, epoch=0, round=2, parent=block, payload=[], proposer=2,
        timestamp_ms=2, state_root=after.root,
    )  # fmt: skip
    signers = range(vset.quorum)
    root = compute_vote_signing_root(chain_id, 0, child.round, child.hash)
    qc = QuorumCert(
        epoch=0, round=child.round, block_hash=child.hash,
        signers=vset.bitmap_from_indices(signers),
        signature=fast.Aggregate([fast.Sign(sks[i], root) for i in signers]),
    )  # fmt: skip
    index = tx_count // 2
    receipt = TransactionReceipt(
        chain_id=chain_id,
        genesis=genesis,
        genesis_validators=infos,
        epoch_changes=(),
        header=block.header,
        cert=CommitCert(headers=(child.header,), qc=qc),
        tx=payload[index],
        index=index,
        tree_size=len(payload),
        audit_path=compute_inclusion_proof(payload, index),
        outcome=compute_outcome_proof(after, receipts),
    )
    return receipt.to_json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--txs", type=int, default=1000, help="transactions in the block")
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 64], help="validator counts")
    parser.add_argument("--reps", type=int, default=5, help="py_ecc repetitions (blst: 10x)")
    args = parser.parse_args()
    print(f"receipt verification, block of {args.txs} transactions, CPU ms (median)")
    print(f"{'validators':>10} {'receipt bytes':>14} {'blst':>10} {'py_ecc':>10}")
    for n in args.sizes:
        document = json.dumps(build_receipt(n, args.txs))
        figures = []
        for name, reps in (("blst", args.reps * 10), ("py_ecc", args.reps)):
            crypto = backend(name)

            def verify(crypto: Any = crypto, document: str = document) -> object:
                receipt = TransactionReceipt.from_json(json.loads(document))
                return verify_receipt(receipt, crypto=crypto)

            verify()  # fails loudly if the receipt does not verify
            figures.append(median_ms(verify, reps))
        print(f"{n:>10} {len(document):>14} {figures[0]:>10.2f} {figures[1]:>10.1f}")


if __name__ == "__main__":
    main()
