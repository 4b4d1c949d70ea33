"""Personas: what a fresh virtual card is made of (PINs, counters, keys, certificates, ATR).

A persona is a TOML file (schema ``mynasim-persona/1``, see ``fixtures/personas/default.toml``)
naming its PINs and retry counters, the certificate/key/CA files of both JPKI key pairs (paths
relative to the persona file), the card identity (ATR, token label and serial), and the holder
and issuance data the generator (:mod:`.generate`) turns into certificates.

Optional ``[card]`` fields for the interface the card is presented on (issue 9; absent =
the defaults, so a persona without them is served exactly as before):

- ``interface = "contact" | "contactless"`` (default ``"contact"``). Contactless: served
  behind a PC/SC part-3 Type B reader (:mod:`simulator.transport.contactless`): its ATR
  instead of ``atr``, ``FF CA`` answered by the reader, a new random PUPI per insertion.
  ``mynasim serve --interface`` overrides it for a run.
- ``contactless_atr``: the reader's ATR, hex (spaces allowed): one of the four known My
  Number ATRs (:data:`.card_interface.TYPE_B_ATRS`, default the first) or any PC/SC part-3
  Type B ATR (3B 88 80 01, ATQB application data 4, protocol info 3, MBLI byte, right TCK).
- ``latency_ms``: milliseconds (0-60000, fractions allowed) added before each of the
  card's answers on the contactless interface (e.g. near the FWT of the ATR's FWI).
- ``max_command_bytes``: the longest command APDU the reader carries (5-65544; 261 = short
  APDUs only, like a phone without extended length); longer ones get 6700 from the reader.

Optional ``[card]`` behaviour field (issue 16 item 7):

- ``reselect_clears_status = true | false`` (default ``false``). By default re-selecting the
  current application by AID keeps its security status (jpki-card-reference.md section 4.3,
  JICSAP 5.1.3 rule 2); ``true`` brings back the old behaviour, where any application SELECT
  (the same one too) clears it, for software that logs out that way (OpenSC's jpki driver).

:func:`load_persona` validates everything the card uses and is fast (keys are loaded without
the expensive RSA consistency check; the public key is compared with the certificate instead).
Error messages name the file and the field and never contain a PIN or password value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

if TYPE_CHECKING:
    from .card_data import CardInfo
    from .card_info_files import CardInfoSpec
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import fields
from .card_interface import (
    INTERFACES,
    MAX_COMMAND_BYTES,
    MAX_LATENCY_MS,
    TYPE_B_ATRS,
    CardInterface,
    parse_type_b_atr,
)
from .fields import FieldError, Table
from .hierarchy import MAX_SERIAL
from .holder import Holder, parse_holder
from .pki import KNOWN_EXTENSION_OIDS, RSA_KEY_BITS, Issuance, Policy

PERSONA_SCHEMA = "mynasim-persona/1"

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_AUTH_PIN = re.compile(r"[0-9]{4}")
_SIGN_PIN = re.compile(r"[A-Z0-9]{6,16}")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
_AUTH_COMMON_NAME = re.compile(r"[0-9A-Z]{14}([0-9]{5})003A")
_SIGN_COMMON_NAME = re.compile(r"[0-9A-Z]{1,64}")
_PKCS8_PEM_HEADER = b"-----BEGIN PRIVATE KEY-----"
_MAX_TRIES = 15  # a 63Cx status word can report at most 15 remaining tries


class PersonaError(ValueError):
    """A persona file (or a file it references) is missing, malformed or inconsistent.

    The message names the file and the field, and NEVER contains a PIN/password value.
    """


@dataclass(frozen=True)
class PinSpec:
    """A PIN as the card compares it, with its retry limit and the tries left on a fresh card."""

    value: bytes  # ASCII bytes exactly as the card compares them (e.g. b"1234")
    max_tries: int  # retry limit (auth PIN 3, signing password 5)
    remaining: int  # tries left on a fresh card (0 = blocked); 0 <= remaining <= max_tries

    def __repr__(self) -> str:
        return f"PinSpec(value=<redacted>, max_tries={self.max_tries}, remaining={self.remaining})"


REVOCATION_REASONS = (
    x509.ReasonFlags.unspecified,
    x509.ReasonFlags.key_compromise,
    x509.ReasonFlags.ca_compromise,
    x509.ReasonFlags.affiliation_changed,
    x509.ReasonFlags.superseded,
    x509.ReasonFlags.cessation_of_operation,
    x509.ReasonFlags.certificate_hold,
)


@dataclass(frozen=True)
class Revocation:
    """A revoked certificate's CRL/OCSP entry (from ``[auth|sign.revocation]``), times in UTC."""

    reason: x509.ReasonFlags  # one of REVOCATION_REASONS (RFC 5280 CRLReason)
    revoked_at: dt.datetime  # revocationDate; within the certificate's validity
    invalidity_date: dt.datetime | None = None  # RFC 5280 invalidityDate; not after revoked_at


