"""Issue 5 items 4-6: the default persona's card-info data, generated from its holder data,
checked by the independent verifier (conformance/card_info_verify.py) with the test issuer
keys; a flipped byte in any signed structure fails."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conformance.card_info_verify import (
    CardInfoVerificationError,
    verify_age_record,
    verify_basic_four,
    verify_card_face,
    verify_cv_certificate,
    verify_integrity,
    verify_my_number_ef,
    verify_my_number_image,
)
from simulator.personalization import load_persona
from simulator.personalization.card_data import CardInfo
from simulator.personalization.persona import PersonaError, fixtures_root

KEYS = fixtures_root() / "pki" / "keys"


def _public(name: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_private_key((KEYS / f"{name}.pem").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key()


@pytest.fixture(scope="module")
def info() -> CardInfo:
    card_info = load_persona("default").card_info
    assert card_info is not None
    return card_info


def test_text_ap_data_matches_the_holder(info: CardInfo) -> None:
    number = verify_my_number_ef(info.text.my_number)
    assert number.number == "990000000019" and number.check_digit_valid
    basic = verify_basic_four(info.text.basic_four)
    assert (basic.name, basic.sex, basic.birth_date) == ("試験　花子", "2", dt.date(1985, 8, 20))
    assert basic.address == "東京都千代田区霞が関２－１－２"  # noqa: RUF001 - full-width, as printed
    assert info.text.pin_a.value == b"990000000019"
    # printed 昭和60年8月20日, expiry 2034, security code 4721
    assert info.text.pin_b.value == b"60082020344721" == info.surface.pin_b.value
    assert info.surface.birth_key.value == b"600820"
    assert info.text.pin.value == b"1234" and info.registry.juki_pin.value == b"1234"


def test_signed_structures_verify_with_the_test_issuer_keys(info: CardInfo) -> None:
    text_issuer = verify_cv_certificate(info.text.cv_certificate, _public("cv-text-ca"))
    assert text_issuer.certifier_key_id.startswith(b"6000033")
    verify_integrity(
        info.text.my_number,
        info.text.basic_four,
        info.text.integrity,
        text_issuer.subject_public_key,
    )
    surface_issuer = verify_cv_certificate(info.surface.cv_certificate, _public("cv-surface-ca"))
    assert surface_issuer.certifier_key_id.startswith(b"6000023")
    face = verify_card_face(info.surface.card_face, surface_issuer.subject_public_key)
    verify_age_record(info.surface.age_record, surface_issuer.subject_public_key)
    verify_my_number_image(info.surface.my_number_image, surface_issuer.subject_public_key)
    assert face is not None
    mf = verify_cv_certificate(info.mf_objects[0x7F21], _public("cv-mf-intermediate"))
    assert mf.subject_public_key.public_numbers() == _public("cv-text-ca").public_numbers()


def test_images_are_png_and_jpeg2000(info: CardInfo) -> None:
    face = info.surface.card_face
    assert face.count(b"\x89PNG\r\n\x1a\n") == 3  # name, address, security code
    assert b"\x00\x00\x00\x0cjP  \r\n\x87\n" in face  # JP2 signature box
    assert b"\x89PNG" in info.surface.my_number_image


@pytest.mark.parametrize("where", ["integrity", "card_face", "age_record", "cv"])
def test_a_flipped_byte_fails(info: CardInfo, where: str) -> None:
    issuer = verify_cv_certificate(
        info.text.cv_certificate, _public("cv-text-ca")
    ).subject_public_key
    surface = verify_cv_certificate(
        info.surface.cv_certificate, _public("cv-surface-ca")
    ).subject_public_key
    text = info.text
    checks = {
        "integrity": (info.text.integrity,
                      lambda b: verify_integrity(text.my_number, text.basic_four, b, issuer)),
        "card_face": (info.surface.card_face, lambda b: verify_card_face(b, surface)),
        "age_record": (info.surface.age_record, lambda b: verify_age_record(b, surface)),
        "cv": (info.text.cv_certificate, lambda b: verify_cv_certificate(b, _public("cv-text-ca"))),
    }  # fmt: skip
    data, check = checks[where]
    for index in range(0, len(data), max(1, len(data) // 40)):
        tampered = bytearray(data)
        tampered[index] ^= 0x01
        if where == "card_face" and index >= data.find(b"\xdf\x29"):
            continue  # DF29/DF2A follow the signature and are not covered (§9.4)
        with pytest.raises((CardInfoVerificationError, ValueError)):
            check(bytes(tampered))


def test_missing_generated_files_are_a_clear_error(tmp_path: Path) -> None:
    source = fixtures_root() / "personas" / "default.toml"
    text = source.read_text().replace('"../card-info/default"', f'"{tmp_path / "nothing"}"')
    text = text.replace('"../pki/', f'"{fixtures_root() / "pki"}/')
    persona = tmp_path / "personas" / "default.toml"
    persona.parent.mkdir()
    persona.write_text(text)
    with pytest.raises(PersonaError, match="missing; run `mynasim personalize`"):
        load_persona(persona)
