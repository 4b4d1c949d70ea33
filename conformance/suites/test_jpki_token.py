"""JPKI-TOKEN: the token information EF 0006 (reference section 8)."""

# ruff: noqa: S101
from __future__ import annotations

import struct

import pytest

from conformance.channel import CardChannel
from conformance.suites.helpers import JPKI_AID, enter, read_ef
from conformance.sw import expect_sw
from simulator.personalization.persona import Persona

PHONE_LABELS = ("JPKIAPGPSETOKEN", "JPKIAPIOSTOKEN")


def _token(card: CardChannel) -> bytes:
    enter(card, JPKI_AID)
    response = read_ef(card, 0x0006)
    expect_sw(response, 0x9000)
    return response.data


@pytest.mark.spec("JPKI-TOKEN-001", section="8")
def test_label_is_the_persona_label_padded_with_spaces(card: CardChannel, persona: Persona) -> None:
    """The token label is the persona's label padded with spaces"""
    assert _token(card)[:32] == persona.token_label.encode("ascii").ljust(32, b" ")


@pytest.mark.spec("JPKI-TOKEN-002", section="8")
def test_serial_number(card: CardChannel, persona: Persona) -> None:
    """The token info carries the persona's serial number"""
    assert _token(card)[80:96] == persona.token_serial.encode("ascii")


@pytest.mark.spec("JPKI-TOKEN-003", section="8")
def test_token_info_is_160_bytes(card: CardChannel) -> None:
    """The token info EF (0006) is 160 bytes"""
    assert len(_token(card)) == 160


@pytest.mark.spec("JPKI-TOKEN-004", section="8")
def test_flags_and_pin_lengths(card: CardChannel) -> None:
    """The token info's flags and PIN lengths are the reference's"""
    fields = struct.unpack(">7I", _token(card)[96:124])
    assert fields[0] == 0x0000040D
    assert fields[5:] == (16, 6)


@pytest.mark.spec("JPKI-TOKEN-005", section="8")
def test_first_32_bytes_read_as_clients_do(card: CardChannel, persona: Persona) -> None:
    """The first 32 bytes of the token info read as clients read them"""
    enter(card, JPKI_AID)
    response = card.send("00B0860020")
    expect_sw(response, 0x9000)
    assert response.data.rstrip(b" ").decode("ascii") == persona.token_label
    assert card.send("00B0860014").data == response.data[:20]  # TRET reads 20


@pytest.mark.spec("JPKI-TOKEN-006", section="12")
@pytest.mark.requires("phone_token")
def test_phone_token_label(card: CardChannel) -> None:
    """A phone token's label is one of the phone token labels"""
    assert _token(card)[:32].rstrip(b" ").decode("ascii") in PHONE_LABELS


@pytest.mark.spec("JPKI-TOKEN-007", section="12")
@pytest.mark.requires("plastic_card")
def test_plastic_card_label_is_not_a_phone_token(card: CardChannel) -> None:
    """A plastic card's label is not a phone token's"""
    label = _token(card)[:32].rstrip(b" ").decode("ascii")
    assert label.startswith("JPKIAPICCTOKEN")
