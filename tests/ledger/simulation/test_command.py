"""``manage.py ledger_simulate``: a thin reporter over ``run_scenario``."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def run_command(*arguments: str) -> str:
    out = StringIO()
    call_command("ledger_simulate", *arguments, stdout=out)
    return out.getvalue()


def test_it_prints_exactly_one_json_object_with_the_commits_of_every_honest_validator() -> None:
    # Given a 4-validator run with one equivocating leader
    # When the command runs with --json
    output = run_command(
        "--validators", "4", "--byzantine", "1", "--behaviour", "equivocate",
        "--seed", "7", "--rounds", "20", "--json",
    )  # fmt: skip
    # Then stdout is one JSON object with the documented keys and three consistent honest chains
    report = json.loads(output)
    assert {"validators", "byzantine", "seed", "rounds", "commits", "view_changes",
            "wall_seconds"} <= report.keys()  # fmt: skip
    assert (report["validators"], report["byzantine"], report["seed"]) == (4, 1, 7)
    chains = list(report["commits"].values())
    shortest = min(len(chain) for chain in chains)
    assert len(chains) == 3 and shortest > 5
    assert all(chain[:shortest] == chains[0][:shortest] for chain in chains)
    assert all(len(h) == 64 for chain in chains for h in chain)
    assert report["crypto"] == "none" and report["wall_seconds"] >= 0


def test_the_same_seed_prints_the_same_commits() -> None:
    # Given two identical invocations
    arguments = ("--validators", "7", "--byzantine", "2", "--seed", "3", "--rounds", "15", "--json")
    # When both run / Then the commits and view changes are identical
    first, second = json.loads(run_command(*arguments)), json.loads(run_command(*arguments))
    assert first["commits"] == second["commits"]
    assert first["view_changes"] == second["view_changes"]


def test_it_refuses_an_impossible_scenario_with_a_command_error() -> None:
    # Given more Byzantine validators than validators / When run / Then a CommandError
    with pytest.raises(CommandError):
        run_command("--validators", "4", "--byzantine", "5", "--seed", "1", "--rounds", "5")
