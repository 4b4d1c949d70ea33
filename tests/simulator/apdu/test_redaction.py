from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.apdu import redact_command, redacted_hex


@pytest.mark.parametrize(
    ("hex_apdu", "shown"),
    [
        ("002000800431323334", "00 20 00 80 04 ** ** ** **"),
        ("0024018006414243313233", "00 24 01 80 06 ** ** ** ** ** **"),
        ("803200800431323334", "80 32 00 80 04 ** ** ** **"),
        ("002C0080000004 31323334".replace(" ", ""), "00 2C 00 80 00 00 04 ** ** ** **"),
        ("00200080", "00 20 00 80"),
        ("00A4020C020018", "00 A4 02 0C 02 00 18"),
    ],
)
def test_pin_data_is_hidden(hex_apdu: str, shown: str) -> None:
    assert redacted_hex(bytes.fromhex(hex_apdu)) == shown


@given(st.sampled_from([0x20, 0x24, 0x2C, 0x32]), st.binary(min_size=1, max_size=16))
def test_no_pin_byte_survives(ins: int, pin: bytes) -> None:
    raw = bytes((0x00, ins, 0x00, 0x80, len(pin))) + pin
    redacted = redact_command(raw)
    assert redacted[:5] == raw[:5]
    assert redacted[5:] == b"*" * len(pin)
    assert redacted_hex(raw).endswith(" **" * len(pin))
