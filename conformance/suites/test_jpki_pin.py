"""JPKI-PIN: VERIFY, security status and CHANGE REFERENCE DATA of the JPKI PINs
(reference sections 4.1-4.4, 7, 15.4, 15.5; BEHAVIOUR.md "PINs").

Authentication PIN: EF 0018 (SFI form P2=98), opens key 0017. Signing password: EF 001B
(P2=9B), opens EF 0001 and key 001A.
"""

# ruff: noqa: S101
from __future__ import annotations

import pytest

from conformance.channel import CardChannel
from conformance.suites.helpers import (
    JPKI_AID,
    TEXT_AID,
    enter,
    query,
    retries_sw,
    select_ef,
    sha256_digest_info,
    sign,
    verify,
    verify_ef,
)
from conformance.suites.pin_machine import (
    PinUnderTest,
    fresh_channel,
    run_pin_machine,
    wrong_values_for,
)
from conformance.sw import expect_not_sw, expect_sw
from conformance.targets import Target
from simulator.personalization.persona import Persona, PinSpec

AUTH, SIGN = 0x0018, 0x001B
DIGEST_INFO = sha256_digest_info(b"conformance")


def _wrong(spec: PinSpec) -> bytes:
    return wrong_values_for(spec.value)[0]


def _auth_key_usable(card: CardChannel) -> bool:
    sw = sign(card, 0x00, 0x97, DIGEST_INFO).sw
    expect_sw(sw, 0x9000, 0x6982)
    return sw == 0x9000


def _sign_cert_readable(card: CardChannel) -> bool:
    sw = card.send("00B0810004").sw
    expect_sw(sw, 0x9000, 0x6982)
    return sw == 0x9000


def _other_aid(persona: Persona) -> str | None:
    """Another application of the card, for the state machines (None: JPKI alone)."""
    return TEXT_AID if persona.card_info is not None else None


def _pin(persona: Persona, fid: int) -> PinSpec:
    return persona.auth_pin if fid == AUTH else persona.sign_pin


# -- status query -------------------------------------------------------------


def _query_spends_nothing(card: CardChannel, spec: PinSpec, fid: int) -> None:
    enter(card, JPKI_AID)
    expect_sw(select_ef(card, fid), 0x9000)
    for _ in range(spec.max_tries + 2):
        expect_sw(query(card, 0x80), retries_sw(spec.remaining))
    expect_sw(query(card, 0x80 | fid), retries_sw(spec.remaining))


@pytest.mark.spec("JPKI-PIN-001", section="4.2")
def test_auth_query_answers_63cx_and_spends_nothing(card: CardChannel, persona: Persona) -> None:
    """The empty VERIFY of the auth PIN answers 63Cx and spends no try"""
    _query_spends_nothing(card, persona.auth_pin, AUTH)


@pytest.mark.spec("JPKI-PIN-002", section="4.2")
def test_sign_query_answers_63cx_and_spends_nothing(card: CardChannel, persona: Persona) -> None:
    """The empty VERIFY of the signing password answers 63Cx and spends no try"""
    _query_spends_nothing(card, persona.sign_pin, SIGN)


def _query_after_success(card: CardChannel, spec: PinSpec, fid: int) -> None:
    enter(card, JPKI_AID)
    expect_sw(verify_ef(card, fid, spec.value), 0x9000)
    expect_sw(query(card, 0x80), retries_sw(spec.max_tries))  # not 9000 (OSC#959)
    expect_sw(query(card, 0x80 | fid), retries_sw(spec.max_tries))


@pytest.mark.spec("JPKI-PIN-003", section="4.2")
def test_auth_query_after_success_still_63cx(card: CardChannel, persona: Persona) -> None:
    """The auth PIN's status query still answers 63Cx (not 9000) after a correct VERIFY"""
    _query_after_success(card, persona.auth_pin, AUTH)


@pytest.mark.spec("JPKI-PIN-004", section="4.2")
def test_sign_query_after_success_still_63cx(card: CardChannel, persona: Persona) -> None:
    """The signing password's status query still answers 63Cx after a correct VERIFY"""
    _query_after_success(card, persona.sign_pin, SIGN)


# -- wrong, exhausting, blocked -------------------------------------------------


def _wrong_then_correct(card: CardChannel, spec: PinSpec, fid: int) -> None:
    enter(card, JPKI_AID)
    expect_sw(verify_ef(card, fid, _wrong(spec)), retries_sw(spec.remaining - 1))
    expect_sw(query(card, 0x80), retries_sw(spec.remaining - 1))
    expect_sw(verify(card, 0x80, spec.value), 0x9000)
    expect_sw(query(card, 0x80), retries_sw(spec.max_tries))  # restored to the limit


