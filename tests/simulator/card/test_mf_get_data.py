"""MF level: GET DATA objects, the GlobalPlatform ISD SELECT that brings the MF state back
(jpki-card-reference.md sections 1, 3.5, 5, 7; BEHAVIOUR.md "Card-info applications")."""

from __future__ import annotations

import pytest
from card_helpers import JPKI_AID, select_jpki, tx, verify
from card_info_data import (
    COMMON_AID,
    ISD_AID,
    JUKI_AID,
    SURFACE_AID,
    TEXT_AID,
    TEXT_PIN,
    powered,
    read_whole,
    select,
    with_card_info,
    without_card_info,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import VirtualCard
from simulator.personalization.persona import Persona

ALL_AIDS = [JPKI_AID, TEXT_AID, SURFACE_AID, COMMON_AID, JUKI_AID]


@pytest.fixture(scope="module")
def persona(default_persona: Persona) -> Persona:
    return with_card_info(default_persona)


@pytest.fixture(scope="module")
def objects(persona: Persona) -> dict[int, bytes]:
    assert persona.card_info is not None
    return persona.card_info.mf_objects


def _get(card: VirtualCard, tag: int, le: str = "00") -> tuple[bytes, int]:
    return tx(card, f"00CA{tag:04X}{le}")


def _get_whole(card: VirtualCard, tag: int) -> tuple[bytes, int]:
    """The client way (MC): short Le first, an extended Le after 6700."""
    data, sw = _get(card, tag)
    if sw == 0x6700:
        data, sw = _get(card, tag, "000000")
    return data, sw


def test_objects_after_power_on(persona: Persona, objects: dict[int, bytes]) -> None:
    card = powered(persona)
    assert set(objects) == {0x0042, 0x0045, 0x0066, 0x00F0, 0x00F2, 0x00F7, 0x00F8, 0x7F21, 0x5F51}
    for tag, value in objects.items():
        assert _get_whole(card, tag) == (value, 0x9000)
        assert _get(card, tag, "000000") == (value, 0x9000)


def test_contact_atr_object(persona: Persona, objects: dict[int, bytes]) -> None:
    card = powered(persona)
    assert b"\x3b" + _get(card, 0x5F51)[0] == persona.atr


@pytest.mark.parametrize("tag", [0x00F8, 0x7F21])
def test_large_objects_refuse_a_short_le(
    persona: Persona, objects: dict[int, bytes], tag: int
) -> None:
    card = powered(persona)
    size = len(objects[tag])
    assert size > 256
    assert _get(card, tag) == (b"", 0x6700)  # Le 00 = 256
    assert _get(card, tag, "FF") == (b"", 0x6700)
    assert _get(card, tag, f"00{size - 1:04X}") == (b"", 0x6700)
    assert _get(card, tag, f"00{size:04X}") == (objects[tag], 0x9000)
    assert _get(card, tag, "00FFFF") == (objects[tag], 0x9000)


def test_small_objects_and_le(persona: Persona, objects: dict[int, bytes]) -> None:
    card = powered(persona)
    value = objects[0x00F0]
    assert _get(card, 0x00F0, f"{len(value):02X}") == (value, 0x9000)  # exact Le
    assert _get(card, 0x00F0, "FF") == (value, 0x9000)  # more than the object: the object
    assert _get(card, 0x00F0, f"{len(value) - 1:02X}") == (b"", 0x6700)  # whole objects only


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=0xFFFF))
def test_absent_objects(persona: Persona, tag: int) -> None:
    card = powered(persona)
    assert persona.card_info is not None
    expected = 0x9000 if tag in persona.card_info.mf_objects else 0x6A88
    assert _get_whole(card, tag)[1] == expected


