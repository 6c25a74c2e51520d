"""End to end against a real devnet: four validator processes on loopback (ledger/node).

The portal's outbox submits through the node API, the validators commit, one validator is
killed, and the follower mirrors the chain from the others; ``ledger_verify`` then accepts it.
"""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from ledger import services
from ledger.client import NodeClient
from ledger.follower import Follower
from ledger.models import LedgerOutbox, MirrorBlock, MirrorTransaction
from ledger.outbox import ledger_submit

devnet = pytest.importorskip("ledger.node.devnet")

DEADLINE_S = 60.0


@pytest.mark.slow
def test_a_portal_transaction_is_committed_by_a_real_devnet_and_the_mirror_verifies(
    world, tmp_path, settings, capsys
) -> None:
    # given a running 4-validator devnet and acme signing as its member-00
    spec = devnet.prepare_devnet(
        tmp_path, validators=4, base_port=devnet.free_base_port(8), crypto="blst"
    )
    cluster = devnet.LocalCluster(spec)
    cluster.start_all()
    try:
        settings.LEDGER_GENESIS_FILE = str(tmp_path / "genesis.json")
        client = NodeClient(list(spec.api_urls), timeout=2)
        services.organization_key_import(
            organization=world.acme,
            ledger_id="member-00",
            private_key=devnet.read_org_key(tmp_path / "orgs" / "member-00.ed25519"),
        )
        row = ledger_submit(
            organization=world.acme,
            tx_type="consent",
            payload={"action": "granted", "commitment": "9a" * 32},
            idempotency_key="devnet.consent",
        )
        # when the outbox worker runs until the validators have committed it
        deadline = time.monotonic() + DEADLINE_S
        while row.status != LedgerOutbox.Status.COMMITTED and time.monotonic() < deadline:
            LedgerOutbox.objects.update(next_attempt_at=None)
            services.outbox_drain(client=client)
            row.refresh_from_db()
            time.sleep(0.2)
        assert row.status == LedgerOutbox.Status.COMMITTED, (row.status, row.last_error)
        # and the first validator dies before the follower starts
        cluster.kill(0)
        follower = Follower(
            client, services.follower_verifier(client=client), services.mirror_block
        )
        follower.run(until_height=row.height, deadline=time.monotonic() + DEADLINE_S)
    finally:
        cluster.close()
    # then the mirror holds the committed transaction at the height the node reported
    mirrored = MirrorTransaction.objects.get(hash=row.tx_hash)
    assert (mirrored.block.height, mirrored.sender, mirrored.status) == (
        row.height,
        "member-00",
        "committed",
    )
    assert MirrorBlock.objects.count() >= row.height
    # and the mirrored chain re-verifies from genesis
    call_command("ledger_verify")
    assert "ledger_verify: OK" in capsys.readouterr().out
