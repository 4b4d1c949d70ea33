"""A synthetic but well-formed CardInfo for the card-info applet tests.

Independent of the personalization builders: the bytes are put together here from the
layouts of jpki-card-reference.md sections 3.2-3.5 and 9, with RSA-2048 keys generated
once per test session (never committed). Import with `from card_info_data import ...`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import dataclass

from card_helpers import tx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simulator import VirtualCard
from simulator.apdu.tlv import Tlv
from simulator.applets.signing import sign_pkcs1_block
from simulator.personalization.card_data import (
    CardInfo,
    RegistryApData,
    SurfaceApData,
    TextApData,
)
from simulator.personalization.persona import Persona, PinSpec

TEXT_AID = bytes.fromhex("D3921000310001010408")
SURFACE_AID = bytes.fromhex("D3921000310001010402")
COMMON_AID = bytes.fromhex("D3921000310001010100")
JUKI_AID = bytes.fromhex("D3921000310001010401")
ISD_AID = bytes.fromhex("A0000001510000")

MY_NUMBER = b"123456789018"  # valid check digit
PIN_A = MY_NUMBER
PIN_B = b"55021720352285"  # born S55-02-17, expiry 2035, security code 2285
BIRTH_KEY = b"550217"
TEXT_PIN = b"2468"
COMMON_PIN = b"1357"
JUKI_PIN = b"9753"

# retry limits chosen to differ, so that each test shows the limit comes from the PinSpec
TRIES = {
    "text/0011": 3,
    "text/0014": 4,
    "text/0015": 5,
    "surface/0011": 5,
    "surface/0012": 3,
    "surface/0013": 4,
    "common/001C": 3,
    "juki/001C": 3,
}
VALUES = {
    "text/0011": TEXT_PIN,
    "text/0014": PIN_A,
    "text/0015": PIN_B,
    "surface/0011": BIRTH_KEY,
    "surface/0012": PIN_B,
    "surface/0013": PIN_A,
    "common/001C": COMMON_PIN,
    "juki/001C": JUKI_PIN,
}
WRONG = {
    "text/0011": b"0000",
    "text/0014": b"111111111111",
    "text/0015": b"11111111111111",
    "surface/0011": b"010101",
    "surface/0012": b"11111111111111",
    "surface/0013": b"111111111111",
    "common/001C": b"0000",
    "juki/001C": b"0000",
}

SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
THREE_HASH_DIGEST_INFO = bytes.fromhex("3071300d060960864801650304020105000460")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)
JP2 = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(40)


@dataclass(frozen=True)
class Keys:
    issuer: rsa.RSAPrivateKey  # signs the records and the CV certificates
    text_ap: rsa.RSAPrivateKey  # text key 0013
    surface_ap: rsa.RSAPrivateKey  # surface key 001A
    internal_auth: rsa.RSAPrivateKey  # common AP key 0019
    session: rsa.RSAPrivateKey  # text EF 0006 (public half only on the card)


@functools.cache
def keys() -> Keys:
    """Generated once per test session."""

    def make() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    return Keys(make(), make(), make(), make(), make())


def tlv(tag: int, value: bytes) -> bytes:
    return Tlv(tag, value).encode()


def public_key_tlv(key: rsa.RSAPrivateKey) -> bytes:
    numbers = key.public_key().public_numbers()
    return tlv(0x90, numbers.e.to_bytes(3, "big")) + tlv(0x91, numbers.n.to_bytes(256, "big"))


def sha256_rsa(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def key_id(ca: str, serial: str) -> bytes:
    return ca.encode() + b"\x08\x05" + serial.encode() + b"\x00\x00\x00\x01"


def pad(data: bytes, size: int) -> bytes:
    return data + b"\xff" * (size - len(data))


def cv_certificate(issuer: rsa.RSAPrivateKey, subject: rsa.RSAPrivateKey, ca: str) -> bytes:
    body = key_id(ca, "001") + key_id("6000099", "002") + public_key_tlv(subject)
    return tlv(0x7F21, tlv(0x5F4E, body) + tlv(0x5F37, sha256_rsa(issuer, body)))


def _with_offsets(outer_tag: int, table_tag: int, fields: list[bytes]) -> bytes:
    """An outer TLV whose first child is an offset table of the fields (from file start)."""
    table_len = 2 * len(fields)
    body_len = len(tlv(table_tag, bytes(table_len))) + sum(map(len, fields))
    header = len(tlv(outer_tag, bytes(body_len))) - body_len
    position = header + 3 + table_len
    offsets = b""
    for field in fields:
        offsets += position.to_bytes(2, "big")
        position += len(field)
    return tlv(outer_tag, tlv(table_tag, offsets) + b"".join(fields))


def text_data(k: Keys, pins: dict[str, PinSpec]) -> TextApData:
    my_number = tlv(0xFF10, MY_NUMBER) + b"\xff\xff"
    fields = [
        tlv(0xDF22, "番号　花子".encode()),
        tlv(0xDF23, "東京都千代田区霞が関２－１".encode()),  # noqa: RUF001 - full-width, as on cards
        tlv(0xDF24, b"19800217"),
        tlv(0xDF25, b"2"),
    ]
    basic_four = pad(_with_offsets(0xFF20, 0xDF21, fields), 256)
    h1 = hashlib.sha256(my_number).digest()
    h2 = hashlib.sha256(b"".join(fields)).digest()
    signed = tlv(0xDF31, h1) + tlv(0xDF32, h2)
    integrity = tlv(0xFF30, signed + tlv(0xDF33, sha256_rsa(k.issuer, signed)))
    basic_info = tlv(
        0xFF40,
        tlv(0xDF41, bytes.fromhex("01030E01"))
        + tlv(0xDF42, key_id("6000033", "003"))
        + tlv(0xDF43, bytes(range(32)) + b"\xff" * 96),
    )
    key_tlv = tlv(0xDF51, public_key_tlv(k.text_ap))
    return TextApData(
        my_number=my_number,
        basic_four=basic_four,
        integrity=integrity,
        cv_certificate=cv_certificate(k.issuer, k.issuer, "6000033"),
        basic_info=pad(basic_info, 256),
        session_key=tlv(0xA1, public_key_tlv(k.session)),
        ap_key_record=tlv(0xFF50, key_tlv + tlv(0xDF52, sha256_rsa(k.issuer, key_tlv))),
        ap_key=k.text_ap,
        pin=pins["text/0011"],
        pin_a=pins["text/0014"],
        pin_b=pins["text/0015"],
    )


def surface_data(k: Keys, pins: dict[str, PinSpec]) -> SurfaceApData:
    key = public_key_tlv(k.surface_ap)
    age = tlv(0xDF11, b"19800217") + tlv(0xDF12, key)
    groups = [
        tlv(0xDF22, b"19800217") + tlv(0xDF23, b"2") + tlv(0xDF24, key),
        tlv(0xDF25, PNG) + tlv(0xDF26, PNG),
        tlv(0xDF27, JP2),
    ]
    digest = b"".join(hashlib.sha256(group).digest() for group in groups)
    face_signature = sign_pkcs1_block(k.issuer, THREE_HASH_DIGEST_INFO + digest)
    face_fields = [
        tlv(0xDF22, b"19800217"),
        tlv(0xDF23, b"2"),
        tlv(0xDF24, key),
        tlv(0xDF25, PNG),
        tlv(0xDF26, PNG),
        tlv(0xDF27, JP2),
        tlv(0xDF28, face_signature),
        tlv(0xDF29, b"20350217"),
        tlv(0xDF2A, PNG),
    ]
    basic_info = (
        tlv(0xDF31, bytes.fromhex("06030E01"))
        + tlv(0xDF32, key_id("6000024", "004"))
        + tlv(0xDF33, b"\x01")
        + tlv(0xDF34, b"13221")
        + tlv(0xDF35, key_id("6000025", "005") + bytes(256))
    )
    image = tlv(0xDF41, PNG) + tlv(0xDF42, key)
    return SurfaceApData(
        age_record=tlv(0xFF10, age + tlv(0xDF13, sha256_rsa(k.issuer, age))),
        card_face=_with_offsets(0xFF20, 0xDF21, face_fields),
        basic_info=tlv(0xFF30, basic_info),
        cv_certificate=cv_certificate(k.issuer, k.issuer, "6000023"),
        my_number_image=tlv(0xFF40, image + tlv(0xDF43, sha256_rsa(k.issuer, image))),
        ap_key=k.surface_ap,
        birth_key=pins["surface/0011"],
        pin_b=pins["surface/0012"],
        pin_a=pins["surface/0013"],
    )


COMMON_RECORD = b"\x01\x1c" + b"400000012719843" + b"13221" + b"20350217"
KEY_REFERENCE = key_id("6000020", "006")


def mf_objects(k: Keys, atr: bytes) -> dict[int, bytes]:
    upper = cv_certificate(k.issuer, k.issuer, "6000020")
    return {
        0x0042: key_id("6000020", "007"),
        0x0045: b"400000012719843",
        0x0066: bytes.fromhex("730906072A864886FC6B01"),  # GP card recognition data
        0x00F0: b"13221",
        0x00F2: b"20350217",
        0x00F7: key_id("6000020", "008"),
        0x00F8: upper[5:],  # without the 7F21 wrapper
        0x7F21: cv_certificate(k.issuer, k.issuer, "6000021"),
        0x5F51: atr[1:],  # the contact ATR without TS
    }


def make_card_info(atr: bytes, remaining: dict[str, int] | None = None) -> CardInfo:
    """The CardInfo; `remaining` overrides the tries left on a fresh card, by state key."""
    left = remaining or {}
    pins = {key: PinSpec(VALUES[key], TRIES[key], left.get(key, TRIES[key])) for key in TRIES}
    k = keys()
    return CardInfo(
        text=text_data(k, pins),
        surface=surface_data(k, pins),
        registry=RegistryApData(
            common_record=COMMON_RECORD,
            key_reference=KEY_REFERENCE,
            internal_auth_key=k.internal_auth,
            common_pin=pins["common/001C"],
            juki_pin=pins["juki/001C"],
        ),
        mf_objects=mf_objects(k, atr),
    )


def with_card_info(persona: Persona, remaining: dict[str, int] | None = None) -> Persona:
    """`persona` carrying this module's CardInfo (whatever card_info it had)."""
    return dataclasses.replace(persona, card_info=make_card_info(persona.atr, remaining))


