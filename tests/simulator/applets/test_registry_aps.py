"""The common AP (…01 01 00) and the 住基AP (…01 04 01): record EFs, READ RECORD, their PINs,
CHANGE KEY, INTERNAL AUTHENTICATE (also against the other applications' keys) and
SET SESSION KEY (jpki-card-reference.md sections 3.4, 4.4, 5, 7, 11)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from card_helpers import JPKI_AID, select_ef, select_jpki, tx, verify
from card_info_data import (
    COMMON_AID,
    COMMON_PIN,
    COMMON_RECORD,
    JUKI_AID,
    JUKI_PIN,
    KEY_REFERENCE,
    SURFACE_AID,
    TEXT_AID,
    TEXT_PIN,
    WRONG,
    keys,
    powered,
    query,
    select,
    with_card_info,
    without_card_info,
)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import VirtualCard
from simulator.personalization.persona import Persona

PIN = 0x001C
APS = {"common": (COMMON_AID, COMMON_PIN), "juki": (JUKI_AID, JUKI_PIN)}
CARD_INFO_AIDS = [TEXT_AID, SURFACE_AID, COMMON_AID, JUKI_AID]


@pytest.fixture(scope="module")
def persona(default_persona: Persona) -> Persona:
    return with_card_info(default_persona)


@pytest.fixture
def common(persona: Persona) -> Iterator[VirtualCard]:
    card = powered(persona)
    select(card, COMMON_AID)
    yield card
    card.power_off()


def _rr(record: int, sfi: int = 0, le: str = "00") -> str:
    return f"00B2{record:02X}{(sfi << 3) | 4:02X}{le}"


def _check_sha256_rsa(signature: bytes, challenge: bytes) -> None:
    public = keys().internal_auth.public_key()
    public.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())


# -- which applications exist ---------------------------------------------------------------


def test_without_card_info_only_jpki(default_persona: Persona) -> None:
    card = powered(without_card_info(default_persona))
    assert list(card.applets) == [JPKI_AID]
    for aid in CARD_INFO_AIDS:
        assert tx(card, f"00A4040C0A{aid.hex()}")[1] == 0x6A82
    assert not any(key.split("/")[0] != "jpki" for key in card.pins())


def test_with_card_info_five_applications(persona: Persona) -> None:
    card = powered(persona)
    assert sorted(card.applets) == sorted([JPKI_AID, *CARD_INFO_AIDS])
    for aid in CARD_INFO_AIDS:
        select(card, aid)
    assert sorted(card.pins()) == [
        "common/001C",
        "jpki/0018",
        "jpki/001B",
        "juki/001C",
        "surface/0011",
        "surface/0012",
        "surface/0013",
        "text/0011",
        "text/0014",
        "text/0015",
    ]


# -- READ RECORD ----------------------------------------------------------------------------


def test_card_record_by_current_ef_and_by_sfi(common: VirtualCard) -> None:
    assert tx(common, _rr(1, sfi=1)) == (COMMON_RECORD, 0x9000)  # MYNA-rs: 00 B2 01 0C 00
    assert tx(common, "00B2010C00") == (COMMON_RECORD, 0x9000)
    assert tx(common, _rr(1)) == (COMMON_RECORD, 0x9000)  # the SFI read made 0001 current
    select(common, COMMON_AID)
    assert tx(common, _rr(1))[1] == 0x6986  # no current EF
    assert select_ef(common, 0x0001) == 0x9000
    assert tx(common, _rr(1)) == (COMMON_RECORD, 0x9000)
    assert tx(common, _rr(1, le="1E")) == (COMMON_RECORD, 0x9000)  # exact Le
    assert tx(common, _rr(1, le="1D"))[1] == 0x6700  # whole records only
    assert tx(common, "00B2010C000000") == (COMMON_RECORD, 0x9000)  # extended Le
    assert tx(common, "00B2010C")[1] == 0x6700  # no Le


@pytest.mark.parametrize("name", APS)
def test_key_reference_record(persona: Persona, name: str) -> None:
    card = powered(persona)
    select(card, APS[name][0])
    assert tx(card, _rr(1, sfi=2)) == (KEY_REFERENCE, 0x9000)
    assert len(KEY_REFERENCE) == 16
    assert tx(card, _rr(2, sfi=2))[1] == 0x6A83


def test_juki_has_no_ef_0001(persona: Persona) -> None:
    card = powered(persona)
    select(card, JUKI_AID)
    assert select_ef(card, 0x0001) == 0x6A82
    assert tx(card, _rr(1, sfi=1))[1] == 0x6A82
    assert select_ef(card, 0x0019) == 0x6A82  # nor the internal-authentication key


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=2, max_value=0xFE), st.sampled_from([0, 1]))
def test_missing_records(persona: Persona, record: int, by_sfi: int) -> None:
    card = powered(persona)
    select(card, COMMON_AID)
    select_ef(card, 0x0001)
    assert tx(card, _rr(record, sfi=by_sfi))[1] == 0x6A83


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=30).filter(lambda s: s not in (0x01, 0x02, 0x19, 0x1C)))
def test_unknown_sfi(persona: Persona, sfi: int) -> None:
    card = powered(persona)
    select(card, COMMON_AID)
    assert tx(card, _rr(1, sfi=sfi))[1] == 0x6A82


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00B2000C00", 0x6A86),  # record 0: there is no record pointer
        ("00B2FF0C00", 0x6A86),
        ("00B201FC00", 0x6A86),  # SFI 31
        ("00B2010D00", 0x6A81),  # records from P1 to the last: not supported
        ("00B2010800", 0x6A86),  # other P2 modes
        ("00B2010E00", 0x6A86),
        ("00B2010F00", 0x6A86),
        ("80B2010C00", 0x6E00),
        ("00B201E400", 0x6981),  # SFI 1C: the PIN EF
        ("00B201CC00", 0x6981),  # SFI 19: the key EF
    ],
)
def test_read_record_errors(common: VirtualCard, apdu: str, sw: int) -> None:
    assert tx(common, apdu)[1] == sw


def test_read_binary_on_a_record_ef(common: VirtualCard) -> None:
    assert tx(common, "00B0810000")[1] == 0x6981
    select_ef(common, 0x0002)
    assert tx(common, "00B0000000")[1] == 0x6981
    assert tx(common, "00B00000000000")[1] == 0x6981


def test_read_record_on_a_transparent_ef(persona: Persona) -> None:
    card = powered(persona)
    select(card, TEXT_AID)
    assert tx(card, _rr(1, sfi=4))[1] == 0x6981
    select_jpki(card)
    select_ef(card, 0x000A)
    assert tx(card, _rr(1))[1] == 0x6981


def test_read_record_at_mf_level(persona: Persona) -> None:
    card = powered(persona)
    assert tx(card, _rr(1))[1] == 0x6986
    assert tx(card, _rr(1, sfi=1))[1] == 0x6A82


# -- PIN 001C, CHANGE KEY --------------------------------------------------------------------


@pytest.mark.parametrize("name", APS)
def test_pin_lockout_and_separate_counters(persona: Persona, name: str) -> None:
    aid, value = APS[name]
    other_aid, other_value = APS["juki" if name == "common" else "common"]
    card = powered(persona)
    select(card, aid)
    assert query(card, PIN) == 0x63C3
    assert verify(card, PIN, value) == 0x9000
    assert tx(card, "00200080")[1] == 0x63C3  # still 63Cx after success
    assert verify(card, PIN, WRONG[f"{name}/001C"]) == 0x63C2
    assert verify(card, PIN, WRONG[f"{name}/001C"]) == 0x63C1
    assert verify(card, PIN, WRONG[f"{name}/001C"]) == 0x63C0
    assert verify(card, PIN, value) == 0x6984
    assert query(card, PIN) == 0x63C0
    assert tx(card, "0020009C")[1] == 0x63C0  # by SFI
    select(card, other_aid)
    assert query(card, PIN) == 0x63C3
    assert verify(card, PIN, other_value) == 0x9000


@pytest.mark.parametrize("name", APS)
def test_change_key(persona: Persona, name: str) -> None:
    aid, value = APS[name]
    card = powered(persona)
    select(card, aid)
    select_ef(card, PIN)
    assert tx(card, "8032008004" + b"4321".hex())[1] == 0x6982  # no VERIFY yet
    assert verify(card, PIN, value) == 0x9000
    assert tx(card, "8032018004" + b"4321".hex())[1] == 0x6A86
    assert tx(card, "8032008005" + b"43210".hex())[1] == 0x6A80
    assert tx(card, "80320080")[1] == 0x6700
    assert tx(card, "0024018004" + b"4321".hex())[1] == 0x6D00  # not CHANGE REFERENCE DATA
    assert tx(card, "803200 9C 04".replace(" ", "") + b"4321".hex())[1] == 0x9000
    card.reset()
    select(card, aid)
    assert verify(card, PIN, value) == 0x63C2
    assert verify(card, PIN, b"4321") == 0x9000
    other_aid, other_value = APS["juki" if name == "common" else "common"]
    select(card, other_aid)
    assert verify(card, PIN, other_value) == 0x9000  # the other AP's PIN is unchanged


def test_pin_opens_nothing_across_another_application(common: VirtualCard) -> None:
    assert verify(common, PIN, COMMON_PIN) == 0x9000
    select(common, APS["juki"][0])
    select(common, COMMON_AID)
    assert tx(common, "8032009C04" + b"4321".hex())[1] == 0x6982


def test_pin_kept_across_a_reselect(common: VirtualCard) -> None:
    assert verify(common, PIN, COMMON_PIN) == 0x9000
    select_ef(common, PIN)
    select(common, COMMON_AID)
    assert tx(common, "8032009C04" + COMMON_PIN.hex())[1] == 0x9000


# -- INTERNAL AUTHENTICATE -------------------------------------------------------------------


def test_internal_authenticate_by_sfi_and_current_ef(common: VirtualCard) -> None:
    challenge = bytes(range(16))
    signature, sw = tx(common, f"00880099 10{challenge.hex()}00".replace(" ", ""))
    assert sw == 0x9000 and len(signature) == 256
    _check_sha256_rsa(signature, challenge)
    select_ef(common, 0x0019)
    assert tx(common, f"0088008010{challenge.hex()}00") == (signature, 0x9000)  # deterministic
    assert tx(common, f"0088008010{challenge.hex()}") == (signature, 0x9000)  # Le not required


@settings(max_examples=15, deadline=None)
@given(st.binary(min_size=1, max_size=255))
def test_internal_authenticate_any_challenge(persona: Persona, challenge: bytes) -> None:
    card = powered(persona)
    select(card, COMMON_AID)
    signature, sw = tx(card, f"00880099{len(challenge):02X}{challenge.hex()}00")
    assert sw == 0x9000
    _check_sha256_rsa(signature, challenge)


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("0088009900", 0x6700),  # no challenge
        ("008800990001" + "00" * 256, 0x6700),  # 256 bytes (extended Lc)
        ("008801990411223344", 0x6A86),  # P1
        ("008800010411223344", 0x6A86),  # P2 not 80|SFI
        ("008800800411223344", 0x6986),  # no current EF
        ("0088009E0411223344", 0x6A88),  # no such SFI
        ("0088009C0411223344", 0x6981),  # the PIN EF
        ("008800810411223344", 0x6981),  # the record EF
        ("808800990411223344", 0x6E00),
    ],
)
def test_internal_authenticate_errors(common: VirtualCard, apdu: str, sw: int) -> None:
    assert tx(common, apdu)[1] == sw


def test_internal_authenticate_other_keys(persona: Persona) -> None:
    """Section 5: JPKI keys 6982 without their PIN, 券面 keys 6985; JPKI with the PIN: 6985."""
    card = powered(persona)
    challenge = "0411223344"
    select_jpki(card)
    assert tx(card, f"00880097{challenge}00")[1] == 0x6982
    assert tx(card, f"0088009A{challenge}00")[1] == 0x6982
    assert verify(card, 0x0018, persona.auth_pin.value) == 0x9000
    assert tx(card, f"00880097{challenge}00")[1] == 0x6985
    assert tx(card, "8032009804" + b"4321".hex())[1] == 0x6D00  # no CHANGE KEY in JPKI
    select(card, TEXT_AID)
    assert tx(card, f"00880093{challenge}00")[1] == 0x6985
    select(card, SURFACE_AID)
    assert tx(card, f"0088009A{challenge}00")[1] == 0x6985
    select(card, JUKI_AID)
    assert tx(card, f"00880099{challenge}00")[1] == 0x6A88
    card.reset()
    assert tx(card, f"00880080{challenge}00")[1] == 0x6986  # MF level


# -- SET SESSION KEY and other instructions -------------------------------------------------


def test_set_session_key_per_application(persona: Persona) -> None:
    """Section 11: 66F1 (common, surface), 6982 (JPKI, 住基; with the PIN too)."""
    card = powered(persona)
    apdu = "80AE0000000100" + "77" * 256
    select(card, COMMON_AID)
    assert tx(card, apdu)[1] == 0x66F1
    assert verify(card, PIN, COMMON_PIN) == 0x9000
    assert tx(card, apdu)[1] == 0x66F1
    select(card, JUKI_AID)
    assert tx(card, apdu)[1] == 0x6982
    assert verify(card, PIN, JUKI_PIN) == 0x9000
    assert tx(card, apdu)[1] == 0x6982
    select_jpki(card)
    assert tx(card, apdu)[1] == 0x6982
    assert verify(card, 0x0018, persona.auth_pin.value) == 0x9000
    assert tx(card, apdu)[1] == 0x6982
    select(card, TEXT_AID)
    assert verify(card, 0x0011, TEXT_PIN) == 0x9000
    assert tx(card, apdu)[1] == 0x6A80
    card.reset()
    assert tx(card, apdu)[1] == 0x6D00  # MF level


@pytest.mark.parametrize("name", APS)
def test_no_signing_command(persona: Persona, name: str) -> None:
    card = powered(persona)
    select(card, APS[name][0])
    assert tx(card, "802A00990411223344 00".replace(" ", ""))[1] == 0x6D00
    assert tx(card, "0084000008")[1] == 0x9000  # GET CHALLENGE works everywhere


@pytest.mark.parametrize("name", APS)
def test_secure_messaging_classes(persona: Persona, name: str) -> None:
    card = powered(persona)
    assert tx(card, f"0CA4040C0A{APS[name][0].hex()}")[1] == 0x6882
    select(card, APS[name][0])
    assert tx(card, "0CB2010C00")[1] == 0x69FC