@pytest.mark.spec("JPKI-PIN-005", section="4.2")
@pytest.mark.destructive
def test_auth_wrong_pin_decrements_and_correct_restores(
    card: CardChannel, persona: Persona
) -> None:
    """A wrong auth PIN spends one try (63Cx), the correct one restores the limit"""
    _wrong_then_correct(card, persona.auth_pin, AUTH)


@pytest.mark.spec("JPKI-PIN-006", section="4.2")
@pytest.mark.destructive
def test_sign_wrong_password_decrements_and_correct_restores(
    card: CardChannel, persona: Persona
) -> None:
    """A wrong signing password spends one try (63Cx), the correct one restores the limit"""
    _wrong_then_correct(card, persona.sign_pin, SIGN)


def _exhaust(card: CardChannel, spec: PinSpec, fid: int) -> None:
    enter(card, JPKI_AID)
    expect_sw(select_ef(card, fid), 0x9000)
    for left in range(spec.remaining - 1, -1, -1):
        expect_sw(verify(card, 0x80, _wrong(spec)), retries_sw(left))
    expect_sw(query(card, 0x80), 0x63C0)
    expect_sw(verify(card, 0x80, spec.value), 0x6984)  # not 6983
    expect_sw(verify(card, 0x80, _wrong(spec)), 0x6984)
    expect_sw(query(card, 0x80 | fid), 0x63C0)
    card.reset()
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x80 | fid, spec.value), 0x6984)  # blocked for good


@pytest.mark.spec("JPKI-PIN-007", section="4.2")
@pytest.mark.destructive
def test_auth_pin_blocks_after_its_limit(card: CardChannel, persona: Persona) -> None:
    """The auth PIN blocks after its limit: 63C0, then 6984 even for the correct PIN"""
    _exhaust(card, persona.auth_pin, AUTH)
    assert _auth_key_usable(card) is False


@pytest.mark.spec("JPKI-PIN-008", section="4.2")
@pytest.mark.destructive
def test_sign_password_blocks_after_its_limit(card: CardChannel, persona: Persona) -> None:
    """The signing password blocks after its limit: 63C0, then 6984 even when correct"""
    _exhaust(card, persona.sign_pin, SIGN)


# -- P2 forms ----------------------------------------------------------------------


@pytest.mark.spec("JPKI-PIN-009", section="4.2")
def test_auth_verify_by_sfi(card: CardChannel, persona: Persona) -> None:
    """VERIFY of the auth PIN by SFI (P2 98) works without selecting its EF"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)
    assert _auth_key_usable(card)


@pytest.mark.spec("JPKI-PIN-010", section="4.2")
@pytest.mark.requires("sign_certificate")
def test_sign_verify_by_sfi(card: CardChannel, persona: Persona) -> None:
    """VERIFY of the signing password by SFI (P2 9B) works without selecting its EF"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x9B, persona.sign_pin.value), 0x9000)
    assert _sign_cert_readable(card)


# -- lifetime of the security status -------------------------------------------------


@pytest.mark.spec("JPKI-PIN-011", section="4.3")
@pytest.mark.requires("reselect_clears_status")
def test_auth_status_cleared_by_application_select(card: CardChannel, persona: Persona) -> None:
    """Selecting the JPKI application again clears the auth PIN's security status"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)
    assert _auth_key_usable(card)
    enter(card, JPKI_AID)  # the same application: still a logout
    assert not _auth_key_usable(card)


@pytest.mark.spec("JPKI-PIN-012", section="4.3")
@pytest.mark.requires("sign_certificate", "reselect_clears_status")
def test_sign_status_cleared_by_application_select(card: CardChannel, persona: Persona) -> None:
    """Selecting the JPKI application again clears the signing password's status"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x9B, persona.sign_pin.value), 0x9000)
    assert _sign_cert_readable(card)
    enter(card, JPKI_AID)
    assert not _sign_cert_readable(card)


@pytest.mark.spec("JPKI-PIN-013", section="4.3")
@pytest.mark.requires("sign_certificate")
def test_sign_status_cleared_by_reset(card: CardChannel, persona: Persona) -> None:
    """A reset clears the signing password's security status"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x9B, persona.sign_pin.value), 0x9000)
    card.reset()
    expect_not_sw(card.send("00B0810004"), 0x9000)  # MF level: no application, no EF
    enter(card, JPKI_AID)
    assert not _sign_cert_readable(card)


@pytest.mark.spec("JPKI-PIN-014", section="4.3")
def test_auth_status_cleared_by_reset(card: CardChannel, persona: Persona) -> None:
    """A reset clears the auth PIN's security status"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)
    card.reset()
    expect_not_sw(sign(card, 0x00, 0x97, DIGEST_INFO), 0x9000)
    enter(card, JPKI_AID)
    assert not _auth_key_usable(card)


