"""BLS facade figures: median time per operation, per backend, for n = 4, 16, 64.

Usage: ``.venv/bin/python bench/bls.py [--quick]`` (from the repository root). Prints, never
asserts. For each n it times, on both backends in the same run:

- ``Sign``                    one signature (independent of n; repeated per row for reading ease)
- ``Verify``                  one IETF Verify (key re-validated), for comparison
- ``Aggregate(n)``            aggregating n signatures (each decoded and subgroup-checked)
- ``QC verify (cached key)``  ``VerifyWithValidatedKey`` on the cached aggregate key of n signers:
                              what a replica pays per quorum certificate
- ``FastAggregateVerify(n)``  the IETF call without a cached aggregate key (validates all n keys,
                              sums them, verifies); blst keeps decoded keys in an LRU cache, so
                              its repeated calls skip decoding, py_ecc re-validates every time
- ``verify_commit``           the light-client check from ``ledger.consensus`` with a quorum
                              (2f+1 of n) certificate: first call for the set, then cached calls

and the ratio py_ecc / blst. Times are process CPU time (``time.process_time``): the machine is
shared, and wall-clock medians there measure the neighbours as much as the code. Key material,
proofs and signatures are made with blst (the backends are byte-identical, see
tests/ledger/consensus/test_crypto.py) so that setup does not dominate the run.
py_ecc repetitions are kept small (3, or 1 with --quick) so the script ends in a few minutes.
"""

from __future__ import annotations

import argparse
import importlib
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.consensus.crypto import BLSBackend, KeyGen, backend

SIZES = (4, 16, 64)
BACKENDS = ("py_ecc", "blst")
MESSAGE = b"\x11" * 32  # a signing root is 32 bytes
CHAIN_ID = b"bench-chain"


def median_seconds(operation: Callable[[], object], repetitions: int) -> float:
    samples = []
    for _ in range(repetitions):
        start = time.process_time()
        operation()
        samples.append(time.process_time() - start)
    return statistics.median(samples)


def make_keys(n: int, seed: int = 2026) -> list[tuple[int, bytes, bytes]]:
    """n (sk, pk, proof of possession) triples from seeded key material, computed with blst."""
    rng, fast = random.Random(seed), backend("blst")
    sks = [KeyGen(rng.randbytes(32)) for _ in range(n)]
    return [(sk, fast.SkToPk(sk), fast.PopProve(sk)) for sk in sks]


def time_operations(
    crypto: BLSBackend, keys: list[tuple[int, bytes, bytes]], reps: int
) -> dict[str, float]:
    fast = backend("blst")
    pks = [pk for _, pk, _ in keys]
    sigs = [fast.Sign(sk, MESSAGE) for sk, _, _ in keys]
    aggregate = fast.Aggregate(sigs)
    aggregate_key = fast.AggregatePublicKeys(pks)  # the cached value a replica would hold
    results = {
        "Sign": median_seconds(lambda: crypto.Sign(keys[0][0], MESSAGE), reps),
        "Verify (one signature)": median_seconds(
            lambda: crypto.Verify(pks[0], MESSAGE, sigs[0]), reps
        ),
        "Aggregate(n)": median_seconds(lambda: crypto.Aggregate(sigs), reps),
        "QC verify (cached key)": median_seconds(
            lambda: crypto.VerifyWithValidatedKey(aggregate_key, MESSAGE, aggregate), reps
        ),
        "FastAggregateVerify(n)": median_seconds(
            lambda: crypto.FastAggregateVerify(pks, MESSAGE, aggregate), reps
        ),
    }
    # A benchmark that times a failing verification would be meaningless: say so loudly.
    if not crypto.VerifyWithValidatedKey(aggregate_key, MESSAGE, aggregate):
        print(f"WARNING: {crypto.name} rejected the benchmark aggregate", file=sys.stderr)
    return results


def find_consensus_api() -> dict[str, Any] | str:
    """The replica helper's names, wherever they live; a reason string if any is missing."""
    wanted = (
        "verify_commit",
        "ValidatorInfo",
        "ValidatorSet",
        "make_genesis",
        "make_block",
        "QuorumCert",
        "CommitCert",
        "compute_vote_signing_root",
    )
    modules = []
    for name in ("", ".replica", ".certificates", ".block_tree", ".types", ".validators"):
        try:
            modules.append(importlib.import_module("ledger.consensus" + name))
        except Exception:  # noqa: S112 - a module still being written may fail to import
            continue
    found: dict[str, Any] = {}
    for attribute in wanted:
        for module in modules:
            if hasattr(module, attribute):
                found[attribute] = getattr(module, attribute)
                break
        else:
            return f"ledger.consensus does not expose {attribute}"
    return found


