"""Independent verifier for the card-info application files (issue 5).

Reads the bytes a card returns for the text AP (券面事項入力補助AP), the surface AP (券面AP)
and the CV certificates, and checks them against jpki-card-reference.md §3.2-§3.3 and §9:
exact layouts, the card's length forms (one byte below 128, ``82 HH LL`` from 128 up), offset
tables, filler, hashes and signatures. It deliberately shares no code with the builders in
``simulator.personalization.cardinfo``; it parses with ``simulator.apdu.tlv`` only.

Each ``verify_*`` returns a small frozen result or raises :class:`CardInfoVerificationError`
whose message says which length, offset, hash or signature is wrong. Filler after the outer
TLV must be ``FF`` (our cards' choice; §14 leaves real cards open).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simulator.apdu.tlv import Tlv, decode_one

_SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3071300d060960864801650304020105000460")


class CardInfoVerificationError(ValueError):
    """The file does not verify; the message names the failing check."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------- parsing helpers


def _fail(reason: str) -> CardInfoVerificationError:
    return CardInfoVerificationError(reason)


def _one(data: bytes, offset: int, what: str) -> tuple[Tlv, int]:
    """Decode one TLV at ``offset`` and insist the card wrote it in its canonical form."""
    try:
        item, end = decode_one(data, offset)
        canonical = item.encode()
    except ValueError as exc:  # TlvError is a ValueError
        raise _fail(f"{what}: malformed TLV at offset {offset}: {exc}") from exc
    if data[offset:end] != canonical:
        raise _fail(f"{what}: TLV at offset {offset} is not in the card's length/tag form")
    return item, end


def _outer(data: bytes, tag: int, what: str) -> tuple[Tlv, int]:
    """The EF's single outer TLV; returns it and the offset of its value. Filler must be FF."""
    item, end = _one(data, 0, what)
    if item.tag != tag:
        raise _fail(f"{what}: outer tag {item.tag:X}, expected {tag:X}")
    tail = data[end:]
    if tail.count(0xFF) != len(tail):
        raise _fail(f"{what}: non-FF byte in the filler after offset {end}")
    return item, end - len(item.value)


def _children(value: bytes, tags: tuple[int, ...], what: str) -> list[tuple[Tlv, int, int]]:
    """Exactly the TLVs ``tags`` in order, filling ``value``: (tlv, start, end) in ``value``."""
    result: list[tuple[Tlv, int, int]] = []
    pos = 0
    for tag in tags:
        if pos >= len(value):
            raise _fail(f"{what}: tag {tag:X} missing")
        item, end = _one(value, pos, what)
        if item.tag != tag:
            raise _fail(f"{what}: tag {item.tag:X} at value offset {pos}, expected {tag:X}")
        result.append((item, pos, end))
        pos = end
    if pos != len(value):
        raise _fail(f"{what}: {len(value) - pos} unexpected bytes after tag {tags[-1]:X}")
    return result


def _length(item: Tlv, expected: int, what: str) -> bytes:
    if len(item.value) != expected:
        raise _fail(f"{what}: tag {item.tag:X} has length {len(item.value)}, expected {expected}")
    return item.value


def _date(raw: bytes, what: str) -> dt.date:
    text = raw.decode("ascii", errors="replace")
    if len(raw) != 8 or not text.isdigit():
        raise _fail(f"{what}: date {raw.hex().upper()} is not 8 ASCII digits")
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise _fail(f"{what}: {text} is not a calendar date") from exc


def _sex(raw: bytes, what: str) -> str:
    if raw not in (b"0", b"1", b"2", b"9"):
        raise _fail(f"{what}: sex {raw.hex().upper()} is not one of '0', '1', '2', '9'")
    return raw.decode("ascii")


def _offsets(table: bytes, file_offsets: list[int], what: str) -> None:
    stated = [int.from_bytes(table[i : i + 2], "big") for i in range(0, len(table), 2)]
    for index, (got, want) in enumerate(zip(stated, file_offsets, strict=True)):
        if got != want:
            raise _fail(
                f"{what}: DF21 offset {index + 1} is {got:#06x}, the field is at {want:#06x}"
            )


