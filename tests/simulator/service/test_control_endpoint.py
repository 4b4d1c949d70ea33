"""The HTTP+JSON control endpoint and `mynasim ctl`, over card slots that never go online.

The slots' vpcd clients are never started: no vpcd is needed and no card connects.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from card_helpers import select_ef, select_jpki, tx

from simulator import VirtualCard, load_persona
from simulator.cli import main
from simulator.personalization.persona import Persona
from simulator.service.control import MAX_BODY, ControlServer, require_loopback
from simulator.service.control_token import TOKEN_HEADER, read_token
from simulator.service.ctl import format_status
from simulator.service.slot import CardSlot

TIMEOUT = 5.0


@pytest.fixture
def slots(default_persona: Persona) -> list[CardSlot]:
    return [
        CardSlot(0, VirtualCard(default_persona), "127.0.0.1", 1),
        CardSlot(1, VirtualCard(load_persona("android")), "127.0.0.1", 2),
    ]


@pytest.fixture(scope="module")
def server() -> Iterator[ControlServer]:
    """One endpoint for the module (stopping one takes up to 0.5 s); each test brings its
    own slots."""
    control = ControlServer([], "127.0.0.1", 0)
    control.start()
    yield control
    control.stop()


@pytest.fixture
def port(server: ControlServer, slots: list[CardSlot]) -> Iterator[int]:
    server.slots = slots
    yield int(server.httpd.server_address[1])
    server.slots = []


def request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", TOKEN_HEADER: read_token(port) or ""}
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        assert response.getheader("Content-Type", "").startswith("application/json")
        return response.status, json.loads(payload)
    finally:
        connection.close()


def raw_request(port: int, head: bytes) -> bytes:
    """Send a hand-made request; return whatever comes back before the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(head)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        return answer


def token_line(port: int) -> bytes:
    """The token header of the endpoint on `port`, for hand-made requests."""
    return f"{TOKEN_HEADER}: {read_token(port)}".encode()


def pin_query(card: VirtualCard, fid: int) -> int:
    """The SW of the empty VERIFY (retry status query) on a JPKI PIN."""
    if not card.powered:
        card.power_on()
    select_jpki(card)
    assert select_ef(card, fid) == 0x9000
    return int(tx(card, "00200080")[1])


# -- routes -------------------------------------------------------------------------------


def test_status_shape(port: int) -> None:
    status, body = request(port, "GET", "/status")
    assert status == 200
    cards = body["cards"]
    assert [card["slot"] for card in cards] == [0, 1]
    first = cards[0]
    assert first["persona"] == "default"
    assert first["token_serial"] == "0000000099000001"  # noqa: S105 - not a password
    assert first["atr"] == "3B E0 00 FF 81 31 FE 45 14"
    assert first["vpcd"] == "127.0.0.1:1"
    assert first["inserted"] is True
    assert first["connected"] is False
    assert first["powered"] is False
    assert first["selected"] is None
    assert first["state"] is None
    assert first["armed_removal"] is None
    assert first["pins"]["jpki/0018"] == {"remaining": 3, "max": 3, "blocked": False}
    assert first["pins"]["jpki/001B"] == {"remaining": 5, "max": 5, "blocked": False}
    assert {"text/0011", "juki/001C", "common/001C"} <= set(first["pins"])  # card-info APs
    assert cards[1]["persona"] == "android"
    assert set(cards[1]["pins"]) == {"jpki/0018", "jpki/001B"}  # a phone token has only JPKI
    assert cards[1]["token_serial"] != first["token_serial"]


def test_status_shows_the_selected_application(port: int, slots: list[CardSlot]) -> None:
    slots[0].card.power_on()
    select_jpki(slots[0].card)
    card = request(port, "GET", "/status")[1]["cards"][0]
    assert card["powered"] is True
    assert card["selected"] == "D392F000260100000001"


@pytest.mark.parametrize(
    ("pin", "key", "fid", "remaining", "limit"),
    [
        ("auth", "jpki/0018", 0x0018, 1, 3),
        ("sign", "jpki/001B", 0x001B, 2, 5),
        ("jpki/0018", "jpki/0018", 0x0018, 2, 3),
        ("jpki/001B", "jpki/001B", 0x001B, 4, 5),
        ("jpki%2F001B", "jpki/001B", 0x001B, 3, 5),  # a client that escapes the slash
    ],
)
def test_set_pin_changes_what_the_card_answers(
    port: int, slots: list[CardSlot], pin: str, key: str, fid: int, remaining: int, limit: int
) -> None:
    card = slots[0].card
    status, body = request(port, "POST", f"/cards/0/pins/{pin}", {"remaining": remaining})
    assert status == 200, body
    assert body["slot"] == 0
    assert body["pins"][key] == {"remaining": remaining, "max": limit, "blocked": False}
    assert request(port, "GET", "/status")[1]["cards"][0]["pins"][key]["remaining"] == remaining
    assert pin_query(card, fid) == 0x63C0 | remaining
    assert slots[1].card.pins()[key].remaining == slots[1].card.pins()[key].max_tries


