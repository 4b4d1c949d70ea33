"""RSA PKCS#1 v1.5 signatures as the card-info files use them."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SHA256_ALGORITHM_ID = bytes.fromhex("300d06096086480165030402010500")  # AlgorithmIdentifier


def sha256_with_rsa(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    """sha256WithRSAEncryption (PKCS#1 v1.5) over ``data``."""
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def sign_digest_info(key: rsa.RSAPrivateKey, digest_info: bytes) -> bytes:
    """PKCS#1 v1.5 type-1 signature over a raw DigestInfo of any length (RSASSA-PKCS1-v1_5
    steps 3-5 of RFC 8017 §9.2 with T given): ``00 01 FF.. 00 T``, then the private operation.

    Needed for the card face's DigestInfo, whose OCTET STRING holds 96 bytes (three SHA-256
    values); ``cryptography``'s ``Prehashed`` only takes a digest of the algorithm's size.
    """
    n = key.public_key().public_numbers().n
    k = (n.bit_length() + 7) // 8
    if len(digest_info) > k - 11:
        raise ValueError(f"DigestInfo of {len(digest_info)} bytes too long for a {k}-byte key")
    encoded = b"\x00\x01" + b"\xff" * (k - 3 - len(digest_info)) + b"\x00" + digest_info
    d = key.private_numbers().d
    return pow(int.from_bytes(encoded, "big"), d, n).to_bytes(k, "big")