def _rsa_key(raw: bytes, what: str) -> rsa.RSAPublicKey:
    """``90 03 01 00 01 91 82 01 00 <256-byte modulus>`` (§9.6)."""
    (exponent, _, _), (modulus, _, _) = _children(raw, (0x90, 0x91), f"{what} public key")
    if exponent.value != b"\x01\x00\x01":
        raise _fail(f"{what} public key: exponent {exponent.value.hex().upper()}, not 010001")
    n_bytes = _length(modulus, 256, f"{what} public key")
    n = int.from_bytes(n_bytes, "big")
    if n.bit_length() != 2048 or n % 2 == 0:
        raise _fail(f"{what} public key: modulus is not an odd 2048-bit number")
    try:
        return rsa.RSAPublicNumbers(65537, n).public_key()
    except ValueError as exc:
        raise _fail(f"{what} public key: {exc}") from exc


def _check_sha256_rsa(key: rsa.RSAPublicKey, signature: bytes, data: bytes, what: str) -> None:
    try:
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise _fail(f"{what}: signature does not verify with the given key") from exc


def _check_raw_digest_info(
    key: rsa.RSAPublicKey, signature: bytes, digest_info: bytes, what: str
) -> None:
    """PKCS#1 v1.5 type-1 check against an arbitrary DigestInfo (done by hand)."""
    numbers = key.public_numbers()
    k = (numbers.n.bit_length() + 7) // 8
    s = int.from_bytes(signature, "big")
    if len(signature) != k:
        raise _fail(f"{what}: signature has {len(signature)} bytes, the key needs {k}")
    if s >= numbers.n:
        raise _fail(f"{what}: signature does not verify with the given key (not below n)")
    em = pow(s, numbers.e, numbers.n).to_bytes(k, "big")
    expected = b"\x00\x01" + b"\xff" * (k - 3 - len(digest_info)) + b"\x00" + digest_info
    if not hmac.compare_digest(em, expected):
        raise _fail(f"{what}: signature does not verify with the given key")


def _my_number_check_digit(first11: str) -> int:
    total = sum(int(ch) * (n + 1 if n <= 6 else n - 5) for n, ch in enumerate(reversed(first11), 1))
    return 0 if total % 11 <= 1 else 11 - total % 11


# ---------------------------------------------------------------- text AP


@dataclass(frozen=True)
class MyNumberEf:
    number: str
    check_digit_valid: bool  # clients do not check it (§9.2); reported, not enforced


def verify_my_number_ef(ef0001: bytes) -> MyNumberEf:
    """Text EF 0001: exactly ``FF 10 0C`` + 12 ASCII digits + ``FF FF`` (17 bytes)."""
    what = "text EF 0001"
    if len(ef0001) != 17:
        raise _fail(f"{what}: {len(ef0001)} bytes, expected 17")
    if ef0001[:3] != b"\xff\x10\x0c":
        raise _fail(f"{what}: header {ef0001[:3].hex().upper()}, expected FF100C")
    if ef0001[15:] != b"\xff\xff":
        raise _fail(f"{what}: last two bytes {ef0001[15:].hex().upper()}, expected FFFF")
    digits = ef0001[3:15]
    if not all(0x30 <= b <= 0x39 for b in digits):
        raise _fail(f"{what}: My Number {digits.hex().upper()} is not 12 ASCII digits")
    number = digits.decode("ascii")
    return MyNumberEf(number, _my_number_check_digit(number[:11]) == int(number[11]))


@dataclass(frozen=True)
class BasicFourInfo:
    name: str
    address: str
    birth_date: dt.date
    sex: str
    long_form: bool  # outer length written as 82 HH LL
    hashed_part: bytes  # DF22 .. end of the TLV (what EF 0003's DF32 hashes)


