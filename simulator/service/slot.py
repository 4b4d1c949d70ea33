"""A served card: the card, its vpcd connection, its trace and its out-of-band controls."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from simulator.apdu.command import CommandApdu
from simulator.card import VirtualCard
from simulator.service.trace import TraceWriter, command_record, event_record, response_record
from simulator.transport.vpcd import POWER_OFF, POWER_ON, RESET, Exchange, FrameHandler, VpcdClient

PIN_ALIASES = {"auth": "jpki/0018", "sign": "jpki/001B"}
INS_NAMES = {"verify": 0x20, "sign": 0x2A, "read-binary": 0xB0, "select": 0xA4}
FAULT_KINDS = ("delay", "flip", "truncate", "sw")
MAX_DELAY = 120.0  # seconds
MAX_TRUNCATE = 65536  # bytes: the most data a response carries
_CONTROL_EVENTS = {POWER_OFF: "power-off", POWER_ON: "power-on", RESET: "reset"}
_SWITCHING = threading.Lock()  # one persona switch at a time: the identity check sees all


class IdentityClashError(ValueError):
    """A card would have the token serial of a card already served."""


def build_card(
    persona: str | Path, state: Path | None, served: Mapping[str, str], what: str
) -> VirtualCard:
    """A card to serve: a built-in persona name or a persona file, state in memory unless
    `state` names a state file (created if absent). `served` maps the token serials already
    in use to the card using each; a clash is refused (IdentityClashError, card closed)."""
    card = VirtualCard.from_persona(persona, state=state, strict=False)
    serial = card.persona.token_serial
    if serial in served:
        card.close()
        raise IdentityClashError(
            f"{what} has the same identity (token serial {serial}) as {served[serial]}: "
            "each served card needs its own persona"
        )
    return card


@dataclass
class ArmedRemoval:
    ins: int
    when: str  # "before": the card never sees the command; "after": processed, no answer


@dataclass
class ArmedFault:
    """A change to the response of the next commands with this INS (the card is untouched)."""

    ins: int
    kind: str  # one of FAULT_KINDS
    seconds: float = 0.0  # delay
    sw: int | None = None  # sw: the status word sent instead
    length: int = 0  # truncate: data bytes cut from the end
    remaining: int | None = 1  # None: every matching command until cleared

    def describe(self) -> str:
        detail = {
            "delay": f" {self.seconds:g} s",
            "truncate": f" {self.length} bytes",
            "sw": f" {self.sw or 0:04X}",
        }.get(self.kind, "")
        return f"{self.kind}{detail} on INS {self.ins:02X}"

    def apply(self, response: bytes) -> bytes:
        """The response as sent (a delay sends it unchanged, later)."""
        if len(response) < 2:
            return response
        data, sw = response[:-2], response[-2:]
        if self.kind == "flip":
            if data:
                return data[:-1] + bytes([data[-1] ^ 0x01]) + sw
            return sw[:1] + bytes([sw[1] ^ 0x01])
        if self.kind == "truncate":
            return data[: max(len(data) - self.length, 0)] + sw
        if self.kind == "sw" and self.sw is not None:
            return data + self.sw.to_bytes(2, "big")
        return response

    def as_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {"ins": f"{self.ins:02X}", "kind": self.kind}
        if self.kind == "delay":
            status["seconds"] = self.seconds
        elif self.kind == "truncate":
            status["length"] = self.length
        elif self.kind == "sw":
            status["sw"] = f"{self.sw or 0:04X}"
        status["remaining"] = self.remaining
        return status


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def make_fault(
    ins: int, kind: str, *, seconds: float = 0.0, sw: int | None = None, length: int = 0,
    times: int = 1,
) -> ArmedFault:  # fmt: skip
    """A checked ArmedFault; ValueError says which value is wrong and what is allowed."""
    if not _is_int(ins) or not 0 <= ins <= 0xFF:
        raise ValueError(f"ins must be one byte (00-FF), got {ins!r}")
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; kinds: {', '.join(FAULT_KINDS)}")
    if not _is_int(times) or times < 0:
        raise ValueError(
            "times must be an integer >= 0 (0: every matching command until cleared), "
            f"got {times!r}"
        )
    for name, value, unset, owner in (
        ("seconds", seconds, 0, "delay"),
        ("sw", sw, None, "sw"),
        ("length", length, 0, "truncate"),
    ):
        if kind != owner and value != unset:
            raise ValueError(f"{name} is for {owner} faults only, not for {kind}")
    if kind == "delay" and not (_is_number(seconds) and 0 < seconds <= MAX_DELAY):
        raise ValueError(
            f"a delay needs seconds with 0 < seconds <= {MAX_DELAY:g}, got {seconds!r}"
        )
    if kind == "sw" and not (_is_int(sw) and 0 <= sw <= 0xFFFF):
        raise ValueError(f"an sw fault needs sw, a status word 0000-FFFF, got {sw!r}")
    if kind == "truncate" and not (_is_int(length) and 1 <= length <= MAX_TRUNCATE):
        raise ValueError(
            f"a truncate fault needs length, the data bytes to cut (1-{MAX_TRUNCATE}), "
            f"got {length!r}"
        )
    remaining = None if times == 0 else times
    return ArmedFault(ins, kind, float(seconds), sw, length, remaining)


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
        peers: Sequence[CardSlot] = (),
    ) -> None:
        """`peers`: the slots served beside this one (it may be among them); a persona
        switch refuses their cards' identities."""
        self.index = index
        self.card = card
        self.state = state
        self.trace = trace
        self.peers = peers
        self.lock = threading.Lock()
        self._armed: ArmedRemoval | None = None
        self._faults: list[ArmedFault] = []
        options: dict[str, Any] = {}
        if reinsert_delay is not None:
            options["reinsert_delay"] = reinsert_delay
        self.handler = FrameHandler(card, self.lock)
        self.client = VpcdClient(
            self.handler,
            host,
            port,
            name=f"slot {index} ({card.persona.name})",
            on_exchange=self._on_exchange,
            before_apdu=self._before_apdu,
            after_apdu=self._after_apdu,
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

    def arm_fault(
        self, ins: int, kind: str, *, seconds: float = 0.0, sw: int | None = None,
        length: int = 0, times: int = 1,
    ) -> None:  # fmt: skip
        """Change the response to the next `times` commands with this INS (0: every one
        until clear_faults()): `delay` it by `seconds`, `flip` its last data bit (SW2's
        without data), `truncate` `length` data bytes, or send `sw` as its status word.
        Faults apply in arming order, the first matching one to a command."""
        fault = make_fault(ins, kind, seconds=seconds, sw=sw, length=length, times=times)
        with self.lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults = []

    def load_persona(self, persona: str | Path, state: Path | None = None) -> None:
        """Serve another persona (built-in name or file) in place: still inserted, powered as
        the old card was, security status fresh, armed removal and faults cleared; state in
        memory unless `state` names a state file. ValueError (the old card kept) for an
        unknown or bad persona, an unusable state file, or another slot's identity."""
        with _SWITCHING:
            served = {
                peer.card.persona.token_serial: f"slot {peer.index} ({peer.card.persona.name!r})"
                for peer in self.peers
                if peer is not self
            }
            card = build_card(persona, state, served, f"persona {str(persona)!r}")
            with self.lock:
                old = self.card
                if old.powered:
                    card.power_on()
                self.card = self.handler.card = card
                self.state = state
                self._armed = None
                self._faults = []
            old.close()
        self.client.name = f"slot {self.index} ({card.persona.name})"
        self._on_event(f"persona: {card.persona.name}")

    def reset(self) -> None:
        with self.lock:
            if self.card.powered:
                self.card.reset()
        self._on_event("reset (control)")

    def set_remaining(self, pin: str, remaining: int) -> None:
        key = PIN_ALIASES.get(pin, pin)
        with self.lock:
            pins = self.card.pins()
            if key not in pins:
                raise KeyError(f"no PIN {pin!r}; known: {', '.join([*PIN_ALIASES, *pins])}")
            pins[key].set_remaining(remaining)

    def status(self) -> dict[str, Any]:
        with self.lock:
            card = self.card
            selected = card.selected
            armed = self._armed
            faults = [fault.as_status() for fault in self._faults]
            pins = {
                key: {"remaining": pin.remaining, "max": pin.max_tries, "blocked": pin.blocked}
                for key, pin in card.pins().items()
            }
            powered = card.powered
            state = self.state
        persona = card.persona
        return {
            "slot": self.index,
            "persona": persona.name,
            "token_serial": persona.token_serial,
            "atr": card.atr.hex(" ").upper(),
            "vpcd": "{}:{}".format(*self.client.address),
            "inserted": self.client.inserted,
            "connected": self.client.connected,
            "powered": powered,
            "selected": None if selected is None else selected.aid.hex().upper(),
            "state": str(state) if state else None,
            "armed_removal": None
            if armed is None
            else {"ins": f"{armed.ins:02X}", "when": armed.when},
            "faults": faults,
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

    def _after_apdu(self, apdu: bytes, response: bytes) -> bytes | None:
        if not self._faults:  # the common case, without taking the lock
            return response
        with self.lock:
            fault = self._take_fault(apdu)
        if fault is None:
            return response
        self._on_event(f"fault: {fault.describe()}")
        if fault.kind != "delay":
            return fault.apply(response)
        if self.client.hold(fault.seconds):  # without the lock: status and controls answer
            return response
        self._on_event(f"fault: delayed response on INS {fault.ins:02X} not sent (card gone)")
        return None

    def _take_fault(self, apdu: bytes) -> ArmedFault | None:
        """The first fault armed on this APDU's INS, used once (call with the lock held)."""
        if len(apdu) < 4:
            return None
        for fault in self._faults:
            if fault.ins == apdu[1]:
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return fault
        return None

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
    if text.lower() in INS_NAMES:
        return INS_NAMES[text.lower()]
    try:
        value = int(text, 16)
        CommandApdu(0, value, 0, 0)  # validates the byte range
    except ValueError:
        raise ValueError(
            f"INS {text!r} is neither one hex byte (00-FF) nor a command name "
            f"({', '.join(INS_NAMES)})"
        ) from None
    return value
