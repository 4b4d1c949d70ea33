"""Japanese era (和暦) years as printed on the card face, and 照合番号B.

The surface AP's birth-date key (0011) and the first 6 digits of 照合番号B are the birth date
as printed: 2-digit era year + MM + DD (jpki-card-reference.md §3.3, §4.1).

Assumption (untested on real cards, §4.1): cards that print a Gregorian birth date (foreign
residents) use ``YYMMDD`` of the Gregorian year; pass ``gregorian=True`` for them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Era:
    name: str  # Japanese name, e.g. "令和"
    romaji: str
    start: dt.date  # first Gregorian day of 元年


# Newest first. 明治 starts at 明治元年1月1日 = 1868-01-25 (the era was proclaimed on
# 1868-10-23 and applied from the start of that year), as in holder.py; both give 明治1 for 1868.
ERAS: tuple[Era, ...] = (
    Era("令和", "Reiwa", dt.date(2019, 5, 1)),
    Era("平成", "Heisei", dt.date(1989, 1, 8)),
    Era("昭和", "Showa", dt.date(1926, 12, 25)),
    Era("大正", "Taisho", dt.date(1912, 7, 30)),
    Era("明治", "Meiji", dt.date(1868, 1, 25)),
)


@dataclass(frozen=True)
class EraDate:
    era: Era
    year: int  # 1 = 元年
    month: int
    day: int


def to_era(day: dt.date) -> EraDate:
    """The era date of a Gregorian date (明治 onwards)."""
    for era in ERAS:
        if day >= era.start:
            return EraDate(era, day.year - era.start.year + 1, day.month, day.day)
    raise ValueError(f"{day} is before 明治 (1868-01-25)")


def printed_yymmdd(birth: dt.date, *, gregorian: bool = False) -> str:
    """The printed birth date as 6 ASCII digits: era year (2 digits) + MM + DD, or with
    ``gregorian`` the last two digits of the Gregorian year (assumption, see module doc)."""
    if gregorian:
        return f"{birth.year % 100:02d}{birth.month:02d}{birth.day:02d}"
    era_date = to_era(birth)
    if era_date.year > 99:
        raise ValueError(f"era year {era_date.year} of {birth} needs more than 2 digits")
    return f"{era_date.year:02d}{birth.month:02d}{birth.day:02d}"


def pin_b(birth: dt.date, expiry_year: int, security_code: str, *, gregorian: bool = False) -> str:
    """照合番号B: printed birth ``YYMMDD`` + expiry year ``YYYY`` + 4-digit security code."""
    if not 1000 <= expiry_year <= 9999:
        raise ValueError(f"expiry year {expiry_year} is not 4 digits")
    if len(security_code) != 4 or not security_code.isascii() or not security_code.isdigit():
        raise ValueError(f"security code must be 4 ASCII digits, got {security_code!r}")
    return printed_yymmdd(birth, gregorian=gregorian) + f"{expiry_year:04d}" + security_code
