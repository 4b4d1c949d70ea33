"""build_from_description(): a short description file -> a persona that loads and serves a card.

The description format and the choices are documented in simulator/personalization/describe.py.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from card_helpers import read_ef, select_ef, select_jpki, tx, verify
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from simulator import VirtualCard
from simulator.personalization import (
    fixtures_root,
    issued_certificates,
    load_authorities,
    load_hierarchies,
    load_persona,
    regenerate,
)
from simulator.personalization.describe import (
    DescriptionError,
    build_from_description,
    token_serial,
)
from simulator.personalization.persona import Persona
from simulator.personalization.pki import (
    OID_ADDRESS,
    OID_BIRTH_DATE,
    OID_NAME,
    OID_SEX,
    TEST_AUTH_POLICY_OID,
    TEST_SIGN_POLICY_OID,
)

DATA = Path(__file__).resolve().parent / "describe_data"
UTC = dt.UTC


def full_width(text: str) -> str:
    """ASCII characters as their full-width forms (U+FF01-U+FF5E), as on the card."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


ADDRESS = "東京都港区芝公園" + full_width("4-2-8")

# A description as sections of raw TOML values; "" is the top level. Tests override entries.
MINIMAL: dict[str, dict[str, str]] = {
    "": {"name": '"tanaka-ichiro"'},
    "holder": {
        "name": '"田中　一郎"',
        "address": f'"{ADDRESS}"',
        "birth_date": "1970-01-02",
        "sex": '"male"',
    },
}
Overrides = Mapping[str, str | None]  # "section.key" (or "key") -> raw TOML value, None: drop


def render(overrides: Overrides = {}) -> str:  # noqa: B006 - never mutated
    sections = {section: dict(values) for section, values in MINIMAL.items()}
    for dotted, value in overrides.items():
        section, _, key = dotted.rpartition(".")
        table = sections.setdefault(section, {})
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    lines = [f"{key} = {value}" for key, value in sections.pop("").items()]
    for section, values in sections.items():
        lines += ["", f"[{section}]", *(f"{key} = {value}" for key, value in values.items())]
    return "\n".join(lines) + "\n"


def describe(directory: Path, overrides: Overrides = {}, file: str = "tanaka.toml") -> Path:  # noqa: B006
    path = directory / file
    path.write_text(render(overrides), encoding="utf-8")
    return path


