"""`mynasim serve` as a user runs it: several cards, traces, clean shutdown."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from smartcard.System import readers

from conformance.stack import Pcscd, ServedCard
from simulator import load_persona


def _token_serial(reader_name: str) -> bytes:
    reader = next(r for r in readers() if str(r) == reader_name)
    connection = reader.createConnection()
    connection.connect()
    try:
        for apdu in ("00A4040C0AD392F000260100000001", "00A4020C020006"):
            assert connection.transmit(list(bytes.fromhex(apdu)))[1:] == (0x90, 0x00)
        data, sw1, _ = connection.transmit(list(bytes.fromhex("00B00000A0")))
        assert sw1 == 0x90
        return bytes(data[80:96])
    finally:
        connection.disconnect()
        connection.release()


def test_two_personas_in_two_slots(pcscd: Pcscd, tmp_path: Path) -> None:
    with ServedCard(["default", "under15"], tmp_path) as served:
        assert _token_serial("Virtual PCD 00 00") == load_persona("default").token_serial.encode()
        assert _token_serial("Virtual PCD 00 01") == load_persona("under15").token_serial.encode()
        cards = served.ctl("GET", "/status")["cards"]
        assert [c["persona"] for c in cards] == ["default", "under15"]
        assert all(c["connected"] for c in cards)


def test_trace_file_and_clean_shutdown(pcscd: Pcscd, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    served = ServedCard(["default"], tmp_path, trace=trace).start()
    reader = next(r for r in readers() if str(r) == "Virtual PCD 00 00")
    connection = reader.createConnection()
    connection.connect()
    for apdu in ("00A4040C0AD392F000260100000001", "00A4020C020018", "002000800439393939"):
        connection.transmit(list(bytes.fromhex(apdu)))
    connection.disconnect()
    connection.release()
    assert served.stop(signal.SIGTERM) == 0
    log = served.log_text()
    assert "slot 0: persona 'default'" in log and "stopped" in log
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    commands = [r["apdu"] for r in records if r["direction"] == "command"]
    assert "00 20 00 80 04 ** ** ** **" in commands
    assert "39 39 39 39" not in trace.read_text()
    verify_answer = next(
        r
        for r in records[
            records.index(
                next(r for r in records if r.get("apdu") == "00 20 00 80 04 ** ** ** **")
            ) :
        ]
        if r["direction"] == "response"
    )
    assert (verify_answer["sw"], verify_answer["meaning"]) == (
        "63C2",
        "verification failed, 2 tries left",
    )
    assert {"inserted", "power-on"} <= {r.get("event") for r in records}


def test_serve_survives_pcscd_going_away_when_it_started_pcscd(
    pcscd: Pcscd, tmp_path: Path
) -> None:
    """The card reconnects with backoff when pcscd restarts (only when the tests own pcscd)."""
    if not pcscd.started_here:
        pytest.skip("pcscd belongs to someone else here; CI starts its own and runs this")
    with ServedCard(["default"], tmp_path) as served:
        pcscd.stop()
        restarted = Pcscd.ensure(tmp_path)
        pcscd.process, pcscd.pid = restarted.process, restarted.pid
        served.wait_present(timeout=15)
        assert _token_serial("Virtual PCD 00 00") == load_persona("default").token_serial.encode()
