"""JPKI-READ: READ BINARY in the JPKI application (reference sections 3, 3.1, 5, 7, 15.3)."""

# ruff: noqa: S101
from __future__ import annotations

import pytest

from conformance.channel import CardChannel
from conformance.suites.helpers import (
    JPKI_AID,
    der_length,
    enter,
    read_current,
    read_ef,
    select_ef,
    verify_ef,
)
from conformance.sw import expect_sw
from simulator.personalization.persona import Persona

CERT_EF_SIZE = 2048  # BEHAVIOUR.md: allocated size of a certificate EF


def _check_certificate_ef(content: bytes, expected: bytes) -> None:
    length = der_length(content)
    assert content[:length] == expected
    assert len(content) >= CERT_EF_SIZE
    assert len(content) % 256 == 0
    assert set(content[length:]) == {0xFF}, "filler after the DER must be FF"


@pytest.mark.spec("JPKI-READ-001", section="3.1")
@pytest.mark.requires("plastic_card")
def test_auth_certificate_is_free_and_matches(card: CardChannel, persona: Persona) -> None:
    """The auth certificate reads without a PIN and matches the persona's"""
    enter(card, JPKI_AID)
    response = read_ef(card, 0x000A)
    expect_sw(response, 0x9000)
    assert persona.auth.certificate is not None
    _check_certificate_ef(response.data, persona.auth.certificate)


@pytest.mark.spec("JPKI-READ-002", section="3")
def test_certificate_filler_is_ff(card: CardChannel, persona: Persona) -> None:
    """A certificate EF is filled with FF after the certificate"""
    enter(card, JPKI_AID)
    _check_certificate_ef(read_ef(card, 0x000B).data, persona.auth.ca_certificate)


@pytest.mark.spec("JPKI-READ-003", section="3.1")
def test_sign_ca_certificate_is_free(card: CardChannel, persona: Persona) -> None:
    """The signing CA certificate reads without a PIN"""
    enter(card, JPKI_AID)
    response = read_ef(card, 0x0002)
    expect_sw(response, 0x9000)
    _check_certificate_ef(response.data, persona.sign.ca_certificate)


@pytest.mark.spec("JPKI-READ-004", section="3.1")
def test_auth_ca_certificate_is_free(card: CardChannel, persona: Persona) -> None:
    """The auth CA certificate reads without a PIN"""
    enter(card, JPKI_AID)
    response = read_ef(card, 0x000B)
    expect_sw(response, 0x9000)
    assert response.data[: der_length(response.data)] == persona.auth.ca_certificate


@pytest.mark.spec("JPKI-READ-005", section="3.1")
@pytest.mark.requires("sign_certificate")
def test_sign_certificate_needs_the_password(card: CardChannel) -> None:
    """Reading the signature certificate without the password answers 6982"""
    enter(card, JPKI_AID)
    expect_sw(select_ef(card, 0x0001), 0x9000)
    expect_sw(read_current(card), 0x6982)
    expect_sw(card.send("00B0000004"), 0x6982)
    expect_sw(card.send("00B0810000"), 0x6982)  # SFI form too


@pytest.mark.spec("JPKI-READ-006", section="3.1")
@pytest.mark.requires("sign_certificate")
def test_sign_certificate_after_password(card: CardChannel, persona: Persona) -> None:
    """The signature certificate reads after the signing password"""
    enter(card, JPKI_AID)
    expect_sw(verify_ef(card, 0x001B, persona.sign_pin.value), 0x9000)
    response = read_ef(card, 0x0001)
    expect_sw(response, 0x9000)
    assert persona.sign.certificate is not None
    _check_certificate_ef(response.data, persona.sign.certificate)


@pytest.mark.spec("JPKI-READ-007", section="3.1")
@pytest.mark.requires("no_sign_certificate")
def test_no_sign_certificate_ef_on_under15_card(card: CardChannel, persona: Persona) -> None:
    """A card of a holder under 15 has no signature certificate EF (6A82)"""
    enter(card, JPKI_AID)
    expect_sw(select_ef(card, 0x0001), 0x6A82)
    expect_sw(select_ef(card, 0x001A), 0x6A82)
    expect_sw(verify_ef(card, 0x001B, persona.sign_pin.value), 0x9000)  # the EF 001B is kept
    expect_sw(card.send("00B0810000"), 0x6A82)


