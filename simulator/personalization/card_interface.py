"""The interface a persona's card is presented on: contact, or contactless (ISO 14443 Type B).

On the contact interface the card's own ATR (``[card] atr``) is what a reader reports. On the
contactless interface a PC/SC part-3 reader *builds* the ATR from the card's ATQB:

    3B 88 80 01  <ATQB application data: 4>  <ATQB protocol info: 3>  <MBLI << 4>  TCK

(TS 3B, T0 88: TD1 follows, 8 historical bytes; TD1 80: TD2 follows, T=0; TD2 01: T=1; TCK:
XOR of T0..the last historical byte). The My Number card is Type B, so it has no ATS and its
4-byte PUPI is random per activation. The four ATRs seen through real readers are in
``TYPE_B_ATRS`` (OpenSC PR 3744's minidriver table; shared/docs/phone-path.md section 5).

This module only knows bytes: the persona schema validates ``[card] interface``,
``contactless_atr``, ``latency_ms`` and ``max_command_bytes`` with it, and
:mod:`simulator.transport.contactless` is the reader that acts on them (it builds ATRs with
``type_b_atr``; this module takes them apart, and holds the table of known ATRs both use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Interface = Literal["contact", "contactless"]
INTERFACES: tuple[Interface, ...] = ("contact", "contactless")

# The four contactless ATRs of the My Number card seen through PC/SC readers (OpenSC PR 3744,
# decoded in docs/phone/contactless.md). The first is the default.
TYPE_B_ATRS: tuple[bytes, ...] = (
    bytes.fromhex("3B888001000005E0B381A1007F"),
    bytes.fromhex("3B888001000041E0B381A1003B"),
    bytes.fromhex("3B888001004B51FF0081D100BC"),
    bytes.fromhex("3B888001004B51FFB381D1000F"),
)

TYPE_B_PREFIX = bytes.fromhex("3B888001")
TYPE_B_ATR_LENGTH = 13
SHORT_APDU_MAX = 261  # 4 header + 1 Lc + 255 data + 1 Le: the longest short command APDU
MAX_COMMAND_BYTES = 65544  # 4 + 3 Lc + 65535 data + 2 Le: the longest extended command APDU
MAX_LATENCY_MS = 60_000

# ISO/IEC 14443-3 FSCI -> maximum frame size (bytes) a Type B card accepts
FRAME_SIZES = (16, 24, 32, 40, 48, 64, 96, 128, 256, 512, 1024, 2048, 4096)
CARRIER_HZ = 13_560_000


def tck(body: bytes) -> int:
    """The ATR check byte: XOR of every byte from T0 (the second) to the end of `body`."""
    check = 0
    for byte in body[1:]:
        check ^= byte
    return check


@dataclass(frozen=True)
class TypeBAtr:
    """A part-3 Type B ATR taken apart (ISO/IEC 14443-3 ATQB fields)."""

    app_data: bytes  # 4 bytes: AFI, CRC_B(AID) 2 bytes, number of applications
    protocol_info: bytes  # 3 bytes
    mbli: int  # high nibble of the last historical byte

    @property
    def bit_rates(self) -> int:
        """Bit_Rate_capability (protocol info byte 1): 00 = 106 kbit/s only."""
        return self.protocol_info[0]

    @property
    def max_frame_size(self) -> int:
        """The largest frame the card accepts: FSCI, the high nibble of protocol info byte
        2 (0-8: 16-256 bytes; 9-C: 512-4096 since ISO/IEC 14443-3:2016; D-F, RFU, as 4096)."""
        fsci = self.protocol_info[1] >> 4
        return FRAME_SIZES[min(fsci, len(FRAME_SIZES) - 1)]

    @property
    def iso14443_4(self) -> bool:
        """Protocol_Type bit 1 (low nibble of byte 2): the card speaks ISO/IEC 14443-4."""
        return bool(self.protocol_info[1] & 0x01)

    @property
    def fwi(self) -> int:
        """Frame waiting time integer (high nibble of protocol info byte 3)."""
        return self.protocol_info[2] >> 4

    @property
    def fwt_seconds(self) -> float:
        """The frame waiting time FWT = 256 * 16 / fc * 2**FWI: how long the reader waits
        for an answer before it retries or gives up (FWI 10: ~0.31 s, 13: ~2.5 s)."""
        return 256 * 16 / CARRIER_HZ * (1 << self.fwi)


def parse_type_b_atr(atr: bytes) -> TypeBAtr:
    """Take a part-3 Type B ATR apart; ValueError says what is wrong with it."""
    rule = (
        f"a PC/SC part-3 Type B ATR is {TYPE_B_ATR_LENGTH} bytes: 3B 88 80 01, "
        "4 bytes ATQB application data, 3 bytes protocol info, MBLI byte (low nibble 0), TCK"
    )
    if len(atr) != TYPE_B_ATR_LENGTH or not atr.startswith(TYPE_B_PREFIX):
        raise ValueError(rule)
    if atr[11] & 0x0F:
        raise ValueError(f"{rule}; MBLI byte {atr[11]:02X} has a low nibble")
    if tck(atr[:-1]) != atr[-1]:
        raise ValueError(f"{rule}; TCK must be {tck(atr[:-1]):02X}, not {atr[-1]:02X}")
    return TypeBAtr(app_data=atr[4:8], protocol_info=atr[8:11], mbli=atr[11] >> 4)


@dataclass(frozen=True)
class CardInterface:
    """How a persona's card is presented (the ``[card]`` fields after ``token_serial``).

    `contactless_atr`, `latency` and `max_command` apply on the contactless interface only;
    they are kept for a contact persona too, so `mynasim serve --interface contactless`
    can use them."""

    kind: Interface = "contact"
    contactless_atr: bytes = TYPE_B_ATRS[0]
    latency: float = 0.0  # seconds before each answer of the card (latency_ms / 1000)
    max_command: int | None = None  # longest command APDU the reader carries; None: any

    def __post_init__(self) -> None:
        if self.kind not in INTERFACES:
            raise ValueError(f"interface must be one of {', '.join(INTERFACES)}")
        parse_type_b_atr(self.contactless_atr)
        if not 0 <= self.latency <= MAX_LATENCY_MS / 1000:
            raise ValueError(f"latency must be 0-{MAX_LATENCY_MS / 1000:g} seconds")
        if self.max_command is not None and not 5 <= self.max_command <= MAX_COMMAND_BYTES:
            raise ValueError(f"max_command must be 5-{MAX_COMMAND_BYTES} bytes")
