"""`mynasim fuzz rp` without a stack: the session read from a trace, --steps and --kinds, the
cases planned, the faults they arm, the classification of a run, the saved findings."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from conformance.fuzz import rp
from conformance.rp.adapters import CommandAdapter, PythonAdapter
from conformance.rp.check import SoftwareUnderTest, add_rp_check_parser, software_from_args
from conformance.rp.context import ACCEPTED, ERROR, REJECTED, Flow, StepContext, StepOutcome
from conformance.rp.oracles import StepTrace, parse_trace
from conformance.rp.scenarios import ACCEPT as SCENARIO_ACCEPT
from conformance.rp.scenarios import CATALOGUE, RIGHT_VALUES, select
from conformance.rp.thirdparty import PKCS11_TOOL, ThirdPartyAdapter

SELECT_AP = "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01"
SELECT_CERT = "00 A4 02 0C 02 00 0A"
SELECT_PIN = "00 A4 02 0C 02 00 18"
SELECT_KEY = "00 A4 02 0C 02 00 17"
PROBE = "00 20 00 80"
VERIFY_PIN = "00 20 00 80 04 ** ** ** **"
SIGN = "80 2A 00 80 33 " + " ".join(["11"] * 51) + " 00"
HEAD = "30 82 06 6F"
CHUNK = " ".join(["AB"] * 256)
SIGNATURE = " ".join(["5A"] * 256)


def read(offset: int, length: int) -> str:
    return f"00 B0 {offset >> 8:02X} {offset & 0xFF:02X} {length & 0xFF:02X}"


def ok(data: str = "") -> str:
    return f"{data} 90 00".strip()


# the baseline session of a login: (command, response) pairs
SESSION: list[tuple[str, str | None]] = [
    (SELECT_AP, ok()),
    (SELECT_CERT, ok()),
    (read(0, 4), ok(HEAD)),
    (read(4, 256), ok(CHUNK)),
    (read(260, 256), ok(CHUNK)),
    (SELECT_PIN, ok()),
    (PROBE, "63 C3"),
    (VERIFY_PIN, ok()),
    (SELECT_KEY, ok()),
    (SIGN, ok(SIGNATURE)),
]


def records(
    exchanges: Sequence[tuple[str, str | None]], events: dict[int, str] | None = None
) -> list[dict[str, Any]]:
    """Trace records; `events` puts an event before the exchange with that index."""
    out: list[dict[str, Any]] = []
    for index, (command, response) in enumerate(exchanges):
        if events and index in events:
            out.append({"direction": "event", "event": events[index]})
        out.append({"direction": "command", "apdu": command})
        if response is None:
            out.append({"direction": "response", "apdu": None, "sw": None})
        else:
            sw = response.replace(" ", "")[-4:]
            out.append({"direction": "response", "apdu": response, "sw": sw, "meaning": ""})
    return out


def trace_of(
    exchanges: Sequence[tuple[str, str | None]], events: dict[int, str] | None = None
) -> StepTrace:
    return parse_trace(records(exchanges, events))


TARGETS = rp.session_targets(trace_of(SESSION))


def target(label: str) -> rp.Target:
    return next(t for t in TARGETS if t.label == label)


def case(label: str, kind: str, number: int = 1) -> rp.Case:
    return rp.Case(number, "login", target(label), kind)


def with_fault(
    index: int,
    event: str,
    response: str | None,
    tail: Sequence[tuple[str, str | None]] | None = None,
) -> StepTrace:
    """The session with the response of exchange `index` replaced, the fault event before
    it, and the exchanges after it replaced by `tail` (None: as in the baseline)."""
    exchanges = list(SESSION[: index + 1])
    exchanges[index] = (exchanges[index][0], response)
    exchanges += SESSION[index + 1 :] if tail is None else tail
    return trace_of(exchanges, {index: event})


# -- the session ----------------------------------------------------------------------------


def test_the_session_numbers_commands_per_ins() -> None:
    labels = [t.label for t in TARGETS]
    assert labels == [
        "SELECT#1",
        "SELECT#2",
        "READ BINARY#1",
        "READ BINARY#2",
        "READ BINARY#3",
        "SELECT#3",
        "VERIFY#1",
        "VERIFY#2",
        "SELECT#4",
        "COMPUTE DIGITAL SIGNATURE#1",
    ]
    third = target("READ BINARY#3")
    assert (third.position, third.offset, third.file, len(third.data), third.sw) == (
        5,
        260,
        "000A",
        256,
        0x9000,
    )
    assert third.describe() == "READ BINARY#3 (EF 000A @0104, 256 bytes 9000)"
    assert target("VERIFY#1").describe() == "VERIFY#1 (EF 0018 probe, 0 bytes 63C3)"
    assert target("VERIFY#2").carries_pin and not target("VERIFY#1").carries_pin
    assert target("SELECT#1").describe() == "SELECT#1 (AP D392F000260100000001, 0 bytes 9000)"


def test_an_unanswered_command_has_no_response() -> None:
    targets = rp.session_targets(trace_of([(SELECT_AP, ok()), (SIGN, None)]))
    assert targets[1].response is None and targets[1].sw is None
    assert [k for k in rp.KINDS if rp.applicable(k, targets[1])] == ["removal"]


@pytest.mark.parametrize(
    ("steps", "labels"),
    [
        (None, [t.label for t in TARGETS]),
        ("read-binary#3", ["READ BINARY#3"]),
        ("B0#1, sign", ["READ BINARY#1", "COMPUTE DIGITAL SIGNATURE#1"]),
        ("verify", ["VERIFY#1", "VERIFY#2"]),
        ("3,1", ["SELECT#1", "READ BINARY#1"]),  # session order, whatever the order given
        ("0x2a,READ_BINARY#2", ["READ BINARY#2", "COMPUTE DIGITAL SIGNATURE#1"]),
    ],
)
def test_steps_select_targets(steps: str | None, labels: list[str]) -> None:
    chosen = rp.select_targets(TARGETS, rp.parse_steps(steps))
    assert [t.label for t in chosen] == labels


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("read-binary#9", "no command of the session is INS B0#9; the session: SELECT#1"),
        ("99", "no command of the session is position 99"),
        ("C0", "no command of the session is INS C0"),
    ],
)
def test_steps_that_match_nothing_are_errors(steps: str, message: str) -> None:
    with pytest.raises(ValueError, match="--steps") as error:
        rp.select_targets(TARGETS, rp.parse_steps(steps))
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("steps", "message"),
    [("0", "positions start at 1"), ("frob", "neither a position"), ("b0#0", "start at 1")],
)
def test_bad_steps(steps: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rp.parse_steps(steps)


def test_kinds() -> None:
    assert rp.parse_kinds(None) == list(rp.KINDS)
    assert rp.parse_kinds("flip, SW,flip") == ["flip", "sw"]
    with pytest.raises(ValueError, match="unknown kind 'melt'; kinds: sw, truncate"):
        rp.parse_kinds("flip,melt")


# -- cases ------------------------------------------------------------------------------


def test_the_plan_has_every_applicable_kind_per_target() -> None:
    cases = rp.plan_cases(TARGETS, rp.KINDS, "login", first=5)
    by_target: dict[str, list[str]] = {}
    for planned in cases:
        by_target.setdefault(planned.target.label, []).append(planned.kind)
    no_data = ["sw", "flip", "delay", "removal"]
    assert by_target["SELECT#1"] == no_data
    assert by_target["VERIFY#1"] == by_target["VERIFY#2"] == no_data
    not_signatures = [k for k in rp.KINDS if k not in rp.SIGNATURE_KINDS]
    assert by_target["READ BINARY#1"] == not_signatures
    assert by_target["COMPUTE DIGITAL SIGNATURE#1"] == list(rp.KINDS)  # 256 bytes: 6C00
    assert [c.number for c in cases] == list(range(5, 5 + len(cases)))
    assert len(cases) == 6 * 4 + 3 * 8 + 10
    only = rp.plan_cases(TARGETS, ["chain61", "removal"], "sign")
    assert [(c.target.label, c.kind) for c in only][:3] == [
        ("SELECT#1", "removal"),
        ("SELECT#2", "removal"),
        ("READ BINARY#1", "chain61"),
    ]


def test_wrong_le_needs_at_most_256_bytes() -> None:
    big = rp.session_targets(trace_of([("00 B0 00 00 00 00 00", ok(" ".join(["01"] * 300)))]))
    assert not rp.applicable("wrong-le", big[0]) and rp.applicable("chain61", big[0])


def test_the_faults_target_the_occurrence() -> None:
    assert case("READ BINARY#3", "flip").fault.body() == {  # type: ignore[union-attr]
        "ins": "B0",
        "kind": "flip",
        "times": 1,
        "skip": 2,
    }
    assert case("READ BINARY#1", "truncate").fault.body() == {  # type: ignore[union-attr]
        "ins": "B0",
        "kind": "truncate",
        "times": 1,
        "length": 2,
    }
    delay = rp.Case(1, "login", target("SELECT#4"), "delay", 3.5)
    assert delay.fault.body() == {  # type: ignore[union-attr]
        "ins": "A4",
        "kind": "delay",
        "times": 1,
        "seconds": 3.5,
        "skip": 3,
    }
    assert case("COMPUTE DIGITAL SIGNATURE#1", "chain61").fault.body() == {  # type: ignore[union-attr]
        "ins": "2A",
        "kind": "chain61",
        "times": 1,
    }
    removal = case("VERIFY#2", "removal")
    assert removal.fault is None
    assert removal.removal_body() == {"ins": "20", "when": "after", "skip": 1}


@pytest.mark.parametrize(
    ("label", "sw"),
    [
        ("VERIFY#2", "63C2"),  # the PIN: "wrong"
        ("VERIFY#1", "6983"),  # the probe: "blocked"
        ("SELECT#2", "6A82"),
        ("READ BINARY#2", "6F00"),
        ("COMPUTE DIGITAL SIGNATURE#1", "6F00"),
    ],
)
def test_the_status_word_of_an_sw_case(label: str, sw: str) -> None:
    assert rp.fault_sw(target(label)) == sw


def test_an_sw_case_never_sends_the_baseline_sw() -> None:
    failing = rp.session_targets(trace_of([(SELECT_CERT, "6A 82"), (read(0, 4), "6F 00")]))
    assert [rp.fault_sw(t) for t in failing] == ["6F00", "6A82"]


@pytest.mark.parametrize(
    ("label", "kind", "line"),
    [
        ("READ BINARY#3", "flip", "mynasim ctl fault --ins B0 --skip 2 --flip"),
        ("READ BINARY#1", "truncate", "mynasim ctl fault --ins B0 --truncate 2"),
        ("VERIFY#2", "sw", "mynasim ctl fault --ins 20 --skip 1 --sw 63C2"),
        ("SELECT#1", "delay", "mynasim ctl fault --ins A4 --delay 2"),
        ("READ BINARY#2", "wrong-le", "mynasim ctl fault --ins B0 --skip 1 --wrong-le"),
        ("READ BINARY#2", "der", "mynasim ctl fault --ins B0 --skip 1 --der"),
        ("COMPUTE DIGITAL SIGNATURE#1", "removal", "mynasim ctl remove --on-ins 2A"),
        ("READ BINARY#2", "removal", "mynasim ctl remove --on-ins B0 --skip 1"),
    ],
)
def test_ctl_lines(label: str, kind: str, line: str) -> None:
    assert case(label, kind).ctl_line() == line


def test_what_the_case_does() -> None:
    assert case("READ BINARY#1", "der").what() == "READ BINARY#1: DER length octets broken"
    assert case("READ BINARY#2", "der").what() == "READ BINARY#2: first data byte inverted"
    assert case("SELECT#1", "flip").what() == "SELECT#1: last SW2 bit flipped"
    assert case("VERIFY#2", "sw").what() == "VERIFY#2: status word 63C2 instead of 9000"
    assert case("READ BINARY#3", "chain61").what() == ("READ BINARY#3: 6100, data on GET RESPONSE")


# -- classification -------------------------------------------------------------------------

ACCEPT = StepOutcome(ACCEPTED)
REJECT = StepOutcome(REJECTED, "the certificate is not valid")


def test_crash_hang_and_an_uncaught_exception() -> None:
    trace = trace_of(SESSION)
    crashed = StepOutcome(ERROR, "killed by SIGSEGV", extra={"crashed": True})
    assert rp.classify(case("SELECT#1", "flip"), crashed, trace).klass == rp.CRASH
    hung = StepOutcome(ERROR, "no result within 20 s", extra={"hung": 20.0})
    verdict = rp.classify(case("SELECT#1", "delay"), hung, trace)
    assert (verdict.klass, verdict.why) == (rp.HANG, "no result within 20 s")
    raised = StepOutcome(ERROR, "raised IndexError: index out of range")
    verdict = rp.classify(case("SELECT#1", "flip"), raised, trace)
    assert (verdict.klass, verdict.why) == (
        rp.CRASH,
        "uncaught exception: IndexError: index out of range",
    )
    assert not verdict.fired and verdict.notes  # no event in this trace: said so


def test_a_fault_that_never_fired_is_missed() -> None:
    verdict = rp.classify(case("READ BINARY#3", "flip"), ACCEPT, trace_of(SESSION))
    assert (verdict.klass, verdict.fired) == (rp.MISSED, False)


def test_accepting_corrupted_certificate_data_is_wrong_success() -> None:
    flipped = " ".join(["AB"] * 255) + " AA 90 00"
    trace = with_fault(4, "fault: flip on INS B0", flipped)
    verdict = rp.classify(case("READ BINARY#3", "flip"), ACCEPT, trace)
    assert verdict.klass == rp.WRONG_SUCCESS and verdict.fired
    assert verdict.why == "accepted although READ BINARY#3: last data bit flipped"
    assert verdict.sent == bytes.fromhex(flipped)
    assert rp.classify(case("READ BINARY#3", "flip"), REJECT, trace).klass == rp.OK


def test_reading_the_cut_bytes_again_is_recovery() -> None:
    cut = " ".join(["AB"] * 128) + " 90 00"
    reread = [(read(388, 128), ok(" ".join(["AB"] * 128))), *SESSION[5:]]
    trace = with_fault(4, "fault: truncate 128 bytes on INS B0", cut, reread)
    verdict = rp.classify(case("READ BINARY#3", "truncate"), ACCEPT, trace)
    assert verdict.klass == rp.OK
    assert verdict.notes == [
        "accepted after it read the corrupted bytes 0184-0203 of EF 000A again"
    ]
    partly = [(read(388, 100), ok(" ".join(["AB"] * 100))), *SESSION[5:]]
    trace = with_fault(4, "fault: truncate 128 bytes on INS B0", cut, partly)
    assert rp.classify(case("READ BINARY#3", "truncate"), ACCEPT, trace).klass == rp.WRONG_SUCCESS


def test_sending_the_command_again_is_recovery() -> None:
    again = [(SELECT_CERT, ok()), *SESSION[2:]]
    trace = with_fault(1, "fault: sw 6A82 on INS A4", "6A 82", again)
    verdict = rp.classify(case("SELECT#2", "sw"), ACCEPT, trace)
    assert verdict.klass == rp.OK
    assert verdict.notes == [
        "accepted after it sent the same command again and got the card's answer"
    ]


def test_a_status_word_that_was_no_success_is_not_relied_on() -> None:
    trace = with_fault(6, "fault: flip on INS 20", "63 C2")
    verdict = rp.classify(case("VERIFY#1", "flip"), ACCEPT, trace)
    assert verdict.klass == rp.OK and "already SW 63C3" in verdict.notes[0]


def test_accepting_a_select_that_failed_is_wrong_success() -> None:
    trace = with_fault(0, "fault: flip on INS A4", "90 01")
    assert rp.classify(case("SELECT#1", "flip"), ACCEPT, trace).klass == rp.WRONG_SUCCESS


def test_a_fake_wrong_pin_answer() -> None:
    trace = with_fault(7, "fault: sw 63C2 on INS 20", "63 C2")
    # accepted: the card said the PIN was wrong (the fault's 63C2 is not a spent try)
    assert rp.classify(case("VERIFY#2", "sw"), ACCEPT, trace).klass == rp.WRONG_SUCCESS
    assert rp.classify(case("VERIFY#2", "sw"), REJECT, trace).klass == rp.OK
    retried = [(VERIFY_PIN, ok()), *SESSION[8:]]
    trace = with_fault(7, "fault: sw 63C2 on INS 20", "63 C2", retried)
    verdict = rp.classify(case("VERIFY#2", "sw"), ACCEPT, trace)
    assert verdict.klass == rp.PIN_BUDGET
    assert "again by itself after a wrong-PIN answer (63Cx)" in verdict.why


def test_ignoring_a_blocked_probe_is_pin_budget() -> None:
    trace = with_fault(6, "fault: sw 6983 on INS 20", "69 83")
    verdict = rp.classify(case("VERIFY#1", "sw"), ACCEPT, trace)
    assert verdict.klass == rp.PIN_BUDGET and "blocked" in verdict.why


def test_legal_responses_refused_are_fragile() -> None:
    chained = [("00 C0 00 00 00", ok(SIGNATURE))]
    trace = with_fault(9, "fault: chain61 on INS 2A", "61 00", chained)
    assert rp.classify(case("COMPUTE DIGITAL SIGNATURE#1", "chain61"), ACCEPT, trace).klass == rp.OK
    trace = with_fault(9, "fault: chain61 on INS 2A", "61 00", [])
    verdict = rp.classify(case("COMPUTE DIGITAL SIGNATURE#1", "chain61"), REJECT, trace)
    assert verdict.klass == rp.FRAGILE
    assert verdict.why.startswith("rejected (the certificate is not valid) after a legal response")
    trace = with_fault(2, "fault: delay 2 s on INS B0", ok(HEAD))
    assert rp.classify(case("READ BINARY#1", "delay"), REJECT, trace).klass == rp.FRAGILE


def test_accepting_after_the_card_was_pulled_is_wrong_success() -> None:
    exchanges = list(SESSION)
    exchanges[9] = (SIGN, None)
    trace = trace_of(exchanges, {9: "armed removal on INS 2A (after processing)"})
    removal = case("COMPUTE DIGITAL SIGNATURE#1", "removal")
    assert rp.classify(removal, ACCEPT, trace).klass == rp.WRONG_SUCCESS
    assert rp.classify(removal, StepOutcome(ERROR, "card gone"), trace).klass == rp.OK


def test_not_applicable_is_not_fired() -> None:
    trace = with_fault(0, "fault: der on INS A4 not applicable (no data): unchanged", ok())
    assert not rp.fired(case("SELECT#1", "der"), trace)


# -- findings ---------------------------------------------------------------------------------


def arguments(*argv: str) -> argparse.Namespace:
    return rp.build_parser().parse_args(list(argv))


def test_the_parser_defaults() -> None:
    args = arguments("--rp", "reference")
    assert (args.kinds, args.steps, args.delay, args.timeout, args.max_cases) == (
        None,
        None,
        2.0,
        20.0,
        None,
    )
    assert args.findings == Path("fuzz-rp-findings") and args.persona == "default"
    with pytest.raises(SystemExit):
        arguments("--rp", "reference", "--delay", "500")
    with pytest.raises(SystemExit):
        arguments("--rp", "reference", "--max-cases", "0")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rp", "reference", "--kinds", "melt"], "unknown kind 'melt'"),
        (["--rp", "reference", "--steps", "frob"], "neither a position"),
        (["--rp", "nobody"], "no built-in relying party 'nobody'"),
        (["--command", "x {reader}"], "say which flow"),
        ([], "say what to test"),
    ],
)
def test_bad_arguments_exit_2_before_any_stack(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rp.run(arguments(*argv)) == 2
    assert message in capsys.readouterr().err


def test_a_saved_finding_has_everything_and_no_pin(tmp_path: Path) -> None:
    args = arguments("--command", "my-rp --pin {pin} --reader {reader}", "--flow", "login",
                     "--pin-via", "arg")  # fmt: skip
    software = software_from_args(args)
    flipped = case("READ BINARY#3", "flip", number=7)
    outcome = StepOutcome(ACCEPTED, "logged in with 1234", exit_code=0)
    outcome.stdout_tail = "PIN 1234 accepted; password ABC123; hex 31 32 33 34"
    result = rp.CaseResult(
        flipped,
        rp.WRONG_SUCCESS,
        "accepted although READ BINARY#3: last data bit flipped",
        1.234,
        outcome=outcome,
        transcript=["# FUZZ-0007", "> 00 20 00 80 04 ** ** ** **", "< 90 00 (success)"],
        command=f"my-rp --pin {rp.PIN_EXPANSION} --reader 'Virtual PCD 00 00'",
        sent=bytes.fromhex("AA 90 00"),
    )
    path = rp.save_finding(tmp_path, args, software, result, "default")
    assert path.name == "login-0007-WRONG-SUCCESS-READ-BINARY-3-flip.finding.json"
    text = path.read_text()
    assert "1234" not in text and "ABC123" not in text and "31 32 33 34" not in text
    document = json.loads(text)
    assert document["class"] == rp.WRONG_SUCCESS
    assert document["case"]["target"] == "READ BINARY#3 (EF 000A @0104, 256 bytes 9000)"
    assert document["case"]["fault"] == {"ins": "B0", "kind": "flip", "times": 1, "skip": 2}
    assert document["case"]["sent_response"] == "AA 90 00"
    assert document["outcome"]["exit_code"] == 0
    assert document["transcript"][1] == "> 00 20 00 80 04 ** ** ** **"
    assert document["reproduce"] == (
        "mynasim ctl persona default && mynasim ctl fault --ins B0 --skip 2 --flip && "
        f"my-rp --pin {rp.PIN_EXPANSION} --reader 'Virtual PCD 00 00'"
    )
    assert document["pin"]["variable"] == "MYNASIM_PIN"
    assert 'RIGHT_VALUES["login"] in conformance/rp/scenarios.py' in document["pin"]["value"]
    assert document["software"] == "my-rp"
    assert document["replay"] == (
        "mynasim fuzz rp --flow login --command 'my-rp --pin {pin} --reader {reader}' "
        "--pin-via arg --persona default --steps 'B0#3' --kinds flip --timeout 20"
    )
    (tmp_path / "other.json").write_text("{}")
    rp.clear_findings(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["other.json"]  # only our own files go


def test_the_summary_table() -> None:
    results = [
        rp.CaseResult(case("SELECT#1", "sw"), rp.OK, "", 0.1),
        rp.CaseResult(case("SELECT#1", "delay"), rp.FRAGILE, "", 2.1),
        rp.CaseResult(case("READ BINARY#1", "flip"), rp.WRONG_SUCCESS, "", 0.1),
    ]
    lines = rp.summary_table(results)
    assert lines[:6] == [
        "class          cases",
        "CRASH              0",
        "HANG               0",
        "PIN-BUDGET         0",
        "WRONG-SUCCESS      1",
        "FRAGILE            1",
    ]
    assert "OK                 1" in lines
    assert lines[-4:] == [
        "kind      WRONG-SUCCESS       FRAGILE            OK",
        "sw                    0             0             1",
        "flip                  1             0             0",
        "delay                 0             1             0",
    ]


@pytest.mark.parametrize(
    ("label", "flow", "expected"),
    [
        ("SELECT#1", "login", True),  # the JPKI AP
        ("SELECT#2", "login", True),  # EF 000A: the authentication certificate
        ("SELECT#2", "sign", False),
        ("READ BINARY#2", "login", True),
        ("READ BINARY#2", "sign", False),
        ("VERIFY#2", "login", True),  # EF 0018
        ("VERIFY#2", "sign", False),
        ("SELECT#4", "login", True),  # EF 0017: the authentication key
        ("COMPUTE DIGITAL SIGNATURE#1", "sign", True),
    ],
)
def test_essential_answers(label: str, flow: str, expected: bool) -> None:
    assert rp.essential(target(label), flow) is expected  # type: ignore[arg-type]


def test_other_answers_are_not_essential() -> None:
    session = [
        ("00 A4 04 0C 07 A0 00 00 03 97 42 54", "6A 82"),  # another card driver's probe
        (SELECT_AP, ok()),
        ("00 A4 02 0C 02 00 08", ok()),  # certificate-presence flags
        (read(0, 3), ok("01 01 00")),
        ("00 B0 8A 00 00", ok(CHUNK)),  # SFI 0A: EF 000A
        ("00 20 00 98 04 ** ** ** **", ok()),  # VERIFY with SFI 18: EF 0018
    ]
    targets = rp.session_targets(trace_of(session))
    assert [rp.essential(t, "login") for t in targets] == [False, True, False, False, True, True]


def test_accepting_a_corrupted_optional_answer_is_tolerated() -> None:
    session = [(SELECT_AP, ok()), ("00 A4 02 0C 02 00 08", ok()), (read(0, 3), ok("01 01 00"))]
    flags = rp.session_targets(trace_of(session))[2]
    exchanges = [*session[:2], (read(0, 3), "01 01 00 6F 00"), *SESSION[1:]]
    trace = trace_of(exchanges, {2: "fault: sw 6F00 on INS B0"})
    tolerated = rp.Case(1, "sign", flags, "sw")
    verdict = rp.classify(tolerated, ACCEPT, trace)
    assert verdict.klass == rp.TOLERATED
    assert verdict.why == (
        "accepted after READ BINARY#1: status word 6F00 instead of 9000; the sign does not "
        "depend on that answer"
    )
    assert rp.TOLERATED not in rp.FINDINGS


def test_accepting_without_fetching_announced_data_is_wrong_success() -> None:
    """OpenSC's JPKI driver takes 61 00 to COMPUTE DIGITAL SIGNATURE for success without data."""
    sign = case("COMPUTE DIGITAL SIGNATURE#1", "chain61")
    trace = with_fault(9, "fault: chain61 on INS 2A", "61 00", [])
    verdict = rp.classify(sign, ACCEPT, trace)
    assert verdict.klass == rp.WRONG_SUCCESS
    assert verdict.why == (
        "accepted without ever getting the data: COMPUTE DIGITAL SIGNATURE#1: 6100, data on "
        "GET RESPONSE"
    )
    half = " ".join(["5A"] * 128)
    trace = with_fault(
        9, "fault: chain61 on INS 2A", "61 00", [("00 C0 00 00 80", f"{half} 61 80")]
    )
    assert rp.classify(sign, ACCEPT, trace).klass == rp.WRONG_SUCCESS  # half of it
    resent = [(SIGN, ok(SIGNATURE))]
    trace = with_fault(9, "fault: chain61 on INS 2A", "61 00", resent)
    assert rp.classify(sign, ACCEPT, trace).klass == rp.OK  # asked again instead