def test_set_pin_to_zero_blocks_it(port: int, slots: list[CardSlot]) -> None:
    status, body = request(port, "POST", "/cards/1/pins/auth", {"remaining": 0})
    assert status == 200
    assert body["pins"]["jpki/0018"] == {"remaining": 0, "max": 3, "blocked": True}
    assert pin_query(slots[1].card, 0x0018) == 0x63C0
    assert tx(slots[1].card, "0020008004" + b"1234".hex())[1] == 0x6984


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/cards/0/pins/auth", b"{not json"),
        ("/cards/0/pins/auth", b"\xff\xfe"),
        ("/cards/0/pins/auth", b"[1]"),
        ("/cards/0/pins/auth", b'{"remaining": "2"}'),
        ("/cards/0/pins/auth", b'{"remaining": 2.0}'),
        ("/cards/0/pins/auth", b'{"remaining": true}'),
        ("/cards/0/pins/auth", b'{"remaining": null}'),
        ("/cards/0/pins/auth", b"{}"),
        ("/cards/0/pins/auth", b'{"remaining": -1}'),
        ("/cards/0/pins/auth", b'{"remaining": 4}'),  # the auth PIN has 3 tries
        ("/cards/0/pins/sign", b'{"remaining": 6}'),
        ("/cards/0/remove", b'{"ins": "zz"}'),
        ("/cards/0/remove", b'{"ins": "1FF"}'),
        ("/cards/0/remove", b'{"ins": "2A", "when": "later"}'),
    ],
)
def test_bad_requests_are_400(port: int, slots: list[CardSlot], path: str, raw: bytes) -> None:
    status, body = request(port, "POST", path, raw=raw)
    assert status == 400, body
    assert body["error"]
    card = slots[0].status()
    assert card["pins"]["jpki/0018"]["remaining"] == 3  # nothing changed
    assert card["pins"]["jpki/001B"]["remaining"] == 5
    assert card["armed_removal"] is None
    assert card["inserted"] is True


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nothing"),
        ("GET", "/cards"),
        ("POST", "/status"),
        ("POST", "/cards/2/reset"),  # two slots: 0 and 1
        ("POST", "/cards/x/reset"),
        ("POST", "/cards/-1/reset"),
        ("POST", "/cards/0/explode"),
        ("POST", "/cards/0/pins/nobody"),
        ("POST", "/cards/0/pins/jpki/0019"),
        ("POST", "/things/0/reset"),
        ("POST", "/cards//reset"),
    ],
)
def test_unknown_things_are_404(port: int, method: str, path: str) -> None:
    status, body = request(port, method, path, {"remaining": 1} if method == "POST" else None)
    assert status == 404, body
    assert body["error"]


def test_a_body_over_the_limit_is_refused(port: int, slots: list[CardSlot]) -> None:
    big = json.dumps({"remaining": 1, "pad": "x" * MAX_BODY}).encode()
    assert len(big) > MAX_BODY
    status, body = request(port, "POST", "/cards/0/pins/auth", raw=big)
    assert status == 413
    assert "too large" in body["error"]
    assert slots[0].card.pins()["jpki/0018"].remaining == 3
    assert request(port, "GET", "/status")[0] == 200  # still serving


@pytest.mark.parametrize("length", [b"abc", b"-1", b"99999999999999999999"])
def test_a_bad_content_length_is_answered(port: int, length: bytes) -> None:
    """Answered, not read to the end of the stream (-1) nor dropped (a traceback)."""
    answer = raw_request(
        port,
        b"POST /cards/0/reset HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\nContent-Length: %s\r\n\r\n{}"
        % (port, token_line(port), length),
    )
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.split()[1:2] in ([b"400"], [b"413"]), answer[:200]
    assert request(port, "GET", "/status")[0] == 200


def test_an_odd_slot_number_is_404(port: int) -> None:
    for slot in (b"\xb2", b"\xb9"):  # latin-1 superscript two and one: str.isdigit() is True
        answer = raw_request(
            port, b"POST /cards/" + slot + b"/reset HTTP/1.0\r\n" + token_line(port) + b"\r\n\r\n"
        )
        assert answer.split(b"\r\n", 1)[0].split()[1:2] == [b"404"], answer[:200]


def test_arming_a_removal_shows_in_status(port: int, slots: list[CardSlot]) -> None:
    status, body = request(port, "POST", "/cards/0/remove", {"ins": "2A"})
    assert status == 200
    assert body["armed_removal"] == {"ins": "2A", "when": "after"}
    assert body["inserted"] is True  # armed, not removed yet
    cards = request(port, "GET", "/status")[1]["cards"]
    assert cards[0]["armed_removal"] == {"ins": "2A", "when": "after"}
    assert cards[1]["armed_removal"] is None
    body = request(port, "POST", "/cards/0/remove", {"ins": "verify", "when": "before"})[1]
    assert body["armed_removal"] == {"ins": "20", "when": "before"}  # the last arming wins


