"""Revocation services of the test PKI: an OCSP responder, CRLs and a control API.

Relying parties under test check our persona certificates against these, on loopback, port
35980 (where the certificates' AIA OCSP and CRL URLs point). Pieces, bottom up:

* :mod:`.clock` - real time or a fixed instant, settable at run time;
* :mod:`.database` - CA generations and certificate status by (issuer key, serial);
* :mod:`.delegation` - delegated OCSP responder certificates, one per CA generation;
* :mod:`.ocsp` / :mod:`.crl` - DER responses and CRLs (``cryptography``);
* :mod:`.failures` - the failure modes a scenario switches on, and what each does;
* :mod:`.service` - all of it without sockets, plus the control settings;
* :mod:`.server` - HTTP on loopback; :mod:`.command` - ``mynasim pki serve``.
"""

from __future__ import annotations

from .clock import Clock, ClockError, format_instant, parse_instant
from .crl import crl_path
from .database import RevocationDatabase, RevocationDataError, Status
from .failures import CrlMode, OcspMode, ResponderKind
from .server import PKI_PORT, RevocationServer
from .service import ControlRequestError, RevocationService

__all__ = [
    "PKI_PORT",
    "Clock",
    "ClockError",
    "ControlRequestError",
    "CrlMode",
    "OcspMode",
    "ResponderKind",
    "RevocationDataError",
    "RevocationDatabase",
    "RevocationServer",
    "RevocationService",
    "Status",
    "crl_path",
    "format_instant",
    "parse_instant",
]