def test_wrong_le_needs_the_command_sent_again() -> None:
    head = case("READ BINARY#1", "wrong-le")
    resent = [(read(0, 4), ok(HEAD)), *SESSION[3:]]
    trace = with_fault(2, "fault: wrong-le on INS B0", "6C 04", resent)
    assert rp.classify(head, ACCEPT, trace).klass == rp.OK
    trace = with_fault(2, "fault: wrong-le on INS B0", "6C 04", SESSION[3:])
    assert rp.classify(head, ACCEPT, trace).klass == rp.WRONG_SUCCESS
    assert rp.classify(head, REJECT, trace).klass == rp.FRAGILE
    delay = case("READ BINARY#1", "delay")
    trace = with_fault(2, "fault: delay 2 s on INS B0", ok(HEAD))
    assert rp.classify(delay, ACCEPT, trace).klass == rp.OK


def test_an_optional_answer_never_fetched_is_tolerated() -> None:
    session = [(SELECT_AP, ok()), ("00 A4 02 0C 02 00 08", ok()), (read(0, 3), ok("01 01 00"))]
    flags = rp.session_targets(trace_of(session))[2]
    exchanges = [*session[:2], (read(0, 3), "61 03"), *SESSION[1:]]
    trace = trace_of(exchanges, {2: "fault: chain61 on INS B0"})
    verdict = rp.classify(rp.Case(1, "sign", flags, "chain61"), ACCEPT, trace)
    assert verdict.klass == rp.TOLERATED
    assert verdict.why.endswith("; the sign does not depend on that answer")


