"""The simulator's building blocks: insecure backend, virtual clock, event queue, network, store."""

from __future__ import annotations

import random

import pytest

from ledger.consensus.crypto import BLSError, KeyGen
from ledger.consensus.crypto import backend as crypto_backend
from ledger.consensus.validators import ValidatorInfo, ValidatorSet
from ledger.simulation.events import EventQueue, SimulationError, VirtualClock
from ledger.simulation.faults import DurableStore
from ledger.simulation.insecure_crypto import insecure_sim_backend
from ledger.simulation.network import (
    FixedDelay,
    LongTailDelay,
    NetworkConfig,
    Partition,
    SimulatedNetwork,
    UniformDelay,
)

SIM = insecure_sim_backend()
SKS = [KeyGen(bytes([i]) * 32) for i in range(1, 5)]
PKS = [SIM.SkToPk(sk) for sk in SKS]


# -- insecure backend ------------------------------------------------------------------------------


def test_the_insecure_backend_verifies_a_signature_and_rejects_a_wrong_or_random_one() -> None:
    # Given a signature of validator 0 over a message
    signature = SIM.Sign(SKS[0], b"vote")
    # When it is checked against the right and wrong keys, messages and bytes
    results = (
        SIM.Verify(PKS[0], b"vote", signature),
        SIM.Verify(PKS[1], b"vote", signature),
        SIM.Verify(PKS[0], b"other", signature),
        SIM.Verify(PKS[0], b"vote", random.Random(1).randbytes(96)),
        SIM.Verify(PKS[0], b"vote", signature[:47] + bytes([signature[47] ^ 1]) + signature[48:]),
    )
    # Then only the genuine one verifies
    assert results == (True, False, False, False, False)
    assert len(signature) == 96 and len(PKS[0]) == 48


def test_the_insecure_backend_aggregates_like_bls() -> None:
    # Given three signatures over one message and two over different messages
    sigs = [SIM.Sign(sk, b"block") for sk in SKS[:3]]
    aggregate = SIM.Aggregate(sigs)
    mixed = SIM.Aggregate([SIM.Sign(SKS[0], b"a"), SIM.Sign(SKS[1], b"b")])
    # When the aggregates are verified in every supported way
    fast = SIM.FastAggregateVerify(PKS[:3], b"block", aggregate)
    wrong_set = SIM.FastAggregateVerify([PKS[0], PKS[1], PKS[3]], b"block", aggregate)
    by_key = SIM.VerifyWithValidatedKey(SIM.AggregatePublicKeys(PKS[:3]), b"block", aggregate)
    multi = SIM.AggregateVerify(PKS[:2], [b"a", b"b"], mixed)
    swapped = SIM.AggregateVerify(PKS[:2], [b"b", b"a"], mixed)
    # Then the right signer sets verify and the wrong ones do not
    assert (fast, wrong_set, by_key, multi, swapped) == (True, False, True, True, False)


def test_the_insecure_backend_raises_the_named_error_for_bad_input() -> None:
    # Given / When / Then: empty or malformed inputs raise BLSError, verifies return False
    with pytest.raises(BLSError):
        SIM.Aggregate([])
    with pytest.raises(BLSError):
        SIM.Aggregate([b"\x00" * 96])
    with pytest.raises(BLSError):
        SIM.SkToPk(0)
    assert SIM.KeyValidate(bytes(48)) is False
    assert SIM.FastAggregateVerify([], b"m", SIM.Sign(SKS[0], b"m")) is False
    assert SIM.PopVerify(PKS[0], SIM.PopProve(SKS[0])) is True
    assert SIM.PopVerify(PKS[1], SIM.PopProve(SKS[0])) is False


def test_the_insecure_backend_passes_validator_set_admission_and_quorum_checks() -> None:
    # Given a validator set built on the insecure backend
    infos = [ValidatorInfo.from_secret_key(i, sk, SIM) for i, sk in enumerate(SKS)]
    validators = ValidatorSet(infos, crypto=SIM, epoch=0)
    signers = validators.bitmap_from_indices([0, 1, 3])
    aggregate = SIM.Aggregate([SIM.Sign(SKS[i], b"root") for i in (0, 1, 3)])
    # When the quorum's aggregate is checked with the right and a wrong bitmap
    good = validators.verify_aggregate(signers, b"root", aggregate)
    bad = validators.verify_aggregate(validators.bitmap_from_indices([0, 1, 2]), b"root", aggregate)
    # Then only the right signer set verifies
    assert (good, bad) == (True, False)


