"""Issue 4 item 5: every catalogue certificate, judged by an independent validator.

`openssl verify` (chain to the hierarchy's three root generations, the test policy required
explicitly, the CRL fetched over HTTP from our revocation server) and `openssl ocsp`
(against our responder) must give each persona the verdict `fixtures/personas/CATALOGUE.md`
states, for the stated reason, at the reference date; moving the server's clock must move
the verdicts.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from simulator.personalization import load_authorities, load_persona
from simulator.personalization.persona import fixtures_root
from simulator.revocation import Clock, RevocationDatabase, RevocationServer, RevocationService

REFERENCE = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)
TEST_POLICY = {"auth": "1.2.392.200149.8.5.1.0.30", "sign": "1.2.392.200149.8.5.1.0.20"}
OK = "OK"
EXPIRED = "certificate has expired"
NOT_YET = "certificate is not yet valid"
REVOKED = "certificate revoked"
NO_ISSUER = "unable to get local issuer certificate"
CRITICAL = "unhandled critical extension"
POLICY = "no explicit policy"

# persona -> (auth verdict, sign verdict); None: the card has no such certificate.
# Mirrors fixtures/personas/CATALOGUE.md (test-mode relying party, 2026-11-27).
EXPECTED: dict[str, tuple[str, str | None]] = {
    "default": (OK, OK),
    "under15": (OK, None),
    "android": (OK, OK),
    "ios": (OK, OK),
    "expired": (EXPIRED, EXPIRED),
    "not-yet-valid": (NOT_YET, NOT_YET),
    "address-changed": (OK, REVOKED),
    "renewed": (OK, OK),
    "renewed-previous": (REVOKED, REVOKED),
    "key-compromise": (REVOKED, REVOKED),
    "certificate-hold": (OK, REVOKED),
    "middle-generation": (OK, OK),
    "other-hierarchy": (NO_ISSUER, OK),
    "unknown-critical-extension": (CRITICAL, CRITICAL),
    "production-policy": (POLICY, POLICY),
    "substitution-flags": (OK, OK),
    "long-name": (OK, OK),
    "overseas": (OK, OK),
    "era-meiji": (OK, OK),
    "era-taisho": (OK, OK),
    "era-showa": (OK, OK),
    "era-heisei": (OK, OK),
    "era-reiwa": (OK, None),
    "foreign-resident": (OK, OK),
}
OCSP_REASONS = {"address-changed": {"sign": "affiliationChanged"},
                "renewed-previous": {"auth": "superseded", "sign": "superseded"},
                "key-compromise": {"auth": "keyCompromise", "sign": "keyCompromise"},
                "certificate-hold": {"sign": "certificateHold"}}  # fmt: skip


@dataclass
class World:
    server: RevocationServer
    service: RevocationService
    folder: Path

    def set_clock(self, when: dt.datetime) -> None:
        self.service.control_post({"now": when.isoformat().replace("+00:00", "Z")})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("validation")
    for hierarchy in ("auth", "sign"):
        anchors = [
            ca.certificate for ca in load_authorities(fixtures_root()) if ca.hierarchy == hierarchy
        ]
        (folder / f"{hierarchy}-roots.pem").write_bytes(
            b"".join(c.public_bytes(Encoding.PEM) for c in anchors)
        )
    everything = (folder / "auth-roots.pem").read_bytes() + (folder / "sign-roots.pem").read_bytes()
    (folder / "all-roots.pem").write_bytes(everything)
    service = RevocationService(RevocationDatabase.from_fixtures(fixtures_root()), clock=Clock())
    server = RevocationServer(service, "127.0.0.1", 0)
    server.start()
    world = World(server, service, folder)
    world.set_clock(REFERENCE)
    yield world
    server.stop()


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *args], capture_output=True, text=True, timeout=60, check=False
    )


def _pem(folder: Path, name: str, der: bytes) -> Path:
    path = folder / name
    path.write_bytes(x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM))
    return path


def _http_crl_url(certificate: x509.Certificate, world: World) -> str:
    points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    for point in points:
        for name in point.full_name or []:
            if isinstance(name, x509.UniformResourceIdentifier):
                path = name.value.split("127.0.0.1:35980", 1)[1]
                return world.server.url + path
    raise AssertionError("no HTTP CRL distribution point")


def _fetch_crl(url: str, folder: Path, name: str) -> Path:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback test server
        crl = x509.load_der_x509_crl(response.read())
    path = folder / name
    path.write_bytes(crl.public_bytes(Encoding.PEM))
    return path


def verify(world: World, persona: str, slot: str, when: dt.datetime = REFERENCE) -> str:
    """openssl verify's verdict: 'OK' or the error text."""
    spec = getattr(load_persona(persona), slot)
    assert spec.certificate is not None
    folder = world.folder
    leaf = _pem(folder, f"{persona}-{slot}.pem", spec.certificate)
    certificate = x509.load_der_x509_certificate(spec.certificate)
    crl = _fetch_crl(_http_crl_url(certificate, world), folder, f"{persona}-{slot}.crl.pem")
    result = _openssl(
        "verify", "-CAfile", str(folder / f"{slot}-roots.pem"), "-crl_check", "-CRLfile", str(crl),
        "-policy", TEST_POLICY[slot], "-explicit_policy", "-attime", str(int(when.timestamp())),
        str(leaf),
    )  # fmt: skip
    if result.returncode == 0:
        assert result.stdout.strip().endswith(": OK"), result.stdout
        return OK
    return result.stdout + result.stderr


