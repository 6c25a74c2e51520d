"""Authenticated TCP links between validators (asyncio), framed as described in ``wire.py``.

- The validator with the lower index dials; the other accepts. A link that drops is re-dialled
  with exponential back-off (0.1 s doubling to ``max_backoff``, with jitter).
- Handshake: both sides send HELLO (chain id, index, fresh nonce, fresh X25519 key), then AUTH (a
  BLS signature over the other side's nonce and both keys); a side that claims an unknown index,
  another chain, or whose signature does not verify against the validator set is disconnected
  and logged. Until AUTH verifies no other frame is accepted; after it, every frame is sealed
  with the link's session keys (``channel.py``: ChaCha20-Poly1305, one counter per direction), so
  nothing on the path can read, inject, alter, replay or reorder a frame without the link
  closing.
- Each peer has a bounded send queue: when full the oldest frame is dropped (and logged), so a slow
  or dead peer never holds memory or blocks consensus.
- Garbage (bad length, unknown kind, undecodable body) disconnects the peer; nothing a peer sends
  can raise out of the reader.
- Test-only fault injection: ``partition(peers, duration_s)`` drops every frame to and from those
  peers until the deadline (the links stay up, as in a lossy network).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ledger.consensus.crypto import Backend

from .channel import TAG_SIZE, Session, derive_session
from .wire import (
    AUTH,
    HELLO,
    NONCE_SIZE,
    Hello,
    ProtocolError,
    compute_handshake_root,
    decode_hello,
    encode_frame,
    encode_hello,
    parse_frame_length,
)

__all__ = ["PeerAddress", "Transport"]

logger = logging.getLogger(__name__)

OnFrame = Callable[[int, int, bytes], None]
#: The BLS public key of a validator index; keys must already be validated (``KeyValidate``),
#: as a ``ValidatorSet``'s are: the handshake checks signatures with the validated-key path.
PublicKeyOf = Callable[[int], "bytes | None"]


@dataclass(frozen=True)
class PeerAddress:
    index: int
    host: str
    port: int


@dataclass
class _Peer:
    address: PeerAddress
    queue: deque[tuple[int, bytes]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    writer: asyncio.StreamWriter | None = None
    session: Session | None = None
    last_seen_ms: int | None = None
    dropped: int = 0


class Transport:
    """Links to every peer of the validator set; see the module docstring."""

    def __init__(
        self,
        *,
        chain_id: bytes,
        index: int,
        secret_key: int,
        crypto: Backend,
        peers: list[PeerAddress],
        listen_host: str,
        listen_port: int,
        public_key_of: PublicKeyOf,
        on_frame: OnFrame,
        max_frame: int = 32 * 1024 * 1024,
        queue_size: int = 1024,
        max_backoff_s: float = 1.0,
        handshake_timeout_s: float = 10.0,
    ) -> None:
        self._chain_id = chain_id
        self._index = index
        self._sk = secret_key
        self._crypto = crypto
        self._peers = {p.index: _Peer(p) for p in peers if p.index != index}
        self._listen = (listen_host, listen_port)
        self._public_key_of = public_key_of
        self._on_frame = on_frame
        self._max_frame = max_frame
        self._queue_size = queue_size
        self._max_backoff = max_backoff_s
        self._handshake_timeout = handshake_timeout_s
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._drop_until: dict[int, float] = {}
        self._closing = False
        #: Called with the peer index after each successful handshake.
        self.on_connected: Callable[[int], None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, *self._listen)
        for peer in self._peers.values():
            self._spawn(self._writer_loop(peer))
            if self._index < peer.address.index:
                self._spawn(self._dial_loop(peer))

    async def stop(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
        for peer in self._peers.values():
            if peer.writer is not None:
                peer.writer.close()
            peer.wake.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sending -----------------------------------------------------------------------------

    def send(self, to: int, kind: int, body: bytes) -> None:
        """Queue one frame for a peer (dropped silently for an unknown index)."""
        peer = self._peers.get(to)
        if peer is None or self._is_dropped(to):
            return
        if len(body) + 1 > self._max_frame:
            logger.warning("frame of %d bytes to %d exceeds the maximum; dropped", len(body), to)
            return
        if len(peer.queue) >= self._queue_size:
            peer.queue.popleft()
            peer.dropped += 1
            if peer.dropped % 100 == 1:
                logger.warning("send queue to validator %d full: dropped %d", to, peer.dropped)
        peer.queue.append((kind, body))
        peer.wake.set()

    def broadcast(self, kind: int, body: bytes) -> None:
        for index in self._peers:
            self.send(index, kind, body)

    async def _writer_loop(self, peer: _Peer) -> None:
        while not self._closing:
            await peer.wake.wait()
            peer.wake.clear()
            writer, session = peer.writer, peer.session
            if writer is None or session is None:
                continue
            try:
                while peer.queue and peer.writer is writer:
                    writer.write(session.seal(*peer.queue.popleft()))
                    if writer.transport.get_write_buffer_size() > 1 << 20:
                        await writer.drain()
                await writer.drain()
            except (ConnectionError, OSError, RuntimeError, ProtocolError):
                self._disconnect(peer, writer, "write failed")

    # -- connecting --------------------------------------------------------------------------

    async def _dial_loop(self, peer: _Peer) -> None:
        backoff = 0.1
        while not self._closing:
            if peer.writer is None:
                try:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(peer.address.host, peer.address.port), 5.0
                    )
                except (TimeoutError, OSError):
                    await asyncio.sleep(backoff * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                if await self._run_link(reader, writer, expected=peer.address.index):
                    backoff = 0.1
                else:
                    await asyncio.sleep(backoff * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
                    backoff = min(backoff * 2, self._max_backoff)
            else:
                await asyncio.sleep(0.2)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._run_link(reader, writer, expected=None)

    async def _run_link(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        expected: int | None,
    ) -> bool:
        """Handshake, then read frames until the link dies; True if the handshake succeeded."""
        try:
            index, session = await asyncio.wait_for(
                self._handshake(reader, writer, expected), self._handshake_timeout
            )
        except (TimeoutError, ProtocolError, asyncio.IncompleteReadError, OSError) as exc:
            logger.warning("handshake with %s failed: %s", _peername(writer), exc or type(exc))
            writer.close()
            return False
        peer = self._peers[index]
        if peer.writer is not None:
            peer.writer.close()  # the newest authenticated link wins
        peer.writer, peer.session = writer, session
        peer.last_seen_ms = _now_ms()
        peer.wake.set()
        logger.info("validator %d connected", index)
        if self.on_connected is not None:
            self.on_connected(index)
        try:
            await self._read_frames(reader, peer, session)
        except ProtocolError as exc:
            logger.warning("validator %d sent garbage (%s): disconnected", index, exc)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        self._disconnect(peer, writer, "link closed")
        return True

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, expected: int | None
    ) -> tuple[int, Session]:
        ephemeral = X25519PrivateKey.generate()
        own = Hello(
            self._chain_id,
            self._index,
            secrets.token_bytes(NONCE_SIZE),
            ephemeral.public_key().public_bytes_raw(),
        )
        writer.write(encode_frame(HELLO, encode_hello(own)))
        await writer.drain()
        kind, body = await self._read_frame(reader, limit=1024)
        if kind != HELLO:
            raise ProtocolError("expected HELLO")
        hello = decode_hello(body)
        if hello.chain_id != self._chain_id:
            raise ProtocolError("peer is on another chain")
        if hello.index not in self._peers or (expected is not None and hello.index != expected):
            raise ProtocolError(f"peer claims index {hello.index}")
        public_key = self._public_key_of(hello.index)
        if public_key is None:
            raise ProtocolError(f"no public key for validator {hello.index}")
        root = compute_handshake_root(
            self._chain_id, hello.nonce, own.nonce, self._index, hello.ephemeral, own.ephemeral
        )
        writer.write(encode_frame(AUTH, self._crypto.Sign(self._sk, root)))
        await writer.drain()
        kind, signature = await self._read_frame(reader, limit=1024)
        if kind != AUTH:
            raise ProtocolError("expected AUTH")
        expected_root = compute_handshake_root(
            self._chain_id, own.nonce, hello.nonce, hello.index, own.ephemeral, hello.ephemeral
        )
        # ``public_key_of`` answers from the validator set, whose keys were validated once.
        if not self._crypto.VerifyWithValidatedKey(public_key, expected_root, signature):
            raise ProtocolError(f"validator {hello.index}'s handshake signature does not verify")
        session = derive_session(private_key=ephemeral, own=own, peer=hello, own_index=self._index)
        return hello.index, session

    async def _read_frame(self, reader: asyncio.StreamReader, *, limit: int) -> tuple[int, bytes]:
        """One clear frame (the handshake's)."""
        length = parse_frame_length(await reader.readexactly(4), limit)
        payload = await reader.readexactly(length)
        return payload[0], payload[1:]

    async def _read_frames(
        self, reader: asyncio.StreamReader, peer: _Peer, session: Session
    ) -> None:
        index = peer.address.index
        limit = self._max_frame + TAG_SIZE
        while not self._closing:
            header = await reader.readexactly(4)
            payload = await reader.readexactly(parse_frame_length(header, limit))
            kind, body = session.open(header, payload)  # ProtocolError if it does not open
            peer.last_seen_ms = _now_ms()
            if self._is_dropped(index):
                continue
            self._on_frame(index, kind, body)  # raises ProtocolError for garbage

    def _disconnect(self, peer: _Peer, writer: asyncio.StreamWriter, why: str) -> None:
        if peer.writer is writer:
            peer.writer, peer.session = None, None
            logger.info("validator %d disconnected (%s)", peer.address.index, why)
        writer.close()

    # -- status and faults -------------------------------------------------------------------

    def is_connected(self, index: int) -> bool:
        peer = self._peers.get(index)
        return peer is not None and peer.writer is not None

    def status(self) -> list[dict[str, object]]:
        return [
            {
                "index": i,
                "connected": p.writer is not None and not self._is_dropped(i),
                "last_seen_ms": p.last_seen_ms,
            }
            for i, p in sorted(self._peers.items())
        ]

    def partition(self, peers: list[int], duration_s: float) -> None:
        """Test-only: drop every frame to and from ``peers`` for ``duration_s``."""
        until = time.monotonic() + duration_s
        for index in peers:
            self._drop_until[index] = until

    def _is_dropped(self, index: int) -> bool:
        until = self._drop_until.get(index)
        if until is None:
            return False
        if time.monotonic() >= until:
            del self._drop_until[index]
            return False
        return True


def _now_ms() -> int:
    return int(time.time() * 1000)


def _peername(writer: asyncio.StreamWriter) -> str:
    try:
        return str(writer.get_extra_info("peername"))
    except Exception:
        return "?"
