"""The workbench's routes and the control endpoint's security, without a browser: an
in-process ControlServer with the Workbench, the in-process test PKI and a report folder;
the slots' vpcd clients are never started."""

from __future__ import annotations

import dataclasses
import functools
import http.client
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from card_helpers import tx

from simulator import VirtualCard, load_persona
from simulator.personalization.persona import PinSpec, builtin_personas
from simulator.revocation.inprocess import InProcessPki
from simulator.service.control import ControlServer, pki_state
from simulator.service.control_token import TOKEN_HEADER, read_token, token_path
from simulator.service.slot import CardSlot
from simulator.service.trace import TraceHub
from simulator.service.workbench import Workbench
from simulator.transport.vpcd import Exchange

TIMEOUT = 10.0


class Endpoint:
    def __init__(self, server: ControlServer, slots: list[CardSlot], reports: Path) -> None:
        self.server = server
        self.slots = slots
        self.reports = reports
        self.port = server.port
        self.bodies: list[str] = []  # every answer, for the PIN scan

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            sent = {"Content-Type": "application/json", **(headers or {})}
            token = self.server.token if token is None else token
            if token:
                sent[TOKEN_HEADER] = token
            data = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            payload = response.read()
            self.bodies.append(payload.decode("utf-8", "replace"))
            return response.status, dict(response.getheaders()), payload
        finally:
            connection.close()

    def json(self, method: str, path: str, body: Any = None, **options: Any) -> tuple[int, Any]:
        status, _, payload = self.request(method, path, body, **options)
        return status, json.loads(payload)

    def apdu(self, slot: int, hex_apdu: str) -> bytes:
        """Send an APDU to the card as vpcd would, traced like serve traces it."""
        card = self.slots[slot].card
        if not card.powered:
            card.power_on()
        raw = bytes.fromhex(hex_apdu)
        response = card.transmit(raw)
        self.slots[slot]._on_exchange(Exchange("apdu", raw, response))
        return response


@pytest.fixture(scope="module")
def pki() -> Iterator[InProcessPki]:
    served = InProcessPki("127.0.0.1", 0)
    served.start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("workbench")
    reports = top / "reports"
    (reports / "card-suite").mkdir(parents=True)
    (reports / "card-suite" / "report.html").write_text("<h1>card suite</h1>")
    (reports / "rp" / "run1").mkdir(parents=True)
    (reports / "rp" / "run1" / "report.html").write_text("<h1>rp</h1>")
    (top / "secret.html").write_text("SECRET OUTSIDE")
    (reports / "escape.html").symlink_to(top / "secret.html")
    return reports


@pytest.fixture(scope="module")
def server(pki: InProcessPki, reports: Path) -> Iterator[ControlServer]:
    """One endpoint for the module (stopping one takes up to 0.5 s); each test brings its
    own slots and trace hub."""
    holder: list[ControlServer] = []
    workbench = Workbench(
        lambda: [slot.status() for slot in holder[0].slots],
        pki=functools.partial(pki_state, pki),
        reports=[reports],
    )
    control = ControlServer([], "127.0.0.1", 0, extensions=[workbench], pki=pki)
    holder.append(control)
    control.start()
    yield control
    control.stop()


@pytest.fixture
def endpoint(server: ControlServer, reports: Path, pki: InProcessPki) -> Iterator[Endpoint]:
    hub = TraceHub()
    slots = [
        CardSlot(0, VirtualCard(load_persona("default")), "127.0.0.1", 1, trace=hub),
        CardSlot(1, VirtualCard(load_persona("android")), "127.0.0.1", 2, trace=hub),
    ]
    server.slots, server.hub = slots, hub
    yield Endpoint(server, slots, reports)
    server.slots = []
    for slot in slots:
        slot.card.close()
    pki.control_post({"now": None, "ocsp": "normal", "crl": "normal"})


# -- the token ------------------------------------------------------------------------


def test_the_token_file_is_private_and_goes_with_the_server() -> None:
    server = ControlServer([], "127.0.0.1", 0)
    server.start()
    path = token_path(server.port)
    assert read_token(server.port) == server.token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    other = ControlServer([], "127.0.0.1", 0)
    assert other.token != server.token  # random per run
    other.stop()
    server.stop()
    assert not path.exists()


