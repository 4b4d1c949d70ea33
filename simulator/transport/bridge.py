"""The WebSocket APDU bridge: phone apps (and their tests) talk to a virtual card over the net.

One WebSocket connection is one session is one tap of one card. The first frame is a JSON
`hello` naming a phone-OS front-end profile (`simulator.transport.profiles`); the answer is a
`card` frame. Then every binary frame is one command APDU answered by one binary frame
(response data + SW1 SW2) or a JSON error frame, in strict lock-step, and JSON control
frames insert, remove and reset the card. The wire contract is docs/phone/bridge-protocol.md
(phone-path.md sections 4.3 and 7).

Threads, not asyncio: the server is `websockets.sync.server` (one thread per connection),
like serve's other listeners; lock-step exchanges are blocking calls on a card guarded by a
lock, so a thread per session is the plain way to write them.

The bridge knows no persona files and no trace format: serve gives it a card factory (one
fresh card per session, or served slot 0's card) and a trace factory (records in serve's
trace format), so this module imports neither `simulator.service` nor `conformance`.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from simulator.transport.contactless import TYPE_B_ATRS
from simulator.transport.profiles import (
    INTERFACES,
    PROFILES,
    TECHNOLOGIES,
    NoTag,
    Presence,
    Profile,
    Reader,
    Refused,
    make_profile,
)

log = logging.getLogger("simulator.transport.bridge")
_WS_LOG = logging.getLogger("simulator.transport.bridge.websockets")
_WS_LOG.setLevel(logging.WARNING)  # our session lines say it; "connection open" would repeat it

PROTOCOL_VERSION = 1
MAX_FRAME = 70000  # bytes; a bigger frame closes the connection with 1009 (message too big)
HELLO_TIMEOUT = 10.0  # seconds from connecting until a valid hello
MAX_SESSIONS = 64  # concurrent connections; more are refused with HTTP 503
_LOCAL_ORIGIN = re.compile(r"https?://(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?", re.IGNORECASE)
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008  # no hello in time
CLOSE_INTERNAL = 1011


class BridgeCard(Protocol):
    """What a session needs from a card (VirtualCard has it)."""

    @property
    def atr(self) -> bytes: ...

    @property
    def powered(self) -> bool: ...

    def power_on(self) -> bytes: ...

    def power_off(self) -> None: ...

    def reset(self) -> bytes: ...

    def transmit(self, apdu: bytes) -> bytes: ...


@dataclass
class SessionCard:
    """The card one session works on, from the card factory. `current()` is read on every
    use (a served slot may switch personas meanwhile); `lock` guards every card call."""

    current: Callable[[], BridgeCard]
    persona: Callable[[], str]
    lock: threading.Lock = field(default_factory=threading.Lock)
    interface: str = "contact"  # the card's own interface (profiles.INTERFACES)
    contactless_atr: bytes = TYPE_B_ATRS[0]  # the ATR a reader builds from its ATQB
    slot: int | None = None  # the served slot it belongs to (--bridge-shared), else None
    latency: float = 0.0  # seconds each answer of the card takes on the RF (latency_ms)
    release: Callable[[], None] = lambda: None  # called once when the session ends


class SessionTrace(Protocol):
    """Where a session's exchanges and events go (serve writes them as trace records)."""

    def command(self, apdu: bytes, origin: str | None = None) -> None: ...

    def response(self, response: bytes, origin: str | None = None) -> None: ...

    def event(self, event: str, **details: Any) -> None: ...

    def close(self) -> None: ...


# persona name (the hello's, or the server's default) -> the session's card; ValueError: refused
CardFactory = Callable[[str], SessionCard]
# (session id, slot) -> the session's trace
TraceFactory = Callable[[str, int | None], SessionTrace]


class HelloError(ValueError):
    """The first frame is not a usable hello; the message says why."""


@dataclass(frozen=True)
class Hello:
    profile: str
    persona: str | None
    reader: Reader


