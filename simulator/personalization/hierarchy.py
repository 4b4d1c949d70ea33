"""CA definitions of the test PKI: hierarchies and their generations.

The definitions live in a TOML file (``fixtures/pki/hierarchies.toml``, schema
``mynasim-pki/1``): one table per hierarchy holding what all its generations share (purpose,
DN, the Japanese alt name, the end-entity certificate policy) and an array of generations, each
with its own serial, validity, key file and certificate file. Several generations share one DN
and are told apart by key identifier, as in the real JPKI (jpki-pki-and-relying-parties.md §0).
Paths are relative to the definition file.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.x509.oid import NameOID

from . import fields
from .fields import FieldError, Table

Purpose: TypeAlias = Literal["auth", "sign"]

PKI_SCHEMA = "mynasim-pki/1"
MAX_SERIAL = 0x7FFFFFFF  # positive and at most 4 bytes in DER
UTC_TIME_YEARS = (1950, 2049)  # certificates use UTCTime, like the real JPKI ones


class PkiError(ValueError):
    """A CA definition or a key file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class CaGeneration:
    """One key ceremony of a hierarchy: its own key, serial and validity; the hierarchy's DN."""

    hierarchy: str
    generation: int
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    private_key: Path  # absolute path of the PEM (PKCS#8) key
    certificate: Path  # absolute path of the DER certificate the generator writes


@dataclass(frozen=True)
class Hierarchy:
    """A self-signed root DN shared by all generations, and what its end-entity certs carry."""

    name: str
    purpose: Purpose
    organization: str  # O, e.g. "JPKI-TEST"
    organizational_unit: str  # OU, e.g. "JPKI for user authentication"
    agency: str  # second OU, "Japan Agency for Local Authority Information Systems"
    alt_organization: str  # Japanese directoryName used as root SAN and end-entity IAN
    alt_organizational_unit: str
    alt_agency: str
    policy_oid: str  # certificate policy of the end-entity certificates
    generations: tuple[CaGeneration, ...]

    def subject(self) -> x509.Name:
        return _jpki_name(self.organization, self.organizational_unit, self.agency)

    def alt_name(self) -> x509.Name:
        return _jpki_name(self.alt_organization, self.alt_organizational_unit, self.alt_agency)

    def generation(self, number: int) -> CaGeneration:
        for ca in self.generations:
            if ca.generation == number:
                return ca
        raise PkiError(f"hierarchy '{self.name}' has no generation {number}")


def _jpki_name(organization: str, unit: str, agency: str) -> x509.Name:
    # C is encoded as PrintableString, all other attributes as UTF8String (library defaults).
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, agency),
        ]
    )


_HIERARCHY_KEYS = ("purpose", "organization", "organizational_unit", "agency", "policy_oid")
_ALT_NAME_KEYS = ("organization", "organizational_unit", "agency")
_GENERATION_KEYS = ("generation", "serial", "not_before", "not_after", "private_key", "certificate")


def _non_empty(table: Table, key: str, where: str) -> str:
    value = fields.string(table, key, where)
    if not value:
        raise FieldError(f"{fields.field_name(where, key)}: must not be empty")
    return value


def _purpose(table: Table, where: str) -> Purpose:
    value = fields.string(table, "purpose", where)
    if value == "auth":
        return "auth"
    if value == "sign":
        return "sign"
    raise FieldError(f"{fields.field_name(where, 'purpose')}: must be 'auth' or 'sign'")


def _policy_oid(table: Table, where: str) -> str:
    value = fields.string(table, "policy_oid", where)
    try:
        x509.ObjectIdentifier(value)
    except ValueError:
        raise FieldError(
            f"{fields.field_name(where, 'policy_oid')}: must be a dotted OID"
        ) from None
    return value


def _parse_generation(table: Table, where: str, hierarchy: str, base: Path) -> CaGeneration:
    fields.check_keys(table, _GENERATION_KEYS, where)
    ca = CaGeneration(
        hierarchy=hierarchy,
        generation=fields.integer_in_range(table, "generation", where, 1, 99),
        serial=fields.integer_in_range(table, "serial", where, 1, MAX_SERIAL),
        not_before=fields.utc_datetime(table, "not_before", where),
        not_after=fields.utc_datetime(table, "not_after", where),
        private_key=fields.relative_path(table, "private_key", where, base),
        certificate=fields.relative_path(table, "certificate", where, base),
    )
    if ca.not_before >= ca.not_after:
        raise FieldError(f"{where}: not_before must be earlier than not_after")
    for key in ("not_before", "not_after"):
        if not UTC_TIME_YEARS[0] <= getattr(ca, key).year <= UTC_TIME_YEARS[1]:
            raise FieldError(f"{fields.field_name(where, key)}: must lie in 1950-2049 (UTCTime)")
    return ca


def _parse_hierarchy(name: str, table: Table, base: Path) -> Hierarchy:
    where = f"hierarchies.{name}"
    fields.check_keys(table, (*_HIERARCHY_KEYS, "alt_name", "generations"), where)
    alt = fields.sub_table(table, "alt_name", where)
    alt_where = f"{where}.alt_name"
    fields.check_keys(alt, _ALT_NAME_KEYS, alt_where)
    generations = tuple(
        _parse_generation(entry, f"{where}.generations[{index}]", name, base)
        for index, entry in enumerate(fields.table_array(table, "generations", where))
    )
    numbers = [ca.generation for ca in generations]
    if not numbers or len(set(numbers)) != len(numbers):
        raise FieldError(f"{where}.generations: must list each generation number once")
    return Hierarchy(
        name=name,
        purpose=_purpose(table, where),
        organization=_non_empty(table, "organization", where),
        organizational_unit=_non_empty(table, "organizational_unit", where),
        agency=_non_empty(table, "agency", where),
        alt_organization=_non_empty(alt, "organization", alt_where),
        alt_organizational_unit=_non_empty(alt, "organizational_unit", alt_where),
        alt_agency=_non_empty(alt, "agency", alt_where),
        policy_oid=_policy_oid(table, where),
        generations=generations,
    )


def _parse_definitions(document: Table, base: Path) -> dict[str, Hierarchy]:
    fields.check_keys(document, ("schema", "hierarchies"), "")
    if fields.string(document, "schema", "") != PKI_SCHEMA:
        raise FieldError(f"schema: must be '{PKI_SCHEMA}'")
    tables = fields.sub_table(document, "hierarchies", "")
    hierarchies: dict[str, Hierarchy] = {}
    for name in sorted(tables):
        hierarchies[name] = _parse_hierarchy(
            name, fields.sub_table(tables, name, "hierarchies"), base
        )
    outputs = [ca.certificate for h in hierarchies.values() for ca in h.generations]
    if len(set(outputs)) != len(outputs):
        raise FieldError("hierarchies: two CA generations write the same certificate file")
    return hierarchies


def load_hierarchies(path: Path) -> dict[str, Hierarchy]:
    """Read and validate a CA definition file; paths in it are relative to the file."""
    path = path.resolve()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
        return _parse_definitions(document, path.parent)
    except OSError as error:
        raise PkiError(f"{path}: cannot read CA definitions ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise PkiError(f"{path}: not valid TOML: {error}") from None
    except FieldError as error:
        raise PkiError(f"{path}: {error}") from None
