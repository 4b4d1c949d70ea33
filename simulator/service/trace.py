"""APDU traces as JSON lines: time, slot, direction, APDU hex (PIN data redacted), SW.

One object per line, flushed at once, so a trace survives a killed server:
    {"time": "2026-11-27T13:40:00.123456Z", "slot": 0, "direction": "command",
     "apdu": "00 20 00 80 04 ** ** ** **"}
    {"time": ..., "slot": 0, "direction": "response", "apdu": "90 00", "sw": "9000",
     "meaning": "success"}
Events (insertion, removal, power, malformed frames) have direction "event".
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any, TextIO

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
