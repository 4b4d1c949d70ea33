"""SURF: 券面AP (券面事項確認AP) (reference sections 3.3, 4.1, 10, 11, 15.5; BEHAVIOUR.md).

Birth-date key 0011 opens 0001; 照合番号A 0013 opens 0002, 0005, 0006; 照合番号B 0012
opens 0002, 0006; 0003 and 0004 are free.
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

BIRTH, PIN_B, PIN_A = 0x0011, 0x0012, 0x0013
PROTECTED = (0x0001, 0x0002, 0x0005, 0x0006)


def _surface(persona: Persona) -> Any:
    assert persona.card_info is not None
    return persona.card_info.surface


def _readable(card: CardChannel, fid: int) -> bool:
    sw = card.send(bytes([0x00, 0xB0, 0x80 | fid, 0x00, 0x01])).sw
    expect_sw(sw, 0x9000, 0x6982, note=f"{fid:04X}")
    return sw == 0x9000


def _open_set(card: CardChannel) -> set[int]:
    return {fid for fid in PROTECTED if _readable(card, fid)}


@pytest.mark.spec("SURF-001", section="3.3")
def test_closed_without_credential_and_free_efs(card: CardChannel, persona: Persona) -> None:
    """The card-surface AP's protected EFs are closed without a credential, free EFs open"""
    surface = _surface(persona)
    enter(card, SURFACE_AID)
    assert _open_set(card) == set()
    assert read_ef(card, 0x0003).data == surface.basic_info
    assert read_ef(card, 0x0004).data == surface.cv_certificate


@pytest.mark.spec("SURF-002", section="3.3")
def test_birth_key_opens_age_record_only(card: CardChannel, persona: Persona) -> None:
    """The birth-date key opens the age record only"""
    surface = _surface(persona)
    enter(card, SURFACE_AID)
    expect_sw(verify(card, 0x91, surface.birth_key.value), 0x9000)
    assert _open_set(card) == {0x0001}
    assert read_ef(card, 0x0001).data == surface.age_record


@pytest.mark.spec("SURF-003", section="3.3")
def test_pin_a_opens_face_number_image_and_0006(card: CardChannel, persona: Persona) -> None:
    """照合番号A opens the card face, My Number image and EF 0006"""
    surface = _surface(persona)
    enter(card, SURFACE_AID)
    expect_sw(verify(card, 0x93, surface.pin_a.value), 0x9000)
    assert _open_set(card) == {0x0002, 0x0005, 0x0006}
    assert read_ef(card, 0x0005).data == surface.my_number_image
    assert read_ef(card, 0x0006).data == b"\xff" * 16


@pytest.mark.spec("SURF-004", section="3.3")
def test_pin_b_opens_face_and_0006_not_number(card: CardChannel, persona: Persona) -> None:
    """照合番号B opens the card face and EF 0006, not the My Number image"""
    surface = _surface(persona)
    enter(card, SURFACE_AID)
    expect_sw(verify(card, 0x92, surface.pin_b.value), 0x9000)
    assert _open_set(card) == {0x0002, 0x0006}
    assert read_ef(card, 0x0002).data == surface.card_face


@pytest.mark.spec("SURF-005", section="4.2")
@pytest.mark.destructive
def test_birth_key_wrong_decrements_correct_restores(card: CardChannel, persona: Persona) -> None:
    """A wrong birth-date key spends one try, the correct one restores the limit"""
    spec = _surface(persona).birth_key
    enter(card, SURFACE_AID)
    expect_sw(query(card, 0x91), retries_sw(spec.remaining))
    expect_sw(verify(card, 0x91, wrong_values_for(spec.value)[0]), retries_sw(spec.remaining - 1))
    expect_sw(verify(card, 0x91, spec.value), 0x9000)
    expect_sw(query(card, 0x91), retries_sw(spec.max_tries))


@pytest.mark.spec("SURF-006", section="4.2")
@pytest.mark.destructive
def test_pin_a_lockout(card: CardChannel, persona: Persona) -> None:
    """照合番号A blocks after its limit"""
    spec = _surface(persona).pin_a
    enter(card, SURFACE_AID)
    for left in range(spec.remaining - 1, -1, -1):
        expect_sw(verify(card, 0x93, wrong_values_for(spec.value)[0]), retries_sw(left))
    expect_sw(verify(card, 0x93, spec.value), 0x6984)
    expect_sw(query(card, 0x93), 0x63C0)
    assert 0x0005 not in _open_set(card)
    expect_sw(verify(card, 0x92, _surface(persona).pin_b.value), 0x9000)  # B still works


