"""The card fuzzer's invariant checkers, on crafted responses and sequences."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from conformance.fuzz.facts import JPKI_AID, SURFACE_AID, TEXT_AID, CardFacts
from conformance.fuzz.invariants import Checker, Violation, is_signature
from simulator import VirtualCard
from simulator.personalization.persona import Persona
from simulator.state import PinRecord, StateFileStore

OK = b"\x90\x00"
SELECT_JPKI = "00A4040C0A" + JPKI_AID.hex()
SELECT_TEXT = "00A4040C0A" + TEXT_AID.hex()


class Harness:
    """A real card and a checker; `send` checks the card's answer or a crafted one."""

    def __init__(self, persona: Persona, state: Path | None = None) -> None:
        store = None if state is None else StateFileStore(state, VirtualCard.identity_of(persona))
        self.card = VirtualCard(persona, store, strict=True)
        self.card.power_on()
        pins = self.card.pins()
        self.checker = Checker(
            CardFacts.of(persona),
            lambda: {key: pin.remaining for key, pin in pins.items()},
            state_file=state,
            identity=VirtualCard.identity_of(persona),
        )

    def send(self, command: str | bytes, answer: bytes | None = None) -> list[Violation]:
        raw = bytes.fromhex(command) if isinstance(command, str) else command
        response = self.card.transmit(raw)
        return self.checker.check(raw, response if answer is None else answer)

    def power(self, event: str) -> list[Violation]:
        if event == "power-cycle":
            self.card.power_off()
        self.card.power_on()
        return self.checker.check(event, None)


@pytest.fixture
def harness(default_persona: Persona) -> Harness:
    return Harness(default_persona)


def names(violations: list[Violation]) -> list[str]:
    return [v.invariant for v in violations]


def test_a_plain_session_is_quiet(harness: Harness, default_persona: Persona) -> None:
    sign = default_persona.sign_pin.value.hex()
    for command in (
        SELECT_JPKI, "00A4020C02000A", "00B0000000", "00B0B60000",  # free reads
        "00A4020C02001B", f"0020008006{sign}", "00A4020C020001", "00B0000000",
        "00A4020C02001A",
        "802A000033" + "3031300d060960864801650304020105000420" + "11" * 32 + "00",
        "0084000008", "00200080", "00CA5F5100",
    ):  # fmt: skip
        assert harness.send(command) == [], command


def test_key_bytes_in_a_response_are_a_leak(harness: Harness, default_persona: Persona) -> None:
    key = default_persona.sign.private_key
    assert key is not None
    p = key.private_numbers().p.to_bytes(128, "big")
    found = harness.send("0084000020", p[40:72] + OK)
    assert names(found) == ["key-leak"]
    assert "private key" in found[0].actual and p.hex() not in found[0].actual


def test_certificate_reads_are_not_key_leaks(harness: Harness) -> None:
    """A certificate carries the public modulus, which the PKCS#8 DER holds too."""
    harness.send(SELECT_JPKI)
    harness.send("00A4020C02000A")
    assert harness.send("00B0000000000000") == []


def test_pin_in_a_response_is_a_leak_unless_file_content(
    harness: Harness, default_persona: Persona
) -> None:
    pin = default_persona.auth_pin.value
    found = harness.send("00CA004200", b"\x01" * 8 + pin + OK)
    assert names(found) == ["pin-leak"] and pin.decode() not in found[0].actual
    # the authentication certificate holds "1234" in a UTCTime: public content, no finding
    harness.send(SELECT_JPKI)
    harness.send("00A4020C02000A")
    data = harness.card.transmit(bytes.fromhex("00B000B010"))
    assert pin in data[:-2]
    assert harness.checker.check(bytes.fromhex("00B000B010"), data) == []


