"""``manage.py ledger_devnet --validators N --data-dir DIR --base-port P [--crypto blst|py_ecc]``.

Generates keys and a genesis for N local validators once (reused afterwards), starts one
``run_validator`` process each, prints their API addresses, and stops them all on Ctrl-C /
SIGTERM. Keys live under DIR (default var/ledger-devnet, git-ignored), files mode 0600.
"""

from __future__ import annotations

import signal
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ledger.node.devnet import prepare_devnet, start_validators, stop_validators


class Command(BaseCommand):
    help = "Run a local devnet of N ledger validators (separate processes)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--validators", type=int, default=4)
        parser.add_argument("--data-dir", type=Path, default=Path("var/ledger-devnet"))
        parser.add_argument("--base-port", type=int, default=7100)
        parser.add_argument("--crypto", choices=("blst", "py_ecc"), default="blst")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["validators"] < 1:
            raise CommandError("--validators must be >= 1")
        try:
            devnet = prepare_devnet(
                options["data_dir"],
                validators=options["validators"],
                base_port=options["base_port"],
                crypto=options["crypto"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        processes = start_validators(list(devnet.configs))
        stopping = False

        def on_signal(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.stdout.write(f"genesis: {devnet.directory / 'genesis.json'}")
        for i, url in enumerate(devnet.api_urls):
            self.stdout.write(
                f"validator {i}: {url} (log {devnet.configs[i].parent}/validator.log)"
            )
        self.stdout.write(f"LEDGER_NODE_URLS={','.join(devnet.api_urls)}")
        try:
            while not stopping:
                if all(p.poll() is not None for p in processes):
                    raise CommandError("every validator exited; see the validator.log files")
                time.sleep(0.5)
        finally:
            self.stdout.write("stopping validators ...")
            stop_validators(processes)
