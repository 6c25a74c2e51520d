"""A local network of N validators: keys, genesis and configs (once), and the processes.

Layout under DIR (the contract's "Devnet layout")::

    DIR/genesis.json                         public chain description (ChainSpec JSON)
    DIR/validator-<i>/config.json            NodeConfig JSON
    DIR/validator-<i>/bls.key                BLS secret key, hex, mode 0600
    DIR/validator-<i>/node.sqlite3           the validator's storage
    DIR/orgs/<org>.ed25519                   the org's Ed25519 private key (raw 32 bytes as hex),
                                             mode 0600, devnet only (governance approvals)

Validator i runs organization ``member-<i:02d>``, listens for peers on P + 2i and serves HTTP on
P + 2i + 1. Each member org also gets two funded accounts at genesis: ``<org>:eur`` (EUR) and
``<org>:usd`` (100,000.00 USD).
``prepare_devnet`` is idempotent: existing keys and genesis are reused, configs are rewritten.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.consensus.crypto import KeyGen, backend
from ledger.state import GenesisAccount, GenesisConfig, GenesisValidator

from .chain import ChainSpec, build_chain_spec

__all__ = [
    "DEVNET_CHAIN_ID",
    "Devnet",
    "LocalCluster",
    "anchor_tx",
    "free_base_port",
    "org_id",
    "prepare_devnet",
    "read_org_key",
    "start_validators",
    "stop_validators",
]

DEVNET_CHAIN_ID = "alliance-devnet"
GENESIS_BALANCE = 10**12
#: Each member's USD account at genesis: 100,000.00 USD in cents.
GENESIS_USD_BALANCE = 10_000_000
MANAGE_PY = Path(__file__).resolve().parents[2] / "manage.py"
#: py_ecc spends ~0.4 s of CPU per signature check and ~0.1 s per signature: a round takes
#: seconds on a shared machine, so the round timeout must be well above that or nothing commits.
DEFAULT_PARAMS: dict[str, dict[str, int]] = {
    "py_ecc": {"base_timeout_ms": 8_000, "max_timeout_ms": 60_000, "max_clock_drift_ms": 30_000}
}


def org_id(index: int) -> str:
    return f"member-{index:02d}"


@dataclass(frozen=True)
class Devnet:
    """What ``prepare_devnet`` produced."""

    directory: Path
    spec: ChainSpec
    configs: tuple[Path, ...]
    api_urls: tuple[str, ...]


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    os.chmod(path, 0o600)


def _secret(path: Path, make: Any) -> str:
    if path.exists():
        return path.read_text().strip()
    value = str(make())
    _write_secret(path, value)
    return value


def read_org_key(path: Path) -> Ed25519PrivateKey:
    """Load an organization key written by ``prepare_devnet``."""
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(path.read_text().strip()))


def prepare_devnet(
    directory: Path,
    *,
    validators: int,
    base_port: int,
    crypto: str = "blst",
    host: str = "127.0.0.1",
    params: dict[str, Any] | None = None,
    extra: dict[int, dict[str, Any]] | None = None,
) -> Devnet:
    """Create (or reuse) keys and genesis, and write every validator's config."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    bls = backend(crypto)
    genesis_path = directory / "genesis.json"
    secret_keys = []
    for i in range(validators):
        text = _secret(
            directory / f"validator-{i}" / "bls.key",
            lambda: KeyGen(secrets.token_bytes(32)).to_bytes(32, "big").hex(),
        )
        secret_keys.append(int(text, 16))
        _secret(
            directory / "orgs" / f"{org_id(i)}.ed25519",
            lambda: Ed25519PrivateKey.generate().private_bytes_raw().hex(),
        )
    if genesis_path.exists():
        spec = ChainSpec.load(genesis_path)
        if len(spec.validators) != validators:
            raise ValueError(
                f"{genesis_path} has {len(spec.validators)} validators, not {validators}"
            )
    else:
        members = []
        for i, sk in enumerate(secret_keys):
            org_key = read_org_key(directory / "orgs" / f"{org_id(i)}.ed25519")
            members.append(
                GenesisValidator(
                    org_id(i),
                    org_key.public_key().public_bytes_raw(),
                    bls.SkToPk(sk),
                    bls.PopProve(sk),
                )
            )
        config = GenesisConfig(
            chain_id=DEVNET_CHAIN_ID,
            validators=tuple(members),
            accounts=tuple(
                account
                for i in range(validators)
                for account in (
                    GenesisAccount(f"{org_id(i)}:eur", "EUR", org_id(i), GENESIS_BALANCE),
                    GenesisAccount(f"{org_id(i)}:usd", "USD", org_id(i), GENESIS_USD_BALANCE),
                )
            ),
        )
        spec = build_chain_spec(config, bls)
        genesis_path.write_text(json.dumps(spec.to_json(), indent=1) + "\n")
    configs, urls = [], []
    for i in range(validators):
        folder = directory / f"validator-{i}"
        config_data: dict[str, Any] = {
            "chain_id": spec.config.chain_id,
            "index": i,
            "name": org_id(i),
            "bls_key_file": "bls.key",
            "genesis_file": "../genesis.json",
            "data_dir": ".",
            "listen": {"host": host, "port": base_port + 2 * i},
            "http": {"host": host, "port": base_port + 2 * i + 1},
            "peers": [
                {"index": j, "host": host, "port": base_port + 2 * j}
                for j in range(validators)
                if j != i
            ],
            "crypto": crypto,
            "params": params if params is not None else DEFAULT_PARAMS.get(crypto, {}),
        }
        config_data.update((extra or {}).get(i, {}))
        path = folder / "config.json"
        path.write_text(json.dumps(config_data, indent=1) + "\n")
        configs.append(path)
        urls.append(f"http://{host}:{base_port + 2 * i + 1}")
    return Devnet(directory, spec, tuple(configs), tuple(urls))


