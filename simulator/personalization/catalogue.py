"""The catalogue of a fixtures tree: every CA generation and every certificate issued to a persona.

This is what the revocation services (OCSP responder, CRL server) are built from:

* :func:`load_authorities` - every generation of every hierarchy in ``pki/hierarchies.toml``,
  with its certificate and private key (to sign CRLs and OCSP responses);
* :func:`issued_certificates` - every present end-entity certificate of the personas, with the
  CA generation that issued it and the persona's ``[auth|sign.revocation]`` entry.

The issuer of a certificate is found BY KEY: its authorityKeyIdentifier keyid must equal the
CA's subjectKeyIdentifier, and the signature is checked against that CA's key. The DN is never
used: all generations of a hierarchy share one DN (jpki-pki-and-relying-parties.md §0, §5.5).
A certificate that no CA of the tree issued is an error, and so is a serial used twice by one
CA. Keys are loaded without the expensive RSA consistency check (like :func:`.load_persona`),
so this is fast enough to call when a server starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .generate import HIERARCHIES_FILE, PERSONAS_DIR
from .hierarchy import PkiError, load_hierarchies
from .persona import PersonaError, Revocation, read_persona_document


@dataclass(frozen=True)
class CertificateAuthority:
    """One generation of one hierarchy: its self-signed certificate and its private key."""

    hierarchy: str  # "auth" | "sign" (the hierarchy's name in hierarchies.toml)
    generation: int
    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey

    def __repr__(self) -> str:
        return (
            f"CertificateAuthority(hierarchy={self.hierarchy!r}, generation={self.generation}, "
            f"serial={self.certificate.serial_number:#x}, private_key=<redacted>)"
        )


@dataclass(frozen=True)
class IssuedCertificate:
    """A persona's end-entity certificate, its issuing CA generation and its revocation."""

    persona: str  # persona name
    slot: str  # "auth" | "sign": the card slot holding it (not necessarily the issuer's purpose)
    certificate: x509.Certificate
    issuer: CertificateAuthority
    revocation: Revocation | None  # None: not revoked


def _read_ca_certificate(path: Path, owner: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(path.read_bytes())
    except OSError as error:
        raise PkiError(f"{owner}: cannot read {path} ({error.strerror})") from None
    except ValueError:
        raise PkiError(f"{owner}: {path} is not a DER X.509 certificate") from None


def _read_ca_key(path: Path, owner: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(
            path.read_bytes(), None, unsafe_skip_rsa_key_validation=True
        )
    except OSError as error:
        raise PkiError(f"{owner}: cannot read {path} ({error.strerror})") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise PkiError(f"{owner}: {path} is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PkiError(f"{owner}: {path} is not an RSA private key")
    return key


def _subject_key_identifier(certificate: x509.Certificate) -> bytes | None:
    try:
        return certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.digest
    except x509.ExtensionNotFound:
        return None


def load_authorities(root: Path) -> list[CertificateAuthority]:
    """Every generation of every hierarchy of a fixtures tree, by hierarchy name then generation.

    Reads ``root/pki/hierarchies.toml`` and the certificate and key files it names (the
    certificates must have been generated). Raises :class:`PkiError` on a missing or bad file,
    a key that does not match its certificate, or two generations with one key identifier.
    """
    definitions = Path(root).resolve() / HIERARCHIES_FILE
    authorities: list[CertificateAuthority] = []
    seen: dict[bytes, str] = {}
    for name, hierarchy in sorted(load_hierarchies(definitions).items()):
        for ca in sorted(hierarchy.generations, key=lambda generation: generation.generation):
            owner = f"{definitions} [{name} generation {ca.generation}]"
            certificate = _read_ca_certificate(ca.certificate, owner)
            key = _read_ca_key(ca.private_key, owner)
            public_key = certificate.public_key()
            if not isinstance(public_key, rsa.RSAPublicKey) or (
                public_key.public_numbers() != key.public_key().public_numbers()
            ):
                raise PkiError(f"{owner}: {ca.private_key} does not match {ca.certificate}")
            key_id = _subject_key_identifier(certificate)
            if key_id is None:
                raise PkiError(f"{owner}: {ca.certificate} has no subjectKeyIdentifier")
            if key_id in seen:
                raise PkiError(f"{owner}: same key identifier as {seen[key_id]}")
            seen[key_id] = f"{name} generation {ca.generation}"
            authorities.append(CertificateAuthority(name, ca.generation, certificate, key))
    return authorities


def find_issuer(
    certificate: x509.Certificate, authorities: list[CertificateAuthority]
) -> CertificateAuthority | None:
    """The authority whose SKI equals the certificate's AKI keyid and whose key signed it."""
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    for authority in authorities:
        if aki.key_identifier is None or aki.key_identifier != _subject_key_identifier(
            authority.certificate
        ):
            continue
        try:
            certificate.verify_directly_issued_by(authority.certificate)
        except (ValueError, TypeError, InvalidSignature):
            return None  # the keyid names this CA but its key did not sign: not issued by us
        return authority
    return None


def _unique_files(personas: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in personas:
        resolved = Path(path).resolve()
        if resolved not in files:
            files.append(resolved)
    return files


def issued_certificates(root: Path, personas: list[Path] | None = None) -> list[IssuedCertificate]:
    """Every present certificate of the personas in ``root/personas`` (or of the given files).

    Order: persona files sorted by path (given files: in the order given, duplicates once),
    then ``auth`` before ``sign``. Raises :class:`PersonaError` (naming the persona file and
    the slot) when a certificate is missing, unreadable, issued by no CA generation of ``root``,
    or reuses a serial of its CA; :class:`PkiError` when the CA files are bad.
    """
    root = Path(root).resolve()
    authorities = load_authorities(root)
    if personas is None:
        files = sorted((root / PERSONAS_DIR).glob("*.toml"))
    else:
        files = _unique_files(personas)
    issued: list[IssuedCertificate] = []
    serials: dict[tuple[str, int, int], str] = {}
    for path in files:
        document = read_persona_document(path)
        for slot_name, slot in document.slots():
            if not slot.present or slot.certificate is None:
                continue
            where = f"{document.path}: {slot_name}.certificate"
            try:
                certificate = x509.load_der_x509_certificate(slot.certificate.read_bytes())
            except OSError as error:
                raise PersonaError(
                    f"{where}: cannot read {slot.certificate} ({error.strerror})"
                ) from None
            except ValueError:
                raise PersonaError(f"{where}: not a DER X.509 certificate") from None
            issuer = find_issuer(certificate, authorities)
            if issuer is None:
                raise PersonaError(f"{where}: not issued by any CA generation of {root}")
            serial = (issuer.hierarchy, issuer.generation, certificate.serial_number)
            label = f"persona '{document.name}' {slot_name}"
            if serial in serials:
                raise PersonaError(
                    f"{where}: serial {certificate.serial_number:#x} of {issuer.hierarchy} "
                    f"generation {issuer.generation} is also used by {serials[serial]}"
                )
            serials[serial] = label
            issued.append(
                IssuedCertificate(document.name, slot_name, certificate, issuer, slot.revocation)
            )
    return issued
