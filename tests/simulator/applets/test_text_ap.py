"""券面事項入力補助AP (text AP): files, access rules, keys, signing, SM refusal.

jpki-card-reference.md sections 3.2, 4, 5, 7, 10, 11, 15; BEHAVIOUR.md "Card-info applications".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from card_helpers import JPKI_AID, select_ef, tx, verify
from card_info_data import (
    PIN_A,
    PIN_B,
    SURFACE_AID,
    TEXT_AID,
    TEXT_PIN,
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
from simulator.state import StateFileStore

PIN, BLOCKED, AP_KEY, KEY_A, KEY_B = 0x0011, 0x0012, 0x0013, 0x0014, 0x0015
CREDENTIALS = {"none": None, "pin": (PIN, TEXT_PIN), "A": (KEY_A, PIN_A), "B": (KEY_B, PIN_B)}
# which credential opens which EF (section 15.5); "free" EFs open with none
OPENS = {
    0x0001: {"pin", "A"},
    0x0002: {"pin", "B"},
    0x0003: {"pin", "A", "B"},
    0x0004: {"none", "pin", "A", "B"},
    0x0005: {"none", "pin", "A", "B"},
    0x0006: {"pin", "A", "B"},
    0x0007: {"pin", "A", "B"},
    0x0008: {"none", "pin", "A", "B"},
}
KEYS = {"text/0011": PIN, "text/0014": KEY_A, "text/0015": KEY_B}
DIGEST_INFO = "3031300D060960864801650304020105000420" + "AB" * 32


@pytest.fixture(scope="module")
def persona(default_persona: Persona) -> Persona:
    return with_card_info(default_persona)


@pytest.fixture
def text(persona: Persona) -> Iterator[VirtualCard]:
    card = powered(persona)
    select(card, TEXT_AID)
    yield card
    card.power_off()


def _contents(persona: Persona) -> dict[int, bytes]:
    data = persona.card_info
    assert data is not None
    t = data.text
    return {
        0x0001: t.my_number,
        0x0002: t.basic_four,
        0x0003: t.integrity,
        0x0004: t.cv_certificate,
        0x0005: t.basic_info,
        0x0006: t.session_key,
        0x0007: t.ap_key_record,
        0x0008: b"\xff" * 16,
    }


def _sign(card: VirtualCard, data: str, p1: int = 0x00, p2: int = 0x00) -> tuple[bytes, int]:
    return tx(card, f"802A{p1:02X}{p2:02X}{len(data) // 2:02X}{data}00")


# -- selection and files ------------------------------------------------------------------


def test_select_both_p2_forms(persona: Persona) -> None:
    card = powered(persona)
    assert tx(card, "00A4040C0A" + TEXT_AID.hex()) == (b"", 0x9000)
    assert tx(card, "00A404000A" + TEXT_AID.hex() + "00") == (b"", 0x9000)
    assert card.selected is not None and card.selected.aid == TEXT_AID


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("fid", OPENS)
def test_access_rules(persona: Persona, fid: int, credential: str) -> None:
    card = powered(persona)
    select(card, TEXT_AID)
    given_key = CREDENTIALS[credential]
    if given_key is not None:
        assert verify(card, *given_key) == 0x9000
    data, sw = read_whole(card, fid)
    if credential in OPENS[fid]:
        assert (data, sw) == (_contents(persona)[fid], 0x9000)
    else:
        assert (data, sw) == (b"", 0x6982)
    # the SFI form follows the same rule
    data, sw = tx(card, f"00B0{0x80 | fid:02X}0000")
    assert sw == (0x9000 if credential in OPENS[fid] else 0x6982)


def test_my_number_is_17_physical_bytes(text: VirtualCard) -> None:
    assert verify(text, KEY_A, PIN_A) == 0x9000
    select_ef(text, 0x0001)
    data, sw = tx(text, "00B0000011")
    assert sw == 0x9000 and len(data) == 17
    assert data[:3] == b"\xff\x10\x0c" and data[-2:] == b"\xff\xff"
    assert tx(text, "00B0001100")[1] == 0x6B00  # offset at the end


def test_paged_read_of_the_cv_certificate(text: VirtualCard, persona: Persona) -> None:
    select_ef(text, 0x0004)
    first, sw1 = tx(text, "00B0000000")
    second, sw2 = tx(text, "00B0010000")
    third, sw3 = tx(text, "00B0020000")
    assert (sw1, sw2, sw3) == (0x9000, 0x9000, 0x9000)
    assert len(first) == 256 and len(third) == 568 - 512  # short answer at the end
    assert first + second + third == _contents(persona)[0x0004]


@pytest.mark.parametrize("fid", [PIN, BLOCKED, AP_KEY, KEY_A, KEY_B])
def test_internal_efs_are_not_readable(text: VirtualCard, fid: int) -> None:
    assert select_ef(text, fid) == 0x9000
    assert tx(text, "00B0000001")[1] == 0x6981
    assert tx(text, "00B2010400")[1] == 0x6981  # nor as records


@pytest.mark.parametrize("fid", [0x0009, 0x0010, 0x0016, 0x001A, 0x001C, 0x2F10, 0x3F00])
def test_absent_efs(text: VirtualCard, fid: int) -> None:
    assert select_ef(text, fid) == 0x6A82


# -- keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_status_query_spends_no_try_and_ignores_login(text: VirtualCard, key: str) -> None:
    fid = KEYS[key]
    for _ in range(TRIES[key] + 2):
        assert query(text, fid) == 0x63C0 | TRIES[key]
    assert verify(text, fid, VALUES[key]) == 0x9000
    assert tx(text, "00200080")[1] == 0x63C0 | TRIES[key]
    assert tx(text, "0020008000")[1] == 0x63C0 | TRIES[key]


@pytest.mark.parametrize("key", KEYS)
def test_lockout_sequence(persona: Persona, key: str) -> None:
    card = powered(persona)
    select(card, TEXT_AID)
    fid, limit = KEYS[key], TRIES[key]
    for left in range(limit - 1, -1, -1):
        assert verify(card, fid, WRONG[key]) == 0x63C0 | left
        assert query(card, fid) == 0x63C0 | left
    assert verify(card, fid, VALUES[key]) == 0x6984
    assert verify(card, fid, WRONG[key]) == 0x6984
    assert query(card, fid) == 0x63C0
    assert card.pins()[key].blocked
    others = set(KEYS) - {key}
    for other in others:  # separate counters
        assert query(card, KEYS[other]) == 0x63C0 | TRIES[other]
        assert verify(card, KEYS[other], VALUES[other]) == 0x9000
    card.reset()
    select(card, TEXT_AID)
    assert query(card, fid) == 0x63C0  # survives a reset


@pytest.mark.parametrize("key", KEYS)
def test_correct_value_restores_the_counter(text: VirtualCard, key: str) -> None:
    fid = KEYS[key]
    assert verify(text, fid, WRONG[key]) == 0x63C0 | (TRIES[key] - 1)
    assert verify(text, fid, VALUES[key]) == 0x9000
    assert query(text, fid) == 0x63C0 | TRIES[key]


def test_counters_come_from_the_pin_spec(default_persona: Persona) -> None:
    card = powered(with_card_info(default_persona, {"text/0011": 1, "text/0015": 0}))
    select(card, TEXT_AID)
    assert query(card, PIN) == 0x63C1
    assert query(card, KEY_B) == 0x63C0
    assert verify(card, KEY_B, PIN_B) == 0x6984  # blocked on a fresh card
    assert query(card, KEY_A) == 0x63C0 | TRIES["text/0014"]


def test_same_fid_in_two_applications_has_two_counters(text: VirtualCard) -> None:
    """Text 0011 (PIN) and surface 0011 (birth-date key) are different keys."""
    assert verify(text, PIN, WRONG["text/0011"]) == 0x63C2
    select(text, SURFACE_AID)
    assert query(text, 0x0011) == 0x63C0 | TRIES["surface/0011"]


def test_verify_by_sfi(text: VirtualCard) -> None:
    assert tx(text, "00200091")[1] == 0x63C0 | TRIES["text/0011"]
    assert tx(text, f"0020009104{TEXT_PIN.hex()}")[1] == 0x9000
    assert read_whole(text, 0x0001)[1] == 0x9000


def test_wrong_verify_after_success_clears_the_login(text: VirtualCard) -> None:
    assert verify(text, KEY_A, PIN_A) == 0x9000
    assert read_whole(text, 0x0001)[1] == 0x9000
    assert verify(text, KEY_A, WRONG["text/0014"]) == 0x63C0 | (TRIES["text/0014"] - 1)
    assert read_whole(text, 0x0001)[1] == 0x6982


@pytest.mark.parametrize("p2", ["80", "92"])
def test_blocked_key_0012(text: VirtualCard, p2: str) -> None:
    select_ef(text, BLOCKED)
    for _ in range(3):
        assert tx(text, f"002000{p2}")[1] == 0x63C0
        assert tx(text, f"002000{p2}04{TEXT_PIN.hex()}")[1] == 0x6984
        assert tx(text, f"002000{p2}00")[1] == 0x63C0
    assert tx(text, f"002000{p2}11" + "31" * 17)[1] == 0x6700
    assert tx(text, f"002401{p2}04{TEXT_PIN.hex()}")[1] == 0x6984
    assert "text/0012" not in text.pins()  # no counter: no out-of-band reset opens it
    for fid in OPENS:
        if "none" not in OPENS[fid]:
            assert read_whole(text, fid)[1] == 0x6982


def test_security_status_kept_across_ef_selects(text: VirtualCard) -> None:
    assert verify(text, PIN, TEXT_PIN) == 0x9000
    for fid in (0x0004, 0x0012, 0x0013, 0x0005, 0x0015):
        select_ef(text, fid)
    assert read_whole(text, 0x0001)[1] == 0x9000
    assert read_whole(text, 0x0002)[1] == 0x9000


def _reselect(card: VirtualCard) -> None:
    select(card, TEXT_AID)


def _other_ap(card: VirtualCard) -> None:
    select(card, JPKI_AID)
    select(card, TEXT_AID)


def _reset(card: VirtualCard) -> None:
    card.reset()
    select(card, TEXT_AID)


def _power_cycle(card: VirtualCard) -> None:
    card.power_off()
    card.power_on()
    select(card, TEXT_AID)


@pytest.mark.parametrize("clear", [_other_ap, _reset, _power_cycle])
def test_security_status_cleared(text: VirtualCard, clear: Callable[[VirtualCard], None]) -> None:
    assert verify(text, PIN, TEXT_PIN) == 0x9000
    assert read_whole(text, 0x0001)[1] == 0x9000
    clear(text)
    for fid in (0x0001, 0x0002, 0x0003, 0x0006, 0x0007):
        assert read_whole(text, fid)[1] == 0x6982
    assert tx(text, "80AE0000000100" + "00" * 256)[1] == 0x6982


def test_security_status_kept_by_a_reselect(text: VirtualCard) -> None:
    assert verify(text, PIN, TEXT_PIN) == 0x9000
    _reselect(text)
    assert read_whole(text, 0x0001)[1] == 0x9000


def test_counters_persist_in_the_state_file(persona: Persona, tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    identity = VirtualCard.identity_of(persona)
    with VirtualCard(persona, StateFileStore(path, identity)) as card:
        card.power_on()
        select(card, TEXT_AID)
        assert verify(card, KEY_B, WRONG["text/0015"]) == 0x63C0 | (TRIES["text/0015"] - 1)
    assert '"text/0015"' in path.read_text()
    with VirtualCard(persona, StateFileStore(path, identity)) as card:
        card.power_on()
        select(card, TEXT_AID)
        assert query(card, KEY_B) == 0x63C0 | (TRIES["text/0015"] - 1)
        assert query(card, PIN) == 0x63C0 | TRIES["text/0011"]


# -- CHANGE REFERENCE DATA ------------------------------------------------------------------


def test_change_pin_after_verify(text: VirtualCard) -> None:
    select_ef(text, PIN)
    assert tx(text, "0024018004" + b"8642".hex())[1] == 0x6982  # no VERIFY yet
    assert verify(text, PIN, TEXT_PIN) == 0x9000
    assert tx(text, "0024008004" + b"8642".hex())[1] == 0x6A86  # P1 must be 01
    assert tx(text, "0024018003" + b"864".hex())[1] == 0x6A80  # 4 digits only
    assert tx(text, "0024018004" + b"86A2".hex())[1] == 0x6A80
    assert tx(text, "00240180")[1] == 0x6700
    assert tx(text, "0024018004" + b"8642".hex())[1] == 0x9000
    assert read_whole(text, 0x0001)[1] == 0x9000  # the session stays verified
    text.reset()
    select(text, TEXT_AID)
    assert verify(text, PIN, TEXT_PIN) == 0x63C2  # the old value is gone
    assert verify(text, PIN, b"8642") == 0x9000


@pytest.mark.parametrize("key", ["text/0014", "text/0015"])
def test_printed_numbers_cannot_be_changed(text: VirtualCard, key: str) -> None:
    fid = KEYS[key]
    select_ef(text, fid)
    new = VALUES[key][::-1].hex()
    assert tx(text, f"00240180{len(new) // 2:02X}{new}")[1] == 0x6982
    assert verify(text, fid, VALUES[key]) == 0x9000
    assert tx(text, f"00240180{len(new) // 2:02X}{new}")[1] == 0x6985
    assert verify(text, fid, VALUES[key]) == 0x9000


def test_change_key_is_not_a_text_ap_command(text: VirtualCard) -> None:
    assert verify(text, PIN, TEXT_PIN) == 0x9000
    assert tx(text, "8032008004" + b"8642".hex())[1] == 0x6D00


# -- the AP key (80 2A 00 00) ---------------------------------------------------------------


def _ap_public_key(persona: Persona) -> bytes:
    """The DF51 key of EF 0007: the `91` modulus."""
    assert persona.card_info is not None
    record = decode_all(persona.card_info.text.ap_key_record)[0]
    key = decode_all(decode_all(record.value)[0].value)
    return key[1].value


def test_sign_with_no_credential(text: VirtualCard, persona: Persona) -> None:
    signature, sw = _sign(text, DIGEST_INFO)
    assert sw == 0x9000 and len(signature) == 256
    block = recover(keys().text_ap, signature)
    assert block == pkcs1_block(bytes.fromhex(DIGEST_INFO))
    assert _ap_public_key(persona) == keys().text_ap.public_key().public_numbers().n.to_bytes(
        256, "big"
    )
    # deterministic, and the same key through P2 = 80 (current EF 0013) and 80|SFI
    assert _sign(text, DIGEST_INFO) == (signature, 0x9000)
    select_ef(text, AP_KEY)
    assert _sign(text, DIGEST_INFO, p2=0x80) == (signature, 0x9000)
    assert _sign(text, DIGEST_INFO, p2=0x93) == (signature, 0x9000)


@settings(max_examples=10, deadline=None)
@given(st.binary(min_size=1, max_size=245))
def test_sign_pads_whatever_it_gets(persona: Persona, payload: bytes) -> None:
    card = powered(persona)
    select(card, TEXT_AID)
    signature, sw = _sign(card, payload.hex())
    assert sw == 0x9000
    assert recover(keys().text_ap, signature) == pkcs1_block(payload)


def test_sign_errors(text: VirtualCard) -> None:
    assert _sign(text, "AA" * 246)[1] == 0x6700
    assert tx(text, "802A000000")[1] == 0x6700  # no data
    for p1 in (0x01, 0x02, 0x03, 0x80):
        assert _sign(text, DIGEST_INFO, p1=p1)[1] == 0x6A86
    assert _sign(text, DIGEST_INFO, p2=0x80)[1] == 0x6986  # no current EF
    select_ef(text, PIN)
    assert _sign(text, DIGEST_INFO, p2=0x80)[1] == 0x6981  # a PIN is no key
    assert _sign(text, DIGEST_INFO, p2=0x91)[1] == 0x6981
    assert _sign(text, DIGEST_INFO, p2=0x9E)[1] == 0x6A88  # no such SFI
    assert _sign(text, DIGEST_INFO, p2=0x01)[1] == 0x6A86
    assert tx(text, f"002A000033{DIGEST_INFO}00")[1] == 0x6E00  # proprietary INS, CLA 00


def test_internal_authenticate_refused_by_the_ap_key(text: VirtualCard) -> None:
    assert tx(text, "00880093100102030405060708090A0B0C0D0E0F1000")[1] == 0x6985
    assert verify(text, PIN, TEXT_PIN) == 0x9000
    assert tx(text, "00880093100102030405060708090A0B0C0D0E0F1000")[1] == 0x6985


# -- secure messaging ------------------------------------------------------------------------


def test_secure_messaging_classes_are_refused(text: VirtualCard) -> None:
    assert verify(text, PIN, TEXT_PIN) == 0x9000
    assert tx(text, "08A4020C020001")[1] == 0x6882
    assert tx(text, "0CA4040C0A" + TEXT_AID.hex())[1] == 0x6882
    assert tx(text, "08B0000005960300010000")[1] == 0x69FC
    assert tx(text, "0C200080")[1] == 0x69FC
    assert read_whole(text, 0x0001)[1] == 0x9000  # nothing was disturbed


@pytest.mark.parametrize("credential", ["none", "A", "B", "pin"])
def test_set_session_key(text: VirtualCard, credential: str) -> None:
    given_key = CREDENTIALS[credential]
    if given_key is not None:
        assert verify(text, *given_key) == 0x9000
    expected = 0x6A80 if credential == "pin" else 0x6982  # 照合番号A/B do not do
    assert tx(text, "80AE0000000100" + "5A" * 256)[1] == expected
    assert tx(text, "80AE0000")[1] == expected
    assert tx(text, "00AE0000000100" + "5A" * 256)[1] == 0x6E00


def test_get_data_inside_the_text_ap(text: VirtualCard, persona: Persona) -> None:
    assert persona.card_info is not None
    assert tx(text, "00CA5F5100") == (persona.card_info.mf_objects[0x5F51], 0x9000)
    assert tx(text, "00CA00F000")[1] == 0x6A88
