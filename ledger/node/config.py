"""A validator's configuration file (JSON) and its BLS secret key.

Example (what ``manage.py ledger_devnet`` writes to ``DIR/validator-<i>/config.json``)::

    {"chain_id": "alliance-devnet", "index": 0, "name": "member-00",
     "bls_key_file": "bls.key",            # or "bls_key_env": "LEDGER_BLS_KEY" (hex in env)
     "genesis_file": "../genesis.json", "data_dir": ".",
     "listen": {"host": "127.0.0.1", "port": 7100}, "http": {"host": "127.0.0.1", "port": 7101},
     "peers": [{"index": 1, "host": "127.0.0.1", "port": 7102}, ...],
     "crypto": "blst", "params": {"base_timeout_ms": 1000, ...},
     "mempool": {"max_txs": 50000, "nonce_window": 1024}, "snapshot_every": 100,
     "idle_block_delay_ms": 300,          # empty blocks on an idle chain wait this long
     "full_gc_every_s": 600,              # a full garbage collection this often (node.py)
     "test_faults": false, "byzantine": null}

Relative paths are relative to the config file. The key file holds the secret key as hex
(32 bytes, big-endian) and must not be readable by others (mode 0600). ``test_faults`` enables the
fault-injection endpoint and ``byzantine`` a misbehaviour ("equivocate" or "bad_signature",
names shared with the simulator, ``ledger.simulation.ByzantineBehaviour``):
both exist for the fault tests only and are refused unless ``LEDGER_NODE_TEST_MODE=1``.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.consensus import ProtocolParams
from ledger.simulation.byzantine import ByzantineBehaviour, parse_behaviour

from .transport import PeerAddress

__all__ = ["BYZANTINE_BEHAVIOURS", "ConfigError", "NodeConfig", "load_secret_key"]

#: The behaviours a validator process can play (the simulator knows more of them).
BYZANTINE_BEHAVIOURS = (ByzantineBehaviour.EQUIVOCATE, ByzantineBehaviour.BAD_SIGNATURE)
TEST_MODE_ENV = "LEDGER_NODE_TEST_MODE"


class ConfigError(ValueError):
    """A missing, mistyped or unsafe configuration value."""


@dataclass(frozen=True)
class NodeConfig:
    chain_id: str
    index: int
    name: str
    genesis_file: Path
    data_dir: Path
    listen_host: str
    listen_port: int
    http_host: str
    http_port: int
    peers: tuple[PeerAddress, ...]
    bls_key_file: Path | None = None
    bls_key_env: str | None = None
    crypto: str | None = None
    params: ProtocolParams = field(default_factory=ProtocolParams)
    mempool_max_txs: int = 50_000
    nonce_window: int = 1024
    snapshot_every: int = 100
    idle_block_delay_ms: int = 300
    full_gc_every_s: float = 600.0
    test_faults: bool = False
    byzantine: ByzantineBehaviour | None = None

    @classmethod
    def from_json(cls, data: Any, base: Path) -> NodeConfig:
        try:

            def path(value: object) -> Path:
                p = Path(str(value))
                return p if p.is_absolute() else (base / p).resolve()

            mempool = data.get("mempool", {})
            config = cls(
                chain_id=str(data["chain_id"]),
                index=int(data["index"]),
                name=str(data.get("name", f"validator-{data['index']}")),
                genesis_file=path(data["genesis_file"]),
                data_dir=path(data.get("data_dir", ".")),
                listen_host=str(data["listen"]["host"]),
                listen_port=int(data["listen"]["port"]),
                http_host=str(data["http"]["host"]),
                http_port=int(data["http"]["port"]),
                peers=tuple(
                    PeerAddress(int(p["index"]), str(p["host"]), int(p["port"]))
                    for p in data.get("peers", ())
                ),
                bls_key_file=path(data["bls_key_file"]) if data.get("bls_key_file") else None,
                bls_key_env=str(data["bls_key_env"]) if data.get("bls_key_env") else None,
                crypto=str(data["crypto"]) if data.get("crypto") else None,
                params=ProtocolParams(**data.get("params", {})),
                mempool_max_txs=int(mempool.get("max_txs", 50_000)),
                nonce_window=int(mempool.get("nonce_window", 1024)),
                snapshot_every=int(data.get("snapshot_every", 100)),
                idle_block_delay_ms=int(data.get("idle_block_delay_ms", 300)),
                full_gc_every_s=float(data.get("full_gc_every_s", 600.0)),
                test_faults=bool(data.get("test_faults", False)),
                byzantine=_parse_byzantine(data.get("byzantine")),
            )
        except ConfigError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"bad validator configuration: {exc!r}") from exc
        if (config.bls_key_file is None) == (config.bls_key_env is None):
            raise ConfigError("set exactly one of bls_key_file and bls_key_env")
        if (config.test_faults or config.byzantine) and os.environ.get(TEST_MODE_ENV) != "1":
            raise ConfigError(f"test_faults and byzantine need {TEST_MODE_ENV}=1 (tests only)")
        if config.snapshot_every <= 0:
            raise ConfigError("snapshot_every must be positive")
        if config.full_gc_every_s <= 0:
            raise ConfigError("full_gc_every_s must be positive")
        return config

    @classmethod
    def load(cls, path: Path) -> NodeConfig:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        return cls.from_json(data, path.resolve().parent)


def _parse_byzantine(value: object) -> ByzantineBehaviour | None:
    """The configured behaviour, or None; an unknown name is a ConfigError naming the choices."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"byzantine must be a string, not {value!r}")
    try:
        return parse_behaviour(value, BYZANTINE_BEHAVIOURS)
    except ValueError as exc:
        raise ConfigError(f"byzantine: {exc}") from None


def load_secret_key(config: NodeConfig) -> int:
    """The BLS secret key from the key file (mode 0600 required) or the environment."""
    if config.bls_key_file is not None:
        try:
            mode = config.bls_key_file.stat().st_mode
            text = config.bls_key_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the BLS key file: {exc}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{config.bls_key_file} is readable by others: chmod 600 it")
    else:
        text = os.environ.get(str(config.bls_key_env), "").strip()
        if not text:
            raise ConfigError(f"environment variable {config.bls_key_env} is empty")
    try:
        key = int.from_bytes(bytes.fromhex(text), "big")
    except ValueError as exc:
        raise ConfigError("the BLS key is not hex") from exc
    if key <= 0:
        raise ConfigError("the BLS key is zero")
    return key
