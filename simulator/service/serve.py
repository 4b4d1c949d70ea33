"""`mynasim serve`: serve cards behind vpcd (pcscd's virtual reader) in the foreground."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from simulator.service.control import ControlServer
from simulator.service.slot import CardSlot, IdentityClashError, build_card
from simulator.service.trace import TraceWriter
from simulator.transport.vpcd import VPCD_PORT

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


class Server:
    def __init__(self, options: ServeOptions) -> None:
        if len(options.states) > len(options.personas):
            raise ServeError(
                f"{len(options.states)} --state files for {len(options.personas)} card(s): "
                "give one --state per --persona, in the same order"
            )
        self.options = options
        self.trace = TraceWriter(options.trace) if options.trace else None
        try:
            self.slots = self._build_slots(options)
            self.control: ControlServer | None = None
            if options.control is not None:
                try:
                    self.control = ControlServer(self.slots, *options.control)
                except (OSError, ValueError) as exc:
                    raise ServeError(f"control endpoint {options.control}: {exc}") from None
        except BaseException:
            for slot in getattr(self, "slots", []):  # no Server: release the state files
                slot.card.close()
            if self.trace is not None:  # ... and the trace file
                self.trace.close()
            raise

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
                    options.vpcd_host,
                    options.vpcd_port + index,
                    state=state,
                    trace=self.trace,
                    reinsert_delay=options.reinsert_delay,
                    peers=slots,  # a persona switch refuses the other slots' identities
                )
            )

    def start(self) -> None:
        for slot in self.slots:
            slot.client.start()
        if self.control is not None:
            self.control.start()

    def stop(self) -> None:
        if self.control is not None:
            self.control.stop()
        for slot in self.slots:
            slot.client.stop()
            slot.card.close()
        if self.trace is not None:
            self.trace.close()

    def describe(self) -> list[str]:
        lines = [f"mynasim serve: {len(self.slots)} card(s)"]
        for slot in self.slots:
            persona = slot.card.persona
            host, port = slot.client.address
            reader = ""
            if self.options.vpcd_port == VPCD_PORT:
                reader = f', reader "Virtual PCD 00 {slot.index:02X}"'
            state = f"state {slot.state}" if slot.state else "state in memory"
            lines.append(
                f"  slot {slot.index}: persona {persona.name!r} (token serial "
                f"{persona.token_serial}) -> vpcd {host}:{port}{reader}; {state}"
            )
        if self.trace is not None:
            lines.append(f"trace: {self.trace.path}")
        if self.control is not None:
            lines.append(f"control: {self.control.url}  (mynasim ctl status)")
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
        stop.wait()
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    out("mynasim serve: stopped (card state is written through on every change)")
    return 0
