"""A served card: the card, its vpcd connection, its trace and its out-of-band controls."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.apdu.command import CommandApdu
from simulator.card import VirtualCard
from simulator.service.trace import TraceWriter, command_record, event_record, response_record
from simulator.transport.vpcd import POWER_OFF, POWER_ON, RESET, Exchange, FrameHandler, VpcdClient

PIN_ALIASES = {"auth": "jpki/0018", "sign": "jpki/001B"}
_CONTROL_EVENTS = {POWER_OFF: "power-off", POWER_ON: "power-on", RESET: "reset"}


@dataclass
class ArmedRemoval:
    ins: int
    when: str  # "before": the card never sees the command; "after": processed, no answer


class CardSlot:
    def __init__(
        self,
        index: int,
        card: VirtualCard,
        host: str,
        port: int,
        *,
        state: Path | None = None,
        trace: TraceWriter | None = None,
        reinsert_delay: float | None = None,
    ) -> None:
        self.index = index
        self.card = card
        self.state = state
        self.trace = trace
        self.lock = threading.Lock()
        self._armed: ArmedRemoval | None = None
        options: dict[str, Any] = {}
        if reinsert_delay is not None:
            options["reinsert_delay"] = reinsert_delay
        self.client = VpcdClient(
            FrameHandler(card, self.lock),
            host,
            port,
            name=f"slot {index} ({card.persona.name})",
            on_exchange=self._on_exchange,
            before_apdu=self._before_apdu,
            on_event=self._on_event,
            **options,
        )

    # -- controls --------------------------------------------------------------------

    def arm_removal(self, ins: int, when: str = "after") -> None:
        if when not in ("before", "after"):
            raise ValueError("when must be 'before' or 'after'")
        if not 0 <= ins <= 0xFF:
            raise ValueError("ins must be one byte")
        with self.lock:
            self._armed = ArmedRemoval(ins, when)

    def reset(self) -> None:
        with self.lock:
            if self.card.powered:
                self.card.reset()
        self._on_event("reset (control)")

    def set_remaining(self, pin: str, remaining: int) -> None:
        key = PIN_ALIASES.get(pin, pin)
        pins = self.card.pins()
        if key not in pins:
            raise KeyError(f"no PIN {pin!r}; known: {', '.join([*PIN_ALIASES, *pins])}")
        with self.lock:
            pins[key].set_remaining(remaining)

    def status(self) -> dict[str, Any]:
        with self.lock:
            selected = self.card.selected
            armed = self._armed
            pins = {
                key: {"remaining": pin.remaining, "max": pin.max_tries, "blocked": pin.blocked}
                for key, pin in self.card.pins().items()
            }
        persona = self.card.persona
        return {
            "slot": self.index,
            "persona": persona.name,
            "token_serial": persona.token_serial,
            "atr": self.card.atr.hex(" ").upper(),
            "vpcd": "{}:{}".format(*self.client.address),
            "inserted": self.client.inserted,
            "connected": self.client.connected,
            "powered": self.card.powered,
            "selected": None if selected is None else selected.aid.hex().upper(),
            "state": str(self.state) if self.state else None,
            "armed_removal": None
            if armed is None
            else {"ins": f"{armed.ins:02X}", "when": armed.when},
            "pins": pins,
        }

    # -- hooks from the transport ----------------------------------------------------

    def _before_apdu(self, apdu: bytes) -> str | None:
        if self._armed is None:  # the common case, without taking the lock
            return None
        with self.lock:
            armed = self._armed
            if armed is None or len(apdu) < 4 or apdu[1] != armed.ins:
                return None
            self._armed = None
        self._on_event(f"armed removal on INS {armed.ins:02X} ({armed.when} processing)")
        return "drop" if armed.when == "before" else "tear"

    def _on_exchange(self, exchange: Exchange) -> None:
        if self.trace is None:
            return
        if exchange.kind == "control":
            event = _CONTROL_EVENTS.get(exchange.request[0])
            if event is not None:  # ATR polls (every 0.4 s) are left out
                self.trace.write(event_record(self.index, event))
            return
        self.trace.write(command_record(self.index, exchange.request))
        self.trace.write(response_record(self.index, exchange.response))

    def _on_event(self, event: str) -> None:
        if self.trace is not None:
            self.trace.write(event_record(self.index, event))


def parse_ins(text: str) -> int:
    """An INS given as hex (`2A`, `0x2A`) or as a command name."""
    names = {"verify": 0x20, "sign": 0x2A, "read-binary": 0xB0, "select": 0xA4}
    if text.lower() in names:
        return names[text.lower()]
    value = int(text, 16)
    CommandApdu(0, value, 0, 0)  # validates the byte range
    return value
