"""TEXT: 券面事項入力補助AP (reference sections 3.2, 4.1-4.3, 9.2, 15.5; BEHAVIOUR.md).

PIN 0011 (4 digits) opens 0001-0003, 0006, 0007; 照合番号A 0014 opens 0001 (not 0002);
照合番号B 0015 opens 0002 (not 0001); 0004, 0005, 0008 are free; key 0012 is blocked.
"""

# ruff: noqa: S101
from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from conformance.channel import CardChannel
from conformance.suites.helpers import (
    JPKI_AID,
    SURFACE_AID,
    TEXT_AID,
    enter,
    query,
    read_ef,
    retries_sw,
    select_ef,
    sha256_digest_info,
    sign,
    verify,
)
from conformance.suites.pin_machine import (
    PinUnderTest,
    fresh_channel,
    run_pin_machine,
    wrong_values_for,
)
from conformance.sw import expect_sw
from conformance.targets import Target
from simulator.personalization.persona import Persona

pytestmark = pytest.mark.requires("card_info")

PIN, BLOCKED, PIN_A, PIN_B = 0x0011, 0x0012, 0x0014, 0x0015
PROTECTED = (0x0001, 0x0002, 0x0003, 0x0006, 0x0007)


def _text(persona: Persona) -> Any:
    assert persona.card_info is not None
    return persona.card_info.text


def _expected(persona: Persona) -> dict[int, bytes]:
    text = _text(persona)
    return {
        0x0001: text.my_number, 0x0002: text.basic_four, 0x0003: text.integrity,
        0x0004: text.cv_certificate, 0x0005: text.basic_info, 0x0006: text.session_key,
        0x0007: text.ap_key_record, 0x0008: b"\xff" * 16,
    }  # fmt: skip


def _sw_of_read(card: CardChannel, fid: int) -> int:
    expect_sw(select_ef(card, fid), 0x9000)
    return card.send("00B00000000000").sw


def _readable(card: CardChannel, fid: int) -> bool:
    sw = card.send(bytes([0x00, 0xB0, 0x80 | fid, 0x00, 0x01])).sw
    expect_sw(sw, 0x9000, 0x6982, note=f"{fid:04X}")
    return sw == 0x9000


@pytest.mark.spec("TEXT-001", section="3.2")
def test_protected_efs_closed_without_credential(card: CardChannel) -> None:
    """The text AP's protected EFs are closed without a credential"""
    enter(card, TEXT_AID)
    for fid in PROTECTED:
        expect_sw(_sw_of_read(card, fid), 0x6982, note=f"{fid:04X}")


@pytest.mark.spec("TEXT-002", section="9.2")
def test_my_number_with_pin_is_17_bytes(card: CardChannel, persona: Persona) -> None:
    """The My Number EF read after the PIN is the persona's 17 bytes"""
    text = _text(persona)
    enter(card, TEXT_AID)
    expect_sw(verify(card, 0x91, text.pin.value), 0x9000)
    select_ef(card, 0x0001)
    response = card.send("00B0000011")
    expect_sw(response, 0x9000)
    assert response.data == text.my_number
    assert len(response.data) == 17
    assert response.data[:3] == bytes.fromhex("FF100C")
    assert response.data[15:] == b"\xff\xff"
    assert response.data[3:15] == text.pin_a.value  # 照合番号A is the My Number


@pytest.mark.spec("TEXT-003", section="3.2")
def test_pin_a_opens_my_number_not_basic_four(card: CardChannel, persona: Persona) -> None:
    """照合番号A opens the My Number, not the basic 4 info"""
    enter(card, TEXT_AID)
    expect_sw(verify(card, 0x94, _text(persona).pin_a.value), 0x9000)
    assert read_ef(card, 0x0001).data == _text(persona).my_number
    expect_sw(_sw_of_read(card, 0x0002), 0x6982)
    for fid in (0x0003, 0x0006, 0x0007):
        assert _readable(card, fid), f"{fid:04X}"


@pytest.mark.spec("TEXT-004", section="3.2")
def test_pin_b_opens_basic_four_not_my_number(card: CardChannel, persona: Persona) -> None:
    """照合番号B opens the basic 4 info, not the My Number"""
    enter(card, TEXT_AID)
    expect_sw(verify(card, 0x95, _text(persona).pin_b.value), 0x9000)
    assert read_ef(card, 0x0002).data == _text(persona).basic_four
    expect_sw(_sw_of_read(card, 0x0001), 0x6982)
    for fid in (0x0003, 0x0006, 0x0007):
        assert _readable(card, fid), f"{fid:04X}"


