"""Run a whole validator network in one process, deterministically from a seed.

``run_scenario`` builds ``n`` replicas (honest ones, Byzantine wrappers, Twins copies), drives them
with a virtual clock through a simulated network, applies crashes and restarts, and returns a
``ScenarioResult``: every honest validator's committed chain, the rounds that ended in a timeout,
and the invalid messages the honest replicas rejected (by error class). ``check_safety`` and
``check_liveness`` judge a result; the runner itself never judges.

The same seed gives the same result, bit for bit: every random choice comes from one
``random.Random(seed)`` (split into independent streams for the network and for each Byzantine
node), events at equal times run in insertion order, and nothing reads a real clock. The only
non-deterministic number, the CPU time spent in handlers, is measured through an optional clock
the *caller* injects (``cpu_clock``) and is excluded from result equality.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.consensus.block_tree import make_genesis
from ledger.consensus.crypto import Backend, KeyGen
from ledger.consensus.crypto import backend as crypto_backend
from ledger.consensus.effects import Broadcast, Commit, Effect, PersistSafety, Send, SetTimer
from ledger.consensus.errors import InvalidMessage
from ledger.consensus.params import ProtocolParams
from ledger.consensus.replica import Replica
from ledger.consensus.types import Block, Message, TimeoutMsg, Vote
from ledger.consensus.validators import ValidatorInfo, ValidatorSet

from .byzantine import Actor, ByzantineActor, ByzantineContext, make_behaviour, parse_behaviour
from .events import EventQueue, SimulationError, VirtualClock
from .faults import Crash, DurableStore
from .insecure_crypto import INSECURE_SIM_NAME, insecure_sim_backend
from .network import NetworkConfig, Partition, SimulatedNetwork

__all__ = [
    "CHAIN_ID",
    "CRYPTO_CHOICES",
    "CommitRecord",
    "ScenarioResult",
    "run_scenario",
    "twins_split_partition",
]

CHAIN_ID = b"alliance-sim"
#: "none" selects the cheap insecure backend (ledger/simulation/insecure_crypto.py).
CRYPTO_CHOICES = ("none", "blst", "py_ecc")
_DEFAULT_MAX_EVENTS = 5_000_000

# Event kinds; events are tuples (kind, ...) because millions of them are made per CI run.
_DELIVER, _TICK, _CRASH, _RESTART, _MARK_HEAL = range(5)


@dataclass(frozen=True)
class CommitRecord:
    """One block an honest validator committed, the first time it committed that height."""

    height: int
    round: int
    block_hash: str
    at_ms: int


@dataclass(frozen=True)
class ScenarioResult:
    """What happened in one run. Equal seeds and arguments give equal results."""

    validators: int
    byzantine: int
    behaviour: str | None
    seed: int
    rounds: int
    crypto: str
    byzantine_indices: tuple[int, ...]
    honest_indices: tuple[int, ...]
    #: Honest validator index -> committed block hashes (hex) in height order.
    commits: dict[int, list[str]]
    commit_log: dict[int, tuple[CommitRecord, ...]]
    #: One honest validator committing two different blocks at one height (across a restart).
    local_conflicts: tuple[str, ...]
    #: Votes/timeouts an honest replica sent before the safety state covering them was durable.
    persistence_violations: tuple[str, ...]
    #: Rounds in which at least one honest validator timed out (sent a TimeoutMsg).
    view_changes: int
    #: InvalidMessage subclass name -> how many times honest replicas raised it.
    rejected: dict[str, int]
    final_rounds: dict[int, int]
    #: When the last partition healed / drops stopped (GST) / the last crashed replica
    #: restarted, and the highest honest round at that moment (liveness is measured from there).
    heal_ms: int
    heal_round: int
    end_ms: int
    events: int
    stopped_by: str
    network: dict[str, int]
    restarts: int
    #: Per validator CPU seconds spent in its handlers (only with ``cpu_clock``; not compared).
    handler_seconds: dict[int, float] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready summary printed by ``manage.py ledger_simulate --json``."""
        return {
            "validators": self.validators,
            "byzantine": self.byzantine,
            "behaviour": self.behaviour,
            "byzantine_indices": list(self.byzantine_indices),
            "seed": self.seed,
            "rounds": self.rounds,
            "crypto": self.crypto,
            "commits": {str(i): list(hashes) for i, hashes in self.commits.items()},
            "view_changes": self.view_changes,
            "rejected": dict(self.rejected),
            "final_rounds": {str(i): r for i, r in self.final_rounds.items()},
            "heal_round": self.heal_round,
            "virtual_ms": self.end_ms,
            "events": self.events,
            "stopped_by": self.stopped_by,
            "network": dict(self.network),
            "restarts": self.restarts,
        }


