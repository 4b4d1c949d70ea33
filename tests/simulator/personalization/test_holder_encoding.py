"""Holder data encodings: era digits, EYYYYMMDD birth dates, DER UTF8String."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from simulator.personalization.holder import encode_birth_date, era_digit
from simulator.personalization.pki import der_utf8string


@pytest.mark.parametrize(
    ("day", "digit"),
    [
        (dt.date(1868, 1, 25), 1),
        (dt.date(1912, 7, 29), 1),
        (dt.date(1912, 7, 30), 2),
        (dt.date(1926, 12, 24), 2),
        (dt.date(1926, 12, 25), 3),
        (dt.date(1989, 1, 7), 3),
        (dt.date(1989, 1, 8), 4),
        (dt.date(2019, 4, 30), 4),
        (dt.date(2019, 5, 1), 5),
        (dt.date(2024, 2, 29), 5),
    ],
)
def test_era_boundaries(day: dt.date, digit: int) -> None:
    assert era_digit(day) == digit


def test_no_era_before_meiji() -> None:
    with pytest.raises(ValueError, match="1868-01-25"):
        era_digit(dt.date(1868, 1, 24))


@pytest.mark.parametrize(
    ("day", "encoded"),
    [
        (dt.date(1980, 2, 17), "319800217"),  # test card (§1.4)
        (dt.date(1899, 12, 1), "118991201"),
        (dt.date(1985, 8, 20), "319850820"),  # default persona
        (dt.date(2000, 2, 29), "420000229"),
        (dt.date(2020, 1, 5), "520200105"),
    ],
)
def test_encode_birth_date(day: dt.date, encoded: str) -> None:
    assert encode_birth_date(day) == encoded


@given(st.dates(min_value=dt.date(1868, 1, 25), max_value=dt.date(2099, 12, 31)))
def test_encoded_birth_date_is_era_digit_and_gregorian_date(day: dt.date) -> None:
    encoded = encode_birth_date(day)
    assert len(encoded) == 9 and encoded.isascii() and encoded.isdigit()
    assert dt.datetime.strptime(encoded[1:], "%Y%m%d").date() == day
    assert encoded[0] in "12345"


_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=400)


@given(_TEXT)
def test_der_utf8string_matches_the_library_encoding(text: str) -> None:
    # An O attribute is encoded as UTF8String by cryptography: its DER ends with the string.
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, text)])
    encoded = der_utf8string(text)
    assert encoded[0] == 0x0C
    assert name.public_bytes().endswith(encoded)


@pytest.mark.parametrize(
    ("size", "header"), [(0x7F, "0c7f"), (0x80, "0c8180"), (0x100, "0c820100")]
)
def test_der_utf8string_length_forms(size: int, header: str) -> None:
    assert der_utf8string("a" * size)[: len(header) // 2].hex() == header
