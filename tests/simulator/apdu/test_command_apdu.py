from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.apdu import CardError, CommandApdu, MalformedApduError, StatusWord


@st.composite
def command_apdus(draw: st.DrawFn) -> CommandApdu:
    extended = draw(st.booleans())
    limit = 65535 if extended else 255
    data = draw(st.binary(max_size=min(limit, 600)))
    le = draw(st.none() | st.integers(1, 65536 if extended else 256))
    head = [draw(st.integers(0, 255)) for _ in range(4)]
    return CommandApdu(*head, data=data, le=le, extended=extended)


@given(command_apdus())
def test_encode_parse_round_trip(cmd: CommandApdu) -> None:
    assert CommandApdu.parse(cmd.encode()) == cmd


@given(st.binary(max_size=300))
def test_parse_never_raises_anything_but_malformed(raw: bytes) -> None:
    try:
        cmd = CommandApdu.parse(raw)
    except MalformedApduError as exc:
        assert exc.sw == StatusWord.WRONG_LENGTH
    else:
        assert cmd.encode() == raw


@pytest.mark.parametrize(
    ("hex_apdu", "case", "data_len", "le", "extended"),
    [
        ("00200080", 1, 0, None, False),
        ("00B0000004", 2, 0, 4, False),
        ("00B0000000", 2, 0, 256, False),
        ("00B00000000100", 2, 0, 256, True),
        ("00B00000000000", 2, 0, 65536, True),
        ("00A4020C020018", 3, 2, None, False),
        ("00200080043132333400", 4, 4, 256, False),
        ("802A008003AABBCC00", 4, 3, 256, False),
        ("802A00800000030102030000", 4, 3, 65536, True),
        ("802A0080000003010203", 3, 3, None, True),
    ],
)
def test_cases_and_le_encodings(
    hex_apdu: str, case: int, data_len: int, le: int | None, extended: bool
) -> None:
    cmd = CommandApdu.parse(bytes.fromhex(hex_apdu))
    assert (cmd.case, len(cmd.data), cmd.le, cmd.extended) == (case, data_len, le, extended)
    assert cmd.encode().hex().upper() == hex_apdu


@pytest.mark.parametrize(
    "hex_apdu",
    ["", "00", "00A404", "00A4040C0AD392", "00A4040C02000102FF", "00B000000001"],
)
def test_malformed_lengths(hex_apdu: str) -> None:
    raw = bytes.fromhex(hex_apdu)
    with pytest.raises(MalformedApduError) as info:
        CommandApdu.parse(raw)
    assert isinstance(info.value, CardError)
    assert info.value.sw == 0x6700


def test_extended_lc_zero_is_malformed() -> None:
    with pytest.raises(MalformedApduError):
        CommandApdu.parse(bytes.fromhex("00B00000000000AA"))


@pytest.mark.parametrize(
    ("cla", "channel", "sm"),
    [
        (0x00, 0, False),
        (0x01, 1, False),
        (0x03, 3, False),
        (0x08, 0, True),
        (0x0C, 0, True),
        (0x40, 4, False),
        (0x4F, 19, False),
        (0x80, 0, False),
        (0x84, 0, True),
    ],
)
def test_class_byte_decoding(cla: int, channel: int, sm: bool) -> None:
    cmd = CommandApdu(cla, 0xB0, 0, 0, le=1)
    assert (cmd.channel, cmd.secure_messaging) == (channel, sm)


def test_constructor_rejects_impossible_fields() -> None:
    with pytest.raises(ValueError, match="one byte"):
        CommandApdu(0x100, 0, 0, 0)
    with pytest.raises(ValueError, match="Le"):
        CommandApdu(0, 0xB0, 0, 0, le=257)
    with pytest.raises(ValueError, match="Lc"):
        CommandApdu(0, 0xD6, 0, 0, data=b"x" * 256)
    assert CommandApdu(0, 0xB0, 0, 0, extended=True).extended is False
