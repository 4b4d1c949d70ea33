"""`mynasim serve --listen` as a real process, driven by a replay of ACardEmulator's
VICCEmulator (tests/vicc_front_end.py, its own framing): taps, power-off between
taps, the app process restarting, an ATR request, a second front end refused, bad frames,
remove/insert through the control endpoint, counters kept in the state file across a restart.
No pcscd is involved: the test is the reader front end.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serve_process import ROOT, ServeProcess, control_request
from vicc_front_end import (
    KNOWN,
    PIN_STATUS,
    SELECT_AUTH_CA,
    SELECT_AUTH_KEY,
    SELECT_AUTH_PIN,
    SELECT_JPKI,
    SELECT_SIGN_PIN,
    SIGN,
    FrontEnd,
    read_certificate,
    verify_apdu,
)

from simulator import VirtualCard, load_persona
from simulator.service.serve import ServeError, parse_listen

FRONT_END_LINE = re.compile(r"^    front end: vicc://127\.0\.0\.1:(\d+)$", re.MULTILINE)


def wait_for_log(serve: ServeProcess, level: str, text: str, count: int = 1) -> list[str]:
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in serve.log_lines(level) if text in line]
        if len(lines) >= count:
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{count} {level} line(s) with {text!r} expected\n{serve.output()}"
            )
        time.sleep(0.02)


def status(port: int) -> dict[str, object]:
    code, body = control_request(port, "GET", "/status")
    assert code == 200, body
    card: dict[str, object] = body["cards"][0]
    return card


def ctl(control: int, *args: str) -> str:
    """`mynasim ctl` against the endpoint (it sends the run's control token); its stdout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "ctl", "--control", f"127.0.0.1:{control}", *args],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"ctl {args}: {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


def wait_idle(control: int) -> None:
    """Until the listener serves nobody (a front end just left is fully let go)."""
    deadline = time.monotonic() + 10
    while status(control)["connected"]:
        assert time.monotonic() < deadline, "the listener still serves a front end"
        time.sleep(0.02)


def expected_ca_certificate() -> bytes:
    card = VirtualCard.from_persona("default")
    card.power_on()
    for apdu in (SELECT_JPKI, SELECT_AUTH_CA):
        assert card.transmit(apdu)[-2:] == b"\x90\x00"
    return card.transmit(bytes.fromhex("00B00000000000"))[:-2]


def start(tmp_path: Path, *extra: str, name: str = "serve") -> tuple[ServeProcess, int, int]:
    """serve --listen 127.0.0.1:0 with a control endpoint: (process, listen port, control)."""
    serve = ServeProcess(
        ["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "-v", *extra], tmp_path, name
    )
    port = int(serve.wait_for_stdout(FRONT_END_LINE).group(1))
    return serve, port, serve.control_port()


def test_acardemulator_replay_against_serve_listen(tmp_path: Path) -> None:
    state = tmp_path / "card.json"
    persona = load_persona("default")
    pin = persona.auth_pin.value
    serve, port, control = start(tmp_path, "--state", str(state))
    with serve:
        assert f"-> listening for a reader front end on 127.0.0.1:{port}" in serve.stdout()
        assert status(control)["vpcd"] == f"listen 127.0.0.1:{port}"
        app = FrontEnd(("127.0.0.1", port))  # the app process: connect, 01
        # tap 1: the CA certificate in pieces, a wrong signing PIN, the auth PIN, a signature
        assert app.sw(SELECT_JPKI) == 0x9000
        assert app.sw(SELECT_AUTH_CA) == 0x9000
        certificate = read_certificate(app)
        assert certificate == expected_ca_certificate()[: len(certificate)]
        assert app.sw(SELECT_SIGN_PIN) == 0x9000
        assert app.sw(verify_apdu(b"WRONG1")) == 0x63C4
        assert app.sw(SELECT_AUTH_PIN) == 0x9000
        assert app.sw(verify_apdu(pin)) == 0x9000
        assert app.sw(SELECT_AUTH_KEY) == 0x9000
        assert app.sw(SIGN) == 0x9000
        app.deactivate()
        # tap 2, no 01: fresh security state, the spent try is still spent
        assert app.sw(SELECT_JPKI) == 0x9000
        assert app.sw(SELECT_AUTH_KEY) == 0x9000
        assert app.sw(SIGN) == 0x6982
        assert app.sw(SELECT_SIGN_PIN) == 0x9000
        assert app.sw(PIN_STATUS) == 0x63C4
        app.deactivate()
        # an ATR request (the app never sends one; a pcsc-relay-like peer would)
        assert app.atr() == persona.atr
        # a second front end while the app is served: refused, the app keeps working
        other = FrontEnd(("127.0.0.1", port))
        assert other.closed_by_card()
        other.close()
        refused = wait_for_log(serve, "WARNING", "refused a second front end")
        assert len(refused) == 1
        assert app.sw(SELECT_JPKI) == 0x9000
        assert status(control)["connected"] is True
        # the app process restarting: its socket goes, a new one comes with 01
        app.close()
        wait_idle(control)
        assert status(control)["powered"] is False
        app = FrontEnd(("127.0.0.1", port))
        assert app.sw(SELECT_JPKI) == 0x9000
        assert app.sw(SELECT_AUTH_KEY) == 0x9000
        assert app.sw(SIGN) == 0x6982
        app.deactivate()
        app.close()
        wait_idle(control)
        # remove: the connection goes and no front end is served until insert
        app = FrontEnd(("127.0.0.1", port))
        assert app.sw(SELECT_JPKI) == 0x9000
        ctl(control, "remove", "--slot", "0")
        assert status(control)["inserted"] is False
        assert app.closed_by_card()
        app.close()
        wait_idle(control)
        refused_app = FrontEnd(("127.0.0.1", port))
        assert refused_app.closed_by_card()
        refused_app.close()
        wait_for_log(serve, "WARNING", "the card is removed")
        ctl(control, "insert", "--slot", "0")
        assert status(control)["inserted"] is True
        app = FrontEnd(("127.0.0.1", port))
        assert app.sw(SELECT_JPKI) == 0x9000
        assert app.sw(SELECT_SIGN_PIN) == 0x9000
        assert app.sw(PIN_STATUS) == 0x63C4
        app.deactivate()
        app.close()
        assert not serve.log_lines("ERROR"), serve.output()
        assert serve.stop() == 0
    # the counter spent in tap 1 is in the state file: a new serve starts with it
    serve, port, control = start(tmp_path, "--state", str(state), name="again")
    with serve:
        pins = status(control)["pins"]
        assert isinstance(pins, dict)
        assert pins["jpki/001B"]["remaining"] == 4
        assert pins["jpki/0018"]["remaining"] == 3
        app = FrontEnd(("127.0.0.1", port))
        assert app.sw(SELECT_JPKI) == 0x9000
        assert app.sw(SELECT_SIGN_PIN) == 0x9000
        assert app.sw(PIN_STATUS) == 0x63C4
        app.close()
        assert serve.stop() == 0


def test_bad_frames_are_one_error_each_and_serve_keeps_listening(tmp_path: Path) -> None:
    serve, port, control = start(tmp_path)
    cases = [
        (b"\x00\x00", "empty frame (length 0)"),
        (
            b"\x00\x09\x00\xa4\x04",
            "frame cut off: connection closed after 3 of its 9 payload bytes",
        ),
        (b"\x00\x01\x05", f"unknown control byte 05 {KNOWN}"),
    ]
    with serve:
        for number, (raw, detail) in enumerate(cases, start=1):
            app = FrontEnd(("127.0.0.1", port))
            assert app.sw(SELECT_JPKI) == 0x9000
            app.sock.sendall(raw)
            if raw != b"\x00\x01\x05":
                app.sock.shutdown(socket.SHUT_WR)
            assert app.closed_by_card()
            app.close()
            errors = wait_for_log(serve, "ERROR", "malformed frame", number)
            assert len(errors) == number
            assert errors[-1].endswith(
                "slot 0 (default): malformed frame from the front end, closing the connection "
                f"and listening for the next one: {detail}"
            )
            wait_idle(control)
        app = FrontEnd(("127.0.0.1", port))
        assert app.sw(SELECT_JPKI) == 0x9000
        app.close()
        assert len(serve.log_lines("ERROR")) == len(cases)
        assert serve.stop() == 0


def _free_port_pair() -> int:
    """A port P with P and P+1 free just now (serve binds them a moment later)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as second:
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two free ports in a row")


def test_slot_n_listens_on_port_plus_n(tmp_path: Path) -> None:
    port = _free_port_pair()
    serve = ServeProcess(
        ["--listen", f":{port}", "--persona", "default", "--persona", "android",
         "--control", "127.0.0.1:0"],
        tmp_path,
    )  # fmt: skip
    with serve:
        control = serve.control_port()
        out = serve.stdout()
        assert f"    front end: vicc://127.0.0.1:{port}\n" in out
        assert f"    front end: vicc://127.0.0.1:{port + 1}\n" in out
        code, body = control_request(control, "GET", "/status")
        assert code == 200
        assert [card["vpcd"] for card in body["cards"]] == [
            f"listen 127.0.0.1:{port}",
            f"listen 127.0.0.1:{port + 1}",
        ]
        for slot, persona in ((0, "default"), (1, "android")):
            app = FrontEnd(("127.0.0.1", port + slot))
            assert app.atr() == load_persona(persona).atr
            assert app.sw(SELECT_JPKI) == 0x9000
            app.close()
        assert serve.stop() == 0


def test_a_port_in_use_stops_serve_with_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        serve = ServeProcess(["--listen", f"127.0.0.1:{port}", "--control", "none"], tmp_path)
        with serve:
            assert serve.process.wait(timeout=30) == 2
        assert (
            f"mynasim: error: slot 0: cannot listen on 127.0.0.1:{port}: Address already in use"
            in serve.stderr()
        )
        assert "Traceback" not in serve.stderr()


def test_listen_and_vpcd_exclude_each_other(tmp_path: Path) -> None:
    serve = ServeProcess(["--listen", "--vpcd", "127.0.0.1:1", "--control", "none"], tmp_path)
    with serve:
        assert serve.process.wait(timeout=30) == 2
    assert "--listen and --vpcd exclude each other" in serve.stderr()


def test_a_wildcard_listen_prints_what_the_phone_should_use(tmp_path: Path) -> None:
    serve = ServeProcess(["--listen", "0.0.0.0:0", "--control", "none"], tmp_path)
    with serve:
        found = serve.wait_for_stdout(re.compile(r"^    front end: (.*)$", re.MULTILINE))
        line = found.group(1)
        assert "127.0.0.1" not in line
        assert line.startswith("vicc://") or line.startswith("no non-loopback address found")
        listening = re.search(
            r"listening for a reader front end on 0\.0\.0\.0:(\d+)", serve.stdout()
        )
        assert listening is not None, serve.output()
        app = FrontEnd(("127.0.0.1", int(listening.group(1))))
        assert app.sw(SELECT_JPKI) == 0x9000
        app.close()
        assert serve.stop() == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("127.0.0.1", 35963)),
        ("36000", ("127.0.0.1", 36000)),
        (":36000", ("127.0.0.1", 36000)),
        ("0.0.0.0", ("0.0.0.0", 35963)),  # noqa: S104
        ("192.168.1.5:36000", ("192.168.1.5", 36000)),
        ("[::]", ("::", 35963)),
        ("[::]:36001", ("::", 36001)),
        ("localhost", ("localhost", 35963)),
    ],
)
def test_listen_forms(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["::", "::1", "host:port", ":70000", "[::1]:x", "a:b:1"])
def test_bad_listen_forms_say_what_is_wanted(text: str) -> None:
    with pytest.raises(ServeError, match="--listen must be HOST:PORT"):
        parse_listen(text)
