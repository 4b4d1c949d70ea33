"""PIN objects with the card's exact retry semantics.

- The try is spent and made durable BEFORE the comparison (anti-tearing).
- A correct value restores the counter to its limit.
- A blocked PIN answers 6984 to VERIFY and 63C0 to the status query.
- Values are compared byte for byte; they never appear in repr, logs or errors.
- A PIN that is not `changeable` (照合番号A/B, the birth-date key: printed on the card)
  refuses CHANGE REFERENCE DATA with 6985.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from simulator.apdu.errors import CardError
from simulator.apdu.sw import StatusWord, retries_remaining
from simulator.state import PinRecord, PinStore, StateFileError
from simulator.state.records import PinDigest

DIGITS = frozenset(b"0123456789")
UPPER_ALNUM = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@dataclass(frozen=True)
class PinFormat:
    """Which values the card accepts as a NEW value (CHANGE REFERENCE DATA)."""

    min_length: int
    max_length: int
    alphabet: frozenset[int]

    def accepts(self, value: bytes) -> bool:
        return self.min_length <= len(value) <= self.max_length and all(
            b in self.alphabet for b in value
        )


DIGITS_4 = PinFormat(4, 4, DIGITS)
DIGITS_6 = PinFormat(6, 6, DIGITS)  # surface AP birth-date key (era YYMMDD)
DIGITS_12 = PinFormat(12, 12, DIGITS)  # 照合番号A (the My Number)
DIGITS_14 = PinFormat(14, 14, DIGITS)  # 照合番号B
SIGN_PASSWORD = PinFormat(6, 16, UPPER_ALNUM)


class Pin:
    """One key reference holding a PIN (e.g. JPKI EF 0018)."""

    def __init__(
        self,
        key: str,
        reference: int,
        value: bytes,
        *,
        max_tries: int,
        initial_remaining: int,
        value_format: PinFormat,
        store: PinStore,
        changeable: bool = True,
    ) -> None:
        if not 1 <= max_tries <= 15 or not 0 <= initial_remaining <= max_tries:
            raise ValueError(f"PIN {key}: bad retry settings")
        self.key = key
        self.reference = reference
        self.max_tries = max_tries
        self.value_format = value_format
        self.changeable = changeable
        self._value = value
        self._store = store
        record = store.get(key)
        if record is None:
            store.put(key, PinRecord(initial_remaining))
        elif record.remaining > max_tries:
            raise StateFileError(
                f"PIN {key}: saved state says {record.remaining} tries left, "
                f"more than its limit {max_tries}"
            )

    def __repr__(self) -> str:
        return f"Pin({self.key!r}, remaining={self.remaining}/{self.max_tries})"

    @property
    def _record(self) -> PinRecord:
        record = self._store.get(self.key)
        assert record is not None  # put in __init__  # noqa: S101
        return record

    @property
    def remaining(self) -> int:
        return self._record.remaining

    @property
    def blocked(self) -> bool:
        return self.remaining == 0

    def status_word(self) -> StatusWord:
        """The answer to the empty VERIFY: 63Cx, whatever the security status."""
        return retries_remaining(self.remaining)

    def verify(self, candidate: bytes) -> None:
        """Return on success; raise CardError 63Cx (wrong) or 6984 (blocked)."""
        record = self._record
        if record.remaining == 0:
            raise CardError(StatusWord.REFERENCE_DATA_BLOCKED)
        left = record.remaining - 1
        self._store.put(self.key, record.with_remaining(left))  # durable before comparing
        if self._matches(record, candidate):
            self._store.put(self.key, record.with_remaining(self.max_tries))
            return
        raise CardError(retries_remaining(left))

    def _matches(self, record: PinRecord, candidate: bytes) -> bool:
        if record.changed is not None:
            return record.changed.matches(candidate)
        return hmac.compare_digest(self._value, candidate)

    def change(self, new_value: bytes) -> None:
        """Set a new value (the caller has checked the security status)."""
        if self.blocked:
            raise CardError(StatusWord.REFERENCE_DATA_BLOCKED)
        if not self.changeable:
            raise CardError(StatusWord.CONDITIONS_OF_USE_NOT_SATISFIED)
        if not self.value_format.accepts(new_value):
            raise CardError(StatusWord.WRONG_DATA)
        self._store.put(self.key, PinRecord(self.max_tries, PinDigest.of(new_value)))

    def set_remaining(self, remaining: int) -> None:
        """Out-of-band: set the counter (test scenarios, the control endpoint)."""
        if not 0 <= remaining <= self.max_tries:
            raise ValueError(f"PIN {self.key}: remaining must be 0..{self.max_tries}")
        self._store.put(self.key, self._record.with_remaining(remaining))

    def reinitialise(self, new_value: bytes | None = None) -> None:
        """Out-of-band unblock, as the municipal office does: full counter, and
        either the persona's value (None) or a new one."""
        if new_value is not None and not self.value_format.accepts(new_value):
            raise ValueError(f"PIN {self.key}: new value does not fit the PIN format")
        digest = None if new_value is None else PinDigest.of(new_value)
        self._store.put(self.key, PinRecord(self.max_tries, digest))
