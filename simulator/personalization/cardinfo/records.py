"""The record of the 0100 and 0401 APs (EF 0001, SFI 1, record 1), jpki-card-reference.md §3.4.

Simple TLV ``01 1C`` + 28 ASCII digits: serial number (15) + municipality code (5) + expiry
``YYYYMMDD`` (8), e.g. ``01 1C "400000012719843" "13221" "20350217"``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .basic_four import yyyymmdd

RECORD_TAG = 0x01
RECORD_SIZE = 30


@dataclass(frozen=True)
class CardRecord:
    serial: str  # 15 ASCII digits
    municipality_code: str  # 5 ASCII digits
    expiry: dt.date


def encode_card_record(record: CardRecord) -> bytes:
    for name, text, count in (
        ("serial", record.serial, 15),
        ("municipality code", record.municipality_code, 5),
    ):
        if len(text) != count or not text.isascii() or not text.isdigit():
            raise ValueError(f"{name} must be {count} ASCII digits, got {text!r}")
    value = record.serial.encode("ascii") + record.municipality_code.encode("ascii")
    value += yyyymmdd(record.expiry)
    return bytes((RECORD_TAG, len(value))) + value
