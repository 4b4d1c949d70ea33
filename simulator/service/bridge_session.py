"""What serve gives the WebSocket bridge: the cards of its sessions and their traces.

Cards: each session gets a fresh in-memory card of the persona its hello names (built-in
personas, or the server's default `--bridge-persona`, which may be a file), or, with
`--bridge-shared`, served slot 0's card under that slot's lock.

Traces: a session's APDUs and events become records in serve's trace format
(`simulator.service.trace`, PIN data redacted) with two more keys: "session" (the bridge's
session id) and, on records the phone OS made rather than the app or the card, "origin":
"os". "slot" is the served slot whose card the session used (--bridge-shared) or null for a
session's own card, so readers that follow one slot's card (rp-check) never mix them in.
With a report directory each session also gets DIR/<session>.jsonl (the same records) and,
when the session ends, DIR/<session>.html from the renderer the command line passes in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from simulator.card import VirtualCard
from simulator.service.slot import CardSlot, build_card
from simulator.service.trace import (
    TraceSink,
    TraceWriter,
    command_record,
    event_record,
    response_record,
)
from simulator.transport.bridge import CardFactory, SessionCard

log = logging.getLogger("simulator.service")

# (the session's JSON-lines trace, the HTML file to write) -> None
Renderer = Callable[[Path, Path], None]
_SESSION_FILE = re.compile(r"b(\d+)\.jsonl")


def _session_card(card: VirtualCard, override: str | None, **fields: Any) -> SessionCard:
    """The card's own interface (the persona's `[card] interface`, or serve's --interface
    `override`): contact, or contactless Type B with the persona's contactless ATR; and the
    persona's latency_ms on every answer of the card (a phone always reads over RF)."""
    interface = card.persona.interface
    contactless = (override or interface.kind) == "contactless"
    return SessionCard(
        interface="contactless-b" if contactless else "contact",
        contactless_atr=interface.contactless_atr,
        latency=interface.latency,  # a phone reads over RF: on every profile
        **fields,
    )


def own_cards(default: str, builtin: Collection[str], interface: str | None = None) -> CardFactory:
    """A fresh in-memory card per session: a built-in persona, or `default` (the operator's
    --bridge-persona, possibly a file). Other names are refused: a WebSocket client must not
    make the server read files. `interface`: serve's --interface override."""

    def make(persona: str) -> SessionCard:
        if persona != default and persona not in builtin:
            raise ValueError(
                f"unknown persona {persona[:60]!r}; built-in: {', '.join(sorted(builtin))}"
            )
        card = build_card(persona, None, {}, f"persona {persona!r}")
        return _session_card(
            card, interface, current=lambda: card, persona=lambda: card.persona.name,
            release=card.close,
        )  # fmt: skip

    return make


def shared_card(slot: CardSlot) -> CardFactory:
    """Every session on the slot's card, under the slot's lock (the hello's persona is
    ignored: the card frame names the slot's)."""

    def make(_persona: str) -> SessionCard:
        return _session_card(
            slot.card, slot.interface, current=lambda: slot.card,
            persona=lambda: slot.card.persona.name, lock=slot.lock, slot=slot.index,
        )  # fmt: skip

    return make


class SessionRecords:
    """One session's trace: records into serve's trace and the session's own file."""

    def __init__(
        self,
        session: str,
        slot: int | None,
        trace: TraceSink | None,
        report_dir: Path | None,
        render: Renderer | None,
    ) -> None:
        self.session = session
        self.slot = slot
        self.trace = trace
        self.render = render
        self.own: TraceWriter | None = None
        if report_dir is not None:
            try:
                self.own = TraceWriter(report_dir / f"{session}.jsonl")
            except OSError as exc:
                log.warning("bridge session %s: no report file: %s", session, exc)

    def _write(self, record: dict[str, Any], origin: str | None = None) -> None:
        record["slot"] = self.slot
        record["session"] = self.session
        if origin is not None:
            record["origin"] = origin
        sinks: tuple[TraceSink | None, ...] = (self.trace, self.own)
        for sink in sinks:
            if sink is not None:
                try:
                    sink.write(record)
                except (OSError, ValueError) as exc:  # a closed or full file: keep serving
                    log.warning("bridge session %s: trace not written: %s", self.session, exc)

    def command(self, apdu: bytes, origin: str | None = None) -> None:
        self._write(command_record(0, apdu), origin)

    def response(self, response: bytes, origin: str | None = None) -> None:
        self._write(response_record(0, response), origin)

    def event(self, event: str, **details: Any) -> None:
        self._write(event_record(0, event) | details)

    def close(self) -> None:
        if self.own is None:
            return
        self.own.close()
        if self.render is None:
            return
        html = self.own.path.with_suffix(".html")
        try:
            self.render(self.own.path, html)
        except Exception:  # a report must never take the server down
            log.exception("bridge session %s: HTML report %s not written", self.session, html)


class BridgeTraces:
    """The bridge's trace factory: a SessionRecords per session (see the module text)."""

    def __init__(
        self,
        trace: TraceSink | None,
        report_dir: Path | None = None,
        render: Renderer | None = None,
    ) -> None:
        self.trace = trace
        self.report_dir = report_dir
        self.render = render

    def __call__(self, session: str, slot: int | None) -> SessionRecords:
        return SessionRecords(session, slot, self.trace, self.report_dir, self.render)

    def first_session(self) -> int:
        """The first session number whose report file is not there yet (a restarted server
        adds to a report directory instead of appending to old sessions' files)."""
        if self.report_dir is None or not self.report_dir.is_dir():
            return 1
        used = [
            int(found.group(1))
            for path in self.report_dir.iterdir()
            if (found := _SESSION_FILE.fullmatch(path.name))
        ]
        return max(used, default=0) + 1
