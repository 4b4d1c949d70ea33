"""APDU helpers shared by the tests (import them with `from card_helpers import ...`)."""

from __future__ import annotations

from simulator import VirtualCard

JPKI_AID = bytes.fromhex("D392F000260100000001")


def tx(card: VirtualCard, apdu: str | bytes) -> tuple[bytes, int]:
    """Send hex or bytes; return (data, SW)."""
    raw = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
    response = card.transmit(raw)
    return response[:-2], int.from_bytes(response[-2:], "big")


def select_jpki(card: VirtualCard) -> None:
    assert tx(card, "00A4040C0A" + JPKI_AID.hex()) == (b"", 0x9000)


def select_ef(card: VirtualCard, fid: int) -> int:
    return tx(card, f"00A4020C02{fid:04X}")[1]


def verify(card: VirtualCard, fid: int, value: bytes) -> int:
    assert select_ef(card, fid) == 0x9000
    return tx(card, f"00200080{len(value):02X}{value.hex()}")[1]


def read_ef(card: VirtualCard, fid: int) -> bytes:
    """The whole EF through one extended READ BINARY."""
    assert select_ef(card, fid) == 0x9000
    data, sw = tx(card, "00B00000000000")
    assert sw == 0x9000
    return data
