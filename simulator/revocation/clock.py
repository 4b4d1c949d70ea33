"""The revocation services' clock: real time, or a fixed instant a scenario sets and moves.

Every time the services put into a response (OCSP thisUpdate/nextUpdate/producedAt, CRL
thisUpdate/nextUpdate, delegated responder validity) and every "is this revocation in effect
yet?" decision comes from one :class:`Clock`. Instants are timezone-aware UTC and whole seconds,
because ASN.1 times carry no fractions and equal instants must compare equal.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

UTC = dt.UTC
# A settable instant must leave room for "now - a few days" and "now + nextUpdate" in
# GeneralizedTime; the JPKI test PKI itself lives well inside this range.
EARLIEST_YEAR = 1950
LATEST_YEAR = 9000


class ClockError(ValueError):
    """An instant that the clock cannot take; the message says why."""


def _real_now() -> dt.datetime:
    return dt.datetime.now(UTC)


def to_utc(instant: dt.datetime) -> dt.datetime:
    """``instant`` in UTC, whole seconds; a naive datetime is taken to be UTC already."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).replace(microsecond=0)


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 instant with a timezone (``2027-01-01T00:00:00Z`` or ``...+09:00``)."""
    try:
        instant = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ClockError(
            f"{text!r} is not an ISO 8601 date and time (e.g. 2027-01-01T00:00:00Z)"
        ) from None
    if instant.tzinfo is None:
        raise ClockError(f"{text!r} has no timezone: add Z or an offset such as +09:00")
    return check_instant(instant)


def check_instant(instant: dt.datetime) -> dt.datetime:
    """``instant`` normalized by :func:`to_utc`, if the services can work with it."""
    utc = to_utc(instant)
    if not EARLIEST_YEAR <= utc.year <= LATEST_YEAR:
        raise ClockError(
            f"{utc.isoformat()} is outside the years {EARLIEST_YEAR}-{LATEST_YEAR} "
            "the clock supports"
        )
    return utc


def format_instant(instant: dt.datetime) -> str:
    """``2027-01-01T00:00:00Z``: the form the control API and the command line print."""
    return to_utc(instant).isoformat().replace("+00:00", "Z")


class Clock:
    """Real time, or a fixed instant; :meth:`set` switches between them at run time.

    Thread-safe: the HTTP server reads it from many threads while the control API sets it.
    """

    def __init__(
        self,
        fixed: dt.datetime | None = None,
        *,
        real: Callable[[], dt.datetime] = _real_now,
    ) -> None:
        self._lock = threading.Lock()
        self._real = real
        self._fixed = None if fixed is None else check_instant(fixed)

    def now(self) -> dt.datetime:
        """The current instant: the fixed one if set, else real time (UTC, whole seconds)."""
        with self._lock:
            fixed = self._fixed
        return fixed if fixed is not None else to_utc(self._real())

    @property
    def fixed(self) -> dt.datetime | None:
        """The fixed instant, or None when the clock follows real time."""
        with self._lock:
            return self._fixed

    def set(self, instant: dt.datetime | None) -> None:
        """Fix the clock at ``instant``, or return to real time with None."""
        value = None if instant is None else check_instant(instant)
        with self._lock:
            self._fixed = value

    def describe(self) -> str:
        fixed = self.fixed
        if fixed is None:
            return f"real time (now {format_instant(self.now())})"
        return f"fixed at {format_instant(fixed)}"
