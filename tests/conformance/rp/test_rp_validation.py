"""Certificate checks of the reference relying party on a small PKI made here, for the cases
the persona catalogue has no certificate for (no card, no revocation server)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conformance.rp.validation import (
    AUTHENTICATION,
    SIGNATURE,
    CertificateRejectedError,
    CertificateValidator,
    RevocationUnknownError,
    crl_url,
    fetch,
    ocsp_url,
)

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
YEAR = dt.timedelta(days=365)
DN = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI-TEST"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for user authentication"),
    ]
)
KEYS = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]
EE_KEY = KEYS[2]


def key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature, False, False, False, False, cert_sign, cert_sign, False, False
    )


def root(index: int, *, until: dt.datetime = T0 + 10 * YEAR, ca: bool = True) -> x509.Certificate:
    key = KEYS[index]
    return (
        x509.CertificateBuilder()
        .subject_name(DN)
        .issuer_name(DN)
        .public_key(key.public_key())
        .serial_number(index + 1)
        .not_valid_before(T0)
        .not_valid_after(until)
        .add_extension(key_usage(cert_sign=True), critical=True)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def end_entity(
    issuer: int,
    *,
    aki: bool = True,
    policy: str | None = AUTHENTICATION.policy,
    usage: x509.KeyUsage | None = None,
    ca: bool | None = None,
    extra: list[tuple[x509.ExtensionType, bool]] | None = None,
    until: dt.datetime = T0 + 5 * YEAR,
) -> x509.Certificate:
    key = KEYS[issuer]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EE")]))
        .issuer_name(DN)
        .public_key(EE_KEY.public_key())
        .serial_number(100 + issuer)
        .not_valid_before(T0 + YEAR)
        .not_valid_after(until)
        .add_extension(usage or key_usage(digital_signature=True), critical=True)
    )
    if policy is not None:
        policies = x509.CertificatePolicies(
            [x509.PolicyInformation(x509.ObjectIdentifier(policy), None)]
        )
        builder = builder.add_extension(policies, critical=True)
    if aki:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
    for extension, critical in extra or []:
        builder = builder.add_extension(extension, critical)
    return builder.sign(key, hashes.SHA256())


class NoNetwork(CertificateValidator):
    """The reference checks up to revocation (these certificates name no server)."""

    def check_revocation(self, *args: object) -> None:
        pass


NOW = T0 + 2 * YEAR


def test_issuer_is_chosen_by_key_among_roots_with_one_dn() -> None:
    roots = [root(0), root(1)]
    assert roots[0].subject == roots[1].subject
    for issuer in (0, 1):
        ee = end_entity(issuer)
        assert CertificateValidator().find_issuer(ee, roots) == roots[issuer]
        assert NoNetwork().validate(ee, roots, NOW, AUTHENTICATION) == roots[issuer]


def test_without_an_aki_the_key_that_verifies_decides() -> None:
    roots = [root(0), root(1)]
    assert CertificateValidator().find_issuer(end_entity(1, aki=False), roots) == roots[1]


def test_an_issuer_outside_the_roots_is_refused() -> None:
    with pytest.raises(CertificateRejectedError, match="not a trusted authentication root"):
        NoNetwork().validate(end_entity(1), [root(0)], NOW, AUTHENTICATION)


def test_an_expired_root_invalidates_a_valid_certificate() -> None:
    short = root(0, until=T0 + YEAR + YEAR // 2)
    ee = end_entity(0)
    assert ee.not_valid_after_utc > short.not_valid_after_utc
    with pytest.raises(CertificateRejectedError, match="issuing root is not valid"):
        NoNetwork().validate(
            ee, [short], short.not_valid_after_utc + dt.timedelta(seconds=1), AUTHENTICATION
        )
    NoNetwork().validate(ee, [short], short.not_valid_after_utc, AUTHENTICATION)


def test_a_root_that_is_not_a_ca_is_refused() -> None:
    with pytest.raises(CertificateRejectedError, match="not a CA"):
        NoNetwork().validate(end_entity(0), [root(0, ca=False)], NOW, AUTHENTICATION)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"policy": None}, "no certificatePolicies"),
    ({"policy": SIGNATURE.policy}, "not the authentication test policy"),
    ({"usage": key_usage(cert_sign=True)}, "digitalSignature"),
    ({"ca": True}, "must not be a CA"),
    ({"extra": [(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), True)]},
     "unrecognised critical extension 2.5.29.37"),
])  # fmt: skip
def test_end_entity_rules(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(CertificateRejectedError, match=match):
        NoNetwork().validate(end_entity(0, **kwargs), [root(0)], NOW, AUTHENTICATION)  # type: ignore[arg-type]


def test_known_extensions_may_be_critical() -> None:
    san = x509.SubjectAlternativeName([x509.DNSName("example.invalid")])
    ee = end_entity(0, ca=False, extra=[(san, True)])
    NoNetwork().validate(ee, [root(0)], NOW, AUTHENTICATION)


def test_revocation_urls() -> None:
    plain = end_entity(0)
    with pytest.raises(RevocationUnknownError, match="no OCSP URL"):
        ocsp_url(plain)
    with pytest.raises(RevocationUnknownError, match="no CRL distribution point"):
        crl_url(plain)
    points = x509.CRLDistributionPoints(
        [
            x509.DistributionPoint([x509.DirectoryName(DN)], None, None, None),
            x509.DistributionPoint(
                [x509.UniformResourceIdentifier("http://127.0.0.1:1/crl/auth-g1.crl")],
                None,
                None,
                None,
            ),
        ]
    )
    assert crl_url(end_entity(0, extra=[(points, False)])) == "http://127.0.0.1:1/crl/auth-g1.crl"


@pytest.mark.parametrize("url", ["ldap://127.0.0.1/cn=crl", "file:///etc/passwd"])
def test_only_http_urls_are_fetched(url: str) -> None:
    with pytest.raises(RevocationUnknownError, match="unsupported URL"):
        fetch(url)


def test_an_unreachable_server_is_an_unknown_status() -> None:
    with pytest.raises(RevocationUnknownError, match="revocation status unknown"):
        fetch("http://127.0.0.1:1/crl/auth-g1.crl")
