"""Delegated OCSP responders (RFC 6960 §4.2.2.2): one responder certificate per CA generation.

Each CA generation gets a responder key when the services start (RSA-2048, random: nothing
verifies it later) and a certificate issued by that CA generation with

* subject = the CA's DN + ``CN=OCSP Responder <hierarchy> g<generation>``;
* keyUsage digitalSignature (critical), extendedKeyUsage id-kp-OCSPSigning,
  id-pkix-ocsp-nocheck, basicConstraints cA=false (critical), AKI (the CA's key id), SKI;
* a short validity around the clock's now: now - 1 hour .. now + nextUpdate interval + 1 day.

The certificate is re-made whenever the clock leaves that window (a scenario moved it), so a
response's thisUpdate..nextUpdate always lies inside its responder's validity. The
``responder-expired`` failure mode uses a second certificate of the same key whose validity
ended one day before now (now - 3 days .. now - 1 day).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .database import CaRecord

RESPONDER_KEY_BITS = 2048
BACKDATE = dt.timedelta(hours=1)
MARGIN = dt.timedelta(days=1)
EXPIRED_START = dt.timedelta(days=3)  # the expired certificate: now - 3 days ..
EXPIRED_END = dt.timedelta(days=1)  # .. now - 1 day


@dataclass(frozen=True)
class Signer:
    """Who signs an OCSP response: a key, and the certificate to include (None: the CA itself)."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate  # identifies the signer (ResponderID byKey)
    include: bool  # whether the certificate travels in the response


def ca_signer(ca: CaRecord) -> Signer:
    return Signer(ca.authority.private_key, ca.authority.certificate, include=False)


def _key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def build_responder_certificate(
    ca: CaRecord,
    key: rsa.RSAPrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    issuer = ca.authority.certificate
    subject = x509.Name(
        [
            *issuer.subject,
            x509.NameAttribute(
                NameOID.COMMON_NAME, f"OCSP Responder {ca.hierarchy} g{ca.generation}"
            ),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(ca.authority_key_identifier(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(ca.authority.private_key, hashes.SHA256())


class DelegatedResponders:
    """Responder keys (made now) and certificates (made and re-made as the clock requires)."""

    def __init__(self, cas: Sequence[CaRecord], next_update: dt.timedelta) -> None:
        self._next_update = next_update
        self._lock = threading.Lock()
        self._keys = {
            ca.key_id: rsa.generate_private_key(public_exponent=65537, key_size=RESPONDER_KEY_BITS)
            for ca in cas
        }
        self._current: dict[str, x509.Certificate] = {}
        self._expired: dict[str, x509.Certificate] = {}
        self.issued = 0  # responder certificates made so far

    def signer(self, ca: CaRecord, now: dt.datetime, *, expired: bool = False) -> Signer:
        """The responder for ``ca`` at ``now``: valid through now + nextUpdate, or expired."""
        key = self._keys[ca.key_id]
        with self._lock:
            cache = self._expired if expired else self._current
            certificate = cache.get(ca.key_id)
            if certificate is None or not self._fits(certificate, now, expired=expired):
                if expired:
                    window = (now - EXPIRED_START, now - EXPIRED_END)
                else:
                    window = (now - BACKDATE, now + self._next_update + MARGIN)
                certificate = build_responder_certificate(ca, key, *window)
                cache[ca.key_id] = certificate
                self.issued += 1
        return Signer(key, certificate, include=True)

    def _fits(self, certificate: x509.Certificate, now: dt.datetime, *, expired: bool) -> bool:
        start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
        if expired:  # expired, but recently: within a day of the nominal now - 1 day
            return end < now <= end + EXPIRED_END + MARGIN
        return start <= now and now + self._next_update <= end
