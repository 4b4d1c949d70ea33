"""What the revocation services know: our CA generations, the certificates they issued, and
which of those are revoked since when.

The database is built from plain lists (any objects shaped like
:class:`simulator.personalization.CertificateAuthority` and
:class:`simulator.personalization.IssuedCertificate`; :meth:`RevocationDatabase.from_fixtures`
reads them from a fixtures tree). It answers by (issuer, serial), where the issuer is always
identified by its key: the three generations of a JPKI hierarchy share one DN
(jpki-pki-and-relying-parties.md §0, §5.5), so a DN alone never picks a CA.

Status at an instant ``at``:

* ``GOOD``: issued by that CA and not revoked, or revoked only after ``at`` (not in effect yet);
* ``REVOKED``: revoked at or before ``at``, with its reason (``certificateHold`` included: a JPKI
  hold is never released, §1.7) and revocation time;
* ``UNKNOWN``: the CA never issued that serial as far as the fixtures tell.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.ocsp import OCSPCertStatus

from .clock import to_utc
from .der import public_key_bits

# CertID hash algorithms a request may use (RFC 6960 clients use SHA-1; newer ones SHA-256).
CERT_ID_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class RevocationDataError(ValueError):
    """The authorities and certificates handed to the database are inconsistent."""


# -- what the database is built from (the personalization catalogue's shapes) ----------------


class RevocationRecord(Protocol):
    @property
    def reason(self) -> x509.ReasonFlags: ...
    @property
    def revoked_at(self) -> dt.datetime: ...
    @property
    def invalidity_date(self) -> dt.datetime | None: ...


class Authority(Protocol):
    @property
    def hierarchy(self) -> str: ...
    @property
    def generation(self) -> int: ...
    @property
    def certificate(self) -> x509.Certificate: ...
    @property
    def private_key(self) -> rsa.RSAPrivateKey: ...


class Issued(Protocol):
    @property
    def persona(self) -> str: ...
    @property
    def slot(self) -> str: ...
    @property
    def certificate(self) -> x509.Certificate: ...
    @property
    def issuer(self) -> Authority: ...
    @property
    def revocation(self) -> RevocationRecord | None: ...


# -- what the database answers ----------------------------------------------------------------


@dataclass(frozen=True)
class Revoked:
    """A revocation as the services publish it (UTC, whole seconds)."""

    serial: int
    reason: x509.ReasonFlags
    revoked_at: dt.datetime
    invalidity_date: dt.datetime | None


@dataclass(frozen=True)
class Status:
    cert_status: OCSPCertStatus
    revocation: Revoked | None = None  # set exactly when cert_status is REVOKED


GOOD = Status(OCSPCertStatus.GOOD)
UNKNOWN = Status(OCSPCertStatus.UNKNOWN)


@dataclass(frozen=True)
class CertificateEntry:
    persona: str
    slot: str
    certificate: x509.Certificate
    revocation: Revoked | None


class CaRecord:
    """One CA generation with its certificates, indexed by serial."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self.key_bits = public_key_bits(authority.certificate)
        self.key_id = hashlib.sha256(self.key_bits).hexdigest()
        self.name_der = authority.certificate.subject.public_bytes()
        self._cert_ids = {
            name: (_digest(algorithm(), self.name_der), _digest(algorithm(), self.key_bits))
            for name, algorithm in CERT_ID_HASHES.items()
        }
        self.entries: dict[int, CertificateEntry] = {}

    @property
    def hierarchy(self) -> str:
        return self.authority.hierarchy

    @property
    def generation(self) -> int:
        return self.authority.generation

    @property
    def label(self) -> str:
        return f"{self.hierarchy} generation {self.generation}"

    def authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        """The AKI of what this CA signs: its key id (the SKI of its certificate)."""
        certificate = self.authority.certificate
        try:
            ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        except x509.ExtensionNotFound:
            return x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.authority.private_key.public_key()
            )
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)

    def cert_id_hashes(self, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes] | None:
        """(issuerNameHash, issuerKeyHash) of this CA in a CertID hashed with ``algorithm``."""
        return self._cert_ids.get(algorithm.name)

    def status(self, serial: int, at: dt.datetime) -> Status:
        entry = self.entries.get(serial)
        if entry is None:
            return UNKNOWN
        revocation = entry.revocation
        if revocation is None or revocation.revoked_at > to_utc(at):
            return GOOD
        return Status(OCSPCertStatus.REVOKED, revocation)

    def revoked(self, at: dt.datetime) -> list[Revoked]:
        """Revocations in effect at ``at``, by serial (what a CRL issued at ``at`` lists)."""
        moment = to_utc(at)
        return sorted(
            (
                entry.revocation
                for entry in self.entries.values()
                if entry.revocation is not None and entry.revocation.revoked_at <= moment
            ),
            key=lambda revoked: revoked.serial,
        )


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()


