"""Fixtures shared by the tests of the ledger's portal side."""

from __future__ import annotations

import pytest

from ledger import services
from ledger.client import NodeClient
from ledger.follower import Follower
from ledger.outbox import ledger_submit
from ledger.state import GenesisAccount
from tests.ledger.portal.support import LedgerHarness, nodes

COMMITMENT = "ef" * 32


@pytest.fixture
def mirrored(world):
    """acme's anchor committed by real consensus and mirrored; one acme row still queued."""
    key = services.organization_key_ensure(organization=world.acme)
    harness = LedgerHarness(
        {"acme": bytes.fromhex(key.public_key)},
        accounts=(
            GenesisAccount("acme:eur", "EUR", "acme", 500),
            GenesisAccount("val-a:eur", "EUR", "val-a", 900),
        ),
    )
    services.chain_pin(genesis=harness.genesis_json(), source="test")
    ledger_submit(
        organization=world.acme, tx_type="anchor", payload={"commitment": COMMITMENT},
        idempotency_key="api.anchor",
    )  # fmt: skip
    with nodes(harness, 1) as (node,):
        client = NodeClient([node.url], timeout=2)
        services.outbox_drain(client=client)
        harness.commit_pending()
        verifier = services.follower_verifier(client=client)
        Follower(client, verifier, services.mirror_block).run(until_height=harness.height)
    ledger_submit(
        organization=world.acme, tx_type="anchor", payload={"commitment": "01" * 32},
        idempotency_key="api.queued",
    )  # fmt: skip
    return harness
