"""Regenerate the test PKI files of a fixtures tree, and check that committed files are current.

Layout under ``root`` (the repository's ``fixtures/`` or a user's copy of it):

* ``pki/hierarchies.toml`` - CA definitions (:mod:`.hierarchy`), paths relative to it;
* ``personas/*.toml`` - personas (:mod:`.persona`), paths relative to each file;
* the private keys those files name (committed PEM; RSA keys cannot be made deterministically).

:func:`regenerate` writes every CA certificate and every end-entity certificate that has
issuance data. Besides the persona parser's checks it refuses: an issuer of the wrong purpose
(unless ``cross_hierarchy = true``, which then requires the other purpose), a ``ca_certificate``
that is not the issuer's file, an issue instant outside the CA's validity, a serial the CA has
already used, a birthday-rule notAfter beyond the CA's notAfter (real CAs never outlive their
certificates; an explicit ``not_after`` may, deliberately), and a revocation after notAfter.

The output depends only on keys and definitions (fixed dates and serials,
deterministic PKCS#1 v1.5 signatures), so a rerun is byte-identical and :func:`check` can
compare a fresh run with the committed files.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from .hierarchy import CaGeneration, Hierarchy, PkiError, load_hierarchies
from .persona import PersonaDocument, PersonaError, SlotDocument, read_persona_document
from .pki import (
    RSA_KEY_BITS,
    RSA_PUBLIC_EXPONENT,
    Issuance,
    IssuingCa,
    build_auth_certificate,
    build_ca_certificate,
    build_sign_certificate,
    end_entity_not_after,
)

Progress = Callable[[str], None]

HIERARCHIES_FILE = Path("pki") / "hierarchies.toml"
PERSONAS_DIR = Path("personas")
_CREATED_KEY = "created new key"


def _relative(path: Path, root: Path, owner: str) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:
        raise PkiError(f"{owner}: {path} lies outside the fixtures root {root}") from None


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, target)


@functools.lru_cache(maxsize=256)
def _validated_key(pem: bytes) -> PrivateKeyTypes:
    """The key with the full (slow, ~35 ms for RSA-2048) consistency check, once per content."""
    return serialization.load_pem_private_key(pem, password=None)


@dataclass
class _KeyStore:
    """Private keys read from ``root``; missing ones are created under ``out`` only if allowed."""

    root: Path
    out: Path
    allow_new_keys: bool
    report: Progress
    cache: dict[Path, rsa.RSAPrivateKey] = field(default_factory=dict)
    created: list[Path] = field(default_factory=list)

    def load(self, path: Path, owner: str) -> rsa.RSAPrivateKey:
        if path not in self.cache:
            self.cache[path] = (
                self._read(path, owner) if path.is_file() else self._create(path, owner)
            )
        return self.cache[path]

    def _read(self, path: Path, owner: str) -> rsa.RSAPrivateKey:
        try:
            key = _validated_key(path.read_bytes())
        except (OSError, ValueError, TypeError) as error:
            raise PkiError(f"{owner}: cannot load private key {path}: {error}") from None
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != RSA_KEY_BITS:
            raise PkiError(f"{owner}: {path} is not an RSA-{RSA_KEY_BITS} private key")
        return key

    def _create(self, path: Path, owner: str) -> rsa.RSAPrivateKey:
        relative = _relative(path, self.root, owner)
        if not self.allow_new_keys:
            raise PkiError(
                f"{owner}: private key {relative.as_posix()} is missing "
                "(pass allow_new_keys=True to create a new one)"
            )
        key = rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=RSA_KEY_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_atomically(self.out / relative, pem)
        self.created.append(self.out / relative)
        self.report(f"{_CREATED_KEY} {relative.as_posix()}")
        return key


@dataclass
class _Run:
    """State of one regeneration: where files go, what was written, which CAs exist."""

    root: Path
    out: Path
    report: Progress
    keys: _KeyStore
    written: dict[Path, str] = field(default_factory=dict)  # output path -> who wrote it
    issuers: dict[tuple[str, int], IssuingCa] = field(default_factory=dict)
    serials: dict[tuple[str, int], set[int]] = field(default_factory=dict)

    def write(self, path: Path, data: bytes, owner: str) -> None:
        relative = _relative(path, self.root, owner)
        target = self.out / relative
        if target in self.written:
            raise PkiError(
                f"{owner}: {relative.as_posix()} is also written by {self.written[target]}"
            )
        _write_atomically(target, data)
        self.written[target] = owner
        self.report(f"wrote {relative.as_posix()}")


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _issue_ca(run: _Run, hierarchy: Hierarchy, ca: CaGeneration, owner: str) -> None:
    key = run.keys.load(ca.private_key, owner)
    certificate = build_ca_certificate(hierarchy, ca, key)
    run.write(ca.certificate, _der(certificate), owner)
    run.issuers[(hierarchy.name, ca.generation)] = IssuingCa(hierarchy, ca, certificate, key)
    run.serials[(hierarchy.name, ca.generation)] = set()


def _issuer_for(
    run: _Run, document: PersonaDocument, key: str, slot: SlotDocument, issuance: Issuance
) -> IssuingCa:
    where = f"{document.path}: {key}.issuance"
    issuer = run.issuers.get((issuance.hierarchy, issuance.generation))
    if issuer is None:
        raise PersonaError(
            f"{where}: no CA generation {issuance.generation} in hierarchy "
            f"'{issuance.hierarchy}' ({HIERARCHIES_FILE.as_posix()})"
        )
    purpose = issuer.hierarchy.purpose
    if purpose != key and not issuance.cross_hierarchy:
        raise PersonaError(
            f"{where}.hierarchy: is a '{purpose}' hierarchy (set cross_hierarchy = true to "
            f"issue the {key} certificate from it deliberately)"
        )
    if purpose == key and issuance.cross_hierarchy:
        raise PersonaError(
            f"{where}.cross_hierarchy: hierarchy '{issuance.hierarchy}' is a '{key}' hierarchy; "
            "cross_hierarchy = true needs the other purpose's hierarchy"
        )
    if slot.ca_certificate != issuer.generation.certificate:
        raise PersonaError(f"{document.path}: {key}.ca_certificate: is not the issuing CA's file")
    if not issuer.generation.not_before <= issuance.issued_at < issuer.generation.not_after:
        raise PersonaError(f"{where}.issued_at: outside the issuing CA's validity")
    serials = run.serials[(issuance.hierarchy, issuance.generation)]
    if issuance.serial in serials or issuance.serial == issuer.generation.serial:
        raise PersonaError(f"{where}.serial: already used by this CA")
    serials.add(issuance.serial)
    return issuer


def _issue_end_entities(run: _Run, document: PersonaDocument) -> None:
    for key, slot in document.slots():
        issuance = slot.issuance
        if issuance is None or slot.certificate is None or slot.private_key is None:
            continue
        if document.holder is None:  # rejected by the persona parser already
            raise PersonaError(f"{document.path}: holder: required for {key}.issuance")
        owner = f"{document.path} [{key}]"
        issuer = _issuer_for(run, document, key, slot, issuance)
        public_key = run.keys.load(slot.private_key, owner).public_key()
        build = build_auth_certificate if key == "auth" else build_sign_certificate
        try:
            certificate = build(issuer, document.holder, issuance, public_key)
        except PkiError as error:  # e.g. a validity that UTCTime cannot express
            raise PersonaError(f"{document.path}: {key}.issuance: {error}") from None
        _check_validity(
            document, key, slot, issuer, end_entity_not_after(document.holder, issuance)
        )
        run.write(slot.certificate, _der(certificate), owner)


def _check_validity(
    document: PersonaDocument,
    key: str,
    slot: SlotDocument,
    issuer: IssuingCa,
    not_after: dt.datetime,
) -> None:
    issuance = slot.issuance
    ca_end = issuer.generation.not_after
    if issuance is not None and issuance.not_after is None and not_after > ca_end:
        raise PersonaError(
            f"{document.path}: {key}.issuance.issued_at: the certificate would end "
            f"{not_after.isoformat()}, after its CA '{issuance.hierarchy}' generation "
            f"{issuance.generation} ({ca_end.isoformat()}); issue it from a later generation "
            "(or set not_after deliberately)"
        )
    if slot.revocation is not None and slot.revocation.revoked_at > not_after:
        raise PersonaError(
            f"{document.path}: {key}.revocation.revoked_at: after the certificate's notAfter "
            f"({not_after.isoformat()})"
        )


def _quiet(line: str) -> None:
    """Progress when none is given: silent, but a newly created key is always announced."""
    if line.startswith(_CREATED_KEY):
        print(line, file=sys.stderr)


def _issue_card_info(run: _Run, document: PersonaDocument) -> None:
    """The card-info applications' files (issue 5) of a persona with a [card_info] table."""
    if document.card_info is None or document.holder is None:
        return
    from .card_info_files import build_card_info

    owner = f"{document.path} [card_info]"
    build_card_info(
        document.name,
        document.holder,
        document.card_info,
        run.root,
        lambda path: run.keys.load(path, owner),
        lambda path, data: run.write(path, data, owner),
    )


