"""``manage.py run_portal`` (``make run``): its children never outlive it, and the ASGI server
believes forwarded client addresses only from configured proxies."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portal.management.commands.run_portal import uvicorn_proxy_arguments
from tests.conftest import embedded_env

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def is_running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def poll(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def start_portal(tmp_path: Path, port: int) -> tuple[subprocess.Popen[bytes], int]:
    env = embedded_env(PORTAL_VAR_DIR=str(tmp_path), PORTAL_ENV="development")
    parent = subprocess.Popen(
        [sys.executable, "manage.py", "run_portal", "--no-ledger", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert poll(lambda: listening(port), 60), "the portal did not start"
    (server,) = children_of(parent.pid)
    return parent, server


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(
    "how", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP], ids=["KILL", "TERM", "HUP"]
)
def test_the_children_exit_when_the_parent_is_killed(tmp_path, how) -> None:
    port = free_port()
    parent, server = start_portal(tmp_path, port)
    try:
        # when the parent is killed (SIGKILL leaves it no chance to clean up)
        parent.send_signal(how)
        parent.wait(30)
        # then its child exits and frees the port for the next `make run`
        assert poll(lambda: not is_running(server), 20), "the server outlived run_portal"
        assert poll(lambda: not listening(port), 5)
    finally:
        if is_running(server):
            os.kill(server, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_server_ignores_forwarded_headers_by_default(tmp_path) -> None:
    port = free_port()
    parent, server = start_portal(tmp_path, port)
    try:
        argv = Path(f"/proc/{server}/cmdline").read_bytes().split(b"\0")
        assert b"--no-proxy-headers" in argv
        assert b"--proxy-headers" not in argv
    finally:
        parent.terminate()
        parent.wait(30)


def test_forwarded_headers_are_believed_only_from_configured_proxies() -> None:
    assert uvicorn_proxy_arguments([]) == ["--no-proxy-headers"]
    assert uvicorn_proxy_arguments(["10.0.0.2", "10.1.0.0/16"]) == [
        "--proxy-headers",
        "--forwarded-allow-ips",
        "10.0.0.2,10.1.0.0/16",
    ]