def test_protected_content_is_a_leak_until_its_pin_is_verified(
    harness: Harness, default_persona: Persona
) -> None:
    sign = default_persona.sign_pin.value.hex()
    cert = default_persona.sign.certificate
    assert cert is not None
    at = cert.index(default_persona.auth_pin.value)  # in a UTCTime
    publics = harness.checker.facts.public_contents
    size = next(n for n in range(4, 200) if not any(cert[at - n : at + 4] in c for c in publics))
    chunk = cert[at - size : at + 4]  # served only after 001B: no other file holds it
    harness.send(SELECT_JPKI)
    assert "pin-leak" in names(harness.send("00B0000000", chunk + OK))  # (no current EF)
    harness.send(f"0020009B06{sign}")
    assert harness.send("00B0000000", chunk + OK) == []


def test_signatures_and_short_challenges_are_no_pin_leaks(
    harness: Harness, default_persona: Persona
) -> None:
    key = default_persona.auth.private_key
    assert key is not None
    signature = key.sign(b"x", padding.PKCS1v15(), hashes.SHA256())
    spliced = signature[:100] + default_persona.auth_pin.value + signature[104:]
    assert not is_signature(spliced, harness.checker.facts.public_numbers)
    assert is_signature(signature, harness.checker.facts.public_numbers)
    harness.send(SELECT_JPKI)
    assert "pin-leak" in names(harness.send("802A00970433303330", spliced + OK))
    pin = default_persona.auth_pin.value
    assert harness.send("0084000010", bytes(6) + pin + bytes(6) + OK) == []  # chance
    sign = default_persona.sign_pin.value  # 6+ characters: not chance
    assert "pin-leak" in names(harness.send("0084000010", bytes(5) + sign + bytes(5) + OK))


def test_protected_reads_need_their_credential(harness: Harness, default_persona: Persona) -> None:
    harness.send(SELECT_JPKI)
    harness.send("00A4020C020001")
    found = harness.send("00B0000010", b"\x30" * 16 + OK)
    assert names(found) == ["access"]
    assert "JPKI EF 0001" in found[0].expected and "001B" in found[0].expected
    auth = default_persona.auth_pin.value.hex()
    assert harness.send(f"00200098 04{auth}".replace(" ", "")) == []  # the other PIN
    assert names(harness.send("00B0810010", b"\x30" * 16 + OK)) == ["access"]  # by SFI too
    sign = default_persona.sign_pin.value.hex()
    assert harness.send(f"0020009B06{sign}") == []
    assert harness.send("00B0810010", b"\x30" * 16 + OK) == []


def test_signing_and_pin_changes_need_their_credential(harness: Harness) -> None:
    harness.send(SELECT_JPKI)
    digest_info = "3031300d060960864801650304020105000420" + "22" * 32
    assert names(harness.send(f"802A009A33{digest_info}00", bytes(256) + OK)) == ["access"]
    assert names(harness.send("002401980435353535", OK)) == ["access"]
    assert names(harness.send("00B0890010", b"\x01" * 16 + OK)) == ["access"]  # JPKI 0009


def test_status_never_survives_select_reset_or_power_cycle(
    harness: Harness, default_persona: Persona
) -> None:
    sign = default_persona.sign_pin.value.hex()
    for event in ("other-application", "isd", "reset", "power-cycle"):
        harness.send(SELECT_JPKI)
        assert harness.send(f"0020009B06{sign}") == []
        if event == "other-application":
            harness.send(SELECT_TEXT)
            harness.send(SELECT_JPKI)
        elif event == "isd":
            harness.send("00A4040C07A0000001510000")
            harness.send(SELECT_JPKI)
        else:
            harness.power(event)
            harness.send(SELECT_JPKI)
        found = harness.send("00B0810010", b"\x30" * 16 + OK)
        assert names(found) == ["status-survives"], event
        assert "before the" in found[0].expected


