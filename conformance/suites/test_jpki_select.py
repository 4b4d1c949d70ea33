"""JPKI-SEL: selecting applications and EFs (jpki-card-reference.md sections 1, 2, 5, 15.2)."""

# ruff: noqa: S101
from __future__ import annotations

import pytest

from conformance.channel import CardChannel
from conformance.suites.helpers import (
    CARD_INFO_AIDS,
    COMMON_AID,
    JUKI_AID,
    SURFACE_AID,
    TEXT_AID,
    enter,
    read_current,
    select_aid,
    select_ef,
    verify_ef,
)
from conformance.sw import expect_sw
from simulator.personalization.persona import Persona

JPKI_AID = "D392F000260100000001"
FOREIGN_AIDS = (
    "A00000000101",  # MUSCLE
    "A000000308000010000100",  # PIV
    "D27600012401",  # OpenPGP
    "A0000000630101",  # PKCS#15
    "E828BD080F",  # ISO 7816-15
    "D392F000260100000002",  # the JPKI AID with another last byte
)


@pytest.mark.spec("JPKI-SEL-001", section="2")
def test_select_jpki_by_df_name(card: CardChannel) -> None:
    """SELECT of the JPKI application by its DF name answers 9000"""
    expect_sw(card.send(f"00A4040C0A{JPKI_AID}"), 0x9000)


@pytest.mark.spec("JPKI-SEL-002", section="1")
def test_foreign_aid_is_not_found(card: CardChannel) -> None:
    """SELECT of a foreign AID (MUSCLE) answers 6A82"""
    expect_sw(card.send("00A4040C06A00000000101"), 0x6A82)  # MUSCLE


@pytest.mark.spec("JPKI-SEL-003", section="3.1")
@pytest.mark.requires("sign_certificate")
def test_signature_certificate_ef_exists(card: CardChannel) -> None:
    """The signature certificate EF (0001) can be selected in JPKI"""
    card.send(f"00A4040C0A{JPKI_AID}")
    expect_sw(card.send("00A4020C020001"), 0x9000)


@pytest.mark.spec("JPKI-SEL-004", section="2")
@pytest.mark.requires("card_info")
def test_select_text_ap(card: CardChannel) -> None:
    """SELECT of the card-info text AP (券面事項入力補助AP) answers 9000"""
    expect_sw(select_aid(card, TEXT_AID), 0x9000)


@pytest.mark.spec("JPKI-SEL-005", section="2")
@pytest.mark.requires("card_info")
def test_select_surface_ap(card: CardChannel) -> None:
    """SELECT of the card-surface AP (券面AP) answers 9000"""
    expect_sw(select_aid(card, SURFACE_AID), 0x9000)


@pytest.mark.spec("JPKI-SEL-006", section="2")
@pytest.mark.requires("card_info")
def test_select_common_ap(card: CardChannel) -> None:
    """SELECT of the common AP answers 9000"""
    expect_sw(select_aid(card, COMMON_AID), 0x9000)


@pytest.mark.spec("JPKI-SEL-007", section="2")
@pytest.mark.requires("card_info")
def test_select_juki_ap(card: CardChannel) -> None:
    """SELECT of the 住基 AP answers 9000"""
    expect_sw(select_aid(card, JUKI_AID), 0x9000)


@pytest.mark.spec("JPKI-SEL-008", section="1")
def test_every_foreign_aid_is_not_found(card: CardChannel) -> None:
    """SELECT of every foreign AID (PIV, OpenPGP, PKCS#15, ...) answers 6A82"""
    for aid in FOREIGN_AIDS:
        expect_sw(select_aid(card, aid), 0x6A82, note=aid)


@pytest.mark.spec("JPKI-SEL-009", section="15.2")
def test_select_with_fci_requested_answers_9000_without_fci(card: CardChannel) -> None:
    """SELECT asking for FCI answers 9000 with no data"""
    response = card.send(f"00A404000A{JPKI_AID}00")
    expect_sw(response, 0x9000)
    assert response.data == b""