def twins_split_partition(
    n: int, twins: Sequence[int], *, start_ms: int = 0, heal_ms: int = 10**12
) -> Partition:
    """Twins' classic split: honest validators in two halves, one copy of every twin with each.

    Endpoint ``i`` is validator ``i``'s primary copy and ``n + i`` its twin. With ``len(twins) >
    f`` each side holds a quorum (the twins count on both sides) and can commit its own chain.
    """
    honest = [i for i in range(n) if i not in twins]
    middle = (len(honest) + 1) // 2
    side_a = set(honest[:middle]) | set(twins)
    side_b = set(honest[middle:]) | {n + i for i in twins}
    return Partition.of([side_a, side_b], start_ms=start_ms, heal_ms=heal_ms)


# -- keys -----------------------------------------------------------------------------------------


def _secret_key(index: int) -> int:
    # Keys depend only on the index, so a validator set can be reused across seeds; the seed
    # drives the network and the Byzantine choices, not the keys.
    return KeyGen(hashlib.sha256(b"alliance-sim/validator/%d" % index).digest())


# PopVerify costs ~0.5 s per key on py_ecc: build each (backend, n) validator set once per process.
_VALIDATOR_SETS: dict[tuple[str, int], ValidatorSet] = {}


def _validator_set(crypto: Backend, n: int) -> ValidatorSet:
    key = (crypto.name, n)
    if key not in _VALIDATOR_SETS:
        infos = [
            ValidatorInfo.from_secret_key(i, _secret_key(i), crypto, name=f"sim-{i}")
            for i in range(n)
        ]
        _VALIDATOR_SETS[key] = ValidatorSet(infos, crypto=crypto, epoch=0)
    return _VALIDATOR_SETS[key]


def _backend(name: str) -> Backend:
    if name == "none" or name == INSECURE_SIM_NAME:
        return insecure_sim_backend()
    if name in CRYPTO_CHOICES:
        return crypto_backend(name)
    raise ValueError(f"crypto must be one of {CRYPTO_CHOICES}, not {name!r}")


# -- the simulator --------------------------------------------------------------------------------


@dataclass
class _Host:
    """One endpoint: a validator's (primary or twin) replica and its timers."""

    endpoint: int
    index: int
    honest: bool
    make_actor: Callable[[Any], tuple[Actor, Replica]]
    actor: Actor | None = None
    replica: Replica | None = None
    incarnation: int = 0
    timers: set[int] = field(default_factory=set)
    proposals_made: int = 0


