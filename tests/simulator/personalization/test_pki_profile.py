"""The committed test PKI follows the JPKI profile (jpki-pki-and-relying-parties.md §1)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    SignatureAlgorithmOID,
)
from hypothesis import given
from hypothesis import strategies as st

from simulator.personalization import fixtures_root, load_hierarchies, load_persona
from simulator.personalization.hierarchy import Hierarchy
from simulator.personalization.holder import Holder
from simulator.personalization.persona import PersonaDocument, read_persona_document
from simulator.personalization.pki import (
    CPS_URI,
    OCSP_URL,
    TEST_AUTH_POLICY_OID,
    TEST_SIGN_POLICY_OID,
    IssuingCa,
    build_sign_certificate,
)
from simulator.personalization.validity import certificate_not_after

PRINTABLE_STRING, UTF8_STRING, UTC_TIME = 0x13, 0x0C, 0x17
UTC = dt.UTC


def full_width(text: str) -> str:
    """ASCII characters as their full-width forms (U+FF01-U+FF5E), as on the card."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


# ------------------------------------------------------------------ a minimal DER reader


def tlv(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """(tag, content, offset after the element) of the DER element at ``offset``."""
    tag, first = data[offset], data[offset + 1]
    offset += 2
    if first < 0x80:
        size = first
    else:
        count = first & 0x7F
        size = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    return tag, data[offset : offset + size], offset + size


def children(content: bytes) -> list[tuple[int, bytes]]:
    items, offset = [], 0
    while offset < len(content):
        tag, value, offset = tlv(content, offset)
        items.append((tag, value))
    return items


def string_tags(name: x509.Name) -> list[int]:
    """The ASN.1 string type of each attribute value, in RDN order."""
    tags = []
    for _set_tag, rdn in children(tlv(name.public_bytes())[1]):
        for _seq_tag, attribute in children(rdn):
            (_oid_tag, _oid), (value_tag, _value) = children(attribute)
            tags.append(value_tag)
    return tags


def tbs_fields(certificate: x509.Certificate) -> list[tuple[int, bytes]]:
    return children(tlv(certificate.tbs_certificate_bytes)[1])


# ---------------------------------------------------------------------------- fixtures


@functools.cache
def hierarchies() -> dict[str, Hierarchy]:
    return load_hierarchies(fixtures_root() / "pki" / "hierarchies.toml")


@functools.cache
def default_document() -> PersonaDocument:
    return read_persona_document(fixtures_root() / "personas" / "default.toml")


def holder() -> Holder:
    document = default_document()
    assert document.holder is not None
    return document.holder


def ca_certificate(name: str) -> x509.Certificate:
    ca = hierarchies()[name].generation(1)
    return x509.load_der_x509_certificate(ca.certificate.read_bytes())


def ee_certificate(purpose: str) -> x509.Certificate:
    data = load_persona("default").auth if purpose == "auth" else load_persona("default").sign
    assert data.certificate is not None
    return x509.load_der_x509_certificate(data.certificate)


def extension(
    certificate: x509.Certificate, oid: x509.ObjectIdentifier
) -> x509.Extension[x509.ExtensionType]:
    return certificate.extensions.get_extension_for_oid(oid)


def alt_name_rfc4514(name: str) -> str:
    unit = "公的個人認証サービス利用者証明用" if name == "auth" else "公的個人認証サービス署名用"
    organization = "公的個人認証サービス" + full_width("(") + "試験用" + full_width(")")
    return f"OU=地方公共団体情報システム機構,OU={unit},O={organization},C=JP"


ROOT_DN = {
    "auth": "OU=Japan Agency for Local Authority Information Systems,"
    "OU=JPKI for user authentication,O=JPKI-TEST,C=JP",
    "sign": "OU=Japan Agency for Local Authority Information Systems,"
    "OU=JPKI for digital signature,O=JPKI-TEST,C=JP",
}
PURPOSES = ("auth", "sign")

# ------------------------------------------------------------------- shared RSA/format


@pytest.mark.parametrize("certificate", [*PURPOSES, "auth-ee", "sign-ee"])
def test_rsa_2048_sha256_v3(certificate: str) -> None:
    cert = (
        ee_certificate(certificate[:4])
        if certificate.endswith("-ee")
        else ca_certificate(certificate)
    )
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 2048
    assert key.public_numbers().e == 65537
    assert cert.version is x509.Version.v3
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    fields = tbs_fields(cert)
    serial_tag, serial = fields[1]
    assert serial_tag == 0x02 and len(serial) == 4 and serial[0] < 0x80  # 4-byte positive
    assert [tag for tag, _ in children(fields[4][1])] == [UTC_TIME, UTC_TIME]


# ------------------------------------------------------------------------------ roots


@pytest.mark.parametrize("name", PURPOSES)
def test_root_subject_issuer_and_string_types(name: str) -> None:
    cert = ca_certificate(name)
    assert cert.subject == cert.issuer
    assert cert.subject.rfc4514_string() == ROOT_DN[name]
    assert string_tags(cert.subject) == [PRINTABLE_STRING, UTF8_STRING, UTF8_STRING, UTF8_STRING]
    cert.verify_directly_issued_by(cert)


@pytest.mark.parametrize("name", PURPOSES)
def test_root_validity_serial_and_key_match_definitions(name: str) -> None:
    cert, ca = ca_certificate(name), hierarchies()[name].generation(1)
    assert cert.serial_number == ca.serial
    assert cert.not_valid_before_utc == ca.not_before
    assert cert.not_valid_after_utc == ca.not_after
    assert cert.not_valid_after_utc.time() == dt.time(14, 59, 59)
    years = cert.not_valid_after_utc.year - cert.not_valid_before_utc.year
    assert years == 10
    pem = ca.private_key.read_bytes()
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]


