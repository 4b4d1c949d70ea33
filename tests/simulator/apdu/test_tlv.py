from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.apdu import Tlv, TlvError
from simulator.apdu.tlv import decode_all, decode_one, encode_all, encode_length, encode_tag

tags = st.sampled_from([0x30, 0x5F4E, 0x5F37, 0x7F21, 0xDF21, 0xDF22, 0xFF10, 0xFF20, 0x90, 0x91])


@given(tags, st.binary(max_size=70000))
def test_round_trip(tag: int, value: bytes) -> None:
    encoded = Tlv(tag, value).encode()
    assert decode_one(encoded) == (Tlv(tag, value), len(encoded))


@given(st.lists(st.tuples(tags, st.binary(max_size=300)), max_size=5), st.integers(0, 20))
def test_sequence_with_filler(items: list[tuple[int, bytes]], filler: int) -> None:
    tlvs = [Tlv(tag, value) for tag, value in items]
    assert decode_all(encode_all(tlvs) + b"\xff" * filler) == tlvs


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, "00"),
        (127, "7F"),
        (128, "820080"),
        (0x9F, "82009F"),
        (256, "820100"),
        (65535, "82FFFF"),
        (65536, "83010000"),
    ],
)
def test_card_length_forms(length: int, encoded: str) -> None:
    """The card writes 82 HH LL from 128 up, never 81 xx."""
    assert encode_length(length).hex().upper() == encoded


def test_real_card_header_decodes() -> None:
    # text AP EF 0005 starts FF 40 82 00 9F (jpki-card-reference.md section 3)
    tlv, end = decode_one(bytes.fromhex("FF4082009F") + bytes(0x9F))
    assert (tlv.tag, len(tlv.value), end) == (0xFF40, 0x9F, 0xA4)


def test_other_length_forms_decode() -> None:
    assert decode_one(bytes.fromhex("04810101"))[0] == Tlv(0x04, b"\x01")


@pytest.mark.parametrize(
    "hex_data", ["", "DF", "DF2105", "04820001", "0480", "0485000000000000", "DF8F8F8F8F0100"]
)
def test_malformed(hex_data: str) -> None:
    with pytest.raises(TlvError):
        decode_one(bytes.fromhex(hex_data))


@given(st.binary(max_size=64))
def test_decoder_raises_only_tlv_error(data: bytes) -> None:
    try:
        decode_all(data)
    except TlvError:
        pass


@pytest.mark.parametrize("tag", [0x1F, 0xDF8F, 0x9F00 | 0x80, -1])
def test_bad_tags_refused(tag: int) -> None:
    with pytest.raises(ValueError):
        encode_tag(tag)
