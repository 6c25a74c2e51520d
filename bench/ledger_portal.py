"""The portal's side of the ledger: the outbox worker's submission rate and the follower's.

A throw-away ``PORTAL_VAR_DIR`` (its own SQLite file, migrated here; no shared service) and a
4-validator blst devnet on loopback (``python -m ledger.node`` processes):

1. Outbox: ``--rows`` calls of ``ledger_submit`` (one business transaction each) for an
   organization acting as the devnet's member-00, then ``outbox_drain`` passes back to back, as
   the worker runs them, until every row is submitted (accepted by a node): rows per second and
   the worker's CPU per row.
2. Follower: ``--txs`` pre-signed anchors of member-01 sent straight to the nodes in batches;
   then a new ``Follower`` mirrors the chain from height 1 to the tip (each commit certificate
   checked, each block replayed to its state root, blocks and transactions written to the portal
   database, outbox rows decided): blocks and transactions per second, CPU per transaction. At
   the end every outbox row must be committed (the follower decided them).

    .venv/bin/python bench/ledger_portal.py [--rows 2000] [--txs 20000]

Prints, never asserts.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import logging
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ledger.node.devnet import (  # noqa: E402 - after the path set-up
    LocalCluster,
    anchor_tx,
    free_base_port,
    org_id,
    prepare_devnet,
    read_org_key,
)

SERVICE_VARIABLES = ("DATABASE_URL", "DATABASE_MIGRATE_URL", "REDIS_URL", "CELERY_BROKER_URL")


def setup_django(var_dir: Path, genesis: Path, urls: list[str]) -> None:
    for name in SERVICE_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(
        PORTAL_VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="portal.settings",
        LOG_LEVEL="WARNING",
        LEDGER_GENESIS_FILE=str(genesis),
        LEDGER_NODE_URLS=",".join(urls),
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)


def height(cluster: LocalCluster, index: int) -> int:
    status = cluster.status(index)
    return -1 if status is None else int(status["height"])


def outbox_phase(directory: Path, rows: int) -> None:
    from ledger import services
    from ledger.client import NodeClient
    from ledger.models import LedgerOutbox
    from ledger.outbox import ledger_submit
    from tenants.services import organization_create

    acme = organization_create(slug="acme", name="Acme")
    services.organization_key_import(
        organization=acme,
        ledger_id=org_id(0),
        private_key=read_org_key(directory / "orgs" / f"{org_id(0)}.ed25519"),
    )
    t0 = time.perf_counter()
    for i in range(rows):
        ledger_submit(
            organization=acme,
            tx_type="anchor",
            payload={"commitment": hashlib.sha256(b"outbox/%d" % i).hexdigest()},
            idempotency_key=f"bench.{i}",
        )
    queued = time.perf_counter() - t0
    client = NodeClient()
    cpu0, t0, passes = time.process_time(), time.perf_counter(), 0
    profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
    if profile is not None:
        profile.enable()
    while LedgerOutbox.objects.filter(status=LedgerOutbox.Status.PENDING).exists():
        services.outbox_drain(client=client)
        passes += 1
        if time.perf_counter() - t0 > 600:
            break
    if profile is not None:
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    submitted = LedgerOutbox.objects.exclude(status=LedgerOutbox.Status.PENDING).count()
    print(
        f"outbox   {rows} rows queued in {queued:5.1f} s ({1e3 * queued / rows:4.1f} ms/row) | "
        f"{submitted} submitted (or already decided) in {wall:5.1f} s over {passes} passes = "
        f"{submitted / wall:5.0f} rows/s, worker CPU {1e3 * cpu / max(1, submitted):4.2f} ms/row",
        flush=True,
    )


def load_phase(directory: Path, urls: list[str], txs: int) -> None:
    key = read_org_key(directory / "orgs" / f"{org_id(1)}.ed25519")
    signed = [
        anchor_tx(key, org_id(1), k + 1, hashlib.sha256(b"direct/%d" % k).digest())
        for k in range(txs)
    ]
    with httpx.Client(timeout=30) as http:
        for start in range(0, txs, 2000):
            batch = signed[start : start + 2000]
            url = urls[(start // 2000) % len(urls)]
            http.post(f"{url}/v1/txs/batch", json={"txs": [tx.hex() for tx in batch]})
            time.sleep(0.5)  # an open loop of about 4,000 tx/s at most


def follower_phase(cluster: LocalCluster, rows: int) -> None:
    from ledger import services
    from ledger.client import NodeClient
    from ledger.follower import Follower
    from ledger.models import LedgerOutbox, MirrorTransaction

    client = NodeClient()
    target = max(height(cluster, i) for i in range(cluster.n))
    follower = Follower(client, services.follower_verifier(client=client), services.mirror_block)
    cpu0, t0 = time.process_time(), time.perf_counter()
    reached = follower.run(until_height=target, deadline=time.monotonic() + 900)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    mirrored = MirrorTransaction.objects.count()
    committed = LedgerOutbox.objects.filter(status=LedgerOutbox.Status.COMMITTED).count()
    print(
        f"follower {reached} blocks, {mirrored} transactions mirrored in {wall:5.1f} s = "
        f"{reached / wall:5.1f} blocks/s, {mirrored / wall:5.0f} tx/s, "
        f"CPU {1e6 * cpu / max(1, mirrored):4.0f} us/tx | outbox rows committed "
        f"{committed}/{rows}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="outbox rows")
    parser.add_argument("--txs", type=int, default=20000, help="direct transactions to mirror")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "devnet"
        devnet = prepare_devnet(
            directory,
            validators=4,
            base_port=free_base_port(8),
            crypto="blst",
            extra={i: {"mempool": {"max_txs": 200_000, "nonce_window": 100_000}} for i in range(4)},
        )
        cluster = LocalCluster(devnet, env={"LOG_LEVEL": "WARNING"})
        cluster.start_all()
        try:
            deadline = time.monotonic() + 120
            while min(height(cluster, i) for i in range(4)) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            urls = list(devnet.api_urls)
            setup_django(Path(tmp) / "var", directory / "genesis.json", urls)
            outbox_phase(directory, args.rows)
            load_phase(directory, urls, args.txs)
            time.sleep(3)  # the last batches commit
            follower_phase(cluster, args.rows)
        finally:
            cluster.close()


if __name__ == "__main__":
    main()