def verify_basic_four(ef0002: bytes) -> BasicFourInfo:
    """Text EF 0002 (§9.1): tags, lengths, DF21 offsets from the file start, filler."""
    what = "text EF 0002"
    outer, base = _outer(ef0002, 0xFF20, what)
    tags = (0xDF21, 0xDF22, 0xDF23, 0xDF24, 0xDF25)
    parts = _children(outer.value, tags, what)
    table = _length(parts[0][0], 8, what)
    _offsets(table, [base + start for _, start, _ in parts[1:]], what)
    try:
        name = parts[1][0].value.decode("utf-8")
        address = parts[2][0].value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(f"{what}: name or address is not UTF-8 ({exc})") from exc
    return BasicFourInfo(
        name=name,
        address=address,
        birth_date=_date(_length(parts[3][0], 8, what), what),
        sex=_sex(_length(parts[4][0], 1, what), what),
        long_form=base == 5,
        hashed_part=outer.value[parts[1][1] :],
    )


@dataclass(frozen=True)
class IntegrityResult:
    my_number: MyNumberEf
    basic_four: BasicFourInfo


def verify_integrity(
    ef0001: bytes, ef0002: bytes, ef0003: bytes, issuer_public_key: rsa.RSAPublicKey
) -> IntegrityResult:
    """Text EF 0003 (§9.3) against EF 0001 and EF 0002 and the issuer key."""
    what = "text EF 0003"
    my_number = verify_my_number_ef(ef0001)
    basic_four = verify_basic_four(ef0002)
    outer, _ = _outer(ef0003, 0xFF30, what)
    if len(outer.value) != 331:
        raise _fail(f"{what}: outer length {len(outer.value)}, expected 331 (FF30 82 01 4B)")
    (h1, _, _), (h2, _, _), (sig, _, _) = _children(outer.value, (0xDF31, 0xDF32, 0xDF33), what)
    if not hmac.compare_digest(_length(h1, 32, what), hashlib.sha256(ef0001).digest()):
        raise _fail(f"{what}: DF31 is not SHA-256 of the 17 bytes of EF 0001")
    if not hmac.compare_digest(
        _length(h2, 32, what), hashlib.sha256(basic_four.hashed_part).digest()
    ):
        raise _fail(f"{what}: DF32 is not SHA-256 of EF 0002 from DF22 to the end of its TLV")
    _check_sha256_rsa(issuer_public_key, _length(sig, 256, what), outer.value[:70], f"{what} DF33")
    return IntegrityResult(my_number, basic_four)


# ---------------------------------------------------------------- CV certificates


@dataclass(frozen=True)
class CvCertificateInfo:
    certifier_key_id: bytes
    subject_key_id: bytes
    subject_public_key: rsa.RSAPublicKey


def _key_id(raw: bytes, what: str) -> bytes:
    if not (raw[:7].isdigit() and raw[7:9] == b"\x08\x05" and raw[9:12].isdigit()):
        raise _fail(f"{what}: {raw.hex().upper()} is not 7 digits, 0805, 3 digits, padding")
    return raw


def verify_cv_certificate(cert: bytes, certifier_public_key: rsa.RSAPublicKey) -> CvCertificateInfo:
    """A CV certificate (§9.5): 568 bytes ``7F21 { 5F4E <297>, 5F37 <256> }`` (FF filler
    after it allowed), the body signed by ``certifier_public_key``."""
    what = "CV certificate"
    outer, _ = _outer(cert, 0x7F21, what)
    if len(outer.value) != 563:
        raise _fail(f"{what}: outer length {len(outer.value)}, expected 563 (7F21 82 02 33)")
    (body, _, _), (sig, _, _) = _children(outer.value, (0x5F4E, 0x5F37), what)
    raw = _length(body, 297, what)
    key = _rsa_key(raw[32:], what)
    _check_sha256_rsa(certifier_public_key, _length(sig, 256, what), raw, f"{what} 5F37")
    return CvCertificateInfo(
        _key_id(raw[:16], f"{what} certifier key ID"),
        _key_id(raw[16:32], f"{what} subject key ID"),
        key,
    )


