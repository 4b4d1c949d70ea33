"""`mynasim fuzz rp`: fuzz relying-party software through the real PC/SC stack.

    mynasim fuzz rp --rp reference --flow login
    mynasim fuzz rp --rp pkcs11-tool --flow sign --kinds sw,flip --steps read-binary
    mynasim fuzz rp --command 'my-login --reader {reader}' --flow login --pin-via stdin

State-aware response fuzzing (prior-art.md section 5, idea 2): the card plays a correct
session up to a chosen command and corrupts ONLY that command's response; the software under
test runs once per case, through pcscd and vpcd, exactly as `mynasim rp-check` runs it.

1. Baseline: the software runs once with the right PIN and no fault (a synthesized scenario,
   persona --persona, one step expecting acceptance). Its APDU trace is the session: every
   command with its INS and occurrence (SELECT#1, READ BINARY#3, VERIFY#2, ...). A baseline
   that is not accepted stops the run (exit status 2).
2. Cases: for each targeted command and each kind that applies to its baseline response, a
   fresh card (persona switch), the fault armed with ``skip`` = occurrence - 1 (or the card
   pulled on that command: kind ``removal``), one run, one class:

   CRASH          killed by a signal (a command), or an uncaught exception (a Python callable)
   HANG           no result within --timeout
   PIN-BUDGET     the PIN-budget oracle fails (e.g. the PIN sent again after a 63Cx answer);
                  a 63Cx the fault itself put on the VERIFY is not counted as a spent try
   WRONG-SUCCESS  accepted although the corrupted response (kinds sw, truncate, flip, der;
                  for COMPUTE DIGITAL SIGNATURE also empty = a bare 9000 without signature
                  bytes, other-key = the signature of the card's other JPKI key over the
                  same data, well-formed but not verifying under the flow's certificate),
                  the pulled card (removal), or a legal 61xx / 6Cxx whose data it never
                  fetched (chain61, wrong-le) left it without the card's real answer to a
                  command the flow depends on (`essential`: the JPKI AP's SELECT, the flow's
                  certificate, PIN and key EFs, its certificate's READ BINARYs, its PIN's
                  VERIFY, COMPUTE DIGITAL SIGNATURE): the data changed, or a 9000 became
                  something else; not when the software fetched the corrupted bytes again
                  (the same command resent, or READ BINARYs covering them)
   FRAGILE        not accepted after a legal response (delay, chain61 = 61xx + GET RESPONSE,
                  wrong-le = 6Cxx + resend): reported, not counted as a failure
   TOLERATED      accepted after a corrupted answer the flow does not depend on (e.g. the
                  certificate-presence flags EF 0008, the token information, another
                  application): not a finding; listed in summary.json
   OK             anything else (e.g. rejected after a corruption); MISSED: the fault never
                  fired (the session took another path); HARNESS: the stack failed

3. Every finding (CRASH, HANG, PIN-BUDGET, WRONG-SUCCESS, FRAGILE) is saved to --findings DIR
   as one JSON file: the case, the class and why, the outcome (reason, exit status, stdout and
   stderr tails), the scenario transcript (APDU trace), and a reproduction line (`mynasim ctl`
   + the command line, which takes the PIN from $MYNASIM_PIN: the finding's `pin` says which
   value to set) with the `mynasim fuzz rp` line that replays the case. PIN values are never
   written (the trace shows them as **). DIR/summary.json lists every case.

Exit status: 1 when a CRASH, HANG, PIN-BUDGET or WRONG-SUCCESS was found, else 0 (2: bad
arguments, a stack that cannot start, a baseline not accepted, or harness failures only).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import re
import shlex
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.report import redact_text
from conformance.rp.adapters import AdapterError, CommandAdapter
from conformance.rp.check import (
    SoftwareUnderTest,
    add_software_arguments,
    seconds_argument,
    software_from_args,
)
from conformance.rp.context import ACCEPTED, ERROR, FLOWS, Adapter, Flow, StepContext, StepOutcome
from conformance.rp.oracles import (
    FAIL,
    FLOW_PIN,
    INS_READ_BINARY,
    INS_SELECT,
    INS_SIGN,
    INS_VERIFY,
    JPKI_AID,
    Exchange,
    StepTrace,
    judge_pin_budget,
)
from conformance.rp.scenarios import ACCEPT, RIGHT_VALUES, Fault, Scenario, Step
from simulator.service.slot import MAX_DELAY, der_length_octets

if TYPE_CHECKING:
    from conformance.rp.harness import RpWorld, ScenarioRun, StepRecord

KINDS = (
    "sw", "truncate", "flip", "der", "empty", "other-key", "chain61", "wrong-le", "delay",
    "removal",
)  # fmt: skip
LEGAL_KINDS = ("delay", "chain61", "wrong-le")  # legal ISO 7816 behaviour: FRAGILE if refused
DATA_KINDS = ("truncate", "der", "chain61", "wrong-le")  # need response data to work on
# corruptions of a signature (COMPUTE DIGITAL SIGNATURE answered with data and 9000 only):
# `empty` = a bare 9000, no signature bytes (a torn answer); `other-key` = the signature the
# card's OTHER JPKI key makes over the same data (0017 <-> 001A): well-formed, wrong key
SIGNATURE_KINDS = ("empty", "other-key")
OTHER_KEY = {"0017": "001A", "001A": "0017"}

CRASH = "CRASH"
HANG = "HANG"
PIN_BUDGET = "PIN-BUDGET"
WRONG_SUCCESS = "WRONG-SUCCESS"
FRAGILE = "FRAGILE"
TOLERATED = "TOLERATED"
OK = "OK"
MISSED = "MISSED"
HARNESS = "HARNESS"
CLASSES = (CRASH, HANG, PIN_BUDGET, WRONG_SUCCESS, FRAGILE, TOLERATED, OK, MISSED, HARNESS)
FINDINGS = (CRASH, HANG, PIN_BUDGET, WRONG_SUCCESS, FRAGILE)  # saved
FAILING = (CRASH, HANG, PIN_BUDGET, WRONG_SUCCESS)  # exit status 1

DEFAULT_FINDINGS = Path("fuzz-rp-findings")
DEFAULT_TIMEOUT = 20.0
DEFAULT_DELAY = 2.0
SLOT = 0
INS_GET_RESPONSE = 0xC0
# the `mynasim rp-check` scenario each flow's baseline is made like: a fresh card, the right
# value typed once, accepted (the hint printed when a baseline is refused)
BASELINE_SCENARIOS: dict[Flow, str] = {"login": "RP-PIN-001", "sign": "RP-PIN-002"}
FINDING_SUFFIX = ".finding.json"
# The JPKI files a flow depends on: its certificate, its PIN, its key (the signature itself is
# the answer of COMPUTE DIGITAL SIGNATURE). Other answers (the certificate-presence flags EF
# 0008, the token information, CA certificates, other applications, probes of other card
# drivers) are ones a correct relying party may treat as optional.
FLOW_FILES: dict[Flow, dict[str, str]] = {
    "login": {"certificate": "000A", "PIN": FLOW_PIN["login"], "key": "0017"},
    "sign": {"certificate": "0001", "PIN": FLOW_PIN["sign"], "key": "001A"},
}

INS_LABELS = {
    0xA4: "SELECT",
    0xB0: "READ BINARY",
    0xB1: "READ BINARY (odd)",
    0xB2: "READ RECORD",
    0x20: "VERIFY",
    0x2A: "COMPUTE DIGITAL SIGNATURE",
    0x88: "INTERNAL AUTHENTICATE",
    0x84: "GET CHALLENGE",
    0xC0: "GET RESPONSE",
    0xCA: "GET DATA",
    0xCB: "GET DATA (odd)",
    0x22: "MANAGE SECURITY ENVIRONMENT",
}
STEP_NAMES = {
    "select": 0xA4,
    "read-binary": 0xB0,
    "verify": 0x20,
    "sign": 0x2A,
    "get-response": 0xC0,
    "get-data": 0xCA,
}


# ----------------------------------------------------------------------------- the session


@dataclass(frozen=True)
class Target:
    """One command of the baseline session, whose response a case corrupts."""

    position: int  # 1-based, in the session
    ins: int
    occurrence: int  # 1-based among the session's commands with this INS
    command: bytes  # as traced: PIN bytes are 00
    command_text: str  # as traced: PIN bytes are **
    response: bytes | None  # the baseline response, data + SW (None: none was recorded)
    ap: bytes | None = None
    ef: str | None = None

    @property
    def name(self) -> str:
        return INS_LABELS.get(self.ins, f"INS {self.ins:02X}")

    @property
    def label(self) -> str:
        return f"{self.name}#{self.occurrence}"

    @property
    def data(self) -> bytes:
        return b"" if self.response is None else self.response[:-2]

    @property
    def sw(self) -> int | None:
        if self.response is None or len(self.response) < 2:
            return None
        return int.from_bytes(self.response[-2:], "big")

    @property
    def carries_pin(self) -> bool:
        """A VERIFY with data (the PIN itself), not the data-less tries probe."""
        return self.ins == INS_VERIFY and len(self.command) > 5 and self.command[4] != 0

    @property
    def offset(self) -> int | None:
        """READ BINARY: the offset in the EF (P1 bit 8 set: SFI in P1, offset P2)."""
        if self.ins != INS_READ_BINARY or len(self.command) < 4:
            return None
        p1, p2 = self.command[2], self.command[3]
        return p2 if p1 & 0x80 else (p1 << 8) | p2

    @property
    def file(self) -> str | None:
        """READ BINARY: the EF read (the selected one, or the SFI of P1)."""
        if self.ins != INS_READ_BINARY or len(self.command) < 4:
            return None
        if self.command[2] & 0x80:
            return f"SFI {self.command[2] & 0x1F:02X}"
        return self.ef

    def describe(self) -> str:
        details: list[str] = []
        if self.ins == INS_SELECT and len(self.command) > 5:
            body = self.command[5 : 5 + self.command[4]]
            details.append(("AP " if self.command[2] == 0x04 else "EF ") + body.hex().upper())
        elif self.ins == INS_READ_BINARY:
            details.append(f"EF {self.file or '?'} @{self.offset or 0:04X}")
        elif self.ins == INS_VERIFY:
            details.append(f"EF {self.ef or '?'} " + ("PIN" if self.carries_pin else "probe"))
        if self.response is not None:
            sw = self.sw
            details.append(f"{len(self.data)} bytes {sw:04X}" if sw is not None else "?")
        return f"{self.label} ({', '.join(details)})" if details else self.label


def _bytes_of(text: str | None) -> bytes | None:
    if not text:
        return None
    try:
        return bytes(int(part, 16) for part in text.split())
    except ValueError:
        return None


def session_targets(trace: StepTrace) -> list[Target]:
    """Every command of a recorded session, numbered per INS."""
    seen: Counter[int] = Counter()
    targets = []
    for position, exchange in enumerate(trace.exchanges, 1):
        if len(exchange.command) < 4:
            continue
        seen[exchange.ins] += 1
        targets.append(
            Target(
                position=position,
                ins=exchange.ins,
                occurrence=seen[exchange.ins],
                command=exchange.command,
                command_text=exchange.text,
                response=_bytes_of(exchange.response_text),
                ap=exchange.ap,
                ef=exchange.ef,
            )
        )
    return targets


_STEP = re.compile(r"^(?P<ins>[a-z0-9-]+?)(?:#(?P<n>[0-9]+))?$")


def parse_steps(text: str | None) -> list[tuple[int | None, int | None, int | None]]:
    """--steps: comma-separated `N` (the N-th command of the session), `NAME` or `INS` (every
    command with it) or `NAME#K` / `INS#K` (the K-th of them). NAME: select, read-binary,
    verify, sign, get-response, get-data; INS: one hex byte (B0). Returns (position, ins, k)."""
    if not text:
        return []
    chosen: list[tuple[int | None, int | None, int | None]] = []
    for raw in text.split(","):
        token = raw.strip().lower().replace(" ", "-").replace("_", "-")
        if not token:
            continue
        if token.isdigit():
            if int(token) < 1:
                raise ValueError(f"--steps: positions start at 1, got {raw.strip()!r}")
            chosen.append((int(token), None, None))
            continue
        match = _STEP.match(token)
        if match is None:
            raise ValueError(f"--steps: cannot read {raw.strip()!r}")
        name, number = match["ins"], match["n"]
        if name in STEP_NAMES:
            ins = STEP_NAMES[name]
        elif re.fullmatch(r"(0x)?[0-9a-f]{2}", name):
            ins = int(name.removeprefix("0x"), 16)
        else:
            raise ValueError(
                f"--steps: {raw.strip()!r} is neither a position, a hex INS nor one of "
                + ", ".join(STEP_NAMES)
            )
        if number is not None and int(number) < 1:
            raise ValueError(f"--steps: occurrences start at 1, got {raw.strip()!r}")
        chosen.append((None, ins, None if number is None else int(number)))
    return chosen


def select_targets(
    targets: Sequence[Target], steps: Sequence[tuple[int | None, int | None, int | None]]
) -> list[Target]:
    """The targets --steps names (all when none given), in session order; a step that names
    no command of the session is an error (a typo must not shrink a run silently)."""
    if not steps:
        return list(targets)
    picked: set[int] = set()
    for position, ins, number in steps:
        matched = [
            t.position
            for t in targets
            if (position is None or t.position == position)
            and (ins is None or t.ins == ins)
            and (number is None or t.occurrence == number)
        ]
        if not matched:
            what = f"position {position}" if position is not None else f"INS {ins:02X}"
            if number is not None:
                what += f"#{number}"
            session = ", ".join(t.label for t in targets)
            raise ValueError(
                f"--steps: no command of the session is {what}; the session: {session}"
            )
        picked.update(matched)
    return [t for t in targets if t.position in picked]


# --------------------------------------------------------------------------------- cases


def applicable(kind: str, target: Target) -> bool:
    """Whether a kind changes this target's response (as the slot would apply it)."""
    if kind == "removal":
        return True
    if target.response is None or len(target.response) < 2:
        return False
    if kind in SIGNATURE_KINDS:
        return target.ins == INS_SIGN and bool(target.data) and target.sw == 0x9000
    if kind == "wrong-le":
        return 0 < len(target.data) <= 256
    if kind in DATA_KINDS:
        return bool(target.data)
    return True


