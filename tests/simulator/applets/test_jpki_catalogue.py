"""Every persona of the catalogue (fixtures/personas/CATALOGUE.md) is a working card.

Each one loads, powers on, serves its authentication certificate (EF 000A, behind the
authentication PIN on smartphone tokens) and CA certificates, and signs with the matching key.
Relying-party verdicts (expired, revoked, wrong hierarchy, ...) are about the certificates, not
the card: the card serves them all the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from card_helpers import read_ef, select_ef, select_jpki, tx, verify
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simulator import VirtualCard
from simulator.applets.jpki import PHONE_TOKENS
from simulator.personalization import builtin_personas, fixtures_root, load_persona

SHA256_DI = bytes.fromhex("3031300d060960864801650304020105000420")
MESSAGE = b"mynasim catalogue test"
CATALOGUE = (
    "default",
    "under15",
    "android",
    "ios",
    "expired",
    "not-yet-valid",
    "address-changed",
    "renewed",
    "renewed-previous",
    "key-compromise",
    "certificate-hold",
    "middle-generation",
    "other-hierarchy",
    "unknown-critical-extension",
    "production-policy",
    "substitution-flags",
    "long-name",
    "overseas",
    "era-meiji",
    "era-taisho",
    "era-showa",
    "era-heisei",
    "era-reiwa",
)
WITHOUT_SIGN = {"under15", "era-reiwa"}  # cards of holders under 15


def _der(content: bytes) -> bytes:
    """The DER certificate at the start of a certificate EF; the rest must be FF filler."""
    assert content[:2] == b"\x30\x82"
    size = int.from_bytes(content[2:4], "big") + 4
    assert set(content[size:]) <= {0xFF}
    return content[:size]


def _powered(name: str) -> Iterator[VirtualCard]:
    card = VirtualCard.from_persona(name)
    assert card.power_on() == card.persona.atr
    select_jpki(card)
    yield card
    card.power_off()


@pytest.fixture
def ios() -> Iterator[VirtualCard]:
    yield from _powered("ios")


def test_catalogue_personas_are_the_built_in_ones() -> None:
    assert set(CATALOGUE) <= set(builtin_personas())
    assert len(CATALOGUE) == len(set(CATALOGUE)) == 23


@pytest.mark.parametrize("name", builtin_personas())
def test_persona_powers_on_and_serves_its_auth_certificate(name: str) -> None:
    persona = load_persona(name)
    assert persona.auth.certificate is not None and persona.auth.private_key is not None
    for card in _powered(name):
        if persona.token_label in PHONE_TOKENS:
            assert verify(card, 0x0018, persona.auth_pin.value) == 0x9000
        assert _der(read_ef(card, 0x000A)) == persona.auth.certificate
        assert _der(read_ef(card, 0x000B)) == persona.auth.ca_certificate
        assert _der(read_ef(card, 0x0002)) == persona.sign.ca_certificate
        token_info = read_ef(card, 0x0006)
        assert token_info[:32] == persona.token_label.encode("ascii").ljust(32)
        assert token_info[80:96] == persona.token_serial.encode("ascii")
        has_sign = persona.sign.certificate is not None
        assert has_sign == (name not in WITHOUT_SIGN)
        assert read_ef(card, 0x0008) == bytes([0x8F if has_sign else 0x00, 0x8F, 0x00])
        # the key behind EF 000A signs, after the PIN, and matches the certificate it serves
        assert verify(card, 0x0018, persona.auth_pin.value) == 0x9000
        assert select_ef(card, 0x0017) == 0x9000
        digest_info = SHA256_DI + hashlib.sha256(MESSAGE).digest()
        signature, sw = tx(card, f"802A0080{len(digest_info):02X}{digest_info.hex()}00")
        assert (sw, len(signature)) == (0x9000, 256)
        key = x509.load_der_x509_certificate(persona.auth.certificate).public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        key.verify(signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize("name", sorted(set(CATALOGUE) - WITHOUT_SIGN))
def test_persona_serves_its_sign_certificate_after_the_password(name: str) -> None:
    persona = load_persona(name)
    for card in _powered(name):
        assert select_ef(card, 0x0001) == 0x9000
        assert tx(card, "00B0000004") == (b"", 0x6982)
        assert verify(card, 0x001B, persona.sign_pin.value) == 0x9000
        assert _der(read_ef(card, 0x0001)) == persona.sign.certificate


@pytest.mark.parametrize("name", sorted(WITHOUT_SIGN))
def test_under_15_cards_have_no_signature_certificate(name: str) -> None:
    for card in _powered(name):
        assert select_ef(card, 0x0001) == 0x6A82
        assert select_ef(card, 0x001A) == 0x6A82


# -------------------------------------------------------------------------- the iOS token


def test_ios_token_label_is_a_phone_token(ios: VirtualCard) -> None:
    assert ios.persona.token_label == "JPKIAPIOSTOKEN"  # noqa: S105 - a label, not a secret
    assert "JPKIAPIOSTOKEN" in PHONE_TOKENS
    assert read_ef(ios, 0x0006)[:32] == b"JPKIAPIOSTOKEN".ljust(32)


def test_ios_auth_certificate_needs_the_auth_pin(ios: VirtualCard) -> None:
    assert select_ef(ios, 0x000A) == 0x9000
    assert tx(ios, "00B0000004") == (b"", 0x6982)
    assert tx(ios, "00B08A0004") == (b"", 0x6982)  # by SFI too
    assert verify(ios, 0x001B, ios.persona.sign_pin.value) == 0x9000  # not this one
    assert select_ef(ios, 0x000A) == 0x9000
    assert tx(ios, "00B0000004")[1] == 0x6982
    assert verify(ios, 0x0018, ios.persona.auth_pin.value) == 0x9000
    certificate = _der(read_ef(ios, 0x000A))
    assert certificate == ios.persona.auth.certificate
    assert certificate == (fixtures_root() / "pki" / "ee" / "ios-auth.der").read_bytes()


def test_ios_auth_pin_resets_with_power(ios: VirtualCard) -> None:
    assert verify(ios, 0x0018, ios.persona.auth_pin.value) == 0x9000
    assert select_ef(ios, 0x000A) == 0x9000
    assert tx(ios, "00B0000004")[1] == 0x9000
    ios.power_off()
    ios.power_on()
    select_jpki(ios)
    assert select_ef(ios, 0x000A) == 0x9000
    assert tx(ios, "00B0000004") == (b"", 0x6982)


# ----------------------------------------------------------- what the odd cards put where


def test_other_hierarchy_card_holds_the_sign_root_in_the_auth_ca_file() -> None:
    sign_root = (fixtures_root() / "pki" / "ca" / "sign-ca-3.der").read_bytes()
    for card in _powered("other-hierarchy"):
        assert _der(read_ef(card, 0x000B)) == sign_root
        issuer = x509.load_der_x509_certificate(_der(read_ef(card, 0x000A))).issuer
        assert "OU=JPKI for digital signature" in issuer.rfc4514_string()


def test_revoked_and_expired_cards_still_work_as_cards() -> None:
    """Revocation and validity are for relying parties; the chip does not know about them."""
    for name in ("key-compromise", "expired", "not-yet-valid"):
        persona = load_persona(name)
        for card in _powered(name):
            assert verify(card, 0x0018, persona.auth_pin.value) == 0x9000
            assert verify(card, 0x001B, persona.sign_pin.value) == 0x9000
