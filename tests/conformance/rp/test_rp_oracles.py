"""The oracles judge traces made by a real in-process card through the trace writer's records."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from conformance.rp.context import ACCEPTED, ERROR, REJECTED, Flow, StepOutcome
from conformance.rp.identity import PERSONAL_DATA_ARC, read_basic_four
from conformance.rp.oracles import (
    FAIL,
    NOTE,
    card_signatures,
    derived_from,
    expected_identity,
    judge_data_minimisation,
    judge_evidence,
    judge_identity,
    judge_outcome,
    judge_pin_budget,
    parse_trace,
    reports_identity,
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


@pytest.mark.parametrize("persona", ["default", "era-meiji", "foreign-resident"])
def test_identity_under_the_certificates_own_oids_is_judged_with_raw_values(persona: str) -> None:
    holder = read_persona_document(load_persona(persona).path).holder
    assert holder is not None
    expected = expected_identity(holder)
    signature = load_persona(persona).sign.certificate
    assert signature is not None
    four = read_basic_four(x509.load_der_x509_certificate(signature))
    as_software_reads_it = {
        f"{PERSONAL_DATA_ARC}.1": four.name,
        f"{PERSONAL_DATA_ARC}.2": four.name_substitution,
        f"{PERSONAL_DATA_ARC}.3": four.sex,
        f"{PERSONAL_DATA_ARC}.4": four.birth_date,  # EYYYYMMDD, as the certificate holds it
        f"{PERSONAL_DATA_ARC}.5": four.address,
        f"{PERSONAL_DATA_ARC}.6": four.address_substitution,
    }
    assert reports_identity(as_software_reads_it)
    assert judge_identity(as_software_reads_it, expected) == []
    iso = dict(as_software_reads_it, **{f"{PERSONAL_DATA_ARC}.4": holder.birth_date.isoformat()})
    [finding] = judge_identity(iso, expected)
    assert finding.severity == FAIL and "birth_date (1.2.392.200149.8.5.5.4)" in finding.message


def test_unrecognised_identity_keys_are_named_not_ignored() -> None:
    holder = read_persona_document(load_persona("default").path).holder
    assert holder is not None
    reported = {"shimei": holder.name, "jusho": holder.address}
    assert not reports_identity(reported)
    [finding] = judge_identity(reported, expected_identity(holder))
    assert finding.severity == NOTE
    assert finding.message.startswith("unrecognised identity keys: shimei, jusho")
    assert judge_identity({"subject": "CN=x", "serial": "01"}, expected_identity(holder)) == []


# ----------------------------------------------------------------------------- evidence

NONCE = b"nonce"


def accepted(signature: bytes | None = None) -> StepOutcome:
    return StepOutcome(ACCEPTED, "logged in", signature=signature)


def certificate(persona: str, flow: str) -> bytes:
    spec = load_persona(persona)
    der = spec.auth.certificate if flow == "login" else spec.sign.certificate
    assert der is not None
    return der


def evidence(
    session: Session,
    outcome: StepOutcome,
    *,
    flow: Flow = "login",
    message: bytes | None = NONCE,
    persona: str = "default",
) -> list[tuple[str, str]]:
    trace = parse_trace(session.records)
    given = None if message is None else [message]
    found = judge_evidence(
        trace, flow, outcome, message=given, certificate=certificate(persona, flow)
    )
    return [(f.severity, f.message) for f in found]


def last_signature(session: Session) -> bytes:
    [*_, last] = card_signatures(parse_trace(session.records))
    return last.signature


def test_a_real_login_is_evidence_and_its_signature_checks_out() -> None:
    session = Session()
    session.login()
    assert evidence(session, accepted()) == []
    assert evidence(session, accepted(last_signature(session))) == []
    # a rejection needs no evidence
    assert evidence(Session(), StepOutcome(REJECTED, "no")) == []


def test_accepted_without_touching_the_card_fails() -> None:
    assert evidence(Session(), accepted()) == [
        (FAIL, "accepted, but the card never signed in this step")
    ]


def test_reading_the_certificate_only_is_no_login() -> None:
    session = Session()
    session.send(JPKI)
    session.send("00A4020C02000A")
    assert session.send("00B0000004") == 0x9000
    [(severity, message)] = evidence(session, accepted())
    assert severity == FAIL and "never signed" in message


def test_accepted_after_a_wrong_pin_fails() -> None:
    session = Session()
    session.login(b"9999")  # the card refuses the signature (6982)
    assert evidence(session, accepted()) == [
        (FAIL, "accepted, but the card never signed in this step")
    ]


def test_a_signature_with_the_other_flows_key_is_named() -> None:
    session = Session()
    session.send(JPKI)
    session.verify("001B", b"ABC123")
    session.send("00A4020C02001A")
    sign_with_current_key(session, DIGEST_INFO + hashlib.sha256(NONCE).digest())
    [(severity, message)] = evidence(session, accepted())
    assert severity == FAIL
    assert message == (
        "accepted, but the card never signed in this step with the authentication key "
        "(only with the signature key)"
    )


def test_a_pin_verified_only_after_the_signature_is_not_evidence() -> None:
    session = Session()
    session.login()
    session.verify("0018", b"1234")  # a second VERIFY after the signature is fine
    assert evidence(session, accepted()) == []
    records = session.records
    # the same exchanges with the VERIFY cut out: a signature the trace cannot explain
    cut = [r for r in records if "00 20 00 80 04" not in str(r.get("apdu", ""))]
    trace = parse_trace(cut)
    [finding] = judge_evidence(trace, "login", accepted(), message=[NONCE], certificate=None)
    assert "was never verified in this step before the card signed" in finding.message


def sign_with_current_key(session: Session, data: bytes, p1: int = 0, p2: int = 0x80) -> int:
    return session.send(bytes([0x80, 0x2A, p1, p2, len(data)]) + data + b"\x00")


def test_a_fixed_value_signed_instead_of_the_challenge_fails() -> None:
    session = Session()
    session.login()  # signs DigestInfo(SHA-256(b"nonce"))
    assert evidence(session, accepted(), message=b"the server's challenge") == [
        (FAIL, "the card signed something other than the challenge")
    ]
    sign = evidence(session, accepted(), flow="login", message=None)
    assert [severity for severity, _ in sign] == [NOTE]


@pytest.mark.parametrize(
    ("p1", "data"),
    [
        (0x00, DIGEST_INFO + hashlib.sha256(NONCE).digest()),
        (0x01, NONCE),
        (0x02, hashlib.sha256(NONCE).digest()),
        (0x03, NONCE),
        (0x04, hashlib.sha256(NONCE).digest()),
        (0x05, NONCE),
    ],
)
def test_every_signature_scheme_counts_as_bound_to_the_challenge(p1: int, data: bytes) -> None:
    session = Session()
    session.send(JPKI)
    session.verify("0018", b"1234")
    assert sign_with_current_key(session, data, p1=p1, p2=0x97) == 0x9000  # key by SFI 17
    assert evidence(session, accepted(last_signature(session))) == []


def test_a_replayed_signature_fails() -> None:
    earlier = Session()
    earlier.login()
    old = last_signature(earlier)
    session = Session()
    session.send(JPKI)
    session.verify("0018", b"1234")
    session.send("00A4020C020017")
    fresh = b"a fresh nonce"
    sign_with_current_key(session, DIGEST_INFO + hashlib.sha256(fresh).digest())
    assert evidence(session, accepted(old), message=fresh) == [
        (FAIL, "the reported signature is not one the card made in this step (replayed?)")
    ]


def test_a_reported_signature_is_verified_with_the_cards_certificate() -> None:
    session = Session()
    session.login()
    mine = last_signature(session)
    trace = parse_trace(session.records)
    other = certificate("other-hierarchy", "login")  # not this card's key
    [finding] = judge_evidence(trace, "login", accepted(mine), message=[NONCE], certificate=other)
    assert finding.message == "the reported signature does not verify with the card's certificate"


def test_a_signature_in_parts_61xx_is_joined() -> None:
    session = Session()
    session.login()
    records = session.records[:-1]  # the signature answer, split as a card may send it
    signature = last_signature(session)
    records += [
        response_record(0, signature[:200] + b"\x61\x38"),
        command_record(0, bytes.fromhex("00C0000038")),
        response_record(0, signature[200:] + b"\x90\x00"),
    ]
    [joined] = card_signatures(parse_trace(records))
    assert joined.signature == signature and joined.key == "0017"
    trace = parse_trace(records)
    assert (
        judge_evidence(trace, "login", accepted(signature), message=[NONCE], certificate=None) == []
    )


@given(st.binary(max_size=300), st.sampled_from(["sha1", "sha256", "sha384", "sha512"]))
def test_derived_from_accepts_the_value_its_hashes_and_their_digest_infos(
    value: bytes, name: str
) -> None:
    digest = hashlib.new(name, value).digest()
    oid = {"sha1": "2b0e03021a", "sha256": "608648016503040201", "sha384": "608648016503040202",
           "sha512": "608648016503040203"}[name]  # fmt: skip
    algorithm = bytes.fromhex("06") + bytes([len(oid) // 2]) + bytes.fromhex(oid) + b"\x05\x00"
    algorithm = b"\x30" + bytes([len(algorithm)]) + algorithm
    body = algorithm + b"\x04" + bytes([len(digest)]) + digest
    digest_info = b"\x30" + bytes([len(body)]) + body
    for form in (value, digest, digest_info):
        assert derived_from(form, value)
    assert not derived_from(hashlib.sha256(value + b"!").digest(), value)
    assert not derived_from(digest_info[:-1] + bytes([digest_info[-1] ^ 1]), value)


# ------------------------------------------------------------------- data minimisation


def test_an_attempt_to_select_a_card_info_ap_is_a_finding_whatever_the_card_says() -> None:
    session = Session("expired")  # a card without the card-info applications
    session.send(JPKI)
    assert session.send(TEXT_AP) == 0x6A82
    [finding] = judge_data_minimisation(parse_trace(session.records), "login")
    assert finding.severity == FAIL
    assert finding.message == (
        "tried to select the 券面事項入力補助AP (card-info text AP) (the card answered 6A82), "
        "which a login does not need"
    )


def test_a_login_that_signs_the_challenges_hex_text_is_bound_to_it() -> None:
    """`{challenge}` hands the software hex text; signing that text is signing the challenge."""
    challenge = bytes(range(32))
    session = Session()
    session.send(JPKI)
    session.verify("0018", b"1234")
    session.send("00A4020C020017")
    text = challenge.hex().encode()
    sign_with_current_key(session, DIGEST_INFO + hashlib.sha256(text).digest())
    trace = parse_trace(session.records)
    forms = [challenge, text]
    assert judge_evidence(trace, "login", accepted(), message=forms, certificate=None) == []
    [finding] = judge_evidence(trace, "login", accepted(), message=[challenge], certificate=None)
    assert finding.message == "the card signed something other than the challenge"
