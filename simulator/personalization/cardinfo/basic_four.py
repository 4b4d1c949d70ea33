"""Text-AP EF 0002: the basic four information (基本4情報), jpki-card-reference.md §9.1.

``FF 20 L { DF21 08 <offsets>, DF22 name, DF23 address, DF24 "YYYYMMDD", DF25 sex }`` + FF
filler. The four big-endian u16 offsets count from the first byte of the file. The outer
length is one byte below 128 and ``82 HH LL`` from 128 up (§3, §16).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from . import ber

TAG = b"\xff\x20"
OFFSETS_TAG = b"\xdf\x21"
NAME_TAG = b"\xdf\x22"
ADDRESS_TAG = b"\xdf\x23"
BIRTH_TAG = b"\xdf\x24"
SEX_TAG = b"\xdf\x25"
SEX_CODES = frozenset({"0", "1", "2", "9"})  # JIS X 0303


@dataclass(frozen=True)
class BasicFour:
    name: str  # family and given name separated by U+3000
    address: str
    birth_date: dt.date  # written as Gregorian YYYYMMDD
    sex: str  # "1" male, "2" female, "9" not applicable ("0" unknown)


def yyyymmdd(day: dt.date) -> bytes:
    if not 1 <= day.year <= 9999:
        raise ValueError(f"{day} has no 4-digit year")
    return f"{day.year:04d}{day.month:02d}{day.day:02d}".encode("ascii")


def encode_basic_four(record: BasicFour, allocated: int | None = None) -> bytes:
    """The EF bytes, filled with ``FF`` up to ``allocated`` (``None``: no filler)."""
    if record.sex not in SEX_CODES:
        raise ValueError(f"sex must be one of 0, 1, 2, 9, got {record.sex!r}")
    fields = [
        ber.tlv(NAME_TAG, record.name.encode("utf-8")),
        ber.tlv(ADDRESS_TAG, record.address.encode("utf-8")),
        ber.tlv(BIRTH_TAG, yyyymmdd(record.birth_date)),
        ber.tlv(SEX_TAG, record.sex.encode("ascii")),
    ]
    return ber.pad(ber.with_offset_table(TAG, fields), allocated)


def hashed_part(ef0002: bytes) -> bytes:
    """What EF 0003's DF32 hashes: the outer value with the DF21 table skipped, i.e. from
    DF22 to the end of the TLV, filler excluded (§9.3)."""
    _, value = ber.split_outer(ef0002, TAG)
    if value[:2] != OFFSETS_TAG or len(value) < 3:
        raise ValueError("EF 0002 does not start with the DF21 offset table")
    return value[3 + value[2] :]
