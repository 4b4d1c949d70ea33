"""Surface-AP (券面AP) files: the card face EF 0002, the age record EF 0001 and the My Number
image EF 0005 (jpki-card-reference.md §3.3, §9.4).

EF 0002: ``FF 20 82 HH LL { DF21 12 <9 u16 offsets from the first byte of the file to DF22..DF2A>,
DF22 birth YYYYMMDD, DF23 sex, DF24 card public key, DF25 name image, DF26 address image,
DF27 photo, DF28 signature, DF29 expiry YYYYMMDD, DF2A security-code image }``. DF28 is a
PKCS#1 v1.5 signature over ONE DigestInfo ``30 71 30 0D <sha256 id> 04 60 h1||h2||h3`` with
h1 = SHA-256(DF22||DF23||DF24 TLVs), h2 = SHA-256(DF25||DF26), h3 = SHA-256(DF27); DF29 and
DF2A are not signed.

EF 0001 ``FF 10 { DF11 08 YYYYMMDD, DF12 <key>, DF13 <sig> }`` and EF 0005 ``FF 40 { DF41 PNG,
DF42 <key>, DF43 <sig> }``: sha256WithRSA over every TLV before the signature tag.
Images are opaque bytes here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from . import ber
from .basic_four import SEX_CODES, yyyymmdd
from .cv_certificate import public_key_tlv
from .signing import SHA256_ALGORITHM_ID, sha256_with_rsa, sign_digest_info

FACE_TAG = b"\xff\x20"
OFFSETS_TAG = b"\xdf\x21"
FACE_FIELD_TAGS = tuple(bytes((0xDF, t)) for t in range(0x22, 0x2B))  # DF22 .. DF2A
AGE_TAG = b"\xff\x10"
AGE_FIELD_TAGS = (b"\xdf\x11", b"\xdf\x12", b"\xdf\x13")
MY_NUMBER_IMAGE_TAG = b"\xff\x40"
MY_NUMBER_IMAGE_FIELD_TAGS = (b"\xdf\x41", b"\xdf\x42", b"\xdf\x43")


@dataclass(frozen=True)
class CardFace:
    birth_date: dt.date
    sex: str  # "1", "2", "9" ("0")
    card_public_key: rsa.RSAPublicKey  # DF24
    name_image: bytes  # DF25 (PNG on real cards)
    address_image: bytes  # DF26 (PNG)
    photo: bytes  # DF27 (JPEG 2000)
    expiry: dt.date  # DF29
    security_code_image: bytes  # DF2A (PNG)


def face_digest_info(group1: bytes, group2: bytes, group3: bytes) -> bytes:
    """``30 71 30 0D <sha256 id> 04 60 <SHA-256 of each group>`` (115 bytes)."""
    hashes = b"".join(hashlib.sha256(g).digest() for g in (group1, group2, group3))
    return b"\x30\x71" + SHA256_ALGORITHM_ID + b"\x04\x60" + hashes


def encode_card_face(
    face: CardFace, signer: rsa.RSAPrivateKey, allocated: int | None = None
) -> bytes:
    """Surface EF 0002 signed by ``signer``, filled with ``FF`` up to ``allocated``."""
    if face.sex not in SEX_CODES:
        raise ValueError(f"sex must be one of 0, 1, 2, 9, got {face.sex!r}")
    t = dict(zip(range(0x22, 0x2B), FACE_FIELD_TAGS, strict=True))
    birth = ber.tlv(t[0x22], yyyymmdd(face.birth_date))
    sex = ber.tlv(t[0x23], face.sex.encode("ascii"))
    key = ber.tlv(t[0x24], public_key_tlv(face.card_public_key))
    name = ber.tlv(t[0x25], face.name_image)
    address = ber.tlv(t[0x26], face.address_image)
    photo = ber.tlv(t[0x27], face.photo)
    digest_info = face_digest_info(birth + sex + key, name + address, photo)
    signature = ber.tlv(t[0x28], sign_digest_info(signer, digest_info))
    expiry = ber.tlv(t[0x29], yyyymmdd(face.expiry))
    code = ber.tlv(t[0x2A], face.security_code_image)
    fields = [birth, sex, key, name, address, photo, signature, expiry, code]
    return ber.pad(ber.with_offset_table(FACE_TAG, fields), allocated)


def _signed_record(
    tag: bytes,
    field_tags: tuple[bytes, bytes, bytes],
    first: bytes,
    key: bytes,
    signer: rsa.RSAPrivateKey,
    allocated: int | None,
) -> bytes:
    signed = ber.tlv(field_tags[0], first) + ber.tlv(field_tags[1], key)
    signature = ber.tlv(field_tags[2], sha256_with_rsa(signer, signed))
    return ber.pad(ber.tlv(tag, signed + signature), allocated)


def encode_age_record(
    birth_date: dt.date,
    card_public_key: rsa.RSAPublicKey,
    signer: rsa.RSAPrivateKey,
    allocated: int | None = None,
) -> bytes:
    """Surface EF 0001 (``FF 10 82 02 1E …``, 547 bytes for RSA-2048 keys)."""
    return _signed_record(
        AGE_TAG,
        AGE_FIELD_TAGS,
        yyyymmdd(birth_date),
        public_key_tlv(card_public_key),
        signer,
        allocated,
    )


def encode_my_number_image(
    image: bytes,
    card_public_key: rsa.RSAPublicKey,
    signer: rsa.RSAPrivateKey,
    allocated: int | None = None,
) -> bytes:
    """Surface EF 0005: the rendered My Number (PNG) with the card key and a signature."""
    return _signed_record(
        MY_NUMBER_IMAGE_TAG,
        MY_NUMBER_IMAGE_FIELD_TAGS,
        image,
        public_key_tlv(card_public_key),
        signer,
        allocated,
    )
