"""Text-AP EF 0003: the integrity record over EF 0001 and EF 0002 (jpki-card-reference.md §9.3).

``FF 30 82 01 4B { DF31 20 SHA-256(EF 0001, 17 physical bytes), DF32 20 SHA-256(EF 0002 from
DF22 to the end of its TLV), DF33 82 01 00 <sha256WithRSA over the 70 bytes DF31 || DF32> }``,
336 bytes, signed by the issuer key (the key certified in EF 0004), not the card's own key.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric import rsa

from . import ber
from .basic_four import hashed_part
from .my_number import EF0001_SIZE
from .signing import sha256_with_rsa

TAG = b"\xff\x30"
MY_NUMBER_HASH_TAG = b"\xdf\x31"
BASIC_FOUR_HASH_TAG = b"\xdf\x32"
SIGNATURE_TAG = b"\xdf\x33"
RECORD_SIZE = 336


def encode_integrity(ef0001: bytes, ef0002: bytes, issuer: rsa.RSAPrivateKey) -> bytes:
    """EF 0003 for the given physical EF 0001 (17 bytes) and EF 0002 (filler allowed)."""
    if len(ef0001) != EF0001_SIZE:
        raise ValueError(f"EF 0001 must be {EF0001_SIZE} bytes, got {len(ef0001)}")
    signed = ber.tlv(MY_NUMBER_HASH_TAG, hashlib.sha256(ef0001).digest()) + ber.tlv(
        BASIC_FOUR_HASH_TAG, hashlib.sha256(hashed_part(ef0002)).digest()
    )
    signature = sha256_with_rsa(issuer, signed)
    return ber.tlv(TAG, signed + ber.tlv(SIGNATURE_TAG, signature))
