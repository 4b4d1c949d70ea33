"""Issue 5 item 4: the catalogue's card-info personas, in-process: each credential opens
exactly its files, the data verifies with the test issuer keys, and the edge cases (long
form, 外字, eras, Gregorian printed date, every sex code) come out as the persona says."""

from __future__ import annotations

import pytest
from card_helpers import read_ef, select_ef, tx, verify
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conformance.card_info_verify import (
    verify_age_record,
    verify_basic_four,
    verify_card_face,
    verify_cv_certificate,
    verify_integrity,
)
from simulator import VirtualCard, load_persona
from simulator.personalization.persona import fixtures_root

TEXT_AP = "D3921000310001010408"
SURFACE_AP = "D3921000310001010402"
PERSONAS = ["default", "long-name", "substitution-flags", "era-meiji", "era-taisho",
            "era-showa", "era-heisei", "era-reiwa", "foreign-resident"]  # fmt: skip


def _ca(name: str) -> rsa.RSAPublicKey:
    pem = (fixtures_root() / "pki" / "keys" / f"{name}.pem").read_bytes()
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key()


def _card(name: str, aid: str) -> VirtualCard:
    card = VirtualCard.from_persona(name)
    card.power_on()
    assert tx(card, f"00A4040C0A{aid}")[1] == 0x9000
    return card


@pytest.mark.parametrize("name", PERSONAS)
def test_basic_four_with_pin_b_verifies(name: str) -> None:
    persona = load_persona(name)
    info = persona.card_info
    assert info is not None
    card = _card(name, TEXT_AP)
    assert verify(card, 0x0015, info.text.pin_b.value) == 0x9000  # 照合番号B
    basic = read_ef(card, 0x0002)
    assert select_ef(card, 0x0001) == 0x9000 and tx(card, "00B0000011")[1] == 0x6982
    card = _card(name, TEXT_AP)
    assert verify(card, 0x0014, info.text.pin_a.value) == 0x9000  # 照合番号A
    number = read_ef(card, 0x0001)
    issuer = verify_cv_certificate(read_ef(card, 0x0004), _ca("cv-text-ca")).subject_public_key
    verify_integrity(number, basic, read_ef(card, 0x0003), issuer)
    decoded = verify_basic_four(basic)
    holder = persona_holder(name)
    assert (decoded.name, decoded.address) == (holder["name"], holder["address"])
    assert decoded.sex == holder["sex"]
    assert decoded.long_form == (name == "long-name")


@pytest.mark.parametrize("name", PERSONAS)
def test_card_face_and_birth_key(name: str) -> None:
    info = load_persona(name).card_info
    assert info is not None
    card = _card(name, SURFACE_AP)
    assert verify(card, 0x0011, info.surface.birth_key.value) == 0x9000  # birth-date key
    age = read_ef(card, 0x0001)
    assert select_ef(card, 0x0002) == 0x9000 and tx(card, "00B0000004")[1] == 0x6982
    issuer = verify_cv_certificate(read_ef(card, 0x0004), _ca("cv-surface-ca")).subject_public_key
    verify_age_record(age, issuer)
    card = _card(name, SURFACE_AP)
    assert verify(card, 0x0012, info.surface.pin_b.value) == 0x9000  # 照合番号B
    face = verify_card_face(read_ef(card, 0x0002), issuer)
    assert face.photo.startswith(b"\x00\x00\x00\x0cjP  ")


@pytest.mark.parametrize(
    ("name", "birth_key"),
    [("era-meiji", b"450729"), ("era-taisho", b"010730"), ("era-showa", b"640107"),
     ("era-heisei", b"010108"), ("era-reiwa", b"010501"), ("foreign-resident", b"880309"),
     ("default", b"600820")],
)  # fmt: skip
def test_printed_birth_dates(name: str, birth_key: bytes) -> None:
    info = load_persona(name).card_info
    assert info is not None
    assert info.surface.birth_key.value == birth_key
    assert info.text.pin_b.value.startswith(birth_key)


def test_every_sex_code_occurs() -> None:
    assert {persona_holder(name)["sex"] for name in PERSONAS} == {"1", "2", "9"}


def persona_holder(name: str) -> dict[str, str]:
    import tomllib

    document = tomllib.loads((fixtures_root() / "personas" / f"{name}.toml").read_text())
    return {key: str(value) for key, value in document["holder"].items()}
