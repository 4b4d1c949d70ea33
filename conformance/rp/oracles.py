"""Oracles: judge one step of a relying party from the card's APDU trace and its outcome.

The trace is what `mynasim serve --trace` writes (JSON lines, PIN data already redacted), cut
to the step. Each oracle returns findings; a scenario fails when any finding is a failure.

- outcome (certificate and revocation handling, tearing, blocked credentials): the step's
  outcome against the scenario's expectation for the flow;
- PIN budget: never more wrong VERIFYs than the user typed wrong values, no automatic retry
  after 63Cx, the remaining tries read (data-less VERIFY) before a value is sent, nothing sent
  to a PIN the card called blocked (63C0, 6983, 6984);
- data minimisation: nothing read or unlocked beyond what the declared flow needs (no
  card-info application in a JPKI flow, no signature certificate or signing password in a
  login, no authentication PIN or key in a signature);
- identity: the 4 information the software reports equal the holder's, byte for byte.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.rp.context import ACCEPTED, ERROR, Flow, StepOutcome
from conformance.rp.scenarios import ACCEPT, REJECT, REJECT_CLEANLY, Scenario, Step

JPKI_AID = bytes.fromhex("D392F000260100000001")
CARD_INFO_APS: Mapping[bytes, str] = {
    bytes.fromhex("D3921000310001010408"): "the 券面事項入力補助AP (card-info text AP)",
    bytes.fromhex("D3921000310001010402"): "the 券面AP (card-surface AP)",
    bytes.fromhex("D3921000310001010401"): "the 住基AP",
    bytes.fromhex("D3921000310001010100"): "the common card AP",
}
PIN_NAMES = {"0018": "authentication PIN", "001B": "signing password"}
FLOW_PIN: Mapping[Flow, str] = {"login": "0018", "sign": "001B"}
# JPKI files a flow has no business with: personal data or the other flow's credentials.
NOT_NEEDED: Mapping[Flow, Mapping[str, str]] = {
    "login": {
        "0001": "the signature certificate (it holds the 4 information)",
        "001A": "the signature key",
        "001B": "the signing password",
    },
    "sign": {"0017": "the authentication key", "0018": "the authentication PIN"},
}
INS_VERIFY, INS_SELECT, INS_READ_BINARY, INS_SIGN = 0x20, 0xA4, 0xB0, 0x2A

FAIL = "fail"
NOTE = "note"


@dataclass(frozen=True)
class Finding:
    oracle: str  # "outcome", "PIN budget", "data minimisation", "identity", "tearing"
    severity: str  # FAIL or NOTE
    message: str

    def line(self) -> str:
        return f"[{self.oracle}] {self.message}"


@dataclass
class Exchange:
    """One command/response of the trace, with where the card stood when it came."""

    command: bytes  # PIN data appear as 00 bytes (the trace shows them as **)
    text: str  # the command as traced (redacted)
    sw: int | None  # None: no response (card removed)
    response_text: str | None
    ap: bytes | None  # the application selected when the command came
    ef: str | None  # the EF selected when the command came (hex, e.g. "0018")

    @property
    def ins(self) -> int:
        return self.command[1] if len(self.command) > 1 else -1

    @property
    def has_data(self) -> bool:
        return len(self.command) > 5 and self.command[4] != 0


@dataclass
class StepTrace:
    exchanges: list[Exchange] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # readable transcript lines


def _command_bytes(text: str) -> bytes:
    return bytes(0 if part == "**" else int(part, 16) for part in text.split())


def _sw(value: object) -> int | None:
    """The record's status word; None when absent or not 4 hex digits (no response)."""
    text = str(value) if value is not None else ""
    if len(text) == 4 and all(c in "0123456789abcdefABCDEF" for c in text):
        return int(text, 16)
    return None


def _short(response: str) -> str:
    """A long response as the card suite shows one: length, the first 32 bytes, the SW."""
    parts = response.split()
    if len(parts) <= 34:
        return response
    head = " ".join(parts[:32])
    return f"{len(parts) - 2} bytes: {head} ... {' '.join(parts[-2:])}"


