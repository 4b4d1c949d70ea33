"""APDU traces as JSON lines: time, slot, direction, APDU hex (PIN data redacted), SW.

One object per line, flushed at once, so a trace survives a killed server:
    {"time": "2026-11-27T13:40:00.123456Z", "slot": 0, "direction": "command",
     "apdu": "00 20 00 80 04 ** ** ** **"}
    {"time": ..., "slot": 0, "direction": "response", "apdu": "90 00", "sw": "9000",
     "meaning": "success"}
Events (insertion, removal, power, malformed frames) have direction "event".

Besides the file, `mynasim serve` always keeps the last records of every slot in memory
(TraceHub, a ring buffer per slot with subscribers): the workbench page and GET /trace of the
control endpoint read them. `describe_command` names a command record's APDU for people.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, TextIO

from simulator.apdu.redact import redacted_hex
from simulator.apdu.sw import describe


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def command_record(slot: int, apdu: bytes) -> dict[str, Any]:
    return {"time": _now(), "slot": slot, "direction": "command", "apdu": redacted_hex(apdu)}


def response_record(slot: int, response: bytes | None) -> dict[str, Any]:
    record: dict[str, Any] = {"time": _now(), "slot": slot, "direction": "response"}
    if response is None or len(response) < 2:
        record.update(apdu=None, sw=None, meaning="no response (card removed)")
        return record
    sw = int.from_bytes(response[-2:], "big")
    code, _, meaning = describe(sw).partition(" ")
    record.update(apdu=response.hex(" ").upper(), sw=code, meaning=meaning.strip("()"))
    return record


def event_record(slot: int, event: str) -> dict[str, Any]:
    return {"time": _now(), "slot": slot, "direction": "event", "event": event}


class TraceWriter:
    """Thread-safe JSON-lines sink."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: TextIO = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


class TraceSink(Protocol):
    """Where a slot sends its trace records (TraceWriter, TraceHub, TraceTee)."""

    def write(self, record: dict[str, Any]) -> None: ...


class TraceTee:
    """Every record to several sinks (the trace file and the in-memory hub)."""

    def __init__(self, sinks: Iterable[TraceSink]) -> None:
        self.sinks = list(sinks)

    def write(self, record: dict[str, Any]) -> None:
        for sink in self.sinks:
            sink.write(record)


Subscriber = Callable[[int, dict[str, Any]], None]
RING_SIZE = 2000  # records kept per slot


class TraceHub:
    """The last `size` records of each slot in memory, each numbered (a sequence over all
    slots, from 1); readers ask for the records after the last number they saw, and may wait
    for new ones (long polling) or subscribe a callback. Thread-safe."""

    def __init__(self, size: int = RING_SIZE) -> None:
        self.size = size
        self._changed = threading.Condition()
        self._rings: dict[int, deque[tuple[int, dict[str, Any]]]] = {}
        self._numbers = itertools.count(1)
        self._last = 0
        self._subscribers: list[Subscriber] = []
        self._closed = False

    @property
    def last(self) -> int:
        """The number of the newest record (0: none yet)."""
        with self._changed:
            return self._last

    def write(self, record: dict[str, Any]) -> None:
        slot = record.get("slot")
        key = slot if isinstance(slot, int) else -1
        with self._changed:
            number = next(self._numbers)
            ring = self._rings.setdefault(key, deque(maxlen=self.size))
            ring.append((number, record))
            self._last = number
            subscribers = list(self._subscribers)
            self._changed.notify_all()
        for subscriber in subscribers:  # outside the lock: a slow one never blocks the card
            subscriber(number, record)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber(number, record)` for every new record; returns the unsubscribe."""
        with self._changed:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._changed:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def since(self, after: int, slot: int | None = None) -> list[tuple[int, dict[str, Any]]]:
        """The kept records numbered above `after` (of one slot, or all), oldest first."""
        with self._changed:
            return self._since(after, slot)

    def wait(
        self, after: int, timeout: float, slot: int | None = None
    ) -> list[tuple[int, dict[str, Any]]]:
        """Like since(), but waits up to `timeout` seconds for a first new record."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._closed or bool(self._since(after, slot)), timeout=timeout
            )
            return self._since(after, slot)

    def close(self) -> None:
        """Wake every waiting reader (the server stops)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _since(self, after: int, slot: int | None) -> list[tuple[int, dict[str, Any]]]:
        if after >= self._last:
            return []
        rings = self._rings.values() if slot is None else [self._rings.get(slot, deque())]
        found = [item for ring in rings for item in ring if item[0] > after]
        found.sort(key=lambda item: item[0])
        return found


COMMAND_NAMES = {
    0x0E: "ERASE BINARY",
    0x20: "VERIFY",
    0x22: "MANAGE SECURITY ENVIRONMENT",
    0x24: "CHANGE REFERENCE DATA",
    0x2A: "PERFORM SECURITY OPERATION",
    0x2C: "RESET RETRY COUNTER",
    0x32: "CHANGE KEY",
    0x70: "MANAGE CHANNEL",
    0x82: "EXTERNAL AUTHENTICATE",
    0x84: "GET CHALLENGE",
    0x86: "GENERAL AUTHENTICATE",
    0x88: "INTERNAL AUTHENTICATE",
    0xA4: "SELECT",
    0xAE: "SET SESSION KEY",
    0xB0: "READ BINARY",
    0xB2: "READ RECORD",
    0xC0: "GET RESPONSE",
    0xCA: "GET DATA",
    0xCB: "GET DATA",
    0xD6: "UPDATE BINARY",
}


def describe_command(apdu: str | None) -> str:
    """A command record's APDU (spaced hex, PIN data `**`) in words: `VERIFY`, `SELECT by
    AID`, `COMPUTE DIGITAL SIGNATURE` (JPKI's 80 2A), `INS F0` for an unknown one."""
    parts = (apdu or "").split()
    try:
        cla, ins, p1 = (int(part, 16) for part in parts[:3])
    except ValueError:
        return "malformed"
    if ins == 0x2A and (cla & 0x80 or p1 == 0x9E):
        return "COMPUTE DIGITAL SIGNATURE"
    name = COMMAND_NAMES.get(ins, f"INS {ins:02X}")
    if ins == 0xA4:
        how = {0x00: "by FID", 0x02: "EF", 0x04: "by AID", 0x08: "by path"}.get(p1)
        return f"{name} {how}" if how else name
    if ins == 0x20 and len(parts) <= 5:  # no data: the tries-left query
        return "VERIFY (tries left?)"
    return name
