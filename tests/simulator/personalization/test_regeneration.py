"""regenerate()/check(): committed fixtures are reproducible byte for byte; drift is detected."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtensionOID

from simulator.personalization import (
    PersonaError,
    PkiError,
    check,
    fixtures_root,
    load_hierarchies,
    load_persona,
    regenerate,
)
from simulator.personalization.card_info_files import file_names as card_info_file_names
from simulator.personalization.persona import read_persona_document


def committed_certificates() -> list[str]:
    """Every certificate file committed under fixtures/pki (all of them are generated)."""
    root = fixtures_root()
    return sorted(path.relative_to(root).as_posix() for path in root.glob("pki/*/*.der"))


def committed_card_info() -> list[str]:
    """Every committed card-info file (issue 5; all of them are generated)."""
    root = fixtures_root()
    return sorted(path.relative_to(root).as_posix() for path in root.glob("card-info/*/*.bin"))


def expected_outputs() -> list[str]:
    """What regeneration must write: every CA generation, every persona certificate, the
    card-info files of every persona with a [card_info] table."""
    cas = [f"pki/ca/{name}-ca-{number}.der" for name in ("auth", "sign") for number in (1, 2, 3)]
    ee = []
    for path in sorted((fixtures_root() / "personas").glob("*.toml")):
        document = read_persona_document(path)
        ee += [f"pki/ee/{path.stem}-{key}.der" for key, slot in document.slots() if slot.present]
        if document.card_info is not None:
            ee += [f"card-info/{path.stem}/{name}" for name in card_info_file_names()]
    return sorted(cas + ee)


GENERATED = expected_outputs()


def full_width(text: str) -> str:
    """ASCII characters as their full-width forms (U+FF01-U+FF5E), as on the card."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "fixtures"
    shutil.copytree(fixtures_root(), root)
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_committed_fixtures_are_up_to_date() -> None:
    assert check(fixtures_root()) == []


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    lines: list[str] = []
    written = regenerate(fixtures_root(), tmp_path, progress=lines.append)
    relative = sorted(path.relative_to(tmp_path).as_posix() for path in written)
    assert relative == GENERATED == sorted(committed_certificates() + committed_card_info())
    # 3 generations x 2 hierarchies; 24 personas, 2 without sign; 23 card-info files for each
    # of the 9 personas with a [card_info] table
    assert len(GENERATED) == 6 + 46 + 23 * 9
    assert sorted(lines) == [f"wrote {name}" for name in GENERATED]
    for name in GENERATED:
        assert (tmp_path / name).read_bytes() == (fixtures_root() / name).read_bytes(), name
    assert not (tmp_path / "pki" / "keys").exists()  # keys are inputs, never rewritten


def test_regenerate_defaults_to_writing_in_place(tree: Path) -> None:
    (tree / "pki" / "ee" / "default-auth.der").unlink()
    written = regenerate(tree)
    assert (tree / "pki" / "ee" / "default-auth.der") in written
    assert check(tree) == []


def test_tampered_certificate_is_detected(tree: Path) -> None:
    path = tree / "pki" / "ee" / "default-sign.der"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    assert check(tree) == ["pki/ee/default-sign.der"]


def test_missing_certificate_is_detected(tree: Path) -> None:
    (tree / "pki" / "ca" / "auth-ca-1.der").unlink()
    assert check(tree) == ["pki/ca/auth-ca-1.der"]


def test_changed_holder_data_stales_only_what_carries_it(tree: Path) -> None:
    """A new address: the signature certificate (SAN), the basic 4 info, its integrity
    record and the card face (address image) change; the rest stays."""
    edit(tree / "personas" / "default.toml", full_width("2-1-2"), full_width("2-1-3"))
    assert check(tree) == [
        "card-info/default/surface-0002.bin",
        "card-info/default/text-0002.bin",
        "card-info/default/text-0003.bin",
        "pki/ee/default-sign.der",
    ]


