"""`mynasim serve --bridge` as a real process: the bridge URL it prints, sessions over real
WebSocket connections, `--bridge-shared` on slot 0's card (seen by the control endpoint),
`--bridge-report` files, the trace, the log lines, hostile clients, and the command-line
errors. `--no-vpcd` keeps pcscd out of it."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bridge_helpers import JPKI, hello, records, session, sw, tx
from serve_process import ROOT, ServeProcess, control_request
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

BRIDGE_LINE = re.compile(r"^bridge: ws://127\.0\.0\.1:(\d+)", re.MULTILINE)
SELECT_JPKI = "00A4040C0A" + JPKI
BASE = ["--no-vpcd", "--control", "127.0.0.1:0", "--bridge", "ws://127.0.0.1:0"]


def _url(serve: ServeProcess) -> str:
    return f"ws://127.0.0.1:{serve.wait_for_stdout(BRIDGE_LINE).group(1)}"


def _ctl(control: int, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "ctl", "--control", f"127.0.0.1:{control}", *args],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _wait_for(path: Path, serve: ServeProcess) -> None:
    deadline = time.monotonic() + 15
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} not written\n{serve.output()}"
        time.sleep(0.05)


def test_serve_bridge_sessions_trace_reports_and_logs(tmp_path: Path) -> None:
    trace, reports = tmp_path / "trace.jsonl", tmp_path / "reports"
    args = [*BASE, "--trace", str(trace), "--bridge-report", str(reports), "-v"]
    with ServeProcess(args, tmp_path) as serve:
        url = _url(serve)
        out = serve.stdout()
        assert "not connected to vpcd (--no-vpcd)" in out and "waiting for vpcd" not in out
        assert f"bridge reports: {reports}/<session>.html" in out
        sessions = []
        for profile, fields in (
            ("raw", {}),
            ("android-isodep", {}),
            ("android-hce", {}),
            ("ios-corenfc", {"aids": [JPKI]}),
        ):
            with session(url, profile, persona="android", **fields) as (ws, card):
                sessions.append(card["session"])
                assert sw(tx(ws, SELECT_JPKI)) == "9000"
                assert sw(tx(ws, "00A4020C020018")) == "9000"
                assert sw(tx(ws, "002000800431323334")) == "9000"
        with connect(url) as open_one:  # still open when serve stops
            hello(open_one, "raw")
            for sid in sessions:
                _wait_for(reports / f"{sid}.html", serve)
            assert serve.stop() == 0
            with pytest.raises(ConnectionClosed):
                open_one.recv(timeout=10)
            assert open_one.close_code == 1001
        assert "waiting for vpcd" not in serve.stderr()
        starts = [line for line in serve.log_lines("INFO") if "bridge session" in line]
        assert len([line for line in starts if " started: " in line]) == 5
        assert len([line for line in starts if " ended: " in line]) == 5
        assert not serve.log_lines("ERROR", "WARNING")
        everything = serve.stdout() + serve.stderr() + trace.read_text()
    assert "31 32 33 34" not in everything and "31323334" not in everything
    traced = records(trace)
    assert {r["session"] for r in traced} == {*sessions, f"b{len(sessions) + 1}"}
    for sid in sessions:
        own = records(reports / f"{sid}.jsonl")
        assert own == [r for r in traced if r["session"] == sid]
        html = (reports / f"{sid}.html").read_text()
        assert f"mynasim bridge session {sid}" in html and "00 20 00 80 04 ** ** ** **" in html


def test_serve_bridge_shared_uses_slot_0s_card(tmp_path: Path) -> None:
    with ServeProcess([*BASE, "--bridge-shared", "--persona", "ios"], tmp_path) as serve:
        url = _url(serve)
        assert "sessions use slot 0's card" in serve.stdout()
        control = serve.control_port()
        with session(url, "android-hce", persona="default") as (ws, card):
            assert card["persona"] == "ios"  # the slot's, whatever the hello says
            assert sw(tx(ws, SELECT_JPKI)) == "9000"
            assert sw(tx(ws, "00A4020C020018")) == "9000"
            assert sw(tx(ws, "002000800439393939")) == "63C2"
        status, body = control_request(control, "GET", "/status")
        assert status == 200
        assert body["cards"][0]["pins"]["jpki/0018"]["remaining"] == 2
        assert body["cards"][0]["vpcd"] is None  # --no-vpcd: no reader link to show
        shown = _ctl(control, "status")
        assert "no reader link" in shown and "bridge only (--no-vpcd)" in shown
        assert "vpcd 127.0.0.1" not in shown
        with session(url, "raw") as (ws, _card):
            tx(ws, SELECT_JPKI)
            tx(ws, "00A4020C020018")
            assert sw(tx(ws, "00200080")) == "63C2"  # the same card's counter


def test_serve_bridge_survives_hostile_clients(tmp_path: Path) -> None:
    with ServeProcess(BASE, tmp_path) as serve:
        url = _url(serve)
        port = int(url.rsplit(":", 1)[1])
        with session(url, "raw") as (bystander, _card):
            for payload in (b"GET / HTTP/1.1\r\n\r\n", b"\x00" * 5000, b"garbage\r\n\r\n", b""):
                with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                    raw.sendall(payload)
            for _ in range(20):
                with connect(url, max_size=None) as ws:
                    ws.send(bytes(80000))  # oversize: closed 1009
                    with pytest.raises(ConnectionClosed):
                        ws.recv(timeout=10)
                    assert ws.close_code == 1009
            with connect(url) as ws:
                hello(ws, "raw")
                ws.send(bytes.fromhex(SELECT_JPKI))
                ws.socket.close()  # gone mid-APDU
            assert sw(tx(bystander, SELECT_JPKI)) == "9000"
        assert serve.alive()
        with session(url, "android-isodep") as (ws, _card):
            assert sw(tx(ws, SELECT_JPKI)) == "9000"
        assert not serve.log_lines("ERROR"), serve.output()


def _serve_fails(args: list[str], tmp_path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "serve", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2, result
    return result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--bridge", "wss://127.0.0.1:8765"], "ws://"),
        (["--bridge", "http://127.0.0.1:8765"], "ws://"),
        (["--bridge", "ws://:8765"], "host and a port"),
        (["--bridge", "127.0.0.1:8765"], "ws://"),
        (["--bridge-shared"], "need --bridge"),
        (["--bridge-report", "x"], "need --bridge"),
        (["--bridge", "ws://127.0.0.1:0", "--bridge-persona", "no-such-persona"], "bridge-persona"),
    ],
)
def test_serve_refuses_bad_bridge_options(tmp_path: Path, args: list[str], words: str) -> None:
    stderr = _serve_fails(["--no-vpcd", "--control", "none", *args], tmp_path)
    assert "mynasim: error:" in stderr and words in stderr


def test_serve_bridge_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stderr = _serve_fails(
            ["--no-vpcd", "--control", "none", "--bridge", f"ws://127.0.0.1:{port}"], tmp_path
        )
    assert f"cannot listen on 127.0.0.1:{port}" in stderr


def test_serve_bridge_hello_json_answer(tmp_path: Path) -> None:
    """The documented first exchange, byte for byte as an app sees it."""
    with ServeProcess(BASE, tmp_path) as serve:
        with connect(_url(serve)) as ws:
            ws.send('{"type":"hello","version":1,"profile":"android-hce"}')
            card = json.loads(ws.recv(timeout=10))
            assert card["atr"] == "3B80800101" and card["uid"].startswith("08")
            ws.send(bytes.fromhex("00CA5F5100"))
            assert ws.recv(timeout=10) == b"\x6f\x00"
