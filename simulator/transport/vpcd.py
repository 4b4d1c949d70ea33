"""The card side ("vicc") of the vsmartcard vpcd protocol.

Wire protocol (prior-art.md section 2, pcsc-stack-notes.md section 4): one TCP stream per
reader slot (vpcd listens on 35963 + slot); every message in both directions is a 2-byte
big-endian length and that many bytes. A 1-byte message from vpcd is a control byte:
00 power off, 01 power on, 02 reset (no reply to these three), 04 ATR request (answered
with the ATR, every time: vpcd polls it about every 0.4 s to see that the card is there).
Anything longer is a command APDU, answered with one response frame, in strict lock-step.

Card presence is the connection: removal = closing the socket, insertion = connecting.
`TCP_QUICKACK` is re-armed after every receive, or bookworm's vpcd (which writes length
and payload with two `send` calls, Nagle on) stalls every exchange by ~44 ms.

A bad frame (empty, cut off by a close, an unknown control byte, or stalled: vpcd writes
a frame at once, so a frame begun and not finished within FRAME_TIMEOUT never comes) is
logged as an ERROR naming what was wrong; the card drops that connection and reconnects.
Between frames the card waits as long as it takes.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("simulator.transport.vpcd")

VPCD_PORT = 35963
POWER_OFF, POWER_ON, RESET, GET_ATR = 0x00, 0x01, 0x02, 0x04
MAX_FRAME = 0xFFFF
REINSERT_DELAY = 2.0  # pcscd misses a removal shorter than ~0.2 s (pcsc-stack-notes section 14)
FRAME_TIMEOUT = 5.0  # seconds a frame may pause once its first byte came
_CONTROL_NAMES = "00 power off, 01 power on, 02 reset, 04 ATR"

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)
_TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


class FrameError(Exception):
    """The peer sent something that is not a valid vpcd frame."""


class PeerClosed(Exception):  # noqa: N818 - an event, not an error
    """The peer closed the connection (an orderly end, not a protocol error)."""


class VpcdCard(Protocol):
    """What the transport needs from a card (VirtualCard has it)."""

    @property
    def atr(self) -> bytes: ...

    def power_on(self) -> bytes: ...

    def power_off(self) -> None: ...

    def reset(self) -> bytes: ...

    def transmit(self, apdu: bytes) -> bytes: ...


def recv_exact(sock: socket.socket, count: int) -> bytes:
    """Read exactly `count` bytes (never assume one recv per frame)."""
    chunks = bytearray()
    while len(chunks) < count:
        chunk = sock.recv(count - len(chunks))
        if not chunk:
            if chunks:
                raise FrameError(f"connection closed {len(chunks)} bytes into a {count}-byte read")
            raise PeerClosed
        _quickack(sock)
        chunks += chunk
    return bytes(chunks)


def _quickack(sock: socket.socket) -> None:
    if _QUICKACK is not None and sock.family in _TCP_FAMILIES:  # not on a socketpair
        sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


def read_frame(sock: socket.socket, frame_timeout: float | None = None) -> bytes:
    """The payload of the next frame. PeerClosed: the peer closed between frames (an
    orderly end). FrameError, with what was wrong: an empty frame, a frame cut off by
    the end of the stream, or (given `frame_timeout`) a frame that stops coming for that
    many seconds once begun. Before a frame's first byte it waits as the socket does."""
    first = recv_exact(sock, 1)
    if frame_timeout is None:
        return _rest_of_frame(sock, first)
    waiting = sock.gettimeout()
    sock.settimeout(frame_timeout)
    try:
        return _rest_of_frame(sock, first)
    finally:
        try:
            sock.settimeout(waiting)
        except OSError:  # closed meanwhile (a removal): the next read says so
            pass


def _rest_of_frame(sock: socket.socket, first: bytes) -> bytes:
    (length,) = struct.unpack("!H", first + _frame_part(sock, 1, 1, "the 2 length bytes"))
    if length == 0:
        raise FrameError("empty frame (length 0)")
    return _frame_part(sock, length, 0, f"its {length} payload bytes")


