"""The in-memory trace hub (ring buffer per slot, long polling, subscribers) and the
command names the workbench shows."""

from __future__ import annotations

import threading
import time
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from simulator.service.trace import TraceHub, TraceTee, describe_command, event_record


def test_numbers_ring_and_slots() -> None:
    hub = TraceHub(size=3)
    for index in range(5):
        hub.write(event_record(0, f"e{index}"))
    hub.write(event_record(1, "other"))
    assert hub.last == 6
    kept = hub.since(0)
    assert [number for number, _ in kept] == [3, 4, 5, 6]  # slot 0 keeps its last 3
    assert [record["event"] for _, record in hub.since(0, slot=0)] == ["e2", "e3", "e4"]
    assert hub.since(6) == []
    assert [number for number, _ in hub.since(4)] == [5, 6]


def test_wait_returns_at_once_when_records_are_there_and_on_close() -> None:
    hub = TraceHub()
    hub.write(event_record(0, "x"))
    started = time.monotonic()
    assert len(hub.wait(0, 5.0)) == 1
    assert time.monotonic() - started < 1
    threading.Timer(0.2, hub.close).start()
    assert hub.wait(1, 10.0) == []
    assert time.monotonic() - started < 5


def test_subscribers_see_every_record_until_they_leave() -> None:
    hub = TraceHub()
    seen: list[tuple[int, dict[str, Any]]] = []
    leave = hub.subscribe(lambda number, record: seen.append((number, record)))
    hub.write(event_record(0, "a"))
    leave()
    hub.write(event_record(0, "b"))
    assert [(n, r["event"]) for n, r in seen] == [(1, "a")]


def test_tee_feeds_every_sink() -> None:
    first, second = TraceHub(), TraceHub()
    TraceTee([first, second]).write(event_record(2, "both"))
    assert first.since(0) == second.since(0)


def test_command_names() -> None:
    assert describe_command("00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01") == "SELECT by AID"
    assert describe_command("00 A4 02 0C 02 00 18") == "SELECT EF"
    assert describe_command("00 20 00 80 04 ** ** ** **") == "VERIFY"
    assert describe_command("00 20 00 80") == "VERIFY (tries left?)"
    assert describe_command("80 2A 00 80 33 30 31") == "COMPUTE DIGITAL SIGNATURE"
    assert describe_command("00 B0 00 00 00") == "READ BINARY"
    assert describe_command("00 C0 00 00 20") == "GET RESPONSE"
    assert describe_command("00 F0 00 00") == "INS F0"
    assert describe_command("00") == "malformed"
    assert describe_command(None) == "malformed"


@given(st.text(max_size=60))
def test_any_text_gets_a_name(text: str) -> None:
    assert isinstance(describe_command(text), str)
