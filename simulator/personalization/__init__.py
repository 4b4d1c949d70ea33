"""Personalization: personas -> card contents, and the test PKI that issues their certificates.

This is the bottom layer of the simulator: it imports only the standard library and
``cryptography``. The card loads a :class:`Persona` with :func:`load_persona`; the
``mynasim personalize`` command regenerates and checks the fixture files with
:func:`regenerate` and :func:`check`.
"""

from __future__ import annotations

from .generate import check, regenerate
from .hierarchy import CaGeneration, Hierarchy, PkiError, load_hierarchies
from .holder import Holder, encode_birth_date, era_digit
from .persona import (
    KeyPairSpec,
    Persona,
    PersonaError,
    PinSpec,
    builtin_personas,
    fixtures_root,
    load_persona,
)
from .pki import Issuance
from .validity import certificate_not_after

__all__ = [
    "CaGeneration",
    "Hierarchy",
    "Holder",
    "Issuance",
    "KeyPairSpec",
    "Persona",
    "PersonaError",
    "PinSpec",
    "PkiError",
    "builtin_personas",
    "certificate_not_after",
    "check",
    "encode_birth_date",
    "era_digit",
    "fixtures_root",
    "load_hierarchies",
    "load_persona",
    "regenerate",
]