def test_the_same_bytes_in_another_file_are_not_a_recovery() -> None:
    session = [(SELECT_AP, ok()), ("00 A4 02 0C 02 00 08", ok()), (read(0, 4), ok("01 01 00 00"))]
    flags = rp.session_targets(trace_of(session))[2]
    other_file = [(SELECT_CERT, ok()), (read(0, 4), ok(HEAD))]
    exchanges = [*session[:2], (read(0, 4), "6C 04"), *other_file]
    trace = trace_of(exchanges, {2: "fault: wrong-le on INS B0"})
    wrong_le = rp.Case(1, "sign", flags, "wrong-le")
    assert not rp.fetched(wrong_le, trace, 2)
    assert rp.classify(wrong_le, ACCEPT, trace).klass == rp.TOLERATED
    exchanges = [*session[:2], (read(0, 4), "6F 00"), *other_file]
    trace = trace_of(exchanges, {2: "fault: sw 6F00 on INS B0"})
    assert rp.recovery(rp.Case(1, "sign", flags, "sw"), trace, 2, None) is None


# -- signature corruptions: empty, other-key ----------------------------------------------------

OTHER_SIGNATURE = " ".join(["A5"] * 256)


def test_signature_kinds_apply_to_a_signature_only() -> None:
    for kind in rp.SIGNATURE_KINDS:
        assert [t.label for t in TARGETS if rp.applicable(kind, t)] == [
            "COMPUTE DIGITAL SIGNATURE#1"
        ]
    refused = rp.session_targets(trace_of([(SIGN, "69 82")]))[0]
    assert not rp.applicable("empty", refused) and not rp.applicable("other-key", refused)


