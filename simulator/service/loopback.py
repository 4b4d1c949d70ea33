"""A small threaded HTTP server that only ever listens on the loopback interface; the
control endpoint of `mynasim serve` and the revocation server of `mynasim pki serve` are
built on it."""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    """An HTTP answer that is not the JSON default (a page, a script, a download, an OCSP
    response): status, content type, body and any extra headers."""

    status: HTTPStatus
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def require_loopback(host: str) -> None:
    """Refuse any host that is not a loopback address (or `localhost`)."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the control endpoint listens on loopback only, not on {host!r}")


class _IPv6HTTPServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class LoopbackHttpServer:
    """`handler` served on `host:port` (port 0: any free one) from a daemon thread."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], host: str, port: int, name: str
    ) -> None:
        server_class = _IPv6HTTPServer if ":" in host else ThreadingHTTPServer  # ::1
        self.httpd = server_class((host, port), handler)
        self.httpd.daemon_threads = True
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = f"[{host!s}]" if ":" in str(host) else host
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name=self._name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever: only if it runs
            self.httpd.shutdown()
        self.httpd.server_close()