def fault_sw(target: Target) -> str:
    """The status word an `sw` case sends: a wrong PIN (63C2) for the PIN's VERIFY, blocked
    (6983) for the tries probe, file not found (6A82) for SELECT, 6F00 otherwise; never the
    baseline's own SW (then 6F00, or 6A82 if that was 6F00)."""
    if target.ins == INS_VERIFY:
        chosen = 0x63C2 if target.carries_pin else 0x6983
    elif target.ins == INS_SELECT:
        chosen = 0x6A82
    else:
        chosen = 0x6F00
    if chosen == target.sw:
        chosen = 0x6A82 if chosen == 0x6F00 else 0x6F00
    return f"{chosen:04X}"


def _sfi_file(sfi: int) -> str:
    return f"{sfi & 0x1F:04X}"  # JPKI: the SFI is the FID's low 5 bits


def essential(target: Target, flow: Flow) -> bool:
    """Whether the flow depends on this answer: the SELECT of the JPKI AP; in it, the SELECT
    of the flow's certificate, PIN or key EF, the READ BINARYs of its certificate, the VERIFY
    of its PIN, and COMPUTE DIGITAL SIGNATURE."""
    files = set(FLOW_FILES[flow].values())
    command = target.command
    if target.ins == INS_SELECT and len(command) > 5:
        body = command[5 : 5 + command[4]]
        if command[2] == 0x04:
            return body == JPKI_AID
        return target.ap == JPKI_AID and len(body) == 2 and body.hex().upper() in files
    if target.ap != JPKI_AID or len(command) < 4:
        return False
    if target.ins == INS_READ_BINARY:
        read = _sfi_file(command[2]) if command[2] & 0x80 else target.ef
        return read == FLOW_FILES[flow]["certificate"]
    if target.ins == INS_VERIFY:
        pin = target.ef if command[3] == 0x80 else _sfi_file(command[3])
        return pin == FLOW_FILES[flow]["PIN"]
    return target.ins == INS_SIGN


