"""Certificate validity: the JPKI "5th birthday after issuance" rule.

jpki-pki-and-relying-parties.md §1.6: an end-entity certificate is valid from the issuance
instant until 23:59:59 JST (14:59:59Z) on the 5th birthday after the issuance date. Birthdays
are calendar dates in Japan, so the issuance date is taken in JST and a birthday falling on
the issuance date itself does not count ("after" is strict).

Choice for 29 February birthdays: in a non-leap year the birthday is 28 February (the last day
of the holder's birth month), so a leap-day holder's certificate never runs into March.
"""

from __future__ import annotations

import calendar
import datetime as dt

JST = dt.timezone(dt.timedelta(hours=9), "JST")
END_OF_DAY = dt.time(23, 59, 59)
DEFAULT_BIRTHDAYS = 5


def birthday_in(year: int, birth_date: dt.date) -> dt.date:
    """The holder's birthday in ``year`` (29 February becomes 28 February in non-leap years)."""
    if (birth_date.month, birth_date.day) == (2, 29) and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return birth_date.replace(year=year)


def certificate_not_after(
    birth_date: dt.date, issued_at: dt.datetime, birthdays: int = DEFAULT_BIRTHDAYS
) -> dt.datetime:
    """23:59:59 JST (as UTC) on the ``birthdays``-th birthday strictly after the JST issue date."""
    if issued_at.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    if birthdays < 1:
        raise ValueError("birthdays must be at least 1")
    issue_day = issued_at.astimezone(JST).date()
    first_year = issue_day.year
    if birthday_in(first_year, birth_date) <= issue_day:
        first_year += 1
    last = birthday_in(first_year + birthdays - 1, birth_date)
    return dt.datetime.combine(last, END_OF_DAY, JST).astimezone(dt.UTC)
