"""``mynasim pki serve`` as a user runs it, and the services over the built-in fixtures."""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from revocation_pki import NORMAL, ocsp_request, post_ocsp

from simulator.personalization import fixtures_root, issued_certificates, load_authorities
from simulator.personalization.pki import OCSP_URL, RESPONDER_BASE_URL, crl_url
from simulator.revocation import (
    PKI_PORT,
    Clock,
    RevocationDatabase,
    RevocationServer,
    RevocationService,
    crl_path,
)
from simulator.revocation.command import add_pki_parser

TIMEOUT = 30
# How cli.py will wire it: a `pki` command on the `mynasim` parser.
DRIVER = """
import argparse, sys
from simulator.revocation.command import add_pki_parser, run_pki
parser = argparse.ArgumentParser(prog="mynasim")
add_pki_parser(parser.add_subparsers(dest="command", required=True))
sys.exit(run_pki(parser.parse_args(sys.argv[1:])))
"""


def pki_command(*args: str) -> list[str]:
    return [sys.executable, "-c", DRIVER, "pki", *args]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        pki_command(*args), capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


# -- the parser ---------------------------------------------------------------------------------


def test_parser_defaults() -> None:
    parser = argparse.ArgumentParser(prog="mynasim")
    add_pki_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["pki", "serve"])
    assert (args.command, args.pki_action) == ("pki", "serve")
    assert args.listen == f"127.0.0.1:{PKI_PORT}" == "127.0.0.1:35980"
    assert RESPONDER_BASE_URL == "http://127.0.0.1:35980"  # where the certificates point
    assert (args.fixtures, args.persona, args.now) == (None, [], None)
    assert (args.ocsp_mode, args.crl_mode, args.responder) == ("normal", "normal", "delegated")
    with pytest.raises(SystemExit):
        parser.parse_args(["pki", "serve", "--ocsp-mode", "broken"])