@dataclass(frozen=True)
class Case:
    number: int
    flow: Flow
    target: Target
    kind: str
    delay: float = DEFAULT_DELAY

    @property
    def skip(self) -> int:
        return self.target.occurrence - 1

    @property
    def fault(self) -> Fault | None:
        """The fault the harness arms before the run (None for a removal)."""
        ins = f"{self.target.ins:02X}"
        if self.kind == "removal":
            return None
        if self.kind == "delay":
            return Fault(ins, "delay", seconds=self.delay, skip=self.skip)
        if self.kind == "sw":
            return Fault(ins, "sw", sw=fault_sw(self.target), skip=self.skip)
        if self.kind == "truncate":
            return Fault(ins, "truncate", length=self.truncate_length, skip=self.skip)
        return Fault(ins, self.kind, skip=self.skip)

    @property
    def truncate_length(self) -> int:
        """Half of the data is cut (at least one byte)."""
        return max(1, len(self.target.data) // 2)

    def removal_body(self) -> dict[str, object]:
        body: dict[str, object] = {"ins": f"{self.target.ins:02X}", "when": "after"}
        if self.skip:
            body["skip"] = self.skip
        return body

    def what(self) -> str:
        """The corruption in words."""
        fault = self.fault
        if fault is None:
            return f"card pulled after the card processed {self.target.label} (no answer)"
        detail = {
            "delay": f"answered {self.delay:g} s late",
            "sw": f"status word {fault.sw} instead of {self.target.sw or 0:04X}",
            "truncate": f"last {self.truncate_length} of {len(self.target.data)} data bytes cut",
            "flip": "last data bit flipped" if self.target.data else "last SW2 bit flipped",
            "der": "DER length octets broken"
            if der_length_octets(self.target.data)
            else "first data byte inverted",
            "chain61": f"61{min(len(self.target.data), 256) & 0xFF:02X}, data on GET RESPONSE",
            "wrong-le": f"6C{len(self.target.data) & 0xFF:02X}, no data (resend with that Le)",
            "empty": f"9000 without the {len(self.target.data)} signature bytes",
            "other-key": "the signature of the other JPKI key "
            f"(EF {OTHER_KEY.get(self.target.ef or '', '?')}) over the same data",
        }[self.kind]
        return f"{self.target.label}: {detail}"

    def ctl_line(self) -> str:
        """The `mynasim ctl` command that arms this case on a served card (after a persona
        switch: a fresh card)."""
        ins = f"{self.target.ins:02X}"
        skip = f" --skip {self.skip}" if self.skip else ""
        if self.kind == "removal":
            return f"mynasim ctl remove --on-ins {ins}{skip}"
        option = {
            "delay": f"--delay {self.delay:g}",
            "sw": f"--sw {fault_sw(self.target)}",
            "truncate": f"--truncate {self.truncate_length}",
        }.get(self.kind, f"--{self.kind}")
        return f"mynasim ctl fault --ins {ins}{skip} {option}"


def plan_cases(
    targets: Iterable[Target],
    kinds: Sequence[str],
    flow: Flow,
    *,
    delay: float = DEFAULT_DELAY,
    first: int = 1,
) -> list[Case]:
    """Every applicable (target, kind), in session order, kinds in the order given."""
    cases: list[Case] = []
    for target in targets:
        for kind in kinds:
            if applicable(kind, target):
                cases.append(Case(first + len(cases), flow, target, kind, delay))
    return cases


def parse_kinds(text: str | None) -> list[str]:
    if not text:
        return list(KINDS)
    kinds = [k.strip().lower() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"--kinds: unknown kind {unknown[0] if unknown else text!r}; kinds: "
                         + ", ".join(KINDS))  # fmt: skip
    return list(dict.fromkeys(kinds))


# ---------------------------------------------------------------------------- classifying


@dataclass
class Classification:
    klass: str
    why: str
    fired: bool
    notes: list[str] = field(default_factory=list)
    sent: bytes | None = None  # the response the software got for the target (None: none)


def _nth(trace: StepTrace, ins: int, occurrence: int) -> tuple[int, Exchange] | None:
    count = 0
    for index, exchange in enumerate(trace.exchanges):
        if exchange.ins == ins:
            count += 1
            if count == occurrence:
                return index, exchange
    return None


def fired(case: Case, trace: StepTrace) -> bool:
    ins = f"INS {case.target.ins:02X}"
    for event in trace.events:
        if case.kind == "removal":
            if event.startswith(f"armed removal on {ins}"):
                return True
        elif event.startswith(f"fault: {case.kind}") and ins in event:
            return "not applicable" not in event
    return False


def corrupted_range(case: Case, sent: bytes | None) -> tuple[int, int] | None:
    """READ BINARY: the bytes of the EF (start, end) the software did not get right."""
    offset = case.target.offset
    data = case.target.data
    if offset is None or not data:
        return None
    end = offset + len(data)
    if case.kind == "flip":
        return end - 1, end
    if case.kind == "truncate":
        got = len(sent) - 2 if sent is not None and len(sent) >= 2 else 0
        return offset + got, end
    if case.kind == "der":
        where = der_length_octets(data)
        return (offset + where[0], offset + sum(where)) if where else (offset, offset + 1)
    if case.kind == "sw":
        return offset, end
    return None


def _read_range(exchange: Exchange) -> tuple[str | None, int, int] | None:
    command = exchange.command
    if exchange.ins != INS_READ_BINARY or len(command) < 4 or exchange.sw != 0x9000:
        return None
    data = _bytes_of(exchange.response_text) or b""
    p1, p2 = command[2], command[3]
    where = f"SFI {p1 & 0x1F:02X}" if p1 & 0x80 else exchange.ef
    offset = p2 if p1 & 0x80 else (p1 << 8) | p2
    return where, offset, offset + max(len(data) - 2, 0)


def _data_length(exchange: Exchange) -> int:
    response = _bytes_of(exchange.response_text)
    return 0 if response is None else max(len(response) - 2, 0)


def fetched(case: Case, trace: StepTrace, index: int) -> bool:
    """Whether the software got the data a legal response announced: after chain61, GET
    RESPONSEs right after it that brought all of it; after wrong-le, the command sent again
    (same header) and answered with the data and the baseline SW. A delay always delivers."""
    later = trace.exchanges[index + 1 :]
    wanted = len(case.target.data)
    if case.kind == "chain61":
        got = 0
        for exchange in later:
            if exchange.ins != INS_GET_RESPONSE:
                break
            got += _data_length(exchange)
        return got >= wanted
    if case.kind == "wrong-le":
        faulted = trace.exchanges[index]
        return any(
            e.command[:4] == faulted.command[:4]
            and _same_context(e, faulted)
            and e.sw == case.target.sw
            and _data_length(e) >= wanted
            for e in later
        )
    return True


def _same_context(one: Exchange, other: Exchange) -> bool:
    """Whether two commands address the same thing: a SELECT by AID always; another SELECT
    in the same application; anything else with the same application and EF selected."""
    if one.ins == INS_SELECT:
        return (len(one.command) > 2 and one.command[2] == 0x04) or one.ap == other.ap
    return one.ap == other.ap and one.ef == other.ef


def recovery(case: Case, trace: StepTrace, index: int, sent: bytes | None) -> str | None:
    """How the software got the card's real answer after the corrupted one, if it did: the
    same command sent again and answered as in the baseline, or READ BINARYs of the same EF
    covering the corrupted bytes."""
    faulted = trace.exchanges[index]
    later = trace.exchanges[index + 1 :]
    for exchange in later:
        same = exchange.text == faulted.text and _same_context(exchange, faulted)
        if same and exchange.sw == case.target.sw:
            return "sent the same command again and got the card's answer"
    span = corrupted_range(case, sent)
    if span is None or span[0] >= span[1]:
        return None
    start, end = span
    where = case.target.file
    ranges = []
    for exchange in later:
        read = _read_range(exchange)
        if read is not None and read[0] == where:
            ranges.append((read[1], read[2]))
    for lo, hi in sorted(ranges):
        if lo <= start < hi:
            start = hi
        if start >= end:
            return f"read the corrupted bytes {span[0]:04X}-{span[1] - 1:04X} of EF {where} again"
    return None


def _crashed(outcome: StepOutcome) -> str | None:
    if outcome.extra.get("crashed"):
        return outcome.reason or "killed by a signal"
    if outcome.outcome == ERROR and outcome.reason.startswith("raised "):
        return f"uncaught exception: {outcome.reason.removeprefix('raised ')}"
    return None


def classify(case: Case, outcome: StepOutcome, trace: StepTrace) -> Classification:
    """The class of one case from the software's outcome and the case's APDU trace."""
    was_fired = fired(case, trace)
    found = _nth(trace, case.target.ins, case.target.occurrence)
    sent = _bytes_of(found[1].response_text) if found else None
    result = Classification(OK, "", was_fired, sent=sent)
    crashed = _crashed(outcome)
    if crashed is not None:
        result.klass, result.why = CRASH, crashed
    elif outcome.extra.get("hung"):
        result.klass, result.why = HANG, f"no result within {outcome.extra['hung']:g} s"
    if not was_fired:
        result.notes.append("the fault never fired: the session took another path")
        if result.klass == OK:
            result.klass, result.why = MISSED, "the targeted command never came"
        return result
    # a 63Cx the fault put on the PIN's VERIFY is the card's word, not a try the RP spent
    allowance = 1 if case.target.ins == INS_VERIFY else 0
    budget = [f for f in judge_pin_budget(trace, allowance) if f.severity == FAIL]
    if result.klass == OK and budget:
        result.klass, result.why = PIN_BUDGET, "; ".join(f.message for f in budget)
    elif budget:
        result.notes += [f"PIN budget: {f.message}" for f in budget]
    if result.klass != OK:
        return result
    accepted = outcome.outcome == ACCEPTED
    said = outcome.outcome + (f" ({outcome.reason})" if outcome.reason else "")
    if case.kind in LEGAL_KINDS:
        if not accepted:
            result.klass = FRAGILE
            result.why = f"{said} after a legal response ({case.what()})"
        elif found is not None and not fetched(case, trace, found[0]):
            recovered = recovery(case, trace, found[0], sent)
            if recovered is not None:
                result.notes.append(f"accepted after it {recovered}")
            else:
                kept = essential(case.target, case.flow)
                result.klass = WRONG_SUCCESS if kept else TOLERATED
                result.why = f"accepted without ever getting the data: {case.what()}"
                if not kept:
                    result.why += f"; the {case.flow} does not depend on that answer"
        return result
    if not accepted:
        return result
    if not essential(case.target, case.flow):
        result.klass = TOLERATED
        result.why = f"accepted after {case.what()}; the {case.flow} does not depend on that answer"
        return result
    if case.kind == "removal":
        result.klass = WRONG_SUCCESS
        result.why = f"accepted although the card was pulled: {case.what()}"
        return result
    changed_data = bool(case.target.data) and case.kind != "sw"
    if not changed_data and case.target.sw != 0x9000:
        result.notes.append(
            f"accepted; the baseline answer was already SW {case.target.sw or 0:04X}, "
            "not a success the software relied on"
        )
        return result
    if found is not None:
        recovered = recovery(case, trace, found[0], sent)
        if recovered is not None:
            result.notes.append(f"accepted after it {recovered}")
            return result
    result.klass = WRONG_SUCCESS
    result.why = f"accepted although {case.what()}"
    return result


# ---------------------------------------------------------------------------------- running


@dataclass
class CaseResult:
    case: Case
    klass: str
    why: str
    seconds: float
    outcome: StepOutcome | None = None
    notes: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)
    command: str | None = None  # the command line to paste (pasteable_command: no PIN value)
    sent: bytes | None = None


