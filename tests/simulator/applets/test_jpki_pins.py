"""VERIFY / CHANGE REFERENCE DATA on the JPKI PINs (sections 4.1-4.4, 7, 15)."""

from __future__ import annotations

import dataclasses

import pytest
from card_helpers import select_ef, select_jpki, tx, verify

from simulator import VirtualCard
from simulator.personalization.persona import Persona

PINS = {
    "auth": (0x0018, 0x0017, 3, 0x98),
    "sign": (0x001B, 0x001A, 5, 0x9B),
}
DIGEST_INFO = "3031300D060960864801650304020105000420" + "11" * 32
TEXT_AID = "D3921000310001010408"


def _value(persona: Persona, which: str) -> bytes:
    return persona.auth_pin.value if which == "auth" else persona.sign_pin.value


def _wrong(persona: Persona, which: str) -> bytes:
    return b"9999" if which == "auth" else b"WRONG1"


def _query(card: VirtualCard, fid: int) -> int:
    select_ef(card, fid)
    return tx(card, "00200080")[1]


def _sign(card: VirtualCard, key_fid: int) -> int:
    select_ef(card, key_fid)
    return tx(card, f"802A008033{DIGEST_INFO}00")[1]


@pytest.fixture
def jpki(card: VirtualCard) -> VirtualCard:
    select_jpki(card)
    return card


@pytest.mark.parametrize("which", PINS)
def test_status_query_spends_no_try(jpki: VirtualCard, which: str) -> None:
    fid, _, limit, _ = PINS[which]
    for _ in range(limit + 2):
        assert _query(jpki, fid) == 0x63C0 | limit


@pytest.mark.parametrize("which", PINS)
def test_status_query_after_success_still_63cx(
    jpki: VirtualCard, default_persona: Persona, which: str
) -> None:
    """OSC#959: 90 00 then 63 C3 (never 9000 for the query)."""
    fid, _, limit, _ = PINS[which]
    assert verify(jpki, fid, _value(default_persona, which)) == 0x9000
    assert tx(jpki, "00200080")[1] == 0x63C0 | limit
    assert tx(jpki, "0020008000")[1] == 0x63C0 | limit  # some stacks add Le=00


@pytest.mark.parametrize("which", PINS)
def test_lockout_sequence(jpki: VirtualCard, default_persona: Persona, which: str) -> None:
    fid, key, limit, _ = PINS[which]
    wrong = _wrong(default_persona, which)
    for left in range(limit - 1, -1, -1):
        assert verify(jpki, fid, wrong) == 0x63C0 | left
        assert _query(jpki, fid) == 0x63C0 | left
    assert verify(jpki, fid, _value(default_persona, which)) == 0x6984
    assert verify(jpki, fid, wrong) == 0x6984
    assert _query(jpki, fid) == 0x63C0
    assert _sign(jpki, key) == 0x6982
    jpki.power_off()
    jpki.power_on()
    select_jpki(jpki)
    assert _query(jpki, fid) == 0x63C0  # the lockout survives a power cycle


@pytest.mark.parametrize("which", PINS)
def test_correct_value_restores_the_counter(
    jpki: VirtualCard, default_persona: Persona, which: str
) -> None:
    fid, _, limit, _ = PINS[which]
    for _ in range(limit - 1):
        verify(jpki, fid, _wrong(default_persona, which))
    assert _query(jpki, fid) == 0x63C1
    assert verify(jpki, fid, _value(default_persona, which)) == 0x9000
    assert _query(jpki, fid) == 0x63C0 | limit


@pytest.mark.parametrize("which", PINS)
def test_verify_by_sfi(jpki: VirtualCard, default_persona: Persona, which: str) -> None:
    _, key, limit, p2 = PINS[which]
    assert tx(jpki, f"002000{p2:02X}")[1] == 0x63C0 | limit
    value = _value(default_persona, which)
    assert tx(jpki, f"002000{p2:02X}{len(value):02X}{value.hex()}")[1] == 0x9000
    assert _sign(jpki, key) == 0x9000


