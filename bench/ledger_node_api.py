"""Blocks per second of a 4-validator devnet while clients flood the node API with bad batches.

Four validator processes on loopback (``python -m ledger.node``, blst), no real load: an idle
chain commits an empty block every ``idle_block_delay_ms`` (300 ms), about 3 blocks/s. Then
``N`` attacking client threads each send, back to back over keep-alive connections,
``POST /v1/txs/batch`` with 5,000 transactions that pass every cheap check (a registered sender,
a nonce inside the window) but carry a well-formed signature by the wrong key, so refusing each
costs a full Ed25519 verification. Clients are spread over the four validators. For each ``N``
the chain's height is read before and after ``--seconds`` of attack; ``--runs`` runs per ``N``,
medians printed.

    .venv/bin/python bench/ledger_node_api.py                    # N = 0, 10, 100; 3 runs of 10 s
    .venv/bin/python bench/ledger_node_api.py --clients 0 100 --runs 5

Columns: ``blocks/s`` = committed blocks per second on validator 0 during the attack window
(median, then min-max); ``answers`` = HTTP statuses the attackers got in the window (all runs of
that ``N``), ``verified`` = bad transactions answered ``bad_signature`` (each one verification a
validator paid for). Prints, never asserts; the machine is shared, so compare figures from one
session.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.node.devnet import LocalCluster, anchor_tx, free_base_port, org_id, prepare_devnet

BATCH_TXS = 5_000


def bad_batch(validators: int) -> bytes:
    """5,000 anchors from registered senders, nonces inside the window, signed by a stranger."""
    stranger = Ed25519PrivateKey.generate()
    txs = [
        anchor_tx(stranger, org_id(k % validators), 1 + k // validators % 1000, os.urandom(32))
        for k in range(BATCH_TXS)
    ]
    return json.dumps({"txs": [tx.hex() for tx in txs]}).encode()


class Attacker(threading.Thread):
    """Sends the batch again and again on one keep-alive connection (reconnects when closed)."""

    def __init__(self, host: str, port: int, body: bytes, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.host, self.port, self.body, self.stop = host, port, body, stop
        self.statuses: Counter[int | str] = Counter()
        self.verified = 0
        self.counting = False

    def run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        headers = {"content-type": "application/json"}
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                conn.request("POST", "/v1/txs/batch", body=self.body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                if self.counting:
                    self.statuses[response.status] += 1
                    if response.status == 200:
                        self.verified += data.count(b'"bad_signature"')
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                if self.counting:
                    self.statuses[type(exc).__name__] += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
        if conn is not None:
            conn.close()


def height(cluster: LocalCluster, index: int = 0) -> int:
    for _ in range(100):
        status = cluster.status(index)
        if status is not None:
            return int(status["height"])
        time.sleep(0.1)
    raise SystemExit(f"validator {index} does not answer /v1/status")


def attack(
    cluster: LocalCluster, clients: int, body: bytes, seconds: float
) -> tuple[float, Counter[int | str], int]:
    stop = threading.Event()
    urls = [url.removeprefix("http://").split(":") for url in cluster.devnet.api_urls]
    threads = [
        Attacker(urls[k % len(urls)][0], int(urls[k % len(urls)][1]), body, stop)
        for k in range(clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.0 if clients else 0.0)  # let the attack reach its steady state
    for thread in threads:
        thread.counting = True
    h0, t0 = height(cluster), time.monotonic()
    time.sleep(seconds)
    h1, t1 = height(cluster), time.monotonic()
    for thread in threads:
        thread.counting = False
    stop.set()
    for thread in threads:
        thread.join(60)
    statuses: Counter[int | str] = Counter()
    for thread in threads:
        statuses.update(thread.statuses)
    return (h1 - h0) / (t1 - t0), statuses, sum(t.verified for t in threads)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C, so the validators are stopped


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", nargs="+", type=int, default=[0, 10, 100])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    n = 4
    with tempfile.TemporaryDirectory() as tmp:
        devnet = prepare_devnet(
            Path(tmp), validators=n, base_port=free_base_port(2 * n), crypto="blst"
        )
        cluster = LocalCluster(devnet, env={"LOG_LEVEL": "WARNING"})
        cluster.start_all()
        try:
            deadline = time.monotonic() + 300
            while min(height(cluster, i) for i in range(n)) < 2:
                if time.monotonic() > deadline:
                    raise SystemExit("the devnet did not start committing in 300 s")
                time.sleep(0.2)
            body = bad_batch(n)
            for clients in args.clients:
                rates, statuses, verified = [], Counter[int | str](), 0
                for _ in range(args.runs):
                    rate, answered, checked = attack(cluster, clients, body, args.seconds)
                    rates.append(rate)
                    statuses.update(answered)
                    verified += checked
                answers = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str))
                print(
                    f"{clients:4d} clients | blocks/s median {statistics.median(rates):4.2f} "
                    f"({min(rates):4.2f}-{max(rates):4.2f}) | answers {answers or '-'} | "
                    f"verified {verified}",
                    flush=True,
                )
        finally:
            cluster.close()


if __name__ == "__main__":
    main()
