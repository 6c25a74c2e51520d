"""Live updates: a mirrored block reaches the websocket feeds of the organizations involved."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection

from ledger import services
from ledger.client import NodeClient
from ledger.follower import Follower
from ledger.models import LedgerOutbox
from ledger.outbox import ledger_submit
from portal.asgi import application
from tests.conftest import token_for
from tests.ledger.portal.support import LedgerHarness, nodes

pytestmark = pytest.mark.django_db(transaction=True)


async def feed(org: str, token: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application,
        f"/ws/orgs/{org}/events/?token={token}",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "feed.ready"
    return communicator


def commit_and_follow_an_acme_anchor(world) -> int:
    key = services.organization_key_ensure(organization=world.acme)
    chain = LedgerHarness({"acme": bytes.fromhex(key.public_key)})
    services.chain_pin(genesis=chain.genesis_json(), source="test")
    ledger_submit(
        organization=world.acme, tx_type="anchor", payload={"commitment": "77" * 32},
        idempotency_key="live.anchor",
    )  # fmt: skip
    with nodes(chain, 1) as (node,):
        client = NodeClient([node.url], timeout=2)
        services.outbox_drain(client=client)
        chain.commit_pending()
        Follower(client, services.follower_verifier(client=client), services.mirror_block).run(
            until_height=chain.height
        )
    height = LedgerOutbox.objects.get(idempotency_key="live.anchor").height or 0
    connection.close()  # this runs in an executor thread: leave no session behind
    return height


async def test_block_committed_reaches_acme_twice_and_mallory_only_on_the_alliance_feed(
    world,
) -> None:
    # given alice on acme's feed and mallory on globex's
    alice = await feed("acme", await sync_to_async(token_for)(world.alice, world.acme))
    mallory = await feed("globex", await sync_to_async(token_for)(world.mallory, world.globex))
    # when acme's anchor is committed and the follower mirrors the chain
    height = await sync_to_async(commit_and_follow_an_acme_anchor)(world)
    alice_events = []
    while not await alice.receive_nothing(timeout=0.3):
        alice_events.append(await alice.receive_json_from())
    mallory_events = []
    while not await mallory.receive_nothing(timeout=0.3):
        mallory_events.append(await mallory.receive_json_from())
    # then alice saw acme's block on the alliance and on acme's feed, and acme's ledger.tx;
    # mallory saw only the alliance-wide block events
    acme_blocks = [e["data"]["height"] for e in alice_events if e.get("organization") == "acme"]
    assert height in acme_blocks
    assert [e["data"]["status"] for e in alice_events if e["type"] == "ledger.tx"] == ["committed"]
    assert all(e["type"] == "block.committed" for e in mallory_events) and mallory_events
    assert all("organization" not in e for e in mallory_events)
    await alice.disconnect()
    await mallory.disconnect()
