"""Byte layouts of the signed card-info files (integrity, CV certificate, card face, age
record, My Number image) and of the 0100/0401 record."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cardinfo_test_keys import CardInfoKeys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simulator.apdu.tlv import decode_all, decode_one
from simulator.personalization.cardinfo.basic_four import BasicFour, encode_basic_four
from simulator.personalization.cardinfo.card_face import (
    CardFace,
    encode_age_record,
    encode_card_face,
    encode_my_number_image,
    face_digest_info,
)
from simulator.personalization.cardinfo.cv_certificate import (
    TEST_TEXT_PREFIX,
    CvCertificate,
    encode_cv_certificate,
    key_id,
    public_key_tlv,
)
from simulator.personalization.cardinfo.integrity import encode_integrity
from simulator.personalization.cardinfo.my_number import encode_my_number_ef
from simulator.personalization.cardinfo.records import CardRecord, encode_card_record
from simulator.personalization.cardinfo.signing import SHA256_ALGORITHM_ID, sign_digest_info

BIRTH = dt.date(1980, 2, 17)
EXPIRY = dt.date(2035, 2, 17)


def test_sign_digest_info_matches_pkcs1v15(cardinfo_keys: CardInfoKeys) -> None:
    # PKCS#1 v1.5 is deterministic: the hand-made padding must equal cryptography's.
    message = b"mynasim"
    digest_info = b"\x30\x31" + SHA256_ALGORITHM_ID + b"\x04\x20" + hashlib.sha256(message).digest()
    key = cardinfo_keys.card
    assert sign_digest_info(key, digest_info) == key.sign(
        message, padding.PKCS1v15(), hashes.SHA256()
    )


def test_public_key_tlv(cardinfo_keys: CardInfoKeys) -> None:
    public = cardinfo_keys.card.public_key()
    raw = public_key_tlv(public)
    assert len(raw) == 265
    assert raw[:9] == bytes.fromhex("900301000191820100")
    assert int.from_bytes(raw[9:], "big") == public.public_numbers().n
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (rejection test)
    with pytest.raises(ValueError, match="RSA-2048"):
        public_key_tlv(small.public_key())


def test_key_id() -> None:
    kid = key_id(TEST_TEXT_PREFIX, "001")
    assert kid == b"6000033\x08\x05001\x00\x00\x00\x00"
    assert len(key_id("6000020", "123", b"\x00\x00\x00\x01")) == 16
    for args in (("600003", "001"), ("6000033", "01"), ("600003x", "001")):
        with pytest.raises(ValueError):
            key_id(*args)


def test_cv_certificate_layout(cardinfo_keys: CardInfoKeys) -> None:
    cert = encode_cv_certificate(
        CvCertificate(
            key_id("6000033", "001"), key_id("6000033", "002"), cardinfo_keys.card.public_key()
        ),
        cardinfo_keys.issuer,
    )
    assert len(cert) == 568
    assert cert[:10] == bytes.fromhex("7F218202335F4E820129")
    body = cert[10:307]
    assert cert[307:312] == bytes.fromhex("5F37820100")
    cardinfo_keys.issuer.public_key().verify(cert[312:], body, padding.PKCS1v15(), hashes.SHA256())


def test_integrity_layout(cardinfo_keys: CardInfoKeys) -> None:
    ef1 = encode_my_number_ef("123456789018")
    ef2 = encode_basic_four(BasicFour("番号　花子", "東京都", BIRTH, "2"), allocated=256)
    ef3 = encode_integrity(ef1, ef2, cardinfo_keys.issuer)
    assert len(ef3) == 336
    assert ef3[:8] == bytes.fromhex("FF3082014BDF3120")
    assert ef3[8:40] == hashlib.sha256(ef1).digest()
    assert ef3[40:43] == bytes.fromhex("DF3220")
    outer, _ = decode_one(ef2)
    assert ef3[43:75] == hashlib.sha256(outer.value[11:]).digest()
    assert ef3[75:80] == bytes.fromhex("DF33820100")
    cardinfo_keys.issuer.public_key().verify(
        ef3[80:], ef3[5:75], padding.PKCS1v15(), hashes.SHA256()
    )


def _face(keys: CardInfoKeys) -> CardFace:
    return CardFace(
        birth_date=BIRTH,
        sex="1",
        card_public_key=keys.card.public_key(),
        name_image=b"\x89PNG name",
        address_image=b"\x89PNG address" * 20,
        photo=b"\x00\x00\x00\x0cjP  photo" * 50,
        expiry=EXPIRY,
        security_code_image=b"\x89PNG code",
    )


def test_card_face_layout(cardinfo_keys: CardInfoKeys) -> None:
    face = _face(cardinfo_keys)
    ef = encode_card_face(face, cardinfo_keys.issuer, allocated=4096)
    assert len(ef) == 4096
    outer, end = decode_one(ef)
    assert ef[:3] == bytes.fromhex("FF2082") and ef[end:] == b"\xff" * (4096 - end)
    items = decode_all(outer.value)
    assert [i.tag for i in items] == list(range(0xDF21, 0xDF2B))
    offsets = [int.from_bytes(items[0].value[i : i + 2], "big") for i in range(0, 18, 2)]
    for offset, item in zip(offsets, items[1:], strict=True):
        assert decode_one(ef, offset)[0] == item
    tlvs = [i.encode() for i in items]
    assert items[1].value == b"19800217" and items[8].value == b"20350217"
    assert items[3].value == public_key_tlv(face.card_public_key)
    digest_info = face_digest_info(b"".join(tlvs[1:4]), tlvs[4] + tlvs[5], tlvs[6])
    assert len(digest_info) == 115 and digest_info[:2] == b"\x30\x71"
    assert digest_info[17:19] == b"\x04\x60"
    n = cardinfo_keys.issuer.public_key().public_numbers().n
    em = pow(int.from_bytes(items[7].value, "big"), 65537, n).to_bytes(256, "big")
    assert em == b"\x00\x01" + b"\xff" * (256 - 3 - 115) + b"\x00" + digest_info


def test_age_record_layout(cardinfo_keys: CardInfoKeys) -> None:
    ef = encode_age_record(BIRTH, cardinfo_keys.card.public_key(), cardinfo_keys.issuer)
    assert len(ef) == 547
    assert ef[:5] == bytes.fromhex("FF1082021E")
    assert ef[5:16] == bytes.fromhex("DF1108") + b"19800217"
    assert ef[16:21] == bytes.fromhex("DF12820109")
    assert ef[286:291] == bytes.fromhex("DF13820100")
    cardinfo_keys.issuer.public_key().verify(
        ef[291:], ef[5:286], padding.PKCS1v15(), hashes.SHA256()
    )


@pytest.mark.parametrize("image_size", [1, 100, 300])
def test_my_number_image_lengths_are_computed(cardinfo_keys: CardInfoKeys, image_size: int) -> None:
    image = b"\x89" * image_size
    ef = encode_my_number_image(image, cardinfo_keys.card.public_key(), cardinfo_keys.issuer)
    outer, end = decode_one(ef)
    assert end == len(ef) and outer.tag == 0xFF40
    items = decode_all(outer.value)
    assert [i.tag for i in items] == [0xDF41, 0xDF42, 0xDF43]
    assert items[0].value == image
    signed = items[0].encode() + items[1].encode()
    cardinfo_keys.issuer.public_key().verify(
        items[2].value, signed, padding.PKCS1v15(), hashes.SHA256()
    )


def test_card_record_reference_vector() -> None:
    record = CardRecord("400000012719843", "13221", dt.date(2035, 2, 17))
    assert encode_card_record(record) == b"\x01\x1c" + b"400000012719843" + b"13221" + b"20350217"
    with pytest.raises(ValueError, match="serial"):
        encode_card_record(CardRecord("40000001271984", "13221", EXPIRY))
