"""Judging a ``ScenarioResult``: safety and liveness, as lists of human-readable problems.

An empty list means the property holds. Returning problems instead of raising lets a test over a
thousand seeds report the first failing seed together with what went wrong.
"""

from __future__ import annotations

from .scenario import ScenarioResult

__all__ = ["check_liveness", "check_safety"]


def check_safety(result: ScenarioResult) -> list[str]:
    """No two honest validators commit different blocks at the same height.

    Also flags a validator that committed two blocks at one height (across a restart), a chain
    with a gap (height ``h + 1`` committed without ``h``), which would hide a divergence, and a
    vote or timeout sent before the safety state covering it was durable.
    """
    problems = [*result.local_conflicts, *result.persistence_violations]
    first_seen: dict[int, tuple[int, str]] = {}
    for index in result.honest_indices:
        records = result.commit_log[index]
        for expected_height, record in enumerate(records, start=1):
            if record.height != expected_height:
                problems.append(
                    f"validator {index} committed height {record.height} without height "
                    f"{expected_height}"
                )
                break
        for record in records:
            seen = first_seen.setdefault(record.height, (index, record.block_hash))
            if seen[1] != record.block_hash:
                problems.append(
                    f"height {record.height}: validator {seen[0]} committed {seen[1][:16]} "
                    f"but validator {index} committed {record.block_hash[:16]}"
                )
    return problems


def check_liveness(result: ScenarioResult, *, within_rounds: int | None = None) -> list[str]:
    """After the last partition heals (and drops stop at GST, and the last crashed replica
    restarts), every honest validator keeps committing: its first commit of a block from a round
    after ``heal_round`` comes within ``within_rounds`` rounds, consecutive committed rounds are
    at most ``within_rounds`` apart, and its last commit is at most ``within_rounds`` behind its
    final round.

    A validator crashed for good (``Crash(restart_ms=None)``) is faulty: it fails this check, so
    judge such runs by safety only.

    The default bound, ``2 * n + 4`` rounds, allows a full rotation of leaders (every Byzantine
    leader's round may fail) plus the two consecutive certified rounds the 2-chain rule needs.
    """
    bound = within_rounds if within_rounds is not None else 2 * result.validators + 4
    problems: list[str] = []
    if result.stopped_by != "rounds":
        problems.append(
            f"run stopped by {result.stopped_by} before every honest validator reached round "
            f"{result.rounds} (final rounds {result.final_rounds})"
        )
    for index in result.honest_indices:
        rounds = [r.round for r in result.commit_log[index] if r.round > result.heal_round]
        if not rounds:
            problems.append(
                f"validator {index} committed nothing after the heal at round {result.heal_round}"
            )
            continue
        previous = result.heal_round
        for committed_round in [*rounds, result.final_rounds[index]]:
            if committed_round - previous > bound:
                problems.append(
                    f"validator {index} went from round {previous} to round {committed_round} "
                    f"without a commit (bound {bound})"
                )
                break
            previous = committed_round
    return problems
