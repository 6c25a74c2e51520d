"""The follower and ledger_verify across a validator-set change (a new epoch), on real blocks."""

from __future__ import annotations

from django.core.management import call_command

from ledger import services
from ledger.client import NodeClient
from ledger.follower import Follower
from ledger.models import MirrorBlock
from ledger.state import ValidatorAdd, sign_approval, sign_transaction, with_approvals
from tests.ledger.consensus.support import secret_key
from tests.ledger.portal.support import (
    CHAIN,
    VALIDATOR_ORGS,
    LedgerHarness,
    nodes,
    org_key,
    raw_public_key,
    secret_key_pk,
)


def test_the_follower_follows_a_validator_added_by_governance_into_the_next_epoch(
    world, capsys
) -> None:
    # given four validators and val-e, a registered organization running a fifth replica
    chain = LedgerHarness({"val-e": raw_public_key(org_key("val-e"))}, joining=1)
    services.chain_pin(genesis=chain.genesis_json(), source="test")
    add = ValidatorAdd(
        "val-e", secret_key_pk(4, chain.crypto), chain.crypto.PopProve(secret_key(4))
    )
    approvals = [
        sign_approval(
            private_key=org_key(org), org_id=org, chain_id=CHAIN, sender="val-a", nonce=1,
            payload=add,
        )
        for org in VALIDATOR_ORGS[:3]
    ]  # fmt: skip
    tx = sign_transaction(
        private_key=org_key("val-a"), chain_id=CHAIN, sender="val-a", nonce=1,
        payload=with_approvals(add, approvals),
    )  # fmt: skip
    chain.submit(tx.encoding)
    # when governance adds it and consensus runs three blocks into epoch 1
    chain.driver.run(
        lambda d: sum(c.block.epoch == 1 for c in d.replicas[0].committed_with_certs) >= 3
    )
    with nodes(chain, 1) as (node,):
        client = NodeClient([node.url], timeout=2)
        follower = Follower(
            client, services.follower_verifier(client=client), services.mirror_block
        )
        follower.run(until_height=chain.height)
    # then every block is mirrored, those of epoch 1 verified against the five-validator set
    epochs = list(MirrorBlock.objects.order_by("height").values_list("epoch", flat=True))
    assert epochs[0] == 0 and epochs[-3:] == [1, 1, 1] and len(epochs) == chain.height
    assert follower.verifier.validator_set.n == 5 and follower.verifier.validator_set.epoch == 1
    assert [v.name for v in follower.verifier.validator_set.validators][-1] == "val-e"
    # and the mirror re-verifies from genesis across the epoch change
    call_command("ledger_verify")
    assert "ledger_verify: OK" in capsys.readouterr().out
