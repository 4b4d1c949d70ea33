"""The CRL server over real HTTP on 127.0.0.1, CRLs checked with ``cryptography``."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from revocation_pki import BASE, DAY, Running, http_request

from simulator.personalization import CertificateAuthority


def ca_key(ca: CertificateAuthority) -> rsa.RSAPublicKey:
    key = ca.certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def reason(entry: x509.RevokedCertificate) -> x509.ReasonFlags | None:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None


def crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_crl_of_each_generation_is_signed_by_that_generation(running: Running) -> None:
    pki = running.pki
    g1, g2 = running.crl("auth-g1.crl"), running.crl("auth-g2.crl")
    assert g1.issuer == g2.issuer == pki.auth1.certificate.subject  # one DN ...
    assert g1.is_signature_valid(ca_key(pki.auth1))  # ... told apart by key
    assert not g1.is_signature_valid(ca_key(pki.auth2))
    assert g2.is_signature_valid(ca_key(pki.auth2))
    assert not g2.is_signature_valid(ca_key(pki.auth1))
    aki = g2.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = pki.auth2.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.key_identifier == ski.value.digest
    sign = running.crl("sign-g1.crl")
    assert sign.is_signature_valid(ca_key(pki.sign1))


def test_crl_lists_revoked_serials_with_reasons_and_dates(running: Running) -> None:
    g1 = running.crl("auth-g1.crl")
    assert [entry.serial_number for entry in g1] == [0x1002]
    hold = g1.get_revoked_certificate_by_serial_number(0x1002)
    assert hold is not None
    assert reason(hold) is x509.ReasonFlags.certificate_hold
    assert hold.revocation_date_utc == BASE - DAY

    g2 = running.crl("auth-g2.crl")
    assert sorted(entry.serial_number for entry in g2) == [0x1001, 0x1003]
    bob = g2.get_revoked_certificate_by_serial_number(0x1001)
    assert bob is not None and reason(bob) is x509.ReasonFlags.key_compromise
    assert bob.revocation_date_utc == BASE - 10 * DAY
    invalidity = bob.extensions.get_extension_for_class(x509.InvalidityDate).value
    assert invalidity.invalidity_date_utc == BASE - 12 * DAY
    erin = g2.get_revoked_certificate_by_serial_number(0x1003)
    assert erin is not None and reason(erin) is None  # unspecified: no reasonCode (RFC 5280)

    assert list(running.crl("sign-g1.crl")) == []  # carol's revocation is not in effect yet


def test_crl_times_follow_the_clock_and_a_revocation_comes_into_effect(
    running: Running,
) -> None:
    later = BASE + 31 * DAY
    running.control({"now": later.isoformat()})
    crl = running.crl("sign-g1.crl")
    assert crl.last_update_utc == later
    assert crl.next_update_utc == later + DAY
    carol = crl.get_revoked_certificate_by_serial_number(0x2001)
    assert carol is not None and reason(carol) is x509.ReasonFlags.affiliation_changed
    assert crl.is_signature_valid(ca_key(running.pki.sign1))


def test_crl_number_grows_with_each_new_crl_and_repeats_are_identical(running: Running) -> None:
    running.control({"now": (BASE + 2 * DAY).isoformat()})
    first = http_request(running.port, "GET", "/crl/auth-g1.crl")[2]
    again = http_request(running.port, "GET", "/crl/auth-g1.crl")[2]
    assert first == again
    running.control({"now": (BASE + 3 * DAY).isoformat()})
    later = running.crl("auth-g1.crl")
    assert crl_number(later) == crl_number(x509.load_der_x509_crl(first)) + 1


def test_pem_variant(running: Running) -> None:
    status, content_type, body = http_request(running.port, "GET", "/crl/auth-g2.pem")
    assert status == 200 and content_type == "application/x-pem-file"
    assert body.startswith(b"-----BEGIN X509 CRL-----")
    crl = x509.load_pem_x509_crl(body)
    assert crl.is_signature_valid(ca_key(running.pki.auth2))


@pytest.mark.parametrize(
    "name", ["auth-g3.crl", "nope-g1.crl", "auth-g1.der", "auth.crl", "../auth-g1.crl"]
)
def test_unknown_crl_is_404_with_a_clear_text(running: Running, name: str) -> None:
    status, content_type, body = http_request(running.port, "GET", f"/crl/{name}")
    assert status == 404 and content_type.startswith("text/plain")
    text = body.decode()
    assert "no CRL named" in text and "/crl/auth-g1.crl" in text and "/crl/sign-g1.crl" in text


# -- failure modes ----------------------------------------------------------------------------


def test_mode_unavailable(running: Running) -> None:
    running.control({"crl": "unavailable"})
    status, content_type, body = http_request(running.port, "GET", "/crl/auth-g1.crl")
    assert status == 503 and content_type.startswith("text/plain") and b"unavailable" in body
    running.control({"crl": "normal"})
    assert running.crl("auth-g1.crl").is_signature_valid(ca_key(running.pki.auth1))


def test_mode_stale(running: Running) -> None:
    now = BASE + 31 * DAY
    running.control({"now": now.isoformat(), "crl": "stale"})
    crl = running.crl("sign-g1.crl")
    assert crl.last_update_utc == now - 2 * DAY
    assert crl.next_update_utc == now - DAY
    assert crl.is_signature_valid(ca_key(running.pki.sign1))
    # issued two days ago: carol (revoked at now - 1 day) is not on it yet
    assert crl.get_revoked_certificate_by_serial_number(0x2001) is None
    running.control({"crl": "normal"})
    fresh = running.crl("sign-g1.crl")
    assert fresh.last_update_utc == now
    assert fresh.get_revoked_certificate_by_serial_number(0x2001) is not None


def test_mode_bad_signature(running: Running) -> None:
    running.control({"crl": "bad-signature"})
    crl = running.crl("auth-g2.crl")
    assert sorted(entry.serial_number for entry in crl) == [0x1001, 0x1003]  # parses fine
    assert not crl.is_signature_valid(ca_key(running.pki.auth2))
    running.control({"crl": "normal"})
    assert running.crl("auth-g2.crl").is_signature_valid(ca_key(running.pki.auth2))


def test_ocsp_and_crl_modes_are_independent(running: Running) -> None:
    running.control({"ocsp": "unavailable"})
    assert running.crl("auth-g1.crl").is_signature_valid(ca_key(running.pki.auth1))
    running.control({"ocsp": "normal", "crl": "unavailable"})
    assert running.ocsp_for("alice").response_status.name == "SUCCESSFUL"
