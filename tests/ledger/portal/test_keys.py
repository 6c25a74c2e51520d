"""Organization keys sealed at rest, and the strict parsing of the key-encryption key."""

from __future__ import annotations

import base64
import hashlib

import pytest
from django.core.exceptions import ImproperlyConfigured

from kernel import envelope
from ledger import keys
from ledger.errors import LedgerError


def test_a_sealed_key_opens_only_for_its_organization_and_key_encryption_key(settings) -> None:
    # given a key sealed for organization 7
    settings.LEDGER_KEY_ENCRYPTION_KEY = "11" * 32
    private_key = keys.generate()
    sealed = keys.seal(private_key, organization_id=7)
    # when opened for 7 / for 8 / after the KEK changed
    opened = keys.open_key(sealed, organization_id=7)
    with pytest.raises(keys.KeyUnsealError):
        keys.open_key(sealed, organization_id=8)
    settings.LEDGER_KEY_ENCRYPTION_KEY = "22" * 32
    with pytest.raises(keys.KeyUnsealError):
        keys.open_key(sealed, organization_id=7)
    # then only the first gives the key back, and the ciphertext does not contain it
    assert opened.private_bytes_raw() == private_key.private_bytes_raw()
    assert private_key.private_bytes_raw() not in sealed.ciphertext
    assert sealed.public_key == keys.public_key_hex(private_key)


def test_the_key_encryption_key_is_parsed_strictly(settings) -> None:
    settings.LEDGER_KEY_ENCRYPTION_KEY = base64.b64encode(bytes(range(32))).decode()
    assert keys.key_encryption_key() == bytes(range(32))
    for bad in ("abc", "00" * 16, "zz" * 32):
        settings.LEDGER_KEY_ENCRYPTION_KEY = bad
        with pytest.raises(ImproperlyConfigured):
            keys.key_encryption_key()


def test_production_refuses_to_derive_a_key_encryption_key(settings, monkeypatch) -> None:
    # given production without LEDGER_KEY_ENCRYPTION_KEY
    settings.LEDGER_KEY_ENCRYPTION_KEY = None
    monkeypatch.delenv("LEDGER_KEY_ENCRYPTION_KEY", raising=False)
    settings.PRODUCTION = False
    development = keys.key_encryption_key()
    # then development derives a stable key from SECRET_KEY, production fails loudly
    assert len(development) == 32 and keys.key_encryption_key() == development
    settings.PRODUCTION = True
    with pytest.raises(ImproperlyConfigured):
        keys.key_encryption_key()


def test_a_key_sealed_under_the_legacy_development_key_still_opens_in_development(settings) -> None:
    # given a key sealed, as before the HKDF derivation, under SHA-256 of the legacy label
    settings.LEDGER_KEY_ENCRYPTION_KEY, settings.PRODUCTION = None, False
    legacy = hashlib.sha256(b"alliance-ledger/dev-kek/v1\x00" + settings.SECRET_KEY.encode())
    private_key = keys.generate()
    public_key = keys.public_key_hex(private_key)
    aad = b"alliance-portal/org-key/v1\x00" + b"7\x00" + public_key.encode()
    old = envelope.seal(legacy.digest(), private_key.private_bytes_raw(), aad=aad)
    sealed = keys.SealedKey(public_key, old.nonce, old.ciphertext)
    # when it is opened without a configured key, and with one
    opened = keys.open_key(sealed, organization_id=7)
    settings.LEDGER_KEY_ENCRYPTION_KEY = legacy.hexdigest()
    explicit = keys.open_key(sealed, organization_id=7)
    settings.LEDGER_KEY_ENCRYPTION_KEY = "33" * 32
    # then development falls back to the legacy key, a configured key never does
    assert opened.private_bytes_raw() == private_key.private_bytes_raw()
    assert explicit.private_bytes_raw() == private_key.private_bytes_raw()
    with pytest.raises(keys.KeyUnsealError):
        keys.open_key(sealed, organization_id=7)
    # and the current development key is the HKDF one, not the legacy one
    settings.LEDGER_KEY_ENCRYPTION_KEY = None
    assert keys.key_encryption_key() != legacy.digest()
    assert keys.key_encryption_key() == envelope.derive_development_key(
        info=b"alliance-portal/ledger/dev-kek"
    )


def test_importing_the_same_key_again_is_a_no_op_and_another_key_is_refused_once_used(
    world,
) -> None:
    # given acme imported as member-00 and a signed row
    from ledger import services
    from ledger.models import LedgerOutbox, LedgerSender, OrganizationKey
    from tests.ledger.portal.support import org_key

    first = services.organization_key_import(
        organization=world.acme,
        ledger_id="member-00",
        private_key=org_key("member-00"),
        next_nonce=5,
    )
    LedgerOutbox.objects.create(
        organization=world.acme, tx_type="anchor", payload={}, idempotency_key="k", nonce=5
    )
    # when the same import runs again, then with another key
    again = services.organization_key_import(
        organization=world.acme, ledger_id="member-00", private_key=org_key("member-00")
    )
    with pytest.raises(LedgerError):
        services.organization_key_import(
            organization=world.acme, ledger_id="member-01", private_key=org_key("member-01")
        )
    # then nothing changed
    assert again.pk == first.pk
    assert LedgerSender.objects.get(organization=world.acme).next_nonce == 5
    assert OrganizationKey.objects.filter(organization=world.acme, status="active").count() == 1
