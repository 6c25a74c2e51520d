"""The ledger explorer's pages: the validators table and a block's page."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from ledger import services
from ledger.models import MirrorBlock


@pytest.fixture
def bob(world) -> Client:
    client = Client()
    client.force_login(world.bob)
    return client


def _cells(content: bytes) -> list[str]:
    row = re.search(rb"<tbody>\s*<tr>(.*?)</tr>", content, re.S).group(1).decode()
    return [
        re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)
    ]


def test_the_validators_table_shows_zero_values(bob, monkeypatch) -> None:
    status = {"url": "http://127.0.0.1:7101", "name": "val-a", "validator": 0, "epoch": 0,
              "round": 0, "height": 0, "peers": [], "mempool": 0}  # fmt: skip
    monkeypatch.setattr(services, "validator_health", lambda: [status])
    response = bob.get("/o/acme/ledger/validators/")
    assert response.status_code == 200
    cells = _cells(response.content)
    assert cells[1] == "val-a (#0)"
    assert cells[3:6] == ["0", "0", "0"]  # epoch, round, height
    assert cells[7] == "0"  # mempool


def test_an_unreachable_node_leaves_its_figures_blank(bob, monkeypatch) -> None:
    status = {"url": "http://127.0.0.1:7101", "error": "connection refused"}
    monkeypatch.setattr(services, "validator_health", lambda: [status])
    cells = _cells(bob.get("/o/acme/ledger/validators/").content)
    assert cells[3:6] == ["", "", ""]
    assert cells[7] == ""


def _block(height: int, tx_count: int) -> MirrorBlock:
    return MirrorBlock.objects.create(
        height=height, hash=f"{height:064x}", parent_hash="00" * 32, epoch=0, round=height,
        proposer=0, timestamp_ms=1_700_000_000_000, state_root="11" * 32,
        payload_root="22" * 32, tx_count=tx_count, block=b"", certificate=b"",
    )  # fmt: skip


def test_an_empty_block_says_so_in_words(world, bob) -> None:
    _block(1, 0)
    response = bob.get("/o/acme/ledger/blocks/1/")
    assert response.status_code == 200
    assert b"<h2>0 transactions</h2>" in response.content
    assert b"This block carries no transactions." in response.content
    assert b"blk." not in response.content


def test_a_block_heading_counts_one_transaction_in_the_singular(world, bob) -> None:
    _block(2, 1)
    assert b"<h2>1 transaction</h2>" in bob.get("/o/acme/ledger/blocks/2/").content
