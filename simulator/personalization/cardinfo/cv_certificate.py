"""Card-verifiable (CV) certificates and the 券面 RSA key encoding (jpki-card-reference.md
§9.5, §9.6).

``7F 21 82 02 33 { 5F 4E 82 01 29 <body>, 5F 37 82 01 00 <signature> }`` (568 bytes), the
297-byte body being 証明者鍵ID(16) || 被証明者鍵ID(16) || ``90 03 010001 91 82 0100 <n>``,
signed with PKCS#1 v1.5 / SHA-256 by the certifier key.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from . import ber
from .signing import sha256_with_rsa

TAG = b"\x7f\x21"
BODY_TAG = b"\x5f\x4e"
SIGNATURE_TAG = b"\x5f\x37"
EXPONENT_TAG = b"\x90"
MODULUS_TAG = b"\x91"
CERTIFICATE_SIZE = 568
BODY_SIZE = 297
KEY_TLV_SIZE = 265
KEY_ID_SIZE = 16

# Test-hierarchy CA key-ID prefixes (production: 5000020 / 5000023 / 5000033).
TEST_MF_PREFIX = "6000020"  # MF chain
TEST_SURFACE_PREFIX = "6000023"  # 券面事項確認AP
TEST_TEXT_PREFIX = "6000033"  # 券面事項入力補助AP
_KEY_ID_SEPARATOR = b"\x08\x05"


def key_id(prefix: str, serial: str, padding: bytes = b"\x00\x00\x00\x00") -> bytes:
    """A 16-byte key ID: 7 ASCII digits, ``08 05``, 3 ASCII digits, 4 padding bytes."""
    for text, count in ((prefix, 7), (serial, 3)):
        if len(text) != count or not text.isascii() or not text.isdigit():
            raise ValueError(f"expected {count} ASCII digits, got {text!r}")
    if len(padding) != 4:
        raise ValueError("key-ID padding must be 4 bytes")
    return prefix.encode("ascii") + _KEY_ID_SEPARATOR + serial.encode("ascii") + padding


def public_key_tlv(key: rsa.RSAPublicKey) -> bytes:
    """``90 03 01 00 01 91 82 01 00 <256-byte modulus>``; RSA-2048 with e = 65537 only."""
    numbers = key.public_numbers()
    if numbers.e != 65537 or key.key_size != 2048:
        raise ValueError("the card-info files carry RSA-2048 keys with e = 65537")
    return ber.tlv(EXPONENT_TAG, b"\x01\x00\x01") + ber.tlv(
        MODULUS_TAG, numbers.n.to_bytes(256, "big")
    )


@dataclass(frozen=True)
class CvCertificate:
    certifier_key_id: bytes  # 証明者鍵ID
    subject_key_id: bytes  # 被証明者鍵ID
    subject_key: rsa.RSAPublicKey


def encode_cv_certificate(certificate: CvCertificate, certifier: rsa.RSAPrivateKey) -> bytes:
    """The 568-byte certificate, signed by ``certifier``."""
    for name, value in (
        ("certifier", certificate.certifier_key_id),
        ("subject", certificate.subject_key_id),
    ):
        if len(value) != KEY_ID_SIZE:
            raise ValueError(f"{name} key ID must be {KEY_ID_SIZE} bytes, got {len(value)}")
    body = (
        certificate.certifier_key_id
        + certificate.subject_key_id
        + public_key_tlv(certificate.subject_key)
    )
    signature = sha256_with_rsa(certifier, body)
    return ber.tlv(TAG, ber.tlv(BODY_TAG, body) + ber.tlv(SIGNATURE_TAG, signature))
