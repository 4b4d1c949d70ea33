"""The reference relying party's command line: argument errors (in-process), and the whole
path through pcscd + vpcd + `mynasim serve` with revocation on 127.0.0.1:35980 (interop:
run inside .ci/isolated on a shared machine; CI runs it, and there a missing pcscd is
an error, not a skip)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from rp_helpers import CHALLENGE, DOCUMENT, REFERENCE, Pki, holder_identity, login_identity

from conformance.rp.context import ACCEPTED, ERROR, REJECTED, StepContext
from conformance.rp.mutants import MUTANTS
from conformance.rp.reference import main, relying_party
from simulator.personalization.persona import load_persona

NOW = "2026-11-27T03:00:00Z"
READER = "Virtual PCD 00 00"


def pem_bundle(path: Path, certificates: list[x509.Certificate]) -> Path:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certificates))
    return path


# -- arguments (no card needed) -------------------------------------------------------------


def test_list_mutants(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-mutants"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(MUTANTS)
    assert all(MUTANTS[line.split()[0]] in line for line in lines)


@pytest.mark.parametrize(("argv", "message"), [
    ([], "the flow is required"),
    (["login", "--now", NOW, "--auth-roots", "a.pem"], "--reader is required"),
    (["login", "--reader", READER, "--auth-roots", "a.pem"], "--now is required"),
    (["login", "--reader", READER, "--now", NOW], "login needs --auth-roots"),
    (["sign", "--reader", READER, "--now", NOW, "--sign-roots", "s.pem"], "sign needs"),
    (["login", "--reader", READER, "--now", "2026-11-27T03:00:00", "--auth-roots", "a"],
     "has no timezone"),
    (["login", "--reader", READER, "--now", "yesterday", "--auth-roots", "a"], "ISO 8601"),
    (["login", "--reader", READER, "--now", NOW, "--auth-roots", "a", "--challenge", "xyz"],
     "not hexadecimal"),
    (["login", "--reader", READER, "--now", NOW, "--auth-roots", "a", "--mutant", "nope"],
     "unknown mutant 'nope'"),
    (["logout"], "invalid choice"),
])  # fmt: skip
def test_bad_arguments_are_argparse_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_no_pin_is_an_argparse_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MYNASIM_PIN", raising=False)
    with pytest.raises(SystemExit):
        main(["login", "--reader", READER, "--now", NOW, "--auth-roots", "a.pem"])
    assert "no PIN: set MYNASIM_PIN or pass --pin-stdin" in capsys.readouterr().err


def test_unreadable_roots_are_an_error_outcome(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("MYNASIM_PIN", "1234")
    (tmp_path / "empty.pem").write_text("")
    for roots in (tmp_path / "missing.pem", tmp_path / "empty.pem"):
        code = main(["login", "--reader", READER, "--now", NOW, "--auth-roots", str(roots)])
        result = json.loads(capsys.readouterr().out.splitlines()[-1])
        assert code == 2 and result["outcome"] == ERROR
        assert result["reason"].startswith("setup:")


# -- through the real PC/SC stack -----------------------------------------------------------

try:
    from conformance.pcsc import PcscUnavailableError
    from conformance.stack import Pcscd, ServedCard
except ImportError:  # pyscard (the pcsc extra) is missing
    if os.environ.get("CI"):
        raise
    Pcscd = ServedCard = PcscUnavailableError = None  # type: ignore[assignment,misc]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedCard]:
    if Pcscd is None:
        pytest.skip("pyscard is not installed")
    folder = tmp_path_factory.mktemp("rp-cli")
    try:
        daemon = Pcscd.ensure(folder)
    except PcscUnavailableError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(error))
    card = ServedCard(["default"], folder)
    with daemon, card:
        yield card


@pytest.fixture
def files(pki: Pki, tmp_path: Path) -> dict[str, Path]:
    return {
        "auth": pem_bundle(tmp_path / "auth-roots.pem", pki.roots["auth"]),
        "sign": pem_bundle(tmp_path / "sign-roots.pem", pki.roots["sign"]),
        "data": tmp_path / "application.json",
    }


def cli(
    flow: str, files: dict[str, Path], *extra: str, pin: str = "", stdin: bool = False
) -> tuple[subprocess.CompletedProcess[str], dict[str, object], float]:
    files["data"].write_bytes(DOCUMENT)
    argv = [sys.executable, "-m", "conformance.rp.reference", flow, "--reader", READER,
            "--now", NOW, "--auth-roots", str(files["auth"]), "--sign-roots", str(files["sign"]),
            "--data", str(files["data"]), "--challenge", CHALLENGE.hex(), *extra]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "MYNASIM_PIN"}
    if stdin:
        argv.append("--pin-stdin")
    else:
        env["MYNASIM_PIN"] = pin
    start = time.monotonic()
    done = subprocess.run(
        argv, input=pin + "\n" if stdin else "", capture_output=True, text=True, env=env,
        timeout=60, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - start
    assert pin not in done.stdout and pin not in done.stderr
    return done, json.loads(done.stdout.splitlines()[-1]), seconds


@pytest.mark.interop
def test_cli_login_and_sign_through_pcscd(served: ServedCard, files: dict[str, Path]) -> None:
    done, result, seconds = cli("login", files, pin="1234")
    assert done.returncode == 0, done.stderr
    signature = bytes.fromhex(str(result.pop("signature")))
    assert result == {"outcome": ACCEPTED, "reason": "logged in",
                      "identity": login_identity("default")}  # fmt: skip
    # the signature it reports is the card's, over the challenge, under the card's certificate
    key = x509.load_der_x509_certificate(load_persona("default").auth.certificate or b"")
    public = key.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, CHALLENGE, padding.PKCS1v15(), hashes.SHA256())
    print(f"login through the CLI: {seconds:.2f} s")
    done, result, seconds = cli("sign", files, pin="abc123", stdin=True)
    assert done.returncode == 0, done.stderr
    assert result["identity"] == holder_identity("default")
    print(f"sign through the CLI: {seconds:.2f} s")


@pytest.mark.interop
def test_cli_wrong_pin_is_exit_1(served: ServedCard, files: dict[str, Path]) -> None:
    done, result, _ = cli("login", files, pin="9999")
    assert done.returncode == 1
    assert result["reason"] == "wrong authentication PIN, 2 tries left"
    served.ctl("POST", "/cards/0/pins/auth", {"remaining": 3})


@pytest.mark.interop
@pytest.mark.parametrize(
    ("mutant", "code", "outcome"), [(None, 1, REJECTED), ("success-on-torn", 0, ACCEPTED)]
)
def test_cli_card_pulled_mid_signature(
    served: ServedCard, files: dict[str, Path], mutant: str | None, code: int, outcome: str
) -> None:
    served.ctl("POST", "/cards/0/remove", {"ins": "2A", "when": "after"})
    try:
        extra = ["--mutant", mutant] if mutant else []
        done, result, _ = cli("login", files, *extra, pin="1234")
        assert done.returncode == code, done.stderr
        assert result["outcome"] == outcome
        assert "Traceback" not in done.stderr
        if mutant is None:
            assert "card communication failed" in str(result["reason"])
    finally:
        served.wait_absent()
        served.ctl("POST", "/cards/0/insert")
        served.wait_present()


@pytest.mark.interop
def test_python_adapter_through_pcscd(
    served: ServedCard, files: dict[str, Path], tmp_path: Path
) -> None:
    files["data"].write_bytes(DOCUMENT)
    context = StepContext(
        scenario="RP-TEST-001", step=1, flow="sign", reader=READER, pin="ABC123", now=REFERENCE,
        challenge=CHALLENGE, workdir=tmp_path, data_file=files["data"], pdf=tmp_path / "x.pdf",
        auth_roots=files["auth"], sign_roots=files["sign"], pkcs11_module="", pki_url="",
        timeout=30.0,
    )  # fmt: skip
    outcome = relying_party()(context)
    assert outcome.outcome == ACCEPTED and outcome.identity == holder_identity("default")
    assert outcome.duration > 0
    missing = relying_party()(
        StepContext(**{**context.__dict__, "reader": "No Such Reader", "flow": "login"})
    )
    assert missing.outcome == ERROR and "No Such Reader" in missing.reason
