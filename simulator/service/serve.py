"""`mynasim serve`: serve cards behind vpcd (pcscd's virtual reader) in the foreground."""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from simulator.personalization.persona import builtin_personas
from simulator.service.bridge_session import BridgeTraces, Renderer, own_cards, shared_card
from simulator.service.control import ControlServer, Extension, PkiControl, pki_state
from simulator.service.slot import CardSlot, IdentityClashError, build_card
from simulator.service.trace import TraceHub, TraceSink, TraceTee, TraceWriter
from simulator.transport.bridge import BridgeServer
from simulator.transport.vpcd import VPCD_PORT
from simulator.transport.vpcd_listen import VpcdListener, front_end_lines

log = logging.getLogger("simulator.service")


class ServeError(ValueError):
    """The serve command line cannot be carried out; the message says why."""


@dataclass(frozen=True)
class ServeOptions:
    personas: Sequence[str]
    states: Sequence[Path]
    vpcd_host: str = "127.0.0.1"
    vpcd_port: int = VPCD_PORT
    control: tuple[str, int] | None = ("127.0.0.1", 35970)
    trace: Path | None = None
    reinsert_delay: float | None = None
    # the workbench page on the control endpoint (--ui), opened in a browser (--ui-open);
    # report folders it lists (--reports); the test PKI served beside the cards (--pki)
    ui: bool = False
    ui_open: bool = False
    reports: Sequence[Path] = ()
    pki: PkiControl | None = None
    # listen for reader front ends (ACardEmulator) on HOST:PORT+n instead of connecting to
    # vpcd; port 0: every slot gets a free port of its own
    listen: tuple[str, int] | None = None
    # "contact" / "contactless": overrides every persona's [card] interface for this run
    interface: str | None = None
    # the WebSocket APDU bridge (simulator.transport.bridge): where it listens, the persona
    # of sessions whose hello names none, sessions on slot 0's card instead of their own,
    # a folder for per-session traces and pages (rendered by `bridge_render`)
    bridge: tuple[str, int] | None = None
    bridge_persona: str = "default"
    bridge_shared: bool = False
    bridge_report: Path | None = None
    bridge_render: Renderer | None = None
    no_vpcd: bool = False  # do not connect the slots to vpcd (bridge or listeners only)


