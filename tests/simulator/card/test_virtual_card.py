"""The card as a device: power, ATR, classes, channels, instructions, SELECT."""

from __future__ import annotations

import pytest
from card_helpers import JPKI_AID, select_jpki, tx

from simulator import CardNotPoweredError, VirtualCard
from simulator.personalization.persona import Persona

OTHER_CARD_AIDS = [
    "627601FF000000",  # coolkey
    "A00000000101",  # MUSCLE
    "E82B0601040181C31F0201",  # SmartCard-HSM
    "A000000308000010000100",  # PIV
    "A000000116DB00",  # CAC CCC
    "F276A288BCFBA69D34F31001",  # IsoApplet
    "A000000397425446590201",  # GIDS
    "D27600012401",  # OpenPGP
    "D392F000260100000002",  # JPKI AID with another last byte
    "D392F0002601",  # partial JPKI AID
]


def test_power_on_returns_default_atr(default_persona: Persona) -> None:
    card = VirtualCard(default_persona)
    assert card.power_on() == bytes.fromhex("3BE000FF8131FE4514")
    assert card.atr == default_persona.atr


def test_transmit_needs_power(default_persona: Persona) -> None:
    card = VirtualCard(default_persona)
    with pytest.raises(CardNotPoweredError, match="power_on"):
        card.transmit(bytes.fromhex("00A4040C0A" + JPKI_AID.hex()))
    card.power_on()
    card.power_off()
    with pytest.raises(CardNotPoweredError):
        card.transmit(b"\x00\xa4\x00\x00")


@pytest.mark.parametrize("aid", OTHER_CARD_AIDS)
def test_foreign_aids_are_not_found(card: VirtualCard, aid: str) -> None:
    assert tx(card, f"00A4040C{len(aid) // 2:02X}{aid}") == (b"", 0x6A82)
    assert tx(card, f"00A40400{len(aid) // 2:02X}{aid}00") == (b"", 0x6A82)


def test_select_jpki_both_p2_forms(card: VirtualCard) -> None:
    assert tx(card, "00A4040C0A" + JPKI_AID.hex()) == (b"", 0x9000)
    assert tx(card, "00A404000A" + JPKI_AID.hex() + "00") == (b"", 0x9000)
    assert card.selected is not None and card.selected.aid == JPKI_AID


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00A40408" + "0A" + JPKI_AID.hex(), 0x6A86),  # P2 not 0C/00
        ("00A40104020018", 0x6A86),  # P1 01
        ("00A4080C020018", 0x6A86),  # P1 08
        ("00A4040C00", 0x6700),  # no AID (Le only, case 2)
        ("00A4040C11" + "00" * 17, 0x6700),  # AID longer than 16
        ("00A4020C0100", 0x6700),  # FID of 1 byte
        ("00A4020C03000A00", 0x6700),  # FID of 3 bytes
    ],
)
def test_select_parameter_errors(card: VirtualCard, apdu: str, sw: int) -> None:
    select_jpki(card)
    assert tx(card, apdu) == (b"", sw)


def test_select_mf_rules(card: VirtualCard) -> None:
    assert tx(card, "00A40000")[1] == 0x6A86  # right after reset
    select_jpki(card)
    assert tx(card, "00A40000")[1] == 0x9000  # with an AP selected: 9000
    assert card.selected is not None  # ... and the current DF is unchanged
    assert tx(card, "00A4000C023F00")[1] == 0x6A82
    assert tx(card, "00A4020C023F00")[1] == 0x6A82
    card.reset()
    assert tx(card, "00A40000")[1] == 0x6A86


def test_failed_select_keeps_the_current_application(card: VirtualCard) -> None:
    select_jpki(card)
    assert tx(card, "00A4040C06A00000000101")[1] == 0x6A82
    assert tx(card, "00A4020C02000A")[1] == 0x9000


@pytest.mark.parametrize("cla", [0x01, 0x02, 0x03, 0x41, 0x4F, 0x61, 0x81])
def test_other_logical_channels(card: VirtualCard, cla: int) -> None:
    assert tx(card, f"{cla:02X}A4040C0A{JPKI_AID.hex()}") == (b"", 0x6881)


def test_secure_messaging_classes(card: VirtualCard) -> None:
    assert tx(card, f"0CA4040C0A{JPKI_AID.hex()}")[1] == 0x6882
    assert tx(card, "08A4020C020001")[1] == 0x6882
    assert tx(card, "0CB0000004")[1] == 0x69FC
    assert tx(card, "08200080")[1] == 0x69FC


@pytest.mark.parametrize("cla", [0x10, 0x20, 0x90, 0xA0, 0xB0, 0xFF])
def test_unsupported_classes(card: VirtualCard, cla: int) -> None:
    assert tx(card, f"{cla:02X}A4040C0A{JPKI_AID.hex()}") == (b"", 0x6E00)


def test_class_of_the_wrong_kind_for_a_known_instruction(card: VirtualCard) -> None:
    select_jpki(card)
    assert tx(card, "80B0000004")[1] == 0x6E00  # READ BINARY is an ISO command
    assert tx(card, "002A008003AABBCC00")[1] == 0x6E00  # COMPUTE SIGNATURE is proprietary


@pytest.mark.parametrize("ins", [0x00, 0x0E, 0x44, 0x70, 0x82, 0x86, 0xD6, 0xE0])
def test_unknown_instructions(card: VirtualCard, ins: int) -> None:
    select_jpki(card)
    assert tx(card, f"00{ins:02X}000000")[1] == 0x6D00


def test_malformed_apdus_are_answered_6700(card: VirtualCard) -> None:
    for raw in (b"", b"\x00", b"\x00\xa4\x04", bytes.fromhex("00A4040C0AD392")):
        assert tx(card, raw) == (b"", 0x6700)


def test_mf_level_commands(card: VirtualCard) -> None:
    """Before any application is selected there is no EF to read or verify."""
    assert tx(card, "00A4020C02000A")[1] == 0x6A82
    assert tx(card, "00B0000004")[1] == 0x6986
    assert tx(card, "00200080")[1] == 0x6986
    assert tx(card, "802A00800100")[1] == 0x6D00  # no signing outside an application


def test_get_challenge(card: VirtualCard) -> None:
    first, sw = tx(card, "0084000008")
    assert sw == 0x9000 and len(first) == 8
    assert len(tx(card, "0084000000")[0]) == 256
    assert tx(card, "00840000000008")[1] == 0x6985  # extended Le
    assert tx(card, "00840100 08".replace(" ", ""))[1] == 0x6A86
    assert tx(card, "00840000")[1] == 0x6700


def test_unexpected_exception_propagates_in_strict_mode(
    default_persona: Persona, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = VirtualCard(default_persona)
    card.power_on()

    def boom(*_: object) -> bytes:
        raise ZeroDivisionError("handler bug")

    monkeypatch.setattr(card, "_dispatch", boom)
    with pytest.raises(ZeroDivisionError):
        card.transmit(b"\x00\xa4\x00\x00")


def test_unexpected_exception_is_6f00_when_serving(
    default_persona: Persona, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    card = VirtualCard(default_persona, strict=False)
    card.power_on()

    def boom(*_: object) -> bytes:
        raise ZeroDivisionError("handler bug")

    monkeypatch.setattr(card, "_dispatch", boom)
    assert tx(card, "0020008004313233 34".replace(" ", "")) == (b"", 0x6F00)
    assert "internal error" in caplog.text
    assert "31 32 33 34" not in caplog.text  # the PIN is redacted in the log line
