"""The My Number (個人番号): its check digit and the text-AP EF 0001 bytes.

Check digit (行政手続における特定の個人を識別するための番号の利用等に関する法律施行令 第8条 /
総務省令 第85号): with P1..P11 the first eleven digits counted from the right (P1 is the
11th digit of the number) and Qn = n + 1 for 1 <= n <= 6, n - 5 for 7 <= n <= 11, the
check digit is 0 when (sum Pn*Qn) mod 11 <= 1, otherwise 11 - that remainder.
EF 0001 is ``FF 10 0C`` + 12 ASCII digits + ``FF FF``, 17 bytes (jpki-card-reference.md §9.2).
"""

from __future__ import annotations

EF0001_SIZE = 17
_EF0001_HEADER = b"\xff\x10\x0c"
_EF0001_FILLER = b"\xff\xff"


def _digits(text: str, count: int) -> str:
    if len(text) != count or not text.isascii() or not text.isdigit():
        raise ValueError(f"expected exactly {count} ASCII digits, got {text!r}")
    return text


def check_digit(prefix11: str) -> int:
    """The check digit of the first 11 digits of a My Number."""
    digits = _digits(prefix11, 11)
    total = 0
    for n, ch in enumerate(reversed(digits), start=1):
        weight = n + 1 if n <= 6 else n - 5
        total += int(ch) * weight
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def make_my_number(prefix11: str) -> str:
    """The 12-digit My Number with ``prefix11`` and its check digit."""
    return prefix11 + str(check_digit(prefix11))


def is_valid_my_number(number: str) -> bool:
    """12 ASCII digits whose last digit is the check digit of the first 11."""
    if len(number) != 12 or not number.isascii() or not number.isdigit():
        return False
    return check_digit(number[:11]) == int(number[11])


def encode_my_number_ef(number: str) -> bytes:
    """The physical 17 bytes of text-AP EF 0001. The check digit is not enforced here (test
    cards may carry any 12 digits); use :func:`is_valid_my_number` to check it."""
    return _EF0001_HEADER + _digits(number, 12).encode("ascii") + _EF0001_FILLER
