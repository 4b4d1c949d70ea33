"""Helpers of the reference relying-party tests: run a flow on an in-process card and record
what the relying party sent; the expected values, read from the persona files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from conformance.rp.context import Flow, StepContext, StepOutcome
from conformance.rp.reference import run_flow
from simulator import VirtualCard, load_persona
from simulator.personalization.holder import encode_birth_date
from simulator.personalization.persona import read_persona_document
from simulator.revocation import RevocationService

REFERENCE = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)  # CATALOGUE.md's reference date
CHALLENGE = bytes(range(32))
DOCUMENT = b'{"application": "eKYC", "nonce": "4f1c"}'
SECOND = dt.timedelta(seconds=1)
JPKI_SELECT = bytes.fromhex("00A4040C0AD392F000260100000001")
TEXT_AP_SELECT = bytes.fromhex("00A4040C0AD3921000310001010408")

Transmit = Callable[[bytes], bytes]


def utc_text(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Pki:
    """The running revocation server (in-process, port 35980) and the trusted roots."""

    service: RevocationService
    roots: dict[str, list[x509.Certificate]]

    def set(self, **settings: Any) -> None:
        if isinstance(settings.get("now"), dt.datetime):
            settings["now"] = utc_text(settings["now"])
        self.service.control_post(settings)


@dataclass
class Recorder:
    """A transmit function that records every command APDU before passing it on."""

    transmit: Transmit
    apdus: list[bytes] = field(default_factory=list)

    def __call__(self, apdu: bytes) -> bytes:
        self.apdus.append(apdu)
        return self.transmit(apdu)

    def pin_verifies(self) -> list[bytes]:
        """VERIFY commands that carry a PIN."""
        return [apdu for apdu in self.apdus if apdu[1] == 0x20 and len(apdu) > 4]

    def probes(self) -> list[bytes]:
        """Data-less VERIFY commands (tries-left queries)."""
        return [apdu for apdu in self.apdus if apdu[1] == 0x20 and len(apdu) == 4]

    def signatures(self) -> list[bytes]:
        return [apdu for apdu in self.apdus if apdu[:2] == b"\x80\x2a"]


@dataclass
class Run:
    outcome: StepOutcome
    recorder: Recorder
    card: VirtualCard

    @property
    def apdus(self) -> list[bytes]:
        return self.recorder.apdus

    def tries(self, pin: str) -> int:
        return self.card.pins()[pin].remaining


def secret(persona: str, flow: str) -> str:
    """The persona's right PIN (login) or signing password (sign)."""
    loaded = load_persona(persona)
    return (loaded.auth_pin if flow == "login" else loaded.sign_pin).value.decode()


def run(
    pki: Pki,
    persona: str = "default",
    flow: str = "login",
    *,
    pin: str | None = None,
    now: dt.datetime = REFERENCE,
    mutant: str | None = None,
    card: VirtualCard | None = None,
    wrap: Callable[[Transmit], Transmit] | None = None,
    auth_roots: list[x509.Certificate] | None = None,
    sign_roots: list[x509.Certificate] | None = None,
) -> Run:
    """One step on a fresh in-process card (or `card`), the revocation server's clock set to
    `now` as the harness does; `wrap` may change what the card answers."""
    if card is None:
        card = VirtualCard.from_persona(persona)
        card.power_on()
    pki.set(now=now)
    recorder = Recorder(card.transmit if wrap is None else wrap(card.transmit))
    outcome = run_flow(
        flow,  # type: ignore[arg-type]
        transmit=recorder,
        pin=secret(persona, flow) if pin is None else pin,
        now=now,
        auth_roots=pki.roots["auth"] if auth_roots is None else auth_roots,
        sign_roots=pki.roots["sign"] if sign_roots is None else sign_roots,
        challenge=CHALLENGE,
        data=DOCUMENT,
        mutant=mutant,
    )
    return Run(outcome, recorder, card)


def holder_identity(persona: str) -> dict[str, str]:
    """The basic four information as the persona file states it."""
    holder = read_persona_document(load_persona(persona).path).holder
    assert holder is not None
    return {
        "name": holder.name,
        "address": holder.address,
        "birth_date": holder.birth_date.isoformat(),
        "sex": holder.sex,
        "name_substitution": holder.name_substitution,
        "address_substitution": holder.address_substitution,
    }


def encoded_birth_date(persona: str) -> str:
    holder = read_persona_document(load_persona(persona).path).holder
    assert holder is not None
    return encode_birth_date(holder.birth_date)


def login_identity(persona: str) -> dict[str, str]:
    """CN and serial of the authentication certificate, from the persona's issuance table."""
    issuance = read_persona_document(load_persona(persona).path).auth.issuance
    assert issuance is not None
    return {"subject": issuance.common_name, "serial": format(issuance.serial, "x")}


def certificate(persona: str, slot: str) -> x509.Certificate:
    loaded = load_persona(persona)
    der = (loaded.auth if slot == "auth" else loaded.sign).certificate
    assert der is not None
    return x509.load_der_x509_certificate(der)


def revocation_reason(persona: str, slot: str) -> str | None:
    loaded = load_persona(persona)
    revocation = (loaded.auth if slot == "auth" else loaded.sign).revocation
    return None if revocation is None else revocation.reason.value


def tearing(ins: int) -> Callable[[Transmit], Transmit]:
    """The card is pulled when the command `ins` arrives: the transport raises, as pyscard
    does (CardConnectionException) when the card is gone."""

    def wrap(transmit: Transmit) -> Transmit:
        def torn(apdu: bytes) -> bytes:
            if apdu[1] == ins:
                raise ConnectionError("card removed")
            return transmit(apdu)

        return torn

    return wrap


def flipping_signature(transmit: Transmit) -> Transmit:
    """The card's signature comes back with one bit flipped."""

    def flipped(apdu: bytes) -> bytes:
        response = transmit(apdu)
        if apdu[:2] == b"\x80\x2a" and response[-2:] == b"\x90\x00":
            return bytes([response[0] ^ 0x01]) + response[1:]
        return response

    return flipped


def step_context(
    workdir: Path,
    *,
    flow: Flow = "login",
    pin: str = "1234",
    timeout: float = 20.0,
    pkcs11_module: str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
) -> StepContext:
    """A step's context as the harness would make it, files in `workdir` (not written)."""
    return StepContext(
        scenario="RP-PIN-001",
        step=1,
        flow=flow,
        reader="Virtual PCD 00 00",
        pin=pin,
        now=REFERENCE,
        challenge=CHALLENGE,
        workdir=workdir,
        data_file=workdir / "application.json",
        pdf=workdir / "document.pdf",
        auth_roots=workdir / "auth-roots.pem",
        sign_roots=workdir / "sign-roots.pem",
        pkcs11_module=pkcs11_module,
        pki_url="http://127.0.0.1:35980",
        timeout=timeout,
    )