def _published(serial: int, record: RevocationRecord, where: str) -> Revoked:
    if record.reason == x509.ReasonFlags.remove_from_crl:
        raise RevocationDataError(f"{where}: removeFromCRL belongs in delta CRLs, not a status")
    invalidity = record.invalidity_date
    return Revoked(
        serial=serial,
        reason=record.reason,
        revoked_at=to_utc(record.revoked_at),
        invalidity_date=None if invalidity is None else to_utc(invalidity),
    )


class RevocationDatabase:
    """Certificate status by (issuer key, serial), for the OCSP responder and the CRL server.

    Immutable after construction, so the HTTP threads read it without a lock.
    """

    def __init__(self, authorities: Sequence[Authority], issued: Iterable[Issued] = ()) -> None:
        self._cas: list[CaRecord] = []
        by_key: dict[str, CaRecord] = {}
        for authority in authorities:
            record = CaRecord(authority)
            if record.key_id in by_key:
                raise RevocationDataError(
                    f"{record.label} has the same key as {by_key[record.key_id].label}"
                )
            if self.authority(record.hierarchy, record.generation) is not None:
                raise RevocationDataError(f"{record.label} is listed twice")
            by_key[record.key_id] = record
            self._cas.append(record)
        self._by_key = by_key
        for certificate in issued:
            self._add(certificate)

    def _add(self, issued: Issued) -> None:
        where = f"persona {issued.persona!r}, {issued.slot} certificate"
        ca = self._by_key.get(
            hashlib.sha256(public_key_bits(issued.issuer.certificate)).hexdigest()
        )
        if ca is None:
            raise RevocationDataError(f"{where}: its issuer is not among the CA generations")
        serial = issued.certificate.serial_number
        if serial in ca.entries:
            other = ca.entries[serial]
            raise RevocationDataError(
                f"{where}: serial {serial:#x} of {ca.label} is also persona "
                f"{other.persona!r}'s {other.slot} certificate"
            )
        revocation = None
        if issued.revocation is not None:
            revocation = _published(serial, issued.revocation, where)
        ca.entries[serial] = CertificateEntry(
            issued.persona, issued.slot, issued.certificate, revocation
        )

    @classmethod
    def from_fixtures(
        cls, root: Path, personas: Sequence[Path] | None = None
    ) -> RevocationDatabase:
        """The CA generations of ``root``'s test PKI and the certificates of its personas
        (``personas`` as :func:`simulator.personalization.issued_certificates` takes them)."""
        from simulator.personalization import issued_certificates, load_authorities

        authorities = load_authorities(root)
        extra = None if personas is None else list(personas)
        return cls(authorities, issued_certificates(root, extra))

    # -- queries ----------------------------------------------------------------------------

    @property
    def authorities(self) -> list[CaRecord]:
        return list(self._cas)

    def authority(self, hierarchy: str, generation: int) -> CaRecord | None:
        for ca in self._cas:
            if ca.hierarchy == hierarchy and ca.generation == generation:
                return ca
        return None

    def find_issuer(
        self, algorithm: hashes.HashAlgorithm, name_hash: bytes, key_hash: bytes
    ) -> CaRecord | None:
        """The CA a CertID names: its key hash AND its name hash must match (a DN is shared)."""
        for ca in self._cas:
            if ca.cert_id_hashes(algorithm) == (name_hash, key_hash):
                return ca
        return None

    def status(self, ca: CaRecord, serial: int, at: dt.datetime) -> Status:
        return ca.status(serial, at)

    def certificate_count(self) -> int:
        return sum(len(ca.entries) for ca in self._cas)
