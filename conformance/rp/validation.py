"""Certificate checks of the reference relying party: chain, validity, extensions, policy,
revocation (OCSP for authentication certificates, CRL for signature certificates).

Written against jpki-pki-and-relying-parties.md §1-2 and §5. The rules, in the order applied:

1. Issuer by key: the root whose subjectKeyIdentifier equals the certificate's
   authorityKeyIdentifier, among the TRUSTED roots only (three generations share one DN, so a
   DN never decides), and the certificate's signature must verify under that root's key.
2. The root must be a CA and valid now.
3. notBefore <= now <= notAfter, as aware UTC instants, inclusive at both ends: a JPKI
   certificate is valid during all of 14:59:59Z on its last day, and not a second later.
4. No critical extension this module does not process.
5. The policy of the purpose (test mode: ``…1.0.30`` authentication, ``…1.0.20`` signature).
6. keyUsage digitalSignature; not a CA certificate.
7. Revocation, failing closed: a status that cannot be established is a rejection.

Every time check uses the ``now`` it is given, never the machine's clock: a scenario runs
at a date of its choosing, and so does the PKI server it talks to.
"""

from __future__ import annotations

import datetime as dt
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID

HTTP_TIMEOUT = 5.0  # seconds, for each OCSP or CRL request
MAX_RESPONSE = 1 << 20  # bytes read from a revocation server at most
CLOCK_SKEW = dt.timedelta(minutes=5)  # a thisUpdate this far in the future is still accepted

# The extensions this module reads and acts on; any other one marked critical is refused
# (RFC 5280 §4.2). The JPKI profile marks keyUsage and certificatePolicies critical.
PROCESSED_EXTENSIONS = frozenset(
    {
        ExtensionOID.KEY_USAGE,
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    }
)


@dataclass(frozen=True)
class Purpose:
    """What a certificate is accepted for."""

    name: str  # for messages
    policy: str  # the certificate policy OID required
    revocation: Literal["ocsp", "crl"]  # how its revocation status is checked


# Test mode: every root we are given is a JPKI-TEST root, so the test policies are required
# and the production ones (…1.3.30 authentication, …1.1.20 signature) are refused.
AUTHENTICATION = Purpose("authentication", "1.2.392.200149.8.5.1.0.30", "ocsp")
SIGNATURE = Purpose("signature", "1.2.392.200149.8.5.1.0.20", "crl")


class CertificateRejectedError(Exception):
    """The certificate is not accepted; the message says why (shown to the user)."""


class RevokedError(CertificateRejectedError):
    """The certificate is revoked."""


class RevocationUnknownError(CertificateRejectedError):
    """The revocation status could not be established (fail closed)."""


