"""Opening the portal's websockets in tests, as a page of the portal would."""

from __future__ import annotations

from channels.testing import WebsocketCommunicator

from portal.asgi import application


async def connect(
    path: str, *, cookie: bytes | None = None
) -> tuple[WebsocketCommunicator, bool, int | None]:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code
