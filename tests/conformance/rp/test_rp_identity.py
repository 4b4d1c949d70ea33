"""The basic four information parser of the reference relying party (no card, no server):
birth dates, DER UTF8Strings and malformed subjectAltNames fail closed."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from conformance.rp.identity import (
    ADDRESS,
    ADDRESS_SUBSTITUTION,
    BIRTH_DATE,
    NAME,
    NAME_SUBSTITUTION,
    SEX,
    IdentityError,
    parse_birth_date,
    read_basic_four,
    utf8_string,
)
from simulator.personalization import encode_birth_date

ADDRESS_TEXT = "東京都千代田区霞が関\uff12\uff0d\uff11\uff0d\uff12"  # full-width 2-1-2
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(("value", "date"), [
    ("118680125", dt.date(1868, 1, 25)),
    ("119120729", dt.date(1912, 7, 29)),
    ("219120730", dt.date(1912, 7, 30)),
    ("219261224", dt.date(1926, 12, 24)),
    ("319261225", dt.date(1926, 12, 25)),
    ("319890107", dt.date(1989, 1, 7)),
    ("419890108", dt.date(1989, 1, 8)),
    ("319880229", dt.date(1988, 2, 29)),  # a leap day
    ("520190501", dt.date(2019, 5, 1)),
])  # fmt: skip
def test_birth_dates_of_every_era(value: str, date: dt.date) -> None:
    assert parse_birth_date(value) == date


@given(st.dates(min_value=dt.date(1868, 1, 25), max_value=dt.date(2099, 12, 31)))
def test_birth_date_round_trip_with_the_personalization_encoder(date: dt.date) -> None:
    assert parse_birth_date(encode_birth_date(date)) == date


@pytest.mark.parametrize("value", [
    "19850820",  # no era digit
    "3198508200",  # too long
    "319850230",  # 30 February
    "319851320",  # month 13
    "019850820",  # era 0
    "619850820",  # no era 6
    "419850820",  # 1985 is 昭和, not 平成
    "319890108",  # first day of 平成 marked 昭和
    "118680124",  # before 明治
    "3198\uff150820",  # a full-width digit
    "3-1985-08",
    "",
])  # fmt: skip
def test_birth_dates_that_do_not_parse_fail_closed(value: str) -> None:
    with pytest.raises(IdentityError):
        parse_birth_date(value)


def utf8(text: str) -> bytes:
    raw = text.encode()
    if len(raw) < 0x80:
        return b"\x0c" + bytes([len(raw)]) + raw
    if len(raw) < 0x100:
        return b"\x0c\x81" + bytes([len(raw)]) + raw
    return b"\x0c\x82" + len(raw).to_bytes(2, "big") + raw


@pytest.mark.parametrize("text", ["", "試験　花子", "ア" * 45, "東" * 100])
def test_utf8_string_short_and_long_forms(text: str) -> None:
    assert utf8_string(utf8(text), "name") == text


@pytest.mark.parametrize("der", [
    b"",
    b"\x13\x02ab",  # PrintableString
    b"\x0c\x03ab",  # length too long
    b"\x0c\x01ab",  # trailing byte
    b"\x0c\x80",  # indefinite length
    b"\x0c\x02\xff\xfe",  # not UTF-8
])  # fmt: skip
def test_utf8_string_refuses_anything_else(der: bytes) -> None:
    with pytest.raises(IdentityError):
        utf8_string(der, "name")


GOOD = [
    (NAME, utf8("試験　花子")),
    (BIRTH_DATE, utf8("319850820")),
    (SEX, utf8("2")),
    (ADDRESS, utf8(ADDRESS_TEXT)),
    (NAME_SUBSTITUTION, utf8("00000")),
    (ADDRESS_SUBSTITUTION, utf8("0" * 15)),
]


def certificate_with(others: list[tuple[x509.ObjectIdentifier, bytes]]) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    san = x509.SubjectAlternativeName([x509.OtherName(oid, value) for oid, value in others])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
        .add_extension(san, critical=False)
        .sign(KEY, hashes.SHA256())
    )


def test_basic_four_in_any_order() -> None:
    four = read_basic_four(certificate_with(list(reversed(GOOD))))
    assert (four.name, four.birth_date, four.sex) == ("試験　花子", "319850820", "2")
    assert four.address == ADDRESS_TEXT


@pytest.mark.parametrize("index", range(len(GOOD)))
def test_a_missing_attribute_fails_closed(index: int) -> None:
    with pytest.raises(IdentityError, match="missing"):
        read_basic_four(certificate_with(GOOD[:index] + GOOD[index + 1 :]))


def test_a_repeated_attribute_fails_closed() -> None:
    with pytest.raises(IdentityError, match="twice"):
        read_basic_four(certificate_with([*GOOD, (BIRTH_DATE, utf8("319990101"))]))


@pytest.mark.parametrize(("oid", "value", "match"), [
    (SEX, utf8("3"), "sex"),
    (NAME_SUBSTITUTION, utf8("0000"), "substitution"),
    (ADDRESS_SUBSTITUTION, utf8("0" * 14 + "2"), "substitution"),
    (NAME, b"\x13\x01a", "UTF8String"),
])  # fmt: skip
def test_malformed_attributes_fail_closed(
    oid: x509.ObjectIdentifier, value: bytes, match: str
) -> None:
    others = [(o, value if o == oid else v) for o, v in GOOD]
    with pytest.raises(IdentityError, match=match):
        read_basic_four(certificate_with(others))


def test_no_subject_alt_name() -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    bare = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
        .sign(KEY, hashes.SHA256())
    )
    with pytest.raises(IdentityError, match="subjectAltName"):
        read_basic_four(bare)
