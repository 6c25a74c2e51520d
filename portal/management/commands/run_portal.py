"""``manage.py run_portal``: the whole embedded alliance on one machine (what ``make run`` starts).

Starts a local validator devnet (``ledger_devnet``), mirrors it (``ledger_follow``), drains the
ledger outbox (``ledger_outbox --loop``, or Celery beat + worker when ``REDIS_URL`` is set), and
serves the portal with uvicorn. Every child is stopped on Ctrl-C / SIGTERM / SIGHUP, youngest
first; on Linux each child also gets SIGTERM from the kernel when this process dies in any other
way (SIGKILL, a crash), so the next ``make run`` does not find its ports taken. This command only
supervises processes; each job lives in its own command.

Uvicorn believes ``X-Forwarded-For`` / ``X-Forwarded-Proto`` only from ``TRUSTED_PROXIES``
(none by default): otherwise any client could choose the address the login lock-out and the
throttles key on.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

# The demo organizations act on the devnet as its validator member organizations.
DEMO_LEDGER_IDS = {"acme": "member-00", "globex": "member-01", "initech": "member-02"}

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent_pid: int) -> None:
    """Run in the child before ``exec``: ask Linux for SIGTERM when the parent dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def uvicorn_proxy_arguments(trusted_proxies: list[str]) -> list[str]:
    """Uvicorn's options for proxy headers: believed only from the configured proxies."""
    if not trusted_proxies:
        return ["--no-proxy-headers"]
    return ["--proxy-headers", "--forwarded-allow-ips", ",".join(trusted_proxies)]


def _stop(signum: int, frame: object) -> None:
    # SIGTERM (kill, systemd, docker) and SIGHUP (the terminal closed) stop the children like
    # Ctrl-C does: the ``finally`` in ``handle`` runs.
    raise SystemExit(0)


class Command(BaseCommand):
    help = "Run the portal with a local 4-validator ledger devnet, follower and workers."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--validators", type=int, default=4)
        parser.add_argument("--no-ledger", action="store_true", help="portal only")
        parser.add_argument(
            "--data-dir", type=Path, default=Path(settings.VAR_DIR) / "ledger-devnet"
        )
        parser.add_argument("--base-port", type=int, default=7100)

    def handle(self, *args: Any, **options: Any) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _stop)
        try:
            env = dict(os.environ)
            if not options["no_ledger"]:
                env.update(self._start_ledger(options))
            if settings.REDIS_URL:
                self._spawn(
                    "celery worker",
                    [
                        "-m",
                        "celery",
                        "-A",
                        "portal",
                        "worker",
                        "-Q",
                        "default,biometrics",
                        "-c",
                        "2",
                        "-l",
                        "INFO",
                    ],
                    env,
                )
                self._spawn(
                    "celery beat",
                    [
                        "-m",
                        "celery",
                        "-A",
                        "portal",
                        "beat",
                        "-l",
                        "INFO",
                        "-s",
                        str(Path(settings.VAR_DIR) / "beat-schedule"),
                    ],
                    env,
                )
            elif not options["no_ledger"]:
                self._spawn("ledger outbox", ["manage.py", "ledger_outbox", "--loop"], env)
            self.stdout.write(
                f"Portal on http://{options['host']}:{options['port']}/ (Ctrl-C stops everything)"
            )
            server = self._spawn(
                "portal",
                [
                    "-m",
                    "uvicorn",
                    "portal.asgi:application",
                    "--host",
                    options["host"],
                    "--port",
                    str(options["port"]),
                    *uvicorn_proxy_arguments(settings.TRUSTED_PROXIES),
                ],
                env,
            )
            while server.poll() is None:
                for name, child in self.children:
                    if child.poll() is not None and name != "portal":
                        self.stderr.write(f"{name} exited with {child.returncode}")
                        self.children.remove((name, child))
                        break
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self._stop_all()

    # --- ledger -----------------------------------------------------------------------------
    def _start_ledger(self, options: dict[str, Any]) -> dict[str, str]:
        data_dir: Path = options["data_dir"]
        n, base = options["validators"], options["base_port"]
        self._spawn(
            "ledger devnet",
            [
                "manage.py",
                "ledger_devnet",
                "--validators",
                str(n),
                "--data-dir",
                str(data_dir),
                "--base-port",
                str(base),
            ],
            dict(os.environ),
        )
        urls = [f"http://127.0.0.1:{base + 2 * i + 1}" for i in range(n)]
        self._wait_for_nodes(urls, deadline=time.monotonic() + 90)
        env = {
            "LEDGER_NODE_URLS": ",".join(urls),
            "LEDGER_GENESIS_FILE": str(data_dir / "genesis.json"),
        }
        os.environ.update(env)
        settings.LEDGER_NODE_URLS = urls
        settings.LEDGER_GENESIS_FILE = env["LEDGER_GENESIS_FILE"]
        # Bring the mirror up to the chain's height so imported keys start at the right nonce.
        height = max(self._status(url).get("height", 0) for url in urls)
        call_command("ledger_follow", "--until-height", str(height), "--seconds", "60")
        for slug, ledger_id in DEMO_LEDGER_IDS.items():
            key_file = data_dir / "orgs" / f"{ledger_id}.ed25519"
            if key_file.exists():
                try:
                    call_command(
                        "ledger_key_import",
                        "--org",
                        slug,
                        "--ledger-id",
                        ledger_id,
                        "--key-file",
                        str(key_file),
                    )
                except CommandError as exc:
                    self.stderr.write(f"{slug}: {exc}")
        self._spawn("ledger follower", ["manage.py", "ledger_follow"], {**os.environ, **env})
        self.stdout.write("Ledger validators: " + ", ".join(urls))
        return env

    def _status(self, url: str) -> dict[str, Any]:
        with urllib.request.urlopen(url + "/v1/status", timeout=2) as response:  # noqa: S310
            return dict(json.loads(response.read()))

    def _wait_for_nodes(self, urls: list[str], *, deadline: float) -> None:
        pending = list(urls)
        while pending and time.monotonic() < deadline:
            for url in list(pending):
                try:
                    self._status(url)
                    pending.remove(url)
                except OSError:
                    pass
            time.sleep(0.3)
        if pending:
            raise CommandError(f"validators did not start: {', '.join(pending)}")

    # --- processes --------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        # argv is built from this command's own options, never from user input. Each child
        # leads its own process group (stopped as a whole, youngest first, by _stop_all) and
        # dies with this process (_die_with_parent).
        parent_pid = os.getpid()
        child = subprocess.Popen(  # noqa: S603
            [sys.executable, *argv],
            env=env,
            cwd=settings.BASE_DIR,
            start_new_session=True,
            preexec_fn=lambda: _die_with_parent(parent_pid),
        )
        self.children.append((name, child))
        return child

    def _stop_all(self) -> None:
        # A second signal while stopping must not cut the clean-up short.
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)
        for _name, child in reversed(self.children):
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, child in reversed(self.children):
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