class _CaseAdapter:
    """The software under test, with an armed removal posted just before it runs, and its
    command line (PIN redacted) when it is a command (the harness records it)."""

    command_line: Callable[[StepContext], list[str]]

    def __init__(self, inner: Adapter, before: Callable[[], None] | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.before = before
        line = command_line_of(inner)
        if line is not None:
            self.command_line = line

    def run(self, context: StepContext) -> StepOutcome:
        if self.before is not None:
            self.before()
        return self.inner.run(context)

    def gives_message(self, flow: Flow) -> bool:
        """As the software under test: whether it was handed the value to sign."""
        gives = getattr(self.inner, "gives_message", None)
        return bool(callable(gives) and gives(flow))


def command_line_of(adapter: Adapter) -> Callable[[StepContext], list[str]] | None:
    """The adapter's redacted command line, if it runs a command (ThirdPartyAdapter: the
    command of the step's flow)."""
    line = getattr(adapter, "command_line", None)
    if callable(line):
        return line  # type: ignore[no-any-return]
    commands = getattr(adapter, "commands", None)
    if isinstance(commands, dict):

        def by_flow(context: StepContext) -> list[str]:
            command = commands.get(context.flow)
            made: list[str] = [] if command is None else command.command_line(context)
            return made

        return by_flow
    return None


def scenario_for(persona: str, flow: Flow, identifier: str, title: str,
                 fault: Fault | None = None) -> Scenario:  # fmt: skip
    step = Step("right", {"login": ACCEPT, "sign": ACCEPT}, "the right PIN, a correct card", fault)
    return Scenario(
        identifier,
        title,
        "mynasim fuzz rp: one response of a correct session corrupted",
        "types the right value",
        (step,),
        flows=(flow,),
        persona=persona,
    )


def _record(run: ScenarioRun) -> StepRecord | None:
    return run.steps[0] if run.steps else None


def run_baseline(
    world: RpWorld, software: SoftwareUnderTest, flow: Flow, persona: str
) -> tuple[ScenarioRun, list[Target]]:
    scenario = scenario_for(persona, flow, "FUZZ-BASELINE", "baseline: no fault")
    run = world.run(_CaseAdapter(software.adapter), scenario, flow)
    record = _record(run)
    targets = session_targets(record.trace) if record is not None else []
    return run, targets


def run_case(world: RpWorld, software: SoftwareUnderTest, case: Case, persona: str) -> CaseResult:
    start = time.monotonic()
    before = None
    if case.kind == "removal":
        served = world.served

        def before() -> None:
            if served is not None:
                served.ctl("POST", f"/cards/{SLOT}/remove", case.removal_body())

    title = f"fuzz case {case.number}: {case.kind} on {case.target.label}"
    scenario = scenario_for(persona, case.flow, f"FUZZ-{case.number:04d}", title, case.fault)
    run = world.run(_CaseAdapter(software.adapter, before), scenario, case.flow)
    seconds = time.monotonic() - start
    record = _record(run)
    if record is None:
        return CaseResult(case, HARNESS, run.message, seconds, transcript=run.transcript())
    verdict = classify(case, record.outcome, record.trace)
    return CaseResult(
        case,
        verdict.klass,
        verdict.why,
        seconds,
        outcome=record.outcome,
        notes=verdict.notes,
        transcript=run.transcript(),
        command=pasteable_command(software.adapter, record.context),
        sent=verdict.sent,
    )


# ------------------------------------------------------------------------------- findings


_TEMPLATE_WORD = re.compile(r"[\w@%+=:,./{}-]+")  # needs no quotes in a --command template


def template_text(argv: Sequence[str]) -> str:
    """A command template that splits into `argv` again: words quoted only where needed, so
    {placeholders} stay readable ({pin}, not '{pin}')."""
    return " ".join(arg if _TEMPLATE_WORD.fullmatch(arg) else shlex.quote(arg) for arg in argv)


def software_options(
    args: argparse.Namespace, software: SoftwareUnderTest, flow: Flow
) -> list[str]:
    """The options naming the software under test for one flow, as the user gave them:
    --flow FLOW, then --rp, --python or --pkcs11, or --command TEMPLATE (the command of that
    flow) and its --pin-via."""
    command = command_of(software.adapter, flow)
    if args.rp is None and command is not None:
        return ["--flow", flow, "--command", template_text(command.argv), "--pin-via",
                command.pin_via]  # fmt: skip
    for option in ("rp", "python", "pkcs11"):
        value = getattr(args, option)
        if value is not None:
            return ["--flow", flow, f"--{option}", value]
    return ["--flow", flow]


def baseline_hint(args: argparse.Namespace, software: SoftwareUnderTest, flow: Flow) -> str:
    """The `mynasim rp-check` command that plays the flow's correct run (the scenario the
    baseline is made like: fresh card, the right value typed once) with the same software
    options: paste it to see the transcript and the oracles' findings."""
    parts = ["mynasim", "rp-check", "--scenario", BASELINE_SCENARIOS[flow]]
    parts += [*software_options(args, software, flow), "--timeout", f"{args.timeout:g}"]
    return shlex.join(parts)


def replay_line(args: argparse.Namespace, software: SoftwareUnderTest, case: Case) -> str:
    """The `mynasim fuzz rp` command that runs only this case."""
    parts = ["mynasim", "fuzz", "rp", *software_options(args, software, case.flow)]
    parts += ["--persona", args.persona]
    step = f"{case.target.ins:02X}#{case.target.occurrence}"
    parts += ["--steps", step, "--kinds", case.kind]
    if case.kind == "delay":
        parts += ["--delay", f"{case.delay:g}"]
    parts += ["--timeout", f"{args.timeout:g}"]
    return shlex.join(parts)


PIN_VARIABLE = "MYNASIM_PIN"
# the PIN's place in a pasted command line: the shell expands the variable, or stops there
PIN_EXPANSION = '"${MYNASIM_PIN:?set MYNASIM_PIN first: the finding says which value}"'
_PIN_MARK = "\ue000pin\ue000"  # stands for the PIN while a command line is built
PIN_NAMES: dict[Flow, str] = {"login": "authentication PIN", "sign": "signing password"}


def command_of(adapter: Adapter, flow: Flow) -> CommandAdapter | None:
    """The command the software runs for `flow`, when it is one (a CommandAdapter, or one
    per flow: ThirdPartyAdapter)."""
    commands = getattr(adapter, "commands", None)
    chosen = commands.get(flow) if isinstance(commands, dict) else adapter
    return chosen if isinstance(chosen, CommandAdapter) else None


def _shell_word(arg: str) -> str:
    """`arg` as one shell word: quoted, and every place of the PIN in it expands $MYNASIM_PIN
    (shlex.join would single-quote the variable, and the shell would not expand it)."""
    pieces = arg.split(_PIN_MARK)
    return PIN_EXPANSION.join(shlex.quote(piece) if piece else "" for piece in pieces) or "''"


def pasteable_command(adapter: Adapter, context: StepContext) -> str | None:
    """The command line the software ran in this step, to paste into a shell: the step's
    MYNASIM_<NAME> variables set as the harness set them, and the PIN taken from
    $MYNASIM_PIN the way the command gets it (the environment, one stdin line, or in place
    of {pin}), so the line never holds the value. None when the software is no command."""
    command = command_of(adapter, context.flow)
    if command is None:
        return None
    marked = dataclasses.replace(context, pin=_PIN_MARK)
    argv = [_shell_word(str(arg)) for arg in command.command_line(marked, redact=False)]
    variables = [
        f"MYNASIM_{name.upper()}={shlex.quote(value)}"
        for name, value in marked.placeholders().items()
        if name != "pin"
    ]
    if command.pin_via == "env":
        variables.insert(0, f"{PIN_VARIABLE}={PIN_EXPANSION}")
    line = " ".join([*variables, *argv])
    if command.pin_via == "stdin":  # a pipe does not stop at an unset variable: check first
        return f": {PIN_EXPANSION} && printf '%s\\n' \"${PIN_VARIABLE}\" | {line}"
    return line


def pin_document(flow: Flow) -> dict[str, str]:
    """Which value $MYNASIM_PIN must hold to replay a finding's command line: named, never
    written (it is the right value of the flow, RIGHT_VALUES in conformance.rp.scenarios)."""
    source = f'RIGHT_VALUES["{flow}"]'
    return {
        "variable": PIN_VARIABLE,
        "value": f"the right {PIN_NAMES[flow]} (EF {FLOW_PIN[flow]}) the fuzzer typed: "
        f"{source} in conformance/rp/scenarios.py, the default personas' value",
        "set": f"export {PIN_VARIABLE}=\"$(python -c 'from conformance.rp.scenarios import "
        f"RIGHT_VALUES; print({source})')\"",
    }


def _short_hex(data: bytes | None) -> str | None:
    """A response: whole up to 32 data bytes, else its length, first 8 and last 8 data bytes."""
    if data is None:
        return None
    if len(data) <= 34:
        return data.hex(" ").upper()
    head, tail, sw = data[:8], data[-10:-2], data[-2:]
    return (
        f"{len(data) - 2} bytes: {head.hex(' ').upper()} ... {tail.hex(' ').upper()} "
        f"{sw.hex(' ').upper()}"
    )


def finding_document(
    args: argparse.Namespace, software: SoftwareUnderTest, result: CaseResult, persona: str
) -> dict[str, Any]:
    case = result.case
    outcome = result.outcome
    ctl = f"mynasim ctl persona {shlex.quote(persona)} && {case.ctl_line()}"
    reproduce = ctl + (f" && {result.command}" if result.command else "")
    return {
        "class": result.klass,
        "why": result.why,
        "notes": result.notes,
        "case": {
            "number": case.number,
            "flow": case.flow,
            "persona": persona,
            "target": case.target.describe(),
            "position": case.target.position,
            "ins": f"{case.target.ins:02X}",
            "occurrence": case.target.occurrence,
            "command": case.target.command_text,
            "kind": case.kind,
            "corruption": case.what(),
            "fault": None if case.fault is None else case.fault.body(),
            "removal": case.removal_body() if case.kind == "removal" else None,
            "baseline_response": _short_hex(case.target.response),
            "sent_response": _short_hex(result.sent),
        },
        "software": software.adapter.name,
        "outcome": None
        if outcome is None
        else {
            "outcome": outcome.outcome,
            "reason": outcome.reason,
            "exit_code": outcome.exit_code,
            "duration": round(outcome.duration, 2),
            "stdout_tail": outcome.stdout_tail,
            "stderr_tail": outcome.stderr_tail,
        },
        "reproduce": reproduce,
        "reproduce_ctl": ctl,
        "reproduce_command": result.command,
        "pin": None if result.command is None else pin_document(case.flow),
        "replay": replay_line(args, software, case),
        "seconds": round(result.seconds, 2),
        "transcript": result.transcript,
    }


def _secrets() -> list[bytes]:
    return [value.encode() for value in RIGHT_VALUES.values()]


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9#.-]+", "-", text).strip("-")


def save_finding(
    directory: Path,
    args: argparse.Namespace,
    software: SoftwareUnderTest,
    result: CaseResult,
    persona: str,
) -> Path:
    case = result.case
    name = (
        f"{case.flow}-{case.number:04d}-{result.klass}-"
        f"{_safe_name(case.target.label).replace('#', '-')}-{case.kind}{FINDING_SUFFIX}"
    )
    document = finding_document(args, software, result, persona)
    text = json.dumps(document, indent=2, ensure_ascii=False)
    path = directory / name
    path.write_text(redact_text(text, _secrets()) + "\n", encoding="utf-8")
    return path


def clear_findings(directory: Path) -> None:
    """Findings of an earlier run in `directory` go (only our own files)."""
    if not directory.is_dir():
        return
    for old in directory.glob(f"*{FINDING_SUFFIX}"):
        old.unlink()
    (directory / "summary.json").unlink(missing_ok=True)


# ------------------------------------------------------------------------------------ CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the software once correctly (the baseline), then once per case with ONE "
        "response of the session corrupted on the served card (a status word, truncated or "
        "flipped data, broken DER, a signature that is empty or made by the other key, 61xx "
        "chaining, 6Cxx, a delay, the card pulled), and "
        "classify each run: CRASH, HANG, WRONG-SUCCESS, PIN-BUDGET, FRAGILE (refused a legal "
        "response), TOLERATED (accepted a corrupted answer the flow does not need), OK. "
        "Findings are saved with their APDU trace. Exit status 1 when a CRASH, "
        "HANG, WRONG-SUCCESS or PIN-BUDGET was found, 0 otherwise, 2 for bad arguments, a "
        "stack that cannot start or a baseline that is not accepted."
    )
    add_software_arguments(parser)
    parser.add_argument(
        "--persona", default="default",
        help="the card's persona (a built-in name or a persona file; default: default)",
    )  # fmt: skip
    parser.add_argument(
        "--kinds", metavar="LIST", default=None,
        help=f"comma-separated fault kinds (default all: {','.join(KINDS)})",
    )  # fmt: skip
    parser.add_argument(
        "--steps", metavar="LIST", default=None,
        help="which responses to corrupt (default: every command of the baseline session): "
        "comma-separated N (the N-th command), NAME or INS (every one) or NAME#K / INS#K "
        "(the K-th); NAME: " + ", ".join(STEP_NAMES) + "; INS: hex (B0)",
    )  # fmt: skip
    parser.add_argument(
        "--delay", type=_delay, default=DEFAULT_DELAY, metavar="SECONDS",
        help=f"how late a delay case answers (default {DEFAULT_DELAY:g})",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=seconds_argument, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"time the software gets per run; longer is a HANG (default {DEFAULT_TIMEOUT:g})",
    )  # fmt: skip
    parser.add_argument(
        "--findings", type=Path, default=DEFAULT_FINDINGS, metavar="DIR",
        help=f"where findings go, one JSON file each, and summary.json (default: "
        f"./{DEFAULT_FINDINGS}; an earlier run's findings there are replaced)",
    )  # fmt: skip
    parser.add_argument(
        "--max-cases", type=_count, default=None, metavar="N",
        help="stop after N cases (in session order)",
    )  # fmt: skip
    parser.add_argument(
        "--workdir", type=Path, default=None, metavar="DIR",
        help="where step files, logs and the APDU trace go (default: a temporary folder)",
    )  # fmt: skip


