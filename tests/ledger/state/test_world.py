"""The shared ledger world's own checks (the world is in ``state_world.py``)."""

from __future__ import annotations

from tests.ledger.state.world import VALIDATOR_ORGS, World


def test_the_world_starts_with_four_validators_and_funded_accounts() -> None:
    # given / when
    world = World()

    # then
    assert [v.org_id for v in world.state.validator_set] == list(VALIDATOR_ORGS)
    assert world.state.height == 0 and world.state.epoch == 0
    assert world.balances() == {"a-eur": 100_000, "a-usd": 5_000, "b-eur": 0, "m-eur": 1_000}
    assert world.state.supply("EUR") == 101_000
    assert world.state.next_nonce("org-m") == 1