@dataclass(frozen=True)
class KeyPairSpec:
    """One JPKI key pair: end-entity certificate and key (both or neither) and the issuing CA."""

    certificate: bytes | None  # DER; None = the card carries no such certificate
    private_key: rsa.RSAPrivateKey | None  # None exactly when certificate is None
    ca_certificate: bytes  # DER of the issuing CA certificate (EF 000B resp. 0002)
    revocation: Revocation | None = None  # None: not revoked (the card itself ignores it)

    def __repr__(self) -> str:
        certificate = "None" if self.certificate is None else f"<{len(self.certificate)} bytes>"
        key = "None" if self.private_key is None else f"<RSA-{self.private_key.key_size}>"
        revoked = "" if self.revocation is None else f", revocation={self.revocation.reason.value}"
        return (
            f"KeyPairSpec(certificate={certificate}, private_key={key}, "
            f"ca_certificate=<{len(self.ca_certificate)} bytes>{revoked})"
        )


@dataclass(frozen=True)
class Persona:
    """Everything a fresh virtual card is made of."""

    name: str
    description: str
    path: Path  # the persona file it came from (absolute)
    checksum: str  # hex SHA-256 over the persona file and every file it references
    atr: bytes
    token_label: str  # ASCII, <= 32 chars
    token_serial: str  # exactly 16 ASCII chars; the card's identity, unique per persona
    auth_pin: PinSpec  # JPKI user-authentication PIN (EF 0018)
    sign_pin: PinSpec  # JPKI signing password (EF 001B)
    auth: KeyPairSpec  # user-authentication certificate / key 0017 / CA
    sign: KeyPairSpec  # digital-signature certificate / key 001A / CA
    # the card-info applications (issue 5); None: the card carries none (phone tokens).
    # Not in repr: it holds the My Number, which is also a PIN (照合番号A).
    card_info: CardInfo | None = field(default=None, repr=False)
    # [card] interface, contactless_atr, latency_ms, max_command_bytes (issue 9)
    interface: CardInterface = field(default_factory=CardInterface)
    # [card] reselect_clears_status: re-selecting the current application clears its status
    reselect_clears_status: bool = False


# ------------------------------------------------------------------------ persona documents


@dataclass(frozen=True)
class SlotDocument:
    """A ``[auth]`` or ``[sign]`` table: which files make up the key pair, how it was issued."""

    present: bool
    certificate: Path | None
    private_key: Path | None
    ca_certificate: Path
    issuance: Issuance | None  # None: the certificate is not made by the generator
    revocation: Revocation | None = None  # None: not revoked


@dataclass(frozen=True)
class PersonaDocument:
    """A validated persona file before the files it references are read."""

    path: Path
    content: bytes
    name: str
    description: str
    atr: bytes
    token_label: str
    token_serial: str
    auth_pin: PinSpec
    sign_pin: PinSpec
    holder: Holder | None  # required when a slot has issuance data
    auth: SlotDocument
    sign: SlotDocument
    card_info: CardInfoSpec | None = None  # the [card_info] table (issue 5)
    interface: CardInterface = field(default_factory=CardInterface)
    reselect_clears_status: bool = False

    def slots(self) -> tuple[tuple[str, SlotDocument], tuple[str, SlotDocument]]:
        return (("auth", self.auth), ("sign", self.sign))


_TOP_KEYS = (
    "schema", "name", "description", "card", "pins", "holder", "auth", "sign", "card_info",
)  # fmt: skip
_CARD_KEYS = (
    "atr", "token_label", "token_serial",
    "interface", "contactless_atr", "latency_ms", "max_command_bytes",
    "reselect_clears_status",
)  # fmt: skip
_PIN_KEYS = ("value", "max_tries", "remaining")
_SLOT_KEYS = ("present", "certificate", "private_key", "ca_certificate", "issuance", "revocation")
_ISSUANCE_KEYS = (
    "hierarchy",
    "generation",
    "issued_at",
    "serial",
    "common_name",
    "renewal",
    "policy",
    "unknown_critical_extension",
    "cross_hierarchy",
    "not_after",
)
_POLICIES: tuple[Policy, ...] = ("test", "production")
_REVOCATION_KEYS = ("reason", "revoked_at", "invalidity_date")