def _delay(text: str) -> float:
    value = seconds_argument(text)
    if value > MAX_DELAY:
        raise argparse.ArgumentTypeError(f"a delay is at most {MAX_DELAY:g} seconds")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _progress_line(result: CaseResult, total: int, width: int) -> str:
    case = result.case
    index = f"[{case.number:>{width}}/{total}]"
    target = f"{case.flow:<5} {case.target.describe()}"
    return f"{index} {target:<58.58} {case.kind:<9} {result.klass} ({result.seconds:.1f} s)"


def summary_table(results: Sequence[CaseResult]) -> list[str]:
    """Counts by class, and by kind x class."""
    counts = Counter(r.klass for r in results)
    present = [c for c in CLASSES if counts[c]]
    lines = ["class          cases"]
    lines += [f"{c:<14} {counts[c]:>5}" for c in CLASSES if counts[c] or c in FAILING]
    if present:
        lines.append("")
        lines.append("kind      " + " ".join(f"{c:>13}" for c in present))
        for kind in KINDS:
            row = Counter(r.klass for r in results if r.case.kind == kind)
            if sum(row.values()):
                lines.append(f"{kind:<9} " + " ".join(f"{row[c]:>13}" for c in present))
    return lines


def run(
    args: argparse.Namespace,
    out: Callable[[str], None] | None = None,
    world: RpWorld | None = None,
) -> int:
    """The whole fuzz run (baselines, cases, findings, summary); the exit status. `world`: a
    started RpWorld to use (its timeout becomes --timeout; it is left running), else one is
    started and stopped here."""
    say = out or (lambda text: print(text, flush=True))
    try:
        software = software_from_args(args)
        kinds = parse_kinds(args.kinds)
        steps = parse_steps(args.steps)
    except (AdapterError, ValueError) as exc:
        print(f"mynasim fuzz rp: error: {exc}", file=sys.stderr)
        return 2
    flows: tuple[Flow, ...] = tuple(f for f in FLOWS if f in software.flows)
    say(f"mynasim fuzz rp: {software.adapter.name} ({software.description})")
    say(f"  flows: {', '.join(flows)}; persona: {args.persona}; kinds: {', '.join(kinds)}")
    started = time.monotonic()
    results: list[CaseResult] = []
    findings: Path = args.findings
    if world is not None:
        world.timeout = args.timeout
        status = _fuzz(args, software, world, flows, kinds, steps, results, say)
    else:
        with tempfile.TemporaryDirectory(prefix="mynasim-fuzz-rp-") as temporary:
            from conformance.rp.harness import RpWorld

            workdir: Path = args.workdir or Path(temporary)
            try:
                own = RpWorld(workdir, timeout=args.timeout, log=lambda t: say(f"  {t}")).start()
            except Exception as exc:
                print(
                    f"mynasim fuzz rp: error: the test stack did not start: {exc}", file=sys.stderr
                )
                return 2
            try:
                status = _fuzz(args, software, own, flows, kinds, steps, results, say)
            finally:
                own.stop()
    elapsed = time.monotonic() - started
    if results or status is None:  # also when a later flow's baseline stopped the run
        _write_summary(findings, args, software, results, elapsed)
    if status is not None:
        return status
    saved = sum(1 for result in results if result.klass in FINDINGS)
    rate = len(results) / elapsed if elapsed > 0 else 0.0
    say(f"mynasim fuzz rp: {len(results)} cases in {elapsed:.0f} s ({rate:.2f} cases/s)")
    for line in summary_table(results):
        say(f"  {line}" if line else "")
    say(f"  findings: {saved} saved in {findings}")
    counts = Counter(r.klass for r in results)
    if any(counts[c] for c in FAILING):
        return 1
    if counts[HARNESS]:
        return 2
    return 0