@pytest.mark.spec("JPKI-PIN-015", section="4.3")
@pytest.mark.requires("sign_certificate")
def test_sign_status_kept_across_ef_selects(card: CardChannel, persona: Persona) -> None:
    """The signing password's status survives SELECTs of EFs in the application"""
    enter(card, JPKI_AID)
    expect_sw(verify_ef(card, SIGN, persona.sign_pin.value), 0x9000)
    for fid in (0x0002, 0x0006, 0x000B, 0x0018, 0x0001):
        expect_sw(select_ef(card, fid), 0x9000)
    expect_sw(card.send("00B0000004"), 0x9000)


@pytest.mark.spec("JPKI-PIN-016", section="4.3")
def test_auth_status_kept_across_ef_selects(card: CardChannel, persona: Persona) -> None:
    """The auth PIN's status survives SELECTs of EFs in the application"""
    enter(card, JPKI_AID)
    expect_sw(verify_ef(card, AUTH, persona.auth_pin.value), 0x9000)
    for fid in (0x000B, 0x0006, 0x001B, 0x0017):
        expect_sw(select_ef(card, fid), 0x9000)
    expect_sw(sign(card, 0x00, 0x80, DIGEST_INFO), 0x9000)


@pytest.mark.spec("JPKI-PIN-017", section="4.3")
@pytest.mark.requires("sign_certificate")
def test_auth_pin_does_not_open_sign_certificate(card: CardChannel, persona: Persona) -> None:
    """The auth PIN does not open the signature certificate"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)
    assert not _sign_cert_readable(card)
    expect_sw(sign(card, 0x00, 0x9A, DIGEST_INFO), 0x6982)


@pytest.mark.spec("JPKI-PIN-018", section="4.3")
def test_sign_password_does_not_open_auth_key(card: CardChannel, persona: Persona) -> None:
    """The signing password does not open the auth key"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x9B, persona.sign_pin.value), 0x9000)
    assert not _auth_key_usable(card)


@pytest.mark.spec("JPKI-PIN-019", section="4.1")
@pytest.mark.destructive
def test_lowercase_password_is_a_wrong_try(card: CardChannel, persona: Persona) -> None:
    """The signing password in lower case is a wrong try (no case folding)"""
    spec = persona.sign_pin
    if spec.value.lower() == spec.value:
        pytest.skip("NOT APPLICABLE: the signing password has no letters")
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x9B, spec.value.lower()), retries_sw(spec.remaining - 1))
    expect_sw(verify(card, 0x9B, spec.value), 0x9000)


@pytest.mark.spec("JPKI-PIN-020", section="4.2")
@pytest.mark.destructive
@pytest.mark.requires("sign_certificate")
def test_wrong_password_after_correct_clears_status(card: CardChannel, persona: Persona) -> None:
    """A wrong signing password after a correct one clears the security status"""
    spec = persona.sign_pin
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x9B, spec.value), 0x9000)
    expect_sw(verify(card, 0x9B, _wrong(spec)), retries_sw(spec.max_tries - 1))
    assert not _sign_cert_readable(card)
    expect_sw(verify(card, 0x9B, spec.value), 0x9000)


@pytest.mark.spec("JPKI-PIN-021", section="4.2")
@pytest.mark.destructive
def test_wrong_pin_after_correct_clears_auth_status(card: CardChannel, persona: Persona) -> None:
    """A wrong auth PIN after a correct one clears the security status"""
    spec = persona.auth_pin
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, spec.value), 0x9000)
    expect_sw(verify(card, 0x98, _wrong(spec)), retries_sw(spec.max_tries - 1))
    assert not _auth_key_usable(card)
    expect_sw(verify(card, 0x98, spec.value), 0x9000)


# -- malformed VERIFY ---------------------------------------------------------------