@pytest.mark.spec("JPKI-READ-008", section="5")
def test_offset_addressing_pages_equal_the_whole_file(card: CardChannel) -> None:
    """Reading an EF in pages by offset gives the same bytes as reading it whole"""
    enter(card, JPKI_AID)
    whole = read_ef(card, 0x0002).data
    pages = b""
    for offset in range(0, len(whole), 256):
        response = card.send(bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, 0x00]))
        expect_sw(response, 0x9000)
        assert len(response.data) == min(256, len(whole) - offset)
        pages += response.data
    assert pages == whole
    end = len(whole)
    expect_sw(card.send(bytes([0x00, 0xB0, end >> 8, end & 0xFF, 0x00])), 0x6B00)


@pytest.mark.spec("JPKI-READ-009", section="5")
def test_sfi_addressing_reads_without_select(card: CardChannel) -> None:
    """READ BINARY by SFI reads an EF without selecting it"""
    enter(card, JPKI_AID)
    via_sfi = card.send("00B0860000")
    expect_sw(via_sfi, 0x9000)
    assert read_ef(card, 0x0006).data == via_sfi.data
    partial = card.send("00B0861004")
    assert partial.data == via_sfi.data[0x10:0x14]


@pytest.mark.spec("JPKI-READ-010", section="5")
def test_sfi_read_makes_the_ef_current(card: CardChannel) -> None:
    """READ BINARY by SFI makes that EF the current one"""
    enter(card, JPKI_AID)
    expect_sw(card.send("00B0880000"), 0x9000)  # EF 0008
    response = card.send("00B0000000")
    expect_sw(response, 0x9000)
    assert len(response.data) == 3


@pytest.mark.spec("JPKI-READ-011", section="5")
def test_extended_le_reads_the_whole_file(card: CardChannel, persona: Persona) -> None:
    """An extended Le reads a whole certificate EF in one command"""
    enter(card, JPKI_AID)
    select_ef(card, 0x000B)
    whole = card.send("00B00000000000")
    expect_sw(whole, 0x9000)
    assert len(whole.data) >= CERT_EF_SIZE
    exact = card.send("00B0000000" + f"{len(persona.auth.ca_certificate):04X}")
    assert exact.data == persona.auth.ca_certificate
    sfi = card.send("00B08B00000000")
    assert sfi.data == whole.data


@pytest.mark.spec("JPKI-READ-012", section="16")
def test_short_read_at_end_of_file(card: CardChannel) -> None:
    """A read past the end of the file answers the bytes there are (short read)"""
    enter(card, JPKI_AID)
    select_ef(card, 0x0006)
    response = card.send("00B0009020")
    expect_sw(response, 0x9000)
    assert len(response.data) == 160 - 0x90


@pytest.mark.spec("JPKI-READ-013", section="5")
def test_offset_at_or_past_the_end_is_6b00(card: CardChannel) -> None:
    """An offset at or past the end of the file answers 6B00"""
    enter(card, JPKI_AID)
    select_ef(card, 0x0006)
    expect_sw(card.send("00B000A001"), 0x6B00)  # offset 160 = size
    expect_sw(card.send("00B0010000"), 0x6B00)
    expect_sw(card.send("00B07FFF01"), 0x6B00)
    expect_sw(card.send("00B086A001"), 0x6B00)


@pytest.mark.spec("JPKI-READ-014", section="3")
def test_read_binary_on_internal_efs_is_6981(card: CardChannel) -> None:
    """READ BINARY on a PIN or key EF answers 6981"""
    enter(card, JPKI_AID)
    for fid in (0x0018, 0x001B, 0x0017):
        expect_sw(select_ef(card, fid), 0x9000)
        expect_sw(card.send("00B0000001"), 0x6981, note=f"{fid:04X}")
    expect_sw(card.send("00B0980001"), 0x6981)


