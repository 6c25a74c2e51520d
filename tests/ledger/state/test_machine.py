"""Door checks, block application, block proposal and the replica-facing executor."""

from __future__ import annotations

import hashlib

import pytest

from ledger.state import (
    INVALID_STATE_ROOT,
    MAX_BLOCK_BYTES,
    Anchor,
    ErrorCode,
    Executor,
    GenesisAccount,
    GenesisConfig,
    InvalidBlock,
    InvalidGenesis,
    InvalidTransaction,
    ReceiptStatus,
    StateDivergence,
    Transfer,
    ValidatorRemove,
    apply_block,
    decode_transactions,
    genesis_state,
    propose_block,
    validate_tx,
)
from tests.ledger.state.world import (
    World,
    fake_pop_verify,
    genesis_config,
    signing_key,
)

# A block timestamp after genesis (whose state has timestamp 0).
T = 1_000


def anchor(i: int) -> Anchor:
    return Anchor(hashlib.sha256(i.to_bytes(4, "big")).digest())


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda w: w.tx("org-x", anchor(1), key=signing_key("org-x")), ErrorCode.UNKNOWN_SENDER),
        (lambda w: w.tx("org-a", anchor(1), nonce=2), ErrorCode.BAD_NONCE),
        (lambda w: w.tx("org-a", anchor(1), key=signing_key("org-m")), ErrorCode.BAD_SIGNATURE),
        (lambda w: w.tx("org-a", anchor(1), chain_id="other-chain"), ErrorCode.WRONG_CHAIN),
    ],
)
def test_a_transaction_invalid_at_the_door_is_refused_by_the_mempool_and_invalidates_a_block(
    make: object, code: ErrorCode
) -> None:
    # given
    world = World()
    good = world.tx("org-m", anchor(0))
    bad = make(world)  # type: ignore[operator]
    root_before = world.state.root

    # when / then
    with pytest.raises(InvalidTransaction) as admission:
        validate_tx(world.state, bad)
    assert admission.value.code is code
    with pytest.raises(InvalidBlock) as block:
        apply_block(world.state, [good, bad], timestamp_ms=T)
    assert block.value.index == 1
    assert block.value.cause is not None and block.value.cause.code is code
    # the parent state is untouched (all-or-nothing)
    assert world.state.root == root_before and world.state.height == 0


def test_the_mempool_may_queue_future_nonces_within_a_window() -> None:
    world = World()
    later = world.tx("org-a", anchor(1), nonce=3)

    validate_tx(world.state, later, nonce_window=2)
    with pytest.raises(InvalidTransaction) as err:
        validate_tx(world.state, later, nonce_window=1)
    assert err.value.code is ErrorCode.BAD_NONCE


def test_nonces_are_strictly_sequential_inside_one_block() -> None:
    world = World()
    first, second = world.tx("org-a", anchor(1)), world.tx("org-a", anchor(2))

    with pytest.raises(InvalidBlock):
        apply_block(world.state, [second, first], timestamp_ms=T)
    state, receipts = apply_block(world.state, [first, second], timestamp_ms=T)

    assert [r.status for r in receipts] == [ReceiptStatus.COMMITTED] * 2
    assert state.next_nonce("org-a") == 3


def test_an_empty_block_advances_the_height_and_changes_the_root() -> None:
    world = World()
    root = world.state.root

    receipts = world.apply()

    assert receipts == ()
    assert world.state.height == 1
    assert world.state.root != root