def parse_host_port(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    name = host[1:-1] if bracketed else host
    if (
        not sep
        or not name
        or (":" in name and not bracketed)  # an IPv6 address needs brackets: [::1]:35963
        or not (port.isascii() and port.isdigit())
        or not 0 <= int(port) <= 65535
    ):
        raise ServeError(f"{what} must be HOST:PORT, got {text!r}")
    return name, int(port)


def parse_listen(text: str, vpcd: str = f"127.0.0.1:{VPCD_PORT}") -> tuple[str, int]:
    """--listen's value: HOST:PORT, :PORT or PORT (host 127.0.0.1), HOST or nothing (port
    35963, ACardEmulator's default); an IPv6 host in brackets ([::]:35963). `vpcd`: the
    --vpcd value, which must be left at its default (the two exclude each other)."""
    if vpcd != f"127.0.0.1:{VPCD_PORT}":
        raise ServeError("--listen and --vpcd exclude each other: a slot listens or connects")
    text = text.strip()
    if text.isascii() and text.isdigit():
        text = ":" + text
    if text.startswith(":"):
        text = "127.0.0.1" + text
    elif not text or (":" not in text or text.endswith("]")):
        text = f"{text or '127.0.0.1'}:{VPCD_PORT}"
    return parse_host_port(text, "--listen")


def _slot_address(options: ServeOptions, index: int) -> tuple[str, int]:
    """Where slot `index` connects to vpcd, or listens with --listen (PORT+index)."""
    if options.listen is not None:
        host, port = options.listen
        if port and port + index > 65535:
            raise ServeError(f"--listen port {port} + slot {index} is past 65535")
        return host, port + index if port else 0
    return options.vpcd_host, options.vpcd_port + index


class Server:
    def __init__(self, options: ServeOptions) -> None:
        if len(options.states) > len(options.personas):
            raise ServeError(
                f"{len(options.states)} --state files for {len(options.personas)} card(s): "
                "give one --state per --persona, in the same order"
            )
        if options.ui and options.control is None:
            raise ServeError("--ui serves the page on the control endpoint: drop --control none")
        for folder in options.reports:
            if not Path(folder).is_dir():
                raise ServeError(f"--reports {folder}: not a folder")
        self.options = options
        self.trace = TraceWriter(options.trace) if options.trace else None
        self.hub = TraceHub()  # the last records of every slot, for GET /trace and the page
        self.sink: TraceSink = TraceTee([self.trace, self.hub]) if self.trace else self.hub
        try:
            self.slots = self._build_slots(options)
            self.control: ControlServer | None = None
            if options.control is not None:
                try:
                    self.control = ControlServer(
                        self.slots,
                        *options.control,
                        hub=self.hub,
                        extensions=self._workbench(),
                        pki=options.pki,
                    )
                except (OSError, ValueError) as exc:
                    raise ServeError(f"control endpoint {options.control}: {exc}") from None
            self.bridge = self._make_bridge(options)
        except BaseException:
            for slot in getattr(self, "slots", []):  # no Server: release the state files
                slot.card.close()
            if self.trace is not None:  # ... and the trace file
                self.trace.close()
            raise

    def _make_bridge(self, options: ServeOptions) -> BridgeServer | None:
        if options.bridge is None:
            return None
        if options.bridge_shared and not self.slots:
            raise ServeError("--bridge-shared needs a served card (slot 0)")
        if options.bridge_report is not None:
            try:
                options.bridge_report.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ServeError(f"--bridge-report {options.bridge_report}: {exc}") from None
        if options.bridge_shared:
            cards = shared_card(self.slots[0])
        else:
            try:  # check the default persona now, not at the first session
                build_card(options.bridge_persona, None, {}, "--bridge-persona").close()
            except ValueError as exc:
                raise ServeError(f"--bridge-persona: {exc}") from None
            cards = own_cards(options.bridge_persona, builtin_personas(), options.interface)
        traces = BridgeTraces(self.sink, options.bridge_report, options.bridge_render)
        try:
            return BridgeServer(
                *options.bridge,
                cards,
                default_persona=options.bridge_persona,
                traces=traces,
                first_session=traces.first_session(),
            )
        except OSError as exc:
            host, port = options.bridge
            raise ServeError(
                f"--bridge: cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None

    def _build_slots(self, options: ServeOptions) -> list[CardSlot]:
        slots: list[CardSlot] = []
        try:
            self._add_slots(options, slots)
        except BaseException:
            for slot in slots:
                slot.card.close()
            raise
        return slots

    def _add_slots(self, options: ServeOptions, slots: list[CardSlot]) -> None:
        seen: dict[str, str] = {}
        for index, persona in enumerate(options.personas):
            state = options.states[index] if index < len(options.states) else None
            try:
                card = build_card(persona, state, seen, f"--persona {persona!r}")
            except IdentityClashError as exc:
                raise ServeError(str(exc)) from None
            seen[card.persona.token_serial] = repr(persona)
            slots.append(
                CardSlot(
                    index,
                    card,
                    *_slot_address(options, index),
                    state=state,
                    trace=self.sink,
                    reinsert_delay=options.reinsert_delay,
                    peers=slots,  # a persona switch refuses the other slots' identities
                    listen=options.listen is not None,
                    detached=options.no_vpcd,
                    interface=options.interface,
                )
            )

    def start(self) -> None:
        for slot in self.slots:
            if slot.detached:
                continue  # --no-vpcd: the card is reached through the bridge only
            try:
                slot.client.start()
            except OSError as exc:  # a listening slot whose port is taken
                host, port = slot.client.address
                raise ServeError(
                    f"slot {slot.index}: cannot listen on {host}:{port}: {exc.strerror or exc}"
                    " (another mynasim serve or vicc there? choose another --listen port)"
                ) from None
        if self.options.pki is not None:
            self.options.pki.start()
        if self.control is not None:
            try:
                self.control.start()
            except OSError as exc:  # the token file: the runtime folder is not usable
                raise ServeError(f"control endpoint: {exc}") from None
        if self.bridge is not None:
            self.bridge.start()

    def stop(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()
        if self.control is not None:
            self.control.stop()
        if self.options.pki is not None:
            self.options.pki.stop()
        for slot in self.slots:
            slot.client.stop()
            slot.card.close()
        if self.trace is not None:
            self.trace.close()

    def _workbench(self) -> list[Extension]:
        if not self.options.ui:
            return []
        from simulator.service.workbench import Workbench

        pki = self.options.pki
        return [
            Workbench(
                lambda: [slot.status() for slot in self.slots],
                pki=None if pki is None else functools.partial(pki_state, pki),
                reports=self.options.reports,
            )
        ]

    @property
    def workbench_url(self) -> str:
        """The page, with the token in the fragment (never sent to a server or a log)."""
        if self.control is None:
            raise ServeError("no control endpoint")
        return f"{self.control.url}/#token={self.control.token}"

    def describe(self) -> list[str]:
        lines = [f"mynasim serve: {len(self.slots)} card(s)"]
        for slot in self.slots:
            persona = slot.card.persona
            host, port = slot.client.address
            if isinstance(slot.client, VpcdListener):
                state = f"state {slot.state}" if slot.state else "state in memory"
                lines.append(
                    f"  slot {slot.index}: persona {persona.name!r} (token serial "
                    f"{persona.token_serial}) -> listening for a reader front end on "
                    f"{slot.client.where}; {state}"
                )
                lines.extend(front_end_lines(host, port))
                continue
            reader = ""
            if self.options.vpcd_port == VPCD_PORT:
                reader = f', reader "Virtual PCD 00 {slot.index:02X}"'
            state = f"state {slot.state}" if slot.state else "state in memory"
            where = f"vpcd {host}:{port}{reader}"
            if slot.detached:
                where = "not connected to vpcd (--no-vpcd)"
            lines.append(
                f"  slot {slot.index}: persona {persona.name!r} (token serial "
                f"{persona.token_serial}) -> {where}; {state}"
            )
        for slot in self.slots:
            if slot.reader is not None:
                lines.append(
                    f"  slot {slot.index}: contactless, reader ATR "
                    f"{slot.reader.atr.hex(' ').upper()}, a new PUPI at every insertion"
                )
        if self.bridge is not None:
            cards = (
                "sessions use slot 0's card"
                if self.options.bridge_shared
                else f"a fresh card per session, default persona {self.options.bridge_persona!r}"
            )
            lines.append(f"bridge: {self.bridge.url}  (WebSocket APDU bridge; {cards})")
            if self.options.bridge_report is not None:
                lines.append(f"bridge reports: {self.options.bridge_report}/<session>.html")
        if self.trace is not None:
            lines.append(f"trace: {self.trace.path}")
        if self.control is not None:
            lines.append(f"control: {self.control.url}  (mynasim ctl status)")
            lines.append(
                f"control token: {self.control.token}  (POSTs need it; mynasim ctl reads it "
                f"from {self.control.token_file})"
            )
            if self.options.ui:
                lines.append(f"workbench: {self.workbench_url}")
        if self.options.pki is not None:
            lines.append(f"test PKI: {self.options.pki.url}  (OCSP, CRLs; GET/POST /pki)")
        lines.append(f"stop with Ctrl-C or: kill -TERM {os.getpid()}")
        return lines


def run_server(options: ServeOptions, out: Callable[[str], None] = print) -> int:
    server = Server(options)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        for line in server.describe():
            out(line)
        if options.ui_open:
            _open_browser(server.workbench_url, out)
        stop.wait()
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    out("mynasim serve: stopped (card state is written through on every change)")
    return 0


def _open_browser(url: str, out: Callable[[str], None]) -> None:
    """--ui-open: the user's browser on the page, if one can be started here."""
    import webbrowser

    try:
        opened = webbrowser.open(url)
    except webbrowser.Error:
        opened = False
    if not opened:
        out("workbench: no browser could be started here; open the URL above")
