"""Issue 4, done-when: ask for a catalogue persona, serve it, point a relying party at the
local OCSP/CRL endpoints (the URLs in the certificates themselves), move the clock, and
get answers an independent validator (openssl) agrees with."""

from __future__ import annotations

import glob
import subprocess
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID

from conformance.stack import Pcscd, PkiServer, ServedCard
from simulator.personalization import load_authorities
from simulator.personalization.persona import fixtures_root

REFERENCE = "2026-11-27T03:00:00Z"


def _pkcs11_certificate(slot: int, key_id: str, out: Path, pin: str | None) -> x509.Certificate:
    module = sorted(glob.glob("/usr/lib/*/opensc-pkcs11.so"))[0]
    login = ["--login", "--pin", pin] if pin else []
    subprocess.run(
        ["pkcs11-tool", "--module", module, "--slot-index", str(slot), *login, "--read-object",
         "--type", "cert", "--id", key_id, "-o", str(out)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return x509.load_der_x509_certificate(out.read_bytes())


def _write(path: Path, *certificates: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certificates))
    return path


def _roots(hierarchy: str) -> list[x509.Certificate]:
    return [ca.certificate for ca in load_authorities(fixtures_root()) if ca.hierarchy == hierarchy]


def _issuer_of(certificate: x509.Certificate, roots: list[x509.Certificate]) -> x509.Certificate:
    """By key, never by DN: all generations share one DN."""
    aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    for root in roots:
        ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        if ski.digest == aki.key_identifier:
            return root
    raise AssertionError("issuer not among the roots")


def _ocsp_url(certificate: x509.Certificate) -> str:
    aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    return next(
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
    )


def _crl_url(certificate: x509.Certificate) -> str:
    points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    urls = [
        n.value
        for p in points
        for n in p.full_name or []
        if isinstance(n, x509.UniformResourceIdentifier)
    ]
    return urls[0]


def _verify_with_crl(tmp: Path, leaf: Path, roots: Path, at_epoch: int, crl_url: str) -> str:
    with urllib.request.urlopen(crl_url, timeout=10) as response:  # noqa: S310 - loopback
        crl = x509.load_der_x509_crl(response.read())
    crl_file = tmp / "crl.pem"
    crl_file.write_bytes(crl.public_bytes(Encoding.PEM))
    result = subprocess.run(
        ["openssl", "verify", "-CAfile", str(roots), "-crl_check", "-CRLfile", str(crl_file),
         "-attime", str(at_epoch), str(leaf)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return result.stdout + result.stderr


def test_address_changed_card_against_the_local_revocation_services(
    pcscd: Pcscd, tmp_path: Path
) -> None:
    with PkiServer(tmp_path, now=REFERENCE) as pki, ServedCard(["address-changed"], tmp_path):
        auth = _pkcs11_certificate(0, "01", tmp_path / "auth.der", None)
        sign = _pkcs11_certificate(1, "02", tmp_path / "sign.der", "ABC123")
        auth_pem, sign_pem = (
            _write(tmp_path / "auth.pem", auth),
            _write(tmp_path / "sign.pem", sign),
        )
        issuer = _issuer_of(auth, _roots("auth"))
        ocsp = subprocess.run(
            ["openssl", "ocsp", "-issuer", str(_write(tmp_path / "issuer.pem", issuer)),
             "-cert", str(auth_pem), "-url", _ocsp_url(auth),
             "-CAfile", str(_write(tmp_path / "auth-roots.pem", *_roots("auth"))),
             "-validity_period", "315360000", "-attime", "1795748400"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert "Response verify OK" in ocsp.stderr and ": good" in ocsp.stdout, ocsp
        sign_roots = _write(tmp_path / "sign-roots.pem", *_roots("sign"))
        now = _verify_with_crl(tmp_path, sign_pem, sign_roots, 1795748400, _crl_url(sign))
        assert "certificate revoked" in now, now
        pki.control(now="2026-03-01T00:00:00Z")  # before the move of 2026-04-01
        before = _verify_with_crl(tmp_path, sign_pem, sign_roots, 1772323200, _crl_url(sign))
        assert before.strip().endswith(": OK"), before
        assert pki.control()["clock"]["now"].startswith("2026-03-01")
