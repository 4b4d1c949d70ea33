"""JPKI EF 0006: the 160-byte PKCS#11 CK_TOKEN_INFO (jpki-card-reference.md section 8).

32-bit integers are big-endian; the version fields are ASCII, as on the card.
"""

from __future__ import annotations

import struct

TOKEN_INFO_SIZE = 160
FLAGS = 0x0000040D  # RNG | LOGIN_REQUIRED | USER_PIN_INITIALIZED | TOKEN_INITIALIZED
UNAVAILABLE = 0xFFFFFFFF
MANUFACTURER_ID = b"00000000000000000000000000000001"
MODEL = b"E16R01NJ"


def _field(text: bytes, size: int) -> bytes:
    if len(text) > size:
        raise ValueError(f"{text!r} longer than {size} bytes")
    return text.ljust(size, b" ")


def build_token_info(label: str, serial: str) -> bytes:
    """The EF 0006 bytes for a token `label` (e.g. JPKIAPICCTOKEN2) and 16-char `serial`."""
    out = b"".join(
        (
            _field(label.encode("ascii"), 32),
            _field(MANUFACTURER_ID, 32),
            _field(MODEL, 16),
            _field(serial.encode("ascii"), 16),
            struct.pack(">7I", FLAGS, 1, 0, 1, 0, 16, 6),
            struct.pack(">4I", *([UNAVAILABLE] * 4)),
            b"03",
            b"01",
            b" " * 16,  # utcTime: the card has no clock
        )
    )
    assert len(out) == TOKEN_INFO_SIZE  # noqa: S101 - layout invariant
    return out
