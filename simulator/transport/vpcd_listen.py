"""The card side of vpcd in listen mode (vicc's `--reversed` role), for reader front ends that
connect out, such as vsmartcard's ACardEmulator (an Android HCE app).

The framing, the control bytes and the bad-frame handling are vpcd.py's; only who dials whom
differs: the card binds HOST:PORT and the front end (playing vpcd, the reader) connects.
ACardEmulator (phone-path.md section 1.1) sends `01` once per app process, right after it
connects, then the C-APDUs of each tap and `00` at the end of every tap; never `04` or `02`
(answered all the same if they come). An APDU with the card powered off (after a `00`, or
with no `01` ever) powers it up implicitly with a fresh security state (FrameHandler does
that; power-off clears the state).

One front end at a time: a second connection while one is served is accepted and closed at
once, with a WARNING. A front end that disconnects is the phone app going away: the card is
powered off and the listener waits for the next one. `remove()` closes the current connection
and refuses every connection until `insert()`.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import ipaddress
import logging
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from simulator.transport.vpcd import (
    FRAME_TIMEOUT,
    VPCD_PORT,
    AfterHook,
    Exchange,
    FrameHandler,
    Hook,
    VpcdClient,
)

log = logging.getLogger("simulator.transport.vpcd")

LISTEN_PORT = VPCD_PORT  # ACardEmulator's default port
ACCEPT_POLL = 0.2  # seconds between checks of stop() while waiting for a connection
_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address


def format_address(host: str, port: int) -> str:
    """host:port, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def vicc_uri(host: str, port: int) -> str:
    """The `vicc://host:port` form ACardEmulator imports (typed, opened or scanned as QR)."""
    return f"vicc://{format_address(host, port)}"


