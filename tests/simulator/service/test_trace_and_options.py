"""JSON-lines traces, `Server`/`ServeOptions` checks and `Server.describe()`."""

from __future__ import annotations

import gc
import json
import socket
import struct
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from card_helpers import JPKI_AID
from peer_framing import receive_frame

from simulator.personalization.persona import Persona, fixtures_root
from simulator.service.serve import ServeError, ServeOptions, Server, parse_host_port
from simulator.service.trace import TraceWriter, command_record, event_record, response_record

TIMEOUT = 5.0
SELECT_JPKI = bytes.fromhex("00A4040C0A" + JPKI_AID.hex())
NO_CONTROL: dict[str, Any] = {"control": None}


class MiniVpcd:
    """Just enough vpcd for one connection: frames out, frames in."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.port: int = self.listener.getsockname()[1]
        self.sock: socket.socket | None = None

    def accept(self) -> None:
        self.sock, _ = self.listener.accept()
        self.sock.settimeout(TIMEOUT)

    def send(self, payload: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(struct.pack("!H", len(payload)) + payload)

    def exchange(self, payload: bytes) -> bytes:
        self.send(payload)
        assert self.sock is not None
        return receive_frame(self.sock)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.listener.close()


@pytest.fixture
def vpcd() -> Iterator[MiniVpcd]:
    server = MiniVpcd()
    yield server
    server.close()


def read_trace(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines
    return [json.loads(line) for line in lines]  # every line is JSON on its own


# -- traces -----------------------------------------------------------------------------


def test_served_traffic_is_traced_with_pins_redacted(
    vpcd: MiniVpcd, tmp_path: Path, default_persona: Persona
) -> None:
    trace = tmp_path / "trace.jsonl"
    server = Server(
        ServeOptions(
            ["default"], [], vpcd_port=vpcd.port, trace=trace, reinsert_delay=0.05, **NO_CONTROL
        )
    )
    server.start()
    try:
        vpcd.accept()
        assert vpcd.exchange(b"\x04") == default_persona.atr  # ATR polls are not traced
        vpcd.send(b"\x01")
        assert vpcd.exchange(SELECT_JPKI) == b"\x90\x00"
        assert vpcd.exchange(bytes.fromhex("00A4020C020018")) == b"\x90\x00"
        auth = default_persona.auth_pin.value
        assert vpcd.exchange(bytes.fromhex("0020008004") + auth) == b"\x90\x00"
        assert vpcd.exchange(bytes.fromhex("0020008004") + b"9876") == b"\x63\xc2"
        assert vpcd.exchange(bytes.fromhex("00A4020C02001B")) == b"\x90\x00"
        sign = default_persona.sign_pin.value
        assert vpcd.exchange(bytes([0, 0x20, 0, 0x80, len(sign)]) + sign) == b"\x90\x00"
        server.slots[0].arm_removal(0x20, "after")
        vpcd.send(bytes.fromhex("0020008004") + auth)  # processed, never answered
        assert vpcd.sock is not None and vpcd.sock.recv(1) == b""
    finally:
        server.stop()  # joins the card thread: every record is written
    records = read_trace(trace)
    text = trace.read_text(encoding="utf-8")

    for record in records:
        assert record["slot"] == 0
        assert record["time"].endswith("Z") and "T" in record["time"]
        assert record["direction"] in ("command", "response", "event")
    commands = [r for r in records if r["direction"] == "command"]
    responses = [r for r in records if r["direction"] == "response"]
    events = [r["event"] for r in records if r["direction"] == "event"]
    assert len(commands) == len(responses) == 7
    assert events[:2] == ["inserted", "power-on"]
    assert "armed removal on INS 20 (after processing)" in events
    assert "removed" in events
    assert [c["apdu"] for c in commands if c["apdu"].startswith("00 20")] == [
        "00 20 00 80 04 ** ** ** **",
        "00 20 00 80 04 ** ** ** **",
        "00 20 00 80 06 ** ** ** ** ** **",
        "00 20 00 80 04 ** ** ** **",
    ]
    assert commands[0]["apdu"] == SELECT_JPKI.hex(" ").upper()
    assert responses[0] == {**responses[0], "apdu": "90 00", "sw": "9000", "meaning": "success"}
    assert responses[3]["sw"] == "63C2"
    assert responses[3]["meaning"] == "verification failed, 2 tries left"
    assert responses[-1]["apdu"] is None and responses[-1]["sw"] is None
    assert "removed" in responses[-1]["meaning"]
    for pin in (auth, b"9876", sign):  # no PIN, in any spelling
        assert pin.hex(" ").upper() not in text
        assert pin.hex().upper() not in text.upper()
        assert all(pin.decode() not in r["apdu"] for r in records if r.get("apdu"))
    assert sign.decode() not in text


def test_trace_writer_appends_whole_lines_from_many_threads(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(event_record(9, "earlier run")) + "\n", encoding="utf-8")
    writer = TraceWriter(path)

    def write(slot: int) -> None:
        for _ in range(100):
            writer.write(command_record(slot, bytes.fromhex("0020008004") + b"1234"))
            writer.write(response_record(slot, b"\x63\xc1"))

    threads = [threading.Thread(target=write, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    writer.close()
    records = read_trace(path)
    assert records[0]["event"] == "earlier run"  # appended, not overwritten
    assert len(records) == 1 + 4 * 200
    assert {r["apdu"] for r in records[1:] if r["direction"] == "command"} == {
        "00 20 00 80 04 ** ** ** **"
    }
    response = next(r for r in records if r["direction"] == "response")
    assert set(response) == {"time", "slot", "direction", "apdu", "sw", "meaning"}
    assert (response["sw"], response["meaning"]) == ("63C1", "verification failed, 1 try left")
    assert "31 32 33 34" not in path.read_text(encoding="utf-8")


# -- Server and ServeOptions --------------------------------------------------------------


def test_more_states_than_personas(tmp_path: Path) -> None:
    options = ServeOptions(["default"], [tmp_path / "a.json", tmp_path / "b.json"], **NO_CONTROL)
    with pytest.raises(ServeError, match="2 --state files for 1 card"):
        Server(options)


@pytest.mark.parametrize(
    "personas",
    [
        ["default", "default"],
        ["default", "android", str(fixtures_root() / "personas" / "default.toml")],
    ],
)
def test_the_same_identity_twice(personas: list[str]) -> None:
    with pytest.raises(ServeError, match="same identity") as caught:
        Server(ServeOptions(personas, [], **NO_CONTROL))
    assert "0000000099000001" in str(caught.value)  # names the clashing token serial


def test_a_failed_server_leaves_no_open_trace(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for options in (
            ServeOptions(["default", "default"], [], trace=trace, **NO_CONTROL),
            ServeOptions(["default"], [], trace=trace, control=("192.168.1.1", 0)),
        ):
            try:
                Server(options)
            except ServeError:
                pass
            else:
                raise AssertionError("Server() accepted bad options")
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, [str(w.message) for w in leaks]


@pytest.mark.parametrize(
    "text",
    [
        "localhost",
        "localhost:",
        ":35963",
        "127.0.0.1:port",
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "127.0.0.1: 1",
        "",
        "::1",  # IPv6 needs brackets: [::1]:35963
        "[]:35963",
        "127.0.0.1:\u00b2",  # str.isdigit() says yes, int() says no
    ],
)
def test_parse_host_port_refuses(text: str) -> None:
    with pytest.raises(ServeError, match="--vpcd must be HOST:PORT"):
        parse_host_port(text, "--vpcd")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:35963", ("127.0.0.1", 35963)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:35970", ("::1", 35970)),
    ],
)
def test_parse_host_port_accepts(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text, "--control") == expected


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.1", "example.com"])  # noqa: S104
def test_a_non_loopback_control_host(host: str) -> None:
    with pytest.raises(ServeError, match="loopback only"):
        Server(ServeOptions(["default"], [], control=(host, 0)))


def test_a_busy_control_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(ServeError, match="control endpoint"):
            Server(ServeOptions(["default"], [], control=("127.0.0.1", port)))


def test_describe_names_slot_persona_serial_vpcd_and_reader(tmp_path: Path) -> None:
    state = tmp_path / "card0.json"
    trace = tmp_path / "trace.jsonl"
    server = Server(  # not started: the vpcd port is only named, never connected to
        ServeOptions(["default", "android"], [state], trace=trace, control=("127.0.0.1", 0))
    )
    try:
        lines = server.describe()
        serials = [slot.card.persona.token_serial for slot in server.slots]
    finally:
        server.stop()
    assert lines[0] == "mynasim serve: 2 card(s)"
    assert lines[1] == (
        f"  slot 0: persona 'default' (token serial {serials[0]}) -> vpcd 127.0.0.1:35963, "
        f'reader "Virtual PCD 00 00"; state {state}'
    )
    assert lines[2] == (
        f"  slot 1: persona 'android' (token serial {serials[1]}) -> vpcd 127.0.0.1:35964, "
        'reader "Virtual PCD 00 01"; state in memory'
    )
    assert f"trace: {trace}" in lines
    assert any(line.startswith("control: http://127.0.0.1:") for line in lines)


def test_describe_without_the_standard_port_names_no_reader() -> None:
    server = Server(ServeOptions(["default"], [], vpcd_port=40000, **NO_CONTROL))
    try:
        lines = server.describe()
    finally:
        server.stop()
    assert "-> vpcd 127.0.0.1:40000; state in memory" in lines[1]
    assert "Virtual PCD" not in "\n".join(lines)
    assert not any(line.startswith("control:") for line in lines)


def test_serve_with_an_unknown_persona_exits_2() -> None:
    result = subprocess.run(
        # --control none: even a broken build cannot take the lead's port 35970
        [sys.executable, "-m", "simulator", "serve", "--persona", "nobody", "--control", "none"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("mynasim: error: unknown persona 'nobody'")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
