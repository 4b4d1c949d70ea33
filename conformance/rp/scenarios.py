"""The relying-party scenario catalogue: named situations a vendor's software is run in.

Every scenario has a stable ID (``RP-PIN-…``, ``RP-CERT-…``, ``RP-REV-…``, ``RP-DATA-…``,
``RP-TEAR-…``), a purpose, its card and PKI setup, what the user does in each step, and what a
correct relying party does (per flow: ``login`` with the authentication certificate, ``sign``
with the signature certificate). The harness (`conformance.rp.harness`) sets the situation up
on a served card and the PKI services; the oracles (`conformance.rp.oracles`) judge.

The clock: every scenario runs at a fixed instant (default 2026-11-27T03:00:00Z, the reference
date of the persona catalogue). The PKI services run on it, and the software under test gets it
as ``{now}`` / ``MYNASIM_NOW``. Software that checks validity against the machine clock
instead is judged against the scenario's instant all the same; the report says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from conformance.rp.context import FLOWS, Flow

DEFAULT_NOW = "2026-11-27T03:00:00Z"

# What a step expects of the software, per flow.
ACCEPT = "accept"  # accepted, and only that
REJECT = "reject"  # not accepted: rejected, or an error that fails closed
REJECT_CLEANLY = "reject-cleanly"  # rejected with a reason; an error (crash) is a failure

# The default PINs of every persona: what the user types when the scenario says "right".
RIGHT_VALUES: Mapping[Flow, str] = MappingProxyType({"login": "1234", "sign": "ABC123"})
WRONG_VALUES: Mapping[Flow, str] = MappingProxyType({"login": "9999", "sign": "WRONG1"})
PIN_KEYS: Mapping[Flow, str] = MappingProxyType({"login": "auth", "sign": "sign"})

ALL_GENERATIONS = (1, 2, 3)


@dataclass(frozen=True)
class Fault:
    """A response fault armed on the served card before a step (see `mynasim ctl fault`)."""

    ins: str  # "2A"
    kind: str  # delay | flip | truncate | sw | der | chain61 | wrong-le | empty | other-key
    seconds: float = 0.0
    sw: str | None = None
    length: int = 0
    skip: int = 0  # matching commands let pass first: skip=2 targets the 3rd

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"ins": self.ins, "kind": self.kind, "times": 1}
        if self.kind == "delay":
            body["seconds"] = self.seconds
        if self.sw is not None:
            body["sw"] = self.sw
        if self.length:
            body["length"] = self.length
        if self.skip:
            body["skip"] = self.skip
        return body

    def describe(self) -> str:
        detail = {"delay": f" {self.seconds:g} s", "sw": f" {self.sw}"}.get(self.kind, "")
        which = f" (matching command #{self.skip + 1})" if self.skip else ""
        return f"{self.kind}{detail} on the response to INS {self.ins}{which}"


@dataclass(frozen=True)
class Removal:
    """The card is pulled when the command with this INS arrives (`mynasim ctl remove --on-ins`)."""

    ins: str  # "2A"
    when: str = "after"  # after: the card did the work, the answer never comes; before: never seen

    def describe(self) -> str:
        moment = "after processing" if self.when == "after" else "before it reaches the card"
        return f"card removed on INS {self.ins} ({moment})"


@dataclass(frozen=True)
class Step:
    """One run of the software: the user types the right or a wrong value once."""

    typed: str  # "right" | "wrong"
    expect: Mapping[Flow, str]  # ACCEPT / REJECT / REJECT_CLEANLY per flow
    because: str = ""  # why a correct relying party does that (used in failure messages)
    fault: Fault | None = None
    removal: Removal | None = None
    why: Mapping[Flow, str] = field(default_factory=dict)  # per flow, where the flows differ

    def expectation(self, flow: Flow) -> str:
        return self.expect[flow]

    def reason(self, flow: Flow) -> str:
        """Why a correct relying party does what the step expects in `flow`."""
        return self.why.get(flow, self.because)


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    purpose: str
    user: str  # what the user does, in words
    steps: tuple[Step, ...]
    flows: tuple[Flow, ...] = FLOWS
    persona: str = "default"
    now: str = DEFAULT_NOW
    remaining: Mapping[str, int] = field(default_factory=dict)  # {"auth": 1} before step 1
    ocsp: str = "normal"
    crl: str = "normal"
    trusted: Mapping[str, tuple[int, ...]] = field(
        default_factory=lambda: {"auth": ALL_GENERATIONS, "sign": ALL_GENERATIONS}
    )
    identity: bool = False  # the extracted 4 information are the point of the scenario
    references: str = ""  # jpki-pki-and-relying-parties.md §7 case / §5 pitfall

    @property
    def area(self) -> str:
        return self.id.split("-")[1]

    @property
    def instant(self) -> dt.datetime:
        return parse_instant(self.now)

    def setup(self) -> str:
        """The card and PKI setup in words, for the catalogue and the reports."""
        parts = [f"persona `{self.persona}`", f"clock {self.now}"]
        parts += [f"{pin} tries left {n}" for pin, n in self.remaining.items()]
        if self.ocsp != "normal":
            parts.append(f"OCSP {self.ocsp}")
        if self.crl != "normal":
            parts.append(f"CRL {self.crl}")
        for hierarchy, generations in self.trusted.items():
            if tuple(generations) != ALL_GENERATIONS:
                listed = ", ".join(str(g) for g in generations)
                parts.append(f"trusted {hierarchy} roots: generation {listed} only")
        for number, step in enumerate(self.steps, 1):
            if step.fault is not None:
                parts.append(f"step {number}: {step.fault.describe()}")
            if step.removal is not None:
                parts.append(f"step {number}: {step.removal.describe()}")
        return "; ".join(parts)


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 instant; naive values are refused (a clock without a zone is a bug)."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone; write it in UTC with Z")
    return value.astimezone(dt.UTC)


def _both(expect: str) -> Mapping[Flow, str]:
    return {"login": expect, "sign": expect}


def _split(login: str, sign: str) -> Mapping[Flow, str]:
    return {"login": login, "sign": sign}


RIGHT_ACCEPT = Step("right", _both(ACCEPT), "the card, the certificate and the PIN are all good")

# The default persona's certificates: 2024-08-26T01:23:45Z -> 2029-08-20T14:59:59Z (both).
DEFAULT_NOT_BEFORE = "2024-08-26T01:23:45Z"
DEFAULT_NOT_AFTER = "2029-08-20T14:59:59Z"


def _seconds_from(text: str, seconds: int) -> str:
    return (parse_instant(text) + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


SLOW_SECONDS = 4.5  # just under the 5 s that many clients allow an APDU

CATALOGUE: tuple[Scenario, ...] = (
    # ----------------------------------------------------------------------- PIN budget
    Scenario(
        "RP-PIN-001",
        "Correct login",
        "The baseline login: fresh card, the user types the right PIN once.",
        "types the right PIN",
        (Step("right", {"login": ACCEPT}, "everything is valid"),),
        flows=("login",),
        references="§2.3 login; §7 #1",
    ),
    Scenario(
        "RP-PIN-002",
        "Correct signing",
        "The baseline eKYC signature: fresh card, the user types the right signing password "
        "once; the 4 information are extracted.",
        "types the right signing password",
        (Step("right", {"sign": ACCEPT}, "everything is valid"),),
        flows=("sign",),
        references="§2.3 eKYC; §7 #1",
    ),
    Scenario(
        "RP-PIN-003",
        "Wrong PIN once, then right",
        "A typo costs exactly one try, the software says so and does not try again by itself.",
        "types a wrong value, then (second run) the right one",
        (
            Step("wrong", _both(REJECT_CLEANLY), "the user typed a wrong value"),
            Step("right", _both(ACCEPT), "the second value is right and tries are left"),
        ),
        references="§5 pitfall 1; §7 #19",
    ),
    Scenario(
        "RP-PIN-004",
        "One try left, right value",
        "Two tries are already gone; the software reads the remaining tries (63C1) before "
        "asking, and the right value still works.",
        "types the right value",
        (RIGHT_ACCEPT,),
        remaining={"auth": 1, "sign": 1},
        references="§5 pitfall 1; §7 #19",
    ),
    Scenario(
        "RP-PIN-005",
        "Last try wrong, then right",
        "The last try is typed wrong and blocks the credential; the right value typed later "
        "must not be sent to a blocked card.",
        "types a wrong value with one try left, then (second run) the right one",
        (
            Step("wrong", _both(REJECT_CLEANLY), "the last try was wrong: now blocked"),
            Step("right", _both(REJECT_CLEANLY), "the credential is blocked (6984)"),
        ),
        remaining={"auth": 1, "sign": 1},
        references="§5 pitfall 1",
    ),
    Scenario(
        "RP-PIN-006",
        "Credential blocked",
        "The PIN (login) or signing password (sign) is blocked before the software starts: it "
        "must say so without sending the value.",
        "types the right value",
        (Step("right", _both(REJECT_CLEANLY), "the credential is blocked"),),
        remaining={"auth": 0, "sign": 0},
        references="§5 pitfall 1; §7 #19",
    ),
    Scenario(
        "RP-PIN-007",
        "Signing password blocked, authentication PIN fine",
        "The two credentials have separate budgets: a blocked signing password does not stop "
        "a login.",
        "types the right value",
        (
            Step(
                "right",
                _split(ACCEPT, REJECT_CLEANLY),
                "only the signing password is blocked",
                why=_split(
                    "the authentication PIN is not blocked (only the signing password is)",
                    "the signing password is blocked",
                ),
            ),
        ),
        remaining={"sign": 0},
        references="§5 pitfall 1",
    ),
    Scenario(
        "RP-PIN-008",
        "Android smartphone token",
        "The Android JPKI token (JPKIAPGPSETOKEN): the authentication certificate is only "
        "readable after the PIN.",
        "types the right value",
        (RIGHT_ACCEPT,),
        persona="android",
        references="§5 pitfall 3; §7 #21",
    ),
    Scenario(
        "RP-PIN-009",
        "iPhone smartphone token",
        "The iPhone JPKI token (JPKIAPIOSTOKEN), treated like the Android one; holder born on "
        "29 February.",
        "types the right value",
        (RIGHT_ACCEPT,),
        persona="ios",
        references="§5 pitfall 3; §7 #21",
    ),
    # ------------------------------------------------------------------- certificates
    Scenario(
        "RP-CERT-001",
        "Expired certificates",
        "Both certificates expired in 2024 (their CA is still valid).",
        "types the right value",
        (Step("right", _both(REJECT), "the certificate has expired"),),
        persona="expired",
        references="§7 #7",
    ),
    Scenario(
        "RP-CERT-002",
        "Certificates not yet valid",
        "notBefore is 2027-01-15T00:30:00Z, after the scenario clock.",
        "types the right value",
        (Step("right", _both(REJECT), "the certificate is not yet valid"),),
        persona="not-yet-valid",
        references="§7 #7",
    ),
    Scenario(
        "RP-CERT-003",
        "Last second of validity",
        "The clock stands at notAfter exactly (14:59:59Z, 23:59:59 JST): still valid.",
        "types the right value",
        (Step("right", _both(ACCEPT), "notAfter is inclusive"),),
        now=DEFAULT_NOT_AFTER,
        references="§5 pitfall 12; §7 #7",
    ),
    Scenario(
        "RP-CERT-004",
        "One second after expiry",
        "The clock stands one second after notAfter (15:00:00Z, midnight JST): expired, even "
        "though it is still the same day in UTC.",
        "types the right value",
        (Step("right", _both(REJECT), "the certificate expired one second ago"),),
        now=_seconds_from(DEFAULT_NOT_AFTER, 1),
        references="§5 pitfall 12; §7 #7",
    ),
    Scenario(
        "RP-CERT-005",
        "One second before validity",
        "The clock stands one second before notBefore.",
        "types the right value",
        (Step("right", _both(REJECT), "the certificate is not yet valid (by one second)"),),
        now=_seconds_from(DEFAULT_NOT_BEFORE, -1),
        references="§7 #7",
    ),
    Scenario(
        "RP-CERT-006",
        "Chain to another root generation",
        "Both certificates come from generation 2, whose DN equals generations 1 and 3: the "
        "issuer must be chosen by key (AKI), not by DN.",
        "types the right value",
        (Step("right", _both(ACCEPT), "generation 2 is trusted"),),
        persona="middle-generation",
        references="§5 pitfall 5; §7 #2, #3",
    ),
    Scenario(
        "RP-CERT-007",
        "Issuing root not trusted",
        "The relying party is configured to trust generations 1 and 3 only, and the card's "
        "certificates come from generation 2 (whose CA certificate the card itself carries).",
        "types the right value",
        (Step("right", _both(REJECT), "the issuing root is not in the trust store"),),
        persona="middle-generation",
        trusted={"auth": (1, 3), "sign": (1, 3)},
        references="§5 pitfall 5",
    ),
    Scenario(
        "RP-CERT-008",
        "Certificate from the wrong hierarchy",
        "The authentication slot holds a certificate issued by the signature root (with the "
        "signature policy); the signature slot is normal.",
        "types the right value",
        (
            Step(
                "right",
                _split(REJECT, ACCEPT),
                "the authentication certificate was not issued by an authentication root",
                why=_split(
                    "the authentication certificate was not issued by an authentication root",
                    "the signature certificate is normal (only the authentication slot is not)",
                ),
            ),
        ),
        persona="other-hierarchy",
        references="§7 #5",
    ),
    Scenario(
        "RP-CERT-009",
        "Tampered signature",
        "The card's signature comes back with one bit flipped.",
        "types the right value",
        (
            Step(
                "right",
                _both(REJECT),
                "the signature does not verify",
                fault=Fault("2A", "flip"),
            ),
        ),
        references="§7 #11",
    ),
    Scenario(
        "RP-CERT-010",
        "Unknown critical extension",
        "Both certificates carry an unrecognised critical extension (2.999.1).",
        "types the right value",
        (
            Step(
                "right",
                _both(REJECT),
                "the certificate has an unknown critical extension (RFC 5280 §4.2)",
            ),
        ),
        persona="unknown-critical-extension",
        references="§7 #6",
    ),
    Scenario(
        "RP-CERT-011",
        "Production policy under a test root",
        "The certificates carry the production policy OIDs but chain to the test roots.",
        "types the right value",
        (Step("right", _both(REJECT), "the policy is not the test policy of these roots"),),
        persona="production-policy",
        references="§5 pitfall 6; §7 #4",
    ),
    # --------------------------------------------------------------------- revocation
    Scenario(
        "RP-REV-001",
        "Signature certificate revoked after a move",
        "The holder moved: the signature certificate is revoked (affiliationChanged), the "
        "authentication certificate is still good.",
        "types the right value",
        (
            Step(
                "right",
                _split(ACCEPT, REJECT),
                "the signature certificate is revoked (affiliationChanged)",
                why=_split(
                    "the authentication certificate is good (only the signature certificate "
                    "is revoked)",
                    "the signature certificate is revoked (affiliationChanged)",
                ),
            ),
        ),
        persona="address-changed",
        references="§7 #8",
    ),
    Scenario(
        "RP-REV-002",
        "Both certificates revoked: key compromise",
        "The card was reported lost: both certificates revoked (keyCompromise).",
        "types the right value",
        (Step("right", _both(REJECT), "the certificate is revoked (keyCompromise)"),),
        persona="key-compromise",
        references="§7 #9",
    ),
    Scenario(
        "RP-REV-003",
        "Superseded after a renewal",
        "The old card of a renewed holder: both certificates revoked (superseded), still "
        "within their validity.",
        "types the right value",
        (Step("right", _both(REJECT), "the certificate is revoked (superseded)"),),
        persona="renewed-previous",
        references="§7 #9",
    ),
    Scenario(
        "RP-REV-004",
        "Signature certificate on hold",
        "The signature certificate is revoked with certificateHold; authentication is good.",
        "types the right value",
        (
            Step(
                "right",
                _split(ACCEPT, REJECT),
                "the signature certificate is on hold",
                why=_split(
                    "the authentication certificate is good (only the signature certificate "
                    "is on hold)",
                    "the signature certificate is on hold",
                ),
            ),
        ),
        persona="certificate-hold",
        references="§7 #9",
    ),
    Scenario(
        "RP-REV-005",
        "Revocation source down",
        "The OCSP responder and the CRL server answer 503: the status cannot be established, "
        "so nothing may be accepted (fail closed).",
        "types the right value",
        (Step("right", _both(REJECT), "the revocation status is unknown (source down)"),),
        ocsp="unavailable",
        crl="unavailable",
        references="§5 pitfall 4; §7 #10",
    ),
    Scenario(
        "RP-REV-006",
        "Revocation status unknown",
        "The OCSP responder answers `unknown` for the certificate and the only CRL is stale "
        "(nextUpdate passed).",
        "types the right value",
        (Step("right", _both(REJECT), "the revocation status is unknown"),),
        ocsp="unknown",
        crl="stale",
        references="§7 #10",
    ),
    Scenario(
        "RP-REV-007",
        "Revocation answer with a bad signature",
        "The OCSP response and the CRL are signed wrongly (last signature octet flipped).",
        "types the right value",
        (Step("right", _both(REJECT), "the revocation answer's signature is bad"),),
        ocsp="bad-signature",
        crl="bad-signature",
        references="§7 #10",
    ),
    Scenario(
        "RP-REV-008",
        "OCSP responder certificate expired",
        "The OCSP response is signed by a delegated responder whose certificate expired yesterday.",
        "types the right value",
        (Step("right", {"login": REJECT}, "the OCSP responder's certificate has expired"),),
        flows=("login",),
        ocsp="responder-expired",
        references="§7 #10",
    ),
    # ------------------------------------------------------------------------ tearing
    Scenario(
        "RP-TEAR-001",
        "Card removed mid-signature",
        "The card computes the signature but is pulled before the answer comes back. After "
        "it is put back, the next run must succeed without spending extra tries.",
        "types the right value; puts the card back; types the right value again",
        (
            Step(
                "right",
                _both(REJECT),
                "no signature came back",
                removal=Removal("2A", "after"),
            ),
            Step("right", _both(ACCEPT), "the card is back and the value is right"),
        ),
        references="§5 pitfall 15; §7 #22",
    ),
    Scenario(
        "RP-TEAR-002",
        "Card removed at the PIN check",
        "The card is pulled as the first VERIFY arrives, before the card sees it.",
        "types the right value; puts the card back; types the right value again",
        (
            Step(
                "right",
                _both(REJECT),
                "the card left before the PIN check",
                removal=Removal("20", "before"),
            ),
            Step("right", _both(ACCEPT), "the card is back and the value is right"),
        ),
        references="§7 #22",
    ),
    Scenario(
        "RP-TEAR-003",
        "Slow card",
        f"The signature answer comes {SLOW_SECONDS:g} s late, just under the 5 s many clients "
        "allow: the software waits, spends no extra try and succeeds.",
        "types the right value",
        (
            Step(
                "right",
                _both(ACCEPT),
                "the card answers, only slowly",
                fault=Fault("2A", "delay", seconds=SLOW_SECONDS),
            ),
        ),
        references="§5 pitfall 15; §7 #22",
    ),
    # ------------------------------------------------------------------ personal data
    Scenario(
        "RP-DATA-001",
        "Substituted characters",
        "Name `高橋　吉子` with substitution flags `10010`, an address flag on 葛: kept "
        "byte-exact, flags surfaced.",
        "types the right signing password",
        (Step("right", {"sign": ACCEPT}, "valid"),),
        flows=("sign",),
        persona="substitution-flags",
        identity=True,
        references="§5 pitfall 10; §7 #16",
    ),
    Scenario(
        "RP-DATA-002",
        "Long full-width name",
        "A 45-character katakana name with U+3000, U+30FB and U+FF1D: extracted whole and "
        "unnormalised.",
        "types the right signing password",
        (Step("right", {"sign": ACCEPT}, "valid"),),
        flows=("sign",),
        persona="long-name",
        identity=True,
        references="§5 pitfall 10; §7 #16",
    ),
    Scenario(
        "RP-DATA-003",
        "Overseas address",
        "A holder living abroad: the address has no prefecture or city.",
        "types the right signing password",
        (Step("right", {"sign": ACCEPT}, "valid"),),
        flows=("sign",),
        persona="overseas",
        identity=True,
        references="§5 pitfall 16; §7 #17",
    ),
    Scenario(
        "RP-DATA-004",
        "Born on the last day of 明治",
        "Birth date `119120729`: the era digit 1 followed by the Gregorian 1912-07-29.",
        "types the right signing password",
        (Step("right", {"sign": ACCEPT}, "valid"),),
        flows=("sign",),
        persona="era-meiji",
        identity=True,
        references="§5 pitfall 9; §7 #15",
    ),
    Scenario(
        "RP-DATA-005",
        "Born on the first day of 大正",
        "Birth date `219120730`: era digit 2, Gregorian 1912-07-30.",
        "types the right signing password",
        (Step("right", {"sign": ACCEPT}, "valid"),),
        flows=("sign",),
        persona="era-taisho",
        identity=True,
        references="§5 pitfall 9; §7 #15",
    ),
    Scenario(
        "RP-DATA-006",
        "Born on the last day of 昭和",
        "Birth date `319890107`: era digit 3, Gregorian 1989-01-07.",
        "types the right signing password",
        (Step("right", {"sign": ACCEPT}, "valid"),),
        flows=("sign",),
        persona="era-showa",
        identity=True,
        references="§5 pitfall 9; §7 #15",
    ),
    Scenario(
        "RP-DATA-007",
        "Born on the first day of 平成",
        "Birth date `419890108`: era digit 4, Gregorian 1989-01-08.",
        "types the right signing password",
        (Step("right", {"sign": ACCEPT}, "valid"),),
        flows=("sign",),
        persona="era-heisei",
        identity=True,
        references="§5 pitfall 9; §7 #15",
    ),
    Scenario(
        "RP-DATA-008",
        "Under-15 card without a signature certificate",
        "A child's card: authentication only. A login works; a signature must be refused with "
        "a clear reason, without spending a password try, and without crashing.",
        "types the right value",
        (
            Step(
                "right",
                _split(ACCEPT, REJECT_CLEANLY),
                "the card has no signature certificate",
                why=_split(
                    "the authentication certificate is valid (the card only lacks a signature "
                    "certificate)",
                    "the card has no signature certificate",
                ),
            ),
        ),
        persona="under15",
        references="§7 #20",
    ),
    Scenario(
        "RP-DATA-009",
        "Foreign resident",
        "A name in the alphabet with U+3000 and a space, sex code 9 (not applicable).",
        "types the right signing password",
        (Step("right", {"sign": ACCEPT}, "valid"),),
        flows=("sign",),
        persona="foreign-resident",
        identity=True,
        references="§5 pitfall 10",
    ),
)

BY_ID: Mapping[str, Scenario] = MappingProxyType({s.id: s for s in CATALOGUE})

# The reference relying party's mutants, each with the scenario (and flow) that must catch it.
# tests/interop/test_rp_mutants.py proves every one is caught there.
CATCHES: Mapping[str, tuple[str, Flow]] = MappingProxyType(
    {
        "auto-retry": ("RP-PIN-003", "login"),
        "no-tries-probe": ("RP-PIN-001", "login"),
        "ignores-blocked": ("RP-PIN-006", "login"),
        "no-revocation-check": ("RP-REV-001", "sign"),
        "revocation-fail-open": ("RP-REV-005", "login"),
        "accepts-expired": ("RP-CERT-001", "login"),
        "accepts-not-yet-valid": ("RP-CERT-002", "sign"),
        "expiry-by-date": ("RP-CERT-004", "login"),
        "issuer-by-dn": ("RP-CERT-006", "login"),
        "trusts-card-ca": ("RP-CERT-007", "login"),
        "no-signature-check": ("RP-CERT-009", "login"),
        "ignores-critical-extensions": ("RP-CERT-010", "sign"),
        "accepts-any-policy": ("RP-CERT-011", "login"),
        "reads-my-number": ("RP-PIN-001", "login"),
        "success-on-torn": ("RP-TEAR-001", "login"),
        "birth-date-misparse": ("RP-DATA-004", "sign"),
        "nfkc-identity": ("RP-DATA-002", "sign"),
    }
)


def select(patterns: list[str] | None) -> list[Scenario]:
    """Scenarios whose ID equals or starts with one of `patterns` (all when None or empty);
    a pattern that matches nothing is an error (a typo must not shrink a run silently)."""
    if not patterns:
        return list(CATALOGUE)
    chosen: list[Scenario] = []
    for pattern in patterns:
        key = pattern.upper()
        matched = [s for s in CATALOGUE if s.id == key or s.id.startswith(key)]
        if not matched:
            areas = sorted({s.id.rsplit("-", 1)[0] for s in CATALOGUE})
            raise ValueError(
                f"no scenario matches {pattern!r}; IDs look like RP-PIN-001, "
                f"or use a prefix: {', '.join(areas)}"
            )
        chosen += [s for s in matched if s not in chosen]
    return [s for s in CATALOGUE if s in chosen]


def catalogue_markdown() -> str:
    """The catalogue as Markdown (conformance/rp/SCENARIOS.md is this, kept in step by a test)."""
    out = [
        "# Relying-party scenarios",
        "",
        "Generated from `conformance/rp/scenarios.py` (`mynasim rp-check --list` prints the "
        "same). Expectations per flow: **accept**; **reject** (not accepted: a rejection, or "
        "an error that fails closed); **reject-cleanly** (a rejection with a reason; a crash "
        "or error fails). An accepted outcome counts only with evidence from the card: a "
        "successful VERIFY of the flow's credential and a `9000` signature with the flow's key "
        "in that step, over the challenge or document when the software was given it. Every "
        "scenario is also judged by the PIN-budget, data-minimisation and (for signatures) "
        "identity oracles. The clock is the scenario's; the software "
        "gets it as `{now}` / `MYNASIM_NOW`. The values the user types: "
        f"right = `{RIGHT_VALUES['login']}` (PIN) / `{RIGHT_VALUES['sign']}` (password), "
        f"wrong = `{WRONG_VALUES['login']}` / `{WRONG_VALUES['sign']}`. References name the "
        "sections of the project's research notes on JPKI relying parties (§5 pitfalls, §7 "
        "conformance cases).",
        "",
    ]
    for scenario in CATALOGUE:
        out += [f"## {scenario.id}: {scenario.title}", ""]
        out.append(f"- Purpose: {scenario.purpose}")
        out.append(f"- Flows: {', '.join(scenario.flows)}")
        out.append(f"- Setup: {scenario.setup()}")
        out.append(f"- The user: {scenario.user}")
        for number, step in enumerate(scenario.steps, 1):
            expects = "; ".join(
                f"{flow} **{step.expect[flow]}** ({step.reason(flow)})" for flow in scenario.flows
            )
            out.append(f"- Step {number} ({step.typed} value): {expects}")
        if scenario.identity:
            out.append("- The extracted 4 information must equal the holder's, byte for byte.")
        catches = [name for name, (sid, _flow) in CATCHES.items() if sid == scenario.id]
        if catches:
            out.append(f"- Catches the reference mutants: {', '.join(catches)}")
        out.append(f"- References: {scenario.references}")
        out.append("")
    return "\n".join(out)