@pytest.mark.parametrize(
    ("kind", "line", "what"),
    [
        ("empty", "mynasim ctl fault --ins 2A --empty", "9000 without the 256 signature bytes"),
        (
            "other-key",
            "mynasim ctl fault --ins 2A --other-key",
            "the signature of the other JPKI key (EF 001A) over the same data",
        ),
    ],
)
def test_signature_cases_arm_the_card_fault(kind: str, line: str, what: str) -> None:
    signature = case("COMPUTE DIGITAL SIGNATURE#1", kind)
    assert signature.fault is not None
    assert signature.fault.body() == {"ins": "2A", "kind": kind, "times": 1}
    assert signature.ctl_line() == line
    assert signature.what() == f"COMPUTE DIGITAL SIGNATURE#1: {what}"


@pytest.mark.parametrize(("kind", "sent"), [("empty", ok()), ("other-key", ok(OTHER_SIGNATURE))])
def test_accepting_a_corrupted_signature_is_wrong_success(kind: str, sent: str) -> None:
    signature = case("COMPUTE DIGITAL SIGNATURE#1", kind)
    trace = with_fault(9, f"fault: {kind} on INS 2A", sent)
    assert rp.fired(signature, trace)
    verdict = rp.classify(signature, ACCEPT, trace)
    assert verdict.klass == rp.WRONG_SUCCESS
    assert verdict.why == f"accepted although {signature.what()}"
    assert verdict.sent == bytes.fromhex(sent)
    assert rp.classify(signature, REJECT, trace).klass == rp.OK
    missed = with_fault(9, f"fault: {kind} on INS 2A not applicable (no data): unchanged", sent)
    assert rp.classify(signature, REJECT, missed).klass == rp.MISSED


