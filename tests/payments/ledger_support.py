"""Helpers of the payments tests that run on a real in-process ledger (no tests here)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ledger import services as ledger_services
from ledger.client import NodeClient
from ledger.follower import Follower
from ledger.models import LedgerOutbox
from ledger.state import GenesisAccount
from tests.conftest import World
from tests.ledger.portal.support import LedgerHarness, nodes

FUNDS = 10_000_000  # 100,000.00 USD


def funded_chain(world: World) -> LedgerHarness:
    """acme and globex registered on a ledger whose genesis funds acme:usd; the chain pinned."""
    acme = ledger_services.organization_key_ensure(organization=world.acme)
    globex = ledger_services.organization_key_ensure(organization=world.globex)
    harness = LedgerHarness(
        {"acme": bytes.fromhex(acme.public_key), "globex": bytes.fromhex(globex.public_key)},
        accounts=(
            GenesisAccount("acme:usd", "USD", "acme", FUNDS),
            GenesisAccount("globex:usd", "USD", "globex", 0),
        ),
    )
    ledger_services.chain_pin(genesis=harness.genesis_json(), source="test")
    return harness


class Pipeline:
    """The worker and the follower, one pass at a time, against one node of ``chain``."""

    def __init__(self, chain: LedgerHarness, client: NodeClient) -> None:
        self.chain, self.client = chain, client

    def run(self) -> None:
        """Sign and submit what is queued, let consensus commit it, mirror the new blocks."""
        ledger_services.outbox_drain(client=self.client)
        self.chain.commit_pending()
        LedgerOutbox.objects.update(next_attempt_at=None)
        follower = Follower(
            self.client,
            ledger_services.follower_verifier(client=self.client),
            ledger_services.mirror_block,
            sleep=lambda s: None,
        )
        follower.run(until_height=self.chain.height)


@contextmanager
def pipeline_on(chain: LedgerHarness) -> Iterator[Pipeline]:
    """A pipeline against the first node of ``chain``, served over HTTP while in use."""
    with nodes(chain, 1) as (node,):
        client = NodeClient([node.url], timeout=5)
        try:
            yield Pipeline(chain, client)
        finally:
            client.close()
