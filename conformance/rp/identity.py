"""The basic four information (基本4情報) in a JPKI signature certificate.

The holder's data travel in the subjectAltName as six ``otherName`` entries (jpki-pki-and-
relying-parties.md §1.4), each ``[0] EXPLICIT UTF8String``:

    1.2.392.200149.8.5.5.1  name                 e.g. "試験　花子" (U+3000 between the names)
    1.2.392.200149.8.5.5.2  name substitution    one "0"/"1" per character of the name
    1.2.392.200149.8.5.5.3  sex                  "1" male, "2" female, "9" n/a, "0" unknown
    1.2.392.200149.8.5.5.4  birth date           "EYYYYMMDD": era digit + GREGORIAN date
    1.2.392.200149.8.5.5.5  address              full-width digits and hyphens as registered
    1.2.392.200149.8.5.5.6  address substitution one "0"/"1" per character of the address

Everything is kept byte-exact: no Unicode normalisation (NFKC would turn U+3000 into a space
and full-width digits and hyphens into ASCII, and the record would no longer match the
registry). Anything unexpected (a missing or repeated attribute, a value that is not a
UTF8String, a birth date that does not parse) fails closed with :class:`IdentityError`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

PERSONAL_DATA_ARC = "1.2.392.200149.8.5.5"
NAME = x509.ObjectIdentifier(PERSONAL_DATA_ARC + ".1")
NAME_SUBSTITUTION = x509.ObjectIdentifier(PERSONAL_DATA_ARC + ".2")
SEX = x509.ObjectIdentifier(PERSONAL_DATA_ARC + ".3")
BIRTH_DATE = x509.ObjectIdentifier(PERSONAL_DATA_ARC + ".4")
ADDRESS = x509.ObjectIdentifier(PERSONAL_DATA_ARC + ".5")
ADDRESS_SUBSTITUTION = x509.ObjectIdentifier(PERSONAL_DATA_ARC + ".6")
FIELDS = {
    NAME: "name",
    NAME_SUBSTITUTION: "name_substitution",
    SEX: "sex",
    BIRTH_DATE: "birth_date",
    ADDRESS: "address",
    ADDRESS_SUBSTITUTION: "address_substitution",
}

# First Gregorian day of each era and its digit in the birth date (明治 from 1868-01-25).
ERAS: tuple[tuple[int, dt.date], ...] = (
    (5, dt.date(2019, 5, 1)),  # 令和
    (4, dt.date(1989, 1, 8)),  # 平成
    (3, dt.date(1926, 12, 25)),  # 昭和
    (2, dt.date(1912, 7, 30)),  # 大正
    (1, dt.date(1868, 1, 25)),  # 明治
)
SEX_CODES = frozenset({"0", "1", "2", "9"})

_UTF8_STRING = 0x0C


class IdentityError(ValueError):
    """The certificate does not carry a well-formed basic four information."""


@dataclass(frozen=True)
class BasicFour:
    """The six attributes exactly as encoded (the birth date still in its ``EYYYYMMDD`` form)."""

    name: str
    name_substitution: str
    sex: str
    birth_date: str
    address: str
    address_substitution: str


def read_basic_four(certificate: x509.Certificate) -> BasicFour:
    """The six otherName attributes of the subjectAltName; each must occur exactly once."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise IdentityError("the certificate has no subjectAltName") from None
    values: dict[str, str] = {}
    for other in names.get_values_for_type(x509.OtherName):
        field = FIELDS.get(other.type_id)
        if field is None:
            continue
        if field in values:
            raise IdentityError(f"{field} ({other.type_id.dotted_string}) occurs twice")
        values[field] = utf8_string(other.value, field)
    missing = [field for field in FIELDS.values() if field not in values]
    if missing:
        raise IdentityError("missing in the subjectAltName: " + ", ".join(missing))
    four = BasicFour(**values)
    if four.sex not in SEX_CODES:
        raise IdentityError(f"sex code {four.sex!r} is not one of 0, 1, 2, 9")
    _check_flags(four.name_substitution, four.name, "name")
    _check_flags(four.address_substitution, four.address, "address")
    return four


def utf8_string(der: bytes, field: str) -> str:
    """The text of one DER UTF8String (tag, definite length, content; nothing after it)."""
    if len(der) < 2 or der[0] != _UTF8_STRING:
        raise IdentityError(f"{field} is not a UTF8String")
    length, start = der[1], 2
    if length & 0x80:  # long form: the low bits count the length octets that follow
        count = length & 0x7F
        if not 1 <= count <= 3 or len(der) < 2 + count:
            raise IdentityError(f"{field}: bad DER length")
        length, start = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    if start + length != len(der):
        raise IdentityError(f"{field}: DER length does not match the value")
    try:
        return der[start:].decode("utf-8")
    except UnicodeDecodeError:
        raise IdentityError(f"{field} is not valid UTF-8") from None


def _check_flags(flags: str, text: str, field: str) -> None:
    if len(flags) != len(text) or set(flags) - {"0", "1"}:
        raise IdentityError(f"{field} substitution flags do not give one 0/1 per character")


def parse_birth_date(value: str) -> dt.date:
    """``EYYYYMMDD``: era digit 1-5, then the Gregorian date, which must lie in that era."""
    if len(value) != 9 or not value.isascii() or not value.isdigit():
        raise IdentityError(f"birth date {value!r} is not 9 digits EYYYYMMDD")
    try:
        born = dt.date(int(value[1:5]), int(value[5:7]), int(value[7:9]))
    except ValueError:
        raise IdentityError(f"birth date {value!r}: {value[1:]} is not a date") from None
    era = int(value[0])
    for digit, start in ERAS:
        if born >= start:
            if digit != era:
                raise IdentityError(f"birth date {value!r}: the era digit should be {digit}")
            return born
    raise IdentityError(f"birth date {value!r} lies before 明治")