def test_security_status_is_per_key_reference(jpki: VirtualCard, default_persona: Persona) -> None:
    assert verify(jpki, 0x0018, default_persona.auth_pin.value) == 0x9000
    assert _sign(jpki, 0x0017) == 0x9000
    assert _sign(jpki, 0x001A) == 0x6982


def test_security_status_kept_across_ef_selects(
    jpki: VirtualCard, default_persona: Persona
) -> None:
    verify(jpki, 0x0018, default_persona.auth_pin.value)
    for fid in (0x000A, 0x0006, 0x001B, 0x0002):
        select_ef(jpki, fid)
    assert _sign(jpki, 0x0017) == 0x9000


@pytest.mark.parametrize(
    "clear",
    [
        lambda c: tx(c, "00A4040C0A" + TEXT_AID),  # another application
        lambda c: c.reset(),
        lambda c: (c.power_off(), c.power_on()),
    ],
    ids=["other-application", "reset", "power-cycle"],
)
def test_security_status_cleared(
    jpki: VirtualCard, default_persona: Persona, clear: object
) -> None:
    verify(jpki, 0x0018, default_persona.auth_pin.value)
    verify(jpki, 0x001B, default_persona.sign_pin.value)
    clear(jpki)  # type: ignore[operator]
    select_jpki(jpki)
    assert _sign(jpki, 0x0017) == 0x6982
    assert _sign(jpki, 0x001A) == 0x6982
    select_ef(jpki, 0x0001)
    assert tx(jpki, "00B0000004")[1] == 0x6982


def test_reselect_of_the_same_application_keeps_the_status(
    jpki: VirtualCard, default_persona: Persona
) -> None:
    """Section 4.3 (JICSAP 5.1.3 rule 2): what pyjpki relies on. The EF selection is not kept."""
    verify(jpki, 0x0018, default_persona.auth_pin.value)
    verify(jpki, 0x001B, default_persona.sign_pin.value)
    select_ef(jpki, 0x0001)
    select_jpki(jpki)
    assert tx(jpki, "00B0000004")[1] == 0x6986  # no current EF after the DF SELECT
    assert tx(jpki, "00A40000")[1] == 0x9000  # MF SELECT: current DF and status kept
    select_jpki(jpki)
    assert _sign(jpki, 0x0017) == 0x9000
    assert _sign(jpki, 0x001A) == 0x9000
    select_ef(jpki, 0x0001)
    assert tx(jpki, "00B0000004")[1] == 0x9000


def test_reselect_clears_the_status_when_the_persona_says_so(
    default_persona: Persona,
) -> None:
    persona = dataclasses.replace(default_persona, reselect_clears_status=True)
    card = VirtualCard(persona)
    card.power_on()
    select_jpki(card)
    verify(card, 0x0018, persona.auth_pin.value)
    select_jpki(card)
    assert _sign(card, 0x0017) == 0x6982


def test_isd_select_clears_the_status(jpki: VirtualCard, default_persona: Persona) -> None:
    verify(jpki, 0x0018, default_persona.auth_pin.value)
    assert tx(jpki, "00A4040C07A0000001510000")[1] == 0x9000
    select_jpki(jpki)
    assert _sign(jpki, 0x0017) == 0x6982


def test_failed_verify_clears_an_earlier_success(
    jpki: VirtualCard, default_persona: Persona
) -> None:
    verify(jpki, 0x0018, default_persona.auth_pin.value)
    assert verify(jpki, 0x0018, b"9999") == 0x63C2
    assert _sign(jpki, 0x0017) == 0x6982


@pytest.mark.parametrize(
    "candidate",
    [b"123", b"12345", b"abc123", b"abc", b"\x00\x01\x02\x03", b"1234 "],
    ids=lambda v: f"len{len(v)}",
)
def test_any_other_value_is_a_wrong_try(jpki: VirtualCard, candidate: bytes) -> None:
    """Open question (section 14) decided: wrong length/charset is compared and spends a try."""
    assert verify(jpki, 0x0018, candidate) == 0x63C2


