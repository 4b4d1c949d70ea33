"""CARD: class, instruction, channel and length errors (reference sections 1, 5, 7, 11;
BEHAVIOUR.md "Transport and selection")."""

# ruff: noqa: S101
from __future__ import annotations

import pytest

from conformance.channel import CardChannel
from conformance.suites.helpers import JPKI_AID, enter, sha256_digest_info, sign
from conformance.sw import expect_sw
from simulator.personalization.persona import Persona


@pytest.mark.spec("CARD-001", section="1")
def test_logical_channel_not_0_is_6881(card: CardChannel) -> None:
    """A command on a logical channel other than 0 answers 6881"""
    for cla in (0x01, 0x03, 0x41):
        expect_sw(card.send(bytes([cla]) + bytes.fromhex(f"A4040C0A{JPKI_AID}")), 0x6881)


@pytest.mark.spec("CARD-002", section="11")
def test_secure_messaging_select_is_6882(card: CardChannel) -> None:
    """A secure-messaging SELECT (CLA 0C or 08) answers 6882"""
    expect_sw(card.send(f"0CA4040C0A{JPKI_AID}"), 0x6882)
    expect_sw(card.send(f"08A4040C0A{JPKI_AID}"), 0x6882)


@pytest.mark.spec("CARD-003", section="11")
def test_secure_messaging_other_commands_are_69fc(card: CardChannel) -> None:
    """Other secure-messaging commands inside JPKI answer 69FC"""
    enter(card, JPKI_AID)
    expect_sw(card.send("0CB0860000"), 0x69FC)
    expect_sw(card.send("0C20009800"), 0x69FC)


@pytest.mark.spec("CARD-004", section="7")
def test_unknown_class_is_6e00(card: CardChannel) -> None:
    """An unknown class byte (10, 20, 90, FF) answers 6E00"""
    for cla in ("10", "20", "90", "FF"):
        expect_sw(card.send(f"{cla}A4040C0A{JPKI_AID}"), 0x6E00, note=cla)


@pytest.mark.spec("CARD-005", section="7")
def test_instruction_in_the_wrong_class_is_6e00(card: CardChannel) -> None:
    """An instruction sent in the wrong class (ISO in 80, proprietary in 00) answers 6E00"""
    enter(card, JPKI_AID)
    expect_sw(card.send("80B0860000"), 0x6E00)  # READ BINARY is ISO
    expect_sw(card.send("002A0097" + "33" + sha256_digest_info(b"x").hex() + "00"), 0x6E00)


@pytest.mark.spec("CARD-006", section="7")
def test_unknown_instruction_is_6d00(card: CardChannel) -> None:
    """An unknown instruction in JPKI answers 6D00"""
    enter(card, JPKI_AID)
    for ins in ("E0", "D6", "44", "12"):
        expect_sw(card.send(f"00{ins}000000"), 0x6D00, note=ins)


@pytest.mark.spec("CARD-007", section="7")
def test_inconsistent_lengths_are_6700(card: CardChannel) -> None:
    """Lc that does not match the data, or a truncated extended Le, answers 6700"""
    expect_sw(card.send("00A4040C0AD392F0"), 0x6700)  # Lc 10, 3 bytes
    expect_sw(card.send("00B000000000"), 0x6700)  # truncated extended Le


@pytest.mark.spec("CARD-008", section="1")
def test_atr_is_the_declared_one(card: CardChannel, persona: Persona) -> None:
    """The ATR after a reset is the one the persona declares"""
    assert card.reset() == persona.atr
    atr = card.reset()
    assert atr[0] in (0x3B, 0x3F)


@pytest.mark.spec("CARD-009", section="5")
def test_get_challenge(card: CardChannel) -> None:
    """GET CHALLENGE answers 8 fresh random bytes each time, 256 for Le 00"""
    enter(card, JPKI_AID)
    first = card.send("0084000008")
    second = card.send("0084000008")
    expect_sw(first, 0x9000)
    expect_sw(second, 0x9000)
    assert len(first.data) == len(second.data) == 8
    assert first.data != second.data
    assert len(card.send("0084000000").data) == 256


@pytest.mark.spec("CARD-010", section="5")
def test_get_challenge_errors(card: CardChannel) -> None:
    """GET CHALLENGE with an extended Le answers 6985, without Le 6700"""
    enter(card, JPKI_AID)
    expect_sw(card.send("00840000000008"), 0x6985)  # extended Le
    expect_sw(card.send("00840000"), 0x6700)  # no Le


@pytest.mark.spec("CARD-011", section="15.6")
def test_signing_at_mf_level_is_6d00(card: CardChannel) -> None:
    """COMPUTE DIGITAL SIGNATURE at MF level (no application) answers 6D00"""
    expect_sw(sign(card, 0x00, 0x97, sha256_digest_info(b"x")), 0x6D00)


@pytest.mark.spec("CARD-012", section="11")
def test_set_session_key_in_jpki_is_6982(card: CardChannel, persona: Persona) -> None:
    """MSE SET session key in JPKI answers 6982, before and after the PIN"""
    enter(card, JPKI_AID)
    expect_sw(card.send("80AE000003010203"), 0x6982)
    value = persona.auth_pin.value
    expect_sw(card.send(bytes([0, 0x20, 0, 0x98, len(value)]) + value), 0x9000)
    expect_sw(card.send("80AE000003010203"), 0x6982)


@pytest.mark.spec("CARD-013", section="5")
def test_internal_authenticate_on_jpki_keys(card: CardChannel, persona: Persona) -> None:
    """INTERNAL AUTHENTICATE on a JPKI key: 6982 without the PIN, 6985 with it"""
    enter(card, JPKI_AID)
    expect_sw(card.send("0088009704" + "01020304" + "00"), 0x6982)
    value = persona.auth_pin.value
    expect_sw(card.send(bytes([0, 0x20, 0, 0x98, len(value)]) + value), 0x9000)
    expect_sw(card.send("0088009704" + "01020304" + "00"), 0x6985)


@pytest.mark.spec("CARD-014", section="4.4")
def test_change_key_in_jpki_is_6d00(card: CardChannel) -> None:
    """CHANGE KEY (80 32) in JPKI answers 6D00"""
    enter(card, JPKI_AID)
    expect_sw(card.send("803200980439383736"), 0x6D00)


@pytest.mark.spec("CARD-015", section="7")
def test_card_keeps_answering_after_errors(card: CardChannel) -> None:
    """The card keeps answering normally after a burst of malformed commands"""
    for apdu in ("FFFFFFFF", "00A4040C0AD392F0", "0CB0000000", "00E0000000"):
        card.send(apdu)
    expect_sw(card.send(f"00A4040C0A{JPKI_AID}"), 0x9000)
    expect_sw(card.send("00B0860004"), 0x9000)