def issued_by(hierarchy: str, generation: int) -> list[str]:
    """The committed end-entity files the persona files say this CA generation issues."""
    names = []
    for path in sorted((fixtures_root() / "personas").glob("*.toml")):
        for key, slot in read_persona_document(path).slots():
            issuance = slot.issuance
            if issuance is not None and (issuance.hierarchy, issuance.generation) == (
                hierarchy,
                generation,
            ):
                names.append(f"pki/ee/{path.stem}-{key}.der")
    return names


@pytest.mark.parametrize(
    ("old", "new", "hierarchy", "generation"),
    [
        ("serial = 0x2A23D006", "serial = 0x2A23D007", "auth", 3),
        ("serial = 0x2B19C4AB", "serial = 0x2B19C4AC", "sign", 2),
        ("not_before = 2015-10-20T03:08:13Z", "not_before = 2015-10-21T03:08:13Z", "auth", 1),
    ],
)
def test_changed_ca_definition_stales_the_ca_and_its_end_entities(
    tree: Path, old: str, new: str, hierarchy: str, generation: int
) -> None:
    edit(tree / "pki" / "hierarchies.toml", old, new)
    stale = check(tree)
    expected = [f"pki/ca/{hierarchy}-ca-{generation}.der", *issued_by(hierarchy, generation)]
    assert stale == sorted(expected)
    if (hierarchy, generation) == ("auth", 3):  # the cross-hierarchy auth cert is the sign CA's
        assert "pki/ee/default-auth.der" in stale
        assert "pki/ee/other-hierarchy-auth.der" not in stale
    if (hierarchy, generation) == ("sign", 2):
        assert "pki/ee/middle-generation-sign.der" in stale


