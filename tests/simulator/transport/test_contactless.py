"""The PC/SC part-3 contactless reader in front of a Type B card: ATR construction, the
pseudo-APDUs it answers itself, the PUPI per tap, and the command cap."""

from __future__ import annotations

import functools
import operator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.personalization.card_interface import CardInterface, parse_type_b_atr
from simulator.transport.contactless import (
    TYPE_B_ATRS,
    ContactlessReader,
    new_pupi,
    reader_for,
    type_b_atr,
)

PUPI = bytes.fromhex("1A2B3C4D")

# the four ATRs as published (phone-path.md section 5), with their ATQB fields
KNOWN = [
    ("3B 88 80 01 00 00 05 E0 B3 81 A1 00 7F", "000005E0", "B381A1", 10),
    ("3B 88 80 01 00 00 41 E0 B3 81 A1 00 3B", "000041E0", "B381A1", 10),
    ("3B 88 80 01 00 4B 51 FF 00 81 D1 00 BC", "004B51FF", "0081D1", 13),
    ("3B 88 80 01 00 4B 51 FF B3 81 D1 00 0F", "004B51FF", "B381D1", 13),
]


def test_the_four_known_atrs_in_order_the_first_is_the_default() -> None:
    assert [atr.hex(" ").upper() for atr in TYPE_B_ATRS] == [known[0] for known in KNOWN]
    assert ContactlessReader().atr == TYPE_B_ATRS[0]
    assert CardInterface().contactless_atr == TYPE_B_ATRS[0]


@pytest.mark.parametrize("atr", TYPE_B_ATRS, ids=lambda atr: atr.hex().upper())
def test_tck_xors_to_zero_over_t0_to_tck(atr: bytes) -> None:
    """ISO/IEC 7816-3: the XOR of T0 .. TCK (every byte but TS) is 00."""
    assert functools.reduce(operator.xor, atr[1:], 0) == 0


@pytest.mark.parametrize(("text", "app_data", "protocol_info", "fwi"), KNOWN)
def test_a_part3_reader_builds_each_known_atr_from_its_atqb(
    text: str, app_data: str, protocol_info: str, fwi: int
) -> None:
    atr = type_b_atr(bytes.fromhex(app_data), bytes.fromhex(protocol_info), mbli=0)
    assert atr == bytes.fromhex(text)
    fields = parse_type_b_atr(atr)
    assert (fields.app_data.hex().upper(), fields.protocol_info.hex().upper()) == (
        app_data,
        protocol_info,
    )
    assert fields.mbli == 0
    assert fields.max_frame_size == 256
    assert fields.iso14443_4
    assert fields.fwi == fwi
    expected_fwt = 256 * 16 / 13.56e6 * 2**fwi  # ISO/IEC 14443-4 FWT
    assert fields.fwt_seconds == pytest.approx(expected_fwt)


def test_fwt_of_the_known_atrs_in_seconds() -> None:
    assert parse_type_b_atr(TYPE_B_ATRS[0]).fwt_seconds == pytest.approx(0.309, abs=0.001)
    assert parse_type_b_atr(TYPE_B_ATRS[2]).fwt_seconds == pytest.approx(2.474, abs=0.001)
    assert parse_type_b_atr(TYPE_B_ATRS[2]).bit_rates == 0x00  # 106 kbit/s only


def test_a_built_atr_with_an_mbli_and_other_atqb_fields() -> None:
    atr = type_b_atr(bytes.fromhex("12345678"), bytes.fromhex("B381A1"), mbli=0x8)
    assert atr[:4] == bytes.fromhex("3B888001") and atr[11] == 0x80
    assert functools.reduce(operator.xor, atr[1:], 0) == 0
    assert parse_type_b_atr(atr).mbli == 8
    assert ContactlessReader(atr).atr == atr


@pytest.mark.parametrize(
    ("app_data", "protocol_info", "mbli", "message"),
    [
        ("1234", "B381A1", 0, "application data must be 4 bytes"),
        ("12345678", "B381", 0, "protocol info must be 3 bytes"),
        ("12345678", "B381A1", 16, "MBLI must be 0-15"),
    ],
)
def test_type_b_atr_refuses_bad_fields(
    app_data: str, protocol_info: str, mbli: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        type_b_atr(bytes.fromhex(app_data), bytes.fromhex(protocol_info), mbli)


@pytest.mark.parametrize(
    ("atr", "message"),
    [
        ("3BE000FF8131FE4514", "13 bytes: 3B 88 80 01"),  # the contact ATR
        ("3B8880010000 05E0B381A1007E", "TCK must be 7F, not 7E"),
        ("3B8880010000 05E0B381A1017E", "MBLI byte 01 has a low nibble"),
        ("3B8980010000 05E0B381A1007F00", "13 bytes"),
        ("3B8F8001804F0CA000000306030001000000006A", "13 bytes"),  # a Type A (storage) ATR
    ],
)
def test_parse_refuses_what_is_not_a_part3_type_b_atr(atr: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_type_b_atr(bytes.fromhex(atr))
    with pytest.raises(ValueError, match="not a PC/SC part-3 Type B ATR"):
        ContactlessReader(bytes.fromhex(atr))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=13, max_size=13).map(lambda raw: bytes.fromhex("3B888001") + raw[4:]))