def regenerate(
    root: Path,
    out: Path | None = None,
    *,
    allow_new_keys: bool = False,
    progress: Progress | None = None,
) -> list[Path]:
    """Write every generated file of ``root`` under ``out`` (default ``root``); return the paths.

    Files keep their path relative to ``root``. Raises :class:`PkiError` or
    :class:`PersonaError` on bad definitions, and on a missing key unless ``allow_new_keys`` is
    true: then a fresh RSA-2048 key is written (under ``out``), reported through ``progress``
    (or on stderr when no callback is given) and included in the returned paths.
    """
    root = root.resolve()
    out = root if out is None else out.resolve()
    report = progress or _quiet
    run = _Run(root, out, report, _KeyStore(root, out, allow_new_keys, report))
    definitions = root / HIERARCHIES_FILE
    for hierarchy in load_hierarchies(definitions).values():
        for ca in hierarchy.generations:
            owner = f"{definitions} [{hierarchy.name} generation {ca.generation}]"
            _issue_ca(run, hierarchy, ca, owner)
    for persona_file in sorted((root / PERSONAS_DIR).glob("*.toml")):
        document = read_persona_document(persona_file)
        _issue_end_entities(run, document)
        _issue_card_info(run, document)
    return [*run.keys.created, *run.written]


def check(root: Path) -> list[str]:
    """Regenerate into a temporary directory; return the relative paths whose bytes differ."""
    root = root.resolve()
    with tempfile.TemporaryDirectory(prefix="mynasim-check-") as temporary:
        out = Path(temporary).resolve()
        stale: list[str] = []
        for path in regenerate(root, out):
            relative = path.relative_to(out)
            committed = root / relative
            if not committed.is_file() or committed.read_bytes() != path.read_bytes():
                stale.append(relative.as_posix())
    return sorted(stale)
