"""券面AP (券面事項確認AP, surface AP): files, access rules, keys, signing, SET SESSION KEY.

jpki-card-reference.md sections 3.3, 4, 5, 7, 10, 11, 15; BEHAVIOUR.md "Card-info applications".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from card_helpers import select_ef, tx, verify
from card_info_data import (
    BIRTH_KEY,
    PIN_A,
    PIN_B,
    SURFACE_AID,
    TEXT_AID,
    TRIES,
    VALUES,
    WRONG,
    keys,
    pkcs1_block,
    powered,
    query,
    read_whole,
    recover,
    select,
    with_card_info,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import VirtualCard
from simulator.apdu.tlv import decode_all
from simulator.personalization.persona import Persona

BIRTH, KEY_B, KEY_A, AP_KEY = 0x0011, 0x0012, 0x0013, 0x001A
CREDENTIALS = {"none": None, "birth": (BIRTH, BIRTH_KEY), "A": (KEY_A, PIN_A), "B": (KEY_B, PIN_B)}
OPENS = {
    0x0001: {"birth"},
    0x0002: {"A", "B"},
    0x0003: {"none", "birth", "A", "B"},
    0x0004: {"none", "birth", "A", "B"},
    0x0005: {"A"},
    0x0006: {"A", "B"},
}
KEYS = {"surface/0011": BIRTH, "surface/0012": KEY_B, "surface/0013": KEY_A}
DIGEST_INFO = "3031300D060960864801650304020105000420" + "CD" * 32


@pytest.fixture(scope="module")
def persona(default_persona: Persona) -> Persona:
    return with_card_info(default_persona)


@pytest.fixture
def surface(persona: Persona) -> Iterator[VirtualCard]:
    card = powered(persona)
    select(card, SURFACE_AID)
    yield card
    card.power_off()


def _contents(persona: Persona) -> dict[int, bytes]:
    assert persona.card_info is not None
    s = persona.card_info.surface
    return {
        0x0001: s.age_record,
        0x0002: s.card_face,
        0x0003: s.basic_info,
        0x0004: s.cv_certificate,
        0x0005: s.my_number_image,
        0x0006: b"\xff" * 16,
    }


def _sign(card: VirtualCard, data: str, p1: int = 0x00, p2: int = 0x00) -> tuple[bytes, int]:
    return tx(card, f"802A{p1:02X}{p2:02X}{len(data) // 2:02X}{data}00")


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("fid", OPENS)
def test_access_rules(persona: Persona, fid: int, credential: str) -> None:
    card = powered(persona)
    select(card, SURFACE_AID)
    given_key = CREDENTIALS[credential]
    if given_key is not None:
        assert verify(card, *given_key) == 0x9000
    data, sw = read_whole(card, fid)
    if credential in OPENS[fid]:
        assert (data, sw) == (_contents(persona)[fid], 0x9000)
    else:
        assert (data, sw) == (b"", 0x6982)
    assert tx(card, f"00B0{0x80 | fid:02X}0000")[1] == (
        0x9000 if credential in OPENS[fid] else 0x6982
    )


def test_all_three_keys_open_everything_but_nothing_more(surface: VirtualCard) -> None:
    for fid, value in ((BIRTH, BIRTH_KEY), (KEY_A, PIN_A), (KEY_B, PIN_B)):
        assert verify(surface, fid, value) == 0x9000
    for fid in OPENS:
        assert read_whole(surface, fid)[1] == 0x9000
    for fid in (0x0007, 0x0008, 0x0014, 0x001C, 0x001E):
        assert select_ef(surface, fid) == 0x6A82


@pytest.mark.parametrize("fid", [BIRTH, KEY_B, KEY_A, AP_KEY])
def test_internal_efs_are_not_readable(surface: VirtualCard, fid: int) -> None:
    assert select_ef(surface, fid) == 0x9000
    assert tx(surface, "00B0000001")[1] == 0x6981


@pytest.mark.parametrize("key", KEYS)
def test_status_query(surface: VirtualCard, key: str) -> None:
    fid = KEYS[key]
    for _ in range(TRIES[key] + 1):
        assert query(surface, fid) == 0x63C0 | TRIES[key]
    assert verify(surface, fid, VALUES[key]) == 0x9000
    assert tx(surface, "00200080")[1] == 0x63C0 | TRIES[key]


@pytest.mark.parametrize("key", KEYS)
def test_lockout_sequence(persona: Persona, key: str) -> None:
    card = powered(persona)
    select(card, SURFACE_AID)
    fid, limit = KEYS[key], TRIES[key]
    for left in range(limit - 1, -1, -1):
        assert verify(card, fid, WRONG[key]) == 0x63C0 | left
    assert query(card, fid) == 0x63C0
    assert verify(card, fid, VALUES[key]) == 0x6984
    for other in set(KEYS) - {key}:
        assert query(card, KEYS[other]) == 0x63C0 | TRIES[other]
    # the text AP's 照合番号 are other keys with their own counters
    select(card, TEXT_AID)
    for fid_text, key_text in ((0x0014, "text/0014"), (0x0015, "text/0015")):
        assert query(card, fid_text) == 0x63C0 | TRIES[key_text]


@pytest.mark.parametrize("key", KEYS)
def test_printed_keys_cannot_be_changed(surface: VirtualCard, key: str) -> None:
    fid = KEYS[key]
    select_ef(surface, fid)
    new = VALUES[key][::-1].hex()
    assert tx(surface, f"00240180{len(new) // 2:02X}{new}")[1] == 0x6982
    assert verify(surface, fid, VALUES[key]) == 0x9000
    assert tx(surface, f"00240180{len(new) // 2:02X}{new}")[1] == 0x6985
    assert tx(surface, f"80320080{len(new) // 2:02X}{new}")[1] == 0x6D00
    assert verify(surface, fid, VALUES[key]) == 0x9000


def test_security_status_cleared_by_select_and_reset(surface: VirtualCard) -> None:
    assert verify(surface, KEY_A, PIN_A) == 0x9000
    assert read_whole(surface, 0x0005)[1] == 0x9000
    select(surface, SURFACE_AID)  # the same application: kept (section 4.3)
    assert read_whole(surface, 0x0005)[1] == 0x9000
    select(surface, TEXT_AID)  # another one: cleared
    select(surface, SURFACE_AID)
    assert read_whole(surface, 0x0005)[1] == 0x6982
    assert verify(surface, BIRTH, BIRTH_KEY) == 0x9000
    surface.reset()
    select(surface, SURFACE_AID)
    assert read_whole(surface, 0x0001)[1] == 0x6982


def test_a_credential_of_the_text_ap_opens_nothing_here(surface: VirtualCard) -> None:
    select(surface, TEXT_AID)
    assert verify(surface, 0x0014, PIN_A) == 0x9000
    select(surface, SURFACE_AID)
    assert read_whole(surface, 0x0002)[1] == 0x6982


# -- the AP key (80 2A 00 00) ---------------------------------------------------------------


def _age_record_modulus(persona: Persona) -> bytes:
    assert persona.card_info is not None
    record = decode_all(persona.card_info.surface.age_record)[0]
    key = decode_all(decode_all(record.value)[1].value)
    return key[1].value


def test_sign_with_no_credential(surface: VirtualCard, persona: Persona) -> None:
    signature, sw = _sign(surface, DIGEST_INFO)
    assert sw == 0x9000 and len(signature) == 256
    assert recover(keys().surface_ap, signature) == pkcs1_block(bytes.fromhex(DIGEST_INFO))
    modulus = keys().surface_ap.public_key().public_numbers().n.to_bytes(256, "big")
    assert _age_record_modulus(persona) == modulus  # the key DF12 publishes
    select_ef(surface, AP_KEY)
    assert _sign(surface, DIGEST_INFO, p2=0x80) == (signature, 0x9000)
    assert _sign(surface, DIGEST_INFO, p2=0x9A) == (signature, 0x9000)


@settings(max_examples=10, deadline=None)
@given(st.binary(min_size=1, max_size=245))
def test_sign_pads_whatever_it_gets(persona: Persona, payload: bytes) -> None:
    card = powered(persona)
    select(card, SURFACE_AID)
    signature, sw = _sign(card, payload.hex())
    assert sw == 0x9000
    assert recover(keys().surface_ap, signature) == pkcs1_block(payload)


def test_sign_errors(surface: VirtualCard) -> None:
    assert _sign(surface, "AA" * 246)[1] == 0x6700
    assert _sign(surface, DIGEST_INFO, p1=0x03)[1] == 0x6A86
    select_ef(surface, KEY_A)
    assert _sign(surface, DIGEST_INFO, p2=0x80)[1] == 0x6981
    assert _sign(surface, DIGEST_INFO, p2=0x93)[1] == 0x6981  # 0013 is 照合番号A here


def test_internal_authenticate_refused(surface: VirtualCard) -> None:
    assert tx(surface, "0088009A08" + "11" * 8 + "00")[1] == 0x6985


@pytest.mark.parametrize("credential", CREDENTIALS)
def test_set_session_key_66f1(surface: VirtualCard, credential: str) -> None:
    given_key = CREDENTIALS[credential]
    if given_key is not None:
        assert verify(surface, *given_key) == 0x9000
    assert tx(surface, "80AE0000000100" + "5A" * 256)[1] == 0x66F1
    assert tx(surface, "80AE0000")[1] == 0x66F1


def test_secure_messaging_classes_are_refused(surface: VirtualCard) -> None:
    assert tx(surface, "0CA4020C020002")[1] == 0x6882
    assert tx(surface, "0CB0000000")[1] == 0x69FC