def test_the_insecure_backend_is_not_selectable_through_the_crypto_facade() -> None:
    # Given / When / Then: the facade refuses the simulation-only name
    with pytest.raises(BLSError):
        crypto_backend("insecure-sim")


# -- clock and queue -------------------------------------------------------------------------------


def test_the_event_queue_pops_by_time_then_insertion_order() -> None:
    # Given events pushed out of order, two at the same time
    queue: EventQueue[str] = EventQueue()
    for at, item in [(5, "c"), (1, "a"), (5, "d"), (3, "b")]:
        queue.push(at, item)
    # When they are popped
    popped = [queue.pop() for _ in range(len(queue))]
    # Then time order, ties in insertion order
    assert popped == [(1, "a"), (3, "b"), (5, "c"), (5, "d")]


def test_the_virtual_clock_refuses_to_go_back() -> None:
    # Given a clock at 10 ms
    clock = VirtualClock()
    clock.advance_to(10)
    # When / Then: going back raises the named error
    with pytest.raises(SimulationError):
        clock.advance_to(9)
    assert clock.now_ms == 10


# -- network ---------------------------------------------------------------------------------------


def test_a_partition_cuts_links_between_groups_until_it_heals() -> None:
    # Given {0,1} | {2,3} from 100 ms to 500 ms
    partition = Partition.of([{0, 1}, {2, 3}], start_ms=100, heal_ms=500)
    network = SimulatedNetwork(NetworkConfig(delay=FixedDelay(7)), [partition], random.Random(1))
    # When messages are routed before, during and after
    before = network.route(0, 2, 50)
    inside = network.route(0, 1, 200)
    across = network.route(0, 2, 200)
    after = network.route(0, 2, 500)
    # Then only the cross-group message during the partition is lost
    assert (before, inside, across, after) == ([57], [207], [], [507])
    assert network.stats.partitioned == 1 and network.last_heal_ms == 500


def test_the_network_drops_and_duplicates_at_about_the_configured_rates() -> None:
    # Given 20% drops and 10% duplicates
    config = NetworkConfig(delay=FixedDelay(1), drop_probability=0.2, duplicate_probability=0.1)
    network = SimulatedNetwork(config, [], random.Random(7))
    # When 10,000 messages are routed
    copies = [len(network.route(0, 1, 0)) for _ in range(10_000)]
    # Then the counts are near the rates
    assert 1_800 < copies.count(0) < 2_200
    assert 700 < copies.count(2) < 1_100


def test_the_same_seed_routes_every_message_the_same_way() -> None:
    # Given two networks with long-tail delays and reordering from the same seed
    config = NetworkConfig(delay=LongTailDelay(), drop_probability=0.1, reorder_probability=0.2)
    a = SimulatedNetwork(config, [], random.Random(42))
    b = SimulatedNetwork(config, [], random.Random(42))
    # When both route the same traffic / Then identical fates
    assert [a.route(0, 1, t) for t in range(500)] == [b.route(0, 1, t) for t in range(500)]


def test_delay_models_stay_in_their_ranges() -> None:
    # Given a seeded rng / When each model is sampled / Then within bounds
    rng = random.Random(3)
    uniform = [UniformDelay(5, 9).sample(rng) for _ in range(1000)]
    tail = [LongTailDelay(base_ms=10, max_ms=300).sample(rng) for _ in range(1000)]
    assert min(uniform) == 5 and max(uniform) == 9
    assert min(tail) >= 10 and max(tail) <= 300 and max(tail) > 20


def test_the_durable_store_keeps_the_last_persisted_state() -> None:
    # Given two writes for validator 2
    store: DurableStore[str] = DurableStore()
    store.persist(2, "round 3")
    store.persist(2, "round 4")
    # When loading / Then the latest, and nothing for an unknown validator
    assert (store.load(2), store.load(1), store.writes) == ("round 4", None, 2)


def test_no_message_is_dropped_after_gst() -> None:
    # Given a network dropping half the messages until GST at 1,000 ms
    config = NetworkConfig(delay=FixedDelay(1), drop_probability=0.5, gst_ms=1_000)
    network = SimulatedNetwork(config, [], random.Random(5))
    # When messages are routed before and after GST
    before = [len(network.route(0, 1, 999)) for _ in range(200)]
    after = [len(network.route(0, 1, 1_000)) for _ in range(200)]
    # Then drops happen only before, and liveness is measured from GST on
    assert 0 in before and 0 not in after
    assert network.last_heal_ms == 1_000