def test_asking_for_the_signature_again_is_recovery() -> None:
    other_key = case("COMPUTE DIGITAL SIGNATURE#1", "other-key")
    again = [(SIGN, ok(SIGNATURE))]
    trace = with_fault(9, "fault: other-key on INS 2A", ok(OTHER_SIGNATURE), again)
    verdict = rp.classify(other_key, ACCEPT, trace)
    assert verdict.klass == rp.OK
    assert verdict.notes == [
        "accepted after it sent the same command again and got the card's answer"
    ]


# -- the hint when a baseline is refused -----------------------------------------------------


def test_the_baseline_scenarios_are_the_flows_correct_runs() -> None:
    for flow, identifier in rp.BASELINE_SCENARIOS.items():
        (scenario,) = [s for s in CATALOGUE if s.id == identifier]
        (step,) = scenario.steps
        assert scenario.flows == (flow,) and step.typed == "right"
        assert step.expect[flow] == SCENARIO_ACCEPT and step.fault is None


@pytest.mark.parametrize(
    ("argv", "flow", "hint"),
    [
        (
            ["--rp", "reference"],
            "login",
            "mynasim rp-check --scenario RP-PIN-001 --flow login --rp reference --timeout 20",
        ),
        (
            ["--rp", "reference:no-signature-check", "--timeout", "7.5"],
            "sign",
            "mynasim rp-check --scenario RP-PIN-002 --flow sign --rp reference:no-signature-check "
            "--timeout 7.5",
        ),
        (
            ["--command", "my-signer --in {data_file} --reader {reader}", "--flow", "sign",
             "--pin-via", "stdin"],
            "sign",
            "mynasim rp-check --scenario RP-PIN-002 --flow sign --command "
            "'my-signer --in {data_file} --reader {reader}' --pin-via stdin --timeout 20",
        ),
        (
            ["--command", "login \"two words\" {pin}", "--flow", "login", "--pin-via", "arg"],
            "login",
            "mynasim rp-check --scenario RP-PIN-001 --flow login --command "
            "'login '\"'\"'two words'\"'\"' {pin}' --pin-via arg --timeout 20",
        ),
        (
            ["--python", "my_rp:login", "--flow", "login"],
            "login",
            "mynasim rp-check --scenario RP-PIN-001 --flow login --python my_rp:login --timeout 20",
        ),
    ],
)  # fmt: skip
def test_the_baseline_hint_is_a_command_rp_check_takes(
    argv: list[str], flow: Flow, hint: str
) -> None:
    args = arguments(*argv)
    software = software_from_args(args) if args.python is None else stub_software(args, flow)
    assert rp.baseline_hint(args, software, flow) == hint
    words = shlex.split(hint)
    assert words[:2] == ["mynasim", "rp-check"]
    parsed = rp_check_arguments(words[2:])
    (scenario,) = select(parsed.scenarios)
    assert scenario.id == rp.BASELINE_SCENARIOS[flow] and parsed.flows == [flow]
    if args.python is None:
        again = software_from_args(parsed)
        assert again.flows == (flow,)
        assert type(again.adapter) is type(software.adapter)
        command = rp.command_of(software.adapter, flow)
        if command is not None:  # the same program with the same arguments
            assert rp.command_of(again.adapter, flow).argv == command.argv  # type: ignore[union-attr]