# ---------------------------------------------------------------- surface AP


@dataclass(frozen=True)
class CardFaceInfo:
    birth_date: dt.date
    sex: str
    card_public_key: rsa.RSAPublicKey
    name_image: bytes
    address_image: bytes
    photo: bytes
    expiry: dt.date  # DF29: NOT covered by the DF28 signature (§9.4)
    security_code_image: bytes  # DF2A: NOT covered by the DF28 signature (§9.4)


def verify_card_face(ef0002: bytes, signer_public_key: rsa.RSAPublicKey) -> CardFaceInfo:
    """Surface EF 0002 (§3.3, §9.4): tags DF21..DF2A, offsets, and the DF28 signature over
    one DigestInfo with SHA-256 of DF22-DF24, of DF25-DF26 and of DF27."""
    what = "surface EF 0002"
    outer, base = _outer(ef0002, 0xFF20, what)
    parts = _children(outer.value, tuple(range(0xDF21, 0xDF2B)), what)
    _offsets(_length(parts[0][0], 18, what), [base + s for _, s, _ in parts[1:]], what)
    v = outer.value

    def span(first: int, last: int) -> bytes:
        return v[parts[first][1] : parts[last][2]]

    digest_info = _SHA256_DIGEST_INFO_PREFIX + b"".join(
        hashlib.sha256(group).digest() for group in (span(1, 3), span(4, 5), span(6, 6))
    )
    _check_raw_digest_info(
        signer_public_key, parts[7][0].value, digest_info, f"{what} DF28 (card face)"
    )
    return CardFaceInfo(
        birth_date=_date(_length(parts[1][0], 8, what), f"{what} DF22"),
        sex=_sex(_length(parts[2][0], 1, what), f"{what} DF23"),
        card_public_key=_rsa_key(_length(parts[3][0], 265, what), f"{what} DF24"),
        name_image=parts[4][0].value,
        address_image=parts[5][0].value,
        photo=parts[6][0].value,
        expiry=_date(_length(parts[8][0], 8, what), f"{what} DF29"),
        security_code_image=parts[9][0].value,
    )


def _signed_record(
    data: bytes, tags: tuple[int, int, int, int], key: rsa.RSAPublicKey, what: str
) -> tuple[bytes, rsa.RSAPublicKey]:
    outer, _ = _outer(data, tags[0], what)
    (first, _, _), (card_key, _, _), (sig, start, _) = _children(outer.value, tags[1:], what)
    public = _rsa_key(_length(card_key, 265, what), f"{what} {tags[2]:X}")
    _check_sha256_rsa(key, _length(sig, 256, what), outer.value[:start], f"{what} {tags[3]:X}")
    return first.value, public


@dataclass(frozen=True)
class AgeRecordInfo:
    birth_date: dt.date
    card_public_key: rsa.RSAPublicKey


def verify_age_record(ef0001: bytes, signer_public_key: rsa.RSAPublicKey) -> AgeRecordInfo:
    """Surface EF 0001: ``FF 10 82 02 1E { DF11 08 date, DF12 key, DF13 sig }``."""
    what = "surface EF 0001"
    birth, key = _signed_record(ef0001, (0xFF10, 0xDF11, 0xDF12, 0xDF13), signer_public_key, what)
    if len(birth) != 8:
        raise _fail(f"{what}: tag DF11 has length {len(birth)}, expected 8")
    return AgeRecordInfo(_date(birth, f"{what} DF11"), key)


@dataclass(frozen=True)
class MyNumberImageInfo:
    image: bytes
    card_public_key: rsa.RSAPublicKey


def verify_my_number_image(ef0005: bytes, signer_public_key: rsa.RSAPublicKey) -> MyNumberImageInfo:
    """Surface EF 0005: ``FF 40 { DF41 image, DF42 key, DF43 sig }``."""
    image, key = _signed_record(
        ef0005, (0xFF40, 0xDF41, 0xDF42, 0xDF43), signer_public_key, "surface EF 0005"
    )
    return MyNumberImageInfo(image, key)
