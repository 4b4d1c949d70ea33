"""A PC/SC part-3 contactless reader in front of a Type B card (the card stays a chip).

On the contactless interface the reader, not the card, makes up what the host sees first:
it builds the ATR from the card's ATQB (a Type B card has no ATR of its own; see
:func:`type_b_atr`), knows the card's PUPI (4 random bytes, new at every activation: every
tap) and answers the PC/SC part-3 reader pseudo-APDUs
(CLA FF) itself, without sending them over the air. vpcd carries only the ATR and APDUs and
would pass those pseudo-APDUs to the card, which answers CLA FF with 6E00 like a real chip;
so this layer sits in front of `VirtualCard` and answers them (shared/docs/phone-path.md
section 5). Everything else reaches the card unchanged.

What the reader answers itself (`ContactlessReader.intercept`):

- ``FF CA 00 00 Le``: GET DATA, the PUPI. Le 00 (short) or 00 00 (extended): all 4 bytes +
  9000; Le 04: 4 bytes + 9000; Le 01-03: 6C04 (wrong length, 04 the exact Le); Le 05-FF:
  4 bytes + 6282 (end of data before Le bytes). This is the status word table of the
  SCM/Identiv SCL3711 and ACS ACR1281S/ACM1281U manuals (PC/SC part 3 section 3.2.2.1.3).
  Without Le, or with a data field: 6700 (our choice; readers document only the case-2 form).
- ``FF CA 01 00 Le``: the ATS, which only Type A has: 6A81 (function not supported; ACS
  manuals: "ATS ... for ISO 14443-A cards only").
- ``FF CA`` with any other P1 or P2 not 00: 6A81 (PC/SC part 3 defines only P1 00/01, P2 00).
- Any other INS under CLA FF: 6D00 (instruction not supported): this reader offers no
  storage-card, key or vendor commands.
- A CLA FF command shorter than its 4-byte header: 6700.
- With `max_command` set (261 models a phone or reader without extended-length APDUs): a
  longer command APDU never reaches the card and gets 6700 (wrong length) from the reader.

`latency` (seconds) is the extra time the card's answers take (RF + card time, e.g. just under
the FWT of the ATR's FWI); the transport that carries the answers applies it
(`simulator.service.slot`), to the card's answers only, not to the reader's own.
"""

from __future__ import annotations

import secrets
from typing import Protocol

from simulator.apdu.command import EXTENDED_MAX, SHORT_MAX, CommandApdu
from simulator.apdu.errors import MalformedApduError
from simulator.personalization.card_interface import TYPE_B_ATRS, TYPE_B_PREFIX, tck

__all__ = [
    "TYPE_B_ATRS",
    "ContactlessReader",
    "InterfaceSettings",
    "new_pupi",
    "reader_for",
    "type_b_atr",
]

# TYPE_B_ATRS: the four contactless ATRs of the My Number card seen through PC/SC readers
# (the persona schema's table; the first is the default).

CLA_READER = 0xFF
INS_GET_DATA = 0xCA
PUPI_LENGTH = 4
SW_OK = b"\x90\x00"
SW_END_OF_DATA = b"\x62\x82"  # Le longer than the PUPI: the 4 bytes come with this warning
SW_WRONG_LENGTH = b"\x67\x00"
SW_FUNCTION_NOT_SUPPORTED = b"\x6a\x81"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"


def type_b_atr(app_data: bytes, protocol_info: bytes, mbli: int = 0) -> bytes:
    """The ATR a PC/SC part-3 reader reports for a Type B card: 3B 88 80 01, the ATQB's
    application data (4 bytes) and protocol info (3 bytes), the ATTRIB answer's MBLI (0-15;
    many readers put 0) in the high nibble of one byte, and TCK (XOR of T0 .. that byte)."""
    if len(app_data) != 4:
        raise ValueError(f"ATQB application data must be 4 bytes, got {len(app_data)}")
    if len(protocol_info) != 3:
        raise ValueError(f"ATQB protocol info must be 3 bytes, got {len(protocol_info)}")
    if not 0 <= mbli <= 15:
        raise ValueError(f"MBLI must be 0-15, got {mbli}")
    body = TYPE_B_PREFIX + app_data + protocol_info + bytes([mbli << 4])
    return body + bytes([tck(body)])


def new_pupi() -> bytes:
    """A fresh PUPI (Type B's 4-byte pseudo-unique PICC identifier): random per tap, like a
    My Number card's, so a PUPI never identifies the card across taps."""
    return secrets.token_bytes(PUPI_LENGTH)