def test_the_reader_and_the_persona_schema_agree_on_what_is_an_atr(atr: bytes) -> None:
    """The reader builds and checks ATRs, the persona schema takes them apart: for any
    13 bytes starting 3B 88 80 01 both accept or both refuse, and agree on the fields."""
    try:
        fields = parse_type_b_atr(atr)
    except ValueError:
        fields = None
    try:
        ContactlessReader(atr)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == (fields is not None)
    if fields is not None:
        assert type_b_atr(fields.app_data, fields.protocol_info, fields.mbli) == atr
    fixed = type_b_atr(atr[4:8], atr[8:11], atr[11] >> 4)
    assert parse_type_b_atr(fixed).app_data == atr[4:8]


# ------------------------------------------------------------------- the reader's answers


def answer(apdu: str, **options: object) -> str | None:
    reader = ContactlessReader(pupi=PUPI, **options)  # type: ignore[arg-type]
    result = reader.intercept(bytes.fromhex(apdu))
    return None if result is None else result.hex().upper()


@pytest.mark.parametrize(
    ("apdu", "expected"),
    [
        ("FFCA000000", "1A2B3C4D9000"),  # Le 00: all of it
        ("FFCA000004", "1A2B3C4D9000"),  # Le 4: exactly the PUPI
        ("FFCA000001", "6C04"),  # Le shorter than the PUPI: 6C + the exact length
        ("FFCA000003", "6C04"),
        ("FFCA000005", "1A2B3C4D6282"),  # Le longer: the PUPI, end of data before Le bytes
        ("FFCA0000FF", "1A2B3C4D6282"),
        ("FFCA0000000000", "1A2B3C4D9000"),  # extended Le 0000: all of it
        ("FFCA0000000004", "1A2B3C4D9000"),
        ("FFCA0000000100", "1A2B3C4D6282"),  # extended Le 256 is not "all"
        ("FFCA010000", "6A81"),  # the ATS: Type A only
        ("FFCA020000", "6A81"),
        ("FFCA000100", "6A81"),  # P2 not 00
        ("FFCAFFFF00", "6A81"),
        ("FFCA0000", "6700"),  # no Le
        ("FFCA00000100", "6700"),  # a data field
        ("FFCA0000010000", "6700"),
        ("FFCA000002AA", "6700"),  # Lc 2 with one byte: malformed
        ("FF", "6700"),
        ("FFCA00", "6700"),
        ("FF00000000", "6D00"),  # direct transmit: not offered
        ("FF82000006FFFFFFFFFFFF", "6D00"),  # load key: a storage-card command
        ("FFB0000010", "6D00"),
        ("00A4040C0AD392F000260100000001", None),  # everything else goes to the card
        ("80CA000000", None),
        ("FECA000000", None),
    ],
)
def test_pseudo_apdus(apdu: str, expected: str | None) -> None:
    assert answer(apdu) == expected


def test_command_cap_261_stops_longer_apdus_at_the_reader() -> None:
    longest_short = "00D60000FF" + "00" * 255 + "00"  # 261 bytes
    extended = "00D6000000 0100" + "00" * 256
    assert len(bytes.fromhex(longest_short)) == 261
    assert answer(longest_short, max_command=261) is None
    assert answer(extended, max_command=261) == "6700"
    assert answer(extended) is None  # no cap: the card decides
    assert answer("FFCA000000", max_command=5) == "1A2B3C4D9000"  # the reader's own: no cap


def test_every_tap_has_a_new_random_pupi() -> None:
    reader = ContactlessReader()
    seen = {reader.pupi}
    for _ in range(50):
        pupi = reader.tap()
        assert len(pupi) == 4 and pupi == reader.pupi
        assert reader.intercept(bytes.fromhex("FFCA000000")) == pupi + b"\x90\x00"
        assert reader.uid == pupi.hex().upper()
        seen.add(pupi)
    assert len(seen) == 51  # 4 random bytes: a repeat in 51 has odds of about 3e-7
    assert len({new_pupi() for _ in range(50)}) == 50


def test_reader_options_are_checked() -> None:
    with pytest.raises(ValueError, match="a PUPI is 4 bytes"):
        ContactlessReader(pupi=b"\x01\x02")
    with pytest.raises(ValueError, match="latency"):
        ContactlessReader(latency=-1)
    with pytest.raises(ValueError, match="max_command"):
        ContactlessReader(max_command=4)


def test_reader_for_a_persona_interface_and_the_serve_override() -> None:
    contact = CardInterface()
    contactless = CardInterface("contactless", TYPE_B_ATRS[3], latency=0.25, max_command=261)
    assert reader_for(contact) is None
    assert reader_for(contactless, "contact") is None
    overridden = reader_for(contact, "contactless")
    assert overridden is not None and overridden.atr == TYPE_B_ATRS[0]
    reader = reader_for(contactless)
    assert reader is not None
    assert (reader.atr, reader.latency, reader.max_command) == (TYPE_B_ATRS[3], 0.25, 261)
    with pytest.raises(ValueError, match="interface must be"):
        reader_for(contact, "nfc")


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_any_bytes_never_raise_and_cla_ff_always_gets_a_status_word(raw: bytes) -> None:
    reader = ContactlessReader(pupi=PUPI, max_command=261)
    for apdu in (raw, b"\xff" + raw):
        result = reader.intercept(apdu)
        if apdu[:1] == b"\xff":
            assert result is not None and len(result) >= 2
            assert result[-2:] in (b"\x90\x00", b"\x62\x82", b"\x6c\x04", b"\x67\x00") or (
                result in (b"\x6a\x81", b"\x6d\x00")
            )
            assert result[:-2] in (b"", PUPI)
        elif len(apdu) > 261:
            assert result == b"\x67\x00"
        else:
            assert result is None
    assert reader.pupi == PUPI  # a command never changes the PUPI
