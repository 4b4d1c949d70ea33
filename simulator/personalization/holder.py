"""The certificate holder: the basic four information (基本4情報) plus where the holder lives.

The values end up in the signature certificate's subjectAltName otherNames
(jpki-pki-and-relying-parties.md §1.4) and, for the romanised prefecture/city and the
municipality code, in subject names and CRL distribution points of both certificates.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from . import fields
from .fields import FieldError, Table

# First Gregorian day of each era, with the era digit used in the birth-date otherName.
_ERAS: tuple[tuple[dt.date, int], ...] = (
    (dt.date(2019, 5, 1), 5),  # 令和 Reiwa
    (dt.date(1989, 1, 8), 4),  # 平成 Heisei
    (dt.date(1926, 12, 25), 3),  # 昭和 Showa
    (dt.date(1912, 7, 30), 2),  # 大正 Taisho
    (dt.date(1868, 1, 25), 1),  # 明治 Meiji (明治元年1月1日 in the Gregorian calendar)
)

SEX_CODES = frozenset({"0", "1", "2", "9"})  # JIS X 0303: unknown, male, female, not applicable

_ROMAJI = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_MUNICIPALITY_CODE = re.compile(r"[0-9]{5}")
_FLAGS = re.compile(r"[01]*")

_KEYS = (
    "name",
    "name_substitution",
    "sex",
    "birth_date",
    "address",
    "address_substitution",
    "prefecture_romaji",
    "city_romaji",
    "municipality_code",
)


@dataclass(frozen=True)
class Holder:
    """Holder data as written in the certificates (strings exactly as encoded)."""

    name: str  # family and given name separated by U+3000
    name_substitution: str  # one "0"/"1" per character of name ("1" = substituted glyph)
    sex: str  # "1" male, "2" female ("0" unknown, "9" not applicable)
    birth_date: dt.date
    address: str  # full-width digits and hyphens as on the card
    address_substitution: str  # one "0"/"1" per character of address
    prefecture_romaji: str  # e.g. "Tokyo-to" (sign-cert subject L, CRL DP OU)
    city_romaji: str  # e.g. "Chiyoda-ku" (sign-cert subject L, CRL DP CN)
    municipality_code: str  # 5 digits without check digit, e.g. "13101"


def era_digit(birth_date: dt.date) -> int:
    """The era digit (1 明治 … 5 令和) of a Gregorian date."""
    for start, digit in _ERAS:
        if birth_date >= start:
            return digit
    raise ValueError("dates before 1868-01-25 (明治) have no era digit")


def encode_birth_date(birth_date: dt.date) -> str:
    """The 9-digit ``EYYYYMMDD`` form: era digit followed by the Gregorian date."""
    return f"{era_digit(birth_date)}{birth_date:%Y%m%d}"


def _is_visible_text(text: str) -> bool:
    """Non-empty, and no control, format, unassigned or line/paragraph-separator characters."""
    bad = ("C", "Zl", "Zp")
    return bool(text) and not any(unicodedata.category(ch).startswith(bad) for ch in text)


def _text(table: Table, key: str, where: str) -> str:
    value = fields.string(table, key, where)
    if not _is_visible_text(value):
        raise FieldError(f"{fields.field_name(where, key)}: must be non-empty printable text")
    return value


def _flags(table: Table, key: str, where: str, text: str, text_key: str) -> str:
    value = fields.string(table, key, where)
    if not _FLAGS.fullmatch(value) or len(value) != len(text):
        raise FieldError(
            f"{fields.field_name(where, key)}: must hold one '0' or '1' per character of "
            f"{fields.field_name(where, text_key)} ({len(text)} characters)"
        )
    return value


def _matching(table: Table, key: str, where: str, pattern: re.Pattern[str], rule: str) -> str:
    value = fields.string(table, key, where)
    if not pattern.fullmatch(value):
        raise FieldError(f"{fields.field_name(where, key)}: must be {rule}")
    return value


def _sex(table: Table, where: str) -> str:
    value = fields.string(table, "sex", where)
    if value not in SEX_CODES:
        raise FieldError(f"{fields.field_name(where, 'sex')}: must be one of 0, 1, 2, 9")
    return value


def _birth_date(table: Table, where: str) -> dt.date:
    value = fields.local_date(table, "birth_date", where)
    if value < _ERAS[-1][0]:
        raise FieldError(f"{fields.field_name(where, 'birth_date')}: must be 1868-01-25 or later")
    return value


def parse_holder(table: Table, where: str = "holder") -> Holder:
    """Validate a ``[holder]`` table; raises :class:`FieldError` naming the bad field."""
    fields.check_keys(table, _KEYS, where)
    name = _text(table, "name", where)
    address = _text(table, "address", where)
    romaji = "ASCII letters, digits and '-' starting with a letter (e.g. Tokyo-to)"
    return Holder(
        name=name,
        name_substitution=_flags(table, "name_substitution", where, name, "name"),
        sex=_sex(table, where),
        birth_date=_birth_date(table, where),
        address=address,
        address_substitution=_flags(table, "address_substitution", where, address, "address"),
        prefecture_romaji=_matching(table, "prefecture_romaji", where, _ROMAJI, romaji),
        city_romaji=_matching(table, "city_romaji", where, _ROMAJI, romaji),
        municipality_code=_matching(
            table, "municipality_code", where, _MUNICIPALITY_CODE, "exactly 5 ASCII digits"
        ),
    )
