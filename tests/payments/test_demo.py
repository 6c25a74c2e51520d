"""The demo alliance pays out of the box: every devnet member owns a funded USD account, which
its organization adopts as an open account."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.models import MirrorAccount
from ledger.outbox import MirroredBlock
from payments import selectors, services
from payments.models import Account
from tests.conftest import World

devnet = pytest.importorskip("ledger.node.devnet")


def test_every_devnet_member_has_a_usd_account_of_100_000_dollars(tmp_path: Path) -> None:
    # when a devnet is prepared (keys and genesis only, no process started)
    prepared = devnet.prepare_devnet(tmp_path, validators=4, base_port=30_000, crypto="blst")
    # then each member has its EUR account and 10,000,000 cents on its USD account
    accounts = {
        (a.account_id, a.currency, a.owner): a.balance for a in prepared.spec.config.accounts
    }
    for i in range(4):
        member = devnet.org_id(i)
        assert accounts[(f"{member}:usd", "USD", member)] == 10_000_000
        assert (f"{member}:eur", "EUR", member) in accounts


def test_an_organization_adopts_the_ledger_accounts_it_owns_once(world: World) -> None:
    # given the mirrored genesis accounts of acme (by its ledger id) and of another member
    MirrorAccount.objects.create(
        account_id="acme:usd", currency="USD", owner="acme", balance=10_000_000, height=0
    )
    MirrorAccount.objects.create(
        account_id="acme:xau", currency="XAU", owner="acme", balance=1, height=0
    )
    MirrorAccount.objects.create(
        account_id="globex:usd", currency="USD", owner="globex", balance=1, height=0
    )
    # when acme adopts them twice
    first = services.accounts_adopt(organization=world.acme)
    second = services.accounts_adopt(organization=world.acme)
    # then acme has its USD account, open, once; not the unsupported currency, not globex's
    assert [a.ledger_account_id for a in first] == ["acme:usd"] and second == []
    assert list(
        Account.objects.values_list("organization__slug", "ledger_account_id", "status")
    ) == [("acme", "acme:usd", "open")]


def test_every_member_adopts_its_accounts_when_the_follower_mirrors_a_block(world: World) -> None:
    # given globex's genesis account and an account created at block 5, mirrored, and one of a
    # ledger id that no organization of the portal has
    MirrorAccount.objects.create(
        account_id="globex:usd", currency="USD", owner="globex", balance=1, height=0
    )
    MirrorAccount.objects.create(
        account_id="globex:eur", currency="EUR", owner="globex", balance=0, height=5
    )
    MirrorAccount.objects.create(
        account_id="stranger:usd", currency="USD", owner="stranger", balance=1, height=5
    )
    # when the follower tells payments of block 5 (no one listed globex's accounts)
    # (the handler reads only the mirror rows, not the state)
    services.accounts_adopt_mirrored(MirroredBlock(height=5, timestamp_ms=0, state=None))
    # then both of globex's accounts are open and in the directory, the stranger's is not
    assert sorted(
        Account.objects.values_list("organization__slug", "ledger_account_id", "status")
    ) == [("globex", "globex:eur", "open"), ("globex", "globex:usd", "open")]
    assert {e.id for e in selectors.directory_accounts()} == {"globex:eur", "globex:usd"}