@pytest.mark.spec("SURF-007", section="4.1")
def test_printed_keys_cannot_be_changed(card: CardChannel, persona: Persona) -> None:
    """The printed keys (照合番号A/B, birth-date key) cannot be changed"""
    surface = _surface(persona)
    enter(card, SURFACE_AID)
    value = surface.pin_b.value
    expect_sw(card.send(bytes([0, 0x24, 1, 0x92, len(value)]) + value), 0x6982)
    expect_sw(verify(card, 0x92, value), 0x9000)
    expect_sw(card.send(bytes([0, 0x24, 1, 0x92, len(value)]) + value), 0x6985)


@pytest.mark.spec("SURF-008", section="10")
def test_own_key_signs_without_credential(card: CardChannel, persona: Persona) -> None:
    """The card-surface AP's own key signs without a credential"""
    enter(card, SURFACE_AID)
    challenge = b"age verification challenge"
    response = sign(card, 0x00, 0x00, sha256_digest_info(challenge))
    expect_sw(response, 0x9000)
    public = _surface(persona).ap_key.public_key()
    public.verify(response.data, challenge, padding.PKCS1v15(), hashes.SHA256())
    assert sign(card, 0x00, 0x9A, sha256_digest_info(challenge)).data == response.data


@pytest.mark.spec("SURF-009", section="11")
def test_set_session_key_is_66f1(card: CardChannel, persona: Persona) -> None:
    """MSE SET session key in the card-surface AP answers 66F1"""
    enter(card, SURFACE_AID)
    expect_sw(card.send("80AE000003010203"), 0x66F1)
    expect_sw(verify(card, 0x93, _surface(persona).pin_a.value), 0x9000)
    expect_sw(card.send("80AE000003010203"), 0x66F1)


@pytest.mark.spec("SURF-010", section="3.3")
def test_unknown_efs_are_not_found(card: CardChannel) -> None:
    """SELECT of an EF the card-surface AP does not have answers 6A82"""
    enter(card, SURFACE_AID)
    for fid in (0x001C, 0x001E, 0x0007):
        expect_sw(select_ef(card, fid), 0x6A82, note=f"{fid:04X}")


@pytest.mark.spec("SURF-011", section="4.3")
@pytest.mark.requires("reselect_clears_status")
def test_status_cleared_by_application_select(card: CardChannel, persona: Persona) -> None:
    """Selecting the card-surface AP again clears its security status"""
    enter(card, SURFACE_AID)
    expect_sw(verify(card, 0x93, _surface(persona).pin_a.value), 0x9000)
    assert _readable(card, 0x0002)
    enter(card, SURFACE_AID)
    assert not _readable(card, 0x0002)


@pytest.mark.spec("SURF-012", section="5")
def test_card_face_in_pages(card: CardChannel, persona: Persona) -> None:
    """The card face image reads in pages and whole alike"""
    face = _surface(persona).card_face
    enter(card, SURFACE_AID)
    expect_sw(verify(card, 0x92, _surface(persona).pin_b.value), 0x9000)
    select_ef(card, 0x0002)
    pages = b""
    for offset in range(0, len(face), 256):
        response = card.send(bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, 0x00]))
        expect_sw(response, 0x9000)
        pages += response.data
    assert pages == face
    expect_sw(card.send(bytes([0x00, 0xB0, len(face) >> 8, len(face) & 0xFF, 0x01])), 0x6B00)


@pytest.mark.spec("SURF-013", section="4.2")
@pytest.mark.destructive
@pytest.mark.parametrize(
    ("fid", "opens"), [(BIRTH, 0x0001), (PIN_B, 0x0002), (PIN_A, 0x0005)], ids=["birth", "B", "A"]
)
def test_surface_key_state_machines(
    card: CardChannel, persona: Persona, target: Target, fid: int, opens: int
) -> None:
    """The card-surface keys behave like their models under random command sequences

    The birth-date key (opens the age record), 照合番号B (card face), A (My Number image).
    """
    surface = _surface(persona)
    spec = {BIRTH: surface.birth_key, PIN_B: surface.pin_b, PIN_A: surface.pin_a}[fid]
    pin = PinUnderTest(
        SURFACE_AID, fid, spec.value, spec.max_tries, wrong_values_for(spec.value), 0x0003,
        lambda channel: _readable(channel, opens),
        persona.reselect_clears_status, JPKI_AID,
    )  # fmt: skip
    run_pin_machine(lambda: fresh_channel(target, card), pin)