@pytest.mark.parametrize(
    "path", ["/cards/0/remove", "/cards/0/reset", "/cards/0/pins/auth", "/pki", "/cards/0/save"]
)
@pytest.mark.parametrize("token", ["", "wrong", "x" * 32])
def test_a_post_without_the_right_token_is_403(endpoint: Endpoint, path: str, token: str) -> None:
    before = endpoint.slots[0].status()
    status, body = endpoint.json("POST", path, {"remaining": 0, "ocsp": "unavailable"}, token=token)
    assert status == 403
    assert "X-Mynasim-Token" in body["error"]
    assert endpoint.slots[0].status() == before  # nothing changed
    assert endpoint.json("GET", "/pki")[1]["ocsp"] == "normal"


def test_get_status_needs_no_token_but_the_state_download_does(endpoint: Endpoint) -> None:
    assert endpoint.json("GET", "/status", token="")[0] == 200
    status, body = endpoint.json("GET", "/cards/0/state", token="")
    assert status == 403 and "token" in body["error"]


@pytest.mark.parametrize(
    "host", ["evil.example:{port}", "127.0.0.1:1", "attacker.test", "localhost.evil:{port}"]
)
def test_a_foreign_host_header_is_refused(endpoint: Endpoint, host: str) -> None:
    """DNS rebinding: a page on evil.example resolved to 127.0.0.1 sends Host evil.example."""
    headers = {"Host": host.format(port=endpoint.port)}
    assert endpoint.json("GET", "/status", headers=headers)[0] == 403
    assert endpoint.request("GET", "/", headers=headers)[0] == 403
    assert endpoint.json("POST", "/cards/0/remove", {}, headers=headers)[0] == 403
    assert endpoint.slots[0].client.inserted is True


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}"])
def test_loopback_host_headers_are_fine(endpoint: Endpoint, host: str) -> None:
    headers = {"Host": host.format(port=endpoint.port)}
    assert endpoint.json("GET", "/status", headers=headers)[0] == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
def test_a_post_from_a_foreign_origin_is_refused_even_with_the_token(
    endpoint: Endpoint, origin: str
) -> None:
    status, body = endpoint.json("POST", "/cards/0/remove", {}, headers={"Origin": origin})
    assert status == 403 and "refused" in body["error"]
    assert endpoint.slots[0].client.inserted is True
    own = {"Origin": f"http://127.0.0.1:{endpoint.port}"}
    assert endpoint.json("POST", "/cards/0/remove", {}, headers=own)[0] == 200
    assert endpoint.slots[0].client.inserted is False


# -- the page ----------------------------------------------------------------------------


def test_the_page_shows_every_card(endpoint: Endpoint, pki: InProcessPki) -> None:
    endpoint.apdu(0, "00A4040C0AD392F000260100000001")
    status, headers, body = endpoint.request("GET", "/", token="")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    page = body.decode()
    assert 'id="card-0"' in page and 'id="card-1"' in page
    assert "3B E0 00 FF 81 31 FE 45 14" in page  # the ATR
    assert "JPKI (公的個人認証) — D392F000260100000001" in page  # application by name
    assert 'id="pin-0-jpki/0018">3<' in page
    for name in builtin_personas():
        assert f'<option value="{name}"' in page
    assert "/reports/0/card-suite/report.html" in page
    assert 'id="pki"' in page and 'value="tryLater"' in page
    assert f'OCSP and CRLs at <a href="{pki.url}/">' in page
    assert endpoint.server.token not in page  # the token only travels in the URL fragment
    assert '<td data-field="vpcd">127.0.0.1:' in page
    endpoint.slots[1].detached = True  # as serve --no-vpcd leaves it
    page = endpoint.request("GET", "/", token="")[2].decode()
    assert page.count('<td data-field="vpcd">none: bridge only (--no-vpcd)<') == 1


