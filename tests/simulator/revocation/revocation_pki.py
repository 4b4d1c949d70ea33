"""A small test PKI built here (independent of fixtures/), and a revocation server over it.

Hierarchy "auth" has two generations with the SAME DN (and different keys); "sign" has one.
Serial 0x1001 exists under both auth generations: good under g1, revoked under g2, so only an
issuer lookup by key gives the right answer.

    persona  slot  issuer   serial  revocation
    alice    auth  auth g1  0x1001  -
    bob      auth  auth g2  0x1001  keyCompromise, BASE - 10 days, invalid since BASE - 12 days
    carol    sign  sign g1  0x2001  affiliationChanged, BASE + 30 days (not in effect at BASE)
    dave     auth  auth g1  0x1002  certificateHold, BASE - 1 day
    erin     auth  auth g2  0x1003  unspecified, BASE - 5 days
    frank    sign  sign g1  0x2002  -

BASE is the real time at session start (whole hours), so OpenSSL, which checks validity
against the real time, accepts the certificates and CRLs.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from simulator.personalization import CertificateAuthority, IssuedCertificate, Revocation
from simulator.revocation import RevocationDatabase, RevocationServer, RevocationService

TIMEOUT = 10.0
SHA1 = hashes.SHA1()  # noqa: S303 (what OCSP clients put in CertIDs)
BASE = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
DAY = dt.timedelta(days=1)
AUTH_DN = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI-TEST"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for user authentication"),
        x509.NameAttribute(
            NameOID.ORGANIZATIONAL_UNIT_NAME,
            "Japan Agency for Local Authority Information Systems",
        ),
    ]
)
SIGN_DN = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI-TEST"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for digital signature"),
        x509.NameAttribute(
            NameOID.ORGANIZATIONAL_UNIT_NAME,
            "Japan Agency for Local Authority Information Systems",
        ),
    ]
)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_ca(hierarchy: str, generation: int, name: x509.Name) -> CertificateAuthority:
    key = new_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(generation)
        .not_valid_before(BASE - 400 * DAY)
        .not_valid_after(BASE + 3650 * DAY)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(hierarchy, generation, certificate, key)


def make_ee(ca: CertificateAuthority, serial: int, common_name: str) -> x509.Certificate:
    ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.certificate.subject)
        .public_key(EE_KEY.public_key())
        .serial_number(serial)
        .not_valid_before(BASE - 100 * DAY)
        .not_valid_after(BASE + 1000 * DAY)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(ca.private_key, hashes.SHA256())
    )


EE_KEY = new_key()


@dataclass(frozen=True)
class SmallPki:
    auth1: CertificateAuthority
    auth2: CertificateAuthority
    sign1: CertificateAuthority
    issued: dict[str, IssuedCertificate]

    @property
    def authorities(self) -> list[CertificateAuthority]:
        return [self.auth1, self.auth2, self.sign1]

    def cert(self, persona: str) -> x509.Certificate:
        return self.issued[persona].certificate

    def issuer(self, persona: str) -> CertificateAuthority:
        return self.issued[persona].issuer

    def database(self) -> RevocationDatabase:
        return RevocationDatabase(self.authorities, list(self.issued.values()))


def build_pki() -> SmallPki:
    auth1, auth2 = make_ca("auth", 1, AUTH_DN), make_ca("auth", 2, AUTH_DN)
    sign1 = make_ca("sign", 1, SIGN_DN)
    rows = [
        ("alice", "auth", auth1, 0x1001, None),
        (
            "bob",
            "auth",
            auth2,
            0x1001,
            Revocation(x509.ReasonFlags.key_compromise, BASE - 10 * DAY, BASE - 12 * DAY),
        ),
        (
            "carol",
            "sign",
            sign1,
            0x2001,
            Revocation(x509.ReasonFlags.affiliation_changed, BASE + 30 * DAY),
        ),
        ("dave", "auth", auth1, 0x1002, Revocation(x509.ReasonFlags.certificate_hold, BASE - DAY)),
        ("erin", "auth", auth2, 0x1003, Revocation(x509.ReasonFlags.unspecified, BASE - 5 * DAY)),
        ("frank", "sign", sign1, 0x2002, None),
    ]
    issued = {
        persona: IssuedCertificate(
            persona, slot, make_ee(ca, serial, f"{persona} {slot}"), ca, revocation
        )
        for persona, slot, ca, serial, revocation in rows
    }
    return SmallPki(auth1, auth2, sign1, issued)


# -- a running server and how tests talk to it -----------------------------------------------


@dataclass
class Running:
    pki: SmallPki
    service: RevocationService
    server: RevocationServer

    @property
    def port(self) -> int:
        return self.server.port

    def control(self, body: Any = None, *, raw: bytes | None = None) -> tuple[int, Any]:
        if body is None and raw is None:
            status, _, payload = http_request(self.port, "GET", "/control")
        else:
            data = raw if raw is not None else json.dumps(body).encode()
            status, _, payload = http_request(
                self.port, "POST", "/control", data, {"Content-Type": "application/json"}
            )
        return status, json.loads(payload)

    def ocsp(
        self,
        certificate: x509.Certificate,
        issuer: x509.Certificate,
        *,
        algorithm: hashes.HashAlgorithm | None = None,
        nonce: bytes | None = None,
    ) -> ocsp.OCSPResponse:
        request = ocsp_request(certificate, issuer, algorithm=algorithm, nonce=nonce)
        status, content_type, body = post_ocsp(self.port, request)
        assert status == 200, body
        assert content_type == "application/ocsp-response"
        return ocsp.load_der_ocsp_response(body)

    def ocsp_for(self, persona: str, **options: Any) -> ocsp.OCSPResponse:
        return self.ocsp(self.pki.cert(persona), self.pki.issuer(persona).certificate, **options)

    def crl(self, name: str) -> x509.CertificateRevocationList:
        status, content_type, body = http_request(self.port, "GET", f"/crl/{name}")
        assert status == 200, body
        assert content_type == "application/pkix-crl"
        return x509.load_der_x509_crl(body)


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def ocsp_request(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    *,
    algorithm: hashes.HashAlgorithm | None = None,
    nonce: bytes | None = None,
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, algorithm or SHA1)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def post_ocsp(port: int, request: bytes, path: str = "/ocsp/auth") -> tuple[int, str, bytes]:
    return http_request(port, "POST", path, request, {"Content-Type": "application/ocsp-request"})


def get_ocsp(
    port: int, request: bytes, *, quote: bool = True, prefix: str = "/ocsp/auth/"
) -> tuple[int, str, bytes]:
    text = base64.b64encode(request).decode()
    if quote:
        text = text.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    return http_request(port, "GET", f"{prefix}{text}")


NORMAL = {"now": None, "ocsp": "normal", "crl": "normal", "responder": "delegated"}
