"""Sealed validator links (ledger/node/channel.py) and what a man in the middle can do to them:
nothing but cut them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ledger.node.channel import Session, derive_session
from ledger.node.devnet import free_base_port
from ledger.node.wire import Hello, ProtocolError
from tests.ledger.node.support import make_transport, until


def _pair() -> tuple[Session, Session]:
    """The two ends of one link, derived as the handshake derives them."""
    keys = [X25519PrivateKey.generate() for _ in range(2)]
    hellos = [
        Hello(b"chain", i, bytes([i]) * 32, keys[i].public_key().public_bytes_raw())
        for i in range(2)
    ]
    low = derive_session(private_key=keys[0], own=hellos[0], peer=hellos[1], own_index=0)
    high = derive_session(private_key=keys[1], own=hellos[1], peer=hellos[0], own_index=1)
    return low, high


def _split(frame: bytes) -> tuple[bytes, bytes]:
    return frame[:4], frame[4:]


def test_both_ends_derive_matching_keys_and_frames_open_in_order_both_ways() -> None:
    # given the two ends of a link
    low, high = _pair()
    # when each seals frames for the other
    to_high = [low.seal(1, b"vote %d" % i) for i in range(3)]
    to_low = high.seal(2, b"txs")
    # then the other end opens them in order, and the body is not in the clear
    assert [high.open(*_split(f)) for f in to_high] == [(1, b"vote %d" % i) for i in range(3)]
    assert low.open(*_split(to_low)) == (2, b"txs")
    assert b"vote" not in b"".join(to_high)


@pytest.mark.parametrize("attack", ["flip", "replay", "reorder", "reflect", "header", "foreign"])
def test_a_tampered_replayed_reordered_reflected_or_foreign_frame_does_not_open(
    attack: str,
) -> None:
    # given frames sealed by one end
    low, high = _pair()
    first, second = low.seal(1, b"proposal"), low.seal(1, b"vote")
    if attack == "flip":  # one bit of the ciphertext
        frames = [first[:10] + bytes([first[10] ^ 1]) + first[11:]]
    elif attack == "replay":  # the same frame twice
        high.open(*_split(first))
        frames = [first]
    elif attack == "reorder":
        frames = [second]
    elif attack == "reflect":  # a frame sent back to its sender
        frames = [first]
        high = low
    elif attack == "header":  # the authenticated length header altered
        frames = [(int.from_bytes(first[:4], "big") + 1).to_bytes(4, "big") + first[4:] + b"\0"]
    else:  # sealed by another link's keys
        other, _ = _pair()
        frames = [other.seal(1, b"proposal")]
    # then opening it is a protocol error (the transport closes the link)
    with pytest.raises(ProtocolError):
        for frame in frames:
            high.open(*_split(frame))


class _Relay:
    """A TCP proxy between validator 0 (dialling) and validator 1 that can read what passes and
    flip one byte of the first frame after the handshake from 0 to 1."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.seen = bytearray()
        self.tamper = False
        self.tampered = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, forward: bool) -> None:
            try:
                while data := await src.read(65536):
                    if forward:
                        self.seen += data
                        if self.tamper and len(data) > 8:
                            data = data[:-1] + bytes([data[-1] ^ 0x40])
                            self.tampered += 1
                            self.tamper = False
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))


def test_a_man_in_the_middle_sees_no_cleartext_and_a_flipped_byte_closes_the_link() -> None:
    async def scenario() -> tuple[bool, bytes, list[Any], int, bool]:
        base = free_base_port(3)
        seen: list[Any] = []
        relay = _Relay(base + 1)
        server = await asyncio.start_server(relay.serve, "127.0.0.1", base + 2)
        # validator 0 dials "validator 1" at the relay's port
        zero = make_transport(0, base, base + 2, seen)
        one = make_transport(1, base + 1, base, seen)
        links: list[int] = []
        one.on_connected = links.append
        await one.start()
        await zero.start()
        try:
            connected = await until(lambda: zero.is_connected(1) and one.is_connected(0))
            zero.send(1, 0x01, b"secret vote payload")
            await until(lambda: bool(seen))
            first = list(seen)
            # when the relay flips one byte of the next frame
            relay.tamper = True
            zero.send(1, 0x01, b"tampered vote payload")
            # then the link is closed and re-established (a second handshake, fresh keys)
            dropped = await until(lambda: len(links) >= 2, 5.0)
            again = await until(lambda: zero.is_connected(1) and one.is_connected(0))
            zero.send(1, 0x01, b"after reconnect")
            again = again and await until(lambda: (0, 0x01, b"after reconnect") in seen)
        finally:
            await zero.stop()
            await one.stop()
            server.close()
        return (
            connected and dropped and again,
            bytes(relay.seen),
            first,
            relay.tampered,
            (
                0,
                0x01,
                b"tampered vote payload",
            )
            in seen,
        )

    ok, wire_bytes, first, tampered, tampered_delivered = asyncio.run(scenario())
    # then the first frame arrived, the link came back and carried frames again, and the relay
    # never saw a payload in the clear
    assert ok
    assert first == [(0, 0x01, b"secret vote payload")]
    assert b"secret vote payload" not in wire_bytes
    # and the altered frame was never delivered
    assert tampered == 1 and not tampered_delivered