# -- bad input: exit 2 with a message ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "0.0.0.0:35980"], "loopback only"),
        (["--listen", "nonsense"], "--listen must be HOST:PORT"),
        (["--now", "2027-01-01"], "--now: '2027-01-01' has no timezone"),
        (["--now", "someday"], "--now: 'someday' is not an ISO 8601"),
        (["--fixtures", "/nonexistent/fixtures"], "is not a folder"),
        (["--persona", "/nonexistent/p.toml"], "--persona: /nonexistent/p.toml is not a file"),
        (["--next-update", "0"], "--next-update must be a positive"),
    ],
)
def test_bad_input_exits_2(args: list[str], message: str) -> None:
    result = run("serve", "--listen", "127.0.0.1:0", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("mynasim: error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_exits_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_fixtures_without_a_pki_exit_2(tmp_path: Path) -> None:
    result = run("serve", "--listen", "127.0.0.1:0", "--fixtures", str(tmp_path))
    assert result.returncode == 2
    assert "hierarchies.toml" in result.stderr and "Traceback" not in result.stderr


def test_a_persona_whose_certificate_clashes_exits_2(tmp_path: Path) -> None:
    source = fixtures_root() / "personas" / "default.toml"
    text = source.read_text(encoding="utf-8")
    # the same certificate files under another persona name: a serial used twice
    text = re.sub(r'^name = ".*"$', 'name = "default-twin"', text, count=1, flags=re.M)
    text = text.replace('= "../', f'= "{source.parent.parent.as_posix()}/')
    twin = tmp_path / "twin.toml"
    twin.write_text(text, encoding="utf-8")
    result = run("serve", "--listen", "127.0.0.1:0", "--persona", str(twin))
    assert result.returncode == 2, result.stderr
    assert "twin.toml" in result.stderr and "also used by" in result.stderr


# -- serving, then SIGTERM --------------------------------------------------------------------


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    extra: list[str] = getattr(request, "param", [])
    process = subprocess.Popen(
        pki_command("serve", "--listen", "127.0.0.1:0", *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("stop with"):
                break
        else:
            pytest.fail(f"no start-up banner: {lines} {process.communicate()[1]}")
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)


def base_url(lines: list[str]) -> str:
    match = re.search(r"control: (http://127\.0\.0\.1:\d+)/control", "\n".join(lines))
    assert match, lines
    return match.group(1)


def fetch(url: str, data: bytes | None = None) -> bytes:
    assert url.startswith("http://127.0.0.1:")
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
        body: bytes = response.read()
        return body


@pytest.mark.parametrize(
    "served",
    [["--now", "2027-01-01T00:00:00Z", "--crl-mode", "stale", "--responder", "ca"]],
    indirect=True,
)
def test_serve_prints_where_everything_is_and_stops_on_sigterm(
    served: tuple[subprocess.Popen[str], list[str]],
) -> None:
    process, lines = served
    text = "\n".join(lines)
    base = base_url(lines)
    assert f"OCSP:    {base}/ocsp/auth" in text
    for ca in load_authorities(fixtures_root()):
        assert f"{base}{crl_path(ca.hierarchy, ca.generation)}" in text
    assert "clock:   fixed at 2027-01-01T00:00:00Z" in text
    state = json.loads(fetch(f"{base}/control"))
    assert state["clock"]["fixed"] == "2027-01-01T00:00:00Z"
    assert (state["crl"], state["responder"]) == ("stale", "ca")
    crl = x509.load_der_x509_crl(fetch(f"{base}/crl/auth-g3.crl"))
    assert crl.next_update_utc is not None and crl.next_update_utc.year == 2026  # stale
    state = json.loads(fetch(f"{base}/control", json.dumps({"crl": "normal"}).encode()))
    assert state["crl"] == "normal"
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    assert "mynasim pki serve: stopped" in out


def test_sigint_stops_it_too(served: tuple[subprocess.Popen[str], list[str]]) -> None:
    process, _ = served
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


@pytest.mark.parametrize(
    "served", [["--persona", str(fixtures_root() / "personas" / "default.toml")]], indirect=True
)
def test_extra_personas_add_to_the_built_in_ones(
    served: tuple[subprocess.Popen[str], list[str]],
) -> None:
    process, lines = served
    count = len(issued_certificates(fixtures_root()))
    assert f", {count} certificate(s)," in lines[0]  # the built-in ones kept (no duplicate)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=TIMEOUT)


# -- the built-in fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_server() -> Iterator[RevocationServer]:
    service = RevocationService(RevocationDatabase.from_fixtures(fixtures_root()), clock=Clock())
    server = RevocationServer(service, "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


def test_from_fixtures_serves_every_generation_and_certificate(
    fixture_server: RevocationServer,
) -> None:
    fixture_server.service.control_post(dict(NORMAL))
    authorities = load_authorities(fixtures_root())
    issued = issued_certificates(fixtures_root())
    database = fixture_server.service.database
    assert len(database.authorities) == len(authorities) >= 6
    assert database.certificate_count() == len(issued)
    revoked = [item for item in issued if item.revocation is not None]
    assert revoked, "the fixtures have revoked certificates"
    now = fixture_server.service.clock.now()
    for item in issued:
        request = ocsp_request(item.certificate, item.issuer.certificate, algorithm=hashes.SHA256())
        response = ocsp.load_der_ocsp_response(post_ocsp(fixture_server.port, request)[2])
        revocation = item.revocation
        if revocation is not None and revocation.revoked_at <= now:
            assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED, item.persona
            assert response.revocation_reason is revocation.reason
        else:
            assert response.certificate_status is ocsp.OCSPCertStatus.GOOD, item.persona
        [responder] = response.certificates
        responder.verify_directly_issued_by(item.issuer.certificate)


def test_fixture_crls_are_signed_by_their_generation_and_list_the_revoked(
    fixture_server: RevocationServer,
) -> None:
    fixture_server.service.control_post(dict(NORMAL))
    now = fixture_server.service.clock.now()
    issued = issued_certificates(fixtures_root())
    for ca in load_authorities(fixtures_root()):
        body = fetch(f"{fixture_server.url}{crl_path(ca.hierarchy, ca.generation)}")
        crl = x509.load_der_x509_crl(body)
        key = ca.certificate.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        assert crl.is_signature_valid(key)
        expected = sorted(
            item.certificate.serial_number
            for item in issued
            if item.issuer.certificate == ca.certificate
            and item.revocation is not None
            and item.revocation.revoked_at <= now
        )
        assert sorted(entry.serial_number for entry in crl) == expected


def test_the_urls_in_fixture_certificates_are_served(fixture_server: RevocationServer) -> None:
    """AIA OCSP and CRLDP URLs of the persona certificates lead to this server's resources."""
    assert urllib.parse.urlsplit(OCSP_URL).path.startswith("/ocsp/")
    crls = fixture_server.service.crls
    for item in issued_certificates(fixtures_root()):
        points = item.certificate.extensions.get_extension_for_class(
            x509.CRLDistributionPoints
        ).value
        urls = [
            name.value
            for point in points
            for name in point.full_name or []
            if isinstance(name, x509.UniformResourceIdentifier)
        ]
        ca = item.issuer
        assert crl_url(ca.hierarchy, ca.generation) in urls, item.persona
        for url in urls:
            assert url.startswith(RESPONDER_BASE_URL)
            name = urllib.parse.urlsplit(url).path.removeprefix("/crl/")
            found = crls.lookup(name)
            assert found is not None, url
            assert found[0].authority.certificate == ca.certificate


def test_pki_control_shows_and_changes_a_running_server(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.cli import main
    from simulator.revocation import Clock, RevocationServer, RevocationService
    from simulator.revocation.database import RevocationDatabase

    service = RevocationService(RevocationDatabase([], []), clock=Clock())
    server = RevocationServer(service, "127.0.0.1", 0)
    server.start()
    try:
        assert main(["pki", "control", "--url", server.url, "--now", "2027-01-01T00:00:00Z",
                     "--ocsp", "tryLater", "--crl", "stale"]) == 0  # fmt: skip
        shown = capsys.readouterr().out
        assert '"now": "2027-01-01T00:00:00Z"' in shown and '"ocsp": "tryLater"' in shown
        assert service.control_get()["crl"] == "stale"
        assert main(["pki", "control", "--url", server.url, "--now", "real"]) == 0
        assert service.control_get()["clock"]["fixed"] is None
        assert main(["pki", "control", "--url", server.url, "--now", "garbage"]) == 2
        assert "not an ISO 8601" in capsys.readouterr().err
    finally:
        server.stop()
    assert main(["pki", "control", "--url", server.url]) == 2
    assert "cannot reach" in capsys.readouterr().err