@pytest.mark.spec("JPKI-PIN-022", section="4.1")
def test_verify_longer_than_16_bytes_is_6700_and_free(card: CardChannel, persona: Persona) -> None:
    """A VERIFY value longer than 16 bytes answers 6700 and spends no try"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, b"1" * 17), 0x6700)
    expect_sw(query(card, 0x98), retries_sw(persona.auth_pin.remaining))


@pytest.mark.spec("JPKI-PIN-023", section="7")
def test_verify_with_p1_not_00_is_6a86(card: CardChannel, persona: Persona) -> None:
    """VERIFY with P1 other than 00 answers 6A86"""
    enter(card, JPKI_AID)
    value = persona.auth_pin.value
    expect_sw(card.send(bytes([0x00, 0x20, 0x01, 0x98, len(value)]) + value), 0x6A86)
    expect_sw(query(card, 0x98), retries_sw(persona.auth_pin.remaining))


@pytest.mark.spec("JPKI-PIN-024", section="15.4")
def test_verify_on_a_non_pin_ef_is_6981(card: CardChannel, persona: Persona) -> None:
    """VERIFY on an EF that is not a PIN answers 6981"""
    enter(card, JPKI_AID)
    expect_sw(select_ef(card, 0x000B), 0x9000)
    expect_sw(verify(card, 0x80, persona.auth_pin.value), 0x6981)
    expect_sw(verify(card, 0x97, persona.auth_pin.value), 0x6981)  # a key, not a PIN


@pytest.mark.spec("JPKI-PIN-025", section="15.4")
def test_verify_with_unknown_sfi_is_6a88(card: CardChannel, persona: Persona) -> None:
    """VERIFY with an SFI that names no PIN answers 6A88"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x85, persona.auth_pin.value), 0x6A88)


@pytest.mark.spec("JPKI-PIN-026", section="4.2")
def test_verify_with_le_only_is_the_status_query(card: CardChannel, persona: Persona) -> None:
    """VERIFY with only an Le byte is the status query (63Cx, no try spent)"""
    enter(card, JPKI_AID)
    select_ef(card, AUTH)
    expect_sw(card.send("0020008000"), retries_sw(persona.auth_pin.remaining))


@pytest.mark.spec("JPKI-PIN-027", section="4.2")
@pytest.mark.destructive
def test_wrong_length_value_is_a_wrong_try(card: CardChannel, persona: Persona) -> None:
    """A value of the wrong length is a wrong try (63Cx), not a format error"""
    spec = persona.auth_pin
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, spec.value[:2]), retries_sw(spec.remaining - 1))
    expect_sw(verify(card, 0x98, spec.value), 0x9000)


@pytest.mark.spec("JPKI-PIN-028", section="7")
def test_verify_without_current_ef_is_6986(card: CardChannel, persona: Persona) -> None:
    """VERIFY P2 80 without a current EF answers 6986"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x80, persona.auth_pin.value), 0x6986)
    expect_sw(query(card, 0x80), 0x6986)


# -- CHANGE REFERENCE DATA -------------------------------------------------------------


def _change(card: CardChannel, p2: int, value: bytes, p1: int = 0x01) -> int:
    return card.send(bytes([0x00, 0x24, p1, p2, len(value)]) + value).sw


@pytest.mark.spec("JPKI-PIN-029", section="4.4")
def test_change_without_verify_is_6982(card: CardChannel, persona: Persona) -> None:
    """CHANGE REFERENCE DATA without a VERIFY first answers 6982"""
    enter(card, JPKI_AID)
    expect_sw(_change(card, 0x98, b"9876"), 0x6982)
    expect_sw(_change(card, 0x9B, b"NEWPASS1"), 0x6982)
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)  # unchanged


@pytest.mark.spec("JPKI-PIN-030", section="4.4")
@pytest.mark.destructive
def test_change_auth_pin_after_verify(card: CardChannel, persona: Persona) -> None:
    """The auth PIN can be changed after a VERIFY, and changed back"""
    spec = persona.auth_pin
    new = b"9876" if spec.value != b"9876" else b"6789"
    enter(card, JPKI_AID)
    expect_sw(verify_ef(card, AUTH, spec.value), 0x9000)
    expect_sw(_change(card, 0x80, new), 0x9000)
    expect_sw(query(card, 0x80), retries_sw(spec.max_tries))
    expect_sw(verify(card, 0x80, spec.value), retries_sw(spec.max_tries - 1))  # the old one
    expect_sw(verify(card, 0x80, new), 0x9000)
    expect_sw(_change(card, 0x80, spec.value), 0x9000)  # back
    expect_sw(verify(card, 0x80, spec.value), 0x9000)


@pytest.mark.spec("JPKI-PIN-031", section="4.4")
def test_change_to_a_malformed_value_is_6a80(card: CardChannel, persona: Persona) -> None:
    """Changing a PIN or password to a malformed value answers 6A80"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x9B, persona.sign_pin.value), 0x9000)
    expect_sw(_change(card, 0x9B, b"abcdef"), 0x6A80)  # lower case
    expect_sw(_change(card, 0x9B, b"ABC12"), 0x6A80)  # too short
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)
    expect_sw(_change(card, 0x98, b"12345"), 0x6A80)
    expect_sw(_change(card, 0x98, b"12A4"), 0x6A80)
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x9B, persona.sign_pin.value), 0x9000)  # nothing changed
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)