def utc_text(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_id(certificate: x509.Certificate) -> bytes:
    """The certificate's subjectKeyIdentifier (the SHA-1 of its key if it has none)."""
    try:
        return certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def authority_key_id(certificate: x509.Certificate) -> bytes | None:
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    return aki.key_identifier


def valid_at(certificate: x509.Certificate, now: dt.datetime) -> bool:
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


def signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Issuer DN matches and the signature verifies under the issuer's key."""
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def reason_name(reason: x509.ReasonFlags | None) -> str:
    """The RFC 5280 name of a CRLReason (``affiliationChanged``); absent means unspecified."""
    return (reason or x509.ReasonFlags.unspecified).value


class CertificateValidator:
    """Validates an end-entity certificate for a purpose; raises CertificateRejectedError."""

    def validate(
        self,
        certificate: x509.Certificate,
        anchors: Sequence[x509.Certificate],
        now: dt.datetime,
        purpose: Purpose,
    ) -> x509.Certificate:
        """Check everything; return the trusted root that issued the certificate."""
        issuer = self.find_issuer(certificate, anchors)
        if issuer is None:
            raise CertificateRejectedError(
                f"the issuer is not a trusted {purpose.name} root (no root has key id "
                f"{(authority_key_id(certificate) or b'').hex()})"
            )
        if not signed_by(certificate, issuer):
            raise CertificateRejectedError(
                "the certificate's signature does not verify under its root"
            )
        self.check_root(issuer, now)
        self.check_validity(certificate, now)
        self.check_critical_extensions(certificate)
        self.check_policy(certificate, purpose)
        self.check_key_usage(certificate)
        self.check_revocation(certificate, issuer, now, purpose)
        return issuer

    # -- the chain ------------------------------------------------------------------------

    def find_issuer(
        self, certificate: x509.Certificate, anchors: Sequence[x509.Certificate]
    ) -> x509.Certificate | None:
        """The trusted root whose key id is the certificate's authority key id, and whose key
        verifies it (without an AKI: any root whose key verifies it)."""
        wanted = authority_key_id(certificate)
        for root in anchors:
            if (wanted is None or key_id(root) == wanted) and signed_by(certificate, root):
                return root
        return None

    def check_root(self, root: x509.Certificate, now: dt.datetime) -> None:
        if not valid_at(root, now):
            raise CertificateRejectedError(
                f"the issuing root is not valid at {utc_text(now)} (valid "
                f"{utc_text(root.not_valid_before_utc)} .. {utc_text(root.not_valid_after_utc)})"
            )
        try:
            is_ca = root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise CertificateRejectedError("the issuing certificate is not a CA")

    # -- the end-entity certificate -------------------------------------------------------

    def check_validity(self, certificate: x509.Certificate, now: dt.datetime) -> None:
        if self.not_yet_valid(certificate, now):
            start = utc_text(certificate.not_valid_before_utc)
            raise CertificateRejectedError(f"certificate not yet valid (notBefore {start})")
        if self.expired(certificate, now):
            end = utc_text(certificate.not_valid_after_utc)
            raise CertificateRejectedError(f"certificate expired (notAfter {end})")

    def not_yet_valid(self, certificate: x509.Certificate, now: dt.datetime) -> bool:
        return now < certificate.not_valid_before_utc

    def expired(self, certificate: x509.Certificate, now: dt.datetime) -> bool:
        return now > certificate.not_valid_after_utc

    def check_critical_extensions(self, certificate: x509.Certificate) -> None:
        for extension in certificate.extensions:
            if extension.critical and extension.oid not in PROCESSED_EXTENSIONS:
                raise CertificateRejectedError(
                    f"unrecognised critical extension {extension.oid.dotted_string}"
                )

    def check_policy(self, certificate: x509.Certificate, purpose: Purpose) -> None:
        try:
            policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies)
        except x509.ExtensionNotFound:
            raise CertificateRejectedError("the certificate has no certificatePolicies") from None
        found = [policy.policy_identifier.dotted_string for policy in policies.value]
        if purpose.policy not in found:
            raise CertificateRejectedError(
                f"certificate policy {', '.join(found) or 'none'} is not the {purpose.name} "
                f"test policy {purpose.policy}"
            )

    def check_key_usage(self, certificate: x509.Certificate) -> None:
        try:
            usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            raise CertificateRejectedError("the certificate has no keyUsage") from None
        if not usage.digital_signature:
            raise CertificateRejectedError("keyUsage does not allow digitalSignature")
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound:
            return
        if constraints.value.ca:
            raise CertificateRejectedError("an end-entity certificate must not be a CA")

    # -- revocation -----------------------------------------------------------------------

    def check_revocation(
        self,
        certificate: x509.Certificate,
        issuer: x509.Certificate,
        now: dt.datetime,
        purpose: Purpose,
    ) -> None:
        if purpose.revocation == "ocsp":
            check_ocsp(certificate, issuer, now)
        else:
            check_crl(certificate, issuer, now)


# ---------------------------------------------------------------------------- HTTP


def fetch(url: str, body: bytes | None = None, content_type: str = "") -> bytes:
    """GET (or POST ``body``) over plain HTTP(S); any failure is RevocationUnknownError."""
    if not url.startswith(("http://", "https://")):
        raise RevocationUnknownError(f"revocation status unknown: unsupported URL {url}")
    headers = {"Content-Type": content_type} if body is not None else {}
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 (checked)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
            return bytes(response.read(MAX_RESPONSE))
    except urllib.error.HTTPError as error:
        raise RevocationUnknownError(
            f"revocation status unknown: {url} answered HTTP {error.code}"
        ) from None
    except (urllib.error.URLError, OSError) as error:
        raise RevocationUnknownError(f"revocation status unknown: {url}: {error}") from None


# ---------------------------------------------------------------------------- OCSP


def ocsp_url(certificate: x509.Certificate) -> str:
    try:
        access = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    except x509.ExtensionNotFound:
        raise RevocationUnknownError("revocation status unknown: no OCSP URL (AIA)") from None
    for description in access.value:
        location = description.access_location
        if description.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            location, x509.UniformResourceIdentifier
        ):
            return location.value
    raise RevocationUnknownError("revocation status unknown: no OCSP URL (AIA)")


def check_ocsp(certificate: x509.Certificate, issuer: x509.Certificate, now: dt.datetime) -> None:
    """Ask the OCSP responder of the certificate's AIA (RFC 6960); good, or raise."""
    nonce = os.urandom(16)
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(certificate, issuer, hashes.SHA256())
        .add_extension(x509.OCSPNonce(nonce), critical=False)
        .build()
    )
    raw = fetch(
        ocsp_url(certificate), request.public_bytes(Encoding.DER), "application/ocsp-request"
    )
    try:
        response = ocsp.load_der_ocsp_response(raw)
    except ValueError:
        raise RevocationUnknownError("revocation status unknown: not an OCSP response") from None
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise RevocationUnknownError(
            f"revocation status unknown: OCSP {response.response_status.name.lower()}"
        )
    _check_ocsp_signer(response, issuer, now)
    _check_ocsp_nonce(response, nonce)
    single = _matching_response(response, request)
    if single.this_update_utc > now + CLOCK_SKEW:
        raise RevocationUnknownError("revocation status unknown: OCSP thisUpdate in the future")
    if single.next_update_utc is not None and single.next_update_utc < now:
        raise RevocationUnknownError("revocation status unknown: OCSP response outdated")
    if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
        raise RevokedError(f"revoked ({reason_name(single.revocation_reason)})")
    if single.certificate_status != ocsp.OCSPCertStatus.GOOD:
        raise RevocationUnknownError("revocation status unknown: OCSP status unknown")


