"""APDU helpers of the conformance catalogue: they talk only through a CardChannel."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from conformance.channel import CardChannel, Response
from conformance.sw import sw_name

JPKI_AID = "D392F000260100000001"
TEXT_AID = "D3921000310001010408"
SURFACE_AID = "D3921000310001010402"
COMMON_AID = "D3921000310001010100"
JUKI_AID = "D3921000310001010401"
ISD_AID = "A0000001510000"
CARD_INFO_AIDS = (TEXT_AID, SURFACE_AID, COMMON_AID, JUKI_AID)

OK = 0x9000
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


def select_aid(card: CardChannel, aid: str) -> Response:
    return card.send(f"00A4040C{len(aid) // 2:02X}{aid}")


def select_ef(card: CardChannel, fid: int) -> Response:
    return card.send(f"00A4020C02{fid:04X}")


def enter(card: CardChannel, aid: str) -> None:
    """Select an application (which must be there)."""
    sw = select_aid(card, aid).sw
    if sw != OK:
        raise AssertionError(f"SELECT {aid}: expected {sw_name(OK)}, got {sw_name(sw)}")


def verify(card: CardChannel, p2: int, value: bytes) -> int:
    """VERIFY with P2 80 (current EF) or 80|SFI; the status word."""
    return card.send(bytes([0x00, 0x20, 0x00, p2, len(value)]) + value).sw


def verify_ef(card: CardChannel, fid: int, value: bytes) -> int:
    """SELECT the PIN EF, then VERIFY (P2=80)."""
    select_ef(card, fid)
    return verify(card, 0x80, value)


def query(card: CardChannel, p2: int) -> int:
    """The empty VERIFY (status query); its status word."""
    return card.send(bytes([0x00, 0x20, 0x00, p2])).sw


def tries(sw: int) -> int | None:
    """x of a 63Cx status word, else None."""
    return sw & 0x0F if sw & 0xFFF0 == 0x63C0 else None


def retries_sw(count: int) -> int:
    return 0x63C0 | count


def read_current(card: CardChannel) -> Response:
    """The current EF in one READ BINARY with the extended Le 00 00 00 (65536)."""
    return card.send("00B00000000000")


def read_ef(card: CardChannel, fid: int) -> Response:
    """SELECT the EF, then read it whole (the SELECT must succeed)."""
    sw = select_ef(card, fid).sw
    if sw != OK:
        raise AssertionError(f"SELECT EF {fid:04X}: expected {sw_name(OK)}, got {sw_name(sw)}")
    return read_current(card)


def read_record(card: CardChannel, sfi: int, record: int = 1) -> Response:
    return card.send(bytes([0x00, 0xB2, record, (sfi << 3) | 0x04, 0x00]))


def sign(card: CardChannel, p1: int, p2: int, data: bytes) -> Response:
    """`80 2A P1 P2 Lc data 00`."""
    return card.send(bytes([0x80, 0x2A, p1, p2, len(data)]) + data + b"\x00")


def sha256_digest_info(message: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(message)
    return SHA256_PREFIX + digest.finalize()


def der_length(data: bytes) -> int:
    """Total length of the DER object at the start of `data` (SEQUENCE, long form)."""
    if data[1] < 0x80:
        return 2 + data[1]
    n = data[1] & 0x7F
    return 2 + n + int.from_bytes(data[2 : 2 + n], "big")


def certificate_of(ef_content: bytes) -> x509.Certificate:
    """The X.509 certificate at the start of a certificate EF (filler after it)."""
    return x509.load_der_x509_certificate(ef_content[: der_length(ef_content)])