def test_get_data_parameter_errors(persona: Persona) -> None:
    card = powered(persona)
    assert tx(card, "00CA00F0")[1] == 0x6700  # no Le
    assert tx(card, "00CA00F00100")[1] == 0x6700  # a data field
    assert tx(card, "80CA00F000")[1] == 0x6E00  # GET DATA is an ISO command
    assert tx(card, "0CCA00F000")[1] == 0x69FC  # secure messaging class


@pytest.mark.parametrize("aid", ALL_AIDS)
def test_only_the_contact_atr_inside_an_application(
    persona: Persona, objects: dict[int, bytes], aid: bytes
) -> None:
    card = powered(persona)
    select(card, aid)
    for tag in objects:
        expected = (objects[tag], 0x9000) if tag == 0x5F51 else (b"", 0x6A88)
        assert _get_whole(card, tag) == expected


@pytest.mark.parametrize("p2", ["0C", "00"])
def test_isd_select_brings_back_the_mf_state(
    persona: Persona, objects: dict[int, bytes], p2: str
) -> None:
    card = powered(persona)
    select(card, TEXT_AID)
    assert verify(card, 0x0011, TEXT_PIN) == 0x9000
    assert _get(card, 0x00F0)[1] == 0x6A88
    le = "00" if p2 == "00" else ""
    assert tx(card, f"00A404{p2}07{ISD_AID.hex()}{le}") == (b"", 0x9000)
    assert card.selected is None
    assert card.session.status.verified == frozenset()  # a fresh security status
    assert card.session.current_ef is None
    assert _get(card, 0x00F0) == (objects[0x00F0], 0x9000)
    assert _get_whole(card, 0x7F21) == (objects[0x7F21], 0x9000)
    # MF state as after power-on: no EF, 00 A4 00 00 refused until an AP is selected
    assert tx(card, "00A4020C020001")[1] == 0x6A82
    assert tx(card, "00B0000001")[1] == 0x6986
    assert tx(card, "00A40000")[1] == 0x6A86
    select(card, TEXT_AID)
    assert read_whole(card, 0x0001)[1] == 0x6982  # the PIN did not survive
    assert tx(card, "00A40000")[1] == 0x9000


def test_isd_select_is_repeatable_and_reset_equivalent(
    persona: Persona, objects: dict[int, bytes]
) -> None:
    card = powered(persona)
    for _ in range(2):
        select(card, ISD_AID)
        assert _get(card, 0x00F2) == (objects[0x00F2], 0x9000)
    select_jpki(card)
    assert _get(card, 0x00F2)[1] == 0x6A88
    card.reset()
    assert _get(card, 0x00F2) == (objects[0x00F2], 0x9000)


@pytest.mark.parametrize(
    "aid",
    [
        "A000000151",  # the RID alone (OpenSC's gp_select_isd_rid)
        "A000000151000000",  # the 8-byte GP default
        "A0000001510001",
        "A000000003000000",  # Visa card manager
    ],
)
def test_other_gp_aids_are_not_found(persona: Persona, aid: str) -> None:
    card = powered(persona)
    select(card, TEXT_AID)
    assert tx(card, f"00A4040C{len(aid) // 2:02X}{aid}")[1] == 0x6A82
    assert card.selected is not None and card.selected.aid == TEXT_AID


def test_card_without_card_info(default_persona: Persona) -> None:
    card = powered(without_card_info(default_persona))
    for tag in (0x0042, 0x00F0, 0x7F21, 0x5F51):
        assert _get(card, tag)[1] == 0x6A88
    select(card, ISD_AID)  # the ISD is a card feature, present on every card
    assert card.selected is None
    select_jpki(card)
    assert _get(card, 0x5F51)[1] == 0x6A88


@pytest.mark.parametrize("fid", ["001E", "2F10", "2F11", "0001"])
def test_no_mf_elementary_files(persona: Persona, fid: str) -> None:
    card = powered(persona)
    assert tx(card, f"00A4020C02{fid}")[1] == 0x6A82
    select(card, ISD_AID)
    assert tx(card, f"00A4020C02{fid}")[1] == 0x6A82
