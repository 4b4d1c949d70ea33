"""JUKI: the common AP (…0100) and the 住基AP (…0401) (reference sections 3.4, 4.4, 5, 11;
BEHAVIOUR.md "Common AP and 住基AP")."""

# ruff: noqa: S101
from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from conformance.channel import CardChannel
from conformance.suites.helpers import (
    COMMON_AID,
    JPKI_AID,
    JUKI_AID,
    enter,
    query,
    read_record,
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

PIN = 0x001C


def _registry(persona: Persona) -> Any:
    assert persona.card_info is not None
    return persona.card_info.registry


def _change_key(card: CardChannel, p2: int, value: bytes) -> int:
    return card.send(bytes([0x80, 0x32, 0x00, p2, len(value)]) + value).sw


@pytest.mark.spec("JUKI-001", section="3.4")
def test_common_record_by_sfi(card: CardChannel, persona: Persona) -> None:
    """The common AP's record reads by SFI"""
    enter(card, COMMON_AID)
    response = read_record(card, 1)
    expect_sw(response, 0x9000)
    assert response.data == _registry(persona).common_record
    assert response.data[:2] == bytes.fromhex("011C")


@pytest.mark.spec("JUKI-002", section="5")
def test_common_record_of_current_ef(card: CardChannel, persona: Persona) -> None:
    """The common AP's record reads from the current EF"""
    enter(card, COMMON_AID)
    expect_sw(select_ef(card, 0x0001), 0x9000)
    response = card.send("00B2010400")
    expect_sw(response, 0x9000)
    assert response.data == _registry(persona).common_record


@pytest.mark.spec("JUKI-003", section="5")
def test_missing_record_is_6a83(card: CardChannel) -> None:
    """READ RECORD of a missing record answers 6A83"""
    enter(card, COMMON_AID)
    expect_sw(read_record(card, 1, record=2), 0x6A83)


@pytest.mark.spec("JUKI-004", section="3.4")
def test_key_reference_record_in_both(card: CardChannel, persona: Persona) -> None:
    """The key reference record is in both the 住基 and common APs"""
    expected = _registry(persona).key_reference
    for aid in (COMMON_AID, JUKI_AID):
        enter(card, aid)
        response = read_record(card, 2)
        expect_sw(response, 0x9000)
        assert response.data == expected
        assert len(response.data) == 16


@pytest.mark.spec("JUKI-005", section="3")
def test_read_binary_on_record_ef_is_6981(card: CardChannel) -> None:
    """READ BINARY on a record EF answers 6981"""
    enter(card, COMMON_AID)
    select_ef(card, 0x0001)
    expect_sw(card.send("00B0000000"), 0x6981)
    expect_sw(card.send("00B0820000"), 0x6981)


@pytest.mark.spec("JUKI-006", section="3.4")
def test_juki_ap_has_no_ef_0001(card: CardChannel) -> None:
    """The 住基 AP has no EF 0001 (6A82)"""
    enter(card, JUKI_AID)
    expect_sw(select_ef(card, 0x0001), 0x6A82)
    expect_sw(read_record(card, 1), 0x6A82)


@pytest.mark.spec("JUKI-007", section="5")
def test_read_record_p1_p2_errors(card: CardChannel) -> None:
    """READ RECORD: record 0 answers 6A86, P1 of the last record 6A81, no current EF 6986"""
    enter(card, COMMON_AID)
    expect_sw(card.send("00B2000C00"), 0x6A86)  # record 0
    expect_sw(card.send("00B2010D00"), 0x6A81)  # P1 to the last record
    expect_sw(card.send("00B2010400"), 0x6986)  # no current EF


@pytest.mark.spec("JUKI-008", section="5")
def test_read_record_short_le_is_6700(card: CardChannel) -> None:
    """READ RECORD with a short Le answers 6700"""
    enter(card, COMMON_AID)
    expect_sw(card.send("00B2010C05"), 0x6700)
    expect_sw(card.send("00B2010C"), 0x6700)


@pytest.mark.spec("JUKI-009", section="4.2")
@pytest.mark.destructive
def test_common_pin_wrong_decrements_correct_restores(card: CardChannel, persona: Persona) -> None:
    """A wrong common AP PIN spends one try, the correct one restores the limit"""
    spec = _registry(persona).common_pin
    enter(card, COMMON_AID)
    expect_sw(query(card, 0x9C), retries_sw(spec.remaining))
    expect_sw(verify(card, 0x9C, wrong_values_for(spec.value)[0]), retries_sw(spec.remaining - 1))
    expect_sw(verify(card, 0x9C, spec.value), 0x9000)
    expect_sw(query(card, 0x9C), retries_sw(spec.max_tries))


@pytest.mark.spec("JUKI-010", section="4.2")
@pytest.mark.destructive
def test_juki_pin_lockout_separate_from_common(card: CardChannel, persona: Persona) -> None:
    """The 住基 PIN's lockout is separate from the common AP's"""
    registry = _registry(persona)
    spec = registry.juki_pin
    enter(card, JUKI_AID)
    for left in range(spec.remaining - 1, -1, -1):
        expect_sw(verify(card, 0x9C, wrong_values_for(spec.value)[0]), retries_sw(left))
    expect_sw(verify(card, 0x9C, spec.value), 0x6984)
    expect_sw(query(card, 0x9C), 0x63C0)
    enter(card, COMMON_AID)
    expect_sw(query(card, 0x9C), retries_sw(registry.common_pin.remaining))
    expect_sw(verify(card, 0x9C, registry.common_pin.value), 0x9000)


@pytest.mark.spec("JUKI-011", section="4.4")
def test_change_key_needs_verify_and_no_change_reference_data(
    card: CardChannel, persona: Persona
) -> None:
    """CHANGE KEY needs a VERIFY first; CHANGE REFERENCE DATA is not supported"""
    enter(card, JUKI_AID)
    expect_sw(_change_key(card, 0x9C, b"9876"), 0x6982)
    expect_sw(card.send("002401" + "9C" + "04" + b"9876".hex()), 0x6D00)
    expect_sw(verify(card, 0x9C, _registry(persona).juki_pin.value), 0x9000)


@pytest.mark.spec("JUKI-012", section="4.4")
def test_change_key_changes_that_application_only(card: CardChannel, persona: Persona) -> None:
    """CHANGE KEY changes the key of that application only"""
    registry = _registry(persona)
    old = registry.juki_pin.value
    new = b"9876" if old != b"9876" else b"6789"
    enter(card, JUKI_AID)
    expect_sw(verify(card, 0x9C, old), 0x9000)
    expect_sw(_change_key(card, 0x9C, b"123"), 0x6A80)
    expect_sw(_change_key(card, 0x9C, new), 0x9000)
    enter(card, COMMON_AID)
    expect_sw(verify(card, 0x9C, registry.common_pin.value), 0x9000)  # unchanged there
    enter(card, JUKI_AID)
    expect_sw(verify(card, 0x9C, new), 0x9000)
    expect_sw(_change_key(card, 0x9C, old), 0x9000)
    expect_sw(verify(card, 0x9C, old), 0x9000)


@pytest.mark.spec("JUKI-013", section="5")
def test_internal_authenticate_with_common_key(card: CardChannel, persona: Persona) -> None:
    """INTERNAL AUTHENTICATE with the common AP's key"""
    enter(card, COMMON_AID)
    challenge = bytes(range(32))
    response = card.send("00880099" + "20" + challenge.hex() + "00")
    expect_sw(response, 0x9000)
    public = _registry(persona).internal_auth_key.public_key()
    public.verify(response.data, challenge, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.spec("JUKI-014", section="3.4")
def test_no_signing_command(card: CardChannel) -> None:
    """The 住基 and common APs have no signing command (6D00)"""
    for aid in (COMMON_AID, JUKI_AID):
        enter(card, aid)
        expect_sw(sign(card, 0x00, 0x00, sha256_digest_info(b"x")), 0x6D00, note=aid)


@pytest.mark.spec("JUKI-015", section="11")
def test_set_session_key_refusals(card: CardChannel, persona: Persona) -> None:
    """MSE SET session key: 66F1 in the common AP, 6982 in the 住基 AP after its PIN"""
    enter(card, COMMON_AID)
    expect_sw(card.send("80AE000003010203"), 0x66F1)
    enter(card, JUKI_AID)
    expect_sw(verify(card, 0x9C, _registry(persona).juki_pin.value), 0x9000)
    expect_sw(card.send("80AE000003010203"), 0x6982)


@pytest.mark.spec("JUKI-016", section="4.3")
@pytest.mark.requires("reselect_clears_status")
def test_status_cleared_by_application_select(card: CardChannel, persona: Persona) -> None:
    """Selecting the application again clears its security status"""
    value = _registry(persona).juki_pin.value
    enter(card, JUKI_AID)
    expect_sw(verify(card, 0x9C, value), 0x9000)
    expect_sw(_change_key(card, 0x9C, value), 0x9000)
    enter(card, JUKI_AID)
    expect_sw(_change_key(card, 0x9C, value), 0x6982)


def _juki_pin_open(card: CardChannel, value: bytes) -> bool:
    sw = _change_key(card, 0x9C, value)  # the same value: a no-op when allowed
    expect_sw(sw, 0x9000, 0x6982)
    return sw == 0x9000


@pytest.mark.spec("JUKI-017", section="4.2")
@pytest.mark.destructive
def test_juki_pin_state_machine(card: CardChannel, persona: Persona, target: Target) -> None:
    """The 住基 PIN behaves like its model under random command sequences"""
    spec = _registry(persona).juki_pin
    pin = PinUnderTest(
        JUKI_AID, PIN, spec.value, spec.max_tries, wrong_values_for(spec.value), 0x0002,
        lambda channel: _juki_pin_open(channel, spec.value),
        persona.reselect_clears_status, JPKI_AID,
    )  # fmt: skip
    run_pin_machine(lambda: fresh_channel(target, card), pin)


@pytest.mark.spec("JUKI-018", section="4.2")
@pytest.mark.destructive
def test_common_pin_state_machine(card: CardChannel, persona: Persona, target: Target) -> None:
    """The common AP PIN behaves like its model under random command sequences"""
    spec = _registry(persona).common_pin
    pin = PinUnderTest(
        COMMON_AID, PIN, spec.value, spec.max_tries, wrong_values_for(spec.value), 0x0002,
        lambda channel: _change_key(channel, 0x9C, spec.value) == 0x9000,
        persona.reselect_clears_status, JPKI_AID,
    )  # fmt: skip
    run_pin_machine(lambda: fresh_channel(target, card), pin)
