"""The committed test PKI follows the JPKI profile (jpki-pki-and-relying-parties.md §1)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
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

from simulator.personalization import (
    crl_url,
    fixtures_root,
    issued_certificates,
    load_hierarchies,
    load_persona,
)
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


CURRENT = 3  # the generation new certificates (and the default persona's) come from
GENERATIONS = (1, 2, 3)


def ca_certificate(name: str, generation: int = CURRENT) -> x509.Certificate:
    ca = hierarchies()[name].generation(generation)
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
ROOTS = [
    pytest.param(name, generation, id=f"{name}-ca-{generation}")
    for name in PURPOSES
    for generation in GENERATIONS
]

# ------------------------------------------------------------------- shared RSA/format


@pytest.mark.parametrize("certificate", [*PURPOSES, "auth-ee", "sign-ee"])
def test_rsa_2048_sha256_v3(certificate: str) -> None:
    cert = (
        ee_certificate(certificate[:4])
        if certificate.endswith("-ee")
        else ca_certificate(certificate, 2)
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


@pytest.mark.parametrize(("name", "generation"), ROOTS)
def test_root_rsa_2048_sha256_v3_and_serial(name: str, generation: int) -> None:
    cert = ca_certificate(name, generation)
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert (key.key_size, key.public_numbers().e) == (2048, 65537)
    assert cert.version is x509.Version.v3
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    serial_tag, serial = tbs_fields(cert)[1]
    # like the real roots: generation 1 has serial 01, later generations 4 positive bytes
    expected_size = 1 if generation == 1 else 4
    assert serial_tag == 0x02 and len(serial) == expected_size and serial[0] < 0x80
    assert [tag for tag, _ in children(tbs_fields(cert)[4][1])] == [UTC_TIME, UTC_TIME]


# ------------------------------------------------------------------------------ roots


@pytest.mark.parametrize(("name", "generation"), ROOTS)
def test_root_subject_issuer_and_string_types(name: str, generation: int) -> None:
    cert = ca_certificate(name, generation)
    assert cert.subject == cert.issuer
    assert cert.subject.rfc4514_string() == ROOT_DN[name]
    assert string_tags(cert.subject) == [PRINTABLE_STRING, UTF8_STRING, UTF8_STRING, UTF8_STRING]
    cert.verify_directly_issued_by(cert)


@pytest.mark.parametrize(("name", "generation"), ROOTS)
def test_root_validity_serial_and_key_match_definitions(name: str, generation: int) -> None:
    cert, ca = ca_certificate(name, generation), hierarchies()[name].generation(generation)
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


@pytest.mark.parametrize(("name", "generation"), ROOTS)
def test_root_extensions_order_criticality_and_values(name: str, generation: int) -> None:
    cert = ca_certificate(name, generation)
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


# ------------------------------------------------------------ three generations per hierarchy

# (not_before, not_after) of each generation, modelled on the real 2015/2019/2023 ceremonies
GENERATION_VALIDITY = {
    1: (dt.datetime(2015, 10, 20, tzinfo=UTC), dt.datetime(2025, 10, 19, 14, 59, 59, tzinfo=UTC)),
    2: (dt.datetime(2019, 9, 14, tzinfo=UTC), dt.datetime(2029, 9, 14, 14, 59, 59, tzinfo=UTC)),
    3: (dt.datetime(2023, 7, 16, tzinfo=UTC), dt.datetime(2033, 7, 15, 14, 59, 59, tzinfo=UTC)),
}


def subject_key_identifier(certificate: x509.Certificate) -> bytes:
    return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


@pytest.mark.parametrize("name", PURPOSES)
def test_three_generations_share_the_dn_and_differ_by_key_and_serial(name: str) -> None:
    assert [ca.generation for ca in hierarchies()[name].generations] == list(GENERATIONS)
    roots = [ca_certificate(name, generation) for generation in GENERATIONS]
    assert {root.subject.rfc4514_string() for root in roots} == {ROOT_DN[name]}
    assert len({subject_key_identifier(root) for root in roots}) == 3
    assert len({root.serial_number for root in roots}) == 3
    assert roots[0].serial_number == 1
    keys = {root.public_key().public_numbers() for root in roots}  # type: ignore[union-attr]
    assert len(keys) == 3
    for root in roots:  # each is self-signed by its own key only
        root.verify_directly_issued_by(root)
        for other in roots:
            if other is not root:  # same DN: the names match, the signature does not
                with pytest.raises(InvalidSignature):
                    root.verify_directly_issued_by(other)


@pytest.mark.parametrize(("name", "generation"), ROOTS)
def test_generation_validity_like_the_real_ceremonies(name: str, generation: int) -> None:
    cert = ca_certificate(name, generation)
    start, end = GENERATION_VALIDITY[generation]
    assert cert.not_valid_before_utc.date() == start.date()
    assert cert.not_valid_after_utc == end
    assert end.year - cert.not_valid_before_utc.year == 10


def test_generations_overlap_and_the_first_has_expired() -> None:
    reference = dt.datetime(2026, 11, 27, tzinfo=UTC)  # the catalogue's reference date
    for name in PURPOSES:
        first, second, third = (ca_certificate(name, g) for g in GENERATIONS)
        assert second.not_valid_before_utc < first.not_valid_after_utc
        assert third.not_valid_before_utc < second.not_valid_after_utc
        assert first.not_valid_after_utc < reference < second.not_valid_after_utc


@pytest.mark.parametrize(
    ("persona", "generation"),
    [("default", 3), ("middle-generation", 2), ("expired", 2), ("renewed-previous", 2)],
)
@pytest.mark.parametrize("purpose", PURPOSES)
def test_end_entity_aki_points_at_its_generation(
    persona: str, generation: int, purpose: str
) -> None:
    pair = load_persona(persona).auth if purpose == "auth" else load_persona(persona).sign
    assert pair.certificate is not None
    cert = x509.load_der_x509_certificate(pair.certificate)
    issuer = ca_certificate(purpose, generation)
    aki = extension(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    assert isinstance(aki, x509.AuthorityKeyIdentifier)
    assert aki.key_identifier == subject_key_identifier(issuer)
    assert aki.authority_cert_serial_number == issuer.serial_number
    assert cert.issuer == issuer.subject
    cert.verify_directly_issued_by(issuer)
    assert pair.ca_certificate == issuer.public_bytes(serialization.Encoding.DER)
    for other in GENERATIONS:  # same DN, other key: the signature must not verify
        if other != generation:
            with pytest.raises(InvalidSignature):
                cert.verify_directly_issued_by(ca_certificate(purpose, other))


def test_crl_url_builder() -> None:
    assert crl_url("auth", 3) == "http://127.0.0.1:35980/crl/auth-g3.crl"
    assert crl_url("sign", 1) == "http://127.0.0.1:35980/crl/sign-g1.crl"


def test_every_end_entity_names_its_generation_crl_and_the_municipality_partition() -> None:
    """One HTTP CRL per hierarchy generation, after the per-municipality directoryName."""
    issued = issued_certificates(fixtures_root())
    assert {(i.issuer.hierarchy, i.issuer.generation) for i in issued} == {
        ("auth", 2),
        ("auth", 3),
        ("sign", 2),
        ("sign", 3),
    }
    for item in issued:
        points = extension(item.certificate, ExtensionOID.CRL_DISTRIBUTION_POINTS).value
        assert isinstance(points, x509.CRLDistributionPoints)
        directory, url = (point.full_name for point in points)
        assert directory is not None and url is not None
        expected = crl_url(item.issuer.hierarchy, item.issuer.generation)
        assert url == [x509.UniformResourceIdentifier(expected)], item.persona
        (partition,) = directory
        assert isinstance(partition, x509.DirectoryName)
        units = [a.value for a in partition.value if a.oid == x509.NameOID.ORGANIZATIONAL_UNIT_NAME]
        assert units[1] == "CRL Distribution Points"
        assert str(
            partition.value.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        ).endswith(" CRLDP")


def test_ocsp_aia_only_on_authentication_slot_certificates() -> None:
    for item in issued_certificates(fixtures_root()):
        extensions = item.certificate.extensions
        if item.slot == "auth":
            aia = extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
            assert [d.access_location.value for d in aia] == [OCSP_URL]
        else:
            with pytest.raises(x509.ExtensionNotFound):
                extensions.get_extension_for_class(x509.AuthorityInformationAccess)


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
    assert url == [x509.UniformResourceIdentifier(f"http://127.0.0.1:35980/crl/{purpose}-g3.crl")]
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
    ca = hierarchy.generation(CURRENT)
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
