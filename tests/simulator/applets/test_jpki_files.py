"""JPKI EFs and READ BINARY (jpki-card-reference.md sections 3.1, 5, 8, 15)."""

from __future__ import annotations

import pytest
from card_helpers import read_ef, select_ef, select_jpki, tx, verify
from cryptography import x509

from simulator import VirtualCard
from simulator.personalization.persona import Persona


@pytest.fixture
def jpki(card: VirtualCard) -> VirtualCard:
    select_jpki(card)
    return card


def _der_length(content: bytes) -> int:
    assert content[:2] == b"\x30\x82"
    return int.from_bytes(content[2:4], "big") + 4


@pytest.mark.parametrize("fid", [0x000A, 0x000B, 0x0002])
def test_free_certificates_are_der_plus_filler(
    jpki: VirtualCard, default_persona: Persona, fid: int
) -> None:
    content = read_ef(jpki, fid)
    size = _der_length(content)
    expected = {
        0x000A: default_persona.auth.certificate,
        0x000B: default_persona.auth.ca_certificate,
        0x0002: default_persona.sign.ca_certificate,
    }[fid]
    assert content[:size] == expected
    assert content[size:] == b"\xff" * (len(content) - size)
    assert len(content) >= 2048
    x509.load_der_x509_certificate(content[:size])


def test_signature_certificate_needs_the_signing_password(
    jpki: VirtualCard, default_persona: Persona
) -> None:
    assert select_ef(jpki, 0x0001) == 0x9000
    assert tx(jpki, "00B0000004") == (b"", 0x6982)
    assert tx(jpki, "00B0810004") == (b"", 0x6982)  # by SFI too
    verify(jpki, 0x0018, default_persona.auth_pin.value)  # the PIN does not open it
    assert select_ef(jpki, 0x0001) == 0x9000
    assert tx(jpki, "00B0000004")[1] == 0x6982
    assert verify(jpki, 0x001B, default_persona.sign_pin.value) == 0x9000
    content = read_ef(jpki, 0x0001)
    assert content[: _der_length(content)] == default_persona.sign.certificate


def test_opensc_style_read(jpki: VirtualCard, default_persona: Persona) -> None:
    """4-byte header, then 256-byte pages, then the rest (pcsc-stack-notes log B)."""
    assert select_ef(jpki, 0x000A) == 0x9000
    head, sw = tx(jpki, "00B0000004")
    assert sw == 0x9000
    size = int.from_bytes(head[2:4], "big") + 4
    der = b""
    while len(der) < size:
        chunk = min(256, size - len(der))
        data, sw = tx(jpki, f"00B0{len(der):04X}{chunk % 256:02X}")
        assert (sw, len(data)) == (0x9000, chunk)
        der += data
    assert der == default_persona.auth.certificate


def test_end_of_file_rules(jpki: VirtualCard) -> None:
    size = len(read_ef(jpki, 0x000A))
    last_page = size - 100
    data, sw = tx(jpki, f"00B0{last_page:04X}00")
    assert (len(data), sw) == (100, 0x9000)  # short data, 9000, at the end of the file
    assert tx(jpki, f"00B0{size - 1:04X}01")[1] == 0x9000
    assert tx(jpki, f"00B0{size:04X}01") == (b"", 0x6B00)  # offset past the end
    assert tx(jpki, "00B07FFF01") == (b"", 0x6B00)  # 15-bit offset


def test_extended_le_reads(jpki: VirtualCard) -> None:
    whole = read_ef(jpki, 0x000A)
    data, sw = tx(jpki, "00B00000000100")
    assert (data, sw) == (whole[:256], 0x9000)
    data, sw = tx(jpki, "00B00010000300")
    assert (data, sw) == (whole[0x10 : 0x10 + 0x300], 0x9000)


@pytest.mark.parametrize(("fid", "sfi"), [(0x000A, 0x0A), (0x000B, 0x0B), (0x0006, 0x06)])
def test_sfi_addressing_makes_the_ef_current(jpki: VirtualCard, fid: int, sfi: int) -> None:
    whole = read_ef(jpki, fid)
    select_jpki(jpki)
    data, sw = tx(jpki, f"00B0{0x80 | sfi:02X}0000 0000".replace(" ", ""))
    assert (data, sw) == (whole, 0x9000)
    assert tx(jpki, "00B0000004") == (whole[:4], 0x9000)  # now the current EF
    data, sw = tx(jpki, f"00B0{0x80 | sfi:02X}1008")
    assert (data, sw) == (whole[0x10:0x18], 0x9000)


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00B0C00004", 0x6A86),  # SFI form with bits 6-7 set
        ("00B0A00004", 0x6A86),
        ("00B09F0004", 0x6A82),  # no EF with SFI 1F
        ("00B0830004", 0x6A82),  # no EF with SFI 03
        ("00B0970004", 0x6981),  # SFI 17 is the auth key: internal EF
        ("00B0980004", 0x6981),  # PIN EF
        ("00B00000", 0x6700),  # no Le
    ],
)
def test_read_binary_errors(jpki: VirtualCard, apdu: str, sw: int) -> None:
    select_ef(jpki, 0x000A)
    assert tx(jpki, apdu) == (b"", sw)


def test_no_current_ef_after_application_select(jpki: VirtualCard) -> None:
    assert tx(jpki, "00B0000004") == (b"", 0x6986)


@pytest.mark.parametrize("fid", [0x0003, 0x0004, 0x000C, 0x0011, 0x001D, 0x3F00, 0x2F00])
def test_unknown_efs(jpki: VirtualCard, fid: int) -> None:
    assert select_ef(jpki, fid) == 0x6A82


def test_token_info(jpki: VirtualCard, default_persona: Persona) -> None:
    token = read_ef(jpki, 0x0006)
    assert len(token) == 160
    assert token[:32] == b"JPKIAPICCTOKEN2".ljust(32, b" ")
    assert token[80:96] == default_persona.token_serial.encode()
    assert int.from_bytes(token[96:100], "big") == 0x0000040D
    assert (int.from_bytes(token[116:120], "big"), int.from_bytes(token[120:124], "big")) == (
        16,
        6,
    )
    assert token[140:144] == b"0301"
    assert tx(jpki, "00B0000014")[0] == token[:20]  # TRET reads 20 bytes


def test_certificate_flags_and_protected_ef(jpki: VirtualCard) -> None:
    assert read_ef(jpki, 0x0008) == b"\x8f\x8f\x00"
    assert select_ef(jpki, 0x0009) == 0x9000
    assert tx(jpki, "00B0000001")[1] == 0x6982


def test_keys_and_pins_are_internal(jpki: VirtualCard) -> None:
    for fid in (0x0017, 0x0018, 0x001A, 0x001B):
        assert select_ef(jpki, fid) == 0x9000
        assert tx(jpki, "00B0000001") == (b"", 0x6981)