def parse_trace(records: Iterable[Mapping[str, Any]]) -> StepTrace:
    """Pair the trace's command and response records; follow SELECTs to know the AP and EF."""
    trace = StepTrace()
    ap: bytes | None = None
    ef: str | None = None
    pending: tuple[bytes, str] | None = None
    for record in records:
        direction = record.get("direction")
        if direction == "event":
            event = str(record.get("event"))
            trace.events.append(event)
            trace.lines.append(f"-- {event}")
            if event in ("power-on", "power-off", "reset") or "removed" in event:
                ap, ef = None, None
            continue
        if direction == "command":
            text = str(record.get("apdu") or "")
            try:
                pending = (_command_bytes(text), text)
            except ValueError:
                pending = None
            trace.lines.append(f"> {text}")
            continue
        if direction != "response" or pending is None:
            continue
        command, text = pending
        pending = None
        sw = _sw(record.get("sw"))
        shown = record.get("apdu")
        meaning = record.get("meaning", "")
        trace.lines.append(f"< {_short(str(shown))} ({meaning})" if shown else f"< {meaning}")
        trace.exchanges.append(Exchange(command, text, sw, shown, ap, ef))
        if sw == 0x9000 and len(command) >= 5 and command[1] == INS_SELECT:
            body = command[5 : 5 + command[4]]
            if command[2] == 0x04:
                ap, ef = body, None
            elif command[2] in (0x02, 0x00) and len(body) == 2:
                ef = body.hex().upper()
    if pending is not None:
        trace.lines.append("< (no response recorded)")
    return trace


# ------------------------------------------------------------------------------ oracles

_AREA_ORACLE = {
    "PIN": "PIN budget",
    "CERT": "certificate and revocation",
    "REV": "certificate and revocation",
    "TEAR": "tearing",
    "DATA": "personal data",
}


def judge_outcome(
    scenario: Scenario, step: Step, flow: Flow, outcome: StepOutcome
) -> list[Finding]:
    expect = step.expectation(flow)
    oracle = "tearing" if step.removal is not None else _AREA_ORACLE.get(scenario.area, "outcome")
    said = f"{outcome.outcome}" + (f" ({outcome.reason})" if outcome.reason else "")
    if outcome.extra.get("hung"):
        return [Finding(oracle, FAIL, f"hung: no result within {outcome.extra['hung']:g} s")]
    if outcome.extra.get("crashed"):
        return [Finding(oracle, FAIL, f"crashed: {outcome.reason}")]
    if expect == ACCEPT and outcome.outcome != ACCEPTED:
        oracle = "tearing" if step.removal is not None else "outcome"
        return [Finding(oracle, FAIL, f"not accepted although {step.because}: {said}")]
    if expect in (REJECT, REJECT_CLEANLY) and outcome.outcome == ACCEPTED:
        return [Finding(oracle, FAIL, f"accepted although {step.because}")]
    if expect == REJECT_CLEANLY and outcome.outcome == ERROR:
        return [
            Finding(
                oracle,
                FAIL,
                f"ended in an error instead of a clear rejection ({step.because}): {said}",
            )
        ]
    if expect == REJECT and outcome.outcome == ERROR:
        return [Finding(oracle, NOTE, f"failed closed with an error: {said}")]
    return []


def judge_pin_budget(trace: StepTrace, typed_wrong: int) -> list[Finding]:
    findings: list[Finding] = []
    probed: set[tuple[bytes | None, str]] = set()
    blocked: set[tuple[bytes | None, str]] = set()
    failed: set[tuple[bytes | None, str]] = set()
    wrong = 0
    for exchange in trace.exchanges:
        if exchange.ins != INS_VERIFY or len(exchange.command) < 4:
            continue
        p2 = exchange.command[3]
        ef = exchange.ef if p2 == 0x80 else f"SFI {p2 & 0x1F:02X}"
        if ef is None:
            ef = "(no EF selected)"
        pin = (exchange.ap, ef)
        name = _pin_name(exchange.ap, ef)
        sw = exchange.sw
        if not exchange.has_data:
            probed.add(pin)
            if sw in (0x63C0, 0x6983, 0x6984):
                blocked.add(pin)
            continue
        if pin not in probed:
            findings.append(
                Finding("PIN budget", FAIL, f"sent the {name} without reading its tries first")
            )
            probed.add(pin)  # said once
        if pin in blocked:
            findings.append(
                Finding("PIN budget", FAIL, f"sent the {name} although the card said it is blocked")
            )
        if pin in failed:
            findings.append(
                Finding(
                    "PIN budget",
                    FAIL,
                    f"sent the {name} again by itself after a wrong-PIN answer (63Cx)",
                )
            )
        if sw is not None and sw & 0xFFF0 == 0x63C0:
            wrong += 1
            failed.add(pin)
            if sw == 0x63C0:
                blocked.add(pin)
        elif sw in (0x6983, 0x6984):
            blocked.add(pin)
    if wrong > typed_wrong:
        findings.append(
            Finding(
                "PIN budget",
                FAIL,
                f"spent {wrong} tries with wrong values; the user typed {typed_wrong} wrong",
            )
        )
    return findings


