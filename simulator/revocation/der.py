"""The few DER operations ``cryptography`` does not offer: read a TLV, find a public key's bits,
swap equal-length byte strings inside a signed object (to re-sign or to corrupt a signature).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

TAG_SEQUENCE = 0x30
TAG_BIT_STRING = 0x03
TAG_GENERALIZED_TIME = 0x18


class DerError(ValueError):
    """The bytes are not the DER structure expected here."""


@dataclass(frozen=True)
class Tlv:
    tag: int
    start: int  # offset of the tag octet
    content: int  # offset of the first content octet
    end: int  # offset just after the content

    def value(self, data: bytes) -> bytes:
        return data[self.content : self.end]


def read_tlv(data: bytes, offset: int = 0) -> Tlv:
    """The DER TLV at ``offset`` (single-octet tags, definite lengths only, as DER requires)."""
    if offset + 2 > len(data):
        raise DerError("truncated TLV")
    tag, first = data[offset], data[offset + 1]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-octet tags are not expected here")
    content = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or content + count > len(data):
            raise DerError("bad DER length")
        length = int.from_bytes(data[content : content + count], "big")
        content += count
    end = content + length
    if end > len(data):
        raise DerError("TLV runs past the end of the data")
    return Tlv(tag, offset, content, end)


def children(data: bytes, parent: Tlv) -> list[Tlv]:
    """The TLVs directly inside a constructed ``parent``."""
    items: list[Tlv] = []
    offset = parent.content
    while offset < parent.end:
        item = read_tlv(data, offset)
        if item.end > parent.end:
            raise DerError("a TLV runs past its parent")
        items.append(item)
        offset = item.end
    return items


def public_key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's bits: what an OCSP CertID's issuerKeyHash hashes.

    RFC 6960 §4.1.1: the hash over "the value (excluding tag and length) of the subject public
    key field"; like OpenSSL and every client, without the leading unused-bits octet.
    """
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    outer = read_tlv(spki)
    parts = children(spki, outer)
    if outer.tag != TAG_SEQUENCE or len(parts) != 2 or parts[1].tag != TAG_BIT_STRING:
        raise DerError("not a SubjectPublicKeyInfo")
    bits = parts[1].value(spki)
    if not bits or bits[0] != 0:
        raise DerError("the public key BIT STRING has unused bits")
    return bits[1:]


def replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    """``data`` with the single occurrence of ``old`` replaced by ``new`` of the same length."""
    if len(old) != len(new):
        raise DerError("a replacement must keep the length (no DER length changes)")
    if data.count(old) != 1:
        raise DerError("the bytes to replace do not occur exactly once")
    return data.replace(old, new)


def corrupt_signature(signed: bytes, signature: bytes) -> bytes:
    """``signed`` (a DER CRL or OCSP response) with its signature value's last octet flipped.

    The structure still parses; any verifier rejects the signature.
    """
    if not signature:
        raise DerError("empty signature")
    flipped = signature[:-1] + bytes([signature[-1] ^ 0x01])
    return replace_once(signed, signature, flipped)
