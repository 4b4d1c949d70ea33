"""What a relying party under test receives for one step of a scenario, and what it answers.

A step is one run of the software under test: the user types one value (the PIN for a login,
the signing password for a signature) and the software does its flow once. Adapters turn a
`StepContext` into a command line, a Python call or a PKCS#11 session, and the software's
behaviour into a `StepOutcome`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

Flow = Literal["login", "sign"]
FLOWS: tuple[Flow, ...] = ("login", "sign")

ACCEPTED = "accepted"
REJECTED = "rejected"
ERROR = "error"
OUTCOMES = (ACCEPTED, REJECTED, ERROR)

# The placeholders that hand the software the value the card must sign: a command template that
# names one of them is held to it (what the card signed must be derived from that value).
MESSAGE_PLACEHOLDERS: dict[Flow, tuple[str, ...]] = {
    "login": ("challenge", "challenge_file"),
    "sign": ("data_file",),
}

# The names a command template may use as {name}; StepContext.placeholders() gives their values.
PLACEHOLDER_NAMES = (
    "scenario",
    "step",
    "flow",
    "reader",
    "pin",
    "now",
    "challenge",
    "challenge_file",
    "workdir",
    "data_file",
    "pdf",
    "auth_roots",
    "sign_roots",
    "pkcs11_module",
    "pki_url",
    "timeout",
)


@dataclass(frozen=True)
class StepContext:
    """Everything the software under test may use in one step (`{name}` placeholders in a
    command template, ``MYNASIM_<NAME>`` environment variables, attributes for Python)."""

    scenario: str  # e.g. "RP-PIN-003"
    step: int  # 1-based
    flow: Flow
    reader: str  # PC/SC reader name, e.g. "Virtual PCD 00 00"
    pin: str  # what the user types in this step (auth PIN or signing password)
    now: dt.datetime  # the scenario clock (UTC); the PKI services run on it too
    challenge: bytes  # login: the server's fresh nonce (32 bytes)
    workdir: Path  # a fresh directory for this step's files
    data_file: Path  # sign: the document to sign (an eKYC application, JSON)
    pdf: Path  # sign: a PDF to sign, for PDF signers
    auth_roots: Path  # PEM bundle: the trusted authentication roots for this scenario
    sign_roots: Path  # PEM bundle: the trusted signature roots for this scenario
    pkcs11_module: str  # OpenSC's PKCS#11 module
    pki_url: str  # base URL of the OCSP responder / CRL server, http://127.0.0.1:35980
    timeout: float  # seconds the software is given for this step

    @property
    def now_text(self) -> str:
        return self.now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def placeholders(self) -> dict[str, str]:
        """The values for a command template; the PIN is `pin`."""
        return {
            "scenario": self.scenario,
            "step": str(self.step),
            "flow": self.flow,
            "reader": self.reader,
            "pin": self.pin,
            "now": self.now_text,
            "challenge": self.challenge.hex(),
            "challenge_file": str(self.workdir / "challenge.bin"),
            "workdir": str(self.workdir),
            "data_file": str(self.data_file),
            "pdf": str(self.pdf),
            "auth_roots": str(self.auth_roots),
            "sign_roots": str(self.sign_roots),
            "pkcs11_module": self.pkcs11_module,
            "pki_url": self.pki_url,
            "timeout": f"{self.timeout:g}",
        }


@dataclass
class StepOutcome:
    """How the software ended one step.

    `outcome` is what it told its user: accepted (logged in / signature made and verified),
    rejected (refused, for a reason it names) or error (crashed, hung, or said so).
    `identity`: the fields it extracted, when it reports them (`conformance.rp.oracles.
    IDENTITY_KEYS` lists the recognised keys and their formats). `signature`: the signature
    the software obtained from the card, when it reports it; the harness verifies it.
    """

    outcome: str
    reason: str = ""
    identity: dict[str, str] = field(default_factory=dict)
    signature: bytes | None = None
    exit_code: int | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    duration: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> StepOutcome:
        """A result object {"outcome", "reason"?, "identity"?, "signature"? (hex)}; anything
        else is refused."""
        outcome = obj.get("outcome")
        if outcome not in OUTCOMES:
            raise ValueError(f'"outcome" must be one of {", ".join(OUTCOMES)}, got {outcome!r}')
        identity = obj.get("identity") or {}
        if not isinstance(identity, dict):
            raise ValueError('"identity" must be an object')
        return cls(
            outcome=str(outcome),
            reason=str(obj.get("reason", "")),
            identity={str(k): str(v) for k, v in identity.items()},
            signature=_signature(obj.get("signature")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "identity": self.identity,
            "signature": None if self.signature is None else self.signature.hex(),
            "exit_code": self.exit_code,
            "duration": round(self.duration, 3),
        }


def _signature(value: object) -> bytes | None:
    """The reported signature: hex digits (spaces and colons allowed), or absent/null."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError('"signature" must be a hex string')
    try:
        signature = bytes.fromhex(value.replace(":", " "))
    except ValueError:
        raise ValueError('"signature" is not hexadecimal') from None
    if not signature:
        raise ValueError('"signature" is empty')
    return signature


def result_line(
    outcome: str,
    reason: str = "",
    identity: dict[str, str] | None = None,
    signature: bytes | None = None,
) -> str:
    """The one-line JSON result a command under test may print last on stdout."""
    line: dict[str, object] = {"outcome": outcome, "reason": reason, "identity": identity or {}}
    if signature is not None:
        line["signature"] = signature.hex()
    return json.dumps(line, ensure_ascii=False)


class Adapter(Protocol):
    """Runs the software under test for one step."""

    name: str

    def run(self, context: StepContext) -> StepOutcome: ...