def stub_software(args: argparse.Namespace, flow: Flow) -> SoftwareUnderTest:
    """A --python software without importing the callable."""
    return SoftwareUnderTest(PythonAdapter(lambda _context: {}), "python", (flow,), args.python)


def rp_check_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mynasim")
    add_rp_check_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["rp-check", *argv])


class RefusingWorld:
    """An RpWorld whose software refuses the baseline (no stack)."""

    timeout = 20.0

    def run(self, adapter: object, scenario: object, flow: str) -> object:
        outcome = StepOutcome(REJECTED, "the reader is not found")
        record = types.SimpleNamespace(outcome=outcome, trace=trace_of([]), context=None)
        return types.SimpleNamespace(
            steps=[record], message="", duration=0.1, transcript=lambda: ["# FUZZ-BASELINE"]
        )


def test_a_refused_baseline_prints_the_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = arguments("--rp", "reference", "--flow", "sign", "--findings", str(tmp_path / "f"))
    status = rp.run(args, out=lambda _line: None, world=RefusingWorld())  # type: ignore[arg-type]
    assert status == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "mynasim fuzz rp: error: the baseline (sign, right PIN, no fault) was not accepted: "
        "rejected (the reader is not found); fix that first; this plays it with reports and "
        "the transcript:"
    )
    assert err[1] == (
        "  mynasim rp-check --scenario RP-PIN-002 --flow sign --rp reference --timeout 20"
    )
    assert "RP-PIN-001/002" not in "\n".join(err)


