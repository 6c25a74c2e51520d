"""Helpers shared by the validator-process tests: two-validator transports and polling."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from ledger.consensus.crypto import KeyGen, backend
from ledger.node.transport import PeerAddress, Transport

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