def _fail(where: str, key: str, rule: str) -> FieldError:
    return FieldError(f"{fields.field_name(where, key)}: {rule}")


def _schema(document: Table) -> None:
    if fields.string(document, "schema", "") != PERSONA_SCHEMA:
        raise _fail("", "schema", f"must be '{PERSONA_SCHEMA}'")


def _persona_name(document: Table) -> str:
    name = fields.string(document, "name", "")
    if not _NAME.fullmatch(name):
        raise _fail("", "name", "must be 1-64 of a-z 0-9 _ - starting with a letter or digit")
    return name


def _atr(card: Table) -> bytes:
    text = "".join(fields.string(card, "atr", "card").split())
    rule = "must be 2-33 hex bytes (spaces allowed) starting with 3B or 3F"
    try:
        atr = bytes.fromhex(text)
    except ValueError:
        raise _fail("card", "atr", rule) from None
    if not 2 <= len(atr) <= 33 or atr[0] not in (0x3B, 0x3F):
        raise _fail("card", "atr", rule)
    return atr


def _token_label(card: Table) -> str:
    label = fields.string(card, "token_label", "card")
    if not _PRINTABLE_ASCII.fullmatch(label) or not 1 <= len(label) <= 32 or label.endswith(" "):
        raise _fail("card", "token_label", "must be 1-32 printable ASCII characters")
    return label


def _token_serial(card: Table) -> str:
    serial = fields.string(card, "token_serial", "card")
    if not _PRINTABLE_ASCII.fullmatch(serial) or len(serial) != 16:
        raise _fail("card", "token_serial", "must be exactly 16 printable ASCII characters")
    return serial


