"""Failure modes a scenario switches on at run time, separately for OCSP and CRL, and the
choice of OCSP responder. ``normal`` restores the service.

OCSP modes (every request under ``/ocsp/`` is affected):

``unavailable``
    HTTP 503 Service Unavailable with a short text body and ``Retry-After: 60``; no OCSP
    response at all (the connection is answered, not dropped: a reset would be
    indistinguishable from a crashed simulator in a test log).
``tryLater``
    HTTP 200, an unsigned OCSPResponse with status ``tryLater`` (3).
``unknown``
    a normal, correctly signed response whose CertStatus is ``unknown`` for every certificate,
    even one the fixtures know.
``bad-signature``
    the normal response with the last octet of its signature value flipped: it parses, its
    responder certificate is right, the signature does not verify.
``responder-expired``
    a correctly signed response from a delegated responder whose certificate expired one day
    before the clock's now (validity now-3d .. now-1d). It uses the delegated responder even
    when the responder kind is ``ca``: a CA certificate cannot expire on demand.

CRL modes (every ``/crl/...`` request is affected):

``unavailable``
    HTTP 503 Service Unavailable with a short text body and ``Retry-After: 60``.
``stale``
    a CRL issued two days ago: thisUpdate = now - (nextUpdate interval + 1 day), nextUpdate =
    now - 1 day (now-2d / now-1d with the default interval); it lists the revocations in effect
    at its thisUpdate, as a CRL really issued then would.
``bad-signature``
    the normal CRL with the last octet of its signature value flipped.
"""

from __future__ import annotations

from enum import StrEnum


class OcspMode(StrEnum):
    NORMAL = "normal"
    UNAVAILABLE = "unavailable"
    TRY_LATER = "tryLater"
    UNKNOWN = "unknown"
    BAD_SIGNATURE = "bad-signature"
    RESPONDER_EXPIRED = "responder-expired"


class CrlMode(StrEnum):
    NORMAL = "normal"
    UNAVAILABLE = "unavailable"
    STALE = "stale"
    BAD_SIGNATURE = "bad-signature"


class ResponderKind(StrEnum):
    DELEGATED = "delegated"  # a responder certificate per CA generation, issued by that CA
    CA = "ca"  # the CA generation signs its OCSP responses itself


def choices(enum: type[StrEnum]) -> str:
    """``'a', 'b' or 'c'``: for error messages and help texts."""
    names = [f"'{member.value}'" for member in enum]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