def test_a_block_over_the_byte_limit_is_invalid() -> None:
    world = World()
    tx = world.tx("org-a", anchor(1))

    with pytest.raises(InvalidBlock) as err:
        apply_block(world.state, [tx] * (MAX_BLOCK_BYTES // len(tx.encoding) + 1), timestamp_ms=T)

    assert err.value.index == -1


def test_receipts_carry_height_and_position() -> None:
    world = World()
    world.apply()

    receipts = world.apply(world.tx("org-a", anchor(1)), world.tx("org-m", anchor(2)))

    assert [(r.height, r.index) for r in receipts] == [(2, 0), (2, 1)]


def test_undecodable_block_bytes_make_the_block_invalid() -> None:
    world = World()
    good = world.tx("org-a", anchor(1)).encode()

    with pytest.raises(InvalidBlock) as err:
        decode_transactions([good, good + b"\x00"])

    assert err.value.index == 1
    assert err.value.cause is not None and err.value.cause.code is ErrorCode.MALFORMED


def test_a_proposal_skips_door_failures_and_replays_to_the_same_root() -> None:
    # given candidates with a replay, a gap and a bad signature among good ones
    world = World()
    t1 = world.tx("org-a", anchor(1))
    t2 = world.tx("org-a", Transfer("a-eur", "b-eur", "EUR", 10**9))  # recorded, rejected
    gap = world.tx("org-m", anchor(3), nonce=5)
    forged = world.tx("org-m", anchor(4), nonce=1, key=signing_key("org-a"))
    t3 = world.tx("org-m", anchor(5))

    # when
    proposal = propose_block(world.state, [t1, t1, t2, gap, forged, t3], timestamp_ms=T)

    # then
    assert proposal.transactions == (t1, t2, t3)
    assert [(tx, e.code) for tx, e in proposal.excluded] == [
        (t1, ErrorCode.BAD_NONCE),
        (gap, ErrorCode.BAD_NONCE),
        (forged, ErrorCode.BAD_SIGNATURE),
    ]
    assert [r.code for r in proposal.receipts] == [None, ErrorCode.INSUFFICIENT_FUNDS, None]
    replayed, receipts = apply_block(world.state, proposal.transactions, timestamp_ms=T)
    assert replayed.root == proposal.state.root
    assert receipts == proposal.receipts


def test_a_proposal_defers_what_does_not_fit() -> None:
    world = World()
    txs = [world.tx("org-a", anchor(i)) for i in range(3)]

    proposal = propose_block(
        world.state, txs, timestamp_ms=T, max_block_bytes=2 * len(txs[0].encoding)
    )

    assert proposal.transactions == tuple(txs[:2])
    assert proposal.deferred == (txs[2],)


def test_a_proposal_stops_at_the_transaction_count_limit() -> None:
    world = World()
    txs = [world.tx("org-a", anchor(i)) for i in range(3)]

    proposal = propose_block(world.state, txs, timestamp_ms=T, max_transactions=1)

    assert proposal.transactions == (txs[0],)
    assert proposal.deferred == tuple(txs[1:])


def test_the_executor_runs_forks_from_one_parent_and_prunes_on_commit() -> None:
    # given
    world = World()
    executor = Executor(world.state)
    genesis_root = world.state.root
    left = world.tx("org-a", anchor(1))
    right = world.tx("org-a", anchor(2), nonce=1)

    # when two competing children and a grandchild are executed
    a = executor.execute(genesis_root, [left], T)
    b = executor.execute(genesis_root, [right], T)
    a2 = executor.execute(a.state_root, [world.tx("org-a", anchor(3))], 2 * T)

    # then
    assert len({genesis_root, a.state_root, b.state_root, a2.state_root}) == 4
    assert a.receipts[0].tx_hash == left.tx_hash

    # when the left child commits
    committed = executor.commit(a.state_root)

    # then its sibling is gone, its descendant kept
    assert committed.root == executor.committed.root == a.state_root
    assert executor.state(a2.state_root).height == 2
    with pytest.raises(LookupError):
        executor.state(b.state_root)
    with pytest.raises(LookupError):
        executor.execute(genesis_root, [right], T)  # its parent is pruned


def test_the_replica_hook_returns_a_root_for_wire_bytes_and_an_impossible_root_when_invalid() -> (
    None
):
    # given
    world = World()
    executor = Executor(world.state)
    genesis_root = world.state.root
    good = world.tx("org-a", anchor(1))
    forged = world.tx("org-m", anchor(2), key=signing_key("org-a"))

    # when
    root = executor.execute_root(genesis_root, [good.encode()], T)
    again = executor.execute_root(genesis_root, [good.encode()], T)
    invalid = executor.execute_root(genesis_root, [good.encode(), forged.encode()], T)
    garbage = executor.execute_root(genesis_root, [b"\x01\x02"], T)
    orphan = executor.execute_root(bytes(32), [], T)

    # then
    assert root == again == apply_block(world.state, [good], timestamp_ms=T)[0].root
    assert executor.receipts(root)[0].tx_hash == good.tx_hash
    assert invalid == garbage == orphan == INVALID_STATE_ROOT
    assert len(INVALID_STATE_ROOT) != 32  # so no 32-byte header root can ever match it


def test_a_proposal_through_the_executor_is_a_cache_hit_for_its_own_execution() -> None:
    world = World()
    executor = Executor(world.state)
    txs = [world.tx("org-a", anchor(1)), world.tx("org-a", anchor(2), nonce=7)]

    proposal = executor.propose(world.state.root, txs, timestamp_ms=T)
    root = executor.execute_root(world.state.root, [tx.encode() for tx in proposal.transactions], T)

    assert proposal.transactions == (txs[0],)
    assert root == proposal.state.root


def test_the_executor_reports_the_next_validator_set_after_a_validator_set_change() -> None:
    # given
    world = World()
    executor = Executor(world.state)
    remove = world.governed("org-a", ValidatorRemove("org-d"), ("org-a", "org-b", "org-c"))

    # when
    changed = executor.execute(world.state.root, [remove], T)
    child = executor.execute(changed.state_root, [], 2 * T)

    # then the changed block ends the epoch and its child runs the next one
    assert executor.reconfiguration(world.state.root) is None
    next_set = executor.reconfiguration(changed.state_root)
    assert next_set is not None and [v.org_id for v in next_set] == ["org-a", "org-b", "org-c"]
    assert (changed.state.epoch, child.state.epoch) == (0, 1)
    assert child.state.validator_set == next_set
    assert executor.reconfiguration(child.state_root) is None


def test_genesis_round_trips_through_a_json_ready_dict() -> None:
    config = genesis_config()

    again = GenesisConfig.from_dict(config.to_dict())

    assert again == config
    assert genesis_state(again, pop_verify=fake_pop_verify).root == World().state.root


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(validators=[]),
        lambda d: d["validators"].append(dict(d["validators"][0])),
        lambda d: d["validators"][0].update(proof_of_possession="00" * 96),
        lambda d: d["validators"][0].update(public_key="00" * 31),
        lambda d: d["accounts"].append(
            {"account_id": "z", "currency": "EUR", "owner": "org-z", "balance": 1}
        ),
        lambda d: d["accounts"].append(
            {"account_id": "z", "currency": "eur", "owner": "org-a", "balance": 1}
        ),
        lambda d: d["accounts"].append(
            {"account_id": "z", "currency": "EUR", "owner": "org-a", "balance": -1}
        ),
        lambda d: d.update(chain_id="Bad Chain"),
        lambda d: d.pop("validators"),
    ],
)
def test_an_inconsistent_genesis_is_refused(mutate: object) -> None:
    data = genesis_config().to_dict()
    mutate(data)  # type: ignore[operator]

    with pytest.raises(InvalidGenesis):
        genesis_state(GenesisConfig.from_dict(data), pop_verify=fake_pop_verify)


def test_genesis_accounts_define_the_initial_supply() -> None:
    world = World(
        accounts=(
            GenesisAccount("treasury", "EUR", "org-a", 1_000_000),
            GenesisAccount("ops", "EUR", "org-b", 250),
        )
    )

    assert world.state.supply("EUR") == 1_000_250
    assert world.state.supply("USD") == 0


def test_a_certified_block_is_replayed_and_must_reproduce_its_header_root() -> None:
    # given a block executed on one replica
    world = World()
    tx = world.tx("org-a", anchor(1))
    leader = Executor(world.state)
    header_root = leader.execute(world.state.root, [tx], T).state_root
    follower = Executor(world.state)

    # when another replica catches up on it
    result = follower.execute_certified(world.state.root, [tx.encode()], header_root, T)

    # then it agrees, and a lying header is detected
    assert result.state_root == header_root
    with pytest.raises(StateDivergence):
        Executor(world.state).execute_certified(world.state.root, [tx.encode()], bytes(32), T)
