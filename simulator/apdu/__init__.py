"""Pure APDU codec: command and response APDUs, status words, BER-TLV. Stdlib only."""

from simulator.apdu.command import CommandApdu
from simulator.apdu.errors import CardError, MalformedApduError
from simulator.apdu.redact import redact_command, redacted_hex
from simulator.apdu.response import ResponseApdu
from simulator.apdu.sw import StatusWord, describe, retries_from, retries_remaining
from simulator.apdu.tlv import Tlv, TlvError

__all__ = [
    "CardError",
    "CommandApdu",
    "MalformedApduError",
    "ResponseApdu",
    "StatusWord",
    "Tlv",
    "TlvError",
    "describe",
    "redact_command",
    "redacted_hex",
    "retries_from",
    "retries_remaining",
]