def ocsp(world: World, persona: str, slot: str, when: dt.datetime = REFERENCE) -> str:
    """openssl ocsp's status line for the certificate ('good', 'revoked', ...)."""
    spec = getattr(load_persona(persona), slot)
    folder = world.folder
    leaf = _pem(folder, f"{persona}-{slot}.pem", spec.certificate)
    issuer = _pem(folder, f"{persona}-{slot}-issuer.pem", spec.ca_certificate)
    result = _openssl(
        "ocsp", "-issuer", str(issuer), "-cert", str(leaf), "-url", world.server.url + "/ocsp/auth",
        "-CAfile", str(folder / "all-roots.pem"), "-validity_period", "315360000",
        "-attime", str(int(when.timestamp())),
    )  # fmt: skip
    assert "Response verify OK" in result.stderr + result.stdout, result.stderr + result.stdout
    return result.stdout


@pytest.mark.parametrize(("persona", "slot"), [(p, s) for p, v in EXPECTED.items()
                                                for s, e in zip(("auth", "sign"), v, strict=True)
                                                if e is not None])  # fmt: skip
def test_openssl_verify_agrees_with_the_catalogue(world: World, persona: str, slot: str) -> None:
    expected = EXPECTED[persona][0 if slot == "auth" else 1]
    verdict = verify(world, persona, slot)
    if expected == OK:
        assert verdict == OK
    else:
        assert verdict != OK and expected in verdict, verdict


@pytest.mark.parametrize("persona", sorted(EXPECTED))
def test_openssl_ocsp_agrees_with_the_revocation_data(world: World, persona: str) -> None:
    for slot, verdict in zip(("auth", "sign"), EXPECTED[persona], strict=True):
        if verdict is None:
            continue
        out = ocsp(world, persona, slot)
        reason = OCSP_REASONS.get(persona, {}).get(slot)
        if reason is None:
            assert ": good" in out, out
        else:
            assert ": revoked" in out and f"Reason: {reason}" in out, out


def test_cards_without_a_signature_certificate() -> None:
    for persona, (_, sign) in EXPECTED.items():
        assert (load_persona(persona).sign.certificate is None) == (sign is None), persona


def test_moving_the_clock_moves_the_verdicts(world: World) -> None:
    before = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)  # key-compromise revoked 2026-10-10
    try:
        world.set_clock(before)
        assert verify(world, "key-compromise", "auth", before) == OK
        assert ": good" in ocsp(world, "key-compromise", "auth", before)
        assert verify(world, "address-changed", "sign", before) != OK  # revoked since April
        later = dt.datetime(2027, 2, 1, tzinfo=dt.UTC)  # not-yet-valid starts 2027-01-15
        world.set_clock(later)
        assert verify(world, "not-yet-valid", "auth", later) == OK
        assert (
            verify(world, "renewed-previous", "auth", later) != OK
        )  # revoked, and ended 2027-01-25
        assert verify(world, "renewed", "auth", later) == OK
    finally:
        world.set_clock(REFERENCE)
    assert REVOKED in verify(world, "key-compromise", "auth")


def test_the_test_policy_is_refused_by_production_settings(world: World) -> None:
    """A production relying party requires the production policy: our test certificates fail."""
    spec = load_persona("default").auth
    leaf = _pem(world.folder, "default-auth.pem", spec.certificate or b"")
    result = _openssl(
        "verify", "-CAfile", str(world.folder / "auth-roots.pem"), "-policy",
        "1.2.392.200149.8.5.1.3.30", "-explicit_policy",
        "-attime", str(int(REFERENCE.timestamp())), str(leaf),
    )  # fmt: skip
    assert result.returncode != 0 and POLICY in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("mode", "message"), [("stale", "CRL has expired"), ("bad-signature", "CRL signature failure")]
)
def test_crl_failure_modes_are_caught_by_openssl(world: World, mode: str, message: str) -> None:
    world.service.control_post({"crl": mode})
    try:
        assert message in verify(world, "default", "auth")
    finally:
        world.service.control_post({"crl": "normal"})