class _Simulator:
    def __init__(
        self,
        *,
        n: int,
        byzantine_indices: tuple[int, ...],
        behaviour: str | None,
        rng: random.Random,
        crypto: Backend,
        params: ProtocolParams,
        network: SimulatedNetwork,
        crashes: Sequence[Crash],
        rounds: int,
        rounds_after_heal: int,
        cpu_clock: Callable[[], float] | None,
    ) -> None:
        self.n = n
        self.rounds = rounds
        self.rounds_after_heal = rounds_after_heal
        self.crypto = crypto
        self.params = params
        self.network = network
        self.cpu_clock = cpu_clock
        self.validator_set = _validator_set(crypto, n)
        self.genesis: Block = make_genesis(CHAIN_ID, self.validator_set)
        self.clock = VirtualClock()
        self.queue: EventQueue[tuple[Any, ...]] = EventQueue()
        self.store: DurableStore[Any] = DurableStore()
        self.hosts: dict[int, _Host] = {}
        self.endpoints_of: dict[int, list[int]] = {i: [i] for i in range(n)}
        self.heights: dict[int, dict[int, CommitRecord]] = {}
        self.local_conflicts: list[str] = []
        self.persistence_violations: list[str] = []
        self.timeout_rounds: set[int] = set()
        self.rejected: Counter[str] = Counter()
        self.handler_seconds: dict[int, float] = {}
        self.restarts = 0
        self.heal_round = 0
        #: The run never stops before the last heal: liveness is judged after it.
        self.healed = False
        byzantine = set(byzantine_indices)
        for index in range(n):
            honest = index not in byzantine
            if honest:
                self.heights[index] = {}
            if honest or behaviour == "twins":
                self._add_host(index, index, honest=honest, behaviour=None, rng=rng)
            else:
                self._add_host(index, index, honest=False, behaviour=behaviour, rng=rng)
        if behaviour == "twins":
            for index in sorted(byzantine):
                self._add_host(n + index, index, honest=False, behaviour=None, rng=rng)
                self.endpoints_of[index].append(n + index)
        for crash in crashes:
            if crash.index not in self.hosts:
                raise SimulationError(f"crash of unknown validator {crash.index}")
            self.queue.push(crash.at_ms, (_CRASH, crash.index))
            if crash.restart_ms is not None:
                self.queue.push(crash.restart_ms, (_RESTART, crash.index))

    # -- construction ---------------------------------------------------------------------------

    def _add_host(
        self, endpoint: int, index: int, *, honest: bool, behaviour: str | None, rng: random.Random
    ) -> None:
        secret_key = _secret_key(index)
        # Each Byzantine node gets its own stream so adding one does not reshuffle the others.
        own_rng = random.Random(rng.getrandbits(64))  # noqa: S311 - simulation, not cryptography

        def make_actor(safety: Any) -> tuple[Actor, Replica]:
            host = self.hosts[endpoint]

            def payload_source(max_bytes: int) -> Sequence[bytes]:
                host.proposals_made += 1
                # Distinct per endpoint, so Twins copies propose different blocks.
                return (b"tx/%d/%d" % (endpoint, host.proposals_made),)

            replica = Replica(
                chain_id=CHAIN_ID,
                index=index,
                secret_key=secret_key,
                validator_set=self.validator_set,
                genesis=self.genesis,
                params=self.params,
                safety=safety,
                payload_source=payload_source,
                crypto=self.crypto,
            )
            if behaviour is None:
                return replica, replica
            context = ByzantineContext(index, secret_key, CHAIN_ID, self.validator_set, self.crypto)
            return ByzantineActor(replica, make_behaviour(behaviour, context, own_rng)), replica

        self.hosts[endpoint] = _Host(endpoint, index, honest, make_actor)

    # -- running --------------------------------------------------------------------------------

    def run(self, *, max_time_ms: int, max_events: int, heal_ms: int) -> tuple[str, int]:
        self.queue.push(heal_ms, (_MARK_HEAL,))
        for host in self.hosts.values():
            self._boot(host, safety=None)
        events = 0
        while True:
            at = self.queue.peek_time()
            if at is None:
                return "idle", events
            if at > max_time_ms:
                return "time", events
            if events >= max_events:
                return "events", events
            at, event = self.queue.pop()
            self.clock.advance_to(at)
            events += 1
            handled = self._dispatch(event, at)
            if handled is not None and handled.honest and self._all_honest_reached_rounds(handled):
                return "rounds", events

    def _boot(self, host: _Host, *, safety: Any) -> None:
        host.actor, host.replica = host.make_actor(safety)
        host.timers.clear()
        self._apply(host, self._call(host, lambda actor: actor.start(self.clock.now_ms)))

    def _dispatch(self, event: tuple[Any, ...], now: int) -> _Host | None:
        kind = event[0]
        if kind == _DELIVER:
            _, endpoint, sender, message = event
            host = self.hosts[endpoint]
            if host.actor is None:
                return None  # delivered to a crashed replica: lost
            self._apply(host, self._call(host, lambda a: a.on_message(sender, message, now)))
            return host
        if kind == _TICK:
            _, endpoint, incarnation = event
            host = self.hosts[endpoint]
            host.timers.discard(now)
            if host.actor is None or incarnation != host.incarnation:
                return None
            self._apply(host, self._call(host, lambda a: a.on_tick(now)))
            return host
        if kind == _CRASH:
            host = self.hosts[event[1]]
            host.actor, host.replica = None, None
            host.incarnation += 1
            host.timers.clear()
            return None
        if kind == _RESTART:
            host = self.hosts[event[1]]
            if host.actor is None:
                self.restarts += 1
                self._boot(host, safety=self.store.load(host.endpoint))
            return host
        if kind == _MARK_HEAL:
            self.heal_round = max(
                (h.replica.round for h in self.hosts.values() if h.honest and h.replica), default=0
            )
            self.rounds = max(self.rounds, self.heal_round + self.rounds_after_heal)
            self.healed = True
            return None
        raise SimulationError(f"unknown event kind {kind}")

    def _call(self, host: _Host, handler: Callable[[Actor], list[Effect]]) -> list[Effect]:
        actor = host.actor
        if actor is None:
            return []
        started = self.cpu_clock() if self.cpu_clock is not None else 0.0
        try:
            effects = handler(actor)
        except InvalidMessage as error:
            # All-or-nothing handlers: the replica is unchanged; count the named rejection.
            if host.honest:
                self.rejected[type(error).__name__] += 1
            effects = []
        if self.cpu_clock is not None:
            spent = self.cpu_clock() - started
            self.handler_seconds[host.index] = self.handler_seconds.get(host.index, 0.0) + spent
        return effects

    def _apply(self, host: _Host, effects: list[Effect]) -> None:
        now = self.clock.now_ms
        for effect in effects:
            if isinstance(effect, Send | Broadcast) and host.honest:
                self._check_durable(host, effect.message)
            if isinstance(effect, Send):
                self._send(host, effect.to, effect.message, now)
            elif isinstance(effect, Broadcast):
                if host.honest and isinstance(effect.message, TimeoutMsg):
                    self.timeout_rounds.add(effect.message.round)
                for to in range(self.n):
                    if to != host.index:
                        self._send(host, to, effect.message, now)
            elif isinstance(effect, PersistSafety):
                # Applied in effect order: durable before any later Send of the same list.
                self.store.persist(host.endpoint, effect.state)
            elif isinstance(effect, SetTimer):
                at = max(effect.at_ms, now)
                if at not in host.timers:
                    host.timers.add(at)
                    self.queue.push(at, (_TICK, host.endpoint, host.incarnation))
            elif isinstance(effect, Commit) and host.honest:
                self._record_commit(host.index, effect.block, now)

    def _check_durable(self, host: _Host, message: Message) -> None:
        """A signed vote or timeout may only leave once the safety state covering it is durable
        (otherwise a crash right after sending could let the restarted replica sign again)."""
        if isinstance(message, Vote):
            needed, field_name = message.round, "last_voted_round"
        elif isinstance(message, TimeoutMsg):
            needed, field_name = message.round, "highest_timeout_round"
        else:
            return
        state = self.store.load(host.endpoint)
        if state is None or getattr(state, field_name) < needed:
            self.persistence_violations.append(
                f"validator {host.index} sent a {type(message).__name__} for round {needed} "
                f"before persisting {field_name} >= {needed}"
            )

    def _send(self, host: _Host, to: int, message: Message, now: int) -> None:
        for endpoint in self.endpoints_of.get(to, ()):
            for at in self.network.route(host.endpoint, endpoint, now):
                self.queue.push(at, (_DELIVER, endpoint, host.index, message))

    def _record_commit(self, index: int, block: Block, now: int) -> None:
        heights = self.heights[index]
        known = heights.get(block.height)
        block_hash = block.hash.hex()
        if known is None:
            heights[block.height] = CommitRecord(block.height, block.round, block_hash, now)
        elif known.block_hash != block_hash:
            self.local_conflicts.append(
                f"validator {index} committed {known.block_hash[:16]} and then "
                f"{block_hash[:16]} at height {block.height}"
            )

    def final_round(self, endpoint: int) -> int:
        """The current round of a replica, or -1 while it is crashed."""
        replica = self.hosts[endpoint].replica
        return replica.round if replica is not None else -1

    def _all_honest_reached_rounds(self, host: _Host) -> bool:
        if not self.healed or host.replica is None or host.replica.round < self.rounds:
            return False
        return all(
            h.replica is not None and h.replica.round >= self.rounds
            for h in self.hosts.values()
            if h.honest
        )