@pytest.mark.spec("JPKI-READ-015", section="7")
def test_read_binary_without_current_ef_is_6986(card: CardChannel) -> None:
    """READ BINARY without a current EF answers 6986"""
    enter(card, JPKI_AID)
    expect_sw(card.send("00B0000001"), 0x6986)


@pytest.mark.spec("JPKI-READ-016", section="3.1")
def test_ef_0009_is_never_readable(card: CardChannel, persona: Persona) -> None:
    """EF 0009 is never readable, with or without a PIN"""
    enter(card, JPKI_AID)
    expect_sw(verify_ef(card, 0x0018, persona.auth_pin.value), 0x9000)
    expect_sw(select_ef(card, 0x0009), 0x9000)
    expect_sw(card.send("00B0000000"), 0x6982)


@pytest.mark.spec("JPKI-READ-017", section="15.3")
def test_read_binary_without_le_is_6700(card: CardChannel) -> None:
    """READ BINARY without Le answers 6700"""
    enter(card, JPKI_AID)
    select_ef(card, 0x0006)
    expect_sw(card.send("00B00000"), 0x6700)


@pytest.mark.spec("JPKI-READ-018", section="5")
def test_le_00_means_256(card: CardChannel) -> None:
    """Le 00 reads 256 bytes"""
    enter(card, JPKI_AID)
    select_ef(card, 0x000B)
    response = card.send("00B0000000")
    expect_sw(response, 0x9000)
    assert len(response.data) == 256


@pytest.mark.spec("JPKI-READ-019", section="12")
@pytest.mark.requires("phone_token")
def test_phone_token_auth_certificate_needs_the_pin(card: CardChannel, persona: Persona) -> None:
    """On a phone token the auth certificate needs the auth PIN"""
    enter(card, JPKI_AID)
    expect_sw(select_ef(card, 0x000A), 0x9000)
    expect_sw(read_current(card), 0x6982)
    expect_sw(verify_ef(card, 0x0018, persona.auth_pin.value), 0x9000)
    response = read_ef(card, 0x000A)
    expect_sw(response, 0x9000)
    assert persona.auth.certificate is not None
    _check_certificate_ef(response.data, persona.auth.certificate)


@pytest.mark.spec("JPKI-READ-020", section="15.3")
def test_sfi_form_errors(card: CardChannel) -> None:
    """READ BINARY by SFI: P1 bits 6-7 set answers 6A86, an unknown SFI 6A82"""
    enter(card, JPKI_AID)
    expect_sw(card.send("00B0A60001"), 0x6A86)  # P1 bits 6-7 set
    expect_sw(card.send("00B0850001"), 0x6A82)  # no EF with SFI 5


@pytest.mark.spec("JPKI-READ-021", section="3.1")
@pytest.mark.requires("sign_certificate")
def test_ef_0008_flags_both_certificates(card: CardChannel) -> None:
    """EF 0008 (token info) flags both certificates on an adult's card"""
    enter(card, JPKI_AID)
    assert read_ef(card, 0x0008).data == bytes.fromhex("8F8F00")


@pytest.mark.spec("JPKI-READ-022", section="3.1")
@pytest.mark.requires("no_sign_certificate")
def test_ef_0008_flags_no_sign_certificate(card: CardChannel) -> None:
    """EF 0008 (token info) flags no signature certificate on an under-15 card"""
    enter(card, JPKI_AID)
    assert read_ef(card, 0x0008).data == bytes.fromhex("008F00")


@pytest.mark.spec("JPKI-READ-023", section="4.3")
@pytest.mark.requires("sign_certificate", "reselect_clears_status")
def test_sign_certificate_closed_again_after_reselect(card: CardChannel, persona: Persona) -> None:
    """The signature certificate is closed again after the application is re-selected"""
    enter(card, JPKI_AID)
    expect_sw(verify_ef(card, 0x001B, persona.sign_pin.value), 0x9000)
    expect_sw(card.send("00B0810004"), 0x9000)
    enter(card, JPKI_AID)
    expect_sw(card.send("00B0810004"), 0x6982)
