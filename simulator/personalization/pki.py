"""The test PKI: CA definitions and certificate builders following the JPKI profile.

Profiles: jpki-pki-and-relying-parties.md §1.1 (roots), §1.2 (user-authentication
certificate), §1.3/§1.4 (digital-signature certificate). Everything is RSA-2048,
sha256WithRSAEncryption (PKCS#1 v1.5, deterministic), UTCTime, fixed serials and dates, so the
same keys and definitions always give byte-identical DER.

The CA definitions (hierarchies and generations) are read by :mod:`.hierarchy`; the persona
files provide the holder and issuance data. Every URL a certificate names is defined here
(:data:`OCSP_URL`, :func:`crl_url`, :data:`CPS_URI`), so the revocation server can serve exactly
those paths.

Deliberate deviations a persona can ask for (``[auth|sign.issuance]``, see :class:`Issuance`):
a renewal validity (6th birthday), the production policy OID, an unknown critical extension, a
certificate from the other hierarchy, an explicit notAfter. Everything is still issued by our
``O=JPKI-TEST`` roots, so nothing generated here can pass for a production certificate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
)

from .hierarchy import UTC_TIME_YEARS, CaGeneration, Hierarchy, PkiError, Purpose
from .holder import Holder, encode_birth_date
from .validity import DEFAULT_BIRTHDAYS, certificate_not_after

RSA_KEY_BITS = 2048
RSA_PUBLIC_EXPONENT = 65537

# --- Where relying parties are sent: our own responder on loopback, never a real service. ---
RESPONDER_BASE_URL = "http://127.0.0.1:35980"
OCSP_URL = f"{RESPONDER_BASE_URL}/ocsp/auth"  # AIA of authentication certificates
CPS_URI = f"{RESPONDER_BASE_URL}/cps.html"  # CPS qualifier (the real one is jpki.go.jp/cps.html)


def crl_url(hierarchy: str, generation: int) -> str:
    """HTTP CRL of one CA generation: ``/crl/<hierarchy>-g<generation>.crl`` (e.g. auth-g3).

    It is the second distribution point of every end-entity certificate that generation
    issues, after the per-municipality directoryName of the real profile.
    """
    return f"{RESPONDER_BASE_URL}/crl/{hierarchy}-g{generation}.crl"


# --- Certificate policies. ---
# Signature certificates of J-LIS test cards carry 1.2.392.200149.8.5.1.0.20 (observed).
TEST_SIGN_POLICY_OID = "1.2.392.200149.8.5.1.0.20"
# The test-card authentication policy was never observed publicly. We use the test arc
# ".1.0" by analogy with the signature policy and the production auth suffix ".30".
TEST_AUTH_POLICY_OID = "1.2.392.200149.8.5.1.0.30"
# Production policies (observed in real certificates), used only on request (policy =
# "production") to test relying parties: the issuer stays an O=JPKI-TEST root.
PRODUCTION_AUTH_POLICY_OID = "1.2.392.200149.8.5.1.3.30"
PRODUCTION_SIGN_POLICY_OID = "1.2.392.200149.8.5.1.1.20"
PRODUCTION_POLICY_OIDS: dict[Purpose, str] = {
    "auth": PRODUCTION_AUTH_POLICY_OID,
    "sign": PRODUCTION_SIGN_POLICY_OID,
}
RENEWAL_BIRTHDAYS = 6  # renewed within the last 3 months of the previous certificate (§1.6)
DER_NULL = b"\x05\x00"  # value of the unknown critical extension
# Extensions the cryptography library knows: an "unknown" critical extension must be none of
# them (it would be a malformed known extension, or a duplicate of one we already add).
KNOWN_EXTENSION_OIDS = frozenset(
    value for value in vars(ExtensionOID).values() if isinstance(value, x509.ObjectIdentifier)
)

# --- Basic four information in the signature certificate's subjectAltName (§1.4). ---
OID_NAME = x509.ObjectIdentifier("1.2.392.200149.8.5.5.1")
OID_NAME_SUBSTITUTION = x509.ObjectIdentifier("1.2.392.200149.8.5.5.2")
OID_SEX = x509.ObjectIdentifier("1.2.392.200149.8.5.5.3")
OID_BIRTH_DATE = x509.ObjectIdentifier("1.2.392.200149.8.5.5.4")
OID_ADDRESS = x509.ObjectIdentifier("1.2.392.200149.8.5.5.5")
OID_ADDRESS_SUBSTITUTION = x509.ObjectIdentifier("1.2.392.200149.8.5.5.6")

CRL_DISTRIBUTION_POINTS_OU = "CRL Distribution Points"

Policy: TypeAlias = Literal["test", "production"]


@dataclass(frozen=True)
class Issuance:
    """How one end-entity certificate was issued (from a persona's ``[auth|sign.issuance]``)."""

    hierarchy: str
    generation: int
    issued_at: dt.datetime  # notBefore, UTC
    serial: int
    common_name: str
    renewal: bool = False  # notAfter on the 6th birthday after issuance instead of the 5th
    policy: Policy = "test"  # "test": the hierarchy's policy OID; "production": the real one
    unknown_critical_extension: str | None = None  # dotted OID of an extra critical extension
    cross_hierarchy: bool = False  # issued by the hierarchy of the OTHER purpose, deliberately
    not_after: dt.datetime | None = None  # explicit notAfter (UTC) instead of the birthday rule


def end_entity_not_after(holder: Holder, issuance: Issuance) -> dt.datetime:
    """``issuance.not_after`` if given, else the birthday rule (5th, or 6th on renewal)."""
    if issuance.not_after is not None:
        return issuance.not_after
    birthdays = RENEWAL_BIRTHDAYS if issuance.renewal else DEFAULT_BIRTHDAYS
    return certificate_not_after(holder.birth_date, issuance.issued_at, birthdays)


@dataclass(frozen=True)
class IssuingCa:
    """A CA generation together with its certificate and private key, ready to issue."""

    hierarchy: Hierarchy
    generation: CaGeneration
    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey


def der_utf8string(text: str) -> bytes:
    """DER encoding of an ASN.1 UTF8String (tag 0x0C, definite length)."""
    content = text.encode("utf-8")
    size = len(content)
    if size < 0x80:
        header = bytes([size])
    else:
        length = size.to_bytes((size.bit_length() + 7) // 8, "big")
        header = bytes([0x80 | len(length)]) + length
    return b"\x0c" + header + content


def _key_usage(*, digital_signature: bool, non_repudiation: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _check_utc_time(*instants: dt.datetime) -> None:
    for instant in instants:
        if not UTC_TIME_YEARS[0] <= instant.year <= UTC_TIME_YEARS[1]:
            raise PkiError(f"{instant.isoformat()} cannot be encoded as UTCTime (1950-2049)")


def _crl_distribution_points(name: x509.Name) -> x509.CRLDistributionPoints:
    point = x509.DistributionPoint(
        full_name=[x509.DirectoryName(name)], relative_name=None, reasons=None, crl_issuer=None
    )
    return x509.CRLDistributionPoints([point])


def build_ca_certificate(
    hierarchy: Hierarchy, ca: CaGeneration, key: rsa.RSAPrivateKey
) -> x509.Certificate:
    """The self-signed root of one generation, extensions in the §1.1 order."""
    _check_utc_time(ca.not_before, ca.not_after)
    subject = hierarchy.subject()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(ca.serial)
        .not_valid_before(ca.not_before)
        .not_valid_after(ca.not_after)
        .add_extension(
            _key_usage(digital_signature=False, non_repudiation=False, ca=True), critical=True
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.DirectoryName(hierarchy.alt_name())]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_crl_distribution_points(subject), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(key, hashes.SHA256())


def _end_entity_builder(
    ca: IssuingCa, subject: x509.Name, holder: Holder, issuance: Issuance, key: rsa.RSAPublicKey
) -> x509.CertificateBuilder:
    not_after = end_entity_not_after(holder, issuance)
    _check_utc_time(issuance.issued_at, not_after)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key)
        .serial_number(issuance.serial)
        .not_valid_before(issuance.issued_at)
        .not_valid_after(not_after)
    )


def policy_oid(hierarchy: Hierarchy, issuance: Issuance) -> str:
    """The issuing hierarchy's test policy, or the production policy of its purpose."""
    if issuance.policy == "production":
        return PRODUCTION_POLICY_OIDS[hierarchy.purpose]
    return hierarchy.policy_oid


def _policies(hierarchy: Hierarchy, issuance: Issuance) -> x509.CertificatePolicies:
    policy = x509.ObjectIdentifier(policy_oid(hierarchy, issuance))
    return x509.CertificatePolicies([x509.PolicyInformation(policy, [CPS_URI])])


def _with_unknown_extension(
    builder: x509.CertificateBuilder, issuance: Issuance
) -> x509.CertificateBuilder:
    """Append the requested unknown critical extension (value: DER NULL) after the SKI."""
    if issuance.unknown_critical_extension is None:
        return builder
    oid = x509.ObjectIdentifier(issuance.unknown_critical_extension)
    return builder.add_extension(x509.UnrecognizedExtension(oid, DER_NULL), critical=True)


def _end_entity_crl_points(ca: IssuingCa, holder: Holder) -> x509.CRLDistributionPoints:
    """Per-municipality directoryName (real form) first, then the generation's HTTP CRL."""
    hierarchy = ca.hierarchy
    partition = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, hierarchy.organization),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, hierarchy.organizational_unit),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, CRL_DISTRIBUTION_POINTS_OU),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, holder.prefecture_romaji),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{holder.city_romaji} CRLDP"),
        ]
    )
    url = crl_url(hierarchy.name, ca.generation.generation)
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint([x509.DirectoryName(partition)], None, None, None),
            x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None),
        ]
    )