def run_scenario(
    *,
    validators: int,
    byzantine: int = 0,
    behaviour: str | None = None,
    seed: int,
    rounds: int,
    crypto: str = "none",
    network: NetworkConfig | None = None,
    partitions: Sequence[Partition] = (),
    crashes: Sequence[Crash] = (),
    byzantine_indices: Sequence[int] | None = None,
    params: ProtocolParams | None = None,
    rounds_after_heal: int = 0,
    max_time_ms: int | None = None,
    max_events: int = _DEFAULT_MAX_EVENTS,
    cpu_clock: Callable[[], float] | None = None,
) -> ScenarioResult:
    """Simulate ``validators`` replicas until every honest one reaches round ``rounds`` (and
    ``rounds_after_heal`` rounds past the highest honest round at the last heal or restart, so a
    liveness check always has a window to look at).

    ``byzantine`` validators (chosen by the seed unless ``byzantine_indices`` is given) follow
    ``behaviour`` (one of ``BEHAVIOURS``). The run also stops at ``max_time_ms`` of virtual time
    (default: generous for ``rounds`` rounds after the last heal or restart), after
    ``max_events`` events, or when nothing is left to happen. ``crypto`` is ``"none"`` (the cheap
    insecure backend), ``"blst"`` or ``"py_ecc"``. ``cpu_clock`` (e.g. ``time.process_time``,
    injected by benchmarks) measures the CPU seconds of each validator's handlers.
    """
    if validators < 1 or rounds < 1:
        raise ValueError("need at least one validator and one round")
    if not 0 <= byzantine <= validators:
        raise ValueError("byzantine must be between 0 and the number of validators")
    if byzantine and behaviour is None:
        raise ValueError("Byzantine validators need a behaviour")
    if behaviour is not None:
        parse_behaviour(behaviour)
    rng = random.Random(seed)  # noqa: S311 - simulation, not cryptography
    if byzantine_indices is None:
        chosen = tuple(sorted(rng.sample(range(validators), byzantine)))
    else:
        chosen = tuple(sorted(set(byzantine_indices)))
        if len(chosen) != byzantine or not all(0 <= i < validators for i in chosen):
            raise ValueError("byzantine_indices must name `byzantine` distinct validators")
    if byzantine == 0:
        behaviour = None
    params = params or ProtocolParams()
    # Separate streams: the network's fate of messages does not depend on Byzantine choices.
    net = SimulatedNetwork(
        network or NetworkConfig(),
        partitions,
        random.Random(rng.getrandbits(64)),  # noqa: S311
    )
    heal_ms = max([net.last_heal_ms] + [c.restart_ms or c.at_ms for c in crashes])
    if max_time_ms is None:
        # Generous: every round may time out once at the base timeout, plus a few maximal
        # back-offs after a heal. Virtual time costs nothing; idle waiting creates no events.
        budget_rounds = rounds + rounds_after_heal + 10
        max_time_ms = heal_ms + budget_rounds * 4 * params.base_timeout_ms
        max_time_ms += 4 * params.max_timeout_ms
    simulator = _Simulator(
        n=validators,
        byzantine_indices=chosen,
        behaviour=behaviour,
        rng=rng,
        crypto=_backend(crypto),
        params=params,
        network=net,
        crashes=crashes,
        rounds=rounds,
        rounds_after_heal=rounds_after_heal,
        cpu_clock=cpu_clock,
    )
    stopped_by, events = simulator.run(
        max_time_ms=max_time_ms, max_events=max_events, heal_ms=heal_ms
    )
    honest = tuple(i for i in range(validators) if i not in chosen)
    log = {i: tuple(simulator.heights[i][h] for h in sorted(simulator.heights[i])) for i in honest}
    stats = net.stats
    return ScenarioResult(
        validators=validators,
        byzantine=byzantine,
        behaviour=behaviour,
        seed=seed,
        rounds=rounds,
        crypto=crypto,
        byzantine_indices=chosen,
        honest_indices=honest,
        commits={i: [record.block_hash for record in log[i]] for i in honest},
        commit_log=log,
        local_conflicts=tuple(simulator.local_conflicts),
        persistence_violations=tuple(simulator.persistence_violations),
        view_changes=len(simulator.timeout_rounds),
        rejected=dict(sorted(simulator.rejected.items())),
        final_rounds={i: simulator.final_round(i) for i in honest},
        heal_ms=heal_ms,
        heal_round=simulator.heal_round,
        end_ms=simulator.clock.now_ms,
        events=events,
        stopped_by=stopped_by,
        network={
            "sent": stats.sent,
            "delivered": stats.delivered_copies,
            "dropped": stats.dropped,
            "partitioned": stats.partitioned,
            "duplicated": stats.duplicated,
        },
        restarts=simulator.restarts,
        handler_seconds=dict(simulator.handler_seconds),
    )