def _card_interface(card: Table) -> CardInterface:
    """The optional interface fields of ``[card]``; absent ones keep CardInterface's defaults
    (contact, the first of TYPE_B_ATRS, no latency, no command cap)."""
    text = fields.string(card, "interface", "card") if "interface" in card else "contact"
    kinds = [kind for kind in INTERFACES if kind == text]
    if not kinds:
        raise _fail("card", "interface", "must be 'contact' or 'contactless'")
    atr = TYPE_B_ATRS[0]
    if "contactless_atr" in card:
        text = "".join(fields.string(card, "contactless_atr", "card").split())
        try:
            atr = bytes.fromhex(text)
            parse_type_b_atr(atr)
        except ValueError as error:
            known = "; ".join(known.hex(" ").upper() for known in TYPE_B_ATRS)
            raise _fail(
                "card", "contactless_atr", f"must be hex ({error}); the known ones: {known}"
            ) from None
    latency = 0.0
    if "latency_ms" in card:
        value = card["latency_ms"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail("card", "latency_ms", "must be a number of milliseconds")
        if not 0 <= value <= MAX_LATENCY_MS:
            raise _fail("card", "latency_ms", f"must be 0-{MAX_LATENCY_MS} (milliseconds)")
        latency = value / 1000
    max_command = None
    if "max_command_bytes" in card:
        max_command = fields.integer_in_range(
            card, "max_command_bytes", "card", 5, MAX_COMMAND_BYTES
        )
    return CardInterface(kinds[0], atr, latency, max_command)


def _pin(pins: Table, key: str, pattern: re.Pattern[str], rule: str) -> PinSpec:
    where = f"pins.{key}"
    table = fields.sub_table(pins, key, "pins")
    fields.check_keys(table, _PIN_KEYS, where)
    value = fields.string(table, "value", where)  # type errors name the type, not the value
    if not pattern.fullmatch(value):
        raise _fail(where, "value", rule)
    max_tries = fields.integer_in_range(table, "max_tries", where, 1, _MAX_TRIES)
    remaining = fields.integer_in_range(table, "remaining", where, 0, max_tries)
    return PinSpec(value=value.encode("ascii"), max_tries=max_tries, remaining=remaining)


def _policy(table: Table, where: str) -> Policy:
    value = fields.string(table, "policy", where) if "policy" in table else "test"
    for policy in _POLICIES:
        if value == policy:
            return policy
    raise _fail(where, "policy", "must be 'test' or 'production'")


def _extension_oid(table: Table, where: str) -> str | None:
    key = "unknown_critical_extension"
    value = fields.optional_string(table, key, where)
    if value is None:
        return None
    try:
        oid = x509.ObjectIdentifier(value)
    except ValueError:
        raise _fail(where, key, "must be a dotted OID such as 2.999.1") from None
    if oid in KNOWN_EXTENSION_OIDS:
        raise _fail(where, key, "must not be an extension that X.509 libraries know")
    return oid.dotted_string


def _issuance(table: Table, where: str, common_name: re.Pattern[str], rule: str) -> Issuance:
    fields.check_keys(table, _ISSUANCE_KEYS, where)
    hierarchy = fields.string(table, "hierarchy", where)
    if not hierarchy:
        raise _fail(where, "hierarchy", "must not be empty")
    name = fields.string(table, "common_name", where)
    if not common_name.fullmatch(name):
        raise _fail(where, "common_name", rule)
    issuance = Issuance(
        hierarchy=hierarchy,
        generation=fields.integer_in_range(table, "generation", where, 1, 99),
        issued_at=fields.utc_datetime(table, "issued_at", where),
        serial=fields.integer_in_range(table, "serial", where, 1, MAX_SERIAL),
        common_name=name,
        renewal=fields.optional_boolean(table, "renewal", where),
        policy=_policy(table, where),
        unknown_critical_extension=_extension_oid(table, where),
        cross_hierarchy=fields.optional_boolean(table, "cross_hierarchy", where),
        not_after=fields.optional_utc_datetime(table, "not_after", where),
    )
    if issuance.not_after is not None and issuance.not_after < issuance.issued_at:
        raise _fail(where, "not_after", "must not be earlier than issued_at (notBefore)")
    return issuance


def _revocation(table: Table, where: str) -> Revocation:
    fields.check_keys(table, _REVOCATION_KEYS, where)
    text = fields.string(table, "reason", where)
    reasons = {reason.value: reason for reason in REVOCATION_REASONS}
    if text not in reasons:
        raise _fail(where, "reason", f"must be one of {', '.join(reasons)}")
    revocation = Revocation(
        reason=reasons[text],
        revoked_at=fields.utc_datetime(table, "revoked_at", where),
        invalidity_date=fields.optional_utc_datetime(table, "invalidity_date", where),
    )
    if (
        revocation.invalidity_date is not None
        and revocation.invalidity_date > revocation.revoked_at
    ):
        raise _fail(where, "invalidity_date", "must not be after revoked_at")
    return revocation


_CN_RULES = {
    "auth": (
        _AUTH_COMMON_NAME,
        "must be 23 of 0-9 A-Z ending with the 5-digit municipality code and 003A",
    ),
    "sign": (_SIGN_COMMON_NAME, "must be 1-64 of 0-9 A-Z"),
}


def _slot(document: Table, key: str, base: Path) -> SlotDocument:
    table = fields.sub_table(document, key, "")
    fields.check_keys(table, _SLOT_KEYS, key)
    present = fields.boolean(table, "present", key)
    ca_certificate = fields.relative_path(table, "ca_certificate", key, base)
    if not present:
        for extra in ("certificate", "private_key", "issuance", "revocation"):
            if extra in table:
                raise _fail(key, extra, "must be absent when present = false")
        return SlotDocument(False, None, None, ca_certificate, None)
    issuance_table = fields.optional_sub_table(table, "issuance", key)
    issuance = None
    if issuance_table is not None:
        issuance = _issuance(issuance_table, f"{key}.issuance", *_CN_RULES[key])
    revocation_table = fields.optional_sub_table(table, "revocation", key)
    revocation = None
    if revocation_table is not None:
        revocation = _revocation(revocation_table, f"{key}.revocation")
    return SlotDocument(
        present=True,
        certificate=fields.relative_path(table, "certificate", key, base),
        private_key=fields.relative_path(table, "private_key", key, base),
        ca_certificate=ca_certificate,
        issuance=issuance,
        revocation=revocation,
    )


def _check_issuance_against_holder(document: PersonaDocument) -> None:
    for key, slot in document.slots():
        if slot.issuance is None:
            continue
        where = f"{key}.issuance"
        if document.holder is None:
            raise FieldError(f"holder: required because {where} asks for a certificate")
        if slot.issuance.issued_at.date() <= document.holder.birth_date:
            raise _fail(where, "issued_at", "must be after holder.birth_date")
        code = document.holder.municipality_code
        if key == "auth" and not slot.issuance.common_name.endswith(f"{code}003A"):
            raise _fail(where, "common_name", "must end with holder.municipality_code + 003A")
        if slot.revocation is not None and slot.revocation.revoked_at < slot.issuance.issued_at:
            raise _fail(f"{key}.revocation", "revoked_at", f"must not be before {where}.issued_at")


def _parse_document(path: Path, content: bytes, document: Table) -> PersonaDocument:
    fields.check_keys(document, _TOP_KEYS, "")
    _schema(document)
    card = fields.sub_table(document, "card", "")
    fields.check_keys(card, _CARD_KEYS, "card")
    pins = fields.sub_table(document, "pins", "")
    fields.check_keys(pins, ("auth", "sign"), "pins")
    holder = fields.optional_sub_table(document, "holder", "")
    parsed = PersonaDocument(
        path=path,
        content=content,
        name=_persona_name(document),
        description=fields.string(document, "description", ""),
        atr=_atr(card),
        token_label=_token_label(card),
        token_serial=_token_serial(card),
        interface=_card_interface(card),
        reselect_clears_status=fields.optional_boolean(card, "reselect_clears_status", "card"),
        auth_pin=_pin(pins, "auth", _AUTH_PIN, "must be exactly 4 ASCII digits"),
        sign_pin=_pin(pins, "sign", _SIGN_PIN, "must be 6-16 characters of A-Z 0-9"),
        holder=None if holder is None else parse_holder(holder),
        auth=_slot(document, "auth", path.parent),
        sign=_slot(document, "sign", path.parent),
        card_info=_card_info(document, path.parent),
    )
    _check_issuance_against_holder(parsed)
    if parsed.card_info is not None and parsed.holder is None:
        raise FieldError("card_info: needs a [holder] table (name, address, birth date, sex)")
    return parsed


def _card_info(document: Table, base: Path) -> CardInfoSpec | None:
    table = fields.optional_sub_table(document, "card_info", "")
    if table is None:
        return None
    from .card_info_files import parse_card_info

    return parse_card_info(table, base)


def read_persona_document(path: Path) -> PersonaDocument:
    """Read and validate a persona file without opening the files it references."""
    path = path.resolve()
    try:
        content = path.read_bytes()
    except OSError as error:
        raise PersonaError(f"{path}: cannot read persona file ({error.strerror})") from None
    try:
        document = tomllib.loads(content.decode("utf-8"))
    except UnicodeDecodeError:
        raise PersonaError(f"{path}: persona file is not UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise PersonaError(f"{path}: invalid TOML: {error}") from None
    try:
        return _parse_document(path, content, document)
    except FieldError as error:
        raise PersonaError(f"{path}: {error}") from None


# ------------------------------------------------------------------------ referenced files


def _read(path: Path, persona: Path, field: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise PersonaError(f"{persona}: {field}: cannot read {path} ({error.strerror})") from None


def _certificate(
    data: bytes, persona: Path, field: str
) -> tuple[x509.Certificate, rsa.RSAPublicKey]:
    """The parsed certificate and its public key, which must be RSA-2048."""
    try:
        certificate = x509.load_der_x509_certificate(data)
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise PersonaError(f"{persona}: {field}: not a DER X.509 certificate") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != RSA_KEY_BITS:
        raise PersonaError(f"{persona}: {field}: certificate key must be RSA-{RSA_KEY_BITS}")
    return certificate, key


def _check_revocation(
    revocation: Revocation | None, certificate: x509.Certificate, persona: Path, key: str
) -> None:
    """A certificate can only be revoked while it is valid (revocationDate within validity)."""
    if revocation is None:
        return
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if not start <= revocation.revoked_at <= end:
        raise PersonaError(
            f"{persona}: {key}.revocation.revoked_at: must lie within the validity of "
            f"{key}.certificate ({start.isoformat()} to {end.isoformat()})"
        )


def _private_key(data: bytes, persona: Path, field: str) -> rsa.RSAPrivateKey:
    problem = f"{persona}: {field}: must be an unencrypted PKCS#8 PEM RSA-{RSA_KEY_BITS} key"
    if not data.lstrip().startswith(_PKCS8_PEM_HEADER):
        raise PersonaError(problem)
    try:
        key = serialization.load_pem_private_key(data, None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise PersonaError(problem) from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != RSA_KEY_BITS:
        raise PersonaError(problem)
    return key


def _key_pair(
    slot: SlotDocument, key: str, persona: Path, parts: list[bytes | None]
) -> KeyPairSpec:
    """Read and check one slot's files; appends their bytes to ``parts`` in checksum order."""
    ca = _read(slot.ca_certificate, persona, f"{key}.ca_certificate")
    _certificate(ca, persona, f"{key}.ca_certificate")
    if slot.certificate is None or slot.private_key is None:
        parts.extend([None, None, ca])
        return KeyPairSpec(certificate=None, private_key=None, ca_certificate=ca)
    certificate = _read(slot.certificate, persona, f"{key}.certificate")
    parsed, public_key = _certificate(certificate, persona, f"{key}.certificate")
    pem = _read(slot.private_key, persona, f"{key}.private_key")
    private_key = _private_key(pem, persona, f"{key}.private_key")
    if private_key.public_key().public_numbers() != public_key.public_numbers():
        raise PersonaError(
            f"{persona}: {key}.private_key: does not match the public key of {key}.certificate"
        )
    _check_revocation(slot.revocation, parsed, persona, key)
    parts.extend([certificate, pem, ca])
    return KeyPairSpec(
        certificate=certificate,
        private_key=private_key,
        ca_certificate=ca,
        revocation=slot.revocation,
    )


def persona_checksum(parts: list[bytes | None]) -> str:
    """SHA-256 over the parts in order, each framed as an 8-byte big-endian length and the bytes.

    The order is: persona file, auth certificate, auth key, auth CA certificate, sign
    certificate, sign key, sign CA certificate. An absent file is framed as eight 0xFF bytes.
    """
    digest = hashlib.sha256()
    for part in parts:
        if part is None:
            digest.update(b"\xff" * 8)
        else:
            digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------- lookup

_SIMULATOR_DIR = Path(__file__).resolve().parent.parent


def fixtures_root() -> Path:
    """``simulator/_fixtures`` in an installed wheel, else the repository's ``fixtures/``."""
    installed = _SIMULATOR_DIR / "_fixtures"
    return installed if installed.is_dir() else _SIMULATOR_DIR.parent / "fixtures"


def builtin_personas() -> list[str]:
    """Sorted names of the persona files shipped in ``fixtures_root()/personas``."""
    return sorted(path.stem for path in (fixtures_root() / "personas").glob("*.toml"))


def _resolve(ref: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """The persona file for ``ref``, and the built-in name if ``ref`` named one."""
    builtins = builtin_personas()
    if isinstance(ref, str) and ref in builtins:
        return fixtures_root() / "personas" / f"{ref}.toml", ref
    path = Path(ref)
    if path.is_file():
        return path, None
    known = ", ".join(builtins) or "none installed"
    raise PersonaError(
        f"unknown persona '{os.fspath(ref)}': not a file and not one of the built-in personas "
        f"({known})"
    )


def load_persona(ref: str | os.PathLike[str]) -> Persona:
    """Load a built-in persona by name (``"default"``) or a persona file by path."""
    path, builtin = _resolve(ref)
    document = read_persona_document(path)
    if builtin is not None and document.name != builtin:
        raise PersonaError(f"{document.path}: name: must equal the file name '{builtin}'")
    parts: list[bytes | None] = [document.content]
    auth = _key_pair(document.auth, "auth", document.path, parts)
    sign = _key_pair(document.sign, "sign", document.path, parts)
    card_info = None
    if document.card_info is not None and document.holder is not None:
        from .card_info_files import load_card_info

        root = document.path.parent.parent
        card_info = load_card_info(document.name, document.holder, document.card_info, root, parts)
    return Persona(
        name=document.name,
        description=document.description,
        path=document.path,
        checksum=persona_checksum(parts),
        atr=document.atr,
        token_label=document.token_label,
        token_serial=document.token_serial,
        auth_pin=document.auth_pin,
        sign_pin=document.sign_pin,
        auth=auth,
        sign=sign,
        card_info=card_info,
        interface=document.interface,
        reselect_clears_status=document.reselect_clears_status,
    )
