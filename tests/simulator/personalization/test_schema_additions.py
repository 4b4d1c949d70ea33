"""Persona schema additions for the catalogue: issuance options and revocation entries.

``[auth|sign.issuance]``: ``renewal``, ``policy``, ``unknown_critical_extension``,
``cross_hierarchy``, ``not_after``; ``[auth|sign.revocation]``: ``reason``, ``revoked_at``,
``invalidity_date`` (simulator/personalization/persona.py, pki.py, generate.py).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from simulator.personalization import (
    PersonaError,
    Revocation,
    check,
    fixtures_root,
    load_persona,
    regenerate,
)
from simulator.personalization.pki import (
    CPS_URI,
    OCSP_URL,
    PRODUCTION_AUTH_POLICY_OID,
    PRODUCTION_SIGN_POLICY_OID,
    TEST_AUTH_POLICY_OID,
    TEST_SIGN_POLICY_OID,
)
from simulator.personalization.validity import certificate_not_after

UTC = dt.UTC
AUTH_CN = 'common_name = "990001T3HNKOAB13101003A"'  # last line of [auth.issuance] in default
SIGN_CN = 'common_name = "990002S7PQRWXY13101003A"'  # last line of [sign.issuance] in default
ISSUED = dt.datetime(2024, 8, 26, 1, 23, 45, tzinfo=UTC)  # the default persona's issue instant
BIRTH = dt.date(1985, 8, 20)
FIFTH_BIRTHDAY = dt.datetime(2029, 8, 20, 14, 59, 59, tzinfo=UTC)
SECRETS = ("1234", "ABC123")
PROFILE_EXTENSIONS = {
    "auth": [
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    ],
    "sign": [
        ExtensionOID.KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    ],
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "fixtures"
    shutil.copytree(fixtures_root(), root)
    return root


def persona_file(tree: Path) -> Path:
    return tree / "personas" / "default.toml"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def add_issuance_option(tree: Path, slot: str, line: str) -> None:
    cn = AUTH_CN if slot == "auth" else SIGN_CN
    edit(persona_file(tree), cn, f"{cn}\n{line}")


def append(tree: Path, text: str) -> None:
    path = persona_file(tree)
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


def certificate(tree: Path, name: str) -> x509.Certificate:
    return x509.load_der_x509_certificate((tree / "pki" / name).read_bytes())


def committed(name: str) -> x509.Certificate:
    return x509.load_der_x509_certificate((fixtures_root() / "pki" / name).read_bytes())


def policy(cert: x509.Certificate) -> str:
    extension = cert.extensions.get_extension_for_oid(ExtensionOID.CERTIFICATE_POLICIES)
    assert extension.critical
    assert isinstance(extension.value, x509.CertificatePolicies)
    (information,) = extension.value
    assert information.policy_qualifiers == [CPS_URI]
    return information.policy_identifier.dotted_string


def persona_error(path: Path, field: str) -> str:
    """The PersonaError of loading ``path``; it names the file and the field, never a PIN."""
    with pytest.raises(PersonaError) as caught:
        load_persona(path)
    message = str(caught.value)
    assert str(path.resolve()) in message, message
    assert field in message, message
    assert not any(secret in message.replace(str(path.resolve()), "") for secret in SECRETS)
    return message


# -------------------------------------------------------------------------------- renewal


def test_renewal_moves_not_after_to_the_sixth_birthday(tree: Path) -> None:
    add_issuance_option(tree, "auth", "renewal = true")
    assert check(tree) == ["pki/ee/default-auth.der"]  # the sign certificate is not renewed
    regenerate(tree)
    renewed = certificate(tree, "ee/default-auth.der")
    assert renewed.not_valid_after_utc == dt.datetime(2030, 8, 20, 14, 59, 59, tzinfo=UTC)
    assert renewed.not_valid_after_utc == certificate_not_after(BIRTH, ISSUED, 6)
    assert certificate(tree, "ee/default-sign.der").not_valid_after_utc == FIFTH_BIRTHDAY
    assert renewed.not_valid_before_utc == ISSUED


def test_renewal_false_is_the_default(tree: Path) -> None:
    add_issuance_option(tree, "auth", "renewal = false")
    add_issuance_option(tree, "sign", 'policy = "test"')
    assert check(tree) == []  # byte-identical: explicit defaults change nothing


def test_renewed_persona_ends_on_the_sixth_birthday() -> None:
    previous = committed("ee/renewed-previous-auth.der")
    for slot in ("auth", "sign"):
        new = committed(f"ee/renewed-{slot}.der")
        old = committed(f"ee/renewed-previous-{slot}.der")
        birth = dt.date(1979, 1, 25)
        assert new.not_valid_after_utc == dt.datetime(2032, 1, 25, 14, 59, 59, tzinfo=UTC)
        assert new.not_valid_after_utc == certificate_not_after(birth, new.not_valid_before_utc, 6)
        assert old.not_valid_after_utc == certificate_not_after(birth, old.not_valid_before_utc, 5)
        # renewed within the last 3 months of the previous certificate
        three_months_before = previous.not_valid_after_utc - dt.timedelta(days=92)
        assert three_months_before <= new.not_valid_before_utc < old.not_valid_after_utc
        assert new.serial_number != old.serial_number
        assert new.subject != old.subject  # new CN


# --------------------------------------------------------------------------------- policy


@pytest.mark.parametrize(
    ("slot", "production", "test"),
    [
        ("auth", PRODUCTION_AUTH_POLICY_OID, TEST_AUTH_POLICY_OID),
        ("sign", PRODUCTION_SIGN_POLICY_OID, TEST_SIGN_POLICY_OID),
    ],
)
def test_policy_switch(tree: Path, slot: str, production: str, test: str) -> None:
    assert policy(committed(f"ee/default-{slot}.der")) == test
    add_issuance_option(tree, slot, 'policy = "production"')
    assert check(tree) == [f"pki/ee/default-{slot}.der"]
    regenerate(tree)
    switched = certificate(tree, f"ee/default-{slot}.der")
    assert policy(switched) == production
    assert switched.issuer.rfc4514_string().endswith("O=JPKI-TEST,C=JP")  # still our test root
    other = "sign" if slot == "auth" else "auth"
    assert policy(certificate(tree, f"ee/default-{other}.der")) != production


def test_production_policy_oids() -> None:
    assert PRODUCTION_AUTH_POLICY_OID == "1.2.392.200149.8.5.1.3.30"
    assert PRODUCTION_SIGN_POLICY_OID == "1.2.392.200149.8.5.1.1.20"


# ----------------------------------------------------------- unknown critical extension


@pytest.mark.parametrize("slot", ["auth", "sign"])
def test_unknown_critical_extension_is_appended(tree: Path, slot: str) -> None:
    add_issuance_option(tree, slot, 'unknown_critical_extension = "2.999.7.1"')
    regenerate(tree)
    cert = certificate(tree, f"ee/default-{slot}.der")
    *profile, extra = list(cert.extensions)
    assert [extension.oid for extension in profile] == PROFILE_EXTENSIONS[slot]
    assert extra.oid == x509.ObjectIdentifier("2.999.7.1")
    assert extra.critical
    assert isinstance(extra.value, x509.UnrecognizedExtension)
    assert extra.value.value == b"\x05\x00"  # DER NULL
    unchanged = committed(f"ee/default-{slot}.der")
    assert [e.oid for e in unchanged.extensions] == PROFILE_EXTENSIONS[slot]


# ---------------------------------------------------------------------- cross hierarchy


def use_sign_hierarchy_for_auth(tree: Path) -> None:
    path = persona_file(tree)
    edit(path, 'hierarchy = "auth"', 'hierarchy = "sign"')
    edit(path, '"../pki/ca/auth-ca-3.der"', '"../pki/ca/sign-ca-3.der"')


def test_cross_hierarchy_is_refused_without_the_flag(tree: Path) -> None:
    use_sign_hierarchy_for_auth(tree)
    message = "auth.issuance.hierarchy: is a 'sign' hierarchy (set cross_hierarchy = true"
    with pytest.raises(PersonaError, match=re.escape(message)):
        regenerate(tree)


def test_cross_hierarchy_with_the_flag_issues_an_auth_profile_from_the_sign_root(
    tree: Path,
) -> None:
    use_sign_hierarchy_for_auth(tree)
    add_issuance_option(tree, "auth", "cross_hierarchy = true")
    regenerate(tree)
    cert = certificate(tree, "ee/default-auth.der")
    sign_root = certificate(tree, "ca/sign-ca-3.der")
    cert.verify_directly_issued_by(sign_root)
    assert cert.issuer == sign_root.subject
    assert [e.oid for e in cert.extensions] == PROFILE_EXTENSIONS["auth"]  # the slot's profile
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [d.access_location.value for d in aia] == [OCSP_URL]
    assert policy(cert) == TEST_SIGN_POLICY_OID  # the issuing hierarchy's policy
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[1].full_name == [
        x509.UniformResourceIdentifier("http://127.0.0.1:35980/crl/sign-g3.crl")
    ]
    persona = load_persona(persona_file(tree))
    assert persona.auth.ca_certificate == (tree / "pki" / "ca" / "sign-ca-3.der").read_bytes()


def test_cross_hierarchy_flag_needs_the_other_hierarchy(tree: Path) -> None:
    add_issuance_option(tree, "auth", "cross_hierarchy = true")
    with pytest.raises(PersonaError, match=re.escape("auth.issuance.cross_hierarchy: hierarchy")):
        regenerate(tree)


def test_cross_hierarchy_still_needs_the_issuing_ca_file(tree: Path) -> None:
    edit(persona_file(tree), 'hierarchy = "auth"', 'hierarchy = "sign"')
    add_issuance_option(tree, "auth", "cross_hierarchy = true")
    with pytest.raises(PersonaError, match=re.escape("auth.ca_certificate: is not the issuing")):
        regenerate(tree)


# ---------------------------------------------------------------------------- not_after


def test_not_after_override(tree: Path) -> None:
    add_issuance_option(tree, "sign", "not_after = 2027-03-31T14:59:59Z")
    assert check(tree) == ["pki/ee/default-sign.der"]
    regenerate(tree)
    cert = certificate(tree, "ee/default-sign.der")
    assert cert.not_valid_after_utc == dt.datetime(2027, 3, 31, 14, 59, 59, tzinfo=UTC)
    assert cert.not_valid_before_utc == ISSUED


def test_not_after_may_equal_not_before(tree: Path) -> None:
    add_issuance_option(tree, "auth", "not_after = 2024-08-26T10:23:45+09:00")
    regenerate(tree)
    cert = certificate(tree, "ee/default-auth.der")
    assert cert.not_valid_after_utc == cert.not_valid_before_utc == ISSUED


def test_birthday_rule_beyond_the_issuing_ca_is_refused_unless_not_after_is_explicit(
    tree: Path,
) -> None:
    path = persona_file(tree)
    edit(path, '"../pki/ca/auth-ca-3.der"', '"../pki/ca/auth-ca-1.der"')
    edit(path, 'hierarchy = "auth"\ngeneration = 3', 'hierarchy = "auth"\ngeneration = 1')
    message = (
        "auth.issuance.issued_at: the certificate would end 2029-08-20T14:59:59+00:00, after "
        "its CA 'auth' generation 1 (2025-10-19T14:59:59+00:00)"
    )
    with pytest.raises(PersonaError, match=re.escape(message)):
        regenerate(tree)
    add_issuance_option(tree, "auth", "not_after = 2029-08-20T14:59:59Z")  # deliberate
    regenerate(tree)
    cert = certificate(tree, "ee/default-auth.der")
    assert cert.not_valid_after_utc > certificate(tree, "ca/auth-ca-1.der").not_valid_after_utc


# ----------------------------------------------------------------------------- revocation

KEY_COMPROMISE = """[auth.revocation]
reason = "keyCompromise"
revoked_at = 2026-10-10T10:00:00+09:00
invalidity_date = 2026-10-08T12:00:00Z
"""


def test_revocation_is_parsed_into_the_key_pair(tree: Path) -> None:
    before = load_persona(persona_file(tree))
    assert before.auth.revocation is None and before.sign.revocation is None
    append(tree, KEY_COMPROMISE)
    persona = load_persona(persona_file(tree))
    assert persona.auth.revocation == Revocation(
        reason=x509.ReasonFlags.key_compromise,
        revoked_at=dt.datetime(2026, 10, 10, 1, 0, tzinfo=UTC),  # converted to UTC
        invalidity_date=dt.datetime(2026, 10, 8, 12, 0, tzinfo=UTC),
    )
    assert persona.auth.revocation.revoked_at.utcoffset() == dt.timedelta(0)
    assert persona.sign.revocation is None
    assert "revocation=keyCompromise" in repr(persona.auth)
    assert persona.checksum != before.checksum
    assert check(tree) == []  # revocation is not part of any certificate


@pytest.mark.parametrize(
    "reason",
    [
        "unspecified",
        "keyCompromise",
        "cACompromise",
        "affiliationChanged",
        "superseded",
        "cessationOfOperation",
        "certificateHold",
    ],
)
def test_every_jpki_reason_is_accepted(tree: Path, reason: str) -> None:
    append(tree, f'[sign.revocation]\nreason = "{reason}"\nrevoked_at = 2026-01-05T00:00:00Z\n')
    revocation = load_persona(persona_file(tree)).sign.revocation
    assert revocation is not None
    assert revocation.reason == x509.ReasonFlags(reason)
    assert revocation.invalidity_date is None


REVOCATION_MISTAKES = [
    # (id, appended table, field and rule the message must name)
    (
        "reason-unknown",
        'reason = "revoked"\nrevoked_at = 2026-01-05T00:00:00Z',
        "auth.revocation.reason: must be one of unspecified, keyCompromise, cACompromise, "
        "affiliationChanged, superseded, cessationOfOperation, certificateHold",
    ),
    (
        "reason-remove-from-crl",
        'reason = "removeFromCRL"\nrevoked_at = 2026-01-05T00:00:00Z',
        "auth.revocation.reason: must be one of",
    ),
    (
        "reason-case",
        'reason = "KeyCompromise"\nrevoked_at = 2026-01-05T00:00:00Z',
        "auth.revocation.reason: must be one of",
    ),
    (
        "reason-type",
        "reason = 1\nrevoked_at = 2026-01-05T00:00:00Z",
        "auth.revocation.reason: must be a string",
    ),
    (
        "reason-missing",
        "revoked_at = 2026-01-05T00:00:00Z",
        "auth.revocation.reason: required field is missing",
    ),
    (
        "revoked-at-missing",
        'reason = "superseded"',
        "auth.revocation.revoked_at: required field is missing",
    ),
    (
        "revoked-at-local",
        'reason = "superseded"\nrevoked_at = 2026-01-05T00:00:00',
        "auth.revocation.revoked_at: must be an offset date-time",
    ),
    (
        "revoked-at-date",
        'reason = "superseded"\nrevoked_at = 2026-01-05',
        "auth.revocation.revoked_at: must be an offset date-time",
    ),
    (
        "invalidity-after-revocation",
        'reason = "keyCompromise"\nrevoked_at = 2026-01-05T00:00:00Z\n'
        "invalidity_date = 2026-01-05T00:00:01Z",
        "auth.revocation.invalidity_date: must not be after revoked_at",
    ),
    (
        "invalidity-local",
        'reason = "keyCompromise"\nrevoked_at = 2026-01-05T00:00:00Z\n'
        "invalidity_date = 2026-01-04T00:00:00",
        "auth.revocation.invalidity_date: must be an offset date-time",
    ),
    (
        "before-issuance",
        'reason = "superseded"\nrevoked_at = 2024-08-26T01:23:44Z',
        "auth.revocation.revoked_at: must not be before auth.issuance.issued_at",
    ),
    (
        "after-expiry",
        'reason = "superseded"\nrevoked_at = 2029-08-20T15:00:00Z',
        "auth.revocation.revoked_at: must lie within the validity of auth.certificate",
    ),
    (
        "unknown-field",
        'reason = "superseded"\nrevoked_at = 2026-01-05T00:00:00Z\ncomment = "x"',
        "unknown field(s): auth.revocation.comment",
    ),
]


@pytest.mark.parametrize(
    ("table", "message"),
    [pytest.param(table, message, id=case) for case, table, message in REVOCATION_MISTAKES],
)
def test_revocation_mistakes(tree: Path, table: str, message: str) -> None:
    append(tree, f"[auth.revocation]\n{table}\n")
    persona_error(persona_file(tree), message)


def test_revocation_must_be_a_table(tree: Path) -> None:
    edit(persona_file(tree), "[auth] ", '[auth]\nrevocation = "keyCompromise"\n#')
    persona_error(persona_file(tree), "auth.revocation: must be a table")


def test_revocation_of_an_absent_certificate(tree: Path) -> None:
    path = persona_file(tree)
    text = path.read_text(encoding="utf-8")
    sign_table = text[text.index("\n[sign] ") + 1 :]
    under_15 = '[sign]\npresent = false\nca_certificate = "../pki/ca/sign-ca-3.der"\n'
    path.write_text(text.replace(sign_table, under_15), encoding="utf-8")
    append(tree, '[sign.revocation]\nreason = "superseded"\nrevoked_at = 2026-01-05T00:00:00Z\n')
    persona_error(path, "sign.revocation: must be absent when present = false")


def test_generator_refuses_a_revocation_after_not_after(tree: Path) -> None:
    add_issuance_option(tree, "sign", "not_after = 2026-01-01T00:00:00Z")
    append(tree, '[sign.revocation]\nreason = "superseded"\nrevoked_at = 2026-01-05T00:00:00Z\n')
    message = "sign.revocation.revoked_at: after the certificate's notAfter"
    with pytest.raises(PersonaError, match=re.escape(message)):
        regenerate(tree)


# ------------------------------------------------------------------ issuance option errors

ISSUANCE_MISTAKES = [
    # (id, line added to [auth.issuance], field and rule the message must name)
    ("renewal-type", 'renewal = "yes"', "auth.issuance.renewal: must be true or false"),
    ("policy-value", 'policy = "prod"', "auth.issuance.policy: must be 'test' or 'production'"),
    ("policy-oid", f'policy = "{PRODUCTION_AUTH_POLICY_OID}"', "auth.issuance.policy: must be"),
    ("policy-type", "policy = 1", "auth.issuance.policy: must be a string"),
    (
        "extension-not-an-oid",
        'unknown_critical_extension = "critical"',
        "auth.issuance.unknown_critical_extension: must be a dotted OID",
    ),
    (
        "extension-known",
        'unknown_critical_extension = "2.5.29.19"',
        "auth.issuance.unknown_critical_extension: must not be an extension that X.509",
    ),
    (
        "extension-type",
        "unknown_critical_extension = true",
        "auth.issuance.unknown_critical_extension: must be a string",
    ),
    ("cross-type", "cross_hierarchy = 1", "auth.issuance.cross_hierarchy: must be true or false"),
    (
        "not-after-before-issue",
        "not_after = 2024-08-26T01:23:44Z",
        "auth.issuance.not_after: must not be earlier than issued_at",
    ),
    (
        "not-after-local",
        "not_after = 2029-08-20T14:59:59",
        "auth.issuance.not_after: must be an offset date-time",
    ),
    ("unknown-option", "renew = true", "unknown field(s): auth.issuance.renew"),
]


@pytest.mark.parametrize(
    ("line", "message"),
    [pytest.param(line, message, id=case) for case, line, message in ISSUANCE_MISTAKES],
)
def test_issuance_option_mistakes(tree: Path, line: str, message: str) -> None:
    add_issuance_option(tree, "auth", line)
    persona_error(persona_file(tree), message)
