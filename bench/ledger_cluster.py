"""Committed transactions per second, finality latency and catch-up speed of a 4-validator devnet.

Four validator processes on loopback (``python -m ledger.node``), one BLS backend at a time.
Open-loop load: ``--threads`` client threads POST pre-signed anchor transactions to the validators
(round-robin) on a fixed schedule, whatever the answers; a streaming follower (``GET
/v1/blocks?from=``) on validator 0 timestamps each transaction's commit. Validator 3 is killed
before the load and restarted after it, to measure catch-up. Prints, never asserts.

    .venv/bin/python bench/ledger_cluster.py                          # blst, then py_ecc
    .venv/bin/python bench/ledger_cluster.py --backends blst --rate 1500 --seconds 15

Columns: ``offered`` = transactions accepted per second of the load window; ``committed tx/s`` =
transactions committed / seconds from the start of the load to the last commit;
``p50/p99 finality`` = submission (POST sent) to commit seen by the follower; ``catch-up`` =
blocks per second a restarted validator fetches, verifies and applies to reach the others.
Targets (issue 4): blst >= 2,000 tx/s with p99 <= 2 s; py_ecc >= 300 tx/s with p99 <= 6 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.node.devnet import (
    LocalCluster,
    anchor_tx,
    free_base_port,
    org_id,
    prepare_devnet,
    read_org_key,
)


def pre_sign(directory: Path, count: int, n: int, threads: int) -> list[list[bytes]]:
    """Per thread, its transactions: thread t sends sender t % n with nonces t//n + 1, + k..."""
    keys = [read_org_key(directory / "orgs" / f"{org_id(i)}.ed25519") for i in range(n)]
    per_sender = max(1, threads // n)
    plan: list[list[bytes]] = [[] for _ in range(threads)]
    for t in range(threads):
        sender, lane = t % n, t // n
        for k in range(count // threads):
            nonce = lane + k * per_sender + 1
            plan[t].append(
                anchor_tx(
                    keys[sender], org_id(sender), nonce, hashlib.sha256(b"%d/%d" % (t, k)).digest()
                )
            )
    return plan


def follow(url: str, seen: dict[str, float], stop: threading.Event) -> None:
    timeout = httpx.Timeout(10.0, read=60.0)
    try:
        with httpx.stream("GET", f"{url}/v1/blocks", params={"from": 1}, timeout=timeout) as stream:
            for line in stream.iter_lines():
                if stop.is_set():
                    return
                item = json.loads(line)
                now = time.monotonic()
                for tx in item.get("transactions", ()):
                    seen.setdefault(tx["hash"], now)
    except httpx.HTTPError:
        return  # the validator stopped (end of the run)


def load(urls: list[str], txs: list[bytes], rate: float, sent: dict[str, float]) -> int:
    accepted = 0
    nodelay = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    with httpx.Client(timeout=10, transport=nodelay) as client:
        start = time.monotonic()
        for k, tx in enumerate(txs):
            delay = start + k / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            at = time.monotonic()
            try:
                response = client.post(f"{urls[k % len(urls)]}/v1/txs", json={"tx": tx.hex()})
            except httpx.HTTPError:
                continue
            if response.status_code in (200, 202):
                sent[hashlib.sha256(tx).hexdigest()] = at
                accepted += 1
    return accepted


def height(cluster: LocalCluster, index: int) -> int:
    status = cluster.status(index)
    return -1 if status is None else int(status["height"])


def run(crypto: str, rate: float, seconds: float, threads: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        devnet = prepare_devnet(
            Path(tmp),
            validators=4,
            base_port=free_base_port(8),
            crypto=crypto,
            extra={
                i: {"mempool": {"max_txs": 500_000, "nonce_window": 1_000_000}} for i in range(4)
            },
        )
        cluster = LocalCluster(devnet, env={"LOG_LEVEL": "WARNING"})
        cluster.start_all()
        try:
            ready = time.monotonic() + 300
            while min(height(cluster, i) for i in range(4)) < 2:
                if time.monotonic() > ready:
                    raise SystemExit(f"{crypto}: the devnet did not start committing in 300 s")
                time.sleep(0.2)
            before = height(cluster, 3)
            cluster.kill(3)
            plan = pre_sign(devnet.directory, int(rate * seconds), 4, threads)
            sent: dict[str, float] = {}
            seen: dict[str, float] = {}
            stop = threading.Event()
            follower = threading.Thread(
                target=follow, args=(devnet.api_urls[0], seen, stop), daemon=True
            )
            follower.start()
            urls = list(devnet.api_urls[:3])
            started = time.monotonic()
            workers = [
                threading.Thread(target=load, args=(urls, plan[t], rate / threads, sent))
                for t in range(threads)
            ]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            window = time.monotonic() - started
            deadline = time.monotonic() + max(30.0, seconds * 3)
            while time.monotonic() < deadline and not set(sent) <= set(seen):
                time.sleep(0.2)
            stop.set()
            latencies = sorted(seen[h] - sent[h] for h in sent if h in seen)
            committed = [seen[h] for h in sent if h in seen]
            span = (max(committed) - started) if committed else float("nan")
            # catch-up: restart validator 3 and time it to the others' height at that moment
            target = max(height(cluster, i) for i in range(3))
            behind = target - before
            cluster.start(3)
            while height(cluster, 3) < 0:
                time.sleep(0.05)
            t0 = time.monotonic()  # from the moment its API answers (process start excluded)
            while height(cluster, 3) < target and time.monotonic() - t0 < 300:
                time.sleep(0.05)
            catch_up = time.monotonic() - t0
            p = (
                (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))])
                if latencies
                else (lambda q: float("nan"))
            )
            print(
                f"{crypto:7} offered {len(sent) / window:7.0f} tx/s (target {rate:.0f}) | "
                f"committed {len(committed) / span:7.0f} tx/s ({len(committed)}/{len(sent)}) | "
                f"finality p50 {p(0.50):5.2f} s p99 {p(0.99):5.2f} s | "
                f"catch-up {behind} blocks in {catch_up:5.1f} s = "
                f"{behind / catch_up:6.0f} blocks/s",
                flush=True,
            )
        finally:
            cluster.close()


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM (e.g. from ``timeout``) unwinds like Ctrl-C, so the validators are stopped.
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["blst", "py_ecc"])
    parser.add_argument(
        "--rate", type=float, default=None, help="offered tx/s (per backend default)"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    for crypto in args.backends:
        rate = args.rate or {"blst": 1000.0, "py_ecc": 300.0}[crypto]
        run(crypto, rate, args.seconds, args.threads)


if __name__ == "__main__":
    main()