def test_missing_key_is_an_error_unless_new_keys_are_allowed(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tree / "pki" / "keys" / "default-auth.pem"
    key.unlink()
    with pytest.raises(PkiError, match=r"pki/keys/default-auth\.pem is missing.*allow_new_keys"):
        regenerate(tree)
    assert not key.exists()
    written = regenerate(tree, allow_new_keys=True)
    assert "created new key pki/keys/default-auth.pem" in capsys.readouterr().err
    assert key in written
    pem = key.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert pem.endswith(b"-----END PRIVATE KEY-----\n")
    assert check(tree) == []
    persona = load_persona(tree / "personas" / "default.toml")  # the new key matches the cert
    assert persona.auth.private_key is not None


def test_an_inconsistent_private_key_is_refused(tree: Path) -> None:
    """The generator runs the full RSA consistency check (the card's loader skips it)."""
    path = tree / "pki" / "keys" / "default-sign.pem"
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    numbers = key.private_numbers()
    broken = rsa.RSAPrivateNumbers(
        numbers.p,
        numbers.q,
        numbers.d,
        numbers.dmp1 ^ 2,  # wrong CRT exponent, same public key
        numbers.dmq1,
        numbers.iqmp,
        numbers.public_numbers,
    ).private_key(unsafe_skip_rsa_key_validation=True)
    path.write_bytes(
        broken.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for _ in range(2):  # also when the good key of the same path was loaded before
        with pytest.raises(PkiError, match=r"cannot load private key .*default-sign\.pem"):
            regenerate(tree)


def test_a_fourth_generation_shares_the_dn_and_differs_by_key_identifier(tree: Path) -> None:
    definitions = tree / "pki" / "hierarchies.toml"
    text = definitions.read_text(encoding="utf-8")
    generation_4 = (
        "\n[[hierarchies.auth.generations]]\ngeneration = 4\nserial = 0x2A27B001\n"
        "not_before = 2027-06-01T00:00:00Z\nnot_after = 2037-05-31T14:59:59Z\n"
        'private_key = "keys/auth-ca-4.pem"\ncertificate = "ca/auth-ca-4.der"\n'
    )
    marker = "\n[hierarchies.sign]\n"
    definitions.write_text(text.replace(marker, generation_4 + marker), encoding="utf-8")
    persona = tree / "personas" / "not-yet-valid.toml"  # issued 2027-01-15: move it to 2027-07
    edit(persona, '"../pki/ca/auth-ca-3.der"', '"../pki/ca/auth-ca-4.der"')
    edit(persona, 'hierarchy = "auth"\ngeneration = 3', 'hierarchy = "auth"\ngeneration = 4')
    edit(persona, "issued_at = 2027-01-15T00:30:00Z", "issued_at = 2027-07-15T00:30:00Z")
    lines: list[str] = []
    regenerate(tree, allow_new_keys=True, progress=lines.append)
    assert "created new key pki/keys/auth-ca-4.pem" in lines
    assert len(load_hierarchies(definitions)["auth"].generations) == 4

    def load(name: str) -> x509.Certificate:
        return x509.load_der_x509_certificate((tree / "pki" / name).read_bytes())

    roots = [load(f"ca/auth-ca-{generation}.der") for generation in (1, 2, 3, 4)]
    end_entity = load("ee/not-yet-valid-auth.der")
    assert len({root.subject.public_bytes() for root in roots}) == 1
    ski = [c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value for c in roots]
    assert len({s.digest for s in ski}) == 4
    aki = end_entity.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    assert isinstance(aki, x509.AuthorityKeyIdentifier)
    assert aki.key_identifier == ski[3].digest
    assert aki.authority_cert_serial_number == 0x2A27B001
    end_entity.verify_directly_issued_by(roots[3])
    for other in roots[:3]:  # same DN, other key: the signature must not verify
        with pytest.raises(InvalidSignature):
            end_entity.verify_directly_issued_by(other)
    # the rest of the tree did not move: only the new CA and the re-issued certificate differ
    changed = set()
    for path in (tree / "pki").glob("*/*.der"):
        relative = path.relative_to(tree)
        committed = fixtures_root() / relative
        if not committed.is_file() or committed.read_bytes() != path.read_bytes():
            changed.add(relative.as_posix())
    assert changed == {"pki/ca/auth-ca-4.der", "pki/ee/not-yet-valid-auth.der"}


# ----------------------------------------------------------------- definition mistakes

PERSONA_MISTAKES = [
    (
        "unknown-generation",
        "generation = 3\nissued_at",
        "generation = 7\nissued_at",
        "no CA generation 7",
    ),
    ("wrong-purpose", 'hierarchy = "auth"', 'hierarchy = "sign"', "auth.issuance.hierarchy"),
    (
        "other-ca-file",
        '"../pki/ca/auth-ca-3.der"',
        '"../pki/ca/sign-ca-3.der"',
        "auth.ca_certificate",
    ),
    (
        "other-generation-file",
        '"../pki/ca/auth-ca-3.der"',
        '"../pki/ca/auth-ca-2.der"',
        "auth.ca_certificate: is not the issuing CA's file",
    ),
    (
        "before-ca",
        "issued_at = 2024-08-26T01:23:45Z ",
        "issued_at = 2022-08-26T01:23:45Z ",
        "auth.issuance.issued_at: outside",
    ),
    (
        "same-output",
        '"../pki/ee/default-sign.der"',
        '"../pki/ee/default-auth.der"',
        "also written by",
    ),
    (
        "outside-root",
        '"../pki/keys/default-auth.pem"',
        '"../../outside.pem"',
        "outside the fixtures root",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [pytest.param(old, new, message, id=case) for case, old, new, message in PERSONA_MISTAKES],
)
def test_persona_issuance_mistakes(tree: Path, old: str, new: str, message: str) -> None:
    edit(tree / "personas" / "default.toml", old, new)
    with pytest.raises((PersonaError, PkiError), match=re.escape(message)):
        regenerate(tree)


def test_end_entity_validity_beyond_utc_time(tree: Path) -> None:
    definitions = tree / "pki" / "hierarchies.toml"
    edit(definitions, "not_after = 2033-07-15T14:59:59Z", "not_after = 2049-04-02T14:59:59Z")
    persona = tree / "personas" / "default.toml"
    edit(persona, "issued_at = 2024-08-26T01:23:45Z ", "issued_at = 2046-08-26T01:23:45Z ")
    message = "auth.issuance: 2051-08-20T14:59:59+00:00 cannot be encoded as UTCTime"
    with pytest.raises(PersonaError, match=re.escape(message)):
        regenerate(tree)


def test_the_same_serial_under_different_cas_is_allowed(tree: Path) -> None:
    edit(tree / "personas" / "default.toml", "serial = 0x3C5E7A02", "serial = 0x3C5E7A01")
    assert len(regenerate(tree)) == len(GENERATED)


def test_serial_reused_by_the_same_ca(tree: Path) -> None:
    personas = tree / "personas"
    second = personas / "second.toml"
    shutil.copyfile(personas / "default.toml", second)
    edit(second, 'name = "default"', 'name = "second"')
    edit(second, '"../pki/ee/default-auth.der"', '"../pki/ee/second-auth.der"')
    edit(second, '"../pki/ee/default-sign.der"', '"../pki/ee/second-sign.der"')
    with pytest.raises(PersonaError, match=r"auth\.issuance\.serial: already used"):
        regenerate(tree)


HIERARCHY_MISTAKES = [
    ("schema", 'schema = "mynasim-pki/1"', 'schema = "mynasim-pki/0"', "schema: must be"),
    ("purpose", 'purpose = "auth"', 'purpose = "login"', "hierarchies.auth.purpose"),
    ("policy", 'policy_oid = "1.2.392.200149.8.5.1.0.30"', 'policy_oid = "JPKI"', "policy_oid"),
    (
        "serial",
        "serial = 0x2B23A621",
        "serial = 0",
        "hierarchies.sign.generations[2].serial",
    ),
    (
        "validity",
        "not_before = 2015-10-20T03:08:13Z",
        "not_before = 2035-10-20T03:08:13Z",
        "hierarchies.auth.generations[0]: not_before must be earlier",
    ),
    (
        "same-file",
        'certificate = "ca/sign-ca-1.der"',
        'certificate = "ca/auth-ca-1.der"',
        "same certificate file",
    ),
    ("unknown", "[hierarchies.auth.alt_name]", "[hierarchies.auth.altname]", "altname"),
    (
        "missing",
        'certificate = "ca/auth-ca-1.der"',
        "",
        "hierarchies.auth.generations[0].certificate: required",
    ),
    (
        "utc-time",
        "not_after = 2033-07-15T14:59:59Z",
        "not_after = 2050-04-02T14:59:59Z",
        "hierarchies.auth.generations[2].not_after: must lie in 1950-2049",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [pytest.param(old, new, message, id=case) for case, old, new, message in HIERARCHY_MISTAKES],
)
def test_hierarchy_mistakes(tree: Path, old: str, new: str, message: str) -> None:
    edit(tree / "pki" / "hierarchies.toml", old, new)
    with pytest.raises(PkiError, match=re.escape(message)):
        regenerate(tree)


def test_hierarchy_file_syntax_error(tree: Path) -> None:
    (tree / "pki" / "hierarchies.toml").write_text("schema = ", encoding="utf-8")
    with pytest.raises(PkiError, match="not valid TOML"):
        regenerate(tree)


def test_duplicate_generation_numbers(tree: Path) -> None:
    definitions = tree / "pki" / "hierarchies.toml"
    text = definitions.read_text(encoding="utf-8")
    start = text.index("[[hierarchies.sign.generations]]")
    block = text[start:].replace("sign-ca-1", "sign-ca-1b")
    definitions.write_text(text + "\n" + block, encoding="utf-8")
    with pytest.raises(PkiError, match="each generation number once"):
        regenerate(tree)