@pytest.mark.spec("TEXT-005", section="3.2")
def test_pin_opens_every_protected_ef(card: CardChannel, persona: Persona) -> None:
    """The text AP PIN opens every protected EF"""
    enter(card, TEXT_AID)
    expect_sw(verify(card, 0x91, _text(persona).pin.value), 0x9000)
    expected = _expected(persona)
    for fid in PROTECTED:
        assert read_ef(card, fid).data == expected[fid], f"{fid:04X}"


@pytest.mark.spec("TEXT-006", section="3.2")
def test_free_efs(card: CardChannel, persona: Persona) -> None:
    """The text AP's free EFs read without a credential"""
    enter(card, TEXT_AID)
    expected = _expected(persona)
    for fid in (0x0004, 0x0005, 0x0008):
        response = read_ef(card, fid)
        expect_sw(response, 0x9000)
        assert response.data == expected[fid], f"{fid:04X}"
    assert len(expected[0x0004]) == 568
    assert len(read_ef(card, 0x0005).data) >= 256


@pytest.mark.spec("TEXT-007", section="3.2")
def test_blocked_key_0012(card: CardChannel, persona: Persona) -> None:
    """Key EF 0012 is blocked: status query 63C0, VERIFY 6984"""
    enter(card, TEXT_AID)
    expect_sw(select_ef(card, BLOCKED), 0x9000)
    expect_sw(query(card, 0x80), 0x63C0)
    expect_sw(verify(card, 0x80, _text(persona).pin.value), 0x6984)
    expect_sw(verify(card, 0x92, b"0000"), 0x6984)


@pytest.mark.spec("TEXT-008", section="4.2")
@pytest.mark.destructive
def test_pin_wrong_decrements_correct_restores(card: CardChannel, persona: Persona) -> None:
    """A wrong text AP PIN spends one try, the correct one restores the limit"""
    spec = _text(persona).pin
    enter(card, TEXT_AID)
    expect_sw(query(card, 0x91), retries_sw(spec.remaining))
    expect_sw(verify(card, 0x91, wrong_values_for(spec.value)[0]), retries_sw(spec.remaining - 1))
    expect_sw(verify(card, 0x91, spec.value), 0x9000)
    expect_sw(query(card, 0x91), retries_sw(spec.max_tries))


@pytest.mark.spec("TEXT-009", section="4.2")
@pytest.mark.destructive
def test_pin_lockout(card: CardChannel, persona: Persona) -> None:
    """The text AP PIN blocks after its limit"""
    text = _text(persona)
    enter(card, TEXT_AID)
    for left in range(text.pin.remaining - 1, -1, -1):
        expect_sw(verify(card, 0x91, wrong_values_for(text.pin.value)[0]), retries_sw(left))
    expect_sw(verify(card, 0x91, text.pin.value), 0x6984)
    expect_sw(query(card, 0x91), 0x63C0)
    assert not _readable(card, 0x0001)
    expect_sw(verify(card, 0x94, text.pin_a.value), 0x9000)  # A is a separate key
    assert _readable(card, 0x0001)


@pytest.mark.spec("TEXT-010", section="4.2")
@pytest.mark.destructive
def test_pin_a_lockout_is_separate(card: CardChannel, persona: Persona) -> None:
    """照合番号A's lockout is separate from the PIN's"""
    text = _text(persona)
    enter(card, TEXT_AID)
    for left in range(text.pin_a.remaining - 1, -1, -1):
        expect_sw(verify(card, 0x94, wrong_values_for(text.pin_a.value)[0]), retries_sw(left))
    expect_sw(verify(card, 0x94, text.pin_a.value), 0x6984)
    expect_sw(query(card, 0x91), retries_sw(text.pin.remaining))
    expect_sw(query(card, 0x95), retries_sw(text.pin_b.remaining))