@pytest.mark.spec("JPKI-PIN-032", section="4.4")
def test_change_with_p1_not_01_is_6a86(card: CardChannel, persona: Persona) -> None:
    """CHANGE REFERENCE DATA with P1 other than 01 answers 6A86"""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)
    expect_sw(_change(card, 0x98, b"9876", p1=0x00), 0x6A86)


@pytest.mark.spec("JPKI-PIN-033", section="4.4")
@pytest.mark.requires("sign_certificate")
def test_session_stays_verified_after_change(card: CardChannel, persona: Persona) -> None:
    """The session stays verified after a PIN change"""
    spec = persona.sign_pin
    new = b"NEWPASS1" if spec.value != b"NEWPASS1" else b"NEWPASS2"
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x9B, spec.value), 0x9000)
    expect_sw(_change(card, 0x9B, new), 0x9000)
    assert _sign_cert_readable(card)
    expect_sw(_change(card, 0x9B, spec.value), 0x9000)


# -- state machines ------------------------------------------------------------------


@pytest.mark.spec("JPKI-PIN-034", section="4.2")
@pytest.mark.destructive
def test_auth_pin_state_machine(card: CardChannel, persona: Persona, target: Target) -> None:
    """The auth PIN behaves like its model under random VERIFY/SELECT/reset sequences"""
    spec = persona.auth_pin
    pin = PinUnderTest(
        JPKI_AID, AUTH, spec.value, spec.max_tries, wrong_values_for(spec.value), 0x000B,
        _auth_key_usable, persona.reselect_clears_status, _other_aid(persona),
    )  # fmt: skip
    run_pin_machine(lambda: fresh_channel(target, card), pin)


@pytest.mark.spec("JPKI-PIN-035", section="4.2")
@pytest.mark.destructive
def test_sign_pin_state_machine(card: CardChannel, persona: Persona, target: Target) -> None:
    """The signing password behaves like its model under random command sequences"""
    spec = persona.sign_pin
    probe = _sign_cert_readable if persona.sign.certificate is not None else None
    pin = PinUnderTest(
        JPKI_AID, SIGN, spec.value, spec.max_tries, wrong_values_for(spec.value), 0x0002, probe,
        persona.reselect_clears_status, _other_aid(persona),
    )  # fmt: skip
    run_pin_machine(lambda: fresh_channel(target, card), pin)


# -- re-SELECT of the same application, SELECT of another (section 4.3, 16) -----------------


@pytest.mark.spec("JPKI-PIN-036", section="4.3")
@pytest.mark.requires("reselect_keeps_status")
def test_auth_status_kept_by_reselect(card: CardChannel, persona: Persona) -> None:
    """Re-selecting the JPKI AP keeps the verified authentication PIN (JICSAP 5.1.3 rule 2;
    pyjpki re-selects after VERIFY, then signs)."""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)
    enter(card, JPKI_AID)
    assert _auth_key_usable(card)


@pytest.mark.spec("JPKI-PIN-037", section="4.3")
@pytest.mark.requires("sign_certificate", "reselect_keeps_status")
def test_sign_status_kept_by_reselect(card: CardChannel, persona: Persona) -> None:
    """Re-selecting the JPKI AP keeps the verified signing password: the signature
    certificate stays readable and the signature key usable (JICSAP 5.1.3 rule 2)."""
    enter(card, JPKI_AID)
    expect_sw(verify_ef(card, SIGN, persona.sign_pin.value), 0x9000)
    enter(card, JPKI_AID)
    assert _sign_cert_readable(card)
    expect_sw(sign(card, 0x00, 0x9A, DIGEST_INFO), 0x9000)


@pytest.mark.spec("JPKI-PIN-038", section="4.3")
@pytest.mark.requires("card_info")
def test_status_cleared_by_another_application(card: CardChannel, persona: Persona) -> None:
    """Selecting another application clears the JPKI AP's verified PINs (JICSAP 5.1.3
    rule 3)."""
    enter(card, JPKI_AID)
    expect_sw(verify(card, 0x98, persona.auth_pin.value), 0x9000)
    expect_sw(verify(card, 0x9B, persona.sign_pin.value), 0x9000)
    enter(card, TEXT_AID)
    enter(card, JPKI_AID)
    assert not _auth_key_usable(card)
    if persona.sign.certificate is not None:
        assert not _sign_cert_readable(card)