class InterfaceSettings(Protocol):
    """What the reader takes from a persona's ``[card]`` table (the persona schema's
    CardInterface has these fields)."""

    @property
    def kind(self) -> str: ...
    @property
    def contactless_atr(self) -> bytes: ...
    @property
    def latency(self) -> float: ...
    @property
    def max_command(self) -> int | None: ...


class ContactlessReader:
    """What a PC/SC part-3 reader adds in front of a Type B card: its ATR, the PUPI of the
    current tap, the answers to the reader pseudo-APDUs (CLA FF), an optional cap on the
    command length and the latency of the card's answers. Not thread-safe: the caller
    serialises calls (the slot's lock)."""

    def __init__(
        self,
        atr: bytes = TYPE_B_ATRS[0],
        *,
        latency: float = 0.0,
        max_command: int | None = None,
        pupi: bytes | None = None,
    ) -> None:
        """`atr`: a part-3 Type B ATR (one of TYPE_B_ATRS, or `type_b_atr(...)` of other
        ATQB fields; ValueError if it is not 13 bytes starting 3B 88 80 01 with the right
        TCK). `pupi`: the first tap's PUPI (4 bytes), random if not given."""
        if (
            len(atr) != 13
            or not atr.startswith(TYPE_B_PREFIX)
            or type_b_atr(atr[4:8], atr[8:11], atr[11] >> 4) != atr
        ):
            raise ValueError(
                f"not a PC/SC part-3 Type B ATR (3B 88 80 01 + ATQB 7 bytes + MBLI byte + "
                f"TCK): {atr.hex(' ').upper()}"
            )
        if latency < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {latency}")
        if max_command is not None and max_command < 5:
            raise ValueError(f"max_command must be >= 5 bytes, got {max_command}")
        if pupi is not None and len(pupi) != PUPI_LENGTH:
            raise ValueError(f"a PUPI is {PUPI_LENGTH} bytes, got {len(pupi)}")
        self.atr = atr
        self.latency = latency
        self.max_command = max_command
        self.pupi = pupi if pupi is not None else new_pupi()

    @classmethod
    def from_interface(cls, interface: InterfaceSettings) -> ContactlessReader:
        """The reader a persona's ``[card]`` settings describe (used whatever its `kind`)."""
        return cls(
            interface.contactless_atr,
            latency=interface.latency,
            max_command=interface.max_command,
        )

    @property
    def uid(self) -> str:
        """The current PUPI as upper-case hex (what `FF CA 00 00 00` returns)."""
        return self.pupi.hex().upper()

    def tap(self) -> bytes:
        """The card entered the field again (an insertion): a new PUPI, returned."""
        self.pupi = new_pupi()
        return self.pupi

    def intercept(self, apdu: bytes) -> bytes | None:
        """The reader's own answer to `apdu` (response data + SW), or None: the command goes
        to the card unchanged. Never raises, whatever the bytes."""
        if apdu[:1] == bytes([CLA_READER]):
            return self._pseudo_apdu(apdu)
        if self.max_command is not None and len(apdu) > self.max_command:
            return SW_WRONG_LENGTH
        return None

    def _pseudo_apdu(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            return SW_WRONG_LENGTH
        if apdu[1] != INS_GET_DATA:
            return SW_INS_NOT_SUPPORTED
        if apdu[2] != 0x00 or apdu[3] != 0x00:  # 01 00: the ATS, Type A only; others: none
            return SW_FUNCTION_NOT_SUPPORTED
        try:
            command = CommandApdu.parse(apdu)
        except (MalformedApduError, ValueError):
            return SW_WRONG_LENGTH
        if command.le is None or command.data:
            return SW_WRONG_LENGTH
        return self._get_uid(command.le, command.extended)

    def _get_uid(self, le: int, extended: bool) -> bytes:
        full_length = le == (EXTENDED_MAX if extended else SHORT_MAX)  # Le 00 / 00 00: all
        if full_length or le == PUPI_LENGTH:
            return self.pupi + SW_OK
        if le < PUPI_LENGTH:
            return bytes([0x6C, PUPI_LENGTH])
        return self.pupi + SW_END_OF_DATA


def reader_for(
    interface: InterfaceSettings, override: str | None = None
) -> ContactlessReader | None:
    """The reader a served card sits behind: a ContactlessReader for the contactless
    interface (the persona's `kind`, or `override` when given), None for contact."""
    kind = override or interface.kind
    if kind not in ("contact", "contactless"):
        raise ValueError(f"interface must be 'contact' or 'contactless', got {kind!r}")
    return ContactlessReader.from_interface(interface) if kind == "contactless" else None
