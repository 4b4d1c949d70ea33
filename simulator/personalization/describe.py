"""Build a persona (card contents and test PKI) from a short description file.

``mynasim personalize --describe FILE --out DIR`` reads a description (TOML, schema
``mynasim-description/1``; every field except ``name`` and the holder's name, address, sex
and birth date has a default)::

    name = "tanaka-ichiro"                  # persona name: [a-z0-9][a-z0-9_-]*, at most 64
    description = "free text"               # optional

    [holder]
    name = "田中　一郎"                      # written exactly as given (family U+3000 given)
    address = "東京都港区芝公園四丁目二番八号"  # as given (cards use full-width digits, U+FF0D)
    birth_date = 1970-01-02                 # a TOML date
    sex = "male"                            # male | female | "1" | "2" | "9"
    # optional: name_substitution / address_substitution (default: all "0"), and
    # prefecture_romaji + city_romaji + municipality_code (all three or none; see below)

    [pins]                                  # optional
    auth = "1234"                           # 4 digits (default 1234)
    sign = "ABC123"                         # 6-16 of A-Z 0-9 (default ABC123)
    auth_remaining = 3                      # 0-3 (default 3)
    sign_remaining = 5                      # 0-5 (default 5)

    [certificates]                          # optional
    issued_at = 2025-04-01T00:00:00Z        # default 2025-04-01T00:00:00Z, never "now"
    generation = 3                          # default: newest CA generation valid at issued_at
    auth = "valid"                          # valid | absent | revoked[:<reason>][@<date-time>]
    sign = "valid"                          # same; default "absent" for a holder under 15
    token = "card"                          # card | android | ios
    renewal = true                          # optional, default false
    policy = "production"                   # optional: test (default) | production

    [ca]                                    # optional: the vendor's own CA (paths relative to
    key = "vendor-ca-key.pem"               # the description file; PEM key, PEM or DER cert)
    certificate = "vendor-ca.pem"
    # or [ca.auth] / [ca.sign], each with key and certificate: one CA per purpose

The result is a fixtures-layout folder (``personas/<name>.toml``, ``pki/hierarchies.toml``,
``pki/keys``, ``pki/ca``, ``pki/ee``) that :func:`.generate.regenerate` and
:func:`.persona.load_persona` read like the repository's ``fixtures/``. Choices:

* Built-in CA: ``pki/hierarchies.toml`` is a byte copy of the built-in definitions and the CA
  keys they name are copied next to it (they are the public test keys shipped with mynasim),
  so the regenerated CA certificates are byte-identical to the built-in ones and the folder
  does not depend on where mynasim is installed.
* Vendor CA: one hierarchy per CA key (a key is one CA, as the revocation services'
  :func:`.catalogue.load_authorities` require), generation 1, with the vendor root's DN,
  serial and validity; its key is referenced where it lies, never copied. ``[ca]`` alone is
  one CA for both slots: hierarchy ``vendor`` with purpose ``auth`` (``sign`` if the root's
  first OU is "JPKI for digital signature"), and the other slot is issued with
  ``cross_hierarchy = true``, so that certificate carries the hierarchy's test policy OID
  (and IAN) rather than its own purpose's. ``[ca.auth]`` + ``[ca.sign]`` with two keys give
  hierarchies ``vendor-auth`` and ``vendor-sign``, each certificate with its own policy, like
  the real JPKI. The generator writes a self-signed twin of each vendor root (same DN, key,
  serial and validity, mynasim's JPKI root profile) to ``pki/ca/``; the card carries the
  twin, and the end-entity certificates chain to the vendor's own certificate (issuer DN,
  signature, AKI key identifier and serial all match it). Hence a vendor root must have the
  JPKI root shape: self-signed, RSA-2048, subject ``C=JP, O=…, OU=…, OU=…``, serial at most 4
  bytes, validity in 1950-2049, and a subjectKeyIdentifier (if any) that is the RFC 5280
  SHA-1 key hash.
* Issuing generation (built-in CA): the one named by ``certificates.generation``, else the
  newest one valid at ``issued_at`` whose notAfter is not before the certificates' (the
  generator refuses certificates that outlive their CA), read from the definitions at run
  time.
* Serials, common names and the token serial are derived from the persona name (SHA-256), so
  a rebuild gives the same certificates; only the holder's keys are random (RSA-2048).
* Municipality: when the holder gives none of prefecture_romaji / city_romaji /
  municipality_code, they are looked up from the start of the address in a small table
  (:data:`MUNICIPALITIES`); an address not in it gets Tokyo-to / Chiyoda-ku / 13101, and a
  progress line says so.
* A holder under 15 on the (JST) issue date gets no signature certificate (real cards are
  issued without one); asking for one is an error. Expired or not-yet-valid certificates come
  from the dates and are allowed.
* A persona file already in the output folder is never replaced by a different one; an
  identical one is rebuilt in place (its keys are kept).

Errors are :class:`DescriptionError` messages ``<file>: <field>: <rule>``; PIN values are
never part of a message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from . import fields
from .fields import FieldError, Table
from .generate import HIERARCHIES_FILE, PERSONAS_DIR, regenerate
from .hierarchy import (
    MAX_SERIAL,
    PKI_SCHEMA,
    UTC_TIME_YEARS,
    Hierarchy,
    PkiError,
    Purpose,
    load_hierarchies,
)
from .holder import parse_holder
from .persona import (
    PERSONA_SCHEMA,
    PersonaError,
    fixtures_root,
    load_persona,
    read_persona_document,
)
from .persona import (
    REVOCATION_REASONS as PERSONA_REVOCATION_REASONS,
)
from .pki import RENEWAL_BIRTHDAYS, RSA_KEY_BITS, TEST_AUTH_POLICY_OID, TEST_SIGN_POLICY_OID
from .validity import DEFAULT_BIRTHDAYS, JST, birthday_in, certificate_not_after

Progress = Callable[[str], None]

DESCRIPTION_SCHEMA = "mynasim-description/1"
DEFAULT_ISSUED_AT = dt.datetime(2025, 4, 1, 0, 0, 0, tzinfo=dt.UTC)
DEFAULT_AUTH_PIN = "1234"
DEFAULT_SIGN_PIN = "ABC123"
AUTH_MAX_TRIES = 3
SIGN_MAX_TRIES = 5
CARD_ATR = "3B E0 00 FF 81 31 FE 45 14"  # the built-in personas' ATR (phones use it too)
TOKEN_LABELS: Mapping[str, str] = {
    "card": "JPKIAPICCTOKEN2",
    "android": "JPKIAPGPSETOKEN",
    "ios": "JPKIAPIOSTOKEN",
}
SEX_CODES: Mapping[str, str] = {"male": "1", "female": "2", "1": "1", "2": "2", "9": "9"}
REVOCATION_REASONS = tuple(reason.value for reason in PERSONA_REVOCATION_REASONS)  # RFC 5280
DEFAULT_REVOCATION_DELAY = dt.timedelta(days=1)  # revoked_at when the state names no time
ADULT_AGE = 15  # no signature certificate below this age (jpki-pki-and-relying-parties.md §1.6)
VENDOR_GENERATION = 1

# Address prefix -> (prefecture romaji, city romaji, municipality code without check digit).
# Designated-city wards are joined with '-' as in real CRL partitions (§1.2).
MUNICIPALITIES: Mapping[str, tuple[str, str, str]] = {
    "東京都千代田区": ("Tokyo-to", "Chiyoda-ku", "13101"),
    "東京都中央区": ("Tokyo-to", "Chuo-ku", "13102"),
    "東京都港区": ("Tokyo-to", "Minato-ku", "13103"),
    "東京都新宿区": ("Tokyo-to", "Shinjuku-ku", "13104"),
    "東京都世田谷区": ("Tokyo-to", "Setagaya-ku", "13112"),
    "東京都渋谷区": ("Tokyo-to", "Shibuya-ku", "13113"),
    "東京都清瀬市": ("Tokyo-to", "Kiyose-shi", "13221"),
    "北海道札幌市中央区": ("Hokkaido", "Sapporo-shi-Chuo-ku", "01101"),
    "神奈川県横浜市中区": ("Kanagawa-ken", "Yokohama-shi-Naka-ku", "14104"),
    "愛知県名古屋市中区": ("Aichi-ken", "Nagoya-shi-Naka-ku", "23106"),
    "京都府京都市中京区": ("Kyoto-fu", "Kyoto-shi-Nakagyo-ku", "26104"),
    "京都府宇治市": ("Kyoto-fu", "Uji-shi", "26204"),
    "大阪府大阪市北区": ("Osaka-fu", "Osaka-shi-Kita-ku", "27127"),
    "福岡県福岡市中央区": ("Fukuoka-ken", "Fukuoka-shi-Chuo-ku", "40133"),
}
DEFAULT_MUNICIPALITY = MUNICIPALITIES["東京都千代田区"]
_LOCATION_KEYS = ("prefecture_romaji", "city_romaji", "municipality_code")

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_AUTH_PIN = re.compile(r"[0-9]{4}")
_SIGN_PIN = re.compile(r"[A-Z0-9]{6,16}")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PURPOSES: tuple[Purpose, Purpose] = ("auth", "sign")

_TOP_KEYS = ("schema", "name", "description", "holder", "pins", "certificates", "ca")
_HOLDER_KEYS = (
    "name",
    "name_substitution",
    "sex",
    "birth_date",
    "address",
    "address_substitution",
    *_LOCATION_KEYS,
)
_PIN_KEYS = ("auth", "sign", "auth_remaining", "sign_remaining")
_CERTIFICATE_KEYS = ("issued_at", "generation", "auth", "sign", "token", "renewal", "policy")
_CA_KEYS = ("key", "certificate", "auth", "sign")
_CA_PAIR_KEYS = ("key", "certificate")


class DescriptionError(ValueError):
    """A description file is unreadable, invalid, or cannot be built into a persona.

    The message is ``<file>: <field>: <rule>`` and NEVER contains a PIN or password value.
    """


# --------------------------------------------------------------------------- the description


@dataclass(frozen=True)
class SlotState:
    """What one certificate slot should hold."""

    present: bool
    revocation: tuple[str, dt.datetime] | None = None  # (RFC 5280 reason name, revoked_at)


@dataclass(frozen=True)
class VendorCa:
    """A vendor root given in ``[ca]``: its key file and certificate."""

    key_path: Path  # absolute
    certificate: x509.Certificate


@dataclass(frozen=True)
class Description:
    """A validated description file."""

    path: Path  # absolute
    name: str
    text: str  # persona description line
    holder: Mapping[str, object]  # a complete [holder] table (defaults filled in)
    location_derived: str | None  # how the municipality was chosen when not given
    auth_pin: str
    sign_pin: str
    auth_remaining: int
    sign_remaining: int
    issued_at: dt.datetime
    certificate_end: dt.datetime | None  # notAfter of the certificates (None: none present)
    generation: int | None
    auth: SlotState
    sign: SlotState
    token: str
    renewal: bool
    policy: str | None
    ca: Mapping[Purpose, VendorCa] | None

    def slots(self) -> tuple[tuple[Purpose, SlotState], tuple[Purpose, SlotState]]:
        return (("auth", self.auth), ("sign", self.sign))

    def __repr__(self) -> str:  # keep PINs out of tracebacks and logs
        return f"Description(name={self.name!r}, path={self.path})"


def _fail(field: str, rule: str) -> FieldError:
    return FieldError(f"{field}: {rule}")


def _check_keys(table: Table, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise _fail(
            fields.field_name(where, unknown[0]), f"unknown field (allowed: {', '.join(allowed)})"
        )


def _optional_table(table: Table, key: str, where: str) -> Table:
    sub = fields.optional_sub_table(table, key, where)
    return {} if sub is None else sub


def _persona_name(document: Table) -> str:
    name = fields.string(document, "name", "")
    if not _NAME.fullmatch(name):
        raise _fail("name", "must be 1-64 of a-z 0-9 _ - starting with a letter or digit")
    return name


def _sex(holder: Table) -> str:
    value = fields.string(holder, "sex", "holder")
    if value not in SEX_CODES:
        raise _fail("holder.sex", f"must be one of {', '.join(SEX_CODES)}")
    return SEX_CODES[value]


def _birth_date(holder: Table) -> dt.date:
    if "birth_date" not in holder:
        raise _fail("holder.birth_date", "required field is missing")
    value = holder["birth_date"]
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise _fail("holder.birth_date", "must be a TOML date (YYYY-MM-DD)")
    return value


def _location(holder: Table, address: str) -> tuple[dict[str, str], str | None]:
    given = [key for key in _LOCATION_KEYS if key in holder]
    if given:
        for key in _LOCATION_KEYS:
            if key not in holder:
                raise _fail(
                    f"holder.{key}",
                    "required together with holder.prefecture_romaji, holder.city_romaji and "
                    "holder.municipality_code (give all three or none)",
                )
        return {key: fields.string(holder, key, "holder") for key in _LOCATION_KEYS}, None
    for prefix in sorted(MUNICIPALITIES, key=len, reverse=True):
        if address.startswith(prefix):
            prefecture, city, code = MUNICIPALITIES[prefix]
            how = f"derived from the address ({prefix})"
            break
    else:
        prefecture, city, code = DEFAULT_MUNICIPALITY
        how = "address not in the municipality table: default Tokyo-to / Chiyoda-ku / 13101"
    values = dict(zip(_LOCATION_KEYS, (prefecture, city, code), strict=True))
    return values, how


def _holder(document: Table) -> tuple[dict[str, object], str | None]:
    holder = fields.sub_table(document, "holder", "")
    _check_keys(holder, _HOLDER_KEYS, "holder")
    name = fields.string(holder, "name", "holder")
    address = fields.string(holder, "address", "holder")
    sex = _sex(holder)
    birth_date = _birth_date(holder)
    location, how = _location(holder, address)
    table: dict[str, object] = {
        "name": name,
        "name_substitution": holder.get("name_substitution", "0" * len(name)),
        "sex": sex,
        "birth_date": birth_date,
        "address": address,
        "address_substitution": holder.get("address_substitution", "0" * len(address)),
        **location,
    }
    parse_holder(table)  # the persona's own rules: printable text, flags, romaji, code, era
    return table, how


def _pin(pins: Table, key: str, default: str, pattern: re.Pattern[str], rule: str) -> str:
    value = pins.get(key, default)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _fail(f"pins.{key}", rule)  # never the value
    return value


def _remaining(pins: Table, key: str, maximum: int) -> int:
    if key not in pins:
        return maximum
    return fields.integer_in_range(pins, key, "pins", 0, maximum)


def _whole_seconds(value: dt.datetime, field: str) -> dt.datetime:
    if value.microsecond:
        raise _fail(field, "must be whole seconds (certificates carry UTCTime)")
    return value


def _issued_at(certificates: Table) -> dt.datetime:
    if "issued_at" not in certificates:
        return DEFAULT_ISSUED_AT
    value = fields.utc_datetime(certificates, "issued_at", "certificates")
    return _whole_seconds(value, "certificates.issued_at")


_STATE_RULE = "must be valid, absent or revoked[:<reason>][@<date-time>]"


def _revocation(text: str, field: str, issued_at: dt.datetime) -> tuple[str, dt.datetime]:
    rest = text.removeprefix("revoked").removeprefix(":")
    reason, at, when = rest.partition("@")
    reason = reason or "unspecified"
    if reason not in REVOCATION_REASONS:
        raise _fail(
            field,
            f"unknown revocation reason '{reason}' (allowed: {', '.join(REVOCATION_REASONS)})",
        )
    if not at:
        return reason, issued_at + DEFAULT_REVOCATION_DELAY
    rule = "revocation time must be an offset date-time such as 2025-05-01T00:00:00Z"
    try:
        revoked_at = dt.datetime.fromisoformat(when)
    except ValueError:
        raise _fail(field, rule) from None
    if revoked_at.tzinfo is None or "T" not in when:
        raise _fail(field, rule)
    revoked_at = _whole_seconds(revoked_at.astimezone(dt.UTC), field)
    if revoked_at < issued_at:
        raise _fail(field, "revocation time must not be before certificates.issued_at")
    return reason, revoked_at


def _state(certificates: Table, key: str, default: str, issued_at: dt.datetime) -> SlotState:
    field = f"certificates.{key}"
    text = certificates.get(key, default)
    if not isinstance(text, str):
        raise _fail(field, _STATE_RULE)
    if text == "valid":
        return SlotState(present=True)
    if text == "absent":
        return SlotState(present=False)
    if text == "revoked" or text.startswith(("revoked:", "revoked@")):
        return SlotState(present=True, revocation=_revocation(text, field, issued_at))
    raise _fail(field, _STATE_RULE)


def _under_fifteen(birth_date: dt.date, issued_at: dt.datetime) -> bool:
    issue_day = issued_at.astimezone(JST).date()
    return issue_day < birthday_in(birth_date.year + ADULT_AGE, birth_date)


def _choice(table: Table, key: str, where: str, allowed: tuple[str, ...]) -> str:
    value = table[key]
    if not isinstance(value, str) or value not in allowed:
        raise _fail(fields.field_name(where, key), f"must be one of {', '.join(allowed)}")
    return value


def _read_vendor_key(path: Path, field: str) -> rsa.RSAPrivateKey:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise _fail(field, f"cannot read {path} ({error.strerror})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise _fail(field, "must be an unencrypted PEM private key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise _fail(field, "must be a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != RSA_KEY_BITS:
        raise _fail(field, f"must be an RSA-{RSA_KEY_BITS} key (the JPKI key type)")
    return key


def _read_vendor_certificate(path: Path, field: str) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise _fail(field, f"cannot read {path} ({error.strerror})") from None
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise _fail(field, "must be a PEM or DER X.509 certificate") from None


_JPKI_DN_SHAPE = (
    NameOID.COUNTRY_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
)


def jpki_dn_values(name: x509.Name) -> tuple[str, str, str] | None:
    """(O, OU, second OU) of a ``C=JP, O, OU, OU`` name (one attribute per RDN), else None."""
    rdns = list(name.rdns)
    if len(rdns) != len(_JPKI_DN_SHAPE) or any(len(rdn) != 1 for rdn in rdns):
        return None
    attributes = [next(iter(rdn)) for rdn in rdns]
    if [attribute.oid for attribute in attributes] != list(_JPKI_DN_SHAPE):
        return None
    values = [attribute.value for attribute in attributes]
    if values[0] != "JP" or not all(isinstance(value, str) and value for value in values):
        return None
    return str(values[1]), str(values[2]), str(values[3])


def _check_vendor_ca(key: rsa.RSAPrivateKey, certificate: x509.Certificate, where: str) -> None:
    field = f"{where}.certificate"
    if key.public_key().public_numbers() != _public_numbers(certificate, field):
        raise _fail(f"{where}.key", f"does not match the public key of {field}")
    if jpki_dn_values(certificate.subject) is None:
        raise _fail(
            field,
            "subject must have the JPKI root shape C=JP, O=…, OU=…, OU=… "
            f"(found {certificate.subject.rfc4514_string()})",
        )
    try:
        certificate.verify_directly_issued_by(certificate)
    except (ValueError, TypeError, InvalidSignature):
        raise _fail(field, "must be a self-signed root (issuer = subject, own signature)") from None
    if not 1 <= certificate.serial_number <= MAX_SERIAL:
        raise _fail(field, f"serial number must lie between 1 and {MAX_SERIAL:#x} (4 bytes)")
    low, high = UTC_TIME_YEARS
    validity = (certificate.not_valid_before_utc, certificate.not_valid_after_utc)
    if not all(low <= instant.year <= high for instant in validity):
        raise _fail(field, f"validity must lie in {low}-{high} (UTCTime)")
    try:
        ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return
    if ski.digest != x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest:
        raise _fail(
            field,
            "subjectKeyIdentifier must be the RFC 5280 SHA-1 key hash "
            "(the end-entity authorityKeyIdentifier carries that hash)",
        )


def _public_numbers(certificate: x509.Certificate, field: str) -> rsa.RSAPublicNumbers:
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size != RSA_KEY_BITS:
        raise _fail(field, f"must carry an RSA-{RSA_KEY_BITS} public key")
    return public_key.public_numbers()


def _vendor_pair(table: Table, where: str, base: Path) -> VendorCa:
    if where != "ca":  # the [ca] table itself is checked by _vendor_cas
        _check_keys(table, _CA_PAIR_KEYS, where)
    for required in _CA_PAIR_KEYS:
        if required not in table:
            other = "certificate" if required == "key" else "key"
            raise _fail(f"{where}.{required}", f"required together with {where}.{other}")
    key_path = fields.relative_path(table, "key", where, base)
    key = _read_vendor_key(key_path, f"{where}.key")
    cert_path = fields.relative_path(table, "certificate", where, base)
    certificate = _read_vendor_certificate(cert_path, f"{where}.certificate")
    _check_vendor_ca(key, certificate, where)
    return VendorCa(key_path=key_path, certificate=certificate)


def _vendor_cas(document: Table, base: Path) -> dict[Purpose, VendorCa] | None:
    if "ca" not in document:
        return None
    ca = fields.sub_table(document, "ca", "")
    _check_keys(ca, _CA_KEYS, "ca")
    shared = _vendor_pair(ca, "ca", base) if "key" in ca or "certificate" in ca else None
    result: dict[Purpose, VendorCa] = {}
    for purpose in _PURPOSES:
        if purpose in ca:
            result[purpose] = _vendor_pair(
                fields.sub_table(ca, purpose, "ca"), f"ca.{purpose}", base
            )
        elif shared is not None:
            result[purpose] = shared
        else:
            raise _fail(
                f"ca.{purpose}",
                "required (or give ca.key and ca.certificate for both purposes)",
            )
    if shared is not None and all(purpose in ca for purpose in _PURPOSES):
        raise _fail("ca.key", "unused because ca.auth and ca.sign are both given")
    auth, sign = result["auth"], result["sign"]
    if auth is not sign and _same_key(auth, sign):
        if auth.certificate != sign.certificate:
            raise _fail(
                "ca.sign.key",
                "is the key of ca.auth with another certificate (one key is one CA: give "
                "[ca] once, or two CAs with their own keys)",
            )
        result["sign"] = auth  # the same CA given twice
    return result


def _same_key(first: VendorCa, second: VendorCa) -> bool:
    return _public_numbers(first.certificate, "ca") == _public_numbers(second.certificate, "ca")


def _parse(path: Path, document: Table) -> Description:
    _check_keys(document, _TOP_KEYS, "")
    if "schema" in document and document["schema"] != DESCRIPTION_SCHEMA:
        raise _fail("schema", f"must be '{DESCRIPTION_SCHEMA}' (or left out)")
    name = _persona_name(document)
    text = fields.string(document, "description", "") if "description" in document else None
    holder, location_derived = _holder(document)
    birth_date = _birth_date(holder)
    pins = _optional_table(document, "pins", "")
    _check_keys(pins, _PIN_KEYS, "pins")
    certificates = _optional_table(document, "certificates", "")
    _check_keys(certificates, _CERTIFICATE_KEYS, "certificates")
    issued_at = _issued_at(certificates)
    if issued_at.date() <= birth_date:
        raise _fail("certificates.issued_at", "must be after holder.birth_date")
    renewal = False
    if "renewal" in certificates:
        renewal = fields.boolean(certificates, "renewal", "certificates")
    child = _under_fifteen(birth_date, issued_at)
    sign = _state(certificates, "sign", "absent" if child else "valid", issued_at)
    if child and sign.present:
        raise _fail(
            "certificates.sign",
            f"must be absent for a holder under {ADULT_AGE} on certificates.issued_at "
            "(no signature certificate is issued to them)",
        )
    auth = _state(certificates, "auth", "valid", issued_at)
    generation = None
    if "generation" in certificates:
        generation = fields.integer_in_range(certificates, "generation", "certificates", 1, 99)
    kind = "card"
    if "token" in certificates:
        kind = _choice(certificates, "token", "certificates", tuple(TOKEN_LABELS))
    policy = None
    if "policy" in certificates:
        policy = _choice(certificates, "policy", "certificates", ("test", "production"))
    certificate_end = None
    if auth.present or sign.present:
        certificate_end = _certificate_end(birth_date, issued_at, renewal)
        for key, state in (("auth", auth), ("sign", sign)):
            if state.revocation is not None and state.revocation[1] > certificate_end:
                raise _fail(
                    f"certificates.{key}",
                    "revocation time must lie within the certificate's validity "
                    f"({_span(issued_at, certificate_end)})",
                )
    ca = _vendor_cas(document, path.parent)
    if ca is not None and generation not in (None, VENDOR_GENERATION):
        raise _fail(
            "certificates.generation",
            f"must be left out or {VENDOR_GENERATION} with [ca] (a vendor CA has one generation)",
        )
    return Description(
        path=path,
        name=name,
        text=text if text is not None else _summary(kind, auth, sign),
        holder=holder,
        location_derived=location_derived,
        auth_pin=_pin(pins, "auth", DEFAULT_AUTH_PIN, _AUTH_PIN, "must be a string of 4 digits"),
        sign_pin=_pin(
            pins, "sign", DEFAULT_SIGN_PIN, _SIGN_PIN, "must be a string of 6-16 of A-Z 0-9"
        ),
        auth_remaining=_remaining(pins, "auth_remaining", AUTH_MAX_TRIES),
        sign_remaining=_remaining(pins, "sign_remaining", SIGN_MAX_TRIES),
        issued_at=issued_at,
        certificate_end=certificate_end,
        generation=generation,
        auth=auth,
        sign=sign,
        token=kind,
        renewal=renewal,
        policy=policy,
        ca=ca,
    )


def _certificate_end(birth_date: dt.date, issued_at: dt.datetime, renewal: bool) -> dt.datetime:
    """notAfter by the birthday rule (the generator's), checked against UTCTime's range."""
    birthdays = RENEWAL_BIRTHDAYS if renewal else DEFAULT_BIRTHDAYS
    not_after = certificate_not_after(birth_date, issued_at, birthdays)
    low, high = UTC_TIME_YEARS
    if not (low <= issued_at.year and not_after.year <= high):
        raise _fail(
            "certificates.issued_at",
            f"the certificates would be valid {_span(issued_at, not_after)}, "
            f"outside {low}-{high} (UTCTime)",
        )
    return not_after


def _summary(token: str, auth: SlotState, sign: SlotState) -> str:
    def state(slot: SlotState) -> str:
        if not slot.present:
            return "absent"
        return "valid" if slot.revocation is None else f"revoked ({slot.revocation[0]})"

    return f"Built from a description: {token} token, auth {state(auth)}, sign {state(sign)}"


def read_description(path: Path) -> Description:
    """Read and validate a description file; raises :class:`DescriptionError`."""
    label = os.fspath(path)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise DescriptionError(f"{label}: cannot read ({error.strerror})") from None
    try:
        document = tomllib.loads(content.decode("utf-8"))
    except UnicodeDecodeError:
        raise DescriptionError(f"{label}: not UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise DescriptionError(f"{label}: not valid TOML: {error}") from None
    try:
        return _parse(path.resolve(), document)
    except FieldError as error:
        raise DescriptionError(f"{label}: {error}") from None


# ------------------------------------------------------------------------------ the CA plan


@dataclass(frozen=True)
class Issuer:
    """The CA generation that issues one slot, as the persona names it."""

    hierarchy: str
    generation: int
    ca_certificate: str  # path relative to the pki folder
    cross_hierarchy: bool = False  # the hierarchy's purpose is the other slot's


@dataclass(frozen=True)
class CaPlan:
    """The ``pki/`` part of the output: the definitions, the CA keys to place, the issuers."""

    hierarchies: bytes  # content of pki/hierarchies.toml
    keys: Mapping[str, bytes]  # path relative to pki/ -> key file content to place there
    issuers: Mapping[Purpose, Issuer]
    ca_serials: frozenset[int]  # end-entity serials must differ from these


def _span(start: dt.datetime, end: dt.datetime) -> str:
    return f"{_toml_datetime(start)} to {_toml_datetime(end)}"


def _unfit(start: dt.datetime, end: dt.datetime, description: Description) -> str | None:
    """Why a CA valid from ``start`` to ``end`` cannot issue the certificates, or None."""
    if not start <= description.issued_at < end:
        return f"is valid {_span(start, end)}, not at certificates.issued_at"
    if description.certificate_end is not None and description.certificate_end > end:
        return (
            f"ends {_toml_datetime(end)}, before the certificates would "
            f"({_toml_datetime(description.certificate_end)}; real CAs never outlive them)"
        )
    return None


def _builtin_hierarchy(hierarchies: Mapping[str, Hierarchy], purpose: Purpose) -> Hierarchy:
    candidates = [h for h in hierarchies.values() if h.purpose == purpose]
    named = [h for h in candidates if h.name == purpose]
    if named:
        return named[0]
    if len(candidates) == 1:
        return candidates[0]
    raise _fail("certificates", f"the built-in PKI has no single '{purpose}' hierarchy")


def _pick_generation(hierarchy: Hierarchy, description: Description) -> int:
    """The named generation, else the newest one valid at issued_at that outlives the certs."""
    numbers = sorted(ca.generation for ca in hierarchy.generations)
    wanted = description.generation
    if wanted is not None:
        if wanted not in numbers:
            available = ", ".join(str(number) for number in numbers)
            raise _fail(
                "certificates.generation",
                f"hierarchy '{hierarchy.name}' has no generation {wanted} (available: {available})",
            )
        ca = hierarchy.generation(wanted)
        problem = _unfit(ca.not_before, ca.not_after, description)
        if problem is not None:
            raise _fail(
                "certificates.generation",
                f"generation {wanted} of hierarchy '{hierarchy.name}' {problem}",
            )
        return wanted
    problems = {
        number: _unfit(ca.not_before, ca.not_after, description)
        for number in numbers
        for ca in [hierarchy.generation(number)]
    }
    fitting = [number for number, problem in problems.items() if problem is None]
    if not fitting:
        reasons = "; ".join(
            f"generation {number} {problem}" for number, problem in problems.items()
        )
        raise _fail(
            "certificates.issued_at",
            f"no generation of hierarchy '{hierarchy.name}' can issue the certificates ({reasons})",
        )
    return fitting[-1]


def _pki_relative(path: Path, pki: Path) -> str:
    try:
        return path.relative_to(pki).as_posix()
    except ValueError:
        raise PkiError(f"{path} lies outside {pki}") from None


def _builtin_plan(description: Description, builtin: Path) -> CaPlan:
    definitions = builtin / HIERARCHIES_FILE
    pki = definitions.parent.resolve()
    hierarchies = load_hierarchies(definitions)
    keys = {
        _pki_relative(ca.private_key, pki): ca.private_key.read_bytes()
        for hierarchy in hierarchies.values()
        for ca in hierarchy.generations
    }
    issuers: dict[Purpose, Issuer] = {}
    for purpose in _PURPOSES:
        hierarchy = _builtin_hierarchy(hierarchies, purpose)
        number = _pick_generation(hierarchy, description)
        certificate = _pki_relative(hierarchy.generation(number).certificate, pki)
        issuers[purpose] = Issuer(hierarchy.name, number, certificate)
    serials = frozenset(ca.serial for h in hierarchies.values() for ca in h.generations)
    return CaPlan(definitions.read_bytes(), keys, issuers, serials)


_VENDOR_POLICIES: Mapping[Purpose, str] = {
    "auth": TEST_AUTH_POLICY_OID,
    "sign": TEST_SIGN_POLICY_OID,
}
_SIGN_ROOT_UNIT = "JPKI for digital signature"  # OU of the real signature roots


def _dn_values(certificate: x509.Certificate) -> tuple[str, str, str]:
    values = jpki_dn_values(certificate.subject)
    if values is None:  # rejected by _check_vendor_ca already
        raise PkiError("vendor CA subject is not JPKI-shaped")
    return values


def _vendor_alt_name(certificate: x509.Certificate) -> tuple[str, str, str]:
    """The root's Japanese alt name: its SAN directoryName if JPKI-shaped, else its subject."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return _dn_values(certificate)
    for name in san.get_values_for_type(x509.DirectoryName):
        values = jpki_dn_values(name)
        if values is not None:
            return values
    return _dn_values(certificate)


@dataclass(frozen=True)
class _VendorHierarchy:
    name: str
    purpose: Purpose
    ca: VendorCa
    field: str  # description field naming the CA
    certificate: str  # the generated twin, relative to pki/


def _vendor_hierarchies(cas: Mapping[Purpose, VendorCa]) -> dict[Purpose, _VendorHierarchy]:
    """Slot -> hierarchy: one per CA key, so that a key is one CA (as load_authorities wants)."""
    if cas["auth"] is cas["sign"]:
        ca = cas["auth"]
        purpose: Purpose = "sign" if _dn_values(ca.certificate)[1] == _SIGN_ROOT_UNIT else "auth"
        shared = _VendorHierarchy("vendor", purpose, ca, "ca", "ca/vendor-ca.der")
        return {"auth": shared, "sign": shared}
    return {
        purpose: _VendorHierarchy(
            f"vendor-{purpose}",
            purpose,
            cas[purpose],
            f"ca.{purpose}",
            f"ca/vendor-{purpose}-ca.der",
        )
        for purpose in _PURPOSES
    }


def _vendor_hierarchy_lines(hierarchy: _VendorHierarchy, pki: Path) -> list[str]:
    certificate = hierarchy.ca.certificate
    subject = _dn_values(certificate)
    alt = _vendor_alt_name(certificate)
    key_file = Path(os.path.relpath(hierarchy.ca.key_path, pki)).as_posix()
    table = f"hierarchies.{hierarchy.name}"
    return [
        "",
        f"[{table}]",
        f'purpose = "{hierarchy.purpose}"',
        f"organization = {_toml_string(subject[0])}",
        f"organizational_unit = {_toml_string(subject[1])}",
        f"agency = {_toml_string(subject[2])}",
        f'policy_oid = "{_VENDOR_POLICIES[hierarchy.purpose]}"',
        "",
        f"[{table}.alt_name]",
        f"organization = {_toml_string(alt[0])}",
        f"organizational_unit = {_toml_string(alt[1])}",
        f"agency = {_toml_string(alt[2])}",
        "",
        f"[[{table}.generations]]",
        f"generation = {VENDOR_GENERATION}",
        f"serial = {certificate.serial_number:#010x}",
        f"not_before = {_toml_datetime(certificate.not_valid_before_utc)}",
        f"not_after = {_toml_datetime(certificate.not_valid_after_utc)}",
        f"private_key = {_toml_string(key_file)}  # the vendor's key, where it lies",
        f'certificate = "{hierarchy.certificate}"',
    ]


def _vendor_plan(description: Description, cas: Mapping[Purpose, VendorCa], out: Path) -> CaPlan:
    pki = out / HIERARCHIES_FILE.parent
    by_slot = _vendor_hierarchies(cas)
    lines = [
        "# CA definitions written by `mynasim personalize --describe` for a vendor CA",
        "# (simulator/personalization/describe.py): one hierarchy per CA key. The generator",
        "# writes a self-signed twin of the vendor root (same DN, key, serial and validity) to",
        "# ca/; the end-entity certificates chain to the vendor's own certificate as well.",
        f'schema = "{PKI_SCHEMA}"',
    ]
    issuers: dict[Purpose, Issuer] = {}
    for slot in _PURPOSES:
        hierarchy = by_slot[slot]
        certificate = hierarchy.ca.certificate
        start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
        problem = _unfit(start, end, description)
        if problem is not None:
            raise _fail("certificates.issued_at", f"the CA of {hierarchy.field} {problem}")
        if slot == "auth" or hierarchy is not by_slot["auth"]:
            lines += _vendor_hierarchy_lines(hierarchy, pki)
        issuers[slot] = Issuer(
            hierarchy.name, VENDOR_GENERATION, hierarchy.certificate, hierarchy.purpose != slot
        )
    serials = frozenset(ca.certificate.serial_number for ca in cas.values())
    return CaPlan(("\n".join(lines) + "\n").encode("utf-8"), {}, issuers, serials)


# -------------------------------------------------------------------------- the persona file


def _digest(name: str, label: str, counter: int = 0) -> bytes:
    return hashlib.sha256(f"mynasim-describe/1\0{name}\0{label}\0{counter}".encode()).digest()


def token_serial(name: str) -> str:
    """16 decimal digits derived from the persona name (the card's identity)."""
    return f"{int.from_bytes(_digest(name, 'token')[:8], 'big') % 10**16:016d}"


def common_name(name: str, purpose: Purpose, municipality_code: str) -> str:
    """23 of 0-9 A-Z like the real CNs: 6 digits, 8 letters, the municipality code, 003A."""
    digest = _digest(name, f"cn-{purpose}")
    digits = int.from_bytes(digest[:4], "big") % 10**6
    letters = "".join(_ALPHABET[byte % len(_ALPHABET)] for byte in digest[4:12])
    return f"{digits:06d}{letters}{municipality_code}003A"


def certificate_serials(name: str, avoid: set[int]) -> dict[Purpose, int]:
    """Distinct 4-byte positive serials for both slots, derived from the name."""
    serials: dict[Purpose, int] = {}
    taken = set(avoid)
    for purpose in _PURPOSES:
        counter = 0
        while True:
            value = int.from_bytes(_digest(name, f"serial-{purpose}", counter)[:4], "big")
            serial = 0x10000000 + value % (MAX_SERIAL - 0x10000000 + 1)
            if serial not in taken:
                break
            counter += 1
        serials[purpose] = serial
        taken.add(serial)
    return serials


def _toml_string(text: str) -> str:
    escaped = []
    for ch in text:
        if ch in '"\\':
            escaped.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            escaped.append(f"\\u{ord(ch):04X}")
        else:
            escaped.append(ch)
    return '"' + "".join(escaped) + '"'


def _toml_datetime(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _slot_lines(
    description: Description, purpose: Purpose, state: SlotState, plan: CaPlan, serial: int
) -> list[str]:
    issuer = plan.issuers[purpose]
    ca_certificate = f"../pki/{issuer.ca_certificate}"
    lines = ["", f"[{purpose}]", f"present = {'true' if state.present else 'false'}"]
    if not state.present:
        return [*lines, f'ca_certificate = "{ca_certificate}"']
    code = str(description.holder["municipality_code"])
    lines += [
        f'certificate = "../pki/ee/{description.name}-{purpose}.der"',
        f'private_key = "../pki/keys/{description.name}-{purpose}.pem"',
        f'ca_certificate = "{ca_certificate}"',
        "",
        f"[{purpose}.issuance]",
        f'hierarchy = "{issuer.hierarchy}"',
        f"generation = {issuer.generation}",
        f"issued_at = {_toml_datetime(description.issued_at)}",
        f"serial = {serial:#010x}",
        f'common_name = "{common_name(description.name, purpose, code)}"',
    ]
    if issuer.cross_hierarchy:
        lines.append("cross_hierarchy = true  # one vendor CA issues both certificates")
    if description.renewal:
        lines.append("renewal = true")
    if description.policy is not None:
        lines.append(f'policy = "{description.policy}"')
    if state.revocation is not None:
        reason, revoked_at = state.revocation
        lines += [
            "",
            f"[{purpose}.revocation]",
            f'reason = "{reason}"',
            f"revoked_at = {_toml_datetime(revoked_at)}",
        ]
    return lines


def render_persona(description: Description, plan: CaPlan, avoid_serials: set[int]) -> str:
    """The persona file (schema ``mynasim-persona/1``) for a description and its CA plan."""
    holder = description.holder
    serials = certificate_serials(description.name, avoid_serials)
    location_note = (
        "" if description.location_derived is None else f"  # {description.location_derived}"
    )
    lines = [
        "# Built by `mynasim personalize --describe` (simulator/personalization/describe.py):",
        "# change the description and rebuild rather than editing this file. Paths are relative",
        "# to this file; certificates are generated from [holder] and the [*.issuance] tables.",
        f'schema = "{PERSONA_SCHEMA}"',
        f'name = "{description.name}"',
        f"description = {_toml_string(description.text)}",
        "",
        "[card]",
        f'atr = "{CARD_ATR}"',
        f'token_label = "{TOKEN_LABELS[description.token]}"',
        f'token_serial = "{token_serial(description.name)}"',
        "",
        "[pins.auth]",
        f'value = "{description.auth_pin}"',
        f"max_tries = {AUTH_MAX_TRIES}",
        f"remaining = {description.auth_remaining}",
        "",
        "[pins.sign]",
        f'value = "{description.sign_pin}"',
        f"max_tries = {SIGN_MAX_TRIES}",
        f"remaining = {description.sign_remaining}",
        "",
        "[holder]",
        f"name = {_toml_string(str(holder['name']))}",
        f"name_substitution = {_toml_string(str(holder['name_substitution']))}",
        f'sex = "{holder["sex"]}"',
        f"birth_date = {holder['birth_date']}",
        f"address = {_toml_string(str(holder['address']))}",
        f"address_substitution = {_toml_string(str(holder['address_substitution']))}",
        f"prefecture_romaji = {_toml_string(str(holder['prefecture_romaji']))}{location_note}",
        f"city_romaji = {_toml_string(str(holder['city_romaji']))}",
        f"municipality_code = {_toml_string(str(holder['municipality_code']))}",
    ]
    for purpose, state in description.slots():
        lines += _slot_lines(description, purpose, state, plan, serials[purpose])
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the build


def _preflight(label: str, plan: CaPlan, persona_text: str, name: str) -> None:
    """Parse the definitions and the persona with the real readers before touching ``out``."""
    with tempfile.TemporaryDirectory(prefix="mynasim-describe-") as temporary:
        root = Path(temporary).resolve()
        definitions = root / HIERARCHIES_FILE
        definitions.parent.mkdir(parents=True)
        definitions.write_bytes(plan.hierarchies)
        persona = root / PERSONAS_DIR / f"{name}.toml"
        persona.parent.mkdir(parents=True)
        persona.write_text(persona_text, encoding="utf-8")
        try:
            load_hierarchies(definitions)
        except PkiError as error:
            message = str(error).replace(str(definitions), HIERARCHIES_FILE.as_posix())
            raise DescriptionError(f"{label}: ca: not usable as a mynasim CA: {message}") from None
        try:
            read_persona_document(persona)
        except PersonaError as error:
            message = str(error).replace(str(persona), f"personas/{name}.toml")
            raise DescriptionError(
                f"{label}: the persona built from it is invalid: {message}"
            ) from None


def _check_existing(label: str, placed: Mapping[Path, bytes], out: Path) -> None:
    """Refuse to replace a different persona, CA definition or CA key already in ``out``."""
    for path, content in placed.items():
        if not path.exists() or path.read_bytes() == content:
            continue
        if path.parent == out / PERSONAS_DIR:
            raise DescriptionError(
                f"{label}: name: {path} already exists and is a different persona "
                "(remove it, or choose another name or output folder)"
            )
        raise DescriptionError(
            f"{label}: ca: {path} already exists with other content (an output folder holds "
            "the personas of one CA definition; choose another output folder)"
        )


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def _existing_serials(out: Path, name: str) -> set[int]:
    """Serials used by the other personas of ``out`` (skipping unreadable ones)."""
    serials: set[int] = set()
    for path in sorted((out / PERSONAS_DIR).glob("*.toml")):
        if path.stem == name:
            continue
        try:
            document = read_persona_document(path)
        except PersonaError:
            continue
        serials.update(slot.issuance.serial for _, slot in document.slots() if slot.issuance)
    return serials


def build_from_description(
    description: Path,
    out: Path,
    *,
    progress: Progress | None = None,
    builtin: Path | None = None,
) -> Path:
    """Build the persona a description file asks for into the fixtures-layout folder ``out``.

    Writes ``out/personas/<name>.toml``, ``out/pki/hierarchies.toml`` (the built-in test PKI,
    or the vendor CA of ``[ca]``), new RSA-2048 keys for the holder and every certificate
    (through :func:`.generate.regenerate` on ``out``), checks that the persona loads, and
    returns the persona file. ``builtin`` is the fixtures tree whose PKI is used without
    ``[ca]`` (default: the one shipped with mynasim). Raises :class:`DescriptionError`; on
    failure the files this call created are removed again.
    """
    report = progress if progress is not None else (lambda line: None)
    label = os.fspath(description)
    parsed = read_description(Path(description))
    out = Path(out).resolve()
    try:
        if parsed.ca is None:
            plan = _builtin_plan(parsed, Path(builtin or fixtures_root()).resolve())
        else:
            plan = _vendor_plan(parsed, parsed.ca, out)
    except FieldError as error:
        raise DescriptionError(f"{label}: {error}") from None
    except (PkiError, OSError) as error:
        raise DescriptionError(f"{label}: ca: cannot read the CA definitions: {error}") from None
    avoid = _existing_serials(out, parsed.name) | plan.ca_serials
    persona_text = render_persona(parsed, plan, avoid)
    _preflight(label, plan, persona_text, parsed.name)

    pki = out / HIERARCHIES_FILE.parent
    persona_path = out / PERSONAS_DIR / f"{parsed.name}.toml"
    placed = {out / HIERARCHIES_FILE: plan.hierarchies}
    placed.update({pki / relative: content for relative, content in plan.keys.items()})
    placed[persona_path] = persona_text.encode("utf-8")
    _check_existing(label, placed, out)

    if parsed.location_derived is not None:
        report(f"holder location: {parsed.location_derived}")
    for purpose, issuer in plan.issuers.items():
        report(f"{purpose}: CA hierarchy '{issuer.hierarchy}' generation {issuer.generation}")
    before = _snapshot(out)
    try:
        for path, content in placed.items():
            if not path.exists():
                _write(path, content)
        new_keys = [
            purpose
            for purpose, state in parsed.slots()
            if state.present and not (pki / "keys" / f"{parsed.name}-{purpose}.pem").exists()
        ]
        if new_keys:
            report(f"generating RSA-{RSA_KEY_BITS} keys for {parsed.name}: {', '.join(new_keys)}")
        regenerate(out, out, allow_new_keys=True, progress=progress)
        load_persona(persona_path)
    except (PersonaError, PkiError, OSError) as error:
        _undo(out, before)
        raise DescriptionError(f"{label}: building the persona failed: {error}") from None
    except BaseException:
        _undo(out, before)
        raise
    report(f"persona ready: {persona_path}")
    return persona_path


def _snapshot(tree: Path) -> set[Path] | None:
    """Every file and folder under ``tree`` (None: ``tree`` does not exist yet)."""
    return set(tree.rglob("*")) if tree.exists() else None


def _undo(tree: Path, before: set[Path] | None) -> None:
    """Remove what a failed build added under ``tree`` (all of it if it created ``tree``)."""
    if before is None:
        shutil.rmtree(tree, ignore_errors=True)
        return
    added = sorted(set(tree.rglob("*")) - before, key=lambda path: len(path.parts), reverse=True)
    for path in added:
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)
