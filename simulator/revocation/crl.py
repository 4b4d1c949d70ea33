"""The CRL server's CRLs (RFC 5280 §5): one full CRL per CA generation, signed by its key.

``/crl/<hierarchy>-g<generation>.crl`` (DER) or ``.pem``. Each CRL has

* issuer = the CA generation's DN, signature sha256WithRSAEncryption by that generation's key
  (the generations share a DN: a relying party tells them apart by the AKI extension or by
  trying keys);
* thisUpdate = now, nextUpdate = now + the interval (1 day by default);
* extensions authorityKeyIdentifier (the CA's key id) and cRLNumber;
* one entry per revocation in effect at thisUpdate, ascending serial, with revocationDate, a
  reasonCode extension (left out for ``unspecified``, as RFC 5280 §5.3.1 asks; absent means
  unspecified) and an invalidityDate extension when the revocation has one. ``certificateHold``
  entries stay listed (a JPKI hold is never released).

The cRLNumber grows by one with every different CRL of that generation; a request that would
produce the same CRL as the previous one (same times, entries and mode, e.g. with a fixed
clock) gets the previous CRL again, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from . import der
from .database import CaRecord, RevocationDatabase, Revoked
from .failures import CrlMode

STALE_BY = dt.timedelta(days=1)  # a stale CRL's nextUpdate lies this long before now
_CRL_NAME = re.compile(
    r"(?P<hierarchy>[A-Za-z0-9_.-]+)-g(?P<generation>[0-9]{1,4})\.(?P<form>crl|pem)"
)


def crl_path(hierarchy: str, generation: int, form: str = "crl") -> str:
    """The path a CA generation's CRL is served at (matches the certificates' CRL URLs)."""
    return f"/crl/{hierarchy}-g{generation}.{form}"


@dataclass(frozen=True)
class IssuedCrl:
    der: bytes
    number: int
    this_update: dt.datetime
    next_update: dt.datetime
    entries: tuple[Revoked, ...]

    def pem(self) -> bytes:
        crl = x509.load_der_x509_crl(self.der)
        return crl.public_bytes(serialization.Encoding.PEM)


class CrlPublisher:
    def __init__(self, database: RevocationDatabase, next_update: dt.timedelta) -> None:
        self.database = database
        self.next_update = next_update
        self._lock = threading.Lock()
        self._numbers: dict[str, int] = {}
        self._last: dict[str, tuple[object, IssuedCrl]] = {}

    def lookup(self, name: str) -> tuple[CaRecord, str] | None:
        """(CA generation, "crl" or "pem") for a file name such as ``auth-g2.crl``."""
        match = _CRL_NAME.fullmatch(name)
        if match is None:
            return None
        ca = self.database.authority(match["hierarchy"], int(match["generation"]))
        return None if ca is None else (ca, match["form"])

    def paths(self) -> list[tuple[CaRecord, str]]:
        return [(ca, crl_path(ca.hierarchy, ca.generation)) for ca in self.database.authorities]

    def crl(self, ca: CaRecord, now: dt.datetime, mode: CrlMode) -> IssuedCrl:
        if mode is CrlMode.STALE:
            this_update = now - self.next_update - STALE_BY
            next_update = now - STALE_BY
        else:
            this_update, next_update = now, now + self.next_update
        entries = tuple(ca.revoked(this_update))
        corrupt = mode is CrlMode.BAD_SIGNATURE
        key = (this_update, next_update, entries, corrupt)
        with self._lock:
            last = self._last.get(ca.key_id)
            if last is not None and last[0] == key:
                return last[1]
            number = self._numbers.get(ca.key_id, 0) + 1
            self._numbers[ca.key_id] = number
            issued = self._build(ca, number, this_update, next_update, entries, corrupt=corrupt)
            self._last[ca.key_id] = (key, issued)
        return issued

    @staticmethod
    def _build(
        ca: CaRecord,
        number: int,
        this_update: dt.datetime,
        next_update: dt.datetime,
        entries: tuple[Revoked, ...],
        *,
        corrupt: bool,
    ) -> IssuedCrl:
        issuer = ca.authority.certificate
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.subject)
            .last_update(this_update)
            .next_update(next_update)
            .add_extension(ca.authority_key_identifier(), critical=False)
            .add_extension(x509.CRLNumber(number), critical=False)
        )
        for entry in entries:
            builder = builder.add_revoked_certificate(_revoked_certificate(entry))
        crl = builder.sign(ca.authority.private_key, hashes.SHA256())
        data = crl.public_bytes(serialization.Encoding.DER)
        if corrupt:
            data = der.corrupt_signature(data, crl.signature)
        return IssuedCrl(data, number, this_update, next_update, entries)


def _revoked_certificate(entry: Revoked) -> x509.RevokedCertificate:
    builder = (
        x509.RevokedCertificateBuilder()
        .serial_number(entry.serial)
        .revocation_date(entry.revoked_at)
    )
    if entry.reason is not x509.ReasonFlags.unspecified:
        builder = builder.add_extension(x509.CRLReason(entry.reason), critical=False)
    if entry.invalidity_date is not None:
        builder = builder.add_extension(x509.InvalidityDate(entry.invalidity_date), critical=False)
    return builder.build()