@pytest.mark.spec("TEXT-011", section="4.2")
@pytest.mark.destructive
def test_pin_b_wrong_decrements_correct_restores(card: CardChannel, persona: Persona) -> None:
    """A wrong 照合番号B spends one try, the correct one restores the limit"""
    spec = _text(persona).pin_b
    enter(card, TEXT_AID)
    expect_sw(verify(card, 0x95, wrong_values_for(spec.value)[0]), retries_sw(spec.remaining - 1))
    expect_sw(verify(card, 0x95, spec.value), 0x9000)
    expect_sw(query(card, 0x95), retries_sw(spec.max_tries))


@pytest.mark.spec("TEXT-012", section="4.1")
def test_printed_keys_cannot_be_changed(card: CardChannel, persona: Persona) -> None:
    """The printed keys (照合番号A/B) cannot be changed"""
    text = _text(persona)
    enter(card, TEXT_AID)
    new = bytes(len(text.pin_a.value))
    expect_sw(card.send(bytes([0, 0x24, 1, 0x94, len(new)]) + new), 0x6982)
    expect_sw(verify(card, 0x94, text.pin_a.value), 0x9000)
    expect_sw(card.send(bytes([0, 0x24, 1, 0x94, len(new)]) + new), 0x6985)
    expect_sw(verify(card, 0x95, text.pin_b.value), 0x9000)
    expect_sw(card.send(bytes([0, 0x24, 1, 0x95, 4]) + b"1234"), 0x6985)


@pytest.mark.spec("TEXT-013", section="4.4")
@pytest.mark.destructive
def test_change_pin_after_verify(card: CardChannel, persona: Persona) -> None:
    """The text AP PIN can be changed after a VERIFY"""
    spec = _text(persona).pin
    new = b"9876" if spec.value != b"9876" else b"6789"
    enter(card, TEXT_AID)
    expect_sw(card.send(bytes([0, 0x24, 1, 0x91, 4]) + new), 0x6982)
    expect_sw(verify(card, 0x91, spec.value), 0x9000)
    expect_sw(card.send(bytes([0, 0x24, 1, 0x91, 5]) + b"12345"), 0x6A80)
    expect_sw(card.send(bytes([0, 0x24, 1, 0x91, 4]) + new), 0x9000)
    expect_sw(verify(card, 0x91, spec.value), retries_sw(spec.max_tries - 1))
    expect_sw(verify(card, 0x91, new), 0x9000)
    expect_sw(card.send(bytes([0, 0x24, 1, 0x91, len(spec.value)]) + spec.value), 0x9000)


@pytest.mark.spec("TEXT-014", section="10")
def test_own_key_signs_without_credential(card: CardChannel, persona: Persona) -> None:
    """The text AP's own key signs without a credential"""
    enter(card, TEXT_AID)
    challenge = b"relying-party challenge"
    response = sign(card, 0x00, 0x00, sha256_digest_info(challenge))
    expect_sw(response, 0x9000)
    public = _text(persona).ap_key.public_key()
    public.verify(response.data, challenge, padding.PKCS1v15(), hashes.SHA256())
    assert sign(card, 0x00, 0x93, sha256_digest_info(challenge)).data == response.data


@pytest.mark.spec("TEXT-015", section="10")
def test_own_key_p1_not_00_is_6a86(card: CardChannel) -> None:
    """Signing with the text AP's own key with P1 other than 00 answers 6A86"""
    enter(card, TEXT_AID)
    expect_sw(sign(card, 0x01, 0x00, b"challenge"), 0x6A86)


@pytest.mark.spec("TEXT-016", section="4.3")
@pytest.mark.requires("reselect_clears_status")
def test_status_cleared_by_select_and_reset(card: CardChannel, persona: Persona) -> None:
    """The text AP's security status is cleared by application SELECT and by reset"""
    enter(card, TEXT_AID)
    expect_sw(verify(card, 0x91, _text(persona).pin.value), 0x9000)
    assert _readable(card, 0x0001)
    enter(card, TEXT_AID)
    assert not _readable(card, 0x0001)
    expect_sw(verify(card, 0x94, _text(persona).pin_a.value), 0x9000)
    card.reset()
    enter(card, TEXT_AID)
    assert not _readable(card, 0x0001)


@pytest.mark.spec("TEXT-017", section="4.3")
def test_status_kept_across_ef_selects(card: CardChannel, persona: Persona) -> None:
    """The text AP's security status survives SELECTs of EFs"""
    enter(card, TEXT_AID)
    expect_sw(verify(card, 0x91, _text(persona).pin.value), 0x9000)
    for fid in (0x0004, 0x0005, 0x0014, 0x0002):
        expect_sw(select_ef(card, fid), 0x9000)
    expect_sw(card.send("00B0000003"), 0x9000)