def test_sign_password_is_compared_byte_for_byte(
    jpki: VirtualCard, default_persona: Persona
) -> None:
    lower = default_persona.sign_pin.value.lower()
    assert lower != default_persona.sign_pin.value
    assert verify(jpki, 0x001B, lower) == 0x63C4


def test_verify_data_over_16_bytes_is_6700_without_a_try(jpki: VirtualCard) -> None:
    select_ef(jpki, 0x001B)
    assert tx(jpki, "0020008011" + "41" * 17)[1] == 0x6700
    assert tx(jpki, "00200080")[1] == 0x63C5


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00200180", 0x6A86),  # P1 must be 00
        ("00200000", 0x6A86),  # P2 00
        ("0020009F", 0x6A86),  # SFI 1F
        ("00200083", 0x6A88),  # no key reference with SFI 03
        ("0020008A", 0x6981),  # SFI 0A is a certificate, not a PIN
        ("00200097", 0x6981),  # SFI 17 is a key, not a PIN
    ],
)
def test_verify_reference_errors(jpki: VirtualCard, apdu: str, sw: int) -> None:
    assert tx(jpki, apdu)[1] == sw


def test_verify_on_a_non_pin_current_ef(jpki: VirtualCard) -> None:
    select_ef(jpki, 0x000A)
    assert tx(jpki, "00200080")[1] == 0x6981
    assert tx(jpki, "0020008004" + b"1234".hex())[1] == 0x6981


@pytest.mark.parametrize("which", PINS)
def test_change_reference_data(jpki: VirtualCard, default_persona: Persona, which: str) -> None:
    fid, key, limit, _ = PINS[which]
    new = b"4321" if which == "auth" else b"NEWPASS99"
    select_ef(jpki, fid)
    assert tx(jpki, f"00240180{len(new):02X}{new.hex()}")[1] == 0x6982  # not verified yet
    assert verify(jpki, fid, _value(default_persona, which)) == 0x9000
    assert tx(jpki, f"00240180{len(new):02X}{new.hex()}")[1] == 0x9000
    jpki.reset()
    select_jpki(jpki)
    assert verify(jpki, fid, _value(default_persona, which)) == 0x63C0 | (limit - 1)
    assert verify(jpki, fid, new) == 0x9000
    assert _query(jpki, fid) == 0x63C0 | limit
    assert _sign(jpki, key) == 0x9000


@pytest.mark.parametrize(
    ("which", "bad"),
    [
        ("auth", b"123"),
        ("auth", b"12345"),
        ("auth", b"12a4"),
        ("sign", b"ABC12"),
        ("sign", b"abc123"),
        ("sign", b"ABC-123"),
        ("sign", b"A" * 17),
    ],
)
def test_change_refuses_values_outside_the_format(
    jpki: VirtualCard, default_persona: Persona, which: str, bad: bytes
) -> None:
    fid = PINS[which][0]
    verify(jpki, fid, _value(default_persona, which))
    expected = 0x6700 if len(bad) > 16 else 0x6A80
    assert tx(jpki, f"00240180{len(bad):02X}{bad.hex()}")[1] == expected
    jpki.reset()
    select_jpki(jpki)
    assert verify(jpki, fid, _value(default_persona, which)) == 0x9000  # unchanged


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [("00240080043132333400", 0x6A86), ("00240180", 0x6700), ("0024019B0431323334", 0x9000)],
)
def test_change_reference_data_parameters(
    jpki: VirtualCard, default_persona: Persona, apdu: str, sw: int
) -> None:
    verify(jpki, 0x0018, default_persona.auth_pin.value)
    verify(jpki, 0x001B, default_persona.sign_pin.value)
    select_ef(jpki, 0x0018)
    expected = 0x6A80 if apdu.startswith("0024019B") else sw  # "1234" is no sign password
    assert tx(jpki, apdu)[1] == expected


def test_change_on_a_blocked_pin(jpki: VirtualCard, default_persona: Persona) -> None:
    verify(jpki, 0x0018, default_persona.auth_pin.value)
    for _ in range(3):
        tx(jpki, "0020008004" + b"9999".hex())
    assert tx(jpki, "0024018004" + b"4321".hex())[1] == 0x6982