def _fuzz(
    args: argparse.Namespace,
    software: SoftwareUnderTest,
    world: RpWorld,
    flows: Sequence[Flow],
    kinds: Sequence[str],
    steps: Sequence[tuple[int | None, int | None, int | None]],
    results: list[CaseResult],
    say: Callable[[str], None],
) -> int | None:
    """Baselines and cases, flow by flow; an exit status when the run cannot go on."""
    clear_findings(args.findings)
    args.findings.mkdir(parents=True, exist_ok=True)
    budget = args.max_cases
    number = 1
    for flow in flows:
        baseline, targets = run_baseline(world, software, flow, args.persona)
        record = _record(baseline)
        if record is None or record.outcome.outcome != ACCEPTED:
            said = baseline.message if record is None else record.outcome.outcome
            reason = "" if record is None else record.outcome.reason
            hint = baseline_hint(args, software, flow)
            print(
                f"mynasim fuzz rp: error: the baseline ({flow}, right PIN, no fault) was not "
                f"accepted: {said}{f' ({reason})' if reason else ''}; fix that first; this "
                f"plays it with reports and the transcript:\n  {hint}",
                file=sys.stderr,
            )
            for line in baseline.transcript()[-30:]:
                print(f"  {line}", file=sys.stderr)
            return 2
        say(f"baseline {flow}: accepted in {baseline.duration:.1f} s; session of "
            f"{len(targets)} commands: " + ", ".join(t.label for t in targets))  # fmt: skip
        try:
            chosen = select_targets(targets, steps)
        except ValueError as exc:
            print(f"mynasim fuzz rp: error: {exc}", file=sys.stderr)
            return 2
        cases = plan_cases(chosen, kinds, flow, delay=args.delay, first=number)
        if budget is not None:
            cases = cases[: max(budget - len(results), 0)]
        total = number - 1 + len(cases)
        width = len(str(total))
        for case in cases:
            result = run_case(world, software, case, args.persona)
            results.append(result)
            say(_progress_line(result, total, width))
            if result.klass in FINDINGS:  # saved at once: an interrupted run keeps them
                save_finding(args.findings, args, software, result, args.persona)
            if result.klass in FINDINGS or result.klass == HARNESS:
                say(f"      {redact_text(result.why, _secrets())}")
        number += len(cases)
    return None