def parse_ws_url(text: str) -> tuple[str, int]:
    """(host, port) of a `ws://HOST:PORT` bridge address; ValueError says what is wrong."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"--bridge must be ws://HOST:PORT, got {text!r}") from None
    if parts.scheme != "ws":
        raise ValueError(
            f"--bridge must be a ws:// URL (plain WebSocket, e.g. ws://127.0.0.1:8765), "
            f"got {text!r}"
        )
    if not parts.hostname or port is None:
        raise ValueError(f"--bridge needs a host and a port: ws://HOST:PORT, got {text!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"--bridge is ws://HOST:PORT with path / only, got {text!r}")
    return parts.hostname, port


def origin_allowed(headers: Headers) -> bool:
    """No Origin (phone HTTP clients), `null`, or a loopback http(s) page."""
    origins = headers.get_all("Origin")
    if not origins:
        return True
    if len(origins) > 1:
        return False
    origin = origins[0].strip()
    return origin == "null" or _LOCAL_ORIGIN.fullmatch(origin) is not None


def _hex(data: bytes | None) -> str | None:
    return None if data is None else data.hex().upper()


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def _aids(value: object) -> tuple[bytes, ...]:
    if not isinstance(value, list) or not value:
        raise HelloError("'aids' must be a non-empty list of AID hex strings")
    aids = []
    for item in value:
        if not isinstance(item, str) or not _HEX.fullmatch(item) or not 10 <= len(item) <= 32:
            shown = repr(item)[:40]
            raise HelloError(f"AID {shown} is not 5-16 bytes of hex (e.g. D392F000260100000001)")
        aids.append(bytes.fromhex(item))
    return tuple(aids)


def parse_hello(message: object) -> Hello:
    """The hello's fields, checked; HelloError says what is wrong."""
    if not isinstance(message, dict) or message.get("type") != "hello":
        raise HelloError('the first frame must be {"type":"hello","version":1,"profile":...}')
    version = message.get("version", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise HelloError(f"version {version!r} is not supported; this server speaks 1")
    profile = message.get("profile")
    if not isinstance(profile, str) or profile not in PROFILES:
        raise HelloError(f"'profile' must be one of {', '.join(PROFILES)}; got {profile!r}")
    persona = message.get("persona")
    if persona is not None and (not isinstance(persona, str) or not persona):
        raise HelloError("'persona' must be a persona name")
    polling = message.get("polling", ["A", "B"])
    if not isinstance(polling, list) or not all(
        isinstance(item, str) and item.upper() in TECHNOLOGIES for item in polling
    ):
        raise HelloError("'polling' must be a list of NFC technologies: A, B (F, V)")
    extended = message.get("extended", False)
    if not isinstance(extended, bool):
        raise HelloError("'extended' must be true or false")
    kind = PROFILES[profile]
    aids = None
    if kind.needs_aids or (kind.uses_aids and message.get("aids") is not None):
        if message.get("aids") is None:
            raise HelloError(f"profile {profile} needs 'aids': the app's select-identifier list")
        aids = _aids(message.get("aids"))
    reader = Reader(frozenset(item.upper() for item in polling), extended, aids)
    return Hello(profile, persona, reader)


class _Link:
    """The session's card as its profile sees it: locked, powered on demand, traced."""

    def __init__(self, card: SessionCard, trace: SessionTrace | None) -> None:
        self.card = card
        self.trace = trace
        self.commands = 0

    @property
    def atr(self) -> bytes:
        return self.card.current().atr

    @property
    def interface(self) -> str:
        return self.card.interface if self.card.interface in INTERFACES else "contact"

    @property
    def contactless_atr(self) -> bytes:
        return self.card.contactless_atr

    def transmit(self, apdu: bytes, *, by_os: bool = False) -> bytes:
        origin = "os" if by_os else None
        if self.trace is not None:
            self.trace.command(apdu, origin)
        with self.card.lock:
            card = self.card.current()
            if not card.powered:  # a served card powered off by its reader meanwhile
                card.power_on()
            response = card.transmit(apdu)
        if self.card.latency:  # a slow card or a slow RF link (outside the lock)
            time.sleep(self.card.latency)
        self.commands += 1
        if self.trace is not None:
            self.trace.response(response, origin)
        return response

    def os_answer(self, apdu: bytes, response: bytes) -> bytes:
        if self.trace is not None:
            self.trace.command(apdu)
            self.trace.response(response, "os")
        return response

    def refused(self, apdu: bytes, refusal: Refused) -> None:
        if self.trace is not None:
            self.trace.command(apdu)
            self.trace.event(f"refused: {refusal.code}: {refusal.message}", code=refusal.code)

    def power_cycle(self) -> None:
        """A new tap: power up from cold (fresh security state, MF level)."""
        with self.card.lock:
            self.card.current().power_on()

    def leave_field(self) -> None:
        """The card leaves the phone's field: unpowered (a served card shared with a reader
        stays powered but loses its security state: a cold reset)."""
        with self.card.lock:
            card = self.card.current()
            if self.card.slot is None:
                card.power_off()
            else:
                card.power_on()

    def warm_reset(self) -> bytes:
        with self.card.lock:
            return self.card.current().reset()


class _Session:
    """One connection: hello, then lock-step frames until the connection closes."""

    def __init__(self, bridge: BridgeServer, ws: ServerConnection, sid: str) -> None:
        self.bridge = bridge
        self.ws = ws
        self.sid = sid
        self.hello: Hello | None = None
        self.profile: Profile | None = None
        self.link: _Link | None = None
        self.inserted = False
        self.closing = False  # the answer just sent ends the session (no-tag on insert)
        self.started = time.monotonic()

    # -- the connection ------------------------------------------------------------

    def run(self) -> None:
        peer = self._peer()
        try:
            if not self._greet():
                return
            while not self.closing:
                message = self.ws.recv()
                self.ws.send(self._answer(message))
            self.ws.close(CLOSE_NORMAL, "no tag")
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("bridge session %s: internal error; closing the connection", self.sid)
            self.ws.close(CLOSE_INTERNAL, "internal error")
        finally:
            self._end(peer)

    def _peer(self) -> str:
        try:
            host, port = self.ws.remote_address[:2]
        except (OSError, TypeError, ValueError):
            return "?"
        return f"{host}:{port}"

    def _greet(self) -> bool:
        """Wait for a valid hello (HELLO_TIMEOUT from connecting); answer every frame before
        it with a `protocol` error. True: the card frame went out and the session runs."""
        deadline = self.started + self.bridge.hello_timeout
        while True:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                message = self.ws.recv(timeout=left)
            except TimeoutError:
                log.info("bridge connection %s: no hello within %g s; closed", self.sid,
                         self.bridge.hello_timeout)  # fmt: skip
                self.ws.close(CLOSE_POLICY, f"no hello within {self.bridge.hello_timeout:g} s")
                return False
            if isinstance(message, bytes):
                self.ws.send(json.dumps(_error("protocol", "a binary frame before the hello: "
                                               "send the hello text frame first")))  # fmt: skip
                continue
            try:
                hello = parse_hello(_json(message))
                profile = make_profile(hello.profile, hello.reader)
                card = self.bridge.cards(hello.persona or self.bridge.default_persona)
            except HelloError as exc:
                self.ws.send(json.dumps(_error("protocol", str(exc))))
                continue
            except ValueError as exc:  # the card factory's refusal (an unknown persona)
                self.ws.send(json.dumps(_error("protocol", str(exc))))
                continue
            return self._start(hello, profile, card)

    def _start(self, hello: Hello, profile: Profile, card: SessionCard) -> bool:
        self.hello, self.profile = hello, profile
        trace = self.bridge.traces(self.sid, card.slot) if self.bridge.traces else None
        self.link = _Link(card, trace)
        log.info(
            "bridge session %s started: profile %s, persona %s, %s, from %s",
            self.sid, hello.profile, self._persona(),
            "own card" if card.slot is None else f"slot {card.slot}'s card", self._peer(),
        )  # fmt: skip
        if trace is not None:
            trace.event(
                f"session start: profile {hello.profile}, persona {self._persona()}",
                profile=hello.profile, persona=self._persona(), peer=self._peer(),
            )  # fmt: skip
        frame = self._tap()
        self.ws.send(json.dumps(frame))
        if frame["type"] == "error":
            self.ws.close(CLOSE_NORMAL, "no tag")
            return False
        return True

    def _end(self, peer: str) -> None:
        link = self.link
        if link is None:
            return
        try:
            if self.inserted:
                link.leave_field()
        finally:
            if link.trace is not None:
                code = self.ws.close_code
                link.trace.event(f"session end: removed (connection closed, code {code})")
                link.trace.close()
            link.card.release()
        log.info(
            "bridge session %s ended: %d APDUs to the card in %.1f s, close code %s (%s)",
            self.sid, link.commands, time.monotonic() - self.started, self.ws.close_code, peer,
        )  # fmt: skip

    def _persona(self) -> str:
        return self.link.card.persona() if self.link is not None else "?"

    # -- frames --------------------------------------------------------------------

    def _tap(self) -> dict[str, Any]:
        """Power the card up and let the profile discover it: the card frame or no-tag."""
        assert self.link is not None and self.profile is not None  # noqa: S101
        self.link.power_cycle()
        self.inserted = True
        try:
            presence = self.profile.tap(self.link)
        except NoTag as exc:
            self.inserted = False
            self.link.leave_field()
            self._event(f"no tag: {exc}")
            return _error("no-tag", str(exc))
        self._event(
            f"inserted: {presence.interface}, ATR {_hex(presence.atr)}",
            uid=_hex(presence.uid), initial_selected_aid=_hex(presence.initial_selected_aid),
        )  # fmt: skip
        return self._card_frame(presence)

    def _card_frame(self, presence: Presence) -> dict[str, Any]:
        assert self.hello is not None  # noqa: S101
        return {
            "type": "card",
            "version": PROTOCOL_VERSION,
            "session": self.sid,
            "profile": self.hello.profile,
            "persona": self._persona(),
            "interface": presence.interface,
            "atr": _hex(presence.atr),
            "uid": _hex(presence.uid),
            "max_transceive": presence.max_transceive,
            "extended": presence.extended,
            "initial_selected_aid": _hex(presence.initial_selected_aid),
        }

    def _event(self, event: str, **details: Any) -> None:
        if self.link is not None and self.link.trace is not None:
            self.link.trace.event(event, **details)

    def _answer(self, message: str | bytes) -> str | bytes:
        if isinstance(message, bytes):
            answer = self._apdu(message)
            return answer if isinstance(answer, bytes) else json.dumps(answer)
        return json.dumps(self._control(message))

    def _apdu(self, apdu: bytes) -> bytes | dict[str, Any]:
        assert self.link is not None and self.profile is not None  # noqa: S101
        if not self.inserted:
            refusal = Refused("tag-lost", "the card was removed (send insert for a new tap)")
            self.link.refused(apdu, refusal)
            return _error(refusal.code, refusal.message)
        try:
            return self.profile.transceive(apdu, self.link)
        except Refused as refusal:
            self.link.refused(apdu, refusal)
            return _error(refusal.code, refusal.message)

    def _control(self, text: str) -> dict[str, Any]:
        assert self.link is not None and self.profile is not None  # noqa: S101
        try:
            frame = _json(text)
        except HelloError as exc:
            return _error("bad-control", str(exc))
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind == "remove":
            if self.inserted:
                self.inserted = False
                self.link.leave_field()
                self._event("removed (control)")
            return {"type": "removed"}
        if kind == "insert":
            if self.inserted:
                self.link.leave_field()
            answer = self._tap()
            self.closing = answer["type"] == "error"  # no-tag: the connection ends
            return answer
        if kind == "reset":
            if not self.inserted:
                return _error("tag-lost", "the card was removed (send insert for a new tap)")
            self.link.warm_reset()
            self.profile.reset()
            self._event("reset (control)")
            presence = self.profile.presence
            return {"type": "reset", "atr": _hex(presence.atr if presence else self.link.atr)}
        if kind == "apdu":
            assert isinstance(frame, dict)  # noqa: S101 - kind came from it
            hex_text = frame.get("hex")
            digits = hex_text.replace(" ", "") if isinstance(hex_text, str) else ""
            if not isinstance(hex_text, str) or not _HEX.fullmatch(digits):
                return _error("bad-control", "'hex' must be the command APDU in hex")
            result = self._apdu(bytes.fromhex(digits))
            if isinstance(result, bytes):
                return {"type": "rapdu", "hex": _hex(result)}
            return result
        if kind == "hello":
            return _error("bad-control", "a second hello: one hello per connection")
        return _error(
            "bad-control",
            f"unknown control frame type {str(kind)[:40]!r}; known: remove, insert, reset, apdu",
        )


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise HelloError("not a JSON text frame") from None


class BridgeServer:
    """The WebSocket listener: one `_Session` per connection, each in its own thread."""

    def __init__(
        self,
        host: str,
        port: int,
        cards: CardFactory,
        *,
        default_persona: str = "default",
        traces: TraceFactory | None = None,
        hello_timeout: float = HELLO_TIMEOUT,
        max_sessions: int = MAX_SESSIONS,
        first_session: int = 1,
    ) -> None:
        self.cards = cards
        self.default_persona = default_persona
        self.traces = traces
        self.hello_timeout = hello_timeout
        self.max_sessions = max_sessions
        self._ids = itertools.count(first_session)
        self._lock = threading.Lock()
        self._connections: set[ServerConnection] = set()
        self._thread: threading.Thread | None = None
        self._server: Server = serve(
            self._handle,
            host,
            port,
            process_request=self._check_request,
            compression=None,
            max_size=MAX_FRAME,
            logger=_WS_LOG,
        )
        self.host, self.port = self._server.socket.getsockname()[:2]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="bridge", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and close every session (each card leaves the field)."""
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close(1001, "server stopping")
        if self._thread is not None:
            self._thread.join(timeout)

    def sessions(self) -> int:
        with self._lock:
            return len(self._connections)

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if not origin_allowed(request.headers):
            log.warning("bridge: refused a connection from a web page (Origin %.80r)",
                        request.headers.get("Origin"))  # fmt: skip
            return connection.respond(
                HTTPStatus.FORBIDDEN, "mynasim bridge: web pages of other origins may not "
                "connect (only loopback pages or clients without Origin)\n",
            )  # fmt: skip
        if self.sessions() >= self.max_sessions:
            return connection.respond(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"mynasim bridge: {self.max_sessions} sessions open already\n",
            )
        return None

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self._connections.add(connection)
            sid = f"b{next(self._ids)}"
        try:
            _Session(self, connection, sid).run()
        finally:
            with self._lock:
                self._connections.discard(connection)
