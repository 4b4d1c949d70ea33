"""Redaction of PIN-bearing command APDUs for logs, traces and reports.

VERIFY (20), CHANGE REFERENCE DATA (24), RESET RETRY COUNTER (2C) and the JICSAP
CHANGE KEY (80 32) carry PIN values in their data field. Their header and length
stay visible; the data never does.
"""

from __future__ import annotations

PIN_INS = frozenset({0x20, 0x24, 0x2C, 0x32})
REDACTED = "**"


def carries_pin(raw: bytes) -> bool:
    return len(raw) > 4 and raw[1] in PIN_INS


def redact_command(raw: bytes) -> bytes:
    """The APDU with every byte after the length field replaced by `*` (0x2A),
    Le kept where it can be told apart. Non-PIN APDUs come back unchanged."""
    if not carries_pin(raw):
        return bytes(raw)
    head = _length_field_end(raw)
    return bytes(raw[:head]) + b"*" * (len(raw) - head)


def redacted_hex(raw: bytes) -> str:
    """Spaced upper-case hex with PIN data shown as `**`."""
    if not carries_pin(raw):
        return raw.hex(" ").upper()
    head = _length_field_end(raw)
    shown = raw[:head].hex(" ").upper()
    return " ".join([shown, *([REDACTED] * (len(raw) - head))])


def _length_field_end(raw: bytes) -> int:
    # Short form: CLA INS P1 P2 Lc; extended: CLA INS P1 P2 00 Lc1 Lc2.
    if raw[4] == 0 and len(raw) >= 7:
        return 7
    return 5
