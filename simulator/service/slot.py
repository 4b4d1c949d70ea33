"""A served card: the card, its vpcd connection, its trace and its out-of-band controls."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from simulator.apdu.command import CommandApdu
from simulator.apdu.errors import MalformedApduError
from simulator.card import VirtualCard
from simulator.card.other_key import INS_COMPUTE_DIGITAL_SIGNATURE, other_key_signature
from simulator.service.trace import TraceSink, command_record, event_record, response_record
from simulator.state import StateFileStore
from simulator.transport.contactless import ContactlessReader, reader_for
from simulator.transport.vpcd import (
    GET_ATR,
    POWER_OFF,
    POWER_ON,
    RESET,
    Exchange,
    FrameHandler,
    VpcdClient,
)
from simulator.transport.vpcd_listen import VpcdListener, format_address

PIN_ALIASES = {"auth": "jpki/0018", "sign": "jpki/001B"}
INS_NAMES = {"verify": 0x20, "sign": 0x2A, "read-binary": 0xB0, "select": 0xA4}
FAULT_KINDS = (
    "delay", "flip", "truncate", "sw", "der", "chain61", "wrong-le", "empty", "other-key",
)  # fmt: skip
# kinds that change nothing on a response without data (the fault is used up all the same)
DATA_KINDS = ("truncate", "der", "chain61", "wrong-le", "empty", "other-key")
MAX_DELAY = 120.0  # seconds
MAX_TRUNCATE = 65536  # bytes: the most data a response carries
MAX_SKIP = 65535  # matching commands a fault or an armed removal lets pass first
INS_GET_RESPONSE = 0xC0
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
    skip: int = 0  # matching commands still to let pass before the removal

    def as_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {"ins": f"{self.ins:02X}", "when": self.when}
        if self.skip:
            status["skip"] = self.skip
        return status


@dataclass
class ArmedFault:
    """A change to the response of the next commands with this INS (the card is untouched)."""

    ins: int
    kind: str  # one of FAULT_KINDS
    seconds: float = 0.0  # delay
    sw: int | None = None  # sw: the status word sent instead
    length: int = 0  # truncate: data bytes cut from the end
    remaining: int | None = 1  # None: every matching command until cleared
    skip: int = 0  # matching commands still to let pass before the first use

    def describe(self) -> str:
        detail = {
            "delay": f" {self.seconds:g} s",
            "truncate": f" {self.length} bytes",
            "sw": f" {self.sw or 0:04X}",
        }.get(self.kind, "")
        return f"{self.kind}{detail} on INS {self.ins:02X}"

    def apply(self, response: bytes, other_signature: bytes | None = None) -> bytes:
        """The response as sent (a delay sends it unchanged, later; chain61 sends only 61xx
        here, the slot keeps the data for GET RESPONSE; other-key sends `other_signature`,
        which the slot computed, with the card's SW)."""
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
        if self.kind == "der" and data:
            return corrupt_der(data) + sw
        if self.kind == "chain61" and data:
            return bytes([0x61, min(len(data), 256) & 0xFF])
        if self.kind == "wrong-le" and 0 < len(data) <= 256:
            return bytes([0x6C, len(data) & 0xFF])
        if self.kind == "empty" and data:
            return b"\x90\x00"
        if self.kind == "other-key" and data and other_signature is not None:
            return other_signature + sw
        return response

    def why_not(self, response: bytes) -> str | None:
        """Why this kind leaves the response as it is, or None when it changes it (other-key
        also needs the other key's signature: see CardSlot._after_apdu)."""
        data = response[:-2]
        if len(response) < 2 or (self.kind in DATA_KINDS and not data):
            return "no data"
        if self.kind == "wrong-le" and len(data) > 256:
            return "more than 256 data bytes"
        if self.kind == "other-key" and response[-2:] != b"\x90\x00":
            return "not a signature: SW " + response[-2:].hex().upper()
        return None

    def as_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {"ins": f"{self.ins:02X}", "kind": self.kind}
        if self.kind == "delay":
            status["seconds"] = self.seconds
        elif self.kind == "truncate":
            status["length"] = self.length
        elif self.kind == "sw":
            status["sw"] = f"{self.sw or 0:04X}"
        if self.skip:
            status["skip"] = self.skip
        status["remaining"] = self.remaining
        return status


def der_length_octets(data: bytes) -> tuple[int, int] | None:
    """Where the length octets of the outermost TLV are (offset, count), if `data` starts
    like DER: a constructed tag (bit 6 set: 30 SEQUENCE, 31 SET, A0..., 6x, 7x; multi-byte tag
    numbers allowed) and a definite length (short form, or 81-84 + 1-4 octets), all present.
    A heuristic: the value may be longer than `data` (the first piece of a certificate)."""
    if len(data) < 2 or data[0] in (0x00, 0xFF) or not data[0] & 0x20:
        return None
    offset = 1
    if data[0] & 0x1F == 0x1F:  # high tag number: base-128 octets, the last without bit 8
        while offset < len(data) and offset <= 4 and data[offset] & 0x80:
            offset += 1
        offset += 1
        if offset > 5:
            return None
    if offset >= len(data):
        return None
    first = data[offset]
    if first < 0x80:
        return offset, 1
    count = first & 0x7F
    if not 1 <= count <= 4 or offset + 1 + count > len(data):
        return None  # 80: indefinite (not DER); 85-FF: not a length we believe
    return offset, 1 + count


def corrupt_der(data: bytes) -> bytes:
    """`data` with the DER structure broken: the length octets of the outermost TLV changed
    (long form: every length octet FF, 30 82 06 6F -> 30 82 FF FF; short form: 7F, or 7E if
    it was 7F); data that does not start like DER gets its first byte inverted (XOR FF)."""
    if not data:
        return data
    where = der_length_octets(data)
    if where is None:
        return bytes([data[0] ^ 0xFF]) + data[1:]
    offset, count = where
    if count == 1:
        length = 0x7E if data[offset] == 0x7F else 0x7F
        return data[:offset] + bytes([length]) + data[offset + 1 :]
    return data[: offset + 1] + b"\xff" * (count - 1) + data[offset + count :]


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_skip(skip: object) -> int:
    if not _is_int(skip) or not 0 <= skip <= MAX_SKIP:
        raise ValueError(
            f"skip must be an integer 0-{MAX_SKIP} (matching commands to let pass first), "
            f"got {skip!r}"
        )
    return skip


def make_fault(
    ins: int, kind: str, *, seconds: float = 0.0, sw: int | None = None, length: int = 0,
    times: int = 1, skip: int = 0,
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
    check_skip(skip)
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
    if kind == "other-key" and ins != INS_COMPUTE_DIGITAL_SIGNATURE:
        raise ValueError(
            "other-key is for COMPUTE DIGITAL SIGNATURE (ins 2A) only, not for ins "
            f"{ins:02X}: it answers with the other JPKI key's signature"
        )
    if kind == "truncate" and not (_is_int(length) and 1 <= length <= MAX_TRUNCATE):
        raise ValueError(
            f"a truncate fault needs length, the data bytes to cut (1-{MAX_TRUNCATE}), "
            f"got {length!r}"
        )
    remaining = None if times == 0 else times
    return ArmedFault(ins, kind, float(seconds), sw, length, remaining, skip)


@dataclass
class Withheld:
    """chain61: the response data the card gave and the client has still to fetch with GET
    RESPONSE, and the card's real status word (sent with the last piece)."""

    ins: int
    data: bytes
    sw: bytes


class SlotFrameHandler(FrameHandler):
    """The slot's FrameHandler: answers the GET RESPONSEs of a chain61 fault itself (the card
    never sees them); any other command ends the chain and goes to the card."""

    def __init__(self, slot: CardSlot) -> None:
        super().__init__(slot.card, slot.lock)
        self.slot = slot

    def apdu(self, apdu: bytes) -> bytes:
        with self.lock:
            reader = self.slot.reader  # contactless: the reader answers CLA FF itself
            answer = None if reader is None else reader.intercept(apdu)
            if answer is None:
                answer = self.slot._get_response(apdu)
            return answer if answer is not None else self._transmit(apdu)

    def control(self, code: int) -> bytes | None:
        if code != GET_ATR:  # power off / on / reset: a pending chain is gone
            with self.lock:
                self.slot._withheld = None
        elif self.slot.reader is not None:  # contactless: the ATR the reader builds
            return self.slot.reader.atr
        return super().control(code)


class CardSlot:
    def __init__(
        self,
        index: int,
        card: VirtualCard,
        host: str,
        port: int,
        *,
        state: Path | None = None,
        trace: TraceSink | None = None,
        reinsert_delay: float | None = None,
        peers: Sequence[CardSlot] = (),
        listen: bool = False,
        detached: bool = False,
        interface: str | None = None,
    ) -> None:
        """`peers`: the slots served beside this one (it may be among them); a persona
        switch refuses their cards' identities. `listen`: wait on host:port for a reader
        front end (VpcdListener, ACardEmulator) instead of connecting to vpcd there.
        `detached` (serve --no-vpcd): no reader link at all; the card is reached through
        the bridge only and its client is never started."""
        self.index = index
        self.card = card
        self.state = state
        self.trace = trace
        self.peers = peers
        self.lock = threading.Lock()
        self._armed: ArmedRemoval | None = None
        self._faults: list[ArmedFault] = []
        self._withheld: Withheld | None = None  # chain61: data left for GET RESPONSE
        # `interface` ("contact"/"contactless") overrides the personas' [card] interface;
        # contactless: a PC/SC part-3 reader in front of the card (ATR, FF CA, latency)
        self.interface = interface
        self.reader: ContactlessReader | None = reader_for(card.persona.interface, interface)
        options: dict[str, Any] = {}
        if reinsert_delay is not None:
            options["reinsert_delay"] = reinsert_delay
        self.handler = SlotFrameHandler(self)
        self.detached = detached and not listen
        transport = VpcdListener if listen else VpcdClient
        self.client = transport(
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

    def arm_removal(self, ins: int, when: str = "after", skip: int = 0) -> None:
        """Pull the card on the next command with this INS, after `skip` of them passed."""
        if when not in ("before", "after"):
            raise ValueError("when must be 'before' or 'after'")
        if not 0 <= ins <= 0xFF:
            raise ValueError("ins must be one byte")
        check_skip(skip)
        with self.lock:
            self._armed = ArmedRemoval(ins, when, skip)

    def arm_fault(
        self, ins: int, kind: str, *, seconds: float = 0.0, sw: int | None = None,
        length: int = 0, times: int = 1, skip: int = 0,
    ) -> None:  # fmt: skip
        """Change the response to the next `times` commands with this INS (0: every one
        until clear_faults()), after letting `skip` of them pass unchanged: `delay` it by
        `seconds`, `flip` its last data bit (SW2's without data), `truncate` `length` data
        bytes, send `sw` as its status word, break its DER (`der`), send 61xx and the data
        on GET RESPONSE (`chain61`), send 6Cxx (`wrong-le`), send a bare 9000 instead of data
        and SW (`empty`), or, for COMPUTE DIGITAL SIGNATURE (2A) only, send the signature the
        other JPKI key makes over the same data (`other-key`). Faults apply in arming order,
        the first matching one (not skipping) to a command."""
        fault = make_fault(ins, kind, seconds=seconds, sw=sw, length=length, times=times, skip=skip)
        with self.lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        """Disarm every fault; a chain61 response still waiting for GET RESPONSE is dropped."""
        with self.lock:
            self._faults = []
            self._withheld = None

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
                self.reader = reader_for(card.persona.interface, self.interface)  # new PUPI
                self.state = state
                self._armed = None
                self._faults = []
                self._withheld = None
            old.close()
        self.client.name = f"slot {self.index} ({card.persona.name})"
        self._on_event(f"persona: {card.persona.name}")

    def reset(self) -> None:
        with self.lock:
            self._withheld = None
            if self.card.powered:
                self.card.reset()
        self._on_event("reset (control)")

    def save_state(self, path: Path) -> None:
        """Write the card's current state (retry counters, changed PINs as salted digests)
        to a state file that `--state` / a persona switch loads again. An existing file is
        replaced only if it is a state file of this card (StateFileError otherwise, also
        while another card holds it)."""
        with self.lock:
            card = self.card
            records = card.pin_records()
        store = StateFileStore(path, VirtualCard.identity_of(card.persona))
        try:
            for key, record in records.items():
                store.put(key, record)
        finally:
            store.close()

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
            withheld = self._withheld
            pins = {
                key: {"remaining": pin.remaining, "max": pin.max_tries, "blocked": pin.blocked}
                for key, pin in card.pins().items()
            }
            powered = card.powered
            state = self.state
            reader = self.reader
        persona = card.persona
        return {
            "slot": self.index,
            "persona": persona.name,
            "token_serial": persona.token_serial,
            "atr": (card.atr if reader is None else reader.atr).hex(" ").upper(),
            "interface": "contact" if reader is None else "contactless",
            "uid": None if reader is None else reader.uid,  # the PUPI of this tap
            "vpcd": None  # --no-vpcd: no reader link at all
            if self.detached
            else ("listen " if isinstance(self.client, VpcdListener) else "")
            + format_address(*self.client.address),
            "inserted": self.client.inserted,
            "connected": self.client.connected,
            "powered": powered,
            "selected": None if selected is None else selected.aid.hex().upper(),
            "application": None if selected is None else selected.name,  # JPKI, text, ...
            "state": str(state) if state else None,
            "armed_removal": None if armed is None else armed.as_status(),
            "faults": faults,
            "withheld": None
            if withheld is None
            else {"ins": f"{withheld.ins:02X}", "bytes": len(withheld.data)},
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
            if armed.skip:
                armed.skip -= 1
                return None
            self._armed = None
        self._on_event(f"armed removal on INS {armed.ins:02X} ({armed.when} processing)")
        return "drop" if armed.when == "before" else "tear"

    def _after_apdu(self, apdu: bytes, response: bytes) -> bytes | None:
        reader = self.reader  # contactless latency: on the card's answers, not the reader's
        if reader is not None and reader.latency and reader.intercept(apdu) is None:
            if not self.client.hold(reader.latency):
                self._on_event("contactless: answer not sent (card left during the latency)")
                return None
        if not self._faults:  # the common case, without taking the lock
            return response
        other = None
        with self.lock:
            fault = self._take_fault(apdu)
            why = None if fault is None else fault.why_not(response)
            if fault is not None and why is None and fault.kind == "chain61":
                self._withheld = Withheld(apdu[1], response[:-2], response[-2:])
            if fault is not None and why is None and fault.kind == "other-key":
                other = other_key_signature(self.card, apdu)  # the card as it just answered
                why = "no other JPKI key for this command" if other is None else None
        if fault is None:
            return response
        if why is not None:
            self._on_event(f"fault: {fault.describe()} not applicable ({why}): unchanged")
            return response
        self._on_event(f"fault: {fault.describe()}")
        if fault.kind != "delay":
            return fault.apply(response, other)
        if self.client.hold(fault.seconds):  # without the lock: status and controls answer
            return response
        self._on_event(f"fault: delayed response on INS {fault.ins:02X} not sent (card gone)")
        return None

    def _take_fault(self, apdu: bytes) -> ArmedFault | None:
        """The first fault armed on this APDU's INS that skips no more, used once; every
        matching fault still skipping counts this command (call with the lock held)."""
        if len(apdu) < 4:
            return None
        chosen = None
        for fault in list(self._faults):
            if fault.ins != apdu[1]:
                continue
            if fault.skip:
                fault.skip -= 1
            elif chosen is None:
                chosen = fault
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
        return chosen

    def _get_response(self, apdu: bytes) -> bytes | None:
        """The answer to a GET RESPONSE (00 C0 00 00 Le) while chain61 data is withheld:
        up to Le bytes, then 61xx while more is left (xx: what is left, 00 for 256 or more),
        the card's own SW with the last piece; 6A86 for P1-P2 not 00 00, 6700 without Le
        (the chain is kept for both). None: not such a command (any other command ends the
        chain and goes to the card). Call with the lock held."""
        withheld = self._withheld
        if withheld is None:
            return None
        if len(apdu) < 4 or apdu[1] != INS_GET_RESPONSE:
            self._withheld = None
            return None
        if apdu[2:4] != b"\x00\x00":
            return b"\x6a\x86"
        try:
            command = CommandApdu.parse(apdu)
        except (MalformedApduError, ValueError):
            return b"\x67\x00"
        wanted = command.le
        if wanted is None or command.data:  # no Le, or a body: not a GET RESPONSE
            return b"\x67\x00"
        piece, rest = withheld.data[:wanted], withheld.data[wanted:]
        if not rest:
            self._withheld = None
            return piece + withheld.sw
        withheld.data = rest
        return piece + bytes([0x61, min(len(rest), 256) & 0xFF])

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
        if event in ("inserted", "removed"):  # a new session: no chain61 data left over
            self._withheld = None  # (no lock: callers may hold it; one store is atomic)
        if event == "inserted" and self.reader is not None:
            self.reader.tap()  # contactless: every tap a new PUPI
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
