"""The catalogue API (load_authorities, issued_certificates) and the persona catalogue itself.

The API is what the revocation services are built from: every CA generation with its key, and
every persona certificate with its issuer found BY KEY. The second half pins what
fixtures/personas/CATALOGUE.md says each persona is for, at the reference date 2026-11-27.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import ExtensionOID, NameOID

from simulator.personalization import (
    CertificateAuthority,
    IssuedCertificate,
    PersonaError,
    PkiError,
    builtin_personas,
    encode_birth_date,
    find_issuer,
    fixtures_root,
    issued_certificates,
    load_authorities,
    load_persona,
)
from simulator.personalization.persona import read_persona_document
from simulator.personalization.pki import (
    PRODUCTION_AUTH_POLICY_OID,
    PRODUCTION_SIGN_POLICY_OID,
    TEST_AUTH_POLICY_OID,
    TEST_SIGN_POLICY_OID,
)

UTC = dt.UTC
REFERENCE = dt.datetime(2026, 11, 27, tzinfo=UTC)  # the catalogue's "now"
ROOT = fixtures_root()
PERSONAS = ROOT / "personas"
NAME_OTHER_NAME = x509.ObjectIdentifier("1.2.392.200149.8.5.5.1")
NAME_FLAGS = x509.ObjectIdentifier("1.2.392.200149.8.5.5.2")
BIRTH_OTHER_NAME = x509.ObjectIdentifier("1.2.392.200149.8.5.5.4")
ADDRESS_OTHER_NAME = x509.ObjectIdentifier("1.2.392.200149.8.5.5.5")
ADDRESS_FLAGS = x509.ObjectIdentifier("1.2.392.200149.8.5.5.6")
REVOKED = {
    ("address-changed", "sign"): x509.ReasonFlags.affiliation_changed,
    ("renewed-previous", "auth"): x509.ReasonFlags.superseded,
    ("renewed-previous", "sign"): x509.ReasonFlags.superseded,
    ("key-compromise", "auth"): x509.ReasonFlags.key_compromise,
    ("key-compromise", "sign"): x509.ReasonFlags.key_compromise,
    ("certificate-hold", "sign"): x509.ReasonFlags.certificate_hold,
}
CATALOGUE = [
    "default",
    "under15",
    "android",
    "ios",
    "expired",
    "not-yet-valid",
    "address-changed",
    "renewed",
    "renewed-previous",
    "key-compromise",
    "certificate-hold",
    "middle-generation",
    "other-hierarchy",
    "unknown-critical-extension",
    "production-policy",
    "substitution-flags",
    "long-name",
    "overseas",
    "era-meiji",
    "era-taisho",
    "era-showa",
    "era-heisei",
    "era-reiwa",
    "foreign-resident",
]


def ski(certificate: x509.Certificate) -> bytes:
    return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def aki(certificate: x509.Certificate) -> bytes | None:
    value = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    return value.key_identifier


def catalogue() -> dict[tuple[str, str], IssuedCertificate]:
    return {(item.persona, item.slot): item for item in issued_certificates(ROOT)}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "fixtures"
    shutil.copytree(ROOT, root)
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# ---------------------------------------------------------------------- load_authorities


def test_load_authorities_lists_every_generation_with_its_key() -> None:
    authorities = load_authorities(ROOT)
    assert [(a.hierarchy, a.generation) for a in authorities] == [
        (name, generation) for name in ("auth", "sign") for generation in (1, 2, 3)
    ]
    for authority in authorities:
        path = ROOT / "pki" / "ca" / f"{authority.hierarchy}-ca-{authority.generation}.der"
        assert authority.certificate.public_bytes(serialization.Encoding.DER) == path.read_bytes()
        public = authority.certificate.public_key()
        assert authority.private_key.public_key().public_numbers() == public.public_numbers()  # type: ignore[union-attr]
        signature = authority.private_key.sign(b"crl", padding.PKCS1v15(), hashes.SHA256())
        public.verify(signature, b"crl", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
    assert len({ski(a.certificate) for a in authorities}) == 6
    assert len({a.certificate.subject for a in authorities}) == 2  # one DN per hierarchy
    assert "PRIVATE" not in repr(authorities[0]) and "<redacted>" in repr(authorities[0])


def test_load_authorities_refuses_a_key_that_does_not_match(tree: Path) -> None:
    keys = tree / "pki" / "keys"
    shutil.copyfile(keys / "auth-ca-3.pem", keys / "auth-ca-2.pem")
    with pytest.raises(PkiError, match=r"\[auth generation 2\].*does not match"):
        load_authorities(tree)


def test_load_authorities_needs_the_generated_certificates(tree: Path) -> None:
    (tree / "pki" / "ca" / "sign-ca-2.der").unlink()
    with pytest.raises(PkiError, match=r"\[sign generation 2\]: cannot read"):
        load_authorities(tree)


# ------------------------------------------------------------------- issued_certificates


def test_issued_certificates_cover_every_present_certificate() -> None:
    issued = issued_certificates(ROOT)
    expected = []
    for path in sorted(PERSONAS.glob("*.toml")):
        document = read_persona_document(path)
        expected += [(document.name, key) for key, slot in document.slots() if slot.present]
    assert [(item.persona, item.slot) for item in issued] == expected
    assert len(issued) == 46
    for item in issued:
        path = ROOT / "pki" / "ee" / f"{item.persona}-{item.slot}.der"
        assert item.certificate.public_bytes(serialization.Encoding.DER) == path.read_bytes()
        assert aki(item.certificate) == ski(item.issuer.certificate)
        item.certificate.verify_directly_issued_by(item.issuer.certificate)
        persona = load_persona(item.persona)
        pair = persona.auth if item.slot == "auth" else persona.sign
        assert item.revocation == pair.revocation  # the loader and the catalogue agree
        assert (item.revocation is None) == ((item.persona, item.slot) not in REVOKED)


def test_issuer_of_a_middle_generation_certificate_is_found_by_key() -> None:
    authorities = load_authorities(ROOT)
    for slot in ("auth", "sign"):
        item = catalogue()[("middle-generation", slot)]
        same_dn = [a for a in authorities if a.certificate.subject == item.certificate.issuer]
        assert [a.generation for a in same_dn] == [1, 2, 3]  # the DN cannot tell them apart
        assert (item.issuer.hierarchy, item.issuer.generation) == (slot, 2)
        assert item.issuer.certificate.serial_number == (
            0x2A19C349 if slot == "auth" else 0x2B19C4AB
        )
        found = find_issuer(item.certificate, authorities)
        assert found is not None and (found.hierarchy, found.generation) == (slot, 2)


def test_issuer_of_the_cross_hierarchy_certificate_is_the_sign_root() -> None:
    item = catalogue()[("other-hierarchy", "auth")]
    assert (item.slot, item.issuer.hierarchy, item.issuer.generation) == ("auth", "sign", 3)


def test_find_issuer_needs_the_key_not_only_the_key_identifier() -> None:
    """A certificate whose AKI names generation 3 but which generation 2 signed: no issuer."""
    authorities = {(a.hierarchy, a.generation): a for a in load_authorities(ROOT)}
    named, signer = authorities[("auth", 3)], authorities[("auth", 2)]
    genuine = catalogue()[("default", "auth")].certificate
    builder = (
        x509.CertificateBuilder()
        .subject_name(genuine.subject)
        .issuer_name(genuine.issuer)
        .public_key(genuine.public_key())  # type: ignore[arg-type]
        .serial_number(0x7F000001)
        .not_valid_before(genuine.not_valid_before_utc)
        .not_valid_after(genuine.not_valid_after_utc)
        .add_extension(
            x509.AuthorityKeyIdentifier(ski(named.certificate), None, None), critical=False
        )
    )
    forged = builder.sign(signer.private_key, hashes.SHA256())
    assert find_issuer(forged, list(authorities.values())) is None
    honest = builder.sign(named.private_key, hashes.SHA256())
    assert find_issuer(honest, list(authorities.values())) == named


def test_revocations_come_from_the_personas() -> None:
    revoked = {key: item.revocation for key, item in catalogue().items() if item.revocation}
    assert {key: revocation.reason for key, revocation in revoked.items()} == REVOKED
    compromise = revoked[("key-compromise", "auth")]
    assert compromise.revoked_at == dt.datetime(2026, 10, 10, 1, 0, tzinfo=UTC)
    assert compromise.invalidity_date == dt.datetime(2026, 10, 8, 12, 0, tzinfo=UTC)
    for revocation in revoked.values():
        assert revocation.revoked_at < REFERENCE  # in effect on the reference date


def test_issued_certificates_of_given_persona_files(tmp_path: Path) -> None:
    chosen = [PERSONAS / "middle-generation.toml", PERSONAS / "era-reiwa.toml"]
    issued = issued_certificates(ROOT, [*chosen, chosen[0]])  # duplicates count once
    assert [(i.persona, i.slot) for i in issued] == [
        ("middle-generation", "auth"),
        ("middle-generation", "sign"),
        ("era-reiwa", "auth"),
    ]
    assert issued_certificates(ROOT, []) == []


def test_a_certificate_no_ca_of_the_tree_issued_is_an_error(tree: Path) -> None:
    definitions = tree / "pki" / "hierarchies.toml"
    text = definitions.read_text(encoding="utf-8")
    start = text.index("[[hierarchies.auth.generations]]\ngeneration = 2")
    end = text.index("[[hierarchies.auth.generations]]\ngeneration = 3")
    definitions.write_text(text[:start] + text[end:], encoding="utf-8")
    path = tree / "personas" / "middle-generation.toml"
    message = f"{path}: auth.certificate: not issued by any CA generation of {tree}"
    with pytest.raises(PersonaError, match=re.escape(message)):
        issued_certificates(tree, [path])
    with pytest.raises(PersonaError, match="not issued by any CA generation"):
        issued_certificates(tree)  # expired and renewed-previous are generation 2 too
    assert len(issued_certificates(tree, [tree / "personas" / "default.toml"])) == 2


def test_a_serial_used_twice_by_one_ca_is_an_error(tree: Path) -> None:
    second = tree / "personas" / "second.toml"
    shutil.copyfile(tree / "personas" / "default.toml", second)
    edit(second, 'name = "default"', 'name = "second"')
    message = "second.toml: auth.certificate: serial 0x3c5e7a01 of auth generation 3 is also used"
    with pytest.raises(PersonaError, match=re.escape(message) + " by persona 'default' auth"):
        issued_certificates(tree, [tree / "personas" / "default.toml", second])


def test_a_missing_certificate_is_an_error(tree: Path) -> None:
    (tree / "pki" / "ee" / "expired-sign.der").unlink()
    with pytest.raises(PersonaError, match=r"expired\.toml: sign\.certificate: cannot read"):
        issued_certificates(tree)


def test_catalogue_is_fast_enough_for_a_server_start() -> None:
    issued_certificates(ROOT)
    start = time.perf_counter()
    issued_certificates(ROOT)
    assert time.perf_counter() - start < 0.5  # measured ~25 ms


def test_api_types_are_frozen() -> None:
    authority = load_authorities(ROOT)[0]
    with pytest.raises(AttributeError):
        authority.generation = 2  # type: ignore[misc]
    assert isinstance(catalogue()[("default", "auth")].issuer, CertificateAuthority)


# ----------------------------------------------------------------- the persona catalogue


def certificate(persona: str, slot: str) -> x509.Certificate:
    return catalogue()[(persona, slot)].certificate


def other_names(persona: str) -> dict[x509.ObjectIdentifier, bytes]:
    san = certificate(persona, "sign").extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    return {name.type_id: name.value for name in san.value.get_values_for_type(x509.OtherName)}


def utf8(value: bytes) -> str:
    """The text of a DER UTF8String (short or long length form)."""
    assert value[0] == 0x0C
    size, offset = value[1], 2
    if size & 0x80:
        count = size & 0x7F
        size, offset = int.from_bytes(value[2 : 2 + count], "big"), 2 + count
    assert len(value) == offset + size
    return value[offset:].decode("utf-8")


def test_the_catalogue_is_complete_and_every_card_is_distinct() -> None:
    assert sorted(CATALOGUE) == builtin_personas()
    personas = [load_persona(name) for name in CATALOGUE]
    assert len({p.token_serial for p in personas}) == len(CATALOGUE)
    certificates = list(catalogue().values())
    keys = {c.certificate.public_key().public_numbers() for c in certificates}  # type: ignore[union-attr]
    assert len(keys) == len(certificates)  # every certificate has its own key
    common_names = [
        c.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        for c in certificates
    ]
    assert len(set(common_names)) == len(common_names)
    serials = [c.certificate.serial_number for c in certificates]
    assert len(set(serials)) == len(serials)


@pytest.mark.parametrize("persona", CATALOGUE)
def test_validity_at_the_reference_date(persona: str) -> None:
    for slot in ("auth", "sign"):
        item = catalogue().get((persona, slot))
        if item is None:
            continue
        start, end = item.certificate.not_valid_before_utc, item.certificate.not_valid_after_utc
        issuer = item.issuer.certificate
        assert issuer.not_valid_before_utc <= REFERENCE <= issuer.not_valid_after_utc
        if persona == "expired":
            assert end < REFERENCE
        elif persona == "not-yet-valid":
            assert REFERENCE < start
            assert start.year == 2027
        else:
            assert start <= REFERENCE <= end, (persona, slot)


def test_test_policy_everywhere_but_production_policy() -> None:
    test = {TEST_AUTH_POLICY_OID, TEST_SIGN_POLICY_OID}
    production = {PRODUCTION_AUTH_POLICY_OID, PRODUCTION_SIGN_POLICY_OID}
    for (persona, slot), item in catalogue().items():
        policies = item.certificate.extensions.get_extension_for_class(x509.CertificatePolicies)
        (oid,) = [p.policy_identifier.dotted_string for p in policies.value]
        assert item.certificate.issuer.rfc4514_string().endswith("O=JPKI-TEST,C=JP")
        if persona == "production-policy":
            assert oid == (
                PRODUCTION_AUTH_POLICY_OID if slot == "auth" else PRODUCTION_SIGN_POLICY_OID
            )
        else:
            assert oid in test and oid not in production


def test_unknown_critical_extension_only_where_asked() -> None:
    unknown = x509.ObjectIdentifier("2.999.1")
    for (persona, _slot), item in catalogue().items():
        extensions = {e.oid: e for e in item.certificate.extensions}
        if persona == "unknown-critical-extension":
            assert extensions[unknown].critical
            assert list(item.certificate.extensions)[-1].oid == unknown
        else:
            assert unknown not in extensions


def test_other_hierarchy_auth_slot_chains_to_the_sign_root() -> None:
    persona = load_persona("other-hierarchy")
    sign_root = (ROOT / "pki" / "ca" / "sign-ca-3.der").read_bytes()
    assert persona.auth.ca_certificate == sign_root  # EF 000B holds the issuing (sign) root
    cert = certificate("other-hierarchy", "auth")
    assert "OU=JPKI for digital signature" in cert.issuer.rfc4514_string()
    eku = cert.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE)
    assert eku is not None  # an authentication-profile certificate


def test_renewed_and_previous_are_the_same_holder() -> None:
    old, new = other_names("renewed-previous"), other_names("renewed")
    for oid in (NAME_OTHER_NAME, BIRTH_OTHER_NAME, ADDRESS_OTHER_NAME):
        assert old[oid] == new[oid]
    assert load_persona("renewed").token_serial != load_persona("renewed-previous").token_serial


@pytest.mark.parametrize(
    ("persona", "encoded"),
    [
        ("era-meiji", "119120729"),  # last day of 明治
        ("era-taisho", "219120730"),  # first day of 大正
        ("era-showa", "319890107"),  # last day of 昭和
        ("era-heisei", "419890108"),  # first day of 平成
    ],
)
def test_era_personas_carry_the_era_digit(persona: str, encoded: str) -> None:
    assert utf8(other_names(persona)[BIRTH_OTHER_NAME]) == encoded


def test_era_reiwa_is_an_under_15_card() -> None:
    document = read_persona_document(PERSONAS / "era-reiwa.toml")
    assert document.holder is not None
    assert encode_birth_date(document.holder.birth_date) == "520190501"
    assert document.auth.issuance is not None
    age = document.auth.issuance.issued_at.year - document.holder.birth_date.year
    assert age < 15
    persona = load_persona("era-reiwa")
    assert persona.sign.certificate is None and persona.sign.private_key is None


def test_substitution_flags_have_ones_in_name_and_address() -> None:
    names = other_names("substitution-flags")
    assert "1" in utf8(names[NAME_FLAGS]) and "1" in utf8(names[ADDRESS_FLAGS])
    assert len(utf8(names[NAME_FLAGS])) == len(utf8(names[NAME_OTHER_NAME]))
    assert len(utf8(names[ADDRESS_FLAGS])) == len(utf8(names[ADDRESS_OTHER_NAME]))


def test_long_name_needs_a_long_form_utf8string_length() -> None:
    value = other_names("long-name")[NAME_OTHER_NAME]
    name = utf8(value)
    assert len(name) >= 30 and "\u3000" in name
    assert value[1] == 0x81  # more than 127 bytes: long-form length


def test_overseas_address_has_no_prefecture() -> None:
    address = utf8(other_names("overseas")[ADDRESS_OTHER_NAME])
    assert address.startswith("国外")
    assert not re.search("[都道府県]", address)


def test_catalogue_index_lists_every_persona() -> None:
    text = (PERSONAS / "CATALOGUE.md").read_text(encoding="utf-8")
    index, revocations = text.split("## Revocation data")
    listed = re.findall(r"^\| `([a-z0-9-]+)` \|", index, flags=re.MULTILINE)
    assert sorted(listed) == builtin_personas()
    phrase = "test-policy certificate meant to be refused by production settings"
    assert phrase in " ".join(index.split())
    revoked = re.findall(r"^\| `([a-z0-9-]+)` \| ([a-z, ]+) \| (\w+) \|", revocations, re.MULTILINE)
    table = {
        (persona, slot): x509.ReasonFlags(reason)
        for persona, slots, reason in revoked
        for slot in slots.split(", ")
    }
    assert table == REVOKED


def test_provenance_has_a_line_per_fixture_file() -> None:
    text = (ROOT / "PROVENANCE.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE))
    files = {
        path.relative_to(ROOT).as_posix()
        for path in ROOT.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }
    assert files <= listed, sorted(files - listed)
    assert listed <= files, sorted(listed - files)
