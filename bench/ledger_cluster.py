"""Committed transactions per second, finality latency and catch-up speed of a 4-validator devnet.

Four validator processes on loopback (``python -m ledger.node``), one BLS backend at a time.
Open-loop load: ``--threads`` client threads (one per validator, one sender organization each)
send pre-signed anchor transactions on a fixed schedule, whatever the answers: transaction k is
due at ``k / rate``, and every ``--batch-ms`` the due ones go in one ``POST /v1/txs/batch``. A
streaming follower (``GET /v1/blocks?from=``) on validator 0 timestamps each commit.

1. All four validators up: ``--seconds`` of load at ``--rate``.
2. Validator 3 is killed, a third as much load runs on the other three, then it is restarted and
   timed from the process start (imports and its own restore included) until it reaches their
   height: catch-up.

    .venv/bin/python bench/ledger_cluster.py          # blst at 2,500 tx/s, py_ecc at 400, 30 s
    .venv/bin/python bench/ledger_cluster.py --backends blst --rate 3000 --seconds 15

Columns: ``offered`` = transactions accepted per second of the load window; ``committed tx/s`` =
transactions committed / seconds from the start of the load to the last commit; ``p50/p99
finality`` = due time to the commit seen by the follower (the client's batching delay counts);
``CPU/tx per validator`` = each validator process's CPU time in phase 1 / transactions committed
(min-max over the four), ``client`` = this process's; ``catch-up`` = blocks and transactions per
second a restarted validator fetches, verifies (every certificate, every signature) and replays.
Targets: blst >= 2,000 tx/s with p99 <= 2 s; py_ecc >= 300 tx/s with p99 <= 6 s.
Prints, never asserts; the machine is shared, so compare figures from one run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
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
    Devnet,
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


def load(url: str, txs: list[bytes], rate: float, batch_ms: float, sent: dict[str, float]) -> int:
    """Open loop: transaction k is due at ``start + k / rate``; every ``batch_ms`` the due ones go
    in one ``POST /v1/txs/batch``, whatever the answers. A transaction's submission time is its
    due time (so the batching delay counts against finality)."""
    accepted = 0
    nodelay = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    with httpx.Client(timeout=30, transport=nodelay) as client:
        start = time.monotonic()
        k = 0
        while k < len(txs):
            now = time.monotonic()
            due = min(len(txs), int((now - start) * rate) + 1)
            if due <= k:
                time.sleep(max(0.0, start + k / rate - now, batch_ms / 1000))
                continue
            batch = txs[k:due]
            first = k
            k = due
            try:
                response = client.post(
                    f"{url}/v1/txs/batch", json={"txs": [tx.hex() for tx in batch]}
                )
            except httpx.HTTPError:
                continue
            if response.status_code != 200:
                continue
            for offset, result in enumerate(response.json()["results"]):
                if result["status"] in ("accepted", "duplicate"):
                    sent[result["hash"]] = start + (first + offset) / rate
                    accepted += 1
            spare = batch_ms / 1000 - (time.monotonic() - now)
            if spare > 0:
                time.sleep(spare)
    return accepted


def height(cluster: LocalCluster, index: int) -> int:
    status = cluster.status(index)
    return -1 if status is None else int(status["height"])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def offer(
    devnet: Devnet, urls: list[str], plan: list[list[bytes]], rate: float, batch_ms: float
) -> tuple[dict[str, float], dict[str, float], float, float]:
    """Run one open-loop load to its end and wait for its commits (seen by a follower of
    validator 0); returns (sent, seen, start, load window)."""
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()
    follower = threading.Thread(target=follow, args=(devnet.api_urls[0], seen, stop), daemon=True)
    follower.start()
    started = time.monotonic()
    workers = [
        threading.Thread(
            target=load, args=(urls[t % len(urls)], plan[t], rate / len(plan), batch_ms, sent)
        )
        for t in range(len(plan))
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    window = time.monotonic() - started
    deadline = time.monotonic() + max(30.0, window * 3)
    while time.monotonic() < deadline and not set(sent) <= set(seen):
        time.sleep(0.2)
    stop.set()
    return sent, seen, started, window


def run(
    crypto: str,
    rate: float,
    seconds: float,
    threads: int,
    batch_ms: float,
    node_extra: dict[str, object],
) -> None:
    n = 4
    with tempfile.TemporaryDirectory() as tmp:
        devnet = prepare_devnet(
            Path(tmp),
            validators=n,
            base_port=free_base_port(2 * n),
            crypto=crypto,
            extra={
                i: {"mempool": {"max_txs": 500_000, "nonce_window": 1_000_000}, **node_extra}
                for i in range(n)
            },
        )
        cluster = LocalCluster(devnet, env={"LOG_LEVEL": "WARNING"})
        cluster.start_all()
        try:
            ready = time.monotonic() + 300
            while min(height(cluster, i) for i in range(n)) < 2:
                if time.monotonic() > ready:
                    raise SystemExit(f"{crypto}: the devnet did not start committing in 300 s")
                time.sleep(0.2)
            catchup_seconds = max(3.0, seconds / 3)
            plan = pre_sign(devnet.directory, int(rate * (seconds + catchup_seconds)), n, threads)
            split = [int(len(p) * seconds / (seconds + catchup_seconds)) for p in plan]
            urls = list(devnet.api_urls)
            # 1. all validators up: throughput, finality, CPU per transaction
            pids = {i: p.pid for i, p in cluster.processes.items()}
            cpu0 = {i: cpu_seconds(pid) for i, pid in pids.items()}
            client0 = time.process_time()
            first = [p[:k] for p, k in zip(plan, split, strict=True)]
            sent, seen, started, window = offer(devnet, urls, first, rate, batch_ms)
            cpu = {i: cpu_seconds(pid) - cpu0[i] for i, pid in pids.items()}
            gc_stats = (cluster.status(0) or {}).get("gc", {})
            client_cpu = time.process_time() - client0
            latencies = sorted(seen[h] - sent[h] for h in sent if h in seen)
            committed = [seen[h] for h in sent if h in seen]
            span = (max(committed) - started) if committed else float("nan")
            per_tx = [1e6 * c / max(1, len(committed)) for c in cpu.values()]
            # 2. catch-up: validator 3 misses a load, then is restarted and timed to the tip
            before = height(cluster, n - 1)
            cluster.kill(n - 1)
            rest = [p[k:] for p, k in zip(plan, split, strict=True)]
            offer(devnet, urls[: n - 1], rest, rate, batch_ms)
            target = max(height(cluster, i) for i in range(n - 1))
            behind = target - before
            t0 = time.monotonic()  # from the process start: imports and restore included
            cluster.start(n - 1)
            while height(cluster, n - 1) < 0:
                time.sleep(0.02)
            api_up = time.monotonic() - t0
            while height(cluster, n - 1) < target and time.monotonic() - t0 < 300:
                time.sleep(0.02)
            catch_up = time.monotonic() - t0
            caught_txs = sum(
                len(cluster.http.get(f"{urls[0]}/v1/blocks/{h}").json()["transactions"])
                for h in range(before + 1, target + 1)
            )
            print(
                f"{crypto:7} offered {len(sent) / window:6.0f} tx/s (target {rate:.0f}) | "
                f"committed {len(committed) / span:6.0f} tx/s ({len(committed)}/{len(sent)}) | "
                f"finality p50 {percentile(latencies, 0.5):5.2f} s "
                f"p99 {percentile(latencies, 0.99):5.2f} s | "
                f"CPU/tx per validator {min(per_tx):4.0f}-{max(per_tx):4.0f} us, "
                f"client {1e6 * client_cpu / max(1, len(committed)):4.0f} us | "
                f"catch-up {behind} blocks ({caught_txs} tx) in {catch_up:4.1f} s from restart "
                f"(API up at {api_up:3.1f} s) = {behind / catch_up:4.1f} blocks/s, "
                f"{caught_txs / catch_up:5.0f} tx/s | validator 0 gc {gc_stats}",
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
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=3, help="client threads (one per node)")
    parser.add_argument("--batch-ms", type=float, default=20.0, help="client batching window")
    parser.add_argument(
        "--node-extra", type=json.loads, default={}, help="JSON merged into each config.json"
    )
    args = parser.parse_args()
    for crypto in args.backends:
        rate = args.rate or {"blst": 2500.0, "py_ecc": 400.0}[crypto]
        run(crypto, rate, args.seconds, args.threads, args.batch_ms, args.node_extra)


if __name__ == "__main__":
    main()
