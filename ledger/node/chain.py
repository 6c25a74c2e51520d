"""The chain description all validators of a network share (genesis.json, ``GET /v1/genesis``).

Shape (docs/ledger-network.md, "Node HTTP API")::

    {"chain_id": hex, "genesis_block": hex (Block.encode()),
     "validators": [{"index", "name", "organization", "public_key": hex, "pop": hex}],
     "state": GenesisConfig.to_dict()}

The consensus chain id is the UTF-8 of the state's chain id (a slug), so the two layers name the
same chain. Validator ``i`` is the ``i``-th organization of the state's validator set (sorted by
organization id: that order is the signer-bitmap order) and its ``ValidatorInfo.name`` is the
organization id, which is what later epochs (built from the state) use too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.consensus import Block, ValidatorInfo, ValidatorSet, decode, make_genesis
from ledger.consensus.crypto import Backend
from ledger.consensus.errors import ConsensusError, DecodeError
from ledger.state import GenesisConfig, LedgerStateError, State, genesis_state

__all__ = ["ChainSpec", "InvalidChainSpec", "build_chain_spec"]


class InvalidChainSpec(ValueError):
    """A genesis description that is malformed or inconsistent (block, validators, state)."""


@dataclass(frozen=True)
class ChainSpec:
    """The parsed, cross-checked genesis description."""

    chain_id: bytes
    genesis_block: Block
    validators: tuple[ValidatorInfo, ...]
    config: GenesisConfig

    def to_json(self) -> dict[str, Any]:
        """The JSON description served by ``GET /v1/genesis`` and stored as genesis.json."""
        return {
            "chain_id": self.chain_id.hex(),
            "genesis_block": self.genesis_block.encoded.hex(),
            "validators": [
                {
                    "index": v.index,
                    "name": v.name,
                    "organization": v.name,
                    "public_key": v.public_key.hex(),
                    "pop": v.proof_of_possession.hex(),
                }
                for v in self.validators
            ],
            "state": self.config.to_dict(),
        }

    @classmethod
    def from_json(cls, data: Any) -> ChainSpec:
        """Parse (not verify: see ``verify``) a description; ``InvalidChainSpec`` if malformed."""
        try:
            block = decode(bytes.fromhex(data["genesis_block"]))
            if not isinstance(block, Block):
                raise InvalidChainSpec("genesis_block is not a Block")
            validators = tuple(
                ValidatorInfo(
                    int(v["index"]),
                    bytes.fromhex(v["public_key"]),
                    bytes.fromhex(v["pop"]),
                    str(v["name"]),
                )
                for v in data["validators"]
            )
            return cls(
                chain_id=bytes.fromhex(data["chain_id"]),
                genesis_block=block,
                validators=validators,
                config=GenesisConfig.from_dict(data["state"]),
            )
        except (KeyError, TypeError, ValueError, DecodeError, LedgerStateError) as exc:
            if isinstance(exc, InvalidChainSpec):
                raise
            raise InvalidChainSpec(f"malformed genesis description: {exc!r}") from exc

    @classmethod
    def load(cls, path: Path) -> ChainSpec:
        return cls.from_json(json.loads(path.read_text()))

    def verify(self, crypto: Backend) -> tuple[ValidatorSet, State]:
        """Rebuild the validator set and the genesis state and check the genesis block names
        them; returns both. Costs one KeyValidate + PopVerify per validator."""
        try:
            vset = ValidatorSet(self.validators, crypto=crypto, epoch=0)
            state = genesis_state(self.config, pop_verify=crypto.PopVerify)
        except (ConsensusError, LedgerStateError) as exc:
            raise InvalidChainSpec(str(exc)) from exc
        if self.config.chain_id.encode() != self.chain_id:
            raise InvalidChainSpec("consensus chain id is not the state chain id")
        by_org = sorted(self.config.validators, key=lambda v: v.org_id)
        if [(v.org_id, v.bls_public_key) for v in by_org] != [
            (v.name, v.public_key) for v in self.validators
        ]:
            raise InvalidChainSpec("validators are not the state's validator set in org order")
        expected = make_genesis(self.chain_id, vset, state_root=state.root)
        if expected.hash != self.genesis_block.hash:
            raise InvalidChainSpec("genesis block does not match the validators and the state")
        return vset, state


def build_chain_spec(config: GenesisConfig, crypto: Backend) -> ChainSpec:
    """The description of a new chain from its genesis configuration."""
    state = genesis_state(config, pop_verify=crypto.PopVerify)
    by_org = sorted(config.validators, key=lambda v: v.org_id)
    infos = tuple(
        ValidatorInfo(i, v.bls_public_key, v.proof_of_possession, v.org_id)
        for i, v in enumerate(by_org)
    )
    vset = ValidatorSet(infos, crypto=crypto, epoch=0)
    chain_id = config.chain_id.encode()
    block = make_genesis(chain_id, vset, state_root=state.root)
    return ChainSpec(chain_id, block, infos, config)