def _frame_part(sock: socket.socket, count: int, before: int, what: str) -> bytes:
    """`count` more bytes of a frame begun, `before` bytes of `what` having come."""
    chunks = bytearray()
    try:
        while len(chunks) < count:
            chunk = sock.recv(count - len(chunks))
            if not chunk:
                raise FrameError(
                    f"frame cut off: connection closed after {before + len(chunks)} of {what}"
                )
            _quickack(sock)
            chunks += chunk
    except TimeoutError:
        raise FrameError(
            f"frame stalled: nothing more came for {sock.gettimeout():g} s after "
            f"{before + len(chunks)} of {what}"
        ) from None
    return bytes(chunks)


def write_frame(sock: socket.socket, payload: bytes) -> None:
    if len(payload) > MAX_FRAME:
        raise FrameError(f"{len(payload)}-byte payload does not fit a vpcd frame")
    sock.sendall(struct.pack("!H", len(payload)) + payload)  # one write per frame


@dataclass(frozen=True)
class Exchange:
    """What happened to one frame, for traces: a control byte or an APDU and its answer."""

    kind: str  # "control" or "apdu"
    request: bytes
    response: bytes | None  # None: nothing was sent back


class FrameHandler:
    """Turns vpcd frames into card calls. `dispatch` returns the reply (or None)."""

    def __init__(self, card: VpcdCard, lock: threading.Lock | None = None) -> None:
        self.card = card
        self.lock = lock or threading.Lock()

    def control(self, code: int) -> bytes | None:
        with self.lock:
            if code == GET_ATR:
                return self.card.atr
            if code == POWER_ON:
                self.card.power_on()
            elif code == RESET:
                self.card.reset()
            elif code == POWER_OFF:
                self.card.power_off()
            else:
                raise FrameError(f"unknown control byte {code:02X} (known: {_CONTROL_NAMES})")
        return None

    def apdu(self, apdu: bytes) -> bytes:
        with self.lock:
            return self._transmit(apdu)

    def _transmit(self, apdu: bytes) -> bytes:
        if not getattr(self.card, "powered", True):
            self.card.power_on()  # an APDU without power-up (HCE front ends): implicit power-on
        return self.card.transmit(apdu)


Hook = Callable[[bytes], str | None]
# (command, response) -> the bytes to send, or None: send nothing (the card went away)
AfterHook = Callable[[bytes, bytes], bytes | None]


