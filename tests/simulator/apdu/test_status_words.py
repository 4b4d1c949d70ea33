from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.apdu import ResponseApdu, StatusWord, describe, retries_from, retries_remaining


@given(st.integers(0, 0xFFFF))
def test_lookup_never_fails(value: int) -> None:
    sw = StatusWord(value)
    assert int(sw) == value
    assert sw.name
    assert describe(value).startswith(f"{value:04X} (")


def test_known_and_unknown_names() -> None:
    assert StatusWord(0x6984) is StatusWord.REFERENCE_DATA_BLOCKED
    assert StatusWord(0x6A82).name == "FILE_NOT_FOUND"
    assert StatusWord(0x1234).name == "SW_1234"
    assert StatusWord(0x9000).sw1 == 0x90
    with pytest.raises(ValueError):
        StatusWord(0x10000)


def test_retry_words() -> None:
    assert retries_remaining(3) == 0x63C3
    assert retries_from(0x63C0) == 0
    assert retries_from(0x9000) is None
    assert describe(0x63C1) == "63C1 (verification failed, 1 try left)"
    assert describe(0x63C2) == "63C2 (verification failed, 2 tries left)"
    assert "more bytes" in describe(0x6110)
    with pytest.raises(ValueError):
        retries_remaining(16)


@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_response_round_trip(data: bytes, sw: int) -> None:
    response = ResponseApdu(data, sw)
    assert ResponseApdu.parse(response.encode()) == response
    assert (response.sw1 << 8) | response.sw2 == sw


def test_response_needs_two_bytes() -> None:
    with pytest.raises(ValueError, match="SW1 SW2"):
        ResponseApdu.parse(b"\x90")
