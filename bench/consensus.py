"""Committed blocks per second of the simulator, and CPU per committed block per replica.

Runs ``ledger.simulation.run_scenario`` with no network delay (pure CPU cost of protocol + crypto,
one process, one core) for n = 4, 7, 16 and each signature backend, and prints medians of a few
repetitions. Never asserts: figures, not pass/fail.

    .venv/bin/python bench/consensus.py                      # all backends
    .venv/bin/python bench/consensus.py --backends blst none --sizes 4 7

Columns: ``blocks/s`` = blocks committed by every honest replica / wall seconds of the run;
``blocks/cpu-s`` = the same per CPU second of this process (robust on a shared machine);
``cpu ms/block/replica`` = median over replicas of (CPU seconds in that replica's handlers /
blocks it committed). Targets: blst n=4 >= 100 blocks/s; CPU per block per replica
<= 5 ms (blst) and <= 450 ms (py_ecc) at n=4, growing < 2x from n=4 to n=16.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.consensus.crypto import KeyGen, available_backends
from ledger.consensus.crypto import backend as crypto_backend
from ledger.simulation import FixedDelay, NetworkConfig, run_scenario

# py_ecc costs ~0.4 s of CPU per block per replica: few rounds, one repetition. A block commits
# two rounds after it is proposed, so R rounds give R - 2 blocks: 12 rounds keep that skew small.
ROUNDS = {"none": 300, "blst": 150, "py_ecc": 12}
REPETITIONS = {"none": 3, "blst": 3, "py_ecc": 1}


def measure(crypto: str, n: int, rounds: int) -> tuple[float, float, float, int]:
    """(blocks per wall second, blocks per CPU second, median CPU seconds per committed block per
    replica, blocks). CPU figures matter on a shared machine, where wall time includes waiting."""
    started = time.perf_counter()
    cpu_started = time.process_time()
    result = run_scenario(
        validators=n,
        seed=1,
        rounds=rounds,
        crypto=crypto,
        network=NetworkConfig(delay=FixedDelay(0)),
        cpu_clock=time.process_time,
    )
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    blocks = min(len(chain) for chain in result.commits.values())
    per_replica = [
        result.handler_seconds.get(i, 0.0) / max(1, len(result.commits[i]))
        for i in result.honest_indices
    ]
    rate = blocks / wall if wall > 0 else 0.0
    cpu_rate = blocks / cpu if cpu > 0 else 0.0
    return rate, cpu_rate, statistics.median(per_replica), blocks


def calibrate(crypto: str) -> float:
    """CPU seconds of one Sign right now: on a shared machine, compare runs through this."""
    signer = crypto_backend(crypto)
    sk = KeyGen(b"bench/consensus/calibration/key!")
    started = time.process_time()
    for i in range(3):
        signer.Sign(sk, b"calibration %d" % i)
    return (time.process_time() - started) / 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="*", default=["none", "blst", "py_ecc"])
    parser.add_argument("--sizes", nargs="*", type=int, default=[4, 7, 16])
    args = parser.parse_args()
    installed = set(available_backends()) | {"none"}
    print(f"# simulator throughput, no network delay, pid {os.getpid()}, one core")
    print(f"{'backend':<8} {'n':>3} {'rounds':>6} {'blocks':>6} {'blocks/s':>10} "
          f"{'blocks/cpu-s':>12} {'cpu ms/block/replica':>21} {'reps':>4}")  # fmt: skip
    for crypto in args.backends:
        if crypto not in installed:
            print(f"{crypto:<8} not installed")
            continue
        if crypto != "none":
            print(f"# {crypto}: one Sign costs {calibrate(crypto) * 1000:.2f} ms CPU right now")
        for n in args.sizes:
            rounds = ROUNDS[crypto]
            # Warm-up: builds and caches the validator set (PoP checks), imports, JIT-free caches.
            run_scenario(validators=n, seed=0, rounds=2, crypto=crypto,
                         network=NetworkConfig(delay=FixedDelay(0)))  # fmt: skip
            reps = REPETITIONS[crypto]
            samples = [measure(crypto, n, rounds) for _ in range(reps)]
            rate = statistics.median(s[0] for s in samples)
            cpu_rate = statistics.median(s[1] for s in samples)
            cpu = statistics.median(s[2] for s in samples)
            blocks = samples[0][3]
            label = "insecure" if crypto == "none" else crypto
            print(f"{label:<8} {n:>3} {rounds:>6} {blocks:>6} {rate:>10.1f} {cpu_rate:>12.1f} "
                  f"{cpu * 1000:>21.2f} {reps:>4}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
