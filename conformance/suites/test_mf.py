"""MF: MF level, GET DATA and the GlobalPlatform ISD (reference sections 1, 3.5;
BEHAVIOUR.md "MF level, GET DATA, the ISD")."""

# ruff: noqa: S101
from __future__ import annotations

from typing import Any

import pytest

from conformance.channel import CardChannel
from conformance.suites.helpers import (
    ISD_AID,
    JPKI_AID,
    enter,
    read_current,
    select_aid,
    select_ef,
    verify,
)
from conformance.sw import expect_not_sw, expect_sw
from simulator.personalization.persona import Persona


def _objects(persona: Persona) -> Any:
    assert persona.card_info is not None
    return persona.card_info.mf_objects


def _get_data(card: CardChannel, tag: int, le: str = "000000") -> tuple[bytes, int]:
    response = card.send(f"00CA{tag:04X}{le}")
    return response.data, response.sw


@pytest.mark.spec("MF-001", section="1")
def test_select_mf_right_after_reset_is_6a86(card: CardChannel) -> None:
    """SELECT MF right after a reset answers 6A86"""
    expect_sw(card.send("00A40000"), 0x6A86)


@pytest.mark.spec("MF-002", section="1")
def test_select_mf_inside_an_application_keeps_it(card: CardChannel) -> None:
    """SELECT MF inside an application answers 9000 and keeps the application"""
    enter(card, JPKI_AID)
    expect_sw(card.send("00A40000"), 0x9000)
    expect_sw(select_ef(card, 0x0006), 0x9000)  # still in JPKI
    assert len(read_current(card).data) == 160


@pytest.mark.spec("MF-003", section="3.5")
@pytest.mark.requires("card_info")
def test_get_data_after_reset(card: CardChannel, persona: Persona) -> None:
    """GET DATA after a reset answers each MF object the persona declares"""
    for tag, value in _objects(persona).items():
        data, sw = _get_data(card, tag)
        expect_sw(sw, 0x9000, note=f"{tag:04X}")
        assert data == value, f"{tag:04X}"


@pytest.mark.spec("MF-004", section="3.5")
@pytest.mark.requires("card_info")
def test_get_data_inside_an_application_is_6a88(card: CardChannel, persona: Persona) -> None:
    """GET DATA inside an application answers 6A88 (except 5F51)"""
    enter(card, JPKI_AID)
    for tag in _objects(persona):
        if tag != 0x5F51:
            expect_sw(_get_data(card, tag)[1], 0x6A88, note=f"{tag:04X}")


@pytest.mark.spec("MF-005", section="1")
@pytest.mark.requires("card_info")
def test_contact_atr_object_inside_an_application(card: CardChannel, persona: Persona) -> None:
    """GET DATA of the contact ATR object (5F51) works inside an application"""
    expected = _objects(persona).get(0x5F51)
    if expected is None:
        pytest.skip("NOT APPLICABLE: the persona declares no 5F51")
    enter(card, JPKI_AID)
    data, sw = _get_data(card, 0x5F51)
    expect_sw(sw, 0x9000)
    assert data == expected


@pytest.mark.spec("MF-006", section="3.5")
@pytest.mark.requires("card_info")
def test_short_le_for_a_large_object_is_6700(card: CardChannel, persona: Persona) -> None:
    """A short Le for an object larger than it answers 6700"""
    for tag, value in _objects(persona).items():
        if len(value) > 256:
            expect_sw(_get_data(card, tag, "00")[1], 0x6700, note=f"{tag:04X}")
        elif len(value) > 1:
            expect_sw(_get_data(card, tag, f"{len(value) - 1:02X}")[1], 0x6700, note=f"{tag:04X}")
            data, sw = _get_data(card, tag, f"{len(value):02X}")
            expect_sw(sw, 0x9000, note=f"{tag:04X}")
            assert data == value, f"{tag:04X}"


@pytest.mark.spec("MF-007", section="1")
def test_isd_select_returns_to_mf_level(card: CardChannel) -> None:
    """SELECT of the ISD returns to MF level"""
    enter(card, JPKI_AID)
    expect_sw(select_aid(card, ISD_AID), 0x9000)
    expect_sw(card.send("00A40000"), 0x6A86)  # as after a reset
    expect_not_sw(card.send("00B0860001"), 0x9000)  # no JPKI EF here


@pytest.mark.spec("MF-008", section="3.5")
@pytest.mark.requires("card_info")
def test_get_data_after_isd_select(card: CardChannel, persona: Persona) -> None:
    """GET DATA works again after SELECT of the ISD"""
    tag, value = next(iter(_objects(persona).items()))
    enter(card, JPKI_AID)
    expect_sw(select_aid(card, ISD_AID), 0x9000)
    data, sw = _get_data(card, tag)
    expect_sw(sw, 0x9000)
    assert data == value


@pytest.mark.spec("MF-009", section="4.3")
@pytest.mark.requires("sign_certificate")
def test_isd_select_clears_the_security_status(card: CardChannel, persona: Persona) -> None:
    """SELECT of the ISD clears the security status"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x9B, persona.sign_pin.value), 0x9000)
    expect_sw(select_aid(card, ISD_AID), 0x9000)
    enter(card, JPKI_AID)
    expect_sw(card.send("00B0810004"), 0x6982)


@pytest.mark.spec("MF-010", section="3.5")
def test_absent_object_is_6a88(card: CardChannel) -> None:
    """GET DATA of an absent object answers 6A88"""
    expect_sw(_get_data(card, 0x0001)[1], 0x6A88)
    expect_sw(_get_data(card, 0x9F7F)[1], 0x6A88)


@pytest.mark.spec("MF-011", section="3.5")
def test_get_data_without_le_is_6700(card: CardChannel) -> None:
    """GET DATA without Le answers 6700"""
    expect_sw(card.send("00CA0042"), 0x6700)
    expect_sw(card.send("00CA00420100"), 0x6700)


@pytest.mark.spec("MF-012", section="3.5")
def test_get_data_with_cla_80_is_6e00(card: CardChannel) -> None:
    """GET DATA with CLA 80 answers 6E00"""
    expect_sw(card.send("80CA004200"), 0x6E00)


@pytest.mark.spec("MF-013", section="14")
def test_partial_or_other_gp_aids_are_not_found(card: CardChannel) -> None:
    """Partial or other GlobalPlatform AIDs are not found (6A82)"""
    for aid in ("A000000151", "A000000151000000", "A000000003000000"):
        expect_sw(select_aid(card, aid), 0x6A82, note=aid)


@pytest.mark.spec("MF-014", section="3.5")
@pytest.mark.requires("phone_token")
def test_no_get_data_objects_without_card_info(card: CardChannel, persona: Persona) -> None:
    """A phone token has no GET DATA objects (6A88); the ISD still selects"""
    if persona.card_info is not None:
        pytest.skip("NOT APPLICABLE: the persona declares card_info")
    for tag in (0x0042, 0x0045, 0x00F0, 0x5F51):
        expect_sw(_get_data(card, tag)[1], 0x6A88, note=f"{tag:04X}")
    expect_sw(select_aid(card, ISD_AID), 0x9000)  # a card feature, not an application


@pytest.mark.spec("MF-015", section="1")
def test_reset_returns_to_mf_level(card: CardChannel, persona: Persona) -> None:
    """A reset returns to MF level"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)
    expect_sw(card.send("00A40000"), 0x9000)
    assert card.reset() == persona.atr
    expect_sw(card.send("00A40000"), 0x6A86)
    expect_not_sw(card.send("00B0860001"), 0x9000)
