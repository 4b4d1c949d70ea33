"""The built-in personas `under15` (no signature certificate) and `android` (smartphone token).

jpki-card-reference.md §3.1 (EF 0008, EF 000A on JPKIAPGPSETOKEN), §8 (EF 0006), §12;
jpki-pki-and-relying-parties.md §1.6 (under-15 cards carry no signature certificate).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

import pytest
from card_helpers import read_ef, select_ef, select_jpki, tx, verify
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from simulator import VirtualCard
from simulator.personalization import PinSpec, fixtures_root, load_persona
from simulator.personalization.persona import Persona, read_persona_document

PERSONAS = ("default", "under15", "android")
SHA256_DI = bytes.fromhex("3031300d060960864801650304020105000420")
MESSAGE = b"mynasim persona test"
PKI = fixtures_root() / "pki"


@pytest.fixture
def under15() -> Iterator[VirtualCard]:
    card = VirtualCard.from_persona("under15")
    card.power_on()
    select_jpki(card)
    yield card
    card.power_off()


@pytest.fixture
def android() -> Iterator[VirtualCard]:
    card = VirtualCard.from_persona("android")
    card.power_on()
    select_jpki(card)
    yield card
    card.power_off()


def _der(content: bytes) -> bytes:
    """The DER certificate at the start of a certificate EF (the rest is FF filler)."""
    assert content[:2] == b"\x30\x82"
    return content[: int.from_bytes(content[2:4], "big") + 4]


def _public_key(certificate: bytes) -> rsa.RSAPublicKey:
    key = x509.load_der_x509_certificate(certificate).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _common_name(certificate: bytes) -> str:
    subject = x509.load_der_x509_certificate(certificate).subject
    value = subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(value, str)
    return value


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------------- under 15: the card


def test_under15_certificate_flags_show_no_signature_certificate(under15: VirtualCard) -> None:
    assert read_ef(under15, 0x0008) == bytes.fromhex("008F00")


@pytest.mark.parametrize("fid", [0x0001, 0x001A], ids=["sign-certificate", "sign-key"])
def test_under15_has_no_signature_certificate_or_key(under15: VirtualCard, fid: int) -> None:
    assert select_ef(under15, fid) == 0x6A82


def test_under15_still_has_the_signing_password_and_the_signature_ca(
    under15: VirtualCard,
) -> None:
    persona = under15.persona
    assert verify(under15, 0x001B, persona.sign_pin.value) == 0x9000
    assert _der(read_ef(under15, 0x0002)) == (PKI / "ca" / "sign-ca-3.der").read_bytes()


def test_under15_auth_certificate_matches_the_persona(under15: VirtualCard) -> None:
    certificate = _der(read_ef(under15, 0x000A))  # free on the plastic card
    assert certificate == under15.persona.auth.certificate
    assert certificate == (PKI / "ee" / "under15-auth.der").read_bytes()
    assert _common_name(certificate) == "990003M8QZTRWD26204003A"


def test_under15_auth_key_signs_after_verify(under15: VirtualCard) -> None:
    persona = under15.persona
    assert persona.auth.certificate is not None
    assert select_ef(under15, 0x0017) == 0x9000
    digest_info = SHA256_DI + hashlib.sha256(MESSAGE).digest()
    apdu = f"802A0080{len(digest_info):02X}{digest_info.hex()}00"
    assert tx(under15, apdu) == (b"", 0x6982)  # not before the PIN
    assert verify(under15, 0x0018, persona.auth_pin.value) == 0x9000
    assert select_ef(under15, 0x0017) == 0x9000
    signature, sw = tx(under15, apdu)
    assert (sw, len(signature)) == (0x9000, 256)
    _public_key(persona.auth.certificate).verify(
        signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256()
    )


def test_under15_token_info_carries_the_persona_serial(under15: VirtualCard) -> None:
    token_info = read_ef(under15, 0x0006)
    assert token_info[:32] == b"JPKIAPICCTOKEN2".ljust(32)
    assert token_info[80:96] == b"0000000099000002"
    assert token_info[80:96] == under15.persona.token_serial.encode("ascii")


def test_personas_are_distinct_cards() -> None:
    personas = [load_persona(name) for name in PERSONAS]
    serials = {persona.token_serial for persona in personas}
    certificates = {persona.auth.certificate for persona in personas}
    keys: set[rsa.RSAPublicNumbers] = set()
    for persona in personas:
        assert persona.auth.private_key is not None
        keys.add(persona.auth.private_key.public_key().public_numbers())
    assert len(serials) == len(certificates) == len(keys) == len(PERSONAS)
    cards = [VirtualCard(persona) for persona in personas]
    read: set[bytes] = set()
    for card in cards:
        card.power_on()
        select_jpki(card)
        read.add(read_ef(card, 0x0006)[80:96])
        card.power_off()
    assert len(read) == len(PERSONAS)


# --------------------------------------------------------------------- android: the token


def test_android_token_label(android: VirtualCard) -> None:
    token_info = read_ef(android, 0x0006)
    assert token_info[:32] == b"JPKIAPGPSETOKEN".ljust(32)
    assert token_info[80:96] == b"0000000099000003"


def test_android_auth_certificate_needs_the_auth_pin(android: VirtualCard) -> None:
    assert select_ef(android, 0x000A) == 0x9000
    assert tx(android, "00B0000004") == (b"", 0x6982)
    assert tx(android, "00B08A0004") == (b"", 0x6982)  # by SFI too
    assert verify(android, 0x001B, android.persona.sign_pin.value) == 0x9000  # not this one
    assert select_ef(android, 0x000A) == 0x9000
    assert tx(android, "00B0000004")[1] == 0x6982
    assert verify(android, 0x0018, android.persona.auth_pin.value) == 0x9000
    certificate = _der(read_ef(android, 0x000A))
    assert certificate == android.persona.auth.certificate
    assert certificate == (PKI / "ee" / "android-auth.der").read_bytes()


def test_android_signature_certificate_needs_the_signing_password(android: VirtualCard) -> None:
    assert select_ef(android, 0x0001) == 0x9000
    assert tx(android, "00B0000004") == (b"", 0x6982)
    assert verify(android, 0x0018, android.persona.auth_pin.value) == 0x9000  # does not open it
    assert select_ef(android, 0x0001) == 0x9000
    assert tx(android, "00B0000004")[1] == 0x6982
    assert verify(android, 0x001B, android.persona.sign_pin.value) == 0x9000
    certificate = _der(read_ef(android, 0x0001))
    assert certificate == android.persona.sign.certificate
    assert certificate == (PKI / "ee" / "android-sign.der").read_bytes()


# ------------------------------------------------------------------ the persona loader


def _assert_pair_matches(certificate: bytes | None, key: rsa.RSAPrivateKey | None) -> None:
    assert certificate is not None and key is not None
    assert key.key_size == 2048
    assert _public_key(certificate).public_numbers() == key.public_key().public_numbers()


def _assert_certificate(
    certificate: bytes, serial: int, common_name: str, not_before: str, not_after: str
) -> None:
    parsed = x509.load_der_x509_certificate(certificate)
    assert parsed.serial_number == serial
    assert _common_name(certificate) == common_name
    assert parsed.not_valid_before_utc == _utc(not_before)
    assert parsed.not_valid_after_utc == _utc(not_after)


def test_under15_persona_values() -> None:
    persona = load_persona("under15")
    path = fixtures_root() / "personas" / "under15.toml"
    assert persona.name == "under15"
    assert persona.path == path.resolve()
    assert "under 15" in persona.description
    assert persona.atr == bytes.fromhex("3BE000FF8131FE4514")
    assert persona.token_label == "JPKIAPICCTOKEN2"  # noqa: S105 - a label, not a secret
    assert persona.token_serial == "0000000099000002"  # noqa: S105 - a serial number
    assert persona.auth_pin == PinSpec(value=b"1234", max_tries=3, remaining=3)
    assert persona.sign_pin == PinSpec(value=b"ABC123", max_tries=5, remaining=5)
    assert persona.sign.certificate is None
    assert persona.sign.private_key is None
    assert persona.sign.ca_certificate == (PKI / "ca" / "sign-ca-3.der").read_bytes()
    assert persona.auth.certificate == (PKI / "ee" / "under15-auth.der").read_bytes()
    assert persona.auth.ca_certificate == (PKI / "ca" / "auth-ca-3.der").read_bytes()
    _assert_pair_matches(persona.auth.certificate, persona.auth.private_key)
    assert persona.auth.certificate is not None
    _assert_certificate(
        persona.auth.certificate,
        0x3C5E7A03,
        "990003M8QZTRWD26204003A",
        "2024-09-02T02:10:30",
        "2029-03-15T14:59:59",  # 5th birthday after issuance, as the generator computes
    )
    document = read_persona_document(path)
    assert document.holder is not None
    assert document.holder.birth_date == dt.date(2014, 3, 15)
    assert document.holder.municipality_code == "26204"
    assert document.sign.issuance is None
    assert document.auth.issuance is not None
    assert document.auth.issuance.issued_at == _utc("2024-09-02T02:10:30")


def test_android_persona_values() -> None:
    persona = load_persona("android")
    path = fixtures_root() / "personas" / "android.toml"
    assert persona.name == "android"
    assert persona.path == path.resolve()
    assert "Android" in persona.description
    assert persona.atr == bytes.fromhex("3BE000FF8131FE4514")
    assert persona.token_label == "JPKIAPGPSETOKEN"  # noqa: S105 - a label, not a secret
    assert persona.token_serial == "0000000099000003"  # noqa: S105 - a serial number
    assert persona.auth_pin == PinSpec(value=b"1234", max_tries=3, remaining=3)
    assert persona.sign_pin == PinSpec(value=b"ABC123", max_tries=5, remaining=5)
    expected = {
        "auth": (persona.auth, 0x3C5E7A04, "990004P2XJVNKE13101003A"),
        "sign": (persona.sign, 0x3C5E7A05, "990005G6BHYCLF13101003A"),
    }
    for name, (pair, serial, common_name) in expected.items():
        assert pair.certificate == (PKI / "ee" / f"android-{name}.der").read_bytes()
        assert pair.ca_certificate == (PKI / "ca" / f"{name}-ca-3.der").read_bytes()
        _assert_pair_matches(pair.certificate, pair.private_key)
        assert pair.certificate is not None
        _assert_certificate(
            pair.certificate, serial, common_name, "2025-06-10T04:31:07", "2029-08-20T14:59:59"
        )
    document = read_persona_document(path)
    assert document.holder is not None
    assert document.holder.birth_date == dt.date(1985, 8, 20)
    assert document.holder.municipality_code == "13101"


def test_android_keys_differ_from_the_default_card(default_persona: Persona) -> None:
    android = load_persona("android")
    for mine, theirs in (
        (android.auth, default_persona.auth),
        (android.sign, default_persona.sign),
    ):
        assert mine.private_key is not None and theirs.private_key is not None
        assert mine.certificate != theirs.certificate
        assert (
            mine.private_key.public_key().public_numbers()
            != theirs.private_key.public_key().public_numbers()
        )
