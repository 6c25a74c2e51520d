"""Deterministic simulation of a validator network (pure: no Django, clocks or global randomness).

Entry points: ``run_scenario`` -> ``ScenarioResult``, judged by ``check_safety`` and
``check_liveness``. Building blocks: ``events`` (virtual clock, event queue), ``network`` (delay
models, drops, duplication, reordering, partitions), ``faults`` (crash/restart, durable store),
``byzantine`` (Byzantine behaviours), ``insecure_crypto`` (the cheap INSECURE signature backend for
many-seed runs). See docs/ledger.md, "Simulation".
"""

from .byzantine import BEHAVIOURS, ByzantineBehaviour, parse_behaviour
from .checks import check_liveness, check_safety
from .faults import Crash
from .insecure_crypto import INSECURE_SIM_NAME, InsecureSimBackend, insecure_sim_backend
from .network import (
    FixedDelay,
    LongTailDelay,
    NetworkConfig,
    Partition,
    UniformDelay,
)
from .scenario import (
    CRYPTO_CHOICES,
    CommitRecord,
    ScenarioResult,
    run_scenario,
    twins_split_partition,
)

__all__ = [
    "BEHAVIOURS",
    "CRYPTO_CHOICES",
    "INSECURE_SIM_NAME",
    "ByzantineBehaviour",
    "CommitRecord",
    "Crash",
    "FixedDelay",
    "InsecureSimBackend",
    "LongTailDelay",
    "NetworkConfig",
    "Partition",
    "ScenarioResult",
    "UniformDelay",
    "check_liveness",
    "check_safety",
    "insecure_sim_backend",
    "parse_behaviour",
    "run_scenario",
    "twins_split_partition",
]