def test_remove_insert_and_reset(port: int, slots: list[CardSlot]) -> None:
    status, body = request(port, "POST", "/cards/1/remove")
    assert (status, body["inserted"]) == (200, False)
    assert slots[1].client.inserted is False
    assert slots[0].client.inserted is True
    status, body = request(port, "POST", "/cards/1/insert", {})
    assert (status, body["inserted"]) == (200, True)
    card = slots[0].card
    card.power_on()
    select_jpki(card)
    status, body = request(port, "POST", "/cards/0/reset")
    assert status == 200
    assert card.powered and card.selected is None  # the reset cleared the selection


# -- loopback only --------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "192.168.1.1", "example.com", "", "::", "10.0.0.1"],  # noqa: S104 - refused
)
def test_require_loopback_refuses(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        require_loopback(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_require_loopback_accepts(host: str) -> None:
    require_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.1"])  # noqa: S104 - refused
def test_control_server_refuses_a_non_loopback_host(slots: list[CardSlot], host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        ControlServer(slots, host, 0)


def test_control_server_on_ipv6_loopback(
    slots: list[CardSlot], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    control = ControlServer(slots, "::1", 0)
    control.start()
    try:
        port = int(control.httpd.server_address[1])
        assert control.url == f"http://[::1]:{port}"
        code = main(["ctl", "--control", f"[::1]:{port}", "status"])
        assert code == 0
        assert capsys.readouterr().out.startswith("slot 0: persona 'default'")
    finally:
        control.stop()


def test_stop_without_start_returns(slots: list[CardSlot]) -> None:
    control = ControlServer(slots, "127.0.0.1", 0)
    stopper = threading.Thread(target=control.stop, daemon=True)
    started = time.monotonic()
    stopper.start()
    stopper.join(TIMEOUT)
    assert not stopper.is_alive(), "ControlServer.stop() hangs when it was never started"
    assert time.monotonic() - started < 2.0


# -- mynasim ctl ------------------------------------------------------------------------


def ctl(capsys: pytest.CaptureFixture[str], port: int, *args: str) -> tuple[int, str, str]:
    code = main(["ctl", "--control", f"127.0.0.1:{port}", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_ctl_status(port: int, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = ctl(capsys, port, "status")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (
        "slot 0: persona 'default' (token serial 0000000099000001), inserted, "
        "not connected to vpcd, unpowered"
    )
    assert lines[1] == "  vpcd 127.0.0.1:1; selected application: none (MF)"
    assert "  PIN jpki/0018: 3/3 tries left" in lines
    assert "  PIN jpki/001B: 5/5 tries left" in lines
    assert any(line.startswith("slot 1: persona 'android'") for line in lines)


def test_ctl_status_of_a_listening_contactless_slot() -> None:
    card = VirtualCard.from_persona("default", strict=False)
    slot = CardSlot(0, card, "127.0.0.1", 35999, listen=True, interface="contactless")
    try:
        lines = format_status(slot.status())
    finally:
        card.close()
    assert lines[0].endswith("inserted, not connected to a reader front end, unpowered")
    assert lines[1] == "  listening on 127.0.0.1:35999; selected application: none (MF)"
    assert slot.reader is not None
    assert lines[2] == (
        f"  contactless: reader ATR 3B 88 80 01 00 00 05 E0 B3 81 A1 00 7F, PUPI {slot.reader.uid}"
    )


def test_ctl_set_retries(
    port: int, slots: list[CardSlot], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = ctl(capsys, port, "set-retries", "auth", "1")
    assert code == 0
    assert "  PIN jpki/0018: 1/3 tries left" in out.splitlines()
    assert out.startswith("slot 0: persona 'default'")
    assert pin_query(slots[0].card, 0x0018) == 0x63C1
    code, out, _ = ctl(capsys, port, "set-retries", "jpki/001B", "0", "--slot", "1")
    assert code == 0
    assert "  PIN jpki/001B: BLOCKED" in out.splitlines()
    assert slots[1].card.pins()["jpki/001B"].blocked


def test_ctl_remove_armed_and_insert(
    port: int, slots: list[CardSlot], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = ctl(capsys, port, "remove", "--on-ins", "sign", "--when", "before")
    assert code == 0
    assert "  removal armed on INS 2A (before processing)" in out.splitlines()
    code, out, _ = ctl(capsys, port, "remove", "--slot", "1")
    assert code == 0 and "REMOVED" in out.splitlines()[0]
    code, out, _ = ctl(capsys, port, "insert", "--slot", "1")
    assert code == 0 and ", inserted," in out.splitlines()[0]


def test_ctl_reports_refusals(port: int, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = ctl(capsys, port, "set-retries", "auth", "9")
    assert code == 2
    assert out == ""
    assert err.startswith("mynasim: error: POST /cards/0/pins/auth:")
    code, _, err = ctl(capsys, port, "reset", "--slot", "7")
    assert code == 2
    assert "no card in slot '7'" in err


def test_ctl_without_a_server(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    code, out, err = ctl(capsys, closed, "status")
    assert code == 2
    assert out == ""
    assert "cannot reach the control endpoint" in err
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "ctl", "--control", f"127.0.0.1:{closed}", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "cannot reach the control endpoint" in result.stderr
    assert "Traceback" not in result.stderr
