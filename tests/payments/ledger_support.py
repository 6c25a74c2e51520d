"""Helpers of the payments tests that run a real in-process ledger (no tests here): the worker
and the follower driven one pass at a time, and balances as the follower mirrored them."""

from __future__ import annotations

from ledger import services as ledger_services
from ledger.client import NodeClient
from ledger.follower import Follower
from ledger.models import LedgerOutbox, MirrorAccount
from tests.ledger.portal.support import LedgerHarness

FUNDS = 10_000_000  # 100,000.00 USD


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


def balance(account_id: str) -> int:
    return MirrorAccount.objects.get(account_id=account_id).balance


def held(account_id: str) -> int:
    return MirrorAccount.objects.get(account_id=account_id).held