@pytest.mark.spec("JPKI-SEL-010", section="15.2")
def test_select_with_unknown_p2_is_refused(card: CardChannel) -> None:
    """SELECT with an unknown P2 answers 6A86"""
    expect_sw(card.send(f"00A404040A{JPKI_AID}"), 0x6A86)


@pytest.mark.spec("JPKI-SEL-011", section="15.2")
def test_unknown_ef_is_not_found(card: CardChannel) -> None:
    """SELECT of an EF that JPKI does not have answers 6A82"""
    enter(card, JPKI_AID)
    for fid in (0x0005, 0x0010, 0x0016, 0x0019, 0x001C, 0x001E, 0x0003):
        expect_sw(select_ef(card, fid), 0x6A82, note=f"{fid:04X}")


@pytest.mark.spec("JPKI-SEL-012", section="5")
def test_failed_select_keeps_the_current_application(card: CardChannel) -> None:
    """A failed application SELECT keeps the current application"""
    enter(card, JPKI_AID)
    expect_sw(select_aid(card, "A00000000101"), 0x6A82)
    expect_sw(select_ef(card, 0x0006), 0x9000)
    expect_sw(read_current(card), 0x9000)


@pytest.mark.spec("JPKI-SEL-013", section="4.3")
@pytest.mark.requires("sign_certificate")
def test_failed_select_keeps_the_security_status(card: CardChannel, persona: Persona) -> None:
    """A failed application SELECT keeps the security status"""
    enter(card, JPKI_AID)
    expect_sw(verify_ef(card, 0x001B, persona.sign_pin.value), 0x9000)
    expect_sw(select_aid(card, "D27600012401"), 0x6A82)
    expect_sw(select_ef(card, 0x0001), 0x9000)
    expect_sw(read_current(card), 0x9000)


@pytest.mark.spec("JPKI-SEL-014", section="2")
@pytest.mark.requires("phone_token")
def test_phone_token_carries_jpki_only(card: CardChannel, persona: Persona) -> None:
    """A phone token carries JPKI only (no card-info applications)"""
    expected = 0x6A82 if persona.card_info is None else 0x9000
    for aid in CARD_INFO_AIDS:
        expect_sw(select_aid(card, aid), expected, note=aid)
    expect_sw(select_aid(card, JPKI_AID), 0x9000)


@pytest.mark.spec("JPKI-SEL-015", section="15.2")
def test_aid_longer_than_16_bytes_is_a_length_error(card: CardChannel) -> None:
    """An AID longer than 16 bytes answers 6700"""
    expect_sw(card.send("00A4040C11" + "D3" * 17), 0x6700)


@pytest.mark.spec("JPKI-SEL-016", section="1")
def test_fid_3f00_is_not_selectable(card: CardChannel) -> None:
    """FID 3F00 cannot be selected, at MF level or in JPKI (6A82)"""
    expect_sw(card.send("00A4000C023F00"), 0x6A82)
    enter(card, JPKI_AID)
    expect_sw(card.send("00A4020C023F00"), 0x6A82)


@pytest.mark.spec("JPKI-SEL-017", section="14")
def test_partial_df_name_is_not_found(card: CardChannel) -> None:
    """A partial DF name does not select the application (6A82)"""
    expect_sw(select_aid(card, JPKI_AID[:16]), 0x6A82)


@pytest.mark.spec("JPKI-SEL-018", section="15.2")
def test_select_ef_with_a_3_byte_fid_is_a_length_error(card: CardChannel) -> None:
    """SELECT EF with a 3-byte FID answers 6700"""
    enter(card, JPKI_AID)
    expect_sw(card.send("00A4020C0300000A"), 0x6700)


@pytest.mark.spec("JPKI-SEL-019", section="5")
def test_select_ef_by_fid_makes_it_current(card: CardChannel) -> None:
    """SELECT EF by FID makes that EF the current one"""
    enter(card, JPKI_AID)
    expect_sw(select_ef(card, 0x0006), 0x9000)
    assert len(read_current(card).data) == 160
    expect_sw(select_ef(card, 0x0008), 0x9000)
    assert len(read_current(card).data) == 3