# -- reproduce lines: pasteable, the PIN from $MYNASIM_PIN, never its value ------------------

# prints what it got of the PIN: argv[1] (arg), one stdin line (stdin) or MYNASIM_PIN (env)
ECHO = (
    "import os, sys; "
    "via = sys.argv[1]; "
    "got = {'arg': sys.argv[-1], 'stdin': sys.stdin.readline().rstrip('\\n'), "
    "'env': os.environ.get('MYNASIM_PIN')}[via]; "
    "print('reader=' + os.environ['MYNASIM_READER']); "
    "print('pin=' + got)"
)


def step_context(workdir: Path, flow: Flow) -> StepContext:
    return StepContext(
        scenario="FUZZ-0007",
        step=1,
        flow=flow,
        reader="Virtual PCD 00 00",
        pin=RIGHT_VALUES[flow],
        now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        challenge=bytes(range(32)),
        workdir=workdir,
        data_file=workdir / "application.json",
        pdf=workdir / "document.pdf",
        auth_roots=workdir / "auth roots.pem",
        sign_roots=workdir / "sign-roots.pem",
        pkcs11_module="/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
        pki_url="http://127.0.0.1:35980",
        timeout=20.0,
    )


def run_line(line: str, pin: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MYNASIM_PIN"}
    if pin is not None:
        env["MYNASIM_PIN"] = pin  # set in the shell, as the finding says: export MYNASIM_PIN=...
    return subprocess.run(
        ["bash", "-c", line], env=env, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize(
    ("pin_via", "tail"),
    [
        ("arg", "--pin {pin}"),
        ("arg", "--pin={pin}"),
        ("arg", "{pin}"),
        ("stdin", ""),
        ("env", ""),
    ],
)
@pytest.mark.parametrize("flow", ["login", "sign"])
def test_the_reproduce_command_expands_the_pin_variable(
    tmp_path: Path, pin_via: str, tail: str, flow: Flow
) -> None:
    template = f"{shlex.quote(sys.executable)} -c {shlex.quote(ECHO)} {pin_via} {tail}".strip()
    adapter = CommandAdapter(template, pin_via=pin_via)
    line = rp.pasteable_command(adapter, step_context(tmp_path, flow))
    assert line is not None
    value = RIGHT_VALUES[flow]
    assert value not in line and "****" not in line and rp.PIN_EXPANSION in line
    done = run_line(line, value)
    assert done.returncode == 0, done.stderr
    expected = f"pin={'--pin=' if tail == '--pin={pin}' else ''}{value}"
    assert done.stdout.splitlines() == ["reader=Virtual PCD 00 00", expected]
    unset = run_line(line, None)  # no PIN set: the shell stops and says what to do
    assert unset.returncode != 0 and "pin=" not in unset.stdout
    assert "MYNASIM_PIN: set MYNASIM_PIN first: the finding says which value" in unset.stderr


def test_the_reproduce_command_sets_every_step_variable(tmp_path: Path) -> None:
    context = step_context(tmp_path, "login")
    line = rp.pasteable_command(CommandAdapter("env", pin_via="env"), context)
    assert line is not None
    done = run_line(line, RIGHT_VALUES["login"])
    variables = dict(entry.split("=", 1) for entry in done.stdout.splitlines() if "=" in entry)
    for name, value in context.placeholders().items():
        if name != "pin":
            assert variables[f"MYNASIM_{name.upper()}"] == value
    assert variables["MYNASIM_PIN"] == RIGHT_VALUES["login"]
    assert variables["MYNASIM_AUTH_ROOTS"] == str(tmp_path / "auth roots.pem")


def test_only_commands_have_a_reproduce_command(tmp_path: Path) -> None:
    context = step_context(tmp_path, "sign")
    assert rp.pasteable_command(PythonAdapter(lambda _context: {}), context) is None
    party = ThirdPartyAdapter(PKCS11_TOOL)  # one command per flow, the PIN as an argument
    line = rp.pasteable_command(party, context)
    assert line is not None and f"--pin {rp.PIN_EXPANSION} --sign" in line
    assert RIGHT_VALUES["sign"] not in line


@pytest.mark.parametrize("flow", ["login", "sign"])
def test_the_finding_says_which_pin_to_set(flow: Flow) -> None:
    document = rp.pin_document(flow)
    text = json.dumps(document)
    assert RIGHT_VALUES[flow] not in text
    env = {k: v for k, v in os.environ.items() if k != "MYNASIM_PIN"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", document["set"] + ' && test "$MYNASIM_PIN" = "$EXPECTED"'],
        env={**env, "EXPECTED": RIGHT_VALUES[flow]},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
