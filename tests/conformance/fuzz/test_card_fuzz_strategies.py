"""The card fuzzer's generators: APDU shapes, raw bytes, sequences, scripts."""

from __future__ import annotations

import random

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from conformance.fuzz import grammar, strategies
from conformance.fuzz.actions import (
    POWER_EVENTS,
    ScriptError,
    apdu,
    format_script,
    parse_script,
)
from conformance.fuzz.facts import MY_NUMBER_AIDS, CardFacts
from conformance.fuzz.invariants import SessionModel, parse_command
from simulator.apdu.command import CommandApdu
from simulator.apdu.errors import MalformedApduError
from simulator.personalization.persona import Persona

FEW = settings(max_examples=40)


@pytest.fixture(scope="module")
def facts(default_persona: Persona) -> CardFacts:
    return CardFacts.of(default_persona)


# (strategy name, CLA, INS) of the commands whose shape is fixed
SHAPED = [
    ("select_by_aid", 0x00, 0xA4),
    ("select_ef", 0x00, 0xA4),
    ("read_binary", 0x00, 0xB0),
    ("read_record", 0x00, 0xB2),
    ("verify", 0x00, 0x20),
    ("internal_authenticate", 0x00, 0x88),
    ("get_challenge", 0x00, 0x84),
]


@pytest.mark.parametrize(("name", "cla", "ins"), SHAPED)
def test_command_strategies_give_well_formed_apdus(
    facts: CardFacts, name: str, cla: int, ins: int
) -> None:
    @FEW
    @given(getattr(strategies, name)(facts))
    def check(raw: bytes) -> None:
        cmd = CommandApdu.parse(raw)  # a valid case 1-4 APDU, short or extended
        assert (cmd.cla, cmd.ins) == (cla, ins)
        assert cmd.encode() == raw

    check()


@FEW
@given(st.data())
def test_signature_and_change_strategies(facts: CardFacts, data: st.DataObject) -> None:
    sign = CommandApdu.parse(data.draw(strategies.compute_digital_signature(facts)))
    assert (sign.cla, sign.ins) == (0x80, 0x2A)
    change = CommandApdu.parse(data.draw(strategies.change_reference_data(facts)))
    assert (change.cla, change.ins) in ((0x00, 0x24), (0x80, 0x32))
    assert data.draw(strategies.get_data(facts))[1] == 0xCA


def test_verify_strategy_sends_the_personas_right_values(
    facts: CardFacts, default_persona: Persona
) -> None:
    """Right values come from the persona's PinSpecs (and reach the card by SFI too)."""
    for value in (default_persona.auth_pin.value, default_persona.sign_pin.value):
        raw = find(strategies.verify(facts), lambda a, v=value: a[5:] == v)
        assert raw[:4] in (b"\x00\x20\x00\x80", b"\x00\x20\x00\x98", b"\x00\x20\x00\x9b")


def test_verify_strategy_follows_a_changed_value(facts: CardFacts) -> None:
    model = SessionModel(facts)
    model.app = facts.apps[MY_NUMBER_AIDS[0]]
    model.values["jpki/0018"] = b"9876"
    assert find(strategies.verify(facts, model), lambda a: a[5:] == b"9876")


def test_select_strategy_reaches_every_my_number_aid(facts: CardFacts) -> None:
    for aid in MY_NUMBER_AIDS:
        assert find(strategies.select_by_aid(facts), lambda a, aid=aid: a[5:15] == aid)


@FEW
@given(st.data())
def test_odd_cla_and_unknown_ins(facts: CardFacts, data: st.DataObject) -> None:
    odd = data.draw(strategies.odd_cla(facts))
    assert odd[0] in grammar.ODD_CLAS
    unknown = data.draw(strategies.unknown_ins(facts))
    assert unknown[1] not in grammar.KNOWN_INS and unknown[0] in (0x00, 0x80)


@settings(max_examples=200)
@given(strategies.raw_bytes())
def test_raw_bytes_decode_alike_in_the_fuzzer_and_the_card(raw: bytes) -> None:
    """0-300 bytes; the fuzzer's own decoder agrees with the card's codec on every shape."""
    assert 0 <= len(raw) <= 4 + 3 + 290 + 3
    mine = parse_command(raw)
    try:
        cmd = CommandApdu.parse(raw)
    except (MalformedApduError, ValueError):
        assert mine is None or (not mine.data and mine.le is None and len(raw) > 4)
        return
    assert mine is not None
    assert (mine.cla, mine.ins, mine.p1, mine.p2, mine.data, mine.le) == (
        cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data, cmd.le,
    )  # fmt: skip


def test_raw_bytes_cover_empty_and_extended_shapes() -> None:
    chooser = grammar.RandomChooser(random.Random(5))  # noqa: S311
    shapes = [grammar.raw_bytes(chooser) for _ in range(2000)]
    assert min(map(len, shapes)) == 0 and max(map(len, shapes)) >= 290
    assert any(len(s) > 7 and s[4] == 0 for s in shapes)  # extended length fields


@FEW
@given(st.data())
def test_sequences_mix_apdus_and_power_events(facts: CardFacts, data: st.DataObject) -> None:
    actions = data.draw(strategies.sequences(facts, max_actions=30))
    assert len(actions) <= 30
    for action in actions:
        assert isinstance(action, bytes) or action in POWER_EVENTS
    assert data.draw(strategies.power_events()) in POWER_EVENTS


def test_random_sequences_reach_deep_states(facts: CardFacts) -> None:
    """The grammar's flows: right VERIFYs, protected reads, signatures, then a clearing."""
    chooser = grammar.RandomChooser(random.Random(1))  # noqa: S311
    model = SessionModel(facts)
    produced = [a for _ in range(3000) for a in grammar.next_actions(chooser, model)]
    apdus = [a for a in produced if isinstance(a, bytes)]
    assert b"\x00\x20\x00\x80\x04" + facts.persona.auth_pin.value in apdus
    assert any(a[:4] == b"\x80\x2a\x00\x80" for a in apdus)
    assert any(a[:2] == b"\x00\xb0" and a[2] & 0x80 for a in apdus)  # SFI reads
    assert set(POWER_EVENTS) <= set(produced)


@settings(max_examples=200)
@given(
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=300),
    st.one_of(st.none(), st.integers(1, 65536)),
    st.booleans(),
)
def test_apdu_encoder_matches_the_card_codec(
    ins: int, p1: int, data: bytes, le: int | None, extended: bool
) -> None:
    if le is not None and le > 256 and not extended and len(data) <= 255:
        extended = True  # the encoder switches on its own; say so for the comparison
    raw = apdu(0x00, ins, p1, 0x00, data, le, extended=extended)
    cmd = CommandApdu.parse(raw)
    assert (cmd.data, cmd.le) == (data, le)


def test_scripts_round_trip_and_refuse_junk() -> None:
    actions = [bytes.fromhex("00A4040C0AD392F000260100000001"), "reset", b"\x00\x84\x00\x00\x08"]
    actions += ["power-cycle", b""]
    text = format_script(actions, ["header line"], ["9000", None, "9000", None, None])
    assert text.startswith("# header line\n")
    assert "00A4040C0AD392F000260100000001  # 9000" in text
    assert parse_script(text) == actions[:-1]  # an empty APDU has no line
    with pytest.raises(ScriptError, match="line 2"):
        parse_script("00A4\nnot hex\n")
