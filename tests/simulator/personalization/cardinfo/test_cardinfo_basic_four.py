"""Text EF 0002 (basic four) layout, offsets and length forms."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.apdu.tlv import decode_one
from simulator.personalization.cardinfo import ber
from simulator.personalization.cardinfo.basic_four import BasicFour, encode_basic_four, hashed_part

BIRTH = dt.date(1980, 2, 17)


def _record(name_bytes: int, address_bytes: int) -> BasicFour:
    # 3-byte UTF-8 characters plus ASCII to hit exact byte lengths.
    name = "氏" * (name_bytes // 3) + "a" * (name_bytes % 3)
    address = "東" * (address_bytes // 3) + "1" * (address_bytes % 3)
    return BasicFour(name=name, address=address, birth_date=BIRTH, sex="1")


def test_reference_prefix_vector() -> None:
    # jpki-card-reference.md §9.1 (MC test card): FF 20 65 DF 21 08 00 0E 00 20 00 59 00 64.
    record = BasicFour("番号　花子", "東京都千代田区霞が関二丁目１番２号", BIRTH, "2")
    assert len(record.name.encode()) == 15 and len(record.address.encode()) == 51
    record = _record(15, 54)
    ef = encode_basic_four(record)
    assert ef[:14] == bytes.fromhex("FF2065DF2108000E002000590064")
    assert len(ef) == 3 + 0x65


def _check_offsets(ef: bytes, record: BasicFour) -> None:
    outer, _ = decode_one(ef)
    table, _ = decode_one(outer.value)
    assert table.tag == 0xDF21 and len(table.value) == 8
    expected = [
        (0xDF22, record.name.encode()),
        (0xDF23, record.address.encode()),
        (0xDF24, f"{record.birth_date:%Y%m%d}".encode()),
        (0xDF25, record.sex.encode()),
    ]
    for i, (tag, value) in enumerate(expected):
        offset = int.from_bytes(table.value[2 * i : 2 * i + 2], "big")
        item, _ = decode_one(ef, offset)
        assert (item.tag, item.value) == (tag, value)


@given(
    st.text(min_size=1, max_size=60),
    st.text(min_size=1, max_size=200),
    st.dates(min_value=dt.date(1868, 1, 25), max_value=dt.date(2099, 12, 31)),
    st.sampled_from("0129"),
)
def test_offsets_for_arbitrary_text(name: str, address: str, birth: dt.date, sex: str) -> None:
    record = BasicFour(name, address, birth, sex)
    ef = encode_basic_four(record)
    _check_offsets(ef, record)
    outer, end = decode_one(ef)
    assert end == len(ef)
    assert ef[2:3] == (b"\x82" if len(outer.value) >= 128 else bytes((len(outer.value),)))
    # DF32's input: from DF22 to the end of the TLV.
    assert hashed_part(ef) == outer.value[11:]


@pytest.mark.parametrize(
    ("address_bytes", "header", "first_offset"),
    [(80, "FF207F", 14), (81, "FF20820080", 16)],
)
def test_length_form_at_127_128(address_bytes: int, header: str, first_offset: int) -> None:
    record = _record(15, address_bytes)
    ef = encode_basic_four(record)
    assert ef.hex().upper().startswith(header)
    assert ef[len(header) // 2 + 3 : len(header) // 2 + 5] == first_offset.to_bytes(2, "big")
    _check_offsets(ef, record)


def test_filler_and_allocation() -> None:
    ef = encode_basic_four(_record(15, 54), allocated=256)
    assert len(ef) == 256 and ef[104:] == b"\xff" * 152
    assert hashed_part(ef) == hashed_part(ef[:104])
    with pytest.raises(ValueError, match="do not fit"):
        encode_basic_four(_record(15, 54), allocated=100)


def test_bad_sex() -> None:
    with pytest.raises(ValueError, match="sex"):
        encode_basic_four(BasicFour("a", "b", BIRTH, "3"))


@pytest.mark.parametrize(
    ("n", "encoded"), [(0, "00"), (127, "7F"), (128, "820080"), (0xFFFF, "82FFFF")]
)
def test_ber_length(n: int, encoded: str) -> None:
    assert ber.length(n).hex().upper() == encoded


def test_ber_length_too_large() -> None:
    with pytest.raises(ValueError):
        ber.length(0x10000)
