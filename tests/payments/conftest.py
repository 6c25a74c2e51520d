"""Fixtures of the payments tests: open accounts without a ledger, API clients, and a real
in-process ledger with the worker and the follower (``chain``, ``pipeline``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from payments.models import Account
from tests.conftest import World, api_as
from tests.ledger.portal.support import LedgerHarness
from tests.payments.factories import open_account
from tests.payments.ledger_support import Pipeline, funded_chain, pipeline_on


@pytest.fixture
def accounts(world: World) -> dict[str, Account]:
    """acme: EUR main and savings, USD main; globex: EUR main; initech: EUR main."""
    return {
        "acme": open_account(world.acme, "main"),
        "acme_savings": open_account(world.acme, "savings"),
        "acme_usd": open_account(world.acme, "dollars", currency="USD"),
        "globex": open_account(world.globex, "main"),
        "initech": open_account(world.initech, "main"),
    }


@pytest.fixture
def alice(world: World) -> APIClient:
    return api_as(world.alice, world.acme)


@pytest.fixture
def bob(world: World) -> APIClient:
    return api_as(world.bob, world.acme)


@pytest.fixture
def mallory(world: World) -> APIClient:
    return api_as(world.mallory, world.globex)


@pytest.fixture
def chain(world: World) -> LedgerHarness:
    """acme and globex registered on a ledger whose genesis funds acme:usd; the chain pinned."""
    return funded_chain(world)


@pytest.fixture
def pipeline(chain: LedgerHarness) -> Iterator[Pipeline]:
    with pipeline_on(chain) as pipeline:
        yield pipeline
