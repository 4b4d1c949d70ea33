"""Personalization: personas -> card contents, and the test PKI that issues their certificates.

This is the bottom layer of the simulator: it imports only the standard library and
``cryptography``. The card loads a :class:`Persona` with :func:`load_persona`; the
``mynasim personalize`` command regenerates and checks the fixture files with
:func:`regenerate` and :func:`check`. The revocation services read the CA generations and the
issued certificates with :func:`load_authorities` and :func:`issued_certificates`.
"""

from __future__ import annotations

from .catalogue import (
    CertificateAuthority,
    IssuedCertificate,
    find_issuer,
    issued_certificates,
    load_authorities,
)
from .generate import check, regenerate
from .hierarchy import CaGeneration, Hierarchy, PkiError, load_hierarchies
from .holder import Holder, encode_birth_date, era_digit
from .persona import (
    KeyPairSpec,
    Persona,
    PersonaError,
    PinSpec,
    Revocation,
    builtin_personas,
    fixtures_root,
    load_persona,
)
from .pki import OCSP_URL, Issuance, crl_url
from .validity import certificate_not_after

__all__ = [
    "OCSP_URL",
    "CaGeneration",
    "CertificateAuthority",
    "Hierarchy",
    "Holder",
    "Issuance",
    "IssuedCertificate",
    "KeyPairSpec",
    "Persona",
    "PersonaError",
    "PinSpec",
    "PkiError",
    "Revocation",
    "builtin_personas",
    "certificate_not_after",
    "check",
    "crl_url",
    "encode_birth_date",
    "era_digit",
    "find_issuer",
    "fixtures_root",
    "issued_certificates",
    "load_authorities",
    "load_hierarchies",
    "load_persona",
    "regenerate",
]