def _pin_name(ap: bytes | None, ef: str) -> str:
    if ap == JPKI_AID and ef in PIN_NAMES:
        return PIN_NAMES[ef]
    where = CARD_INFO_APS.get(ap or b"", "the selected application")
    return f"PIN {ef} of {where}"


def judge_data_minimisation(trace: StepTrace, flow: Flow) -> list[Finding]:
    findings: list[str] = []
    for exchange in trace.exchanges:
        command = exchange.command
        if exchange.ins == INS_SELECT and len(command) > 5 and command[2] == 0x04:
            aid = command[5 : 5 + command[4]]
            if aid in CARD_INFO_APS and exchange.sw == 0x9000:
                findings.append(f"selected {CARD_INFO_APS[aid]}, which a {flow} does not need")
            continue
        if exchange.ap is not None and exchange.ap in CARD_INFO_APS:
            if exchange.ins == INS_READ_BINARY and exchange.sw in (0x9000, 0x6282):
                where = CARD_INFO_APS[exchange.ap]
                findings.append(f"read EF {exchange.ef} of {where} in a {flow}")
            elif exchange.ins == INS_VERIFY and exchange.has_data and exchange.sw == 0x9000:
                where = CARD_INFO_APS[exchange.ap]
                findings.append(f"unlocked PIN {exchange.ef} of {where} in a {flow}")
            continue
        what = NOT_NEEDED[flow].get(exchange.ef or "") if exchange.ap == JPKI_AID else None
        if what is None:
            continue
        ok = exchange.sw in (0x9000, 0x6282)
        if exchange.ins == INS_READ_BINARY and ok:
            findings.append(f"read {what} in a {flow}")
        elif exchange.ins == INS_VERIFY and exchange.has_data and ok:
            findings.append(f"unlocked {what} in a {flow}")
        elif exchange.ins == INS_SIGN and ok:
            findings.append(f"used {what} in a {flow}")
    unique = list(dict.fromkeys(findings))
    return [Finding("data minimisation", FAIL, message) for message in unique]


def judge_revocation_evidence(outcome: StepOutcome, fetched: Mapping[str, int]) -> list[Finding]:
    """A note (not a failure) when software accepted without asking the PKI services: it may
    have a source of its own; the revocation scenarios decide whether it checks at all."""
    if outcome.outcome != ACCEPTED or not fetched or any(fetched.values()):
        return []
    return [
        Finding(
            "certificate and revocation",
            NOTE,
            "accepted without fetching an OCSP response or a CRL from the PKI services",
        )
    ]


IDENTITY_FIELDS = (
    "name",
    "address",
    "birth_date",
    "sex",
    "name_substitution",
    "address_substitution",
)


def expected_identity(holder: Any) -> dict[str, str]:
    """The 4 information (and substitution flags) as a correct extraction reports them."""
    birth: dt.date = holder.birth_date
    return {
        "name": holder.name,
        "address": holder.address,
        "birth_date": birth.isoformat(),
        "sex": holder.sex,
        "name_substitution": holder.name_substitution,
        "address_substitution": holder.address_substitution,
    }


def judge_identity(reported: Mapping[str, str], expected: Mapping[str, str]) -> list[Finding]:
    findings = []
    for key in IDENTITY_FIELDS:
        if key in reported and reported[key] != expected[key]:
            findings.append(
                Finding(
                    "identity",
                    FAIL,
                    f"extracted {key} {reported[key]!r}, the certificate holds {expected[key]!r}",
                )
            )
    return findings


def reports_identity(reported: Mapping[str, str]) -> bool:
    return any(key in reported for key in IDENTITY_FIELDS)


def failures(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == FAIL]
