"""load_persona: the default persona's values, and one clear PersonaError per kind of mistake."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from simulator.personalization import (
    PersonaError,
    PinSpec,
    builtin_personas,
    fixtures_root,
    load_persona,
)
from simulator.personalization import persona as persona_module
from simulator.personalization.card_info_files import file_names as card_info_file_names

SECRETS = ("1234", "ABC123")
DEFAULT_TOML = fixtures_root() / "personas" / "default.toml"


def full_width(text: str) -> str:
    """ASCII characters as their full-width forms (U+FF01-U+FF5E), as on the card."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


# -------------------------------------------------------------------------- the default


def test_default_persona_values() -> None:
    persona = load_persona("default")
    assert persona.name == "default"
    assert persona.description
    assert persona.path == DEFAULT_TOML.resolve()
    assert persona.path.is_absolute()
    assert re.fullmatch(r"[0-9a-f]{64}", persona.checksum)
    assert persona.atr == bytes.fromhex("3BE000FF8131FE4514")
    assert persona.token_label == "JPKIAPICCTOKEN2"  # noqa: S105 - a label, not a secret
    assert len(persona.token_serial) == 16 and persona.token_serial.isascii()
    assert persona.auth_pin == PinSpec(value=b"1234", max_tries=3, remaining=3)
    assert persona.sign_pin == PinSpec(value=b"ABC123", max_tries=5, remaining=5)


def test_default_persona_key_pairs() -> None:
    persona = load_persona("default")
    pki = fixtures_root() / "pki"
    for pair, name in ((persona.auth, "auth"), (persona.sign, "sign")):
        assert pair.certificate == (pki / "ee" / f"default-{name}.der").read_bytes()
        assert pair.ca_certificate == (pki / "ca" / f"{name}-ca-3.der").read_bytes()
        assert pair.private_key is not None
        assert pair.private_key.key_size == 2048
        certificate = x509.load_der_x509_certificate(pair.certificate)
        assert certificate.public_key().public_numbers() == (  # type: ignore[union-attr]
            pair.private_key.public_key().public_numbers()
        )


def test_reprs_never_show_pin_values() -> None:
    persona = load_persona("default")
    assert repr(persona.auth_pin) == "PinSpec(value=<redacted>, max_tries=3, remaining=3)"
    text = repr(persona)
    assert "<redacted>" in text
    assert not any(secret in text for secret in SECRETS)
    assert "KeyPairSpec(certificate=<" in text


def test_builtin_personas() -> None:
    names = builtin_personas()
    assert "default" in names
    assert names == sorted(names)
    serials = [load_persona(name).token_serial for name in names]
    assert len(set(serials)) == len(serials)  # the card identity is unique per persona
    assert all(load_persona(name).name == name for name in names)


def test_fixtures_root_is_the_repository_fixtures_directory() -> None:
    root = fixtures_root()
    assert (root / "personas" / "default.toml").is_file()
    assert (root / "pki" / "hierarchies.toml").is_file()


def test_load_is_deterministic_and_fast() -> None:
    load_persona("default")
    start = time.perf_counter()
    first = load_persona("default")
    elapsed = time.perf_counter() - start
    assert elapsed < 0.05  # the card opens a persona on every construction
    assert load_persona("default").checksum == first.checksum