class VpcdListener(VpcdClient):
    """Keeps one card listening for reader front ends on HOST:PORT, serving one at a time.

    The interface is VpcdClient's (start, stop, remove, insert, hold, inserted, connected,
    address, name, the same hooks and Exchange reports), so a CardSlot serves either.
    `start()` binds the port (OSError if it is taken) and returns; with port 0 the system
    picks one and `address` tells which. `connected`: a front end is being served.
    `reinsert_delay` is accepted for the same signature and unused: the front end decides
    when it connects.
    """

    peer = "the front end"
    after_drop = "listening for the next one"

    def __init__(
        self,
        handler: FrameHandler,
        host: str = "127.0.0.1",
        port: int = LISTEN_PORT,
        *,
        name: str = "card",
        on_exchange: Callable[[Exchange], None] | None = None,
        before_apdu: Hook | None = None,
        after_apdu: AfterHook | None = None,
        on_event: Callable[[str], None] | None = None,
        reinsert_delay: float = 0.0,
        max_backoff: float = 2.0,
        frame_timeout: float | None = FRAME_TIMEOUT,
    ) -> None:
        super().__init__(
            handler, host, port, name=name, on_exchange=on_exchange,
            before_apdu=before_apdu, after_apdu=after_apdu, on_event=on_event,
            reinsert_delay=reinsert_delay, max_backoff=max_backoff, frame_timeout=frame_timeout,
        )  # fmt: skip
        self._listener: socket.socket | None = None
        self._serving: tuple[str, int] | None = None  # the front end served (its address)
        self._peer_thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Bind and listen (OSError, e.g. the port is in use, comes from here), then accept
        in a thread."""
        self._listener = self._bind()
        self.address = self._listener.getsockname()[:2]
        log.info("%s: listening for a reader front end on %s", self.name, self.where)
        super().start()

    @property
    def where(self) -> str:
        return format_address(*self.address)

    def _bind(self) -> socket.socket:
        host, port = self.address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(4)
            sock.settimeout(ACCEPT_POLL)
        except OSError:
            sock.close()
            raise
        return sock

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)  # ends the accept loop and drops the connection served
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._peer_thread is not None:  # its card is powered off before stop() returns
            self._peer_thread.join(timeout)

    @property
    def connected(self) -> bool:
        return self._serving is not None

    # -- the loop ------------------------------------------------------------------

    def run(self) -> None:
        listener = self._listener
        if listener is None:
            raise RuntimeError("VpcdListener.run without start(): nothing is bound")
        while not self._stop.is_set():
            try:
                sock, peer = listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    break
                log.warning("%s: accepting a connection failed: %s", self.name, exc)
                self._stop.wait(ACCEPT_POLL)
                continue
            self._admit(sock, (str(peer[0]), int(peer[1])))

    def _admit(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        with self._wake:
            served = self._serving
            refused = self._stop.is_set() or not self._inserted or served is not None
            if not refused:
                self._serving = peer
        if refused:
            if served is not None:
                log.warning(
                    "%s: refused a second front end from %s: one front end at a time, "
                    "%s is being served",
                    self.name, format_address(*peer), format_address(*served),
                )  # fmt: skip
            elif not self._stop.is_set():
                log.warning(
                    "%s: refused a front end from %s: the card is removed (mynasim ctl insert)",
                    self.name, format_address(*peer),
                )  # fmt: skip
            _close(sock)
            return
        thread = threading.Thread(
            target=self._serve_front_end, args=(sock,), name=f"vpcd-{self.name}-peer", daemon=True
        )
        self._peer_thread = thread
        thread.start()

    def _serve_front_end(self, sock: socket.socket) -> None:
        try:
            self._serve_connection(sock)
        finally:
            with self._wake:
                self._serving = None

    def _log_connected(self, sock: socket.socket) -> None:
        peer = self._serving or ("?", 0)
        log.info("%s: front end %s connected", self.name, format_address(*peer))


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


# -- what serve prints for ACardEmulator --------------------------------------------------


def is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::", "")  # noqa: S104 - a comparison, not a bind


def front_end_uris(host: str, port: int) -> list[str]:
    """The vicc:// forms a front end should use for a listener bound to `host`: the host
    itself, or for a wildcard bind (0.0.0.0, ::) every non-loopback address of this machine
    (IPv4; IPv6 too for ::). Empty when a wildcard bind finds no such address."""
    if not is_wildcard(host):
        return [vicc_uri(host, port)]
    found = ipv4_addresses() + (ipv6_addresses() if ":" in host else [])
    return [vicc_uri(address, port) for address in found]


def front_end_lines(host: str, port: int) -> list[str]:
    """What serve prints under a listening slot: the vicc:// forms to give ACardEmulator
    (type it, open it as a link, or scan the QR code if `qrcode` is installed)."""
    uris = front_end_uris(host, port)
    if not uris:
        return [
            f"    front end: no non-loopback address found for {format_address(host, port)}; "
            f"a phone on the LAN needs this machine's address, port {port}"
        ]
    lines = []
    for uri in uris:
        lines.append(f"    front end: {uri}")
        lines.extend(f"    {row}" for row in ascii_qr(uri) or [])
    return lines


def ipv4_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (Linux: one per interface)."""
    found: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _index, interface in socket.if_nameindex():
            request = struct.pack("256s", interface.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
            except OSError:  # no IPv4 address on it
                continue
            address = ipaddress.IPv4Address(answer[20:24])
            if not address.is_loopback and str(address) not in found:
                found.append(str(address))
    return found


def ipv6_addresses(source: Path = Path("/proc/net/if_inet6")) -> list[str]:
    """This machine's global-scope IPv6 addresses (Linux /proc/net/if_inet6)."""
    try:
        lines = source.read_text().splitlines()
    except OSError:
        return []
    found: list[str] = []
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or fields[3] != "00":  # scope 00: global
            continue
        address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
        if not address.is_loopback and str(address) not in found:
            found.append(str(address))
    return found


def ascii_qr(text: str) -> list[str] | None:
    """`text` as a QR code in text lines, if the optional `qrcode` package is importable
    (it is no dependency of mynasim); None without it."""
    try:
        import qrcode  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return None
    code = qrcode.QRCode(border=1)
    code.add_data(text)
    out = io.StringIO()
    code.print_ascii(out=out)
    return out.getvalue().splitlines()