def time_verify_commit(
    api: dict[str, Any], crypto: BLSBackend, keys: list[tuple[int, bytes, bytes]], reps: int
) -> tuple[float, float, bool]:
    """(first call, median of cached calls, result) for a block committed by a quorum cert."""
    fast = backend("blst")
    infos = [api["ValidatorInfo"](i, pk, pop, f"v{i}") for i, (_, pk, pop) in enumerate(keys)]
    # Keys were validated with blst above; the private hook skips re-validating them with py_ecc
    # (64 PopVerify calls would take half a minute and are not what is being measured).
    known = frozenset((info.public_key, info.proof_of_possession) for info in infos)
    validator_set = api["ValidatorSet"](infos, crypto=crypto, epoch=1, _already_validated=known)
    genesis = api["make_genesis"](CHAIN_ID, validator_set)
    blocks = [genesis]
    for round_number in (1, 2):
        blocks.append(
            api["make_block"](
                chain_id=CHAIN_ID, epoch=1, round=round_number, parent=blocks[-1],
                payload=[b"tx"], proposer=round_number % len(keys), timestamp_ms=round_number,
            )
        )  # fmt: skip
    committed, child = blocks[1], blocks[2]
    signers = list(range(validator_set.quorum))
    root = api["compute_vote_signing_root"](CHAIN_ID, 1, child.round, child.hash)
    signature = fast.Aggregate([fast.Sign(keys[i][0], root) for i in signers])
    qc = api["QuorumCert"](1, child.round, child.hash, validator_set.bitmap_from_indices(signers),
                           signature)  # fmt: skip
    certificate = api["CommitCert"]((child.header,), qc)
    verify = api["verify_commit"]
    start = time.process_time()
    ok = verify(validator_set, committed, certificate)
    first = time.process_time() - start
    cached = median_seconds(lambda: verify(validator_set, committed, certificate), reps)
    return first, cached, bool(ok)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:10.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 py_ecc repetition, 10 blst")
    args = parser.parse_args()
    reps = {"py_ecc": 1, "blst": 10} if args.quick else {"py_ecc": 3, "blst": 50}
    started, cpu_started = time.perf_counter(), time.process_time()
    print(
        f"BLS facade, median CPU ms per call (py_ecc x{reps['py_ecc']}, blst x{reps['blst']}); "
        "process CPU time, so other load on the shared machine does not inflate it"
    )
    print(f"{'operation':<26}{'n':>4}{'py_ecc ms':>12}{'blst ms':>11}{'ratio':>9}")
    keysets = {n: make_keys(n) for n in SIZES}
    for n in SIZES:
        rows = {name: time_operations(backend(name), keysets[n], reps[name]) for name in BACKENDS}
        for operation, slow in rows["py_ecc"].items():
            quick = rows["blst"][operation]
            print(f"{operation:<26}{n:>4}{ms(slow)} {ms(quick)}{slow / quick:8.0f}x")
    api = find_consensus_api()
    if isinstance(api, str):
        print(f"verify_commit: not available yet ({api})")
    else:
        print(f"{'verify_commit':<18}{'n':>4}{'backend':>9}{'first ms':>11}{'cached ms':>11}  ok")
        for n in SIZES:
            for name in BACKENDS:
                try:
                    first, cached, ok = time_verify_commit(
                        api, backend(name), keysets[n], reps[name]
                    )
                except Exception as error:  # the replica API is still moving: report, go on
                    print(f"verify_commit: not available yet ({type(error).__name__}: {error})")
                    break
                print(f"{'':<18}{n:>4}{name:>9}{ms(first)[-10:]:>11}{ms(cached)[-10:]:>11}  {ok}")
            else:
                continue
            break
    cpu = time.process_time() - cpu_started
    print(f"total: wall {time.perf_counter() - started:.1f} s, CPU {cpu:.1f} s")


if __name__ == "__main__":
    main()
