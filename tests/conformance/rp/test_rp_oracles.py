"""The oracles judge traces made by a real in-process card through the trace writer's records."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.rp.context import ACCEPTED, ERROR, REJECTED, StepOutcome
from conformance.rp.oracles import (
    FAIL,
    NOTE,
    expected_identity,
    judge_data_minimisation,
    judge_identity,
    judge_outcome,
    judge_pin_budget,
    parse_trace,
)
from conformance.rp.scenarios import BY_ID
from simulator import VirtualCard
from simulator.personalization.persona import load_persona, read_persona_document
from simulator.service.trace import command_record, event_record, response_record

JPKI = "00A4040C0AD392F000260100000001"
TEXT_AP = "00A4040C0AD3921000310001010408"
DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


class Session:
    """A card and the trace records its traffic would produce under `mynasim serve`."""

    def __init__(self, persona: str = "default") -> None:
        self.card = VirtualCard.from_persona(persona)
        self.card.power_on()
        self.records: list[dict[str, Any]] = [event_record(0, "power-on")]

    def send(self, apdu: str | bytes) -> int:
        raw = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
        self.records.append(command_record(0, raw))
        response = self.card.transmit(raw)
        self.records.append(response_record(0, response))
        return int.from_bytes(response[-2:], "big")

    def verify(self, ef: str, value: bytes | None) -> int:
        self.send(f"00A4020C02{ef}")
        if value is None:
            return self.send("00200080")
        return self.send(bytes.fromhex("00200080") + bytes([len(value)]) + value)

    def login(self, pin: bytes = b"1234", *, probe: bool = True) -> None:
        self.send(JPKI)
        if probe:
            self.verify("0018", None)
        self.verify("0018", pin)
        self.send("00A4020C020017")
        digest = DIGEST_INFO + hashlib.sha256(b"nonce").digest()
        self.send(bytes.fromhex("802A0080") + bytes([len(digest)]) + digest + b"\x00")


def budget(session: Session, typed_wrong: int = 0) -> list[str]:
    return [f.message for f in judge_pin_budget(parse_trace(session.records), typed_wrong)]


def test_a_correct_login_spends_nothing_and_reads_nothing_extra() -> None:
    session = Session()
    session.login()
    trace = parse_trace(session.records)
    assert trace.exchanges[-1].sw == 0x9000 and trace.exchanges[-1].ef == "0017"
    assert budget(session) == []
    assert judge_data_minimisation(trace, "login") == []


def test_pin_values_never_reach_the_parsed_trace() -> None:
    session = Session()
    session.login(b"1234")
    lines = "\n".join(parse_trace(session.records).lines)
    assert "31 32 33 34" not in lines and "** ** ** **" in lines


def test_a_pin_sent_without_reading_the_tries_first_is_found() -> None:
    session = Session()
    session.login(probe=False)
    assert budget(session) == ["sent the authentication PIN without reading its tries first"]


def test_one_wrong_value_typed_once_is_within_budget() -> None:
    session = Session()
    session.login(b"9999")
    assert budget(session, typed_wrong=1) == []
    assert budget(session, typed_wrong=0) == [
        "spent 1 tries with wrong values; the user typed 0 wrong"
    ]


def test_an_automatic_retry_after_63cx_is_found() -> None:
    session = Session()
    session.send(JPKI)
    session.verify("0018", None)
    assert session.verify("0018", b"9999") == 0x63C2
    assert session.send(bytes.fromhex("0020008004") + b"9999") == 0x63C1
    found = budget(session, typed_wrong=1)
    assert "sent the authentication PIN again by itself after a wrong-PIN answer (63Cx)" in found
    assert "spent 2 tries with wrong values; the user typed 1 wrong" in found


def test_a_value_sent_to_a_blocked_pin_is_found() -> None:
    session = Session()
    session.card.pins()["jpki/0018"].set_remaining(0)
    session.send(JPKI)
    assert session.verify("0018", None) in (0x63C0, 0x6984)
    session.send(bytes.fromhex("0020008004") + b"1234")
    assert budget(session) == ["sent the authentication PIN although the card said it is blocked"]


def test_reading_the_my_number_in_a_login_is_beyond_need() -> None:
    session = Session()
    session.login()
    session.send(TEXT_AP)
    session.verify("0011", b"1234")
    session.send("00A4020C020001")
    session.send("00B0000000")
    found = [f.message for f in judge_data_minimisation(parse_trace(session.records), "login")]
    assert found == [
        "selected the 券面事項入力補助AP (card-info text AP), which a login does not need",
        "unlocked PIN 0011 of the 券面事項入力補助AP (card-info text AP) in a login",
        "read EF 0001 of the 券面事項入力補助AP (card-info text AP) in a login",
    ]


def test_the_signature_certificate_is_beyond_a_login_but_needed_for_a_signature() -> None:
    session = Session()
    session.send(JPKI)
    session.verify("001B", None)
    session.verify("001B", b"ABC123")
    session.send("00A4020C020001")
    session.send("00B0000004")
    trace = parse_trace(session.records)
    login = [f.message for f in judge_data_minimisation(trace, "login")]
    assert login == [
        "unlocked the signing password in a login",
        "read the signature certificate (it holds the 4 information) in a login",
    ]
    assert judge_data_minimisation(trace, "sign") == []


def test_a_foreign_aid_probe_is_not_a_finding() -> None:
    session = Session()
    session.send("00A4040C07A0000003971001")  # what other OpenSC drivers try first
    session.login()
    assert judge_data_minimisation(parse_trace(session.records), "login") == []


def test_a_removed_card_leaves_a_command_without_response() -> None:
    session = Session()
    session.send(JPKI)
    session.records.append(command_record(0, bytes.fromhex("802A00800400000000")))
    session.records.append(response_record(0, None))
    session.records.append(event_record(0, "armed removal on INS 2A (after processing)"))
    trace = parse_trace(session.records)
    assert trace.exchanges[-1].sw is None
    assert trace.lines[-2] == "< no response (card removed)"


FIELDS = st.sampled_from(["direction", "apdu", "sw", "event"])
VALUES = st.one_of(
    st.sampled_from(["command", "response", "event", "90 00", "9000", "00 A4 04 0C"]),
    st.text(max_size=12),
    st.none(),
    st.integers(),
)


@given(st.lists(st.dictionaries(FIELDS, VALUES)))
def test_parse_trace_never_fails_on_odd_records(records: list[dict[str, Any]]) -> None:
    trace = parse_trace(records)
    assert len(trace.exchanges) <= len(records)


# ------------------------------------------------------------------------------ outcome


def _outcome(outcome: str, **extra: Any) -> StepOutcome:
    result = StepOutcome(outcome, "because")
    result.extra.update(extra)
    return result


def test_outcome_expectations() -> None:
    expired = BY_ID["RP-CERT-001"]
    step = expired.steps[0]
    assert judge_outcome(expired, step, "login", _outcome(REJECTED)) == []
    [finding] = judge_outcome(expired, step, "login", _outcome(ACCEPTED))
    assert finding.severity == FAIL and finding.oracle == "certificate and revocation"
    assert "accepted although the certificate has expired" in finding.message
    [note] = judge_outcome(expired, step, "login", _outcome(ERROR))
    assert note.severity == NOTE  # an error fails closed
    under15 = BY_ID["RP-DATA-008"]
    [crash] = judge_outcome(under15, under15.steps[0], "sign", _outcome(ERROR))
    assert crash.severity == FAIL and "instead of a clear rejection" in crash.message
    assert judge_outcome(under15, under15.steps[0], "login", _outcome(ACCEPTED)) == []
    [hung] = judge_outcome(BY_ID["RP-PIN-001"], BY_ID["RP-PIN-001"].steps[0], "login",
                           _outcome(ERROR, hung=30.0))  # fmt: skip
    assert hung.message == "hung: no result within 30 s"


def test_a_torn_signature_reported_as_success_is_a_tearing_failure() -> None:
    torn = BY_ID["RP-TEAR-001"]
    [finding] = judge_outcome(torn, torn.steps[0], "login", _outcome(ACCEPTED))
    assert finding.oracle == "tearing" and finding.severity == FAIL


# ----------------------------------------------------------------------------- identity


@pytest.mark.parametrize("persona", ["default", "long-name", "era-meiji", "substitution-flags"])
def test_identity_is_compared_byte_for_byte(persona: str) -> None:
    holder = read_persona_document(load_persona(persona).path).holder
    assert holder is not None
    expected = expected_identity(holder)
    assert expected["birth_date"] == holder.birth_date.isoformat()
    assert judge_identity(dict(expected), expected) == []
    assert judge_identity({}, expected) == []  # nothing reported, nothing judged
    wrong = dict(expected, name=expected["name"].replace("\u3000", " "))
    if wrong["name"] != expected["name"]:
        [finding] = judge_identity(wrong, expected)
        assert finding.oracle == "identity" and "extracted name" in finding.message
    misread = dict(expected, birth_date=(holder.birth_date + dt.timedelta(days=1)).isoformat())
    assert len(judge_identity(misread, expected)) == 1


def test_a_status_word_that_is_not_hex_counts_as_no_response() -> None:
    records = [
        {"direction": "command", "apdu": "00 A4 04 0C"},
        {"direction": "response", "sw": "zz"},
    ]
    assert parse_trace(records).exchanges[0].sw is None  # hypothesis found a ValueError here
