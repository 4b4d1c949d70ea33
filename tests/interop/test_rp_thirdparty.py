"""Third-party relying parties against the real stack (pcscd + vpcd + `mynasim serve` + the
PKI services on 127.0.0.1:35980): OpenSC's pkcs11-tool through its template, pyHanko through
`conformance.rp.pyhanko_rp`, and the in-process PKCS#11 adapter with `pkcs11_login`.

The PKI port is fixed: run these where nobody else serves it (CI, or .ci/isolated).
One card is served at a time; the tests switch persona only when they must.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from conformance.rp.context import ACCEPTED, ERROR, REJECTED, StepContext, StepOutcome
from conformance.rp.documents import write_application, write_pdf
from conformance.rp.pkcs11 import (
    TOKEN_LABELS,
    Pkcs11Adapter,
    find_opensc_module,
    pkcs11_login,
    pkcs11_sign,
)
from conformance.rp.thirdparty import THIRD_PARTY
from conformance.stack import Pcscd, PkiServer, ServedCard, reader_name
from simulator.personalization import fixtures_root, load_authorities

REFERENCE = "2026-11-27T03:00:00Z"
NOW = dt.datetime(2026, 11, 27, 3, tzinfo=dt.UTC)
AUTH_PIN, SIGN_PIN = "1234", "ABC123"
PINS = {"login": "jpki/0018", "sign": "jpki/001B"}
FULL = {"login": 3, "sign": 5}


def needs(party: str) -> None:
    """In CI a missing third party is an error, never a skip (as for pcscd)."""
    absent = THIRD_PARTY[party].missing()
    if absent:
        message = f"{party} needs {', '.join(absent)}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def needs_python_pkcs11() -> None:
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("python-pkcs11 is not installed")
        pytest.skip("python-pkcs11 is not installed")


def module_path() -> str:
    found = find_opensc_module()
    assert found, "OpenSC's PKCS#11 module is not installed (apt-get install opensc)"
    return found


class Cards:
    """One `mynasim serve` at a time in slot 0; `use(persona)` restarts only on a change."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.served: ServedCard | None = None

    def use(self, persona: str) -> ServedCard:
        if self.served is not None and self.served.personas == [persona]:
            self.reset()
            return self.served
        self.stop()
        folder = self.workdir / persona
        folder.mkdir(exist_ok=True)
        self.served = ServedCard([persona], folder).start()
        return self.served

    def reset(self) -> None:
        """Full PIN counters and the card in the reader (after a removal test)."""
        assert self.served is not None
        status = self.served.ctl("GET", "/status")["cards"][0]
        if not status["inserted"]:
            self.served.wait_absent()
            self.served.ctl("POST", "/cards/0/insert")
            self.served.wait_present()
        self.served.ctl("POST", "/cards/0/pins/auth", {"remaining": 3})
        self.served.ctl("POST", "/cards/0/pins/sign", {"remaining": 5})

    def tries(self) -> dict[str, int]:
        assert self.served is not None
        pins = self.served.ctl("GET", "/status")["cards"][0]["pins"]
        return {flow: int(pins[key]["remaining"]) for flow, key in PINS.items()}

    def stop(self) -> None:
        if self.served is not None:
            self.served.stop()
            self.served = None


