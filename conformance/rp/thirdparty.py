"""Known third-party relying parties, as command templates the harness can run.

    mynasim rp-check --rp pkcs11-tool        mynasim rp-check --rp pyhanko

Each `ThirdParty` names the flows it can do, a command template per flow (argv with the
``{placeholders}`` of `StepContext.placeholders`), how the user's PIN or password reaches
it, and what must be installed (`missing()` says what is not). `adapter()` gives the
harness an `Adapter` that runs the template of the step's flow through
`conformance.rp.adapters.FlowCommands` (result line if printed, else exit status 0 =
accepted; PIN redacted from the recorded output). `OPENSC_*` variables are removed from the
environment so OpenSC runs with its default configuration, as the facts below were measured.

pkcs11-tool (OpenSC 0.23, Debian 12)
------------------------------------
login: logs in to the token ``JPKI (User Authentication PIN)`` with ``--pin {pin}`` and
signs ``{challenge_file}`` with key id 01 (CKM_SHA256_RSA_PKCS) into
``{workdir}/signature.bin``; sign: the same with ``JPKI (Digital Signature PIN)``, key id 02
and the document ``{data_file}``. It prints no result line; exit status 0 = accepted. It
checks NOTHING about the card's certificates (no chain, validity, policy, revocation, not
even that the certificate matches the key): it is the "signs with whatever card is
inserted" baseline. Facts measured against `mynasim serve` (default persona, pcscd + vpcd):

- right PIN: exit 0, stderr ``Using signature algorithm SHA256-RSA-PKCS``, a 256-byte
  signature that verifies with the card's certificate.
- wrong PIN (also the try that blocks it, 63C0): exit 1, stderr ``error: PKCS11 function
  C_Login failed: rv = CKR_PIN_INCORRECT (0xa0)`` then ``Aborting.``; one try spent, no
  output file.
- PIN of the wrong length (auth not 4, sign not 6-16 characters): exit 1, ``C_Login failed:
  rv = CKR_PIN_LEN_RANGE (0xa2)``; OpenSC refuses it before the card sees it (no try spent).
- blocked PIN (right or wrong value): exit 1, ``C_Login failed: rv = CKR_GENERAL_ERROR
  (0x5)``. OpenSC asks the counter first (VERIFY without data: 63C0) and then still sends
  the PIN (VERIFY with data: 6984), and maps 6984 to a general error, not CKR_PIN_LOCKED;
  only ``pkcs11-tool -L`` shows "user PIN locked" in the token flags.
- card pulled during COMPUTE DIGITAL SIGNATURE (before or after the card answers, auth
  key): exit 1, ``error: PKCS11 function C_SignFinal failed: rv = CKR_GENERAL_ERROR (0x5)``,
  no output file; with the signature key: ``C_Login failed: rv = CKR_GENERAL_ERROR (0x5)``
  (the key is CKA_ALWAYS_AUTHENTICATE: the trace shows the session login, a second VERIFY
  with the password for the context-specific login, then the unanswered 2A).
- no card in the reader: exit 1, ``No slot with token named "JPKI (User Authentication
  PIN)" found``.
So pkcs11-tool never distinguishes "rejected" from "error": every failure is exit 1.

pyhanko (pyHanko 0.38, pyhanko-certvalidator 0.33)
--------------------------------------------------
sign only: `python -m conformance.rp.pyhanko_rp sign` signs ``{pdf}`` through
``{pkcs11_module}`` (token ``JPKI (Digital Signature PIN)`` in ``{reader}``, key and
certificate id 02, password in MYNASIM_PIN) into ``{workdir}/signed.pdf`` and validates it
against ``{sign_roots}`` at ``{now}`` with hard-fail revocation (CRL from the certificate).
It prints a result line. What it checks and does not check: see
`conformance.rp.pyhanko_rp` (notably: no JPKI policy check, so `production-policy` is
accepted; and pyHanko stops with a ValueError on a card whose signature certificate object
is empty, e.g. `under15`, which is an ``error``, not a polite refusal).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from conformance.rp.adapters import CommandAdapter, FlowCommands
from conformance.rp.context import Flow

PinVia = Literal["arg", "stdin", "env"]


@dataclass(frozen=True)
class ThirdParty:
    """A third-party relying party the harness knows how to run."""

    name: str
    description: str
    flows: tuple[Flow, ...]
    pin_via: PinVia
    templates: Mapping[Flow, tuple[str, ...]]
    programs: tuple[str, ...] = ()  # executables that must be on PATH
    modules: tuple[str, ...] = ()  # Python modules that must be importable
    env_drop_prefixes: tuple[str, ...] = ("OPENSC_",)
    checks: str = ""  # what it validates, in one line (for reports and --list-rps)

    def missing(self) -> list[str]:
        """What is not installed: programs not on PATH, Python modules not importable."""
        absent = [f"program {p}" for p in self.programs if shutil.which(p) is None]
        for module in self.modules:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                absent.append(f"Python module {module}")
        return absent

    def template(self, flow: Flow) -> tuple[str, ...]:
        if flow not in self.templates:
            raise KeyError(f"{self.name} does not do the {flow} flow")
        return self.templates[flow]

    def environment(self) -> dict[str, str]:
        return {
            k: v
            for k, v in os.environ.items()
            if not any(k.startswith(prefix) for prefix in self.env_drop_prefixes)
        }

    def adapter(self) -> ThirdPartyAdapter:
        return ThirdPartyAdapter(self)


class ThirdPartyAdapter(FlowCommands):
    """Runs the template of the step's flow with `CommandAdapter`."""

    def __init__(self, party: ThirdParty) -> None:
        env = party.environment()
        commands = {
            flow: CommandAdapter(list(argv), pin_via=party.pin_via, name=party.name, env=env)
            for flow, argv in party.templates.items()
        }
        super().__init__(commands, name=party.name)
        self.party = party