def _authority_key_identifier(ca: IssuingCa) -> x509.AuthorityKeyIdentifier:
    ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier(
        key_identifier=ski.digest,
        authority_cert_issuer=[x509.DirectoryName(ca.certificate.subject)],
        authority_cert_serial_number=ca.certificate.serial_number,
    )


def build_auth_certificate(
    ca: IssuingCa, holder: Holder, issuance: Issuance, key: rsa.RSAPublicKey
) -> x509.Certificate:
    """利用者証明用電子証明書 (§1.2): extensions KU, EKU, CP, IAN, CRLDP, AIA, AKI, SKI.

    The slot decides the profile (subject, KU, EKU, AIA); the issuing CA decides issuer, policy,
    IAN, CRL distribution points and AKI, also for a deliberate cross-hierarchy certificate.
    """
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.COMMON_NAME, issuance.common_name),
        ]
    )
    ocsp = x509.AccessDescription(
        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(OCSP_URL)
    )
    builder = (
        _end_entity_builder(ca, subject, holder, issuance, key)
        .add_extension(
            _key_usage(digital_signature=True, non_repudiation=False, ca=False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(_policies(ca.hierarchy, issuance), critical=True)
        .add_extension(
            x509.IssuerAlternativeName([x509.DirectoryName(ca.hierarchy.alt_name())]),
            critical=False,
        )
        .add_extension(_end_entity_crl_points(ca, holder), critical=False)
        .add_extension(x509.AuthorityInformationAccess([ocsp]), critical=False)
        .add_extension(_authority_key_identifier(ca), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
    )
    return _with_unknown_extension(builder, issuance).sign(ca.private_key, hashes.SHA256())


def basic_four_information(holder: Holder) -> list[x509.GeneralName]:
    """The six otherNames in certificate order .1, .4, .3, .5, .2, .6 (§1.4)."""
    values = (
        (OID_NAME, holder.name),
        (OID_BIRTH_DATE, encode_birth_date(holder.birth_date)),
        (OID_SEX, holder.sex),
        (OID_ADDRESS, holder.address),
        (OID_NAME_SUBSTITUTION, holder.name_substitution),
        (OID_ADDRESS_SUBSTITUTION, holder.address_substitution),
    )
    # x509.OtherName wraps the given DER in the [0] EXPLICIT tag of otherName's value.
    return [x509.OtherName(oid, der_utf8string(text)) for oid, text in values]


def build_sign_certificate(
    ca: IssuingCa, holder: Holder, issuance: Issuance, key: rsa.RSAPublicKey
) -> x509.Certificate:
    """署名用電子証明書 (§1.3): extensions KU, SAN, CP, IAN, CRLDP, AKI, SKI (no AIA)."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, holder.prefecture_romaji),
            x509.NameAttribute(NameOID.LOCALITY_NAME, holder.city_romaji),
            x509.NameAttribute(NameOID.COMMON_NAME, issuance.common_name),
        ]
    )
    builder = (
        _end_entity_builder(ca, subject, holder, issuance, key)
        .add_extension(
            _key_usage(digital_signature=True, non_repudiation=True, ca=False), critical=True
        )
        .add_extension(x509.SubjectAlternativeName(basic_four_information(holder)), critical=False)
        .add_extension(_policies(ca.hierarchy, issuance), critical=True)
        .add_extension(
            x509.IssuerAlternativeName([x509.DirectoryName(ca.hierarchy.alt_name())]),
            critical=False,
        )
        .add_extension(_end_entity_crl_points(ca, holder), critical=False)
        .add_extension(_authority_key_identifier(ca), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
    )
    return _with_unknown_extension(builder, issuance).sign(ca.private_key, hashes.SHA256())