class VpcdClient:
    """Keeps one card in one vpcd slot: connects, serves frames, reconnects with backoff.

    `remove()` and `insert()` take the card out of / put it into the reader. `before_apdu`
    may return "drop" (remove the card, the command is never seen) or "tear" (process the
    command, then remove the card without answering): armed removals use it. `after_apdu`
    gets each command with the card's response and returns the bytes actually sent (it may
    change them, or block: `hold()` waits and gives up when the card leaves); None sends
    nothing. Armed response faults use it. `frame_timeout`: the seconds a frame may pause
    once begun before it counts as malformed (None: no limit).
    """

    peer = "vpcd"  # who is at the other end, for log lines
    after_drop = "reconnecting"  # what the card does once a connection is gone

    def __init__(
        self,
        handler: FrameHandler,
        host: str = "127.0.0.1",
        port: int = VPCD_PORT,
        *,
        name: str = "card",
        on_exchange: Callable[[Exchange], None] | None = None,
        before_apdu: Hook | None = None,
        after_apdu: AfterHook | None = None,
        on_event: Callable[[str], None] | None = None,
        reinsert_delay: float = REINSERT_DELAY,
        max_backoff: float = 2.0,
        frame_timeout: float | None = FRAME_TIMEOUT,
    ) -> None:
        self.handler = handler
        self.address = (host, port)
        self.name = name
        self.on_exchange = on_exchange
        self.before_apdu = before_apdu
        self.after_apdu = after_apdu
        self.on_event = on_event or (lambda _event: None)
        self.reinsert_delay = reinsert_delay
        self.max_backoff = max_backoff
        self.frame_timeout = frame_timeout
        self._inserted = True
        self._removed_at = float("-inf")
        self._removals = 0  # counts remove() calls: hold() gives up when it changes
        self._connected = False
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"vpcd-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        self._drop_socket()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def inserted(self) -> bool:
        return self._inserted

    @property
    def connected(self) -> bool:
        return self._connected

    def remove(self) -> None:
        """Take the card out: close the connection and stay out until insert()."""
        with self._wake:
            if not self._inserted:
                return
            self._inserted = False
            self._removed_at = time.monotonic()
            self._removals += 1
            self._wake.notify_all()  # a hold() in progress gives up
        self._drop_socket()
        self._connected = False
        self.on_event("removed")

    def insert(self) -> None:
        with self._wake:
            self._inserted = True
            self._wake.notify_all()

    def hold(self, seconds: float) -> bool:
        """Wait `seconds` (a delayed response); False as soon as the card is removed or the
        client stops during the wait, True when the time is up with the card still in."""
        deadline = time.monotonic() + seconds
        with self._wake:
            removals = self._removals
            while self._removals == removals and self._inserted and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                self._wake.wait(left)
        return False

    # -- the loop ------------------------------------------------------------------

    def run(self) -> None:
        backoff = 0.05
        waiting_logged = False
        while not self._stop.is_set():
            if not self._wait_until_insertable():
                break
            try:
                sock = socket.create_connection(self.address, timeout=2.0)
            except OSError as exc:
                if not waiting_logged:
                    log.warning(
                        "%s: waiting for vpcd at %s:%d (%s); is pcscd running?",
                        self.name, *self.address, exc.strerror or exc,
                    )  # fmt: skip
                    waiting_logged = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff, waiting_logged = 0.05, False
            self._serve_connection(sock)

    def _wait_until_insertable(self) -> bool:
        with self._wake:
            while not self._stop.is_set():
                if self._inserted:
                    hold = self._removed_at + self.reinsert_delay - time.monotonic()
                    if hold <= 0:
                        return True
                    self._wake.wait(hold)
                else:
                    self._wake.wait()
        return False

    def _serve_connection(self, sock: socket.socket) -> None:
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._wake:
            if not self._inserted or self._stop.is_set():
                sock.close()
                return
            self._sock = sock
        self._connected = True
        self._log_connected(sock)
        self.on_event("inserted")
        try:
            while True:
                self._serve_frame(sock)
        except PeerClosed:
            if self._inserted and not self._stop.is_set():
                log.info("%s: %s closed the connection; %s", self.name, self.peer, self.after_drop)
        except FrameError as exc:
            log.error(
                "%s: malformed frame from %s, closing the connection and %s: %s",
                self.name, self.peer, self.after_drop, exc,
            )  # fmt: skip
            self.on_event("malformed-frame")
        except OSError as exc:
            if self._inserted and not self._stop.is_set():
                log.warning(
                    "%s: connection to %s lost (%s); %s", self.name, self.peer, exc, self.after_drop
                )
        finally:
            self._connected = False
            self._drop_socket()
            with self.handler.lock:
                self.handler.card.power_off()  # out of the reader, out of power

    def _log_connected(self, sock: socket.socket) -> None:
        log.info("%s: inserted into vpcd at %s:%d", self.name, *self.address)

    def _serve_frame(self, sock: socket.socket) -> None:
        frame = read_frame(sock, self.frame_timeout)
        if len(frame) == 1:
            reply = self.handler.control(frame[0])
            if reply is not None:
                write_frame(sock, reply)
            self._report(Exchange("control", frame, reply))
            return
        action = self.before_apdu(frame) if self.before_apdu else None
        if action == "drop":
            self._report(Exchange("apdu", frame, None))
            self.remove()
            raise PeerClosed
        response = self.handler.apdu(frame)
        if action == "tear":
            self._report(Exchange("apdu", frame, None))
            self.remove()
            raise PeerClosed
        sent = self.after_apdu(frame, response) if self.after_apdu else response
        if sent is None:  # removed or stopped while the response was held back
            self._report(Exchange("apdu", frame, None))
            raise PeerClosed
        write_frame(sock, sent)
        self._report(Exchange("apdu", frame, sent))

    def _report(self, exchange: Exchange) -> None:
        if self.on_exchange is not None:
            self.on_exchange(exchange)

    def _drop_socket(self) -> None:
        with self._wake:
            sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