def start_validators(
    configs: tuple[Path, ...] | list[Path],
    *,
    env: dict[str, str] | None = None,
    without_django: bool = False,
) -> list[subprocess.Popen[bytes]]:
    """One ``manage.py run_validator`` process per config (or ``python -m ledger.node``, which
    starts in a fifth of the time); output goes to validator.log next to the config."""
    processes = []
    for path in configs:
        log = open(path.parent / "validator.log", "ab")  # noqa: SIM115 - owned by the child
        if without_django:
            command = [sys.executable, "-m", "ledger.node", "--config", str(path)]
        else:
            command = [sys.executable, str(MANAGE_PY), "run_validator", "--config", str(path)]
        processes.append(
            subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command,
                cwd=MANAGE_PY.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
        )
        log.close()
    return processes


def stop_validators(processes: list[subprocess.Popen[bytes]], *, timeout: float = 10.0) -> None:
    """SIGTERM each, wait, then SIGKILL stragglers."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def anchor_tx(key: Ed25519PrivateKey, sender: str, nonce: int, commitment: bytes) -> bytes:
    """An encoded, signed ``anchor`` transaction (load generators and tests)."""
    from ledger.state import Anchor, sign_transaction

    tx = sign_transaction(
        private_key=key,
        chain_id=DEVNET_CHAIN_ID,
        sender=sender,
        nonce=nonce,
        payload=Anchor(commitment=commitment),
    )
    return tx.encode()


def free_base_port(count: int, *, host: str = "127.0.0.1") -> int:
    """A base port P such that P .. P + count - 1 are free right now (tests, benches)."""
    import random
    import socket

    for _ in range(200):
        base = random.randrange(20_000, 60_000 - count)  # noqa: S311 - not a secret
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port range found")


class LocalCluster:
    """Validator processes of a prepared devnet that tests and benches start, kill and query."""

    def __init__(self, devnet: Devnet, *, env: dict[str, str] | None = None) -> None:
        import httpx

        self.devnet = devnet
        self.env = env or {}
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        import socket

        # TCP_NODELAY: otherwise each POST waits for the server's delayed ACK (~40 ms).
        nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        self.http = httpx.Client(timeout=2.0, transport=httpx.HTTPTransport(socket_options=nodelay))

    @property
    def n(self) -> int:
        return len(self.devnet.configs)

    def start(self, index: int) -> None:
        (self.processes[index],) = start_validators(
            [self.devnet.configs[index]], env=self.env, without_django=True
        )

    def start_all(self) -> None:
        for i in range(self.n):
            self.start(i)

    def kill(self, index: int) -> None:
        """SIGKILL (``kill -9``): no chance to flush or say goodbye."""
        process = self.processes.pop(index)
        process.kill()
        process.wait()

    def close(self) -> None:
        stop_validators(list(self.processes.values()))
        self.processes.clear()
        self.http.close()

    def alive(self) -> list[int]:
        # list(...) copies in one step: a load thread may call this while a test kills/starts.
        return sorted(i for i, p in list(self.processes.items()) if p.poll() is None)

    def status(self, index: int) -> dict[str, Any] | None:
        import httpx

        try:
            response = self.http.get(f"{self.devnet.api_urls[index]}/v1/status")
            return dict(response.json()) if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    def submit(self, index: int, tx: bytes) -> int | None:
        """POST /v1/txs; the status code, or None when the node is unreachable."""
        import httpx

        try:
            return self.http.post(
                f"{self.devnet.api_urls[index]}/v1/txs", json={"tx": tx.hex()}
            ).status_code
        except httpx.HTTPError:
            return None

    def get(self, index: int, path: str) -> Any:
        import httpx

        try:
            response = self.http.get(f"{self.devnet.api_urls[index]}{path}")
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def post(self, index: int, path: str, body: Any) -> Any:
        return self.http.post(f"{self.devnet.api_urls[index]}{path}", json=body).json()