def _write_summary(
    directory: Path,
    args: argparse.Namespace,
    software: SoftwareUnderTest,
    results: Sequence[CaseResult],
    elapsed: float,
) -> None:
    counts = Counter(r.klass for r in results)
    document = {
        "tool": "mynasim fuzz rp",
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "software": {"name": software.adapter.name, "description": software.description},
        "persona": args.persona,
        "kinds": parse_kinds(args.kinds),
        "steps": args.steps or "all",
        "timeout": args.timeout,
        "delay": args.delay,
        "seconds": round(elapsed, 1),
        "counts": {c: counts[c] for c in CLASSES if counts[c]},
        "cases": [
            {
                "number": r.case.number,
                "flow": r.case.flow,
                "target": r.case.target.describe(),
                "kind": r.case.kind,
                "class": r.klass,
                "why": r.why,
                "notes": r.notes,
                "outcome": None if r.outcome is None else r.outcome.outcome,
                "seconds": round(r.seconds, 2),
            }
            for r in results
        ],
    }
    text = json.dumps(document, indent=2, ensure_ascii=False)
    (directory / "summary.json").write_text(redact_text(text, _secrets()) + "\n", "utf-8")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mynasim fuzz rp")
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m conformance.fuzz.rp ...` until `mynasim fuzz rp` is wired."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
