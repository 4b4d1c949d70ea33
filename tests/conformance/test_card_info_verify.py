"""The independent card-info verifier against the builders: right key passes, another key
fails, and any single flipped byte makes verification (or parsing) fail."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

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
from simulator.apdu.tlv import decode_one
from simulator.personalization.cardinfo import (
    BasicFour,
    CardFace,
    CvCertificate,
    encode_age_record,
    encode_basic_four,
    encode_card_face,
    encode_cv_certificate,
    encode_integrity,
    encode_my_number_ef,
    encode_my_number_image,
    key_id,
)

BIRTH = dt.date(1980, 2, 17)
EXPIRY = dt.date(2035, 2, 17)


@dataclass(frozen=True)
class Files:
    issuer: rsa.RSAPrivateKey
    card: rsa.RSAPrivateKey
    other: rsa.RSAPrivateKey
    ef0001: bytes
    ef0002: bytes  # short form, with filler
    ef0002_long: bytes  # 82 HH LL form
    ef0003: bytes
    certificate: bytes
    face: bytes
    age: bytes
    my_number_image: bytes


@pytest.fixture(scope="session")
def files() -> Files:
    issuer, card, other = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)
    )
    ef0001 = encode_my_number_ef("123456789018")
    ef0002 = encode_basic_four(
        BasicFour("番号　花子", "東京都千代田区霞が関二丁目一番二号", BIRTH, "2"), allocated=160
    )
    face = CardFace(
        birth_date=BIRTH,
        sex="2",
        card_public_key=card.public_key(),
        name_image=b"\x89PNG name",
        address_image=b"\x89PNG address",
        photo=b"\x00\x00\x00\x0cjP  " + bytes(range(40)),
        expiry=EXPIRY,
        security_code_image=b"\x89PNG code",
    )
    return Files(
        issuer=issuer,
        card=card,
        other=other,
        ef0001=ef0001,
        ef0002=ef0002,
        ef0002_long=encode_basic_four(BasicFour("名" * 40, "住" * 40, BIRTH, "1")),
        ef0003=encode_integrity(ef0001, ef0002, issuer),
        certificate=encode_cv_certificate(
            CvCertificate(key_id("6000033", "001"), key_id("6000033", "002"), card.public_key()),
            issuer,
        ),
        face=encode_card_face(face, issuer, allocated=1200),
        age=encode_age_record(BIRTH, card.public_key(), issuer, allocated=600),
        my_number_image=encode_my_number_image(b"\x89PNG 123456789018", card.public_key(), issuer),
    )


def _flip(data: bytes, index: int, mask: int) -> bytes:
    index %= len(data)
    return data[:index] + bytes((data[index] ^ mask,)) + data[index + 1 :]


indexes = st.integers(0, 10_000)
masks = st.integers(1, 255)


# ---------------------------------------------------------------- text AP


def test_my_number_ef(files: Files) -> None:
    result = verify_my_number_ef(files.ef0001)
    assert result.number == "123456789018" and result.check_digit_valid
    assert not verify_my_number_ef(encode_my_number_ef("123456789012")).check_digit_valid
    for bad, reason in [
        (files.ef0001[:16], "16 bytes"),
        (b"\xff\x10\x0b" + files.ef0001[3:], "header"),
        (files.ef0001[:15] + b"\xff\x00", "last two"),
        (files.ef0001[:3] + b"12345678901A" + b"\xff\xff", "ASCII digits"),
    ]:
        with pytest.raises(CardInfoVerificationError, match=reason):
            verify_my_number_ef(bad)


def test_basic_four_both_length_forms(files: Files) -> None:
    short = verify_basic_four(files.ef0002)
    assert (short.name, short.birth_date, short.sex, short.long_form) == (
        "番号　花子",
        BIRTH,
        "2",
        False,
    )
    long = verify_basic_four(files.ef0002_long)
    assert long.long_form and long.name == "名" * 40


def test_basic_four_rejects_81_form_and_bad_offsets(files: Files) -> None:
    outer, _ = decode_one(files.ef0002)
    with pytest.raises(CardInfoVerificationError, match="length/tag form"):
        verify_basic_four(b"\xff\x20\x81" + bytes((len(outer.value),)) + outer.value)
    with pytest.raises(CardInfoVerificationError, match="DF21 offset 1"):
        verify_basic_four(_flip(files.ef0002, 7, 0x01))


def test_integrity_verifies(files: Files) -> None:
    result = verify_integrity(files.ef0001, files.ef0002, files.ef0003, files.issuer.public_key())
    assert result.my_number.number == "123456789018"
    assert result.basic_four.address == "東京都千代田区霞が関二丁目一番二号"


def test_integrity_other_key(files: Files) -> None:
    with pytest.raises(CardInfoVerificationError, match="DF33: signature does not verify"):
        verify_integrity(files.ef0001, files.ef0002, files.ef0003, files.other.public_key())


def test_integrity_precise_reasons(files: Files) -> None:
    public = files.issuer.public_key()
    other_number = encode_my_number_ef("123456789026")
    with pytest.raises(CardInfoVerificationError, match="DF31"):
        verify_integrity(other_number, files.ef0002, files.ef0003, public)
    name_changed = files.ef0002.replace("花子".encode(), "太郎".encode())
    with pytest.raises(CardInfoVerificationError, match="DF32"):
        verify_integrity(files.ef0001, name_changed, files.ef0003, public)


@given(st.sampled_from(["ef0001", "ef0002", "ef0003"]), indexes, masks)
def test_integrity_any_flip_fails(files: Files, which: str, index: int, mask: int) -> None:
    data = {"ef0001": files.ef0001, "ef0002": files.ef0002, "ef0003": files.ef0003}
    data[which] = _flip(data[which], index, mask)
    with pytest.raises(CardInfoVerificationError):
        verify_integrity(data["ef0001"], data["ef0002"], data["ef0003"], files.issuer.public_key())


# ---------------------------------------------------------------- CV certificate


def test_cv_certificate(files: Files) -> None:
    result = verify_cv_certificate(files.certificate, files.issuer.public_key())
    assert result.certifier_key_id == b"6000033\x08\x05001\x00\x00\x00\x00"
    assert result.subject_key_id[:12] == b"6000033\x08\x05002"
    assert result.subject_public_key.public_numbers() == files.card.public_key().public_numbers()
    with pytest.raises(CardInfoVerificationError, match="5F37: signature does not verify"):
        verify_cv_certificate(files.certificate, files.other.public_key())
    with pytest.raises(CardInfoVerificationError, match="filler"):
        verify_cv_certificate(files.certificate + b"\x00", files.issuer.public_key())


@given(indexes, masks)
def test_cv_certificate_any_flip_fails(files: Files, index: int, mask: int) -> None:
    with pytest.raises(CardInfoVerificationError):
        verify_cv_certificate(_flip(files.certificate, index, mask), files.issuer.public_key())


# ---------------------------------------------------------------- surface AP


def test_card_face(files: Files) -> None:
    result = verify_card_face(files.face, files.issuer.public_key())
    assert (result.birth_date, result.sex, result.expiry) == (BIRTH, "2", EXPIRY)
    assert result.card_public_key.public_numbers() == files.card.public_key().public_numbers()
    assert result.security_code_image == b"\x89PNG code"
    with pytest.raises(CardInfoVerificationError, match=r"DF28 .*signature does not verify"):
        verify_card_face(files.face, files.other.public_key())


def _unsigned_values(face: bytes) -> tuple[range, range]:
    """Byte ranges of the DF29 and DF2A values, which the DF28 signature does not cover."""
    outer, _ = decode_one(face)
    table, _ = decode_one(outer.value)
    ranges = []
    for field in (7, 8):  # DF29, DF2A: the 8th and 9th offsets
        start = int.from_bytes(table.value[2 * field : 2 * field + 2], "big")
        item, end = decode_one(face, start)
        ranges.append(range(end - len(item.value), end))
    return ranges[0], ranges[1]


@given(indexes, masks)
def test_card_face_any_flip_fails_or_shows(files: Files, index: int, mask: int) -> None:
    flipped = _flip(files.face, index, mask)
    index %= len(files.face)
    expiry_range, code_range = _unsigned_values(files.face)
    if index in expiry_range or index in code_range:
        # Not signed on real cards (§9.4): the flip must show in the result, never vanish.
        try:
            result = verify_card_face(flipped, files.issuer.public_key())
        except CardInfoVerificationError:
            return
        assert (result.expiry, result.security_code_image) != (EXPIRY, b"\x89PNG code")
        return
    with pytest.raises(CardInfoVerificationError):
        verify_card_face(flipped, files.issuer.public_key())


def test_age_record(files: Files) -> None:
    result = verify_age_record(files.age, files.issuer.public_key())
    assert result.birth_date == BIRTH
    assert result.card_public_key.public_numbers() == files.card.public_key().public_numbers()
    with pytest.raises(CardInfoVerificationError, match="DF13: signature does not verify"):
        verify_age_record(files.age, files.other.public_key())


@given(indexes, masks)
def test_age_record_any_flip_fails(files: Files, index: int, mask: int) -> None:
    with pytest.raises(CardInfoVerificationError):
        verify_age_record(_flip(files.age, index, mask), files.issuer.public_key())


def test_my_number_image(files: Files) -> None:
    result = verify_my_number_image(files.my_number_image, files.issuer.public_key())
    assert result.image == b"\x89PNG 123456789018"
    with pytest.raises(CardInfoVerificationError, match="DF43: signature does not verify"):
        verify_my_number_image(files.my_number_image, files.other.public_key())


@given(indexes, masks)
def test_my_number_image_any_flip_fails(files: Files, index: int, mask: int) -> None:
    with pytest.raises(CardInfoVerificationError):
        verify_my_number_image(_flip(files.my_number_image, index, mask), files.issuer.public_key())


def test_every_single_bit_flip_fails(files: Files) -> None:
    """Exhaustive companion of the hypothesis tests: bit 0 of every byte of every file."""
    public = files.issuer.public_key()
    checks = {
        "ef0001": lambda d: verify_integrity(d, files.ef0002, files.ef0003, public),
        "ef0002": lambda d: verify_integrity(files.ef0001, d, files.ef0003, public),
        "ef0003": lambda d: verify_integrity(files.ef0001, files.ef0002, d, public),
        "certificate": lambda d: verify_cv_certificate(d, public),
        "age": lambda d: verify_age_record(d, public),
        "my_number_image": lambda d: verify_my_number_image(d, public),
        "face": lambda d: verify_card_face(d, public),
    }
    unsigned = set().union(*_unsigned_values(files.face))
    for name, check in checks.items():
        data: bytes = getattr(files, name)
        for index in range(len(data)):
            if name == "face" and index in unsigned:
                continue
            with pytest.raises(CardInfoVerificationError):
                check(_flip(data, index, 0x01))
