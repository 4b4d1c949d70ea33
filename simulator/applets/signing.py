"""RSA signature schemes of COMPUTE DIGITAL SIGNATURE (`80 2A P1 P2`), by P1.

| P1 | what the card does                                   | input       |
|----|------------------------------------------------------|-------------|
| 00 | PKCS#1 v1.5 type-1 padding over the data as given    | 1-245 bytes |
| 01 | SHA-256(data), PKCS#1 v1.5 over the bare 32-byte hash| 1-255       |
| 02 | data is a SHA-256; wrapped in a DigestInfo           | exactly 32  |
| 03 | SHA-256(data) -> DigestInfo -> PKCS#1 v1.5           | 1-255       |
| 04 | data is a SHA-256 -> RSASSA-PSS                      | exactly 32  |
| 05 | SHA-256(data) -> RSASSA-PSS                          | 1-255       |

(jpki-card-reference.md section 10.) Lengths outside the range: 6700 for P1 00, 01,
03, 05; 6985 for the fixed-length schemes 02 and 04. Any other P1: 6A86.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from simulator.apdu.errors import CardError
from simulator.apdu.sw import StatusWord

PSS_SALT_LENGTH = 32

# DigestInfo prefixes (RFC 8017 section 9.2, note 1) of the hashes clients send.
_DIGEST_INFO_PREFIXES: dict[bytes, hashes.HashAlgorithm] = {
    bytes.fromhex("3021300906052b0e03021a05000414"): hashes.SHA1(),  # noqa: S303 - clients send it
    bytes.fromhex("302d300d06096086480165030402040500041c"): hashes.SHA224(),
    bytes.fromhex("3031300d060960864801650304020105000420"): hashes.SHA256(),
    bytes.fromhex("3041300d060960864801650304020205000430"): hashes.SHA384(),
    bytes.fromhex("3051300d060960864801650304020305000440"): hashes.SHA512(),
}


def _bad_length(p1: int) -> CardError:
    fixed = p1 in (0x02, 0x04)
    return CardError(
        StatusWord.CONDITIONS_OF_USE_NOT_SATISFIED if fixed else StatusWord.WRONG_LENGTH
    )


def compute_signature(key: rsa.RSAPrivateKey, p1: int, data: bytes) -> bytes:
    """Sign `data` with `key` by scheme `p1`; raise CardError for bad P1 or lengths."""
    if p1 > 0x05:
        raise CardError(StatusWord.INCORRECT_P1_P2)
    k = key.key_size // 8
    limits = {0x00: (1, k - 11), 0x02: (32, 32), 0x04: (32, 32)}
    low, high = limits.get(p1, (1, 255))
    if not low <= len(data) <= high:
        raise _bad_length(p1)
    if p1 == 0x00:
        return sign_pkcs1_block(key, data)
    if p1 == 0x01:
        return sign_pkcs1_block(key, hashlib.sha256(data).digest())
    if p1 == 0x02:
        return key.sign(data, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    if p1 == 0x03:
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)
    if p1 == 0x04:
        return key.sign(data, pss, Prehashed(hashes.SHA256()))
    return key.sign(data, pss, hashes.SHA256())


def sign_pkcs1_block(key: rsa.RSAPrivateKey, payload: bytes) -> bytes:
    """EMSA-PKCS1-v1_5 type-1 padding around `payload`, then the private-key operation.

    A standard DigestInfo goes through the library's signer (same bytes, faster);
    anything else (a DigestInfo without NULL parameters, raw data) through an
    explicit CRT exponentiation.
    """
    for prefix, algorithm in _DIGEST_INFO_PREFIXES.items():
        if payload.startswith(prefix) and len(payload) == len(prefix) + algorithm.digest_size:
            return key.sign(payload[len(prefix) :], padding.PKCS1v15(), Prehashed(algorithm))
    k = key.key_size // 8
    block = b"\x00\x01" + b"\xff" * (k - 3 - len(payload)) + b"\x00" + payload
    return _rsa_private_op(key, int.from_bytes(block, "big")).to_bytes(k, "big")


def _rsa_private_op(key: rsa.RSAPrivateKey, m: int) -> int:
    numbers = key.private_numbers()
    s1 = pow(m, numbers.dmp1, numbers.p)
    s2 = pow(m, numbers.dmq1, numbers.q)
    h = (numbers.iqmp * (s1 - s2)) % numbers.p
    return s2 + h * numbers.q
