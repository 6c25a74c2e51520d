"""Fixtures shared by the validator-process tests: a one-validator chain and its config."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.node.chain import ChainSpec, build_chain_spec
from ledger.node.config import NodeConfig
from ledger.state import GenesisConfig, GenesisValidator
from tests.ledger.node.support import BLS, CHAIN, ORG_KEYS, bls_key


@pytest.fixture(scope="module")
def spec() -> ChainSpec:
    validators = tuple(
        GenesisValidator(
            f"org-{i}",
            ORG_KEYS[i].public_key().public_bytes_raw(),
            BLS.SkToPk(bls_key(i)),
            BLS.PopProve(bls_key(i)),
        )
        for i in range(2)
    )
    return build_chain_spec(GenesisConfig(CHAIN, validators[:1]), BLS)


@pytest.fixture
def single(tmp_path: Path, spec: ChainSpec) -> Iterator[NodeConfig]:
    from ledger.node.devnet import free_base_port

    key = tmp_path / "bls.key"
    key.write_text(bls_key(0).to_bytes(32, "big").hex())
    key.chmod(0o600)
    (tmp_path / "genesis.json").write_text(json.dumps(spec.to_json()))
    base = free_base_port(2)
    data = {
        "chain_id": CHAIN, "index": 0, "bls_key_file": "bls.key", "genesis_file": "genesis.json",
        "listen": {"host": "127.0.0.1", "port": base},
        "http": {"host": "127.0.0.1", "port": base + 1}, "crypto": "blst",
        "idle_block_delay_ms": 50, "snapshot_every": 3,
    }  # fmt: skip
    yield NodeConfig.from_json(data, tmp_path)
