"""Helpers shared by the validator-process tests: two-validator transports, polling, signed
anchors of a one-validator chain and running that validator in process."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.consensus.crypto import KeyGen, backend
from ledger.node.chain import ChainSpec
from ledger.node.config import NodeConfig
from ledger.node.transport import PeerAddress, Transport
from ledger.state import Anchor, sign_transaction

BLS = backend("blst")


def bls_key(i: int) -> int:
    return KeyGen(hashlib.sha256(b"node-test/%d" % i).digest())


def make_transport(
    index: int, port: int, peer_port: int, seen: list[Any], *, secret_key: int | None = None
) -> Transport:
    """Validator ``index`` (0 or 1) of a two-validator set, dialling its peer at ``peer_port``
    (``secret_key`` defaults to its own key; pass another to play an impostor)."""
    keys = {i: BLS.SkToPk(bls_key(i)) for i in range(2)}
    return Transport(
        chain_id=b"node-test",
        index=index,
        secret_key=bls_key(index) if secret_key is None else secret_key,
        crypto=BLS,
        peers=[PeerAddress(1 - index, "127.0.0.1", peer_port)],
        listen_host="127.0.0.1",
        listen_port=port,
        public_key_of=keys.get,
        on_frame=lambda peer, kind, body: seen.append((peer, kind, body)),
        max_backoff_s=0.2,
        handshake_timeout_s=2.0,
    )


async def until(check: Any, seconds: float = 5.0) -> bool:
    """Poll ``check`` on the running loop until it is true or ``seconds`` pass."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if check():
            return True
        await asyncio.sleep(0.02)
    return False


CHAIN = "node-test"


ORG_KEYS = [Ed25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32) for i in range(2)]


def anchor(
    nonce: int,
    *,
    key: int = 0,
    sender: str = "org-0",
    chain: str = CHAIN,
    commitment: bytes = b"",
) -> bytes:
    tx = sign_transaction(
        private_key=ORG_KEYS[key],
        chain_id=chain,
        sender=sender,
        nonce=nonce,
        payload=Anchor(commitment=hashlib.sha256(b"%d" % nonce + commitment).digest()),
    )
    return tx.encode()


async def run_node(config: NodeConfig, spec: ChainSpec, body: Any) -> Any:
    from ledger.node.api import ApiServer
    from ledger.node.node import Node

    node = Node(config=config, spec=spec, secret_key=bls_key(0), crypto=BLS)
    api = ApiServer(node, config.http_host, config.http_port)
    await node.start()
    await api.start()
    url = f"http://{config.http_host}:{config.http_port}"
    try:
        # Generous: the node shares this event loop with the test, and on a loaded machine one slow
        # step of a test (not of the node) can hold a connect past a tight limit.
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            return await body(client)
    finally:
        await api.stop()
        await node.stop()