@pytest.fixture(scope="module")
def world(pcscd: Pcscd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("rp-thirdparty")
    roots: dict[str, Path] = {}
    authorities = load_authorities(fixtures_root())
    for hierarchy in ("auth", "sign"):
        pem = b"".join(
            ca.certificate.public_bytes(Encoding.PEM)
            for ca in authorities
            if ca.hierarchy == hierarchy
        )
        roots[hierarchy] = base / f"{hierarchy}-roots.pem"
        roots[hierarchy].write_bytes(pem)
    cards = Cards(base)
    with PkiServer(base, now=REFERENCE) as pki:
        try:
            yield {"pki": pki, "cards": cards, "roots": roots}
        finally:
            cards.stop()


@pytest.fixture
def card(world: dict[str, Any]) -> Iterator[Cards]:
    """The default persona, counters full, PKI normal and on the reference clock."""
    cards: Cards = world["cards"]
    cards.use("default")
    world["pki"].control(now=REFERENCE, ocsp="normal", crl="normal")
    yield cards


def step(world: dict[str, Any], tmp_path: Path, flow: str, pin: str, **changes: Any) -> Any:
    workdir = tmp_path / f"{flow}-step"
    workdir.mkdir(exist_ok=True)
    context = StepContext(
        scenario="RP-THIRDPARTY",
        step=1,
        flow=flow,  # type: ignore[arg-type]
        reader=reader_name(0),
        pin=pin,
        now=NOW,
        challenge=bytes(range(32)),
        workdir=workdir,
        data_file=write_application(workdir / "application.json"),
        pdf=write_pdf(workdir / "application.pdf"),
        auth_roots=world["roots"]["auth"],
        sign_roots=world["roots"]["sign"],
        pkcs11_module=module_path(),
        pki_url=world["pki"].url,
        timeout=60,
    )
    (workdir / "challenge.bin").write_bytes(context.challenge)  # the harness writes it too
    return dataclasses.replace(context, **changes)


def card_certificate(flow: str, tmp_path: Path) -> x509.Certificate:
    slot, key_id = (0, "01") if flow == "login" else (1, "02")
    login = ["--login", "--pin", SIGN_PIN] if flow == "sign" else []
    out = tmp_path / f"{flow}-card.der"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSC_")}
    subprocess.run(
        ["pkcs11-tool", "--module", module_path(), "--slot-index", str(slot), *login,
         "--read-object", "--type", "cert", "--id", key_id, "-o", str(out)],
        check=True, capture_output=True, timeout=60, env=env,
    )  # fmt: skip
    return x509.load_der_x509_certificate(out.read_bytes())


def verify(certificate: x509.Certificate, signature: bytes, data: bytes) -> None:
    key = certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def explain(outcome: StepOutcome) -> str:
    return (
        f"{outcome.outcome}: {outcome.reason} (exit {outcome.exit_code})\n"
        f"stdout: {outcome.stdout_tail}\nstderr: {outcome.stderr_tail}"
    )


# ----------------------------------------------------------------------------- pkcs11-tool


@pytest.mark.parametrize(("flow", "pin"), [("login", AUTH_PIN), ("sign", SIGN_PIN)])
def test_pkcs11_tool_signs_with_the_right_pin(
    world: dict[str, Any], card: Cards, tmp_path: Path, flow: str, pin: str
) -> None:
    needs("pkcs11-tool")
    context = step(world, tmp_path, flow, pin)
    outcome = THIRD_PARTY["pkcs11-tool"].adapter().run(context)
    assert outcome.outcome == ACCEPTED and outcome.exit_code == 0, explain(outcome)
    signature = (context.workdir / "signature.bin").read_bytes()
    data = context.challenge if flow == "login" else context.data_file.read_bytes()
    verify(card_certificate(flow, tmp_path), signature, data)
    assert pin not in outcome.stderr_tail + outcome.stdout_tail + outcome.reason
    assert card.tries() == FULL


def test_pkcs11_tool_wrong_pin_blocked_pin_and_pulled_card(
    world: dict[str, Any], card: Cards, tmp_path: Path
) -> None:
    needs("pkcs11-tool")
    tool = THIRD_PARTY["pkcs11-tool"].adapter()
    wrong = tool.run(step(world, tmp_path, "login", "9999"))
    assert wrong.outcome == REJECTED and wrong.exit_code == 1, explain(wrong)
    assert "C_Login failed: rv = CKR_PIN_INCORRECT (0xa0)" in wrong.stderr_tail
    assert card.tries()["login"] == 2
    short = tool.run(step(world, tmp_path, "sign", "AB"))
    assert short.exit_code == 1 and "CKR_PIN_LEN_RANGE" in short.stderr_tail, explain(short)
    assert card.tries()["sign"] == 5  # OpenSC refused it before the card saw it

    assert card.served is not None
    card.served.ctl("POST", "/cards/0/pins/auth", {"remaining": 0})
    for pin in (AUTH_PIN, "9999"):
        blocked = tool.run(step(world, tmp_path, "login", pin))
        assert blocked.exit_code == 1, explain(blocked)
        assert "C_Login failed: rv = CKR_GENERAL_ERROR (0x5)" in blocked.stderr_tail
    card.served.ctl("POST", "/cards/0/pins/auth", {"remaining": 3})

    card.served.ctl("POST", "/cards/0/remove", {"ins": "2A", "when": "after"})
    context = step(world, tmp_path, "login", AUTH_PIN)
    pulled = tool.run(context)
    assert pulled.outcome != ACCEPTED and pulled.exit_code == 1, explain(pulled)
    # which code depends on whether pcscd has seen the card go when the answer is missing
    assert re.search(
        r"C_SignFinal failed: rv = (CKR_GENERAL_ERROR \(0x5\)|CKR_DEVICE_REMOVED \(0x32\))",
        pulled.stderr_tail,
    ), explain(pulled)
    assert not (context.workdir / "signature.bin").exists()
    card.reset()
    again = tool.run(step(world, tmp_path, "login", AUTH_PIN))
    assert again.outcome == ACCEPTED, explain(again)


# ----------------------------------------------------------------------------- pyHanko


def test_pyhanko_signs_and_validates_the_default_card(
    world: dict[str, Any], card: Cards, tmp_path: Path
) -> None:
    needs("pyhanko")
    context = step(world, tmp_path, "sign", SIGN_PIN)
    outcome = THIRD_PARTY["pyhanko"].adapter().run(context)
    assert outcome.outcome == ACCEPTED and outcome.exit_code == 0, explain(outcome)
    assert "INTACT:TRUSTED" in outcome.reason
    assert set(outcome.identity) == {"subject", "serial"}  # pyHanko extracts no 4 info
    assert outcome.identity["serial"] == "3C5E7A02"
    signed = (context.workdir / "signed.pdf").read_bytes()
    assert signed.startswith(context.pdf.read_bytes()) and b"/T (MynasimSignature)" in signed
    assert card.tries()["sign"] == 5


def test_pyhanko_refuses_a_wrong_password(
    world: dict[str, Any], card: Cards, tmp_path: Path
) -> None:
    needs("pyhanko")
    outcome = THIRD_PARTY["pyhanko"].adapter().run(step(world, tmp_path, "sign", "WRONG1"))
    assert outcome.outcome == REJECTED and outcome.exit_code == 1, explain(outcome)
    assert "CKR_PIN_INCORRECT" in outcome.reason and "WRONG1" not in outcome.reason
    assert card.tries()["sign"] == 4


@pytest.mark.parametrize(
    ("crl", "words"),
    [("unavailable", "InsufficientRevinfoError"), ("stale", "StaleRevinfoError")],
)
def test_pyhanko_without_a_usable_crl_does_not_accept(
    world: dict[str, Any], card: Cards, tmp_path: Path, crl: str, words: str
) -> None:
    needs("pyhanko")
    world["pki"].control(crl=crl)
    outcome = THIRD_PARTY["pyhanko"].adapter().run(step(world, tmp_path, "sign", SIGN_PIN))
    assert outcome.outcome == REJECTED, explain(outcome)
    assert words in outcome.reason and outcome.identity == {}


def test_pyhanko_card_pulled_mid_signature_is_an_error(
    world: dict[str, Any], card: Cards, tmp_path: Path
) -> None:
    needs("pyhanko")
    assert card.served is not None
    card.served.ctl("POST", "/cards/0/remove", {"ins": "2A", "when": "after"})
    outcome = THIRD_PARTY["pyhanko"].adapter().run(step(world, tmp_path, "sign", SIGN_PIN))
    assert outcome.outcome == ERROR and outcome.exit_code == 2, explain(outcome)
    # OpenSC says CKR_GENERAL_ERROR; pcscd has not seen the removal yet when pyHanko asks
    assert outcome.reason.startswith("pyHanko could not sign: PKCS#11 error GeneralError")


# ----------------------------------------------------------------------------- PKCS#11 adapter


def test_pkcs11_adapter_login_right_and_wrong_pin(
    world: dict[str, Any], card: Cards, tmp_path: Path
) -> None:
    needs_python_pkcs11()
    adapter = Pkcs11Adapter(pkcs11_login)
    right = adapter.run(step(world, tmp_path, "login", AUTH_PIN))
    assert right.outcome == ACCEPTED, right
    assert right.identity == {"subject": "CN=990001T3HNKOAB13101003A,C=JP", "serial": "3C5E7A01"}
    verify(
        card_certificate("login", tmp_path),
        right.signature or b"",
        bytes(range(32)),
    )
    assert right.extra["token"] == TOKEN_LABELS["login"] and right.duration > 0
    assert card.tries()["login"] == 3

    wrong = adapter.run(step(world, tmp_path, "login", "9999"))
    assert wrong.outcome == REJECTED and "CKR_PIN_INCORRECT" in wrong.reason, wrong
    assert card.tries()["login"] == 2  # exactly one try spent

    assert card.served is not None
    card.served.ctl("POST", "/cards/0/pins/auth", {"remaining": 0})
    blocked = adapter.run(step(world, tmp_path, "login", AUTH_PIN))
    assert blocked.outcome == REJECTED and "PIN locked" in blocked.reason, blocked


def test_pkcs11_adapter_sign_flow_and_a_pulled_card(
    world: dict[str, Any], card: Cards, tmp_path: Path
) -> None:
    needs_python_pkcs11()
    signed = Pkcs11Adapter(pkcs11_sign).run(step(world, tmp_path, "sign", SIGN_PIN))
    assert signed.outcome == ACCEPTED and signed.extra["token"] == TOKEN_LABELS["sign"]
    assert signed.identity["serial"] == "3C5E7A02"
    assert card.served is not None
    card.served.ctl("POST", "/cards/0/remove", {"ins": "2A", "when": "after"})
    pulled = Pkcs11Adapter(pkcs11_login).run(step(world, tmp_path, "login", AUTH_PIN))
    assert pulled.outcome == ERROR and "GeneralError" in pulled.reason, pulled
    card.reset()
    absent_reader = step(world, tmp_path, "login", AUTH_PIN, reader=reader_name(1))
    absent = Pkcs11Adapter(pkcs11_login).run(absent_reader)
    assert absent.outcome == ERROR and "no 'JPKI (User Authentication PIN)' token" in absent.reason


# ----------------------------------------------------------------------------- other personas
# (last: each one restarts `mynasim serve`)


def test_pyhanko_rejects_the_revoked_signature_certificate(
    world: dict[str, Any], tmp_path: Path
) -> None:
    needs("pyhanko")
    world["cards"].use("address-changed")
    world["pki"].control(now=REFERENCE, ocsp="normal", crl="normal")
    outcome = THIRD_PARTY["pyhanko"].adapter().run(step(world, tmp_path, "sign", SIGN_PIN))
    assert outcome.outcome == REJECTED, explain(outcome)
    assert outcome.reason.startswith("revoked: the signer's certificate was revoked on 2026-04-01")
    assert "affiliation_changed" in outcome.reason
