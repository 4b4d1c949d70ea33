"""The revocation services over HTTP, on the loopback interface only (default port 35980,
the port the test PKI's certificates point at). The routes are listed in :data:`INDEX`.

OCSP answers are HTTP 200 with an OCSPResponse whatever its status (malformedRequest for a
body that is not an OCSPRequest); only the ``unavailable`` failure mode answers HTTP 503.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from simulator.service.loopback import LoopbackHttpServer, Reply, require_loopback

from .ocsp import MAX_REQUEST
from .service import ControlRequestError, RevocationService, text_reply

log = logging.getLogger("simulator.revocation.server")

PKI_PORT = 35980  # simulator.personalization.pki.RESPONDER_BASE_URL
MAX_CONTROL_BODY = 4096
INDEX = """\
mynasim test-PKI revocation services
POST /ocsp[/<anything>]           body: DER OCSPRequest (application/ocsp-request)
GET  /ocsp/<anything>/<base64>    RFC 6960 Appendix A.1 (URL-encoded or not)
GET  /crl/<hierarchy>-g<gen>.crl  DER CRL of that CA generation (.pem for PEM)
GET  /control                     clock, failure modes, responder kind, request counts, CRLs
POST /control                     JSON {"now": ..., "ocsp": ..., "crl": ..., "responder": ...}
"""


def require_loopback_host(host: str) -> None:
    """The revocation server (with its control API) never listens on another interface."""
    try:
        require_loopback(host)
    except ValueError:
        raise ValueError(
            f"the revocation server has a control API and listens on loopback only "
            f"(127.0.0.1, ::1 or localhost), not on {host!r}"
        ) from None


class _BodyError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class RevocationServer(LoopbackHttpServer):
    def __init__(self, service: RevocationService, host: str = "127.0.0.1", port: int = PKI_PORT):
        require_loopback_host(host)
        self.service = service
        handler = type("Handler", (_Handler,), {"service": service})
        super().__init__(handler, host, port, "revocation")


class _Handler(BaseHTTPRequestHandler):
    service: RevocationService
    server_version = "mynasim-pki"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/control":
            self._json(lambda: self.service.control_get())
        elif path.startswith("/ocsp/"):
            self._send(self.service.ocsp_get(path[len("/ocsp/") :]))
        elif path.startswith("/crl/"):
            self._send(self.service.crl(path[len("/crl/") :]))
        elif path == "/":
            self._send(text_reply(HTTPStatus.OK, INDEX))
        else:
            self._not_found("GET")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/control":
            self._json(lambda: self.service.control_post(self._json_body()))
        elif path == "/ocsp" or path.startswith("/ocsp/"):
            try:
                body = self._body(MAX_REQUEST)
            except _BodyError as error:
                if error.status is HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
                    self._send(text_reply(error.status, str(error)), close=True)
                    return
                body = b""  # no usable body: answered as malformedRequest
            self._send(self.service.ocsp(body))
        else:
            self._not_found("POST")

    def _not_found(self, method: str) -> None:
        self._send(
            text_reply(HTTPStatus.NOT_FOUND, f"no such resource: {method} {self.path}\n\n" + INDEX)
        )

    def _body(self, limit: int) -> bytes:
        text = (self.headers.get("Content-Length") or "").strip()
        if not text.isascii() or not text.isdigit():
            raise _BodyError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length is required")
        length = int(text)
        if length > limit:
            raise _BodyError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body over {limit} bytes"
            )
        return self.rfile.read(length)

    def _json_body(self) -> dict[str, Any]:
        try:
            raw = self._body(MAX_CONTROL_BODY)
        except _BodyError as error:
            raise ControlRequestError(str(error)) from None
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ControlRequestError("the body is not JSON") from None
        if not isinstance(body, dict):
            raise ControlRequestError("the body must be a JSON object")
        return body

    def _json(self, produce: Any) -> None:
        try:
            status, payload = HTTPStatus.OK, produce()
        except ControlRequestError as error:
            status, payload = HTTPStatus.BAD_REQUEST, {"error": str(error)}
        data = json.dumps(payload, indent=2, ensure_ascii=False).encode() + b"\n"
        self._send(Reply(status, "application/json; charset=utf-8", data))

    def _send(self, reply: Reply, *, close: bool = False) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("pki: " + format, *args)
