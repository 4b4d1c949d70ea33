"""Status words (ISO/IEC 7816-4 and the JPKI card's observed values).

`StatusWord(x)` never fails for a 16-bit value: unknown words become pseudo-members
named ``SW_XXXX`` so that traces and error messages can always show them.
"""

from __future__ import annotations

from enum import IntEnum


class StatusWord(IntEnum):
    """Two-byte status word; members are named after their ISO 7816-4 meaning."""

    OK = 0x9000
    VERIFY_FAILED_NO_RETRY_LIMIT = 0x6300
    KEY_DELIVERY_NOT_CONFIGURED = 0x66F1
    WRONG_LENGTH = 0x6700
    LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881
    SECURE_MESSAGING_NOT_SUPPORTED = 0x6882
    COMMAND_INCOMPATIBLE_WITH_FILE = 0x6981
    SECURITY_STATUS_NOT_SATISFIED = 0x6982
    AUTHENTICATION_METHOD_BLOCKED = 0x6983
    REFERENCE_DATA_BLOCKED = 0x6984
    CONDITIONS_OF_USE_NOT_SATISFIED = 0x6985
    COMMAND_NOT_ALLOWED_NO_CURRENT_EF = 0x6986
    SM_DATA_OBJECTS_MISSING = 0x6987
    SM_DATA_OBJECTS_INCORRECT = 0x6988
    SM_SESSION_BROKEN = 0x69FC
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    RECORD_NOT_FOUND = 0x6A83
    INCORRECT_P1_P2 = 0x6A86
    REFERENCED_DATA_NOT_FOUND = 0x6A88
    WRONG_P1_P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00

    @classmethod
    def _missing_(cls, value: object) -> StatusWord | None:
        if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
            return None
        member = int.__new__(cls, value)
        member._name_ = f"SW_{value:04X}"
        member._value_ = value
        return member

    @property
    def sw1(self) -> int:
        return self.value >> 8

    @property
    def sw2(self) -> int:
        return self.value & 0xFF

    def to_bytes2(self) -> bytes:
        return self.value.to_bytes(2, "big")


def retries_remaining(count: int) -> StatusWord:
    """The `63Cx` word for a VERIFY that leaves `count` (0-15) tries."""
    if not 0 <= count <= 0xF:
        raise ValueError(f"retry count {count} does not fit in 63Cx")
    return StatusWord(0x63C0 | count)


def retries_from(sw: int) -> int | None:
    """The x of a `63Cx` word, or None for any other word."""
    return sw & 0xF if sw & 0xFFF0 == 0x63C0 else None


_MEANINGS: dict[int, str] = {
    0x9000: "success",
    0x6300: "verification failed",
    0x66F1: "no key delivery configured in this application",
    0x6700: "wrong length",
    0x6881: "logical channel not supported",
    0x6882: "secure messaging not supported",
    0x6981: "command incompatible with file structure",
    0x6982: "security status not satisfied",
    0x6983: "authentication method blocked",
    0x6984: "reference data blocked",
    0x6985: "conditions of use not satisfied",
    0x6986: "command not allowed (no current EF)",
    0x6987: "secure messaging data objects missing",
    0x6988: "secure messaging data objects incorrect",
    0x69FC: "secure messaging session broken",
    0x6A80: "incorrect data",
    0x6A81: "function not supported",
    0x6A82: "file or application not found",
    0x6A83: "record not found",
    0x6A86: "incorrect P1/P2",
    0x6A88: "referenced data not found",
    0x6B00: "offset outside the file",
    0x6D00: "instruction not supported",
    0x6E00: "class not supported",
    0x6F00: "no precise diagnosis",
}


def describe(sw: int) -> str:
    """A one-line human description, e.g. ``63C2 (verification failed, 2 tries left)``."""
    left = retries_from(sw)
    if left is not None:
        meaning = f"verification failed, {left} {'try' if left == 1 else 'tries'} left"
    elif sw >> 8 == 0x61:
        count = f"{sw & 0xFF}" if sw & 0xFF else "256 or more"
        meaning = f"more bytes available: {count} (GET RESPONSE)"
    elif sw >> 8 == 0x6C:
        meaning = f"wrong Le, exact length is {sw & 0xFF or 256}"
    else:
        meaning = _MEANINGS.get(sw, "unknown status")
    return f"{sw:04X} ({meaning})"