def test_status_kept_by_a_reselect_of_the_same_application(
    harness: Harness, default_persona: Persona
) -> None:
    """Section 4.3: a re-SELECT keeps the status, so the card's answer is no finding."""
    sign = default_persona.sign_pin.value.hex()
    harness.send(SELECT_JPKI)
    assert harness.send(f"0020009B06{sign}") == []
    assert harness.send(SELECT_JPKI) == []
    assert harness.send("00B0810010") == []  # the real card's answer: the certificate
    assert harness.send("00B0810010", b"\x30" * 16 + OK) == []


def test_status_cleared_by_a_reselect_when_the_persona_says_so(
    default_persona: Persona,
) -> None:
    persona = dataclasses.replace(default_persona, reselect_clears_status=True)
    harness = Harness(persona)
    harness.send(SELECT_JPKI)
    assert harness.send(f"0020009B06{persona.sign_pin.value.hex()}") == []
    assert harness.send(SELECT_JPKI) == []
    assert harness.send("00B0810010") == []  # the card's 6982
    found = harness.send("00B0810010", b"\x30" * 16 + OK)
    assert names(found) == ["status-survives"]
    assert "re-SELECT" in found[0].expected


def test_a_card_left_in_its_application_by_a_reset(harness: Harness) -> None:
    """At MF level nothing can be read: an answer means the application survived."""
    harness.send(SELECT_JPKI)
    harness.send("0020009804313233")  # Lc 4 with 3 bytes: 6700, no effect
    harness.power("reset")
    found = harness.send("00B0000010", b"\x30" * 16 + OK)
    assert names(found) == ["access"] and "MF level" in found[0].expected


def test_card_info_access_rules(harness: Harness, default_persona: Persona) -> None:
    info = default_persona.card_info
    assert info is not None
    harness.send("00A4040C0A" + TEXT_AID.hex())
    pin_b = info.text.pin_b.value
    assert harness.send(f"00200095{len(pin_b):02X}{pin_b.hex()}") == []
    assert harness.send("00B0820010", b"\x20" * 16 + OK) == []  # basic 4 opened by B
    assert names(harness.send("00B0810011", b"\x21" * 17 + OK)) == ["access"]  # My Number: A
    harness.send("00A4040C0A" + SURFACE_AID.hex())
    assert names(harness.send("00B0850010", b"\x05" * 16 + OK)) == ["access"]  # A only


def test_counters_rise_only_on_a_right_verify(harness: Harness, default_persona: Persona) -> None:
    harness.send(SELECT_JPKI)
    assert harness.send("0020009804 30303030".replace(" ", "")) == []  # wrong: 3 -> 2
    pin = harness.card.pins()["jpki/0018"]
    pin.set_remaining(3)  # out of band, as a broken card would
    found = harness.send("0084000008")
    assert names(found) == ["counter"] and found[0].actual == "jpki/0018: 2 -> 3"
    pin.set_remaining(1)
    assert names(harness.send("00CA004200")) == ["counter"]  # fell on GET DATA
    auth = default_persona.auth_pin.value.hex()
    assert harness.send(f"0020009804{auth}") == []  # the right value: 1 -> 3 allowed


def test_counters_fall_by_one_and_blocked_stays_blocked(harness: Harness) -> None:
    harness.send(SELECT_JPKI)
    pin = harness.card.pins()["jpki/001B"]
    harness.checker.check(b"\x00\xa4\x00\x00", b"\x6a\x86")
    pin.set_remaining(3)  # pretend a wrong VERIFY took two tries: 5 -> 3
    found = harness.checker.check(bytes.fromhex("0020009B06414141414141"), b"\x63\xc3")
    assert [v.expected for v in found] == ["jpki/001B falls by at most one"]
    pin.set_remaining(0)
    harness.checker.check(bytes.fromhex("0020009B06414141414141"), b"\x63\xc0")
    pin.set_remaining(5)
    found = harness.checker.check(bytes.fromhex("0084000008"), bytes(8) + OK)
    assert [v.expected for v in found] == ["jpki/001B stays blocked"]


