"""Era conversion of printed dates and 照合番号B."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.personalization.cardinfo.era import ERAS, Era, pin_b, printed_yymmdd, to_era

BOUNDARIES = [
    (dt.date(1868, 1, 25), "明治", 1),
    (dt.date(1912, 7, 29), "明治", 45),
    (dt.date(1912, 7, 30), "大正", 1),
    (dt.date(1926, 12, 24), "大正", 15),
    (dt.date(1926, 12, 25), "昭和", 1),
    (dt.date(1989, 1, 7), "昭和", 64),
    (dt.date(1989, 1, 8), "平成", 1),
    (dt.date(2019, 4, 30), "平成", 31),
    (dt.date(2019, 5, 1), "令和", 1),
    (dt.date(2020, 1, 1), "令和", 2),
]


@pytest.mark.parametrize(("day", "era", "year"), BOUNDARIES)
def test_boundaries(day: dt.date, era: str, year: int) -> None:
    got = to_era(day)
    assert (got.era.name, got.year, got.month, got.day) == (era, year, day.month, day.day)


def test_before_meiji() -> None:
    with pytest.raises(ValueError, match="before"):
        to_era(dt.date(1868, 1, 24))


@given(st.sampled_from(ERAS), st.integers(-3, 3))
def test_around_every_boundary(era: Era, shift: int) -> None:
    start = era.start
    day = start + dt.timedelta(days=shift)
    if shift >= 0:
        assert to_era(day).era == era
        assert to_era(day).year == 1 + day.year - start.year
    elif start != ERAS[-1].start:
        assert to_era(day).era != era
        assert to_era(day).era.start < start


@given(st.dates(min_value=dt.date(1868, 1, 25), max_value=dt.date(2099, 12, 31)))
def test_printed_date_is_era_year_mmdd(day: dt.date) -> None:
    era_date = to_era(day)
    text = printed_yymmdd(day)
    assert len(text) == 6 and text.isdigit()
    assert int(text[:2]) == era_date.year
    assert text[2:] == f"{day:%m%d}"
    assert printed_yymmdd(day, gregorian=True) == f"{day:%y%m%d}"


def test_pin_b_reference_vector() -> None:
    # jpki-card-reference.md §4.1: born 1980-02-17 (昭和55), expiry 2035, code 2285.
    assert pin_b(dt.date(1980, 2, 17), 2035, "2285") == "55021720352285"


def test_pin_b_foreign_resident_assumption() -> None:
    assert pin_b(dt.date(1980, 2, 17), 2035, "2285", gregorian=True) == "80021720352285"


FULL_WIDTH_CODE = "\uff12\uff12\uff18\uff15"


@pytest.mark.parametrize(("year", "code"), [(999, "2285"), (2035, "228"), (2035, FULL_WIDTH_CODE)])
def test_pin_b_rejects(year: int, code: str) -> None:
    with pytest.raises(ValueError):
        pin_b(dt.date(1980, 2, 17), year, code)