def without_card_info(persona: Persona) -> Persona:
    return dataclasses.replace(persona, card_info=None)


def powered(persona: Persona) -> VirtualCard:
    card = VirtualCard(persona)
    card.power_on()
    return card


def select(card: VirtualCard, aid: bytes) -> None:
    assert tx(card, f"00A4040C{len(aid):02X}{aid.hex()}") == (b"", 0x9000)


def query(card: VirtualCard, fid: int) -> int:
    """The empty VERIFY (status query) of the key `fid` of the selected application."""
    assert tx(card, f"00A4020C02{fid:04X}")[1] == 0x9000
    return tx(card, "00200080")[1]


def read_whole(card: VirtualCard, fid: int) -> tuple[bytes, int]:
    """SELECT EF then one extended READ BINARY: (data, SW)."""
    assert tx(card, f"00A4020C02{fid:04X}")[1] == 0x9000
    return tx(card, "00B00000000000")


def recover(key: rsa.RSAPrivateKey, signature: bytes) -> bytes:
    """The padded block inside a raw RSA signature (public-key operation)."""
    numbers = key.public_key().public_numbers()
    value = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n)
    return value.to_bytes(256, "big")


def pkcs1_block(payload: bytes) -> bytes:
    return b"\x00\x01" + b"\xff" * (253 - len(payload)) + b"\x00" + payload