@pytest.mark.spec("TEXT-018", section="11")
def test_set_session_key_needs_the_pin(card: CardChannel, persona: Persona) -> None:
    """MSE SET session key in the text AP needs the text AP PIN (not 照合番号A)"""
    enter(card, TEXT_AID)
    expect_sw(card.send("80AE000003010203"), 0x6982)
    expect_sw(verify(card, 0x94, _text(persona).pin_a.value), 0x9000)
    expect_sw(card.send("80AE000003010203"), 0x6982)  # 照合番号A does not do
    expect_sw(verify(card, 0x91, _text(persona).pin.value), 0x9000)
    expect_sw(card.send("80AE000003010203"), 0x6A80)


@pytest.mark.spec("TEXT-019", section="4.1")
@pytest.mark.destructive
def test_counters_separate_from_surface(card: CardChannel, persona: Persona) -> None:
    """The text AP's counters are separate from the card-surface AP's"""
    text = _text(persona)
    enter(card, TEXT_AID)
    expect_sw(
        verify(card, 0x94, wrong_values_for(text.pin_a.value)[0]),
        retries_sw(text.pin_a.remaining - 1),
    )
    enter(card, SURFACE_AID)
    assert persona.card_info is not None
    expect_sw(query(card, 0x93), retries_sw(persona.card_info.surface.pin_a.remaining))
    expect_sw(query(card, 0x91), retries_sw(persona.card_info.surface.birth_key.remaining))
    enter(card, TEXT_AID)
    expect_sw(verify(card, 0x94, text.pin_a.value), 0x9000)


@pytest.mark.spec("TEXT-020", section="11")
def test_secure_messaging_cla_refused(card: CardChannel) -> None:
    """Secure messaging in the text AP: SELECT answers 6882, other commands 69FC"""
    enter(card, TEXT_AID)
    expect_sw(card.send("0CA4020C020001"), 0x6882)
    expect_sw(card.send("08B0000000"), 0x69FC)


@pytest.mark.spec("TEXT-021", section="4.2")
@pytest.mark.destructive
def test_text_pin_state_machine(card: CardChannel, persona: Persona, target: Target) -> None:
    """The text AP PIN behaves like its model under random command sequences"""
    spec = _text(persona).pin
    pin = PinUnderTest(
        TEXT_AID, PIN, spec.value, spec.max_tries, wrong_values_for(spec.value), 0x0004,
        lambda channel: _readable(channel, 0x0002),
        persona.reselect_clears_status, JPKI_AID,
    )  # fmt: skip
    run_pin_machine(lambda: fresh_channel(target, card), pin)


@pytest.mark.spec("TEXT-022", section="4.2")
@pytest.mark.destructive
@pytest.mark.parametrize(("fid", "opens"), [(0x0014, 0x0001), (0x0015, 0x0002)], ids=["A", "B"])
def test_collation_number_state_machines(
    card: CardChannel, persona: Persona, target: Target, fid: int, opens: int
) -> None:
    """照合番号A and B behave like their models under random command sequences

    照合番号A (0014, opens the My Number) and B (0015, opens the basic 4 info).
    """
    spec = _text(persona).pin_a if fid == 0x0014 else _text(persona).pin_b
    pin = PinUnderTest(
        TEXT_AID, fid, spec.value, spec.max_tries, wrong_values_for(spec.value), 0x0004,
        lambda channel: _readable(channel, opens),
        persona.reselect_clears_status, JPKI_AID,
    )  # fmt: skip
    run_pin_machine(lambda: fresh_channel(target, card), pin)


@pytest.mark.spec("TEXT-023", section="4.3")
def test_status_kept_by_reselect_cleared_by_another_application(
    card: CardChannel, persona: Persona
) -> None:
    """Section 4.3: re-selecting the text AP keeps its status (unless the persona declares
    reselect_clears_status); selecting another application clears it."""
    enter(card, TEXT_AID)
    expect_sw(verify(card, 0x91, _text(persona).pin.value), 0x9000)
    enter(card, TEXT_AID)
    assert _readable(card, 0x0001) is not persona.reselect_clears_status
    enter(card, JPKI_AID)
    enter(card, TEXT_AID)
    assert not _readable(card, 0x0001)