def toml(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def table(document: Mapping[str, object], dotted: str) -> Mapping[str, object]:
    value: object = document
    for key in dotted.split("."):
        assert isinstance(value, Mapping), dotted
        value = value[key]
    assert isinstance(value, Mapping), dotted
    return value


def cert(der: bytes | None) -> x509.Certificate:
    assert der is not None
    return x509.load_der_x509_certificate(der)


def der_of_ef(content: bytes) -> bytes:
    """The DER certificate at the start of a certificate EF (the rest is FF filler)."""
    assert content[:2] == b"\x30\x82"
    return content[: int.from_bytes(content[2:4], "big") + 4]


def builtin_ca(purpose: str, generation: int) -> x509.Certificate:
    hierarchies = load_hierarchies(fixtures_root() / "pki" / "hierarchies.toml")
    path = hierarchies[purpose].generation(generation).certificate
    return x509.load_der_x509_certificate(path.read_bytes())


def files_under(tree: Path) -> dict[str, bytes]:
    return {
        path.relative_to(tree).as_posix(): path.read_bytes()
        for path in sorted(tree.rglob("*"))
        if path.is_file()
    }


@dataclass(frozen=True)
class Built:
    description: Path
    out: Path
    persona_file: Path
    persona: Persona
    progress: list[str]


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> Built:
    directory = tmp_path_factory.mktemp("minimal")
    description = describe(directory)
    lines: list[str] = []
    path = build_from_description(description, directory / "out", progress=lines.append)
    return Built(description, directory / "out", path, load_persona(path), lines)


# ------------------------------------------------------------------- a minimal description


def test_minimal_description_builds_a_persona_in_fixtures_layout(minimal: Built) -> None:
    assert minimal.persona_file == minimal.out / "personas" / "tanaka-ichiro.toml"
    persona = minimal.persona
    assert persona.name == "tanaka-ichiro"
    assert persona.token_label == "JPKIAPICCTOKEN2"  # noqa: S105 - a label, not a secret
    assert persona.token_serial == token_serial("tanaka-ichiro")
    assert len(persona.token_serial) == 16 and persona.token_serial.isdigit()
    assert (persona.auth_pin.value, persona.auth_pin.max_tries, persona.auth_pin.remaining) == (
        b"1234",
        3,
        3,
    )
    assert (persona.sign_pin.value, persona.sign_pin.max_tries, persona.sign_pin.remaining) == (
        b"ABC123",
        5,
        5,
    )
    assert persona.auth.certificate is not None and persona.sign.certificate is not None
    files = files_under(minimal.out)
    assert "pki/hierarchies.toml" in files
    assert files["pki/hierarchies.toml"] == (fixtures_root() / "pki/hierarchies.toml").read_bytes()
    for name in ("keys/tanaka-ichiro-auth.pem", "keys/tanaka-ichiro-sign.pem"):
        assert files[f"pki/{name}"].startswith(b"-----BEGIN PRIVATE KEY-----")
    assert "pki/ee/tanaka-ichiro-auth.der" in files and "pki/ee/tanaka-ichiro-sign.der" in files


def test_holder_defaults_and_location_derived_from_the_address(minimal: Built) -> None:
    holder = table(toml(minimal.persona_file), "holder")
    assert holder["sex"] == "1"
    assert holder["name_substitution"] == "00000"
    assert holder["address_substitution"] == "0" * len(ADDRESS)
    assert (holder["prefecture_romaji"], holder["city_romaji"], holder["municipality_code"]) == (
        "Tokyo-to",
        "Minato-ku",
        "13103",
    )
    assert any("derived from the address (東京都港区)" in line for line in minimal.progress)


def test_key_generation_is_announced_before_it_runs(minimal: Built) -> None:
    announce = [i for i, line in enumerate(minimal.progress) if line.startswith("generating")]
    created = [i for i, line in enumerate(minimal.progress) if line.startswith("created new key")]
    assert len(announce) == 1 and len(created) == 2
    assert "RSA-2048" in minimal.progress[announce[0]]
    assert announce[0] < min(created)
    assert minimal.progress[-1] == f"persona ready: {minimal.persona_file}"


def test_the_card_serves_the_auth_certificate(minimal: Built) -> None:
    card = VirtualCard.from_persona(minimal.persona_file)
    card.power_on()
    select_jpki(card)
    served = der_of_ef(read_ef(card, 0x000A))  # free on the plastic card
    assert served == minimal.persona.auth.certificate
    assert served == (minimal.out / "pki/ee/tanaka-ichiro-auth.der").read_bytes()
    assert der_of_ef(read_ef(card, 0x000B)) == minimal.persona.auth.ca_certificate


def _other_name(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    (value,) = [
        name.value for name in san if isinstance(name, x509.OtherName) and name.type_id == oid
    ]
    assert value[0] == 0x0C and value[1] < 0x80  # short UTF8String
    return bytes(value[2:]).decode("utf-8")


def test_certificates_carry_the_holder_and_chain_to_the_builtin_ca(minimal: Built) -> None:
    document = toml(minimal.persona_file)
    sign = cert(minimal.persona.sign.certificate)
    assert _other_name(sign, OID_NAME) == "田中　一郎"
    assert _other_name(sign, OID_ADDRESS) == ADDRESS
    assert _other_name(sign, OID_BIRTH_DATE) == "319700102"  # 昭和
    assert _other_name(sign, OID_SEX) == "1"
    localities = [a.value for a in sign.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)]
    assert localities == ["Tokyo-to", "Minato-ku"]
    auth = cert(minimal.persona.auth.certificate)
    (common_name,) = auth.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert isinstance(common_name.value, str) and common_name.value.endswith("13103003A")
    assert auth.not_valid_before_utc == dt.datetime(2025, 4, 1, tzinfo=UTC)  # the default
    for purpose, certificate, spec in (
        ("auth", auth, minimal.persona.auth),
        ("sign", sign, minimal.persona.sign),
    ):
        generation = table(document, f"{purpose}.issuance")["generation"]
        assert isinstance(generation, int)
        ca = builtin_ca(purpose, generation)
        certificate.verify_directly_issued_by(ca)
        assert spec.ca_certificate == ca.public_bytes(serialization.Encoding.DER)


def test_default_generation_is_the_newest_valid_one(minimal: Built) -> None:
    """Independent of how many generations the built-in PKI has (1 before, 3 after issue 4)."""
    document = toml(minimal.persona_file)
    hierarchies = load_hierarchies(fixtures_root() / "pki" / "hierarchies.toml")
    issued = dt.datetime(2025, 4, 1, tzinfo=UTC)
    for purpose in ("auth", "sign"):
        end = cert(getattr(minimal.persona, purpose).certificate).not_valid_after_utc
        valid = [
            ca.generation
            for ca in hierarchies[purpose].generations
            if ca.not_before <= issued < ca.not_after and end <= ca.not_after
        ]
        assert table(document, f"{purpose}.issuance")["generation"] == max(valid)


def test_serials_names_and_token_serial_are_derived_from_the_name(tmp_path: Path) -> None:
    first = build_from_description(describe(tmp_path), tmp_path / "a")
    second = build_from_description(describe(tmp_path), tmp_path / "b")
    assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8")
    renamed = build_from_description(
        describe(tmp_path, {"name": '"suzuki-jiro"'}, "suzuki.toml"), tmp_path / "a"
    )
    one, other = toml(first), toml(renamed)
    assert table(one, "card")["token_serial"] != table(other, "card")["token_serial"]
    for key in ("serial", "common_name"):
        for purpose in ("auth", "sign"):
            assert (
                table(one, f"{purpose}.issuance")[key] != table(other, f"{purpose}.issuance")[key]
            )
    # both personas live in one folder and are regenerated together
    assert sorted(p.name for p in (tmp_path / "a" / "personas").iterdir()) == [
        "suzuki-jiro.toml",
        "tanaka-ichiro.toml",
    ]
    assert len(issued_certificates(tmp_path / "a")) == 4


# --------------------------------------------------------------------- variants of the card


def test_under_15_gets_no_signature_certificate(tmp_path: Path) -> None:
    description = describe(tmp_path, {"holder.birth_date": "2015-06-01"})  # 9 at issuance
    persona = load_persona(build_from_description(description, tmp_path / "out"))
    assert persona.sign.certificate is None and persona.sign.private_key is None
    assert persona.auth.certificate is not None
    assert persona.sign.ca_certificate  # EF 0002 still holds the signature CA
    assert not (tmp_path / "out/pki/keys/tanaka-ichiro-sign.pem").exists()
    card = VirtualCard.from_persona(tmp_path / "out/personas/tanaka-ichiro.toml")
    card.power_on()
    select_jpki(card)
    assert select_ef(card, 0x0001) != 0x9000  # no signature certificate EF


def test_sign_absent_for_an_adult(tmp_path: Path) -> None:
    description = describe(tmp_path, {"certificates.sign": '"absent"'})
    persona = load_persona(build_from_description(description, tmp_path / "out"))
    assert persona.sign.certificate is None and persona.auth.certificate is not None


@pytest.mark.parametrize(
    ("token", "label"), [("android", "JPKIAPGPSETOKEN"), ("ios", "JPKIAPIOSTOKEN")]
)
def test_phone_token(tmp_path: Path, token: str, label: str) -> None:
    description = describe(tmp_path, {"certificates.token": f'"{token}"'})
    path = build_from_description(description, tmp_path / "out")
    assert load_persona(path).token_label == label
    card = VirtualCard.from_persona(path)
    card.power_on()
    select_jpki(card)
    assert select_ef(card, 0x000A) == 0x9000
    assert tx(card, "00B0000004") == (b"", 0x6982)  # a phone token wants the auth PIN first
    assert verify(card, 0x0018, b"1234") == 0x9000
    assert der_of_ef(read_ef(card, 0x000A)) == card.persona.auth.certificate


def test_pins_and_counters(tmp_path: Path) -> None:
    overrides = {
        "pins.auth": '"8642"',
        "pins.sign": '"PASS2024XY"',
        "pins.auth_remaining": "1",
        "pins.sign_remaining": "0",
    }
    persona = load_persona(build_from_description(describe(tmp_path, overrides), tmp_path / "o"))
    assert (persona.auth_pin.value, persona.auth_pin.remaining) == (b"8642", 1)
    assert (persona.sign_pin.value, persona.sign_pin.remaining) == (b"PASS2024XY", 0)


def test_revoked_status_is_written_into_the_persona(tmp_path: Path) -> None:
    overrides = {
        "certificates.auth": '"revoked:keyCompromise@2025-06-01T09:00:00+09:00"',
        "certificates.sign": '"revoked:affiliationChanged"',
    }
    path = build_from_description(describe(tmp_path, overrides), tmp_path / "out")
    document = toml(path)
    assert table(document, "auth.revocation") == {
        "reason": "keyCompromise",
        "revoked_at": dt.datetime(2025, 6, 1, tzinfo=UTC),
    }
    assert table(document, "sign.revocation") == {  # no time: one day after issuance
        "reason": "affiliationChanged",
        "revoked_at": dt.datetime(2025, 4, 2, tzinfo=UTC),
    }
    persona = load_persona(path)
    assert persona.auth.revocation is not None and persona.sign.revocation is not None
    assert persona.auth.revocation.reason == x509.ReasonFlags.key_compromise
    assert persona.sign.revocation.reason == x509.ReasonFlags.affiliation_changed
    revoked = {item.slot: item.revocation for item in issued_certificates(tmp_path / "out")}
    assert revoked == {"auth": persona.auth.revocation, "sign": persona.sign.revocation}


def test_renewal_and_production_policy_are_passed_on(tmp_path: Path) -> None:
    overrides = {"certificates.renewal": "true", "certificates.policy": '"production"'}
    path = build_from_description(describe(tmp_path, overrides), tmp_path / "out")
    for purpose in ("auth", "sign"):
        issuance = table(toml(path), f"{purpose}.issuance")
        assert (issuance["renewal"], issuance["policy"]) == (True, "production")
    # 6th birthday after 2025-04-01 (birthday 01-02): 2031-01-02 23:59:59 JST
    auth = cert(load_persona(path).auth.certificate)
    assert auth.not_valid_after_utc == dt.datetime(2031, 1, 2, 14, 59, 59, tzinfo=UTC)


def test_not_yet_valid_certificates_are_allowed(tmp_path: Path) -> None:
    issued = "2027-06-01T00:00:00Z"
    path = build_from_description(
        describe(tmp_path, {"certificates.issued_at": issued}), tmp_path / "out"
    )
    assert cert(load_persona(path).auth.certificate).not_valid_before_utc == dt.datetime(
        2027, 6, 1, tzinfo=UTC
    )


# --------------------------------------------------------- generation choice (own built-in)

PKI_TWO_GENERATIONS = """schema = "mynasim-pki/1"
{hierarchies}"""
HIERARCHY = """
[hierarchies.{purpose}]
purpose = "{purpose}"
organization = "JPKI-TEST"
organizational_unit = "JPKI for {unit}"
agency = "Japan Agency for Local Authority Information Systems"
policy_oid = "{policy}"

[hierarchies.{purpose}.alt_name]
organization = "試験"
organizational_unit = "試験用"
agency = "機構"

[[hierarchies.{purpose}.generations]]
generation = 1
serial = 0x{serial}1
not_before = 2015-10-20T00:00:00Z
not_after = 2025-10-19T14:59:59Z
private_key = "keys/{purpose}-1.pem"
certificate = "ca/{purpose}-1.der"

[[hierarchies.{purpose}.generations]]
generation = 2
serial = 0x{serial}2
not_before = 2019-09-14T00:00:00Z
not_after = 2029-09-14T14:59:59Z
private_key = "keys/{purpose}-2.pem"
certificate = "ca/{purpose}-2.der"
"""


@pytest.fixture(scope="module")
def two_generations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built-in tree whose hierarchies have generation 1 (2015-2025) and 2 (2019-2029)."""
    root = tmp_path_factory.mktemp("builtin")
    (root / "pki").mkdir()
    (root / "personas").mkdir()
    hierarchies = "".join(
        HIERARCHY.format(purpose=purpose, unit=unit, policy=policy, serial=serial)
        for purpose, unit, policy, serial in (
            ("auth", "user authentication", TEST_AUTH_POLICY_OID, "2A"),
            ("sign", "digital signature", TEST_SIGN_POLICY_OID, "2B"),
        )
    )
    (root / "pki/hierarchies.toml").write_text(
        PKI_TWO_GENERATIONS.format(hierarchies=hierarchies), encoding="utf-8"
    )
    regenerate(root, allow_new_keys=True, progress=lambda line: None)
    return root


@pytest.mark.parametrize(
    ("issued_at", "generation"),
    [
        ("2017-01-01T00:00:00Z", 1),  # only generation 1 is valid; certificate expired 2021
        ("2021-01-01T00:00:00Z", 2),  # both fit: the newest
        ("2023-01-01T00:00:00Z", 2),  # 1 is valid but ends before the certificate would
    ],
)
def test_generation_is_chosen_by_date(
    tmp_path: Path, two_generations: Path, issued_at: str, generation: int
) -> None:
    overrides = {"holder.birth_date": "1980-06-01", "certificates.issued_at": issued_at}
    path = build_from_description(
        describe(tmp_path, overrides), tmp_path / "out", builtin=two_generations
    )
    document = toml(path)
    for purpose in ("auth", "sign"):
        assert table(document, f"{purpose}.issuance")["generation"] == generation
        ca = x509.load_der_x509_certificate(
            (two_generations / f"pki/ca/{purpose}-{generation}.der").read_bytes()
        )
        cert(getattr(load_persona(path), purpose).certificate).verify_directly_issued_by(ca)


def test_expired_certificate_is_allowed(tmp_path: Path, two_generations: Path) -> None:
    overrides = {
        "holder.birth_date": "1980-06-01",
        "certificates.issued_at": "2017-01-01T00:00:00Z",
    }
    path = build_from_description(
        describe(tmp_path, overrides), tmp_path / "out", builtin=two_generations
    )
    auth = cert(load_persona(path).auth.certificate)
    assert auth.not_valid_after_utc == dt.datetime(2021, 6, 1, 14, 59, 59, tzinfo=UTC)


def test_named_generation_is_used(tmp_path: Path, two_generations: Path) -> None:
    overrides = {
        "holder.birth_date": "1980-06-01",
        "certificates.issued_at": "2021-01-01T00:00:00Z",
        "certificates.generation": "1",
    }
    path = build_from_description(
        describe(tmp_path, overrides), tmp_path / "out", builtin=two_generations
    )
    assert table(toml(path), "auth.issuance")["generation"] == 1


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        (
            {"certificates.issued_at": "2026-01-01T00:00:00Z"},  # 2 ends before 2030-06-01
            "certificates.issued_at",
            "no generation of hierarchy 'auth' can issue the certificates",
        ),
        (
            {"certificates.issued_at": "2031-01-01T00:00:00Z"},
            "certificates.issued_at",
            "not at certificates.issued_at",
        ),
        (
            {"certificates.issued_at": "2023-01-01T00:00:00Z", "certificates.generation": "1"},
            "certificates.generation",
            "generation 1 of hierarchy 'auth' ends 2025-10-19T14:59:59Z",
        ),
    ],
)
def test_generation_that_cannot_issue_is_refused(
    tmp_path: Path, two_generations: Path, overrides: dict[str, str], field: str, rule: str
) -> None:
    description = describe(tmp_path, {"holder.birth_date": "1980-06-01", **overrides})
    with pytest.raises(DescriptionError) as caught:
        build_from_description(description, tmp_path / "out", builtin=two_generations)
    assert str(caught.value).startswith(f"{description}: {field}: ")
    assert rule in str(caught.value)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- vendor CA


@dataclass(frozen=True)
class VendorFiles:
    key_a: Path  # PKCS#8 PEM
    cert_a: Path  # PEM, the "single" CA
    key_b: Path  # traditional (PKCS#1) PEM
    cert_b: Path  # DER, a second CA
    cert_a_not_jpki: Path  # key A, subject CN=...
    cert_a_foreign_ski: Path  # key A, SKI that is not the SHA-1 key hash


def _vendor_certificate(
    key: rsa.RSAPrivateKey,
    subject: x509.Name,
    serial: int,
    ski: x509.SubjectKeyIdentifier | None = None,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(dt.datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(dt.datetime(2034, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            ski or x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def _jpki_dn(unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ACME-TEST"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ACME Test Agency"),
        ]
    )


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> VendorFiles:
    directory = tmp_path_factory.mktemp("vendor")
    key_a = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_b = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files = VendorFiles(
        key_a=directory / "vendor-ca-key.pem",
        cert_a=directory / "vendor-ca.pem",
        key_b=directory / "vendor-sign-key.pem",
        cert_b=directory / "vendor-sign-ca.der",
        cert_a_not_jpki=directory / "not-jpki.pem",
        cert_a_foreign_ski=directory / "foreign-ski.pem",
    )
    files.key_a.write_bytes(
        key_a.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key_b.write_bytes(
        key_b.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    pem = serialization.Encoding.PEM
    files.cert_a.write_bytes(
        _vendor_certificate(key_a, _jpki_dn("ACME auth CA"), 0x1234).public_bytes(pem)
    )
    files.cert_b.write_bytes(
        _vendor_certificate(key_b, _jpki_dn("ACME sign CA"), 0x5678).public_bytes(
            serialization.Encoding.DER
        )
    )
    cn = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ACME Test CA")])
    files.cert_a_not_jpki.write_bytes(_vendor_certificate(key_a, cn, 0x99).public_bytes(pem))
    foreign = x509.SubjectKeyIdentifier(b"\x01" * 20)
    files.cert_a_foreign_ski.write_bytes(
        _vendor_certificate(key_a, _jpki_dn("ACME auth CA"), 0x98, foreign).public_bytes(pem)
    )
    return files


def _load_certificate(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if data.startswith(b"-----"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _check_issued_by(certificate: x509.Certificate, ca: x509.Certificate) -> None:
    certificate.verify_directly_issued_by(ca)
    aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert aki.authority_cert_serial_number == ca.serial_number


def _policy(certificate: x509.Certificate) -> str:
    policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    oid: str = policies[0].policy_identifier.dotted_string
    return oid


def test_vendor_ca_signs_both_certificates(tmp_path: Path, vendor: VendorFiles) -> None:
    shutil.copy(vendor.key_a, tmp_path / "vendor-ca-key.pem")
    shutil.copy(vendor.cert_a, tmp_path / "vendor-ca.pem")
    overrides = {"ca.key": '"vendor-ca-key.pem"', "ca.certificate": '"vendor-ca.pem"'}
    path = build_from_description(describe(tmp_path, overrides), tmp_path / "out")
    persona = load_persona(path)
    vendor_ca = _load_certificate(vendor.cert_a)
    for spec in (persona.auth, persona.sign):
        _check_issued_by(cert(spec.certificate), vendor_ca)
        twin = cert(spec.ca_certificate)  # what the card's CA EF holds
        assert twin.subject == vendor_ca.subject and twin.serial_number == vendor_ca.serial_number
        assert twin.public_key() == vendor_ca.public_key()
    with pytest.raises(ValueError):  # and not by the built-in test CA
        cert(persona.auth.certificate).verify_directly_issued_by(builtin_ca("auth", 1))
    document = toml(path)
    assert table(document, "auth.issuance")["hierarchy"] == "vendor"
    assert table(document, "sign.issuance")["cross_hierarchy"] is True  # one CA, two slots
    # one key is one CA: the revocation services can read the folder
    authorities = load_authorities(tmp_path / "out")
    assert [(a.hierarchy, a.generation) for a in authorities] == [("vendor", 1)]
    assert {item.slot for item in issued_certificates(tmp_path / "out")} == {"auth", "sign"}
    # the vendor key stays where it is
    key = vendor.key_a.read_bytes()
    assert all(content != key for content in files_under(tmp_path / "out").values())


def test_vendor_ca_per_purpose(tmp_path: Path, vendor: VendorFiles) -> None:
    overrides = {
        "ca.auth": f'{{ key = "{vendor.key_a}", certificate = "{vendor.cert_a}" }}',
        "ca.sign": f'{{ key = "{vendor.key_b}", certificate = "{vendor.cert_b}" }}',
    }
    path = build_from_description(describe(tmp_path, overrides), tmp_path / "out")
    persona = load_persona(path)
    auth, sign = cert(persona.auth.certificate), cert(persona.sign.certificate)
    auth_ca, sign_ca = _load_certificate(vendor.cert_a), _load_certificate(vendor.cert_b)
    _check_issued_by(auth, auth_ca)
    _check_issued_by(sign, sign_ca)
    with pytest.raises(ValueError):
        sign.verify_directly_issued_by(auth_ca)
    assert (_policy(auth), _policy(sign)) == (TEST_AUTH_POLICY_OID, TEST_SIGN_POLICY_OID)
    assert "cross_hierarchy" not in path.read_text(encoding="utf-8")
    hierarchies = [a.hierarchy for a in load_authorities(tmp_path / "out")]
    assert hierarchies == ["vendor-auth", "vendor-sign"]


# -------------------------------------------------------------------------- bad descriptions


@dataclass(frozen=True)
class Bad:
    overrides: Callable[[VendorFiles], Overrides]
    field: str
    rule: str
    secret: str | None = None  # must not appear in the message


def _fixed(overrides: Overrides) -> Callable[[VendorFiles], Overrides]:
    return lambda vendor: overrides


def _ca(
    key: Callable[[VendorFiles], Path], certificate: Callable[[VendorFiles], Path]
) -> Callable[[VendorFiles], Overrides]:
    return lambda v: {"ca.key": f'"{key(v)}"', "ca.certificate": f'"{certificate(v)}"'}


BAD: dict[str, Bad] = {
    "bad name": Bad(_fixed({"name": '"Tanaka Ichiro"'}), "name", "must be 1-64 of a-z 0-9"),
    "missing name": Bad(_fixed({"name": None}), "name", "required field is missing"),
    "bad date": Bad(
        _fixed({"holder.birth_date": '"1970-01-02"'}),
        "holder.birth_date",
        "must be a TOML date (YYYY-MM-DD)",
    ),
    "date-time as date": Bad(
        _fixed({"holder.birth_date": "1970-01-02T00:00:00Z"}),
        "holder.birth_date",
        "must be a TOML date (YYYY-MM-DD)",
    ),
    "bad sex": Bad(
        _fixed({"holder.sex": '"m"'}), "holder.sex", "must be one of male, female, 1, 2, 9"
    ),
    "missing address": Bad(
        _fixed({"holder.address": None}), "holder.address", "required field is missing"
    ),
    "bad substitution flags": Bad(
        _fixed({"holder.name_substitution": '"01"'}),
        "holder.name_substitution",
        "one '0' or '1' per character of holder.name",
    ),
    "partial location": Bad(
        _fixed({"holder.city_romaji": '"Minato-ku"'}),
        "holder.prefecture_romaji",
        "give all three or none",
    ),
    "unknown holder field": Bad(
        _fixed({"holder.gender": '"male"'}), "holder.gender", "unknown field (allowed: name, "
    ),
    "bad auth PIN": Bad(
        _fixed({"pins.auth": '"98x7"'}), "pins.auth", "must be a string of 4 digits", "98x7"
    ),
    "auth PIN as a number": Bad(
        _fixed({"pins.auth": "5678"}), "pins.auth", "must be a string of 4 digits", "5678"
    ),
    "lower-case sign PIN": Bad(
        _fixed({"pins.sign": '"zq9wv7k"'}),
        "pins.sign",
        "must be a string of 6-16 of A-Z 0-9",
        "zq9wv7k",
    ),
    "remaining out of range": Bad(
        _fixed({"pins.auth_remaining": "4"}), "pins.auth_remaining", "between 0 and 3"
    ),
    "bad certificate state": Bad(
        _fixed({"certificates.auth": '"expired"'}),
        "certificates.auth",
        "must be valid, absent or revoked[:<reason>][@<date-time>]",
    ),
    "unknown reason": Bad(
        _fixed({"certificates.sign": '"revoked:stolen"'}),
        "certificates.sign",
        "unknown revocation reason 'stolen' (allowed: unspecified, keyCompromise,",
    ),
    "bad revocation time": Bad(
        _fixed({"certificates.sign": '"revoked:superseded@2025-05-01"'}),
        "certificates.sign",
        "revocation time must be an offset date-time",
    ),
    "revoked before issuance": Bad(
        _fixed({"certificates.auth": '"revoked:superseded@2020-01-01T00:00:00Z"'}),
        "certificates.auth",
        "must not be before certificates.issued_at",
    ),
    "revoked after expiry": Bad(
        _fixed({"certificates.auth": '"revoked:superseded@2040-01-01T00:00:00Z"'}),
        "certificates.auth",
        "within the certificate's validity",
    ),
    "unknown generation": Bad(
        _fixed({"certificates.generation": "42"}),
        "certificates.generation",
        "hierarchy 'auth' has no generation 42",
    ),
    "local issue time": Bad(
        _fixed({"certificates.issued_at": "2025-04-01T00:00:00"}),
        "certificates.issued_at",
        "must be an offset date-time",
    ),
    "issued before birth": Bad(
        _fixed({"certificates.issued_at": "1969-12-01T00:00:00Z"}),
        "certificates.issued_at",
        "must be after holder.birth_date",
    ),
    "unknown token": Bad(
        _fixed({"certificates.token": '"watch"'}),
        "certificates.token",
        "must be one of card, android, ios",
    ),
    "unknown policy": Bad(
        _fixed({"certificates.policy": '"prod"'}),
        "certificates.policy",
        "must be one of test, production",
    ),
    "signature certificate for a child": Bad(
        _fixed({"holder.birth_date": "2015-01-01", "certificates.sign": '"valid"'}),
        "certificates.sign",
        "must be absent for a holder under 15",
    ),
    "unknown top-level key": Bad(
        _fixed({"colour": '"blue"'}), "colour", "unknown field (allowed: schema, name,"
    ),
    "unknown certificates key": Bad(
        _fixed({"certificates.expired": "true"}), "certificates.expired", "unknown field"
    ),
    "missing vendor key": Bad(
        _ca(lambda v: v.key_a.parent / "nope.pem", lambda v: v.cert_a), "ca.key", "cannot read"
    ),
    "vendor key not matching cert": Bad(
        _ca(lambda v: v.key_b, lambda v: v.cert_a),
        "ca.key",
        "does not match the public key of ca.certificate",
    ),
    "vendor cert not a certificate": Bad(
        _ca(lambda v: v.key_a, lambda v: v.key_a),
        "ca.certificate",
        "must be a PEM or DER X.509 certificate",
    ),
    "vendor cert not JPKI-shaped": Bad(
        _ca(lambda v: v.key_a, lambda v: v.cert_a_not_jpki),
        "ca.certificate",
        "subject must have the JPKI root shape C=JP, O=…, OU=…, OU=… (found CN=ACME Test CA)",
    ),
    "vendor SKI not the key hash": Bad(
        _ca(lambda v: v.key_a, lambda v: v.cert_a_foreign_ski),
        "ca.certificate",
        "subjectKeyIdentifier must be the RFC 5280 SHA-1 key hash",
    ),
    "vendor key without certificate": Bad(
        lambda v: {"ca.key": f'"{v.key_a}"'}, "ca.certificate", "required together with ca.key"
    ),
    "issued outside the vendor CA": Bad(
        lambda v: {
            **_ca(lambda w: w.key_a, lambda w: w.cert_a)(v),
            "certificates.issued_at": "2023-06-01T00:00:00Z",
        },
        "certificates.issued_at",
        "the CA of ca is valid 2024-01-01T00:00:00Z to 2034-01-01T00:00:00Z",
    ),
    "generation with a vendor CA": Bad(
        lambda v: {
            **_ca(lambda w: w.key_a, lambda w: w.cert_a)(v),
            "certificates.generation": "2",
        },
        "certificates.generation",
        "must be left out or 1 with [ca]",
    ),
    "per-purpose CA with a foreign SKI": Bad(
        lambda v: {
            "ca.auth": f'{{ key = "{v.key_a}", certificate = "{v.cert_a}" }}',
            "ca.sign": f'{{ key = "{v.key_a}", certificate = "{v.cert_a_foreign_ski}" }}',
        },
        "ca.sign.certificate",
        "subjectKeyIdentifier",
    ),
    "bad schema": Bad(
        _fixed({"schema": '"mynasim-description/2"'}),
        "schema",
        "must be 'mynasim-description/1'",
    ),
}


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_bad_field_is_named_with_file_and_rule(
    tmp_path: Path, vendor: VendorFiles, case: Bad
) -> None:
    description = describe(tmp_path, case.overrides(vendor))
    with pytest.raises(DescriptionError) as caught:
        build_from_description(description, tmp_path / "out")
    message = str(caught.value)
    assert message.startswith(f"{description}: {case.field}: "), message
    assert case.rule in message, message
    if case.secret is not None:
        assert case.secret not in message
    assert not (tmp_path / "out").exists()  # nothing written


def test_same_key_with_two_certificates_is_refused(tmp_path: Path, vendor: VendorFiles) -> None:
    other = tmp_path / "same-key-other-dn.pem"
    key = serialization.load_pem_private_key(vendor.key_a.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    other.write_bytes(
        _vendor_certificate(key, _jpki_dn("ACME other CA"), 0x4321).public_bytes(
            serialization.Encoding.PEM
        )
    )
    overrides = {
        "ca.auth": f'{{ key = "{vendor.key_a}", certificate = "{vendor.cert_a}" }}',
        "ca.sign": f'{{ key = "{vendor.key_a}", certificate = "{other}" }}',
    }
    description = describe(tmp_path, overrides)
    with pytest.raises(DescriptionError, match=r": ca\.sign\.key: is the key of ca\.auth"):
        build_from_description(description, tmp_path / "out")


def test_unreadable_description(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x\n', encoding="utf-8")
    with pytest.raises(DescriptionError, match=rf"^{broken}: not valid TOML"):
        build_from_description(broken, tmp_path / "out")
    with pytest.raises(DescriptionError, match=r"missing\.toml: cannot read"):
        build_from_description(tmp_path / "missing.toml", tmp_path / "out")


def test_error_names_the_file_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    describe(tmp_path, {"holder.birth_date": '"1970-01-02"'})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DescriptionError) as caught:
        build_from_description(Path("tanaka.toml"), Path("out"))
    assert str(caught.value) == "tanaka.toml: holder.birth_date: must be a TOML date (YYYY-MM-DD)"


# ----------------------------------------------------------------------- the output folder


def test_a_different_existing_persona_is_not_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = build_from_description(describe(tmp_path), out)
    before = files_under(out)
    changed = describe(tmp_path, {"holder.address": '"東京都渋谷区宇田川町"'})
    with pytest.raises(DescriptionError) as caught:
        build_from_description(changed, out)
    assert str(caught.value).startswith(f"{changed}: name: {first} already exists")
    assert files_under(out) == before  # persona, keys and certificates untouched


def test_the_same_description_rebuilds_in_place(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_from_description(describe(tmp_path), out)
    before = files_under(out)
    lines: list[str] = []
    build_from_description(describe(tmp_path), out, progress=lines.append)
    assert files_under(out) == before  # same keys, byte-identical certificates
    assert not any(line.startswith(("generating", "created new key")) for line in lines)


def test_a_folder_of_another_ca_is_refused(tmp_path: Path, vendor: VendorFiles) -> None:
    out = tmp_path / "out"
    build_from_description(describe(tmp_path), out)
    overrides = {"name": '"vendor-one"', "ca.key": f'"{vendor.key_a}"'}
    overrides["ca.certificate"] = f'"{vendor.cert_a}"'
    description = describe(tmp_path, overrides, "vendor.toml")
    with pytest.raises(DescriptionError) as caught:
        build_from_description(description, out)
    assert str(caught.value).startswith(f"{description}: ca: {out / 'pki/hierarchies.toml'}")
    assert not (out / "personas/vendor-one.toml").exists()


@pytest.fixture
def broken_neighbour(tmp_path: Path) -> Iterator[Path]:
    """An output folder that already holds a persona the generator refuses."""
    out = tmp_path / "out"
    (out / "personas").mkdir(parents=True)
    (out / "personas/aaa-broken.toml").write_text('schema = "mynasim-persona/1"\n', "utf-8")
    yield out


def test_a_failed_build_leaves_the_folder_as_it_was(tmp_path: Path, broken_neighbour: Path) -> None:
    before = files_under(broken_neighbour)
    with pytest.raises(DescriptionError) as caught:
        build_from_description(describe(tmp_path), broken_neighbour)
    assert "building the persona failed" in str(caught.value)
    assert "aaa-broken.toml" in str(caught.value)
    assert files_under(broken_neighbour) == before
    assert sorted(p.name for p in broken_neighbour.iterdir()) == ["personas"]


def test_example_description_in_describe_data(tmp_path: Path) -> None:
    """The documented example (every field) builds."""
    path = build_from_description(DATA / "tanaka.toml", tmp_path / "out")
    persona = load_persona(path)
    assert persona.token_label == "JPKIAPGPSETOKEN"  # noqa: S105 - a label, not a secret
    assert persona.auth.revocation is None and persona.sign.revocation is not None
    assert persona.sign.revocation.reason == x509.ReasonFlags.certificate_hold
    holder = table(toml(path), "holder")
    assert (holder["city_romaji"], holder["municipality_code"]) == ("Kiyose-shi", "13221")