def test_a_wrong_value_accepted_is_a_finding(harness: Harness) -> None:
    harness.send(SELECT_JPKI)
    found = harness.checker.check(bytes.fromhex("0020009804 39393939".replace(" ", "")), OK)
    assert names(found) == ["counter"] and "not the value of jpki/0018" in found[0].actual


def test_pin_changes_are_followed(harness: Harness, default_persona: Persona) -> None:
    auth = default_persona.auth_pin.value.hex()
    harness.send(SELECT_JPKI)
    harness.send(f"0020009804{auth}")
    assert harness.send("002401980435353535") == []
    assert harness.checker.model.values["jpki/0018"] == b"5555"
    assert harness.send(SELECT_JPKI) == []
    assert harness.send("002000980435353535") == []  # the new value is the right one now
    assert names(harness.send("00CA004200", b"\x00" + b"5555" + OK)) == ["pin-leak"]


def test_exception_and_6f00(harness: Harness) -> None:
    assert names(harness.checker.check(b"\x00\x84\x00\x00\x08", None, RuntimeError("x"))) == [
        "exception"
    ]
    assert names(harness.checker.check(b"\x00\xca\x00\x42\x00", b"\x6f\x00")) == ["sw-6f00"]
    assert names(harness.checker.check("reset", None, OSError("tearing"))) == ["exception"]


def test_state_file_invariant(default_persona: Persona, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    harness = Harness(default_persona, state)
    harness.send(SELECT_JPKI)
    assert harness.send("002000980430303030") == []  # a try spent: the file loads, 2 == 2
    good = state.read_bytes()
    state.write_bytes(good.replace(b'"remaining": 2', b'"remaining": 1'))  # edited by hand
    found = harness.checker.check_state_file()
    assert names(found) == ["state-file"] and "checksum" in found[0].actual
    state.write_bytes(good)
    assert harness.checker.check_state_file() == []
    store = harness.card._store
    assert isinstance(store, StateFileStore)
    store._records["jpki/0018"] = PinRecord(1)  # the live card moved on, the file did not
    found = harness.checker.check_state_file()
    assert [(v.expected, v.actual) for v in found] == [
        ("jpki/0018: 1 tries in the file (as on the live card)", "2 in the file")
    ]


def test_a_refused_sfi_read_leaves_the_current_ef(default_persona: Persona, tmp_path: Path) -> None:
    """Regression (a false finding of a 2-minute run): READ RECORD P1=00 by SFI 1B is
    refused for its P1 (6A86) before any file is touched, so CHANGE P2=80 still changes
    the PIN selected before, 0018, not 001B."""
    harness = Harness(default_persona, tmp_path / "state.json")
    auth = default_persona.auth_pin.value.hex()
    for command in (SELECT_JPKI, "00A4020C020018", f"0020008004{auth}", "00B200DC000100"):
        assert harness.send(command) == [], command
    assert harness.checker.model.current == frozenset({0x0018})
    assert harness.send("002401800430393930") == []  # checks the state file too
    assert harness.checker.model.changed == {"jpki/0018"}


def test_a_change_of_an_unsure_pin_is_followed_both_ways(
    default_persona: Persona, tmp_path: Path
) -> None:
    """READ RECORD without Le (6700) may or may not have made EF 001B current: the
    CHANGE that follows may have changed either PIN; neither outcome is a finding."""
    harness = Harness(default_persona, tmp_path / "state.json")
    auth = default_persona.auth_pin.value.hex()
    for command in (SELECT_JPKI, "00A4020C020018", f"0020008004{auth}", "00B201DC"):
        assert harness.send(command) == [], command
    assert harness.checker.model.current == frozenset({0x0018, 0x001B})
    assert harness.send("002401800435353535") == []
    assert harness.checker.model.unsure_changed == {"jpki/0018", "jpki/001B"}
    assert harness.send("002000980435353535") == []  # the new value opens 0018
    assert harness.send("0020009B0435353535") == []  # not 001B: a wrong try, no finding
    assert harness.checker.check_state_file() == []
