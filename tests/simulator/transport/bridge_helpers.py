"""Helpers for the WebSocket bridge tests: a real bridge in-process and a small client
(import with `from bridge_helpers import ...`; real WebSocket connections throughout)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from conformance.trace_report import write_trace_html
from simulator.personalization.persona import builtin_personas
from simulator.service.bridge_session import BridgeTraces, own_cards
from simulator.service.trace import TraceWriter
from simulator.transport.bridge import BridgeServer, CardFactory

JPKI = "D392F000260100000001"
TEXT_AP = "D3921000310001010408"
SURFACE_AP = "D3921000310001010402"
JUKI_AP = "D3921000310001010401"
COMMON_AP = "D3921000310001010100"
TRET_AIDS = [JPKI, TEXT_AP, COMMON_AP, JUKI_AP]  # TRET's select-identifiers (phone-path 3)


@contextmanager
def running_bridge(
    tmp_path: Path, cards: CardFactory | None = None, **options: Any
) -> Iterator[BridgeServer]:
    """A started bridge on a free loopback port, tracing to tmp_path/trace.jsonl and
    reporting into tmp_path/reports."""
    trace = TraceWriter(tmp_path / "trace.jsonl")
    reports = tmp_path / "reports"
    reports.mkdir(exist_ok=True)
    server = BridgeServer(
        "127.0.0.1",
        0,
        cards or own_cards("default", builtin_personas()),
        traces=BridgeTraces(trace, reports, write_trace_html),
        **options,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        trace.close()


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def send_json(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps(frame))
    answer = ws.recv(timeout=10)
    assert isinstance(answer, str), answer
    result: dict[str, Any] = json.loads(answer)
    return result


def hello(ws: ClientConnection, profile: str, **fields: Any) -> dict[str, Any]:
    return send_json(ws, {"type": "hello", "version": 1, "profile": profile, **fields})


def tx(ws: ClientConnection, apdu: str | bytes) -> bytes | dict[str, Any]:
    """One binary command; the binary answer, or the error frame as a dict."""
    ws.send(bytes.fromhex(apdu) if isinstance(apdu, str) else apdu)
    answer = ws.recv(timeout=10)
    if isinstance(answer, bytes):
        return answer
    result: dict[str, Any] = json.loads(answer)
    return result


def sw(answer: bytes | dict[str, Any]) -> str:
    """The status word of a binary answer as hex, or the error frame's code."""
    if isinstance(answer, bytes):
        return answer[-2:].hex().upper()
    return f"error:{answer['code']}"


@contextmanager
def session(url: str, profile: str, **fields: Any) -> Iterator[tuple[ClientConnection, dict]]:
    """A connection with its hello answered: (connection, the card frame)."""
    with connect(url, open_timeout=10) as ws:
        card = hello(ws, profile, **fields)
        assert card["type"] == "card", card
        yield ws, card