def _check_ocsp_signer(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, now: dt.datetime
) -> None:
    """The response is signed by the issuing CA itself, or by a responder certificate it
    includes that this CA issued for OCSP signing and that is valid now (RFC 6960 §4.2.2.2)."""
    signer = issuer if _is_responder(issuer, response) else None
    for candidate in response.certificates:
        if signer is None and _is_responder(candidate, response):
            if not signed_by(candidate, issuer):
                raise RevocationUnknownError(
                    "revocation status unknown: OCSP responder not issued by the CA"
                )
            if not valid_at(candidate, now):
                raise RevocationUnknownError(
                    "revocation status unknown: OCSP responder certificate not valid now"
                )
            try:
                usages = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
            except x509.ExtensionNotFound:
                usages = None
            if usages is None or ExtendedKeyUsageOID.OCSP_SIGNING not in usages.value:
                raise RevocationUnknownError(
                    "revocation status unknown: OCSP responder lacks id-kp-OCSPSigning"
                )
            signer = candidate
    if signer is None:
        raise RevocationUnknownError("revocation status unknown: OCSP responder not authorised")
    key = signer.public_key()
    algorithm = response.signature_hash_algorithm
    if not isinstance(key, rsa.RSAPublicKey) or algorithm is None:
        raise RevocationUnknownError("revocation status unknown: OCSP signature algorithm")
    try:
        key.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise RevocationUnknownError(
            "revocation status unknown: OCSP response signature does not verify"
        ) from None


def _is_responder(certificate: x509.Certificate, response: ocsp.OCSPResponse) -> bool:
    """Whether the response's ResponderID names this certificate (byKey or byName)."""
    if response.responder_key_hash is not None:
        spki_hash = x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest
        return response.responder_key_hash == spki_hash
    return response.responder_name == certificate.subject


def _check_ocsp_nonce(response: ocsp.OCSPResponse, nonce: bytes) -> None:
    """A nonce in the response must be ours (a responder may leave it out)."""
    try:
        echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return
    if echoed != nonce:
        raise RevocationUnknownError("revocation status unknown: OCSP nonce does not match")


def _matching_response(
    response: ocsp.OCSPResponse, request: ocsp.OCSPRequest
) -> ocsp.OCSPSingleResponse:
    for single in response.responses:
        if (
            single.serial_number == request.serial_number
            and single.issuer_key_hash == request.issuer_key_hash
            and single.issuer_name_hash == request.issuer_name_hash
            and single.hash_algorithm.name == request.hash_algorithm.name
        ):
            return single
    raise RevocationUnknownError(
        "revocation status unknown: OCSP response is for another certificate"
    )


# ---------------------------------------------------------------------------- CRL


def crl_url(certificate: x509.Certificate) -> str:
    """The first HTTP URL among the CRL distribution points (JPKI also lists a DirName)."""
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    except x509.ExtensionNotFound:
        raise RevocationUnknownError(
            "revocation status unknown: no CRL distribution point"
        ) from None
    for point in points.value:
        for name in point.full_name or []:
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith(
                ("http://", "https://")
            ):
                return name.value
    raise RevocationUnknownError("revocation status unknown: no HTTP CRL distribution point")


def check_crl(certificate: x509.Certificate, issuer: x509.Certificate, now: dt.datetime) -> None:
    """Fetch the CRL of the certificate's distribution point; not listed, or raise."""
    try:
        crl = x509.load_der_x509_crl(fetch(crl_url(certificate)))
    except ValueError:
        raise RevocationUnknownError("revocation status unknown: not a DER CRL") from None
    if crl.issuer != issuer.subject or authority_key_id_of_crl(crl) not in (None, key_id(issuer)):
        raise RevocationUnknownError("revocation status unknown: the CRL is from another issuer")
    key = issuer.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or not crl.is_signature_valid(key):
        raise RevocationUnknownError("revocation status unknown: CRL signature does not verify")
    for extension in crl.extensions:
        if extension.critical:
            raise RevocationUnknownError(
                f"revocation status unknown: CRL has critical extension "
                f"{extension.oid.dotted_string}"
            )
    if crl.last_update_utc > now + CLOCK_SKEW:
        raise RevocationUnknownError("revocation status unknown: CRL thisUpdate in the future")
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    if entry is not None:  # a listed serial is revoked even if the CRL is old
        try:
            reason: x509.ReasonFlags | None = entry.extensions.get_extension_for_class(
                x509.CRLReason
            ).value.reason
        except x509.ExtensionNotFound:
            reason = None
        raise RevokedError(f"revoked ({reason_name(reason)})")
    if crl.next_update_utc is None or crl.next_update_utc < now:
        raise RevocationUnknownError("revocation status unknown: CRL stale")


def authority_key_id_of_crl(crl: x509.CertificateRevocationList) -> bytes | None:
    try:
        return crl.extensions.get_extension_for_class(
            x509.AuthorityKeyIdentifier
        ).value.key_identifier
    except x509.ExtensionNotFound:
        return None
