"""The revocation services without the sockets: OCSP, CRLs and the control API's state.

:class:`RevocationService` holds the clock, the failure modes and the responder kind, counts
what it served, and turns requests into :class:`Reply` objects the HTTP layer
(:mod:`.server`) sends as they are. Thread-safe: the HTTP server calls it from many threads.

Control settings (``GET``/``POST /control``, JSON):

``now``        ISO 8601 instant with a timezone fixes the clock; ``null`` returns to real time
``ocsp``       OCSP failure mode (:class:`.failures.OcspMode`), ``normal`` restores
``crl``        CRL failure mode (:class:`.failures.CrlMode`), ``normal`` restores
``responder``  ``delegated`` or ``ca`` (:class:`.failures.ResponderKind`)

A POST is validated as a whole before anything changes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import threading
import urllib.parse
from collections import Counter
from enum import StrEnum
from http import HTTPStatus
from typing import Any, TypeVar

from simulator.service.loopback import Reply

from .clock import Clock, ClockError, format_instant, parse_instant
from .crl import CrlPublisher, crl_path
from .database import RevocationDatabase
from .delegation import DelegatedResponders
from .failures import CrlMode, OcspMode, ResponderKind, choices
from .ocsp import MalformedRequestError, OcspAnswer, OcspResponder, parse_request

DEFAULT_NEXT_UPDATE = dt.timedelta(days=1)
OCSP_CONTENT_TYPE = "application/ocsp-response"
CRL_CONTENT_TYPE = "application/pkix-crl"
PEM_CONTENT_TYPE = "application/x-pem-file"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
RETRY_AFTER_SECONDS = 60
SETTINGS = ("now", "ocsp", "crl", "responder")

_Mode = TypeVar("_Mode", bound=StrEnum)


class ControlRequestError(ValueError):
    """A control request the service refuses (HTTP 400); the message says why."""


def text_reply(status: HTTPStatus, text: str, *headers: tuple[str, str]) -> Reply:
    return Reply(status, TEXT_CONTENT_TYPE, (text.rstrip("\n") + "\n").encode(), headers)


def _mode(enum: type[_Mode], value: Any, key: str) -> _Mode:
    for member in enum:
        if value == member.value:
            return member
    raise ControlRequestError(f'"{key}" must be {choices(enum)}, not {value!r}')


def decode_get_request(path: str) -> bytes:
    """The DER request of an RFC 6960 Appendix A.1 GET: ``/ocsp/<name>/<base64>``.

    The base64 text is URL-encoded by careful clients and not by others, so its own ``/``
    characters may be raw: each suffix after a ``/`` is tried, the longest first, and the first
    that decodes to an OCSP request wins (else the longest decodable one, answered as malformed).
    """
    rest = urllib.parse.unquote(path.split("?", 1)[0])
    starts = [0] + [index + 1 for index, char in enumerate(rest) if char == "/"]
    fallback = b""
    for start in starts:
        text = rest[start:]
        text += "=" * (-len(text) % 4)
        for altchars in (None, b"-_"):
            try:
                candidate = base64.b64decode(text, altchars=altchars, validate=True)
            except (binascii.Error, ValueError):
                continue
            try:
                parse_request(candidate)
            except MalformedRequestError:
                fallback = fallback or candidate
                continue
            return candidate
    return fallback


class RevocationService:
    def __init__(
        self,
        database: RevocationDatabase,
        *,
        clock: Clock | None = None,
        ocsp_mode: OcspMode = OcspMode.NORMAL,
        crl_mode: CrlMode = CrlMode.NORMAL,
        responder: ResponderKind = ResponderKind.DELEGATED,
        next_update: dt.timedelta = DEFAULT_NEXT_UPDATE,
    ) -> None:
        if next_update <= dt.timedelta(0):
            raise ValueError("the nextUpdate interval must be positive")
        self.database = database
        self.clock = clock or Clock()
        self.next_update = next_update
        self._lock = threading.Lock()
        self._ocsp_mode = ocsp_mode
        self._crl_mode = crl_mode
        self._responder = responder
        self._counts: dict[str, Counter[str]] = {
            "ocsp": Counter(),
            "crl": Counter(),
            "control": Counter(),
        }
        self.delegated = DelegatedResponders(database.authorities, next_update)
        self.ocsp_responder = OcspResponder(database, self.delegated, next_update)
        self.crls = CrlPublisher(database, next_update)
        if responder is ResponderKind.DELEGATED:  # made at start-up, not on the first request
            now = self.clock.now()
            for ca in database.authorities:
                self.delegated.signer(ca, now)

    # -- settings -----------------------------------------------------------------------------

    def modes(self) -> tuple[OcspMode, CrlMode, ResponderKind]:
        with self._lock:
            return self._ocsp_mode, self._crl_mode, self._responder

    def _count(self, service: str, outcome: str) -> None:
        with self._lock:
            self._counts[service]["total"] += 1
            self._counts[service][outcome] += 1

    # -- OCSP -----------------------------------------------------------------------------------

    def ocsp(self, request: bytes) -> Reply:
        """Answer a DER OCSPRequest (the body of a POST or the decoded path of a GET)."""
        ocsp_mode, _, responder = self.modes()
        if ocsp_mode is OcspMode.UNAVAILABLE:
            self._count("ocsp", "unavailable")
            return _unavailable("OCSP responder")
        answer: OcspAnswer = self.ocsp_responder.respond(
            request, self.clock.now(), ocsp_mode, responder
        )
        self._count("ocsp", answer.outcome)
        return Reply(HTTPStatus.OK, OCSP_CONTENT_TYPE, answer.der)

    def ocsp_get(self, path: str) -> Reply:
        """Answer ``GET /ocsp/<anything>/<base64 request>``."""
        return self.ocsp(decode_get_request(path))

    # -- CRL ------------------------------------------------------------------------------------

    def crl(self, name: str) -> Reply:
        """Answer ``GET /crl/<name>``, e.g. ``auth-g1.crl`` or ``auth-g1.pem``."""
        _, crl_mode, _ = self.modes()
        found = self.crls.lookup(name)
        if found is None:
            self._count("crl", "notFound")
            served = ", ".join(path for _, path in self.crls.paths()) or "none"
            return text_reply(
                HTTPStatus.NOT_FOUND,
                f"no CRL named {name!r}: this server publishes {served} "
                "(and each as .pem); names are <hierarchy>-g<generation>.crl",
            )
        if crl_mode is CrlMode.UNAVAILABLE:
            self._count("crl", "unavailable")
            return _unavailable("CRL distribution point")
        ca, form = found
        issued = self.crls.crl(ca, self.clock.now(), crl_mode)
        self._count("crl", crl_mode.value)
        if form == "pem":
            return Reply(HTTPStatus.OK, PEM_CONTENT_TYPE, issued.pem())
        return Reply(HTTPStatus.OK, CRL_CONTENT_TYPE, issued.der)

    # -- control --------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        now = self.clock.now()
        fixed = self.clock.fixed
        with self._lock:
            counts = {name: dict(counter) for name, counter in self._counts.items()}
            ocsp_mode, crl_mode, responder = self._ocsp_mode, self._crl_mode, self._responder
        return {
            "clock": {
                "now": format_instant(now),
                "fixed": None if fixed is None else format_instant(fixed),
            },
            "ocsp": ocsp_mode.value,
            "crl": crl_mode.value,
            "responder": responder.value,
            "nextUpdateSeconds": int(self.next_update.total_seconds()),
            "requests": counts,
            "authorities": [
                {
                    "hierarchy": ca.hierarchy,
                    "generation": ca.generation,
                    "crl": crl_path(ca.hierarchy, ca.generation),
                    "certificates": len(ca.entries),
                    "revokedNow": len(ca.revoked(now)),
                }
                for ca in self.database.authorities
            ],
        }

    def control_get(self) -> dict[str, Any]:
        self._count("control", "get")
        return self.state()

    def control_post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply settings (all or nothing); the new state. Raises ControlRequestError."""
        try:
            self._apply(body)
        except ControlRequestError:
            self._count("control", "rejected")
            raise
        self._count("control", "post")
        return self.state()

    def _apply(self, body: dict[str, Any]) -> None:
        unknown = sorted(set(body) - set(SETTINGS))
        if unknown:
            names = ", ".join(repr(key) for key in unknown)
            raise ControlRequestError(
                f"unknown setting {names}: the settings are {', '.join(SETTINGS)}"
            )
        instant: dt.datetime | None = None
        if "now" in body and body["now"] is not None:
            if not isinstance(body["now"], str):
                raise ControlRequestError(
                    '"now" must be an ISO 8601 string such as "2027-01-01T00:00:00Z", '
                    "or null for real time"
                )
            try:
                instant = parse_instant(body["now"])
            except ClockError as error:
                raise ControlRequestError(f'"now": {error}') from None
        ocsp_mode = _mode(OcspMode, body["ocsp"], "ocsp") if "ocsp" in body else None
        crl_mode = _mode(CrlMode, body["crl"], "crl") if "crl" in body else None
        responder = (
            _mode(ResponderKind, body["responder"], "responder") if "responder" in body else None
        )
        with self._lock:  # everything validated: apply together
            if "now" in body:
                self.clock.set(instant)
            if ocsp_mode is not None:
                self._ocsp_mode = ocsp_mode
            if crl_mode is not None:
                self._crl_mode = crl_mode
            if responder is not None:
                self._responder = responder


def _unavailable(what: str) -> Reply:
    return text_reply(
        HTTPStatus.SERVICE_UNAVAILABLE,
        f"{what} unavailable (failure mode 'unavailable' is on; POST /control to change it)",
        ("Retry-After", str(RETRY_AFTER_SECONDS)),
    )
