"""My Number check digit and text EF 0001 bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.personalization.cardinfo.my_number import (
    check_digit,
    encode_my_number_ef,
    is_valid_my_number,
    make_my_number,
)

prefixes = st.text(alphabet="0123456789", min_size=11, max_size=11)


def _remainder(prefix11: str) -> int:
    weights = [n + 1 if n <= 6 else n - 5 for n in range(1, 12)]
    return sum(int(c) * w for c, w in zip(reversed(prefix11), weights, strict=True)) % 11


def test_published_example() -> None:
    # The number used in the official examples (digital.go.jp / 総務省 samples): 123456789018.
    assert check_digit("12345678901") == 8
    assert is_valid_my_number("123456789018")
    assert not is_valid_my_number("123456789012")


def test_weights_by_hand() -> None:
    # P1 = rightmost of the 11 digits, weight 2; P7 weight 2 again; P11 weight 6.
    assert check_digit("00000000001") == 11 - 2
    assert check_digit("00001000000") == 11 - 2  # P7
    assert check_digit("10000000000") == 11 - 6  # P11
    assert check_digit("00000000000") == 0
    assert check_digit("00000100000") == 11 - 7  # P6, weight 7
    assert check_digit("00000000006") == 0  # 6 * 2 = 12, remainder 1 -> 0


@given(prefixes)
def test_made_numbers_are_valid(prefix: str) -> None:
    number = make_my_number(prefix)
    assert len(number) == 12 and number[:11] == prefix
    assert is_valid_my_number(number)


@given(prefixes, st.integers(0, 11), st.integers(1, 9))
def test_single_digit_change(prefix: str, index: int, delta: int) -> None:
    number = make_my_number(prefix)
    changed = number[:index] + str((int(number[index]) + delta) % 10) + number[index + 1 :]
    if index == 11:
        assert not is_valid_my_number(changed)
        return
    # The rule maps remainders 0 and 1 both to check digit 0, so a change that moves the
    # remainder between 0 and 1 keeps the number valid; every other change is detected.
    both_low = {_remainder(prefix), _remainder(changed[:11])} <= {0, 1}
    assert is_valid_my_number(changed) == both_low


@pytest.mark.parametrize("bad", ["", "12345678901", "1234567890123", "12345678901x", "\uff11" * 12])
def test_invalid_shapes(bad: str) -> None:
    assert not is_valid_my_number(bad)


def test_ef0001_bytes() -> None:
    ef = encode_my_number_ef("123456789018")
    assert ef == bytes.fromhex("FF100C") + b"123456789018" + b"\xff\xff"
    assert len(ef) == 17
    with pytest.raises(ValueError, match="12 ASCII digits"):
        encode_my_number_ef("12345678901")