def test_static_files(endpoint: Endpoint) -> None:
    status, headers, body = endpoint.request("GET", "/ui/workbench.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert b"X-Mynasim-Token" in body
    status, headers, _ = endpoint.request("GET", "/ui/workbench.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    assert endpoint.request("GET", "/ui/nothing.js")[0] == 404


def test_without_the_workbench_no_page_is_served(tmp_path: Path) -> None:
    server = ControlServer([], "127.0.0.1", 0)
    server.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
        for path in ("/", "/ui/workbench.js", "/reports"):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            assert response.status == 404, path
    finally:
        server.stop()


# -- trace -------------------------------------------------------------------------------


def test_trace_records_are_numbered_named_and_redacted(endpoint: Endpoint) -> None:
    endpoint.apdu(0, "00A4040C0AD392F000260100000001")
    endpoint.apdu(0, "00A4020C020018")
    endpoint.apdu(0, "002000800431323334")
    endpoint.apdu(1, "00A4040C0AD392F000260100000001")
    status, answer = endpoint.json("GET", "/trace?after=0")
    assert status == 200
    records = answer["records"]
    assert [item["seq"] for item in records] == list(range(1, 9))
    assert answer["last"] == 8
    names = [item.get("name") for item in records if item["record"]["direction"] == "command"]
    assert names == ["SELECT by AID", "SELECT EF", "VERIFY", "SELECT by AID"]
    verify = records[4]["record"]
    assert verify["apdu"] == "00 20 00 80 04 ** ** ** **"
    assert records[5]["record"]["sw"] == "9000"
    only_slot_1 = endpoint.json("GET", "/trace?after=0&slot=1")[1]["records"]
    assert [item["record"]["slot"] for item in only_slot_1] == [1, 1]
    assert endpoint.json("GET", "/trace?after=6")[1]["records"][0]["seq"] == 7


def test_trace_long_polling_returns_when_a_record_arrives(endpoint: Endpoint) -> None:
    import threading
    import time

    last = endpoint.json("GET", "/trace?after=0")[1]["last"]
    timer = threading.Timer(0.3, endpoint.apdu, (0, "00A4040C0AD392F000260100000001"))
    started = time.monotonic()
    timer.start()
    answer = endpoint.json("GET", f"/trace?after={last}&wait=10")[1]
    assert 0.2 < time.monotonic() - started < 5
    assert answer["records"][0]["name"] == "SELECT by AID"
    assert endpoint.json("GET", "/trace?after=x")[0] == 400


# -- controls the page adds --------------------------------------------------------------


def test_save_and_load_a_state(endpoint: Endpoint, tmp_path: Path) -> None:
    saved = tmp_path / "saved.json"
    assert endpoint.json("POST", "/cards/0/pins/auth", {"remaining": 1})[0] == 200
    status, card = endpoint.json("POST", "/cards/0/save", {"path": str(saved)})
    assert status == 200, card
    document = json.loads(saved.read_text())
    assert document["format"] == "mynasim-card-state"
    assert document["pins"]["jpki/0018"] == {"remaining": 3 - 2}
    assert endpoint.json("POST", "/cards/0/pins/auth", {"remaining": 3})[0] == 200
    body = {"persona": "default", "state": str(saved)}
    status, card = endpoint.json("POST", "/cards/0/persona", body)
    assert status == 200, card
    assert card["pins"]["jpki/0018"]["remaining"] == 1
    assert card["state"] == str(saved)


@pytest.mark.parametrize(
    "body", [{"path": "relative.json"}, {"path": 3}, {}, {"path": "/nonexistent/x.json", "more": 1}]
)
def test_save_refuses_bad_paths(endpoint: Endpoint, body: dict[str, Any]) -> None:
    status, answer = endpoint.json("POST", "/cards/0/save", body)
    assert status == 400 and "absolute path" in answer["error"]


def test_save_never_overwrites_a_file_that_is_no_state_file(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    precious = tmp_path / "notes.json"
    precious.write_text('{"mine": true}')
    status, answer = endpoint.json("POST", "/cards/0/save", {"path": str(precious)})
    assert status == 400 and "not a mynasim card state file" in answer["error"]
    assert precious.read_text() == '{"mine": true}'


def test_download_the_state(endpoint: Endpoint) -> None:
    endpoint.json("POST", "/cards/1/pins/sign", {"remaining": 2})
    status, headers, body = endpoint.request("GET", "/cards/1/state")
    assert status == 200
    assert 'filename="mynasim-state-android.json"' in headers["Content-Disposition"]
    document = json.loads(body)
    assert document["card"]["persona"] == "android"
    assert document["pins"]["jpki/001B"]["remaining"] == 2


def test_pki_clock_and_modes_through_the_endpoint(endpoint: Endpoint, pki: InProcessPki) -> None:
    body = {"now": "2030-01-02T03:04:05Z", "ocsp": "tryLater", "crl": "stale"}
    status, answer = endpoint.json("POST", "/pki", body)
    assert status == 200, answer
    assert answer["clock"]["fixed"] == "2030-01-02T03:04:05Z"
    connection = http.client.HTTPConnection("127.0.0.1", pki.server.port, timeout=TIMEOUT)
    connection.request("GET", "/control")  # the PKI's own HTTP status
    state = json.loads(connection.getresponse().read())
    assert (state["ocsp"], state["crl"]) == ("tryLater", "stale")
    assert state["clock"]["now"] == "2030-01-02T03:04:05Z"
    status, answer = endpoint.json("POST", "/pki", {"ocsp": "sideways"})
    assert status == 400 and "ocsp" in answer["error"]


# -- reports -----------------------------------------------------------------------------


def test_reports_are_listed_and_served_read_only(endpoint: Endpoint) -> None:
    listing = endpoint.json("GET", "/reports")[1]["reports"]
    urls = sorted(item["url"] for item in listing)
    assert urls == ["/reports/0/card-suite/report.html", "/reports/0/rp/run1/report.html"]
    status, headers, body = endpoint.request("GET", "/reports/0/rp/run1/report.html")
    assert status == 200 and body == b"<h1>rp</h1>"
    assert headers["Content-Security-Policy"].startswith("sandbox")
    assert endpoint.request("POST", "/reports/0/rp/run1/report.html", {})[0] == 404


@pytest.mark.parametrize(
    "path",
    [
        "/reports/0/../secret.html",
        "/reports/0/%2e%2e/secret.html",
        "/reports/0/rp/..%2f..%2fsecret.html",
        "/reports/0/%2Fetc%2Fpasswd",
        "/reports/0//etc/passwd",
        "/reports/0/escape.html",  # a symlink out of the folder
        "/reports/0/rp%00.html",
        "/reports/1/report.html",
        "/reports/-1/report.html",
        "/reports/0/",
        "/reports/0/rp",
    ],
)
def test_no_path_leaves_the_report_folders(endpoint: Endpoint, path: str) -> None:
    status, _, body = endpoint.request("GET", path)
    assert status == 404, body
    assert b"SECRET" not in body and b"root:" not in body


# -- PIN values --------------------------------------------------------------------------


def _pin_values() -> set[str]:
    """Every PIN value of the personas served (JPKI and card-info PinSpecs, My Number)."""
    values: set[str] = set()

    def walk(thing: object) -> None:
        if isinstance(thing, PinSpec):
            values.add(thing.value.decode())
        elif dataclasses.is_dataclass(thing) and not isinstance(thing, type):
            for field in dataclasses.fields(thing):
                if field.repr or isinstance(getattr(thing, field.name), PinSpec):
                    walk(getattr(thing, field.name))

    for name in ("default", "android"):
        persona = load_persona(name)
        walk(persona.auth_pin)
        walk(persona.sign_pin)
        walk(persona.card_info)
    return values


_NOISE = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z?|[0-9a-fA-F]{16,}")  # times, digests


def test_no_pin_value_in_any_page_or_answer(endpoint: Endpoint) -> None:
    pins = _pin_values()
    assert "1234" in pins and "ABC123" in pins
    endpoint.apdu(0, "00A4040C0AD392F000260100000001")
    endpoint.apdu(0, "00A4020C020018")
    endpoint.apdu(0, "002000800431323334")
    endpoint.apdu(0, "00A4020C02001B")
    endpoint.apdu(0, "0020008006" + b"ABC123".hex())
    assert tx(endpoint.slots[0].card, "00200080")[1] == 0x63C5  # the sign PIN is still fine
    for path in ("/", "/status", "/trace?after=0", "/pki", "/reports", "/cards/0/state"):
        endpoint.request("GET", path)
    endpoint.request("POST", "/cards/0/reset", {})
    endpoint.request("POST", "/cards/0/pins/auth", {"remaining": 2})
    text = _NOISE.sub("", "\n".join(endpoint.bodies))
    assert len(endpoint.bodies) >= 8
    for value in pins:
        assert value not in text, value
        assert value.encode().hex(" ").upper() not in text, value