@pytest.mark.parametrize("name", PURPOSES)
def test_root_extensions_order_criticality_and_values(name: str) -> None:
    cert = ca_certificate(name)
    assert [(e.oid, e.critical) for e in cert.extensions] == [
        (ExtensionOID.KEY_USAGE, True),
        (ExtensionOID.SUBJECT_ALTERNATIVE_NAME, False),
        (ExtensionOID.BASIC_CONSTRAINTS, True),
        (ExtensionOID.CRL_DISTRIBUTION_POINTS, False),
        (ExtensionOID.SUBJECT_KEY_IDENTIFIER, False),
    ]
    assert extension(cert, ExtensionOID.KEY_USAGE).value.public_bytes() == bytes.fromhex("03020106")
    san = extension(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert isinstance(san, x509.SubjectAlternativeName)
    (directory,) = san.get_values_for_type(x509.DirectoryName)
    assert directory.rfc4514_string() == alt_name_rfc4514(name)
    assert string_tags(directory) == [PRINTABLE_STRING, UTF8_STRING, UTF8_STRING, UTF8_STRING]
    constraints = extension(cert, ExtensionOID.BASIC_CONSTRAINTS).value
    assert constraints == x509.BasicConstraints(ca=True, path_length=None)
    points = extension(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    assert isinstance(points, x509.CRLDistributionPoints)
    assert [p.full_name for p in points] == [[x509.DirectoryName(cert.subject)]]
    ski = extension(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())


def test_hierarchy_policies_are_the_test_policies() -> None:
    assert hierarchies()["auth"].policy_oid == TEST_AUTH_POLICY_OID == "1.2.392.200149.8.5.1.0.30"
    assert hierarchies()["sign"].policy_oid == TEST_SIGN_POLICY_OID == "1.2.392.200149.8.5.1.0.20"


# ----------------------------------------------------------------- end-entity (common)


@pytest.mark.parametrize("purpose", PURPOSES)
def test_end_entity_chains_to_its_root_only(purpose: str) -> None:
    cert = ee_certificate(purpose)
    cert.verify_directly_issued_by(ca_certificate(purpose))
    other = "sign" if purpose == "auth" else "auth"
    with pytest.raises(ValueError, match="does not match"):
        cert.verify_directly_issued_by(ca_certificate(other))
    assert cert.issuer.rfc4514_string() == ROOT_DN[purpose]


@pytest.mark.parametrize("purpose", PURPOSES)
def test_end_entity_validity_follows_birthday_rule(purpose: str) -> None:
    cert = ee_certificate(purpose)
    slot = default_document().auth if purpose == "auth" else default_document().sign
    assert slot.issuance is not None
    assert cert.not_valid_before_utc == dt.datetime(2024, 8, 26, 1, 23, 45, tzinfo=UTC)
    assert cert.not_valid_after_utc == dt.datetime(2029, 8, 20, 14, 59, 59, tzinfo=UTC)
    assert cert.not_valid_after_utc == certificate_not_after(
        holder().birth_date, slot.issuance.issued_at
    )
    assert cert.serial_number == slot.issuance.serial


@pytest.mark.parametrize("purpose", PURPOSES)
def test_end_entity_key_matches_persona_key(purpose: str) -> None:
    persona = load_persona("default")
    pair = persona.auth if purpose == "auth" else persona.sign
    assert pair.private_key is not None
    cert_key = ee_certificate(purpose).public_key()
    assert isinstance(cert_key, rsa.RSAPublicKey)
    assert pair.private_key.public_key().public_numbers() == cert_key.public_numbers()
    assert pair.ca_certificate == ca_certificate(purpose).public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("purpose", PURPOSES)
def test_end_entity_authority_and_subject_key_identifiers(purpose: str) -> None:
    cert, ca = ee_certificate(purpose), ca_certificate(purpose)
    aki = extension(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    assert isinstance(aki, x509.AuthorityKeyIdentifier)
    ca_ski = extension(ca, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert isinstance(ca_ski, x509.SubjectKeyIdentifier)
    assert aki.key_identifier == ca_ski.digest
    assert aki.authority_cert_issuer == [x509.DirectoryName(ca.subject)]
    assert aki.authority_cert_serial_number == ca.serial_number
    ski = extension(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())


@pytest.mark.parametrize("purpose", PURPOSES)
def test_end_entity_policy_issuer_alt_name_and_crl_points(purpose: str) -> None:
    cert = ee_certificate(purpose)
    policies = extension(cert, ExtensionOID.CERTIFICATE_POLICIES)
    assert policies.critical
    expected = TEST_AUTH_POLICY_OID if purpose == "auth" else TEST_SIGN_POLICY_OID
    assert policies.value == x509.CertificatePolicies(
        [x509.PolicyInformation(x509.ObjectIdentifier(expected), [CPS_URI])]
    )
    ian = extension(cert, ExtensionOID.ISSUER_ALTERNATIVE_NAME).value
    assert isinstance(ian, x509.IssuerAlternativeName)
    assert [n.rfc4514_string() for n in ian.get_values_for_type(x509.DirectoryName)] == [
        alt_name_rfc4514(purpose)
    ]
    points = extension(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    assert isinstance(points, x509.CRLDistributionPoints)
    unit = ROOT_DN[purpose].split(",")[1]
    directory, url = (p.full_name for p in points)
    assert directory is not None and url is not None
    assert [d.value.rfc4514_string() for d in directory] == [
        f"CN=Chiyoda-ku CRLDP,OU=Tokyo-to,OU=CRL Distribution Points,{unit},O=JPKI-TEST,C=JP"
    ]
    assert url == [
        x509.UniformResourceIdentifier(
            f"http://127.0.0.1:35980/crl/{purpose}/Tokyo-to-Chiyoda-ku.crl"
        )
    ]
    assert all(p.reasons is None and p.crl_issuer is None for p in points)


# ------------------------------------------------------------ authentication certificate


def test_auth_subject() -> None:
    subject = ee_certificate("auth").subject
    assert subject.rfc4514_string() == "CN=990001T3HNKOAB13101003A,C=JP"
    assert string_tags(subject) == [PRINTABLE_STRING, UTF8_STRING]


def test_auth_extension_order_and_criticality() -> None:
    cert = ee_certificate("auth")
    assert [(e.oid, e.critical) for e in cert.extensions] == [
        (ExtensionOID.KEY_USAGE, True),
        (ExtensionOID.EXTENDED_KEY_USAGE, False),
        (ExtensionOID.CERTIFICATE_POLICIES, True),
        (ExtensionOID.ISSUER_ALTERNATIVE_NAME, False),
        (ExtensionOID.CRL_DISTRIBUTION_POINTS, False),
        (ExtensionOID.AUTHORITY_INFORMATION_ACCESS, False),
        (ExtensionOID.AUTHORITY_KEY_IDENTIFIER, False),
        (ExtensionOID.SUBJECT_KEY_IDENTIFIER, False),
    ]


def test_auth_key_usage_eku_and_ocsp() -> None:
    cert = ee_certificate("auth")
    assert extension(cert, ExtensionOID.KEY_USAGE).value.public_bytes() == bytes.fromhex("03020780")
    eku = extension(cert, ExtensionOID.EXTENDED_KEY_USAGE).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]  # type: ignore[call-overload]
    aia = extension(cert, ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    assert list(aia) == [  # type: ignore[call-overload]
        x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(OCSP_URL)
        )
    ]
    assert OCSP_URL == "http://127.0.0.1:35980/ocsp/auth"


# ------------------------------------------------------------------ signature certificate


def test_sign_subject() -> None:
    subject = ee_certificate("sign").subject
    assert subject.rfc4514_string() == "CN=990002S7PQRWXY13101003A,L=Chiyoda-ku,L=Tokyo-to,C=JP"
    assert string_tags(subject) == [PRINTABLE_STRING, UTF8_STRING, UTF8_STRING, UTF8_STRING]


def test_sign_extension_order_and_criticality() -> None:
    cert = ee_certificate("sign")
    assert [(e.oid, e.critical) for e in cert.extensions] == [
        (ExtensionOID.KEY_USAGE, True),
        (ExtensionOID.SUBJECT_ALTERNATIVE_NAME, False),
        (ExtensionOID.CERTIFICATE_POLICIES, True),
        (ExtensionOID.ISSUER_ALTERNATIVE_NAME, False),
        (ExtensionOID.CRL_DISTRIBUTION_POINTS, False),
        (ExtensionOID.AUTHORITY_KEY_IDENTIFIER, False),
        (ExtensionOID.SUBJECT_KEY_IDENTIFIER, False),
    ]


def test_sign_key_usage_is_digital_signature_and_non_repudiation() -> None:
    cert = ee_certificate("sign")
    assert extension(cert, ExtensionOID.KEY_USAGE).value.public_bytes() == bytes.fromhex("030206C0")


def decoded_other_names(cert: x509.Certificate) -> list[tuple[str, str]]:
    """(OID, text) of each SAN otherName; the value must be exactly one DER UTF8String."""
    san = extension(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert isinstance(san, x509.SubjectAlternativeName)
    result = []
    for other in san.get_values_for_type(x509.OtherName):
        tag, content, end = tlv(other.value)
        assert (tag, end) == (UTF8_STRING, len(other.value))
        result.append((other.type_id.dotted_string, content.decode("utf-8")))
    assert len(result) == len(list(san))  # nothing but otherNames
    return result


def test_sign_other_names_order_and_values() -> None:
    arc = "1.2.392.200149.8.5.5"
    assert decoded_other_names(ee_certificate("sign")) == [
        (f"{arc}.1", "試験\u3000花子"),
        (f"{arc}.4", "319850820"),
        (f"{arc}.3", "2"),
        (f"{arc}.5", "東京都千代田区霞が関" + full_width("2-1-2")),
        (f"{arc}.2", "00000"),
        (f"{arc}.6", "000000000000000"),
    ]


def test_sign_other_name_is_explicitly_tagged_in_der() -> None:
    san = extension(ee_certificate("sign"), ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    first = children(tlv(san.public_bytes())[1])[0]  # [0] otherName
    assert first[0] == 0xA0
    (oid_tag, _oid), (value_tag, value) = children(first[1])
    assert (oid_tag, value_tag) == (0x06, 0xA0)  # type-id, then [0] EXPLICIT
    assert tlv(value)[0] == UTF8_STRING


# ------------------------------------------------- builder properties (random holders)

_KANJI = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
_FULL_WIDTH = st.sampled_from(full_width("0123456789-"))


@functools.cache
def issuing_sign_ca() -> IssuingCa:
    hierarchy = hierarchies()["sign"]
    ca = hierarchy.generation(1)
    key = serialization.load_pem_private_key(ca.private_key.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return IssuingCa(hierarchy, ca, ca_certificate("sign"), key)


@given(
    family=st.text(_KANJI, min_size=1, max_size=10),
    given_name=st.text(_KANJI, min_size=1, max_size=10),
    address=st.text(st.one_of(_KANJI, _FULL_WIDTH), min_size=1, max_size=80),
)
def test_sign_other_names_round_trip_for_any_holder(
    family: str, given_name: str, address: str
) -> None:
    name = f"{family}\u3000{given_name}"
    person = replace(
        holder(),
        name=name,
        name_substitution="1" * len(name),
        address=address,
        address_substitution="0" * len(address),
    )
    slot = default_document().sign
    assert slot.issuance is not None
    persona_key = load_persona("default").sign.private_key
    assert persona_key is not None
    cert = build_sign_certificate(
        issuing_sign_ca(), person, slot.issuance, persona_key.public_key()
    )
    values = dict(decoded_other_names(cert))
    assert values["1.2.392.200149.8.5.5.1"] == name
    assert values["1.2.392.200149.8.5.5.5"] == address
    assert values["1.2.392.200149.8.5.5.2"] == "1" * len(name)
    cert.verify_directly_issued_by(issuing_sign_ca().certificate)