def _pkcs11_tool(token_label: str, key_id: str, data: str) -> tuple[str, ...]:
    return (
        "pkcs11-tool",
        "--module",
        "{pkcs11_module}",
        "--token-label",
        token_label,
        "--login",
        "--pin",
        "{pin}",
        "--sign",
        "--mechanism",
        "SHA256-RSA-PKCS",
        "--id",
        key_id,
        "--input-file",
        data,
        "--output-file",
        "{workdir}/signature.bin",
    )


PKCS11_TOOL = ThirdParty(
    name="pkcs11-tool",
    description="OpenSC pkcs11-tool: C_Login + C_Sign (SHA256-RSA-PKCS) with the card's key; "
    "validates no certificate",
    flows=("login", "sign"),
    pin_via="arg",
    templates={
        "login": _pkcs11_tool("JPKI (User Authentication PIN)", "01", "{challenge_file}"),
        "sign": _pkcs11_tool("JPKI (Digital Signature PIN)", "02", "{data_file}"),
    },
    programs=("pkcs11-tool",),
    checks="nothing: any card whose key signs is accepted (exit status 0)",
)

PYHANKO = ThirdParty(
    name="pyhanko",
    description="pyHanko: signs the PDF through OpenSC's PKCS#11 module, validates it "
    "(trust roots, validity, key usage, hard-fail CRL)",
    flows=("sign",),
    pin_via="env",
    templates={
        "sign": (
            sys.executable,
            "-m",
            "conformance.rp.pyhanko_rp",
            "sign",
            "--pdf",
            "{pdf}",
            "--out",
            "{workdir}/signed.pdf",
            "--module",
            "{pkcs11_module}",
            "--reader",
            "{reader}",
            "--now",
            "{now}",
            "--sign-roots",
            "{sign_roots}",
            "--timeout",
            "{timeout}",
        )
    },
    modules=("pyhanko", "pyhanko_certvalidator", "pkcs11"),
    checks="signature integrity, path to {sign_roots} at {now}, key usage nonRepudiation, "
    "hard-fail CRL; not the JPKI policy",
)

THIRD_PARTY: dict[str, ThirdParty] = {party.name: party for party in (PKCS11_TOOL, PYHANKO)}


def missing(name: str) -> list[str]:
    """What the named third-party relying party needs and is not installed."""
    return THIRD_PARTY[name].missing()
