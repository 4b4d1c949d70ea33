"""Oracles: judge one step of a relying party from the card's APDU trace and its outcome.

The trace is what `mynasim serve --trace` writes (JSON lines, PIN data already redacted), cut
to the step. Each oracle returns findings; a scenario fails when any finding is a failure.

- outcome (certificate and revocation handling, tearing, blocked credentials): the step's
  outcome against the scenario's expectation for the flow;
- PIN budget: never more wrong VERIFYs than the user typed wrong values, no automatic retry
  after 63Cx, the remaining tries read (data-less VERIFY) before a value is sent, nothing sent
  to a PIN the card called blocked (63C0, 6983, 6984);
- evidence: an ``accepted`` outcome counts only when the card really did the flow in that
  step: a successful VERIFY of the flow's credential, then a ``9000`` signature with the
  flow's key; what the card signed derived from the challenge (or document) when the software
  was given one; a signature the software reports is one the card made in this step and
  verifies with the card's certificate;
- data minimisation: nothing read or unlocked beyond what the declared flow needs (no
  card-info application in a JPKI flow, not even an attempt to select one; no signature
  certificate or signing password in a login, no authentication PIN or key in a signature);
- identity: the 4 information the software reports equal the holder's, byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from conformance.rp.context import ACCEPTED, ERROR, Flow, StepOutcome
from conformance.rp.identity import PERSONAL_DATA_ARC
from conformance.rp.scenarios import ACCEPT, REJECT, REJECT_CLEANLY, Scenario, Step
from simulator.personalization import Holder, encode_birth_date

JPKI_AID = bytes.fromhex("D392F000260100000001")
CARD_INFO_APS: Mapping[bytes, str] = {
    bytes.fromhex("D3921000310001010408"): "the 券面事項入力補助AP (card-info text AP)",
    bytes.fromhex("D3921000310001010402"): "the 券面AP (card-surface AP)",
    bytes.fromhex("D3921000310001010401"): "the 住基AP",
    bytes.fromhex("D3921000310001010100"): "the common card AP",
}
PIN_NAMES = {"0018": "authentication PIN", "001B": "signing password"}
FLOW_PIN: Mapping[Flow, str] = {"login": "0018", "sign": "001B"}
FLOW_KEY: Mapping[Flow, str] = {"login": "0017", "sign": "001A"}
KEY_NAMES = {"0017": "authentication key", "001A": "signature key"}
FLOW_MESSAGE: Mapping[Flow, str] = {"login": "the challenge", "sign": "the document"}
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
INS_GET_RESPONSE = 0xC0

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

    @property
    def data(self) -> bytes:
        """The command's data field (short APDUs: Lc bytes after the header)."""
        return self.command[5 : 5 + self.command[4]] if self.has_data else b""

    @property
    def response_data(self) -> bytes:
        """The response without its status word (empty when there was none)."""
        parts = (self.response_text or "").split()[:-2]
        try:
            return bytes(int(part, 16) for part in parts)
        except ValueError:
            return b""

    @property
    def reference(self) -> str | None:
        """The EF a VERIFY or COMPUTE DIGITAL SIGNATURE works on: P2 80 = the current EF,
        80|SFI = EF 00xx (SFI xx), as the JPKI AP numbers its PIN and key EFs."""
        if len(self.command) < 4 or self.command[3] & 0x80 == 0:
            return None
        sfi = self.command[3] & 0x1F
        return f"00{sfi:02X}" if sfi else self.ef


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
    because = step.reason(flow)
    oracle = "tearing" if step.removal is not None else _AREA_ORACLE.get(scenario.area, "outcome")
    said = f"{outcome.outcome}" + (f" ({outcome.reason})" if outcome.reason else "")
    if outcome.extra.get("hung"):
        return [Finding(oracle, FAIL, f"hung: no result within {outcome.extra['hung']:g} s")]
    if outcome.extra.get("crashed"):
        return [Finding(oracle, FAIL, f"crashed: {outcome.reason}")]
    if expect == ACCEPT and outcome.outcome != ACCEPTED:
        oracle = "tearing" if step.removal is not None else "outcome"
        return [Finding(oracle, FAIL, f"not accepted although {because}: {said}")]
    if expect in (REJECT, REJECT_CLEANLY) and outcome.outcome == ACCEPTED:
        return [Finding(oracle, FAIL, f"accepted although {because}")]
    if expect == REJECT_CLEANLY and outcome.outcome == ERROR:
        return [
            Finding(
                oracle,
                FAIL,
                f"ended in an error instead of a clear rejection ({because}): {said}",
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
    """What the card gave out or unlocked beyond the flow's need; selecting a card-info AP is
    a finding whatever the card answered (the attempt is the fault). Refused attempts at JPKI
    files are not: OpenSC's PKCS#15 binding reads every certificate EF, and the card answers
    6982 for the signature certificate before the password (conformance/rp/THIRD_PARTY.md)."""
    findings: list[str] = []
    for exchange in trace.exchanges:
        command = exchange.command
        if exchange.ins == INS_SELECT and len(command) > 5 and command[2] == 0x04:
            aid = command[5 : 5 + command[4]]
            if aid in CARD_INFO_APS:
                if exchange.sw == 0x9000:
                    findings.append(f"selected {CARD_INFO_APS[aid]}, which a {flow} does not need")
                else:
                    answer = "no answer" if exchange.sw is None else f"{exchange.sw:04X}"
                    findings.append(
                        f"tried to select {CARD_INFO_APS[aid]} (the card answered {answer}), "
                        f"which a {flow} does not need"
                    )
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


# ------------------------------------------------------------------------------ evidence


@dataclass(frozen=True)
class CardSignature:
    """A COMPUTE DIGITAL SIGNATURE the card answered with 9000 and a signature."""

    index: int  # position of the command among the step's exchanges
    key: str | None  # the key EF, e.g. "0017"
    p1: int  # the signature scheme (jpki-card-reference.md §10)
    data: bytes  # what the host sent
    signature: bytes


def card_signatures(trace: StepTrace) -> list[CardSignature]:
    """The signatures the card handed out in the step, GET RESPONSE parts joined (61xx)."""
    found: list[CardSignature] = []
    exchanges = trace.exchanges
    for index, exchange in enumerate(exchanges):
        if exchange.ins != INS_SIGN or exchange.ap != JPKI_AID or exchange.sw is None:
            continue
        signature, sw, after = exchange.response_data, exchange.sw, index + 1
        while sw >> 8 == 0x61 and after < len(exchanges):
            part = exchanges[after]
            if part.ins != INS_GET_RESPONSE or part.sw is None:
                break
            signature, sw, after = signature + part.response_data, part.sw, after + 1
        if sw == 0x9000 and signature:
            p1 = exchange.command[2]
            found.append(CardSignature(index, exchange.reference, p1, exchange.data, signature))
    return found


def _verified_at(trace: StepTrace, pin: str) -> list[int]:
    """Where a VERIFY with a value unlocked `pin` of the JPKI AP (9000)."""
    return [
        index
        for index, exchange in enumerate(trace.exchanges)
        if exchange.ins == INS_VERIFY
        and exchange.has_data
        and exchange.sw == 0x9000
        and exchange.ap == JPKI_AID
        and exchange.reference == pin
    ]


def bound_to(data: bytes, values: Sequence[bytes]) -> bool:
    """Whether `data` is derived from one of the forms of the given value."""
    return any(derived_from(data, value) for value in values)


def derived_from(data: bytes, value: bytes) -> bool:
    """Whether what the host sent for signing is `value` itself, a hash of it, or a DigestInfo
    of such a hash: the forms the P1 schemes of jpki-card-reference.md §10 take (P1 00 a
    DigestInfo, 01/03/05 the message, 02/04 its SHA-256)."""
    if data == value:
        return True
    for name in ("sha1", "sha224", "sha256", "sha384", "sha512"):
        digest = hashlib.new(name, value).digest()
        if data == digest:
            return True
        tail = bytes([0x04, len(digest)]) + digest
        if data.endswith(tail) and data[:1] == b"\x30" and data[1:2] == bytes([len(data) - 2]):
            return True
    return False


def judge_evidence(
    trace: StepTrace,
    flow: Flow,
    outcome: StepOutcome,
    *,
    message: Sequence[bytes] | None,
    certificate: bytes | None,
) -> list[Finding]:
    """An accepted outcome is a claim that the card did the flow: check the trace for it.

    `message`: the challenge (login) or document (sign) the software was given, in each form
    it was given (the challenge's bytes and its hex text), or None when it was given none
    (then the binding is not judged, and a note says so). `certificate`:
    the card's certificate of the flow (DER), to verify a signature the software reports."""
    if outcome.outcome != ACCEPTED:
        return []
    key, pin = FLOW_KEY[flow], FLOW_PIN[flow]
    signatures = card_signatures(trace)
    signed = [s for s in signatures if s.key == key]
    if not signed:
        other = [KEY_NAMES.get(s.key or "", "another key") for s in signatures]
        detail = f" with the {KEY_NAMES[key]} (only with the {other[0]})" if other else ""
        text = f"accepted, but the card never signed in this step{detail}"
        return [Finding("evidence", FAIL, text)]
    verified = _verified_at(trace, pin)
    if not verified or verified[0] > signed[-1].index:
        what = PIN_NAMES[pin]
        return [
            Finding(
                "evidence",
                FAIL,
                f"accepted, but the {what} was never verified in this step before the card signed",
            )
        ]
    findings: list[Finding] = []
    if message is None:
        findings.append(
            Finding(
                "evidence",
                NOTE,
                f"the software was not given {FLOW_MESSAGE[flow]} in its command template, so "
                "what the card signed was not checked against it",
            )
        )
    elif not any(bound_to(s.data, message) for s in signed):
        findings.append(
            Finding("evidence", FAIL, f"the card signed something other than {FLOW_MESSAGE[flow]}")
        )
    if outcome.signature is not None:
        findings += _judge_reported_signature(outcome.signature, signed, message, certificate, flow)
    return findings


def _judge_reported_signature(
    reported: bytes,
    signed: Sequence[CardSignature],
    message: Sequence[bytes] | None,
    certificate: bytes | None,
    flow: Flow,
) -> list[Finding]:
    match = next((s for s in signed if s.signature == reported), None)
    if match is None:
        return [
            Finding(
                "evidence",
                FAIL,
                "the reported signature is not one the card made in this step (replayed?)",
            )
        ]
    if certificate is None or match.p1 in (0x04, 0x05):  # PSS: nothing to recover
        return []
    key = x509.load_der_x509_certificate(certificate).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return []
    try:
        recovered = key.recover_data_from_signature(reported, padding.PKCS1v15(), None)
    except InvalidSignature:
        return [
            Finding(
                "evidence",
                FAIL,
                "the reported signature does not verify with the card's certificate",
            )
        ]
    if message is not None and not bound_to(recovered, message):
        text = f"the reported signature is not over {FLOW_MESSAGE[flow]}"
        return [Finding("evidence", FAIL, text)]
    return []


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
# The same six under the signature certificate's own keys: the SAN otherName OIDs, with the
# values exactly as the certificate holds them (the birth date as EYYYYMMDD).
OID_FIELDS: Mapping[str, str] = {
    f"{PERSONAL_DATA_ARC}.1": "name",
    f"{PERSONAL_DATA_ARC}.2": "name_substitution",
    f"{PERSONAL_DATA_ARC}.3": "sex",
    f"{PERSONAL_DATA_ARC}.4": "birth_date",
    f"{PERSONAL_DATA_ARC}.5": "address",
    f"{PERSONAL_DATA_ARC}.6": "address_substitution",
}
# What a login may report about the authentication certificate (not judged).
CERTIFICATE_FIELDS = ("subject", "serial")
# Every recognised key with its format and an example (README "identity" and the reports).
IDENTITY_KEYS: Mapping[str, str] = {
    "name": "the name as in the certificate, byte for byte: 試験　花子 (U+3000 kept)",
    "address": "the address as in the certificate, byte for byte (full-width digits kept)",
    "birth_date": "ISO 8601 Gregorian date: 1989-01-08",
    "sex": 'the certificate\'s code: "1" male, "2" female, "9" not applicable, "0" unknown',
    "name_substitution": 'one "0"/"1" per character of the name: 00000',
    "address_substitution": 'one "0"/"1" per character of the address: 0000000000000',
    **{oid: f"as the certificate holds {name}" for oid, name in OID_FIELDS.items()},
    f"{PERSONAL_DATA_ARC}.4": "as the certificate holds it, era digit + Gregorian date: 419890108",
    "subject": "login: the authentication certificate's subject (not judged)",
    "serial": "login: the certificate's serial number in hex (not judged)",
}


def expected_identity(holder: Holder) -> dict[str, str]:
    """The 4 information (and substitution flags) as a correct extraction reports them, under
    both the plain keys and the SAN OIDs."""
    plain = {
        "name": holder.name,
        "address": holder.address,
        "birth_date": holder.birth_date.isoformat(),
        "sex": holder.sex,
        "name_substitution": holder.name_substitution,
        "address_substitution": holder.address_substitution,
    }
    raw = {**plain, "birth_date": encode_birth_date(holder.birth_date)}
    return plain | {oid: raw[name] for oid, name in OID_FIELDS.items()}


def judge_identity(reported: Mapping[str, str], expected: Mapping[str, str]) -> list[Finding]:
    findings = []
    for key, value in reported.items():
        if key in expected and value != expected[key]:
            field_name = key if key in IDENTITY_FIELDS else f"{OID_FIELDS[key]} ({key})"
            findings.append(
                Finding(
                    "identity",
                    FAIL,
                    f"extracted {field_name} {value!r}, the certificate holds {expected[key]!r}",
                )
            )
    return findings + judge_identity_keys(reported)


def unrecognised_keys(reported: Mapping[str, str]) -> list[str]:
    return [key for key in reported if key not in IDENTITY_KEYS]


def judge_identity_keys(reported: Mapping[str, str]) -> list[Finding]:
    """A note naming the keys the harness does not know (they are not judged)."""
    unknown = unrecognised_keys(reported)
    if not unknown:
        return []
    return [Finding("identity", NOTE, unrecognised_message(unknown))]


def unrecognised_message(unknown: Sequence[str]) -> str:
    return (
        f"unrecognised identity keys: {', '.join(unknown)} (report name, address, birth_date, "
        f"sex, name_substitution, address_substitution or the SAN OIDs {PERSONAL_DATA_ARC}.1 "
        "to .6; see the README)"
    )


def reports_identity(reported: Mapping[str, str]) -> bool:
    return any(key in reported for key in (*IDENTITY_FIELDS, *OID_FIELDS))


def failures(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == FAIL]
