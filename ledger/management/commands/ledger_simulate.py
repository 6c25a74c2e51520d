"""``manage.py ledger_simulate``: run one deterministic simulator scenario and report it.

Thin by design: parse the options, call ``run_scenario``, print. It only reports
what happened; judging safety and liveness is the tests' job (``ledger.simulation.checks``).
"""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ledger.simulation import (
    BEHAVIOURS,
    CRYPTO_CHOICES,
    FixedDelay,
    NetworkConfig,
    UniformDelay,
    run_scenario,
)


class Command(BaseCommand):
    help = "Simulate a ledger validator network deterministically from a seed and report commits."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--validators", type=int, required=True, help="n (e.g. 4, 7)")
        parser.add_argument("--byzantine", type=int, default=0, help="how many are Byzantine")
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument(
            "--rounds", type=int, required=True, help="run until every honest replica reaches it"
        )
        parser.add_argument(
            "--crypto", choices=CRYPTO_CHOICES, default="none",
            help="signature backend; 'none' = the cheap insecure simulation backend",
        )  # fmt: skip
        parser.add_argument(
            "--behaviour", choices=BEHAVIOURS, default=None,
            help="Byzantine behaviour (default: withhold when --byzantine > 0)",
        )  # fmt: skip
        parser.add_argument(
            "--delay-ms", type=int, default=10,
            help="one-way latency: uniform in 1..N ms (N > 1), else fixed N ms (default 10)",
        )  # fmt: skip
        parser.add_argument("--drop-probability", type=float, default=0.0)
        parser.add_argument(
            "--gst-ms", type=int, default=None, help="no drops from this virtual time on"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        behaviour = options["behaviour"]
        if options["byzantine"] and behaviour is None:
            behaviour = "withhold"
        delay_ms = options["delay_ms"]
        network = NetworkConfig(
            delay=UniformDelay(1, delay_ms) if delay_ms > 1 else FixedDelay(max(0, delay_ms)),
            drop_probability=options["drop_probability"],
            gst_ms=options["gst_ms"],
        )
        started = time.perf_counter()
        try:
            result = run_scenario(
                validators=options["validators"],
                byzantine=options["byzantine"],
                behaviour=behaviour,
                seed=options["seed"],
                rounds=options["rounds"],
                crypto=options["crypto"],
                network=network,
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        report = result.to_json()
        report["wall_seconds"] = round(time.perf_counter() - started, 3)
        if options["json"]:
            self.stdout.write(json.dumps(report, sort_keys=True))
            return
        heights = {i: len(chain) for i, chain in result.commits.items()}
        self.stdout.write(
            f"n={result.validators} byzantine={result.byzantine} ({result.behaviour}) "
            f"seed={result.seed} rounds={result.rounds} crypto={result.crypto}\n"
            f"committed heights per honest validator: {heights}\n"
            f"view changes: {result.view_changes}  rejected: {result.rejected}\n"
            f"stopped by: {result.stopped_by} at {result.end_ms} virtual ms, "
            f"{report['wall_seconds']} s wall"
        )
