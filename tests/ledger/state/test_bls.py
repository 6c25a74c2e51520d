"""The injected proof-of-possession hook with the real BLS facade (blst: fast; skipped without it).

Everywhere else the state tests use a fake PoP; this checks the wiring the node will use:
``genesis_state(config, pop_verify=backend.PopVerify)``.
"""

from __future__ import annotations

import pytest

from ledger.consensus.crypto import BLSError, KeyGen, backend
from ledger.state import (
    ErrorCode,
    GenesisConfig,
    GenesisOrganization,
    GenesisValidator,
    InvalidGenesis,
    ReceiptStatus,
    ValidatorAdd,
    genesis_state,
)
from tests.ledger.state.world import VALIDATOR_ORGS, World, public_key, signing_key

try:
    BLS = backend("blst")
except BLSError:  # pragma: no cover - depends on the wheel being loadable here
    pytest.skip("the blst backend is not available", allow_module_level=True)


def bls_pair(name: str) -> tuple[bytes, bytes]:
    sk = KeyGen(("bls-secret:" + name).encode().ljust(32, b"."))
    return BLS.SkToPk(sk), BLS.PopProve(sk)


def real_genesis() -> GenesisConfig:
    validators = []
    for org in VALIDATOR_ORGS:
        pk, pop = bls_pair(org)
        validators.append(GenesisValidator(org, public_key(signing_key(org)), pk, pop))
    return GenesisConfig(
        chain_id="alliance-test",
        validators=tuple(validators),
        organizations=(GenesisOrganization("org-m", public_key(signing_key("org-m"))),),
    )


def test_genesis_accepts_real_proofs_of_possession_and_refuses_a_swapped_one() -> None:
    # given
    config = real_genesis()
    first, second = config.validators[0], config.validators[1]
    swapped = GenesisConfig(
        chain_id=config.chain_id,
        validators=(
            GenesisValidator(
                first.org_id, first.public_key, first.bls_public_key, second.proof_of_possession
            ),
            *config.validators[1:],
        ),
    )

    # when
    state = genesis_state(config, pop_verify=BLS.PopVerify)

    # then
    assert [v.bls_public_key for v in state.validator_set] == [
        v.bls_public_key for v in config.validators
    ]
    with pytest.raises(InvalidGenesis):
        genesis_state(swapped, pop_verify=BLS.PopVerify)


def test_validator_add_checks_the_real_proof_of_possession() -> None:
    # given a world whose state machine uses the real PopVerify
    world = World()
    world.state = genesis_state(real_genesis(), pop_verify=BLS.PopVerify)
    pk, pop = bls_pair("org-m")
    _, other_pop = bls_pair("org-x")

    # when
    (bad,) = world.apply(
        world.governed("org-a", ValidatorAdd("org-m", pk, other_pop), VALIDATOR_ORGS[:3])
    )
    (good,) = world.apply(
        world.governed("org-a", ValidatorAdd("org-m", pk, pop), VALIDATOR_ORGS[:3])
    )

    # then
    assert bad.code is ErrorCode.INVALID_PROOF_OF_POSSESSION
    assert good.status is ReceiptStatus.COMMITTED
    assert [v.org_id for v in world.state.next_validator_set()][-1] == "org-m"
