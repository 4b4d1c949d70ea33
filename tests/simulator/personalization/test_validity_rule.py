"""notAfter = 23:59:59 JST (14:59:59Z) on the 5th birthday after the JST issue date."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from simulator.personalization.validity import JST, birthday_in, certificate_not_after

UTC = dt.UTC


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("birth", "issued", "expected"),
    [
        # Real certificates (jpki-pki-and-relying-parties.md §1.2, §1.6).
        (dt.date(1970, 12, 7), utc(2020, 5, 19, 17, 38, 55), utc(2024, 12, 7, 14, 59, 59)),
        (dt.date(1970, 12, 7), utc(2023, 5, 19, 16, 37, 9), utc(2027, 12, 7, 14, 59, 59)),
        (dt.date(1980, 2, 17), utc(2025, 10, 27, 1, 0, 0), utc(2030, 2, 17, 14, 59, 59)),
        # The default persona.
        (dt.date(1985, 8, 20), utc(2024, 8, 26, 1, 23, 45), utc(2029, 8, 20, 14, 59, 59)),
        # Birthday later in the issue year counts as the first one.
        (dt.date(1985, 8, 20), utc(2024, 6, 10, 1, 23, 45), utc(2028, 8, 20, 14, 59, 59)),
        # Issued on the birthday itself: that birthday does not count.
        (dt.date(1985, 8, 20), utc(2024, 8, 20, 3, 0, 0), utc(2029, 8, 20, 14, 59, 59)),
        # 15:00Z on 08-19 is already 08-20 in Japan (issued on the birthday).
        (dt.date(1985, 8, 20), utc(2024, 8, 19, 15, 0, 0), utc(2029, 8, 20, 14, 59, 59)),
        # 14:59:59Z on 08-19 is still 08-19 in Japan (birthday is the next day).
        (dt.date(1985, 8, 20), utc(2024, 8, 19, 14, 59, 59), utc(2028, 8, 20, 14, 59, 59)),
    ],
)
def test_examples(birth: dt.date, issued: dt.datetime, expected: dt.datetime) -> None:
    assert certificate_not_after(birth, issued) == expected


@pytest.mark.parametrize(
    ("issued", "expected"),
    [
        # Leap-day holder: in non-leap years the birthday is 28 February.
        (utc(2024, 3, 1), utc(2029, 2, 28, 14, 59, 59)),  # 2025..2029, last one non-leap
        (utc(2023, 3, 1), utc(2028, 2, 29, 14, 59, 59)),  # 2024..2028, last one leap
        (utc(2023, 2, 28, 3), utc(2028, 2, 29, 14, 59, 59)),  # issued on the 28 Feb "birthday"
        (utc(2023, 2, 27, 3), utc(2027, 2, 28, 14, 59, 59)),  # day before: 2023 counts
        (utc(2024, 2, 29, 3), utc(2029, 2, 28, 14, 59, 59)),  # issued on the real birthday
    ],
)
def test_leap_day_birthday(issued: dt.datetime, expected: dt.datetime) -> None:
    assert certificate_not_after(dt.date(2000, 2, 29), issued) == expected


def test_birthday_in_non_leap_year_is_28_february() -> None:
    assert birthday_in(2025, dt.date(2000, 2, 29)) == dt.date(2025, 2, 28)
    assert birthday_in(2028, dt.date(2000, 2, 29)) == dt.date(2028, 2, 29)
    assert birthday_in(2025, dt.date(2000, 3, 1)) == dt.date(2025, 3, 1)


def test_other_counts_and_invalid_arguments() -> None:
    birth, issued = dt.date(1985, 8, 20), utc(2024, 8, 26)
    assert certificate_not_after(birth, issued, birthdays=1) == utc(2025, 8, 20, 14, 59, 59)
    assert certificate_not_after(birth, issued, birthdays=6) == utc(2030, 8, 20, 14, 59, 59)
    with pytest.raises(ValueError, match="at least 1"):
        certificate_not_after(birth, issued, birthdays=0)
    with pytest.raises(ValueError, match="timezone-aware"):
        certificate_not_after(birth, dt.datetime(2024, 8, 26))


@given(
    birth=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)),
    issued=st.datetimes(
        min_value=dt.datetime(2021, 1, 1),
        max_value=dt.datetime(2044, 12, 31),
        timezones=st.just(UTC),
    ),
)
def test_properties(birth: dt.date, issued: dt.datetime) -> None:
    assume(issued.date() > birth)
    not_after = certificate_not_after(birth, issued)
    assert not_after.tzinfo is not None
    assert not_after.utcoffset() == dt.timedelta(0)
    assert not_after.time() == dt.time(14, 59, 59)
    last = not_after.astimezone(JST).date()
    if (birth.month, birth.day) == (2, 29) and not calendar.isleap(last.year):
        assert (last.month, last.day) == (2, 28)
    else:
        assert (last.month, last.day) == (birth.month, birth.day)
    issue_day = issued.astimezone(JST).date()
    birthdays_between = [
        birthday_in(year, birth)
        for year in range(issue_day.year, last.year)
        if issue_day < birthday_in(year, birth)
    ]
    assert len(birthdays_between) == 4  # the 5th birthday strictly after the issue day is `last`
    assert dt.timedelta(days=4 * 365) < not_after - issued <= dt.timedelta(days=5 * 366 + 1)