# ------------------------------------------------------------------------ copies on disk


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A private copy of the fixtures tree (personas and PKI)."""
    root = tmp_path / "fixtures"
    shutil.copytree(fixtures_root(), root)
    return root


def persona_file(tree: Path) -> Path:
    return tree / "personas" / "default.toml"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_load_by_path_resolves_relative_paths_against_the_persona_file(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree / "pki")  # relative paths must not depend on the working directory
    by_str = load_persona(str(persona_file(tree)))
    by_path = load_persona(persona_file(tree))
    assert by_str.path == by_path.path == persona_file(tree).resolve()
    assert by_path.checksum == load_persona("default").checksum  # same bytes everywhere


def test_checksum_covers_the_persona_and_referenced_files(tree: Path) -> None:
    before = load_persona(persona_file(tree)).checksum
    edit(persona_file(tree), 'description = "', 'description = "changed: ')
    after_description = load_persona(persona_file(tree)).checksum
    assert after_description != before
    ca = tree / "pki" / "ca"
    shutil.copyfile(ca / "sign-ca-3.der", ca / "auth-ca-3.der")  # still a valid certificate
    assert load_persona(persona_file(tree)).checksum != after_description


def documented_checksum(files: list[Path | None]) -> str:
    """SHA-256 over 8-byte big-endian length + bytes per file; eight 0xFF for an absent one."""
    digest = hashlib.sha256()
    for path in files:
        if path is None:
            digest.update(b"\xff" * 8)
        else:
            data = path.read_bytes()
            digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def test_checksum_follows_the_documented_order_and_framing(tree: Path) -> None:
    pki = tree / "pki"
    auth = [pki / "ee/default-auth.der", pki / "keys/default-auth.pem", pki / "ca/auth-ca-3.der"]
    sign = [pki / "ee/default-sign.der", pki / "keys/default-sign.pem", pki / "ca/sign-ca-3.der"]
    path = persona_file(tree)
    card_info = [tree / "card-info" / "default" / name for name in card_info_file_names()]
    assert load_persona(path).checksum == documented_checksum([path, *auth, *sign, *card_info])
    make_under_15(path)
    expected = documented_checksum([path, *auth, None, None, sign[2], *card_info])
    assert load_persona(path).checksum == expected


def test_unknown_persona_names_the_builtins() -> None:
    with pytest.raises(PersonaError) as caught:
        load_persona("nobody")
    assert str(caught.value) == (
        "unknown persona 'nobody': not a file and not one of the built-in personas "
        f"({', '.join(builtin_personas())})"
    )


def test_missing_path_is_an_unknown_persona(tmp_path: Path) -> None:
    with pytest.raises(PersonaError, match="unknown persona"):
        load_persona(tmp_path / "absent.toml")


def test_builtin_name_must_match_its_file_name(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = builtin_personas()
    shutil.copyfile(persona_file(tree), tree / "personas" / "other.toml")
    monkeypatch.setattr(persona_module, "fixtures_root", lambda: tree)
    assert builtin_personas() == sorted([*shipped, "other"])
    with pytest.raises(PersonaError, match=r"name: must equal the file name 'other'"):
        load_persona("other")


def make_under_15(path: Path) -> None:
    """Rewrite the [sign] table: no signature certificate (cards of holders under 15)."""
    text = path.read_text(encoding="utf-8")
    sign_table = text[text.index("\n[sign] ") + 1 :]
    under_15 = '[sign]\npresent = false\nca_certificate = "../pki/ca/sign-ca-3.der"\n'
    path.write_text(text.replace(sign_table, under_15), encoding="utf-8")


def test_absent_signature_certificate(tree: Path) -> None:
    make_under_15(persona_file(tree))
    persona = load_persona(persona_file(tree))
    assert persona.sign.certificate is None
    assert persona.sign.private_key is None
    assert persona.sign.ca_certificate == (tree / "pki" / "ca" / "sign-ca-3.der").read_bytes()
    assert persona.auth.certificate is not None


# ----------------------------------------------------------------------------- mistakes


def assert_persona_error(path: Path, field: str) -> str:
    with pytest.raises(PersonaError) as caught:
        load_persona(path)
    message = str(caught.value)
    assert str(path.resolve()) in message, message
    assert field in message, message
    without_path = message.replace(str(path.resolve()), "<file>")
    for secret in (*SECRETS, "12345", "abc123", "ABC12"):
        assert secret not in without_path, message
    return message


TEXT_MISTAKES = [
    # (id, old text, new text, field the message must name)
    ("toml-syntax", 'schema = "mynasim-persona/1"', 'schema = "mynasim-persona/1', "invalid TOML"),
    ("toml-syntax-pin", 'value = "1234"', "value = 1234x", "invalid TOML"),
    ("schema", '"mynasim-persona/1"', '"mynasim-persona/2"', "schema"),
    ("name", 'name = "default"', 'name = "Default Card"', "name"),
    ("unknown-top-level", 'name = "default"', 'name = "default"\ncolour = "red"', "colour"),
    ("unknown-card-field", "[card]\n", '[card]\nvendor = "x"\n', "card.vendor"),
    ("missing-field", 'token_label = "JPKIAPICCTOKEN2"', "", "card.token_label"),
    ("atr-hex", '"3B E0 00 FF 81 31 FE 45 14"', '"3B E0 00 FF 81 31 FE 45 1"', "card.atr"),
    ("atr-ts", '"3B E0 00 FF 81 31 FE 45 14"', '"00 E0 00 FF"', "card.atr"),
    ("atr-type", '"3B E0 00 FF 81 31 FE 45 14"', "0x3B", "card.atr"),
    ("label-long", '"JPKIAPICCTOKEN2"', '"' + "L" * 33 + '"', "card.token_label"),
    (
        "label-non-ascii",
        '"JPKIAPICCTOKEN2"',
        '"JPKIAPICCTOKEN' + full_width("2") + '"',
        "card.token_label",
    ),
    ("serial-short", '"0000000099000001"', '"000000009900001"', "card.token_serial"),
    (
        "serial-non-ascii",
        '"0000000099000001"',
        '"000000009900000' + full_width("1") + '"',
        "card.token_serial",
    ),
    ("auth-pin-long", 'value = "1234"', 'value = "12345"', "pins.auth.value"),
    ("auth-pin-short", 'value = "1234"', 'value = "123"', "pins.auth.value"),
    ("auth-pin-letter", 'value = "1234"', 'value = "12A4"', "pins.auth.value"),
    ("auth-pin-full-width", 'value = "1234"', f'value = "{full_width("1234")}"', "pins.auth.value"),
    ("auth-pin-integer", 'value = "1234"', "value = 1234", "pins.auth.value"),
    ("sign-pin-lower", 'value = "ABC123"', 'value = "abc123"', "pins.sign.value"),
    ("sign-pin-short", 'value = "ABC123"', 'value = "ABC12"', "pins.sign.value"),
    ("sign-pin-long", 'value = "ABC123"', 'value = "ABC123ABC123ABC12"', "pins.sign.value"),
    ("sign-pin-symbol", 'value = "ABC123"', 'value = "ABC-123"', "pins.sign.value"),
    ("tries-type", "max_tries = 3", 'max_tries = "3"', "pins.auth.max_tries"),
    ("tries-zero", "max_tries = 3", "max_tries = 0", "pins.auth.max_tries"),
    ("tries-too-many", "max_tries = 5", "max_tries = 16", "pins.sign.max_tries"),
    ("remaining-above-max", "remaining = 3", "remaining = 4", "pins.auth.remaining"),
    ("remaining-negative", "remaining = 5", "remaining = -1", "pins.sign.remaining"),
    ("present-type", "present = true", 'present = "yes"', "auth.present"),
    (
        "holder-flags",
        'name_substitution = "00000"',
        'name_substitution = "0000"',
        "holder.name_substitution",
    ),
    ("holder-sex", 'sex = "2"', 'sex = "F"', "holder.sex"),
    (
        "holder-birth-type",
        "birth_date = 1985-08-20",
        'birth_date = "1985-08-20"',
        "holder.birth_date",
    ),
    (
        "holder-code",
        'municipality_code = "13101"',
        'municipality_code = "1310"',
        "holder.municipality_code",
    ),
    (
        "holder-romaji",
        'city_romaji = "Chiyoda-ku"',
        'city_romaji = "千代田区"',
        "holder.city_romaji",
    ),
    (
        "auth-cn-code",
        "990001T3HNKOAB13101003A",
        "990001T3HNKOAB14104003A",
        "auth.issuance.common_name",
    ),
    ("auth-cn-format", "990001T3HNKOAB13101003A", "short", "auth.issuance.common_name"),
    (
        "issued-local",
        "issued_at = 2024-08-26T01:23:45Z ",
        "issued_at = 2024-08-26T01:23:45 ",
        "auth.issuance.issued_at: must be an offset date-time",
    ),
    ("issuance-unknown", "generation = 3\n", "generation = 3\nextra = 1\n", "issuance.extra"),
    ("serial-range", "serial = 0x3C5E7A01", "serial = 0x1FFFFFFFF", "auth.issuance.serial"),
    (
        "missing-certificate",
        '"../pki/ee/default-auth.der"',
        '"../pki/ee/missing.der"',
        "auth.certificate",
    ),
    (
        "key-mismatch",
        '"../pki/keys/default-auth.pem"',
        '"../pki/keys/default-sign.pem"',
        "auth.private_key: does not match",
    ),
    (
        "ca-not-certificate",
        '"../pki/ca/auth-ca-3.der"',
        '"../pki/keys/auth-ca-3.pem"',
        "auth.ca_certificate: not a DER X.509 certificate",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [pytest.param(old, new, field, id=case) for case, old, new, field in TEXT_MISTAKES],
)
def test_text_mistakes(tree: Path, old: str, new: str, field: str) -> None:
    edit(persona_file(tree), old, new)
    assert_persona_error(persona_file(tree), field)


def test_absent_certificate_with_extra_fields(tree: Path) -> None:
    text = persona_file(tree).read_text(encoding="utf-8")
    sign_table = text.index("\n[sign] ")
    tail = text[sign_table:].replace("present = true", "present = false", 1)
    persona_file(tree).write_text(text[:sign_table] + tail, encoding="utf-8")
    assert_persona_error(persona_file(tree), "sign.certificate: must be absent")


def test_issuance_needs_a_holder(tree: Path) -> None:
    text = persona_file(tree).read_text(encoding="utf-8")
    holder = text[text.index("\n[holder]\n") : text.index("\n[auth] ")]
    persona_file(tree).write_text(text.replace(holder, ""), encoding="utf-8")
    assert_persona_error(persona_file(tree), "holder: required")


def test_not_utf8(tree: Path) -> None:
    persona_file(tree).write_bytes(b"\xff\xfe" + persona_file(tree).read_bytes())
    assert_persona_error(persona_file(tree), "not UTF-8")


def _corrupt(name: str) -> Callable[[Path], None]:
    def damage(tree: Path) -> None:
        (tree / "pki" / name).write_bytes(b"not a real file")

    return damage


def _rsa_1024_pair(tree: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - deliberately too small
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "small")])
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(when)
        .not_valid_after(when + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tree / "pki" / "ee" / "default-auth.der").write_bytes(
        certificate.public_bytes(serialization.Encoding.DER)
    )
    (tree / "pki" / "keys" / "default-auth.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _reencode_key(fmt: serialization.PrivateFormat, encrypted: bool) -> Callable[[Path], None]:
    def rewrite(tree: Path) -> None:
        path = tree / "pki" / "keys" / "default-sign.pem"
        key = serialization.load_pem_private_key(path.read_bytes(), None)
        protection: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(b"secret")
            if encrypted
            else serialization.NoEncryption()
        )
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, fmt, protection))

    return rewrite


FILE_MISTAKES = [
    ("certificate-garbage", _corrupt("ee/default-auth.der"), "auth.certificate: not a DER"),
    ("ca-garbage", _corrupt("ca/sign-ca-3.der"), "sign.ca_certificate: not a DER"),
    ("key-garbage", _corrupt("keys/default-sign.pem"), "sign.private_key: must be"),
    ("rsa-1024", _rsa_1024_pair, "auth.certificate: certificate key must be RSA-2048"),
    (
        "key-traditional-openssl",
        _reencode_key(serialization.PrivateFormat.TraditionalOpenSSL, encrypted=False),
        "sign.private_key: must be an unencrypted PKCS#8",
    ),
    (
        "key-encrypted",
        _reencode_key(serialization.PrivateFormat.PKCS8, encrypted=True),
        "sign.private_key: must be an unencrypted PKCS#8",
    ),
]


@pytest.mark.parametrize(
    ("damage", "field"),
    [pytest.param(damage, field, id=case) for case, damage, field in FILE_MISTAKES],
)
def test_referenced_file_mistakes(tree: Path, damage: Callable[[Path], None], field: str) -> None:
    damage(tree)
    assert_persona_error(persona_file(tree), field)


# ------------------------------------------------------------------ PIN format properties


@pytest.fixture(scope="module")
def pin_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pins") / "fixtures"
    shutil.copytree(fixtures_root(), root)
    return root


def _with_pin(tree: Path, which: str, value: str) -> Path:
    default = '"1234"' if which == "auth" else '"ABC123"'
    text = DEFAULT_TOML.read_text(encoding="utf-8")
    escaped = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    path = tree / "personas" / "variant.toml"
    path.write_text(text.replace(f"value = {default}", f"value = {escaped}"), encoding="utf-8")
    return path


_PIN_ALPHABET = st.sampled_from('0123456789ABCDEFXYZabcxyz-_ !"\\' + full_width("019A"))


def _check_pin(tree: Path, which: str, value: str, valid: bool) -> None:
    path = _with_pin(tree, which, value)
    if valid:
        pin = load_persona(path).auth_pin if which == "auth" else load_persona(path).sign_pin
        assert pin.value == value.encode("ascii")
        return
    with pytest.raises(PersonaError) as caught:
        load_persona(path)
    message = str(caught.value).replace(str(path.resolve()), "<file>")
    assert f"pins.{which}.value" in message
    rule = message.split(": ", 2)[-1]
    assume(value not in rule)  # a value that happens to spell part of the rule text
    assert value not in message


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(_PIN_ALPHABET, min_size=1, max_size=8))
def test_auth_pin_accepted_exactly_when_four_ascii_digits(pin_tree: Path, value: str) -> None:
    valid = re.fullmatch(r"[0-9]{4}", value) is not None
    _check_pin(pin_tree, "auth", value, valid)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(_PIN_ALPHABET, min_size=1, max_size=20))
def test_sign_pin_accepted_exactly_when_6_to_16_upper_alphanumerics(
    pin_tree: Path, value: str
) -> None:
    valid = re.fullmatch(r"[A-Z0-9]{6,16}", value) is not None
    _check_pin(pin_tree, "sign", value, valid)
