"""An independent check: the ``openssl`` command line talks to our OCSP responder and reads our
CRLs, and reaches the verdicts a relying party must reach."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from revocation_pki import BASE, DAY, Running, http_request

from simulator.personalization import CertificateAuthority

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")


def write_pem(path: Path, certificate: x509.Certificate) -> Path:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run(
        [OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def files(tmp_path: Path, running: Running, persona: str) -> tuple[Path, Path]:
    ca: CertificateAuthority = running.pki.issuer(persona)
    return (
        write_pem(tmp_path / "ca.pem", ca.certificate),
        write_pem(tmp_path / f"{persona}.pem", running.pki.cert(persona)),
    )


def ocsp_check(tmp_path: Path, running: Running, persona: str) -> subprocess.CompletedProcess[str]:
    ca, ee = files(tmp_path, running, persona)
    url = f"http://127.0.0.1:{running.port}/ocsp/auth"
    return openssl("ocsp", "-issuer", ca, "-cert", ee, "-url", url, "-CAfile", ca, "-timeout", "20")


@pytest.mark.parametrize("responder", ["delegated", "ca"])
@pytest.mark.parametrize(
    ("persona", "verdict"),
    [
        ("alice", "good"),
        ("bob", "revoked"),  # same serial as alice, other generation, same DN
        ("dave", "revoked"),  # certificateHold
        ("frank", "good"),
        ("carol", "good"),  # revoked only 30 days from now
    ],
)
def test_openssl_ocsp_verdicts(
    tmp_path: Path, running: Running, responder: str, persona: str, verdict: str
) -> None:
    running.control({"responder": responder})
    result = ocsp_check(tmp_path, running, persona)
    assert result.returncode == 0, result.stderr
    assert "Response verify OK" in result.stderr
    assert f"{persona}.pem: {verdict}" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr  # nonce and times accepted


def test_openssl_ocsp_reports_the_reason(tmp_path: Path, running: Running) -> None:
    result = ocsp_check(tmp_path, running, "bob")
    assert "Reason: keyCompromise" in result.stdout
    result = ocsp_check(tmp_path, running, "dave")
    assert "Reason: certificateHold" in result.stdout


def test_openssl_ocsp_rejects_a_bad_signature(tmp_path: Path, running: Running) -> None:
    running.control({"ocsp": "bad-signature"})
    result = ocsp_check(tmp_path, running, "alice")
    assert "Response verify OK" not in result.stderr
    assert "Response Verify Failure" in result.stderr


def test_openssl_ocsp_rejects_an_expired_responder(tmp_path: Path, running: Running) -> None:
    running.control({"ocsp": "responder-expired"})
    result = ocsp_check(tmp_path, running, "alice")
    assert "Response Verify Failure" in result.stderr
    assert "certificate has expired" in result.stderr


def crl_file(tmp_path: Path, running: Running, name: str) -> Path:
    status, _, body = http_request(running.port, "GET", f"/crl/{name}.pem")
    assert status == 200
    path = tmp_path / f"{name}.pem"
    path.write_bytes(body)
    return path


def crl_verify(
    tmp_path: Path, running: Running, persona: str, crl: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    ca, ee = files(tmp_path, running, persona)
    crl_path = crl_file(tmp_path, running, crl)
    return openssl("verify", *extra, "-crl_check", "-CRLfile", crl_path, "-CAfile", ca, ee)


@pytest.mark.parametrize(
    ("persona", "crl"), [("alice", "auth-g1"), ("frank", "sign-g1"), ("carol", "sign-g1")]
)
def test_openssl_verify_passes_a_good_certificate(
    tmp_path: Path, running: Running, persona: str, crl: str
) -> None:
    result = crl_verify(tmp_path, running, persona, crl)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{persona}.pem: OK" in result.stdout


@pytest.mark.parametrize(("persona", "crl"), [("bob", "auth-g2"), ("dave", "auth-g1")])
def test_openssl_verify_fails_a_revoked_certificate(
    tmp_path: Path, running: Running, persona: str, crl: str
) -> None:
    result = crl_verify(tmp_path, running, persona, crl)
    assert result.returncode != 0
    assert "certificate revoked" in result.stdout + result.stderr


def test_openssl_verify_at_the_fixed_clock(tmp_path: Path, running: Running) -> None:
    """carol's sign certificate is revoked 30 days after BASE: with the clock there and
    ``-attime`` to match, OpenSSL finds it on the CRL."""
    later = BASE + 31 * DAY
    running.control({"now": later.isoformat()})
    attime = str(int(later.timestamp()))
    result = crl_verify(tmp_path, running, "carol", "sign-g1", "-attime", attime)
    assert result.returncode != 0
    assert "certificate revoked" in result.stdout + result.stderr


def test_openssl_verify_rejects_stale_and_badly_signed_crls(
    tmp_path: Path, running: Running
) -> None:
    running.control({"crl": "stale"})
    result = crl_verify(tmp_path, running, "alice", "auth-g1")
    assert result.returncode != 0
    assert "CRL has expired" in result.stdout + result.stderr
    running.control({"crl": "bad-signature"})
    result = crl_verify(tmp_path, running, "alice", "auth-g1")
    assert result.returncode != 0
    assert "CRL signature failure" in result.stdout + result.stderr


def test_openssl_ocsp_at_the_fixed_clock(tmp_path: Path, running: Running) -> None:
    """With the clock fixed ahead, OpenSSL (checking at a matching -attime) accepts the
    response, and carol's revocation (BASE + 30 days) is in effect once the clock passes it."""
    url = f"http://127.0.0.1:{running.port}/ocsp/auth"
    for persona, later, verdict in (
        ("alice", BASE + dt.timedelta(days=1, hours=2), "good"),
        ("carol", BASE + 29 * DAY, "good"),
        ("carol", BASE + 31 * DAY, "revoked"),
    ):
        running.control({"now": later.isoformat()})
        ca, ee = files(tmp_path, running, persona)
        result = openssl(
            "ocsp", "-issuer", ca, "-cert", ee, "-url", url, "-CAfile", ca,
            "-attime", str(int(later.timestamp())), "-validity_period", str(40 * 86400),
        )  # fmt: skip
        assert "Response verify OK" in result.stderr, result.stderr
        assert f"{persona}.pem: {verdict}" in result.stdout
