"""The card workbench in a real browser: Debian's Chromium driven by Playwright, against a
real `mynasim serve --ui --pki` process behind a real pcscd + vpcd, with pyscard and
OpenSC as the clients whose traffic the page shows and whose cards it steers.

One serve process and one browser for the module (a card that leaves and comes back too
fast is missed by pcscd); each test starts from a fresh page and a reset card.
"""

from __future__ import annotations

import http.client
import http.server
import json
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from serve_process import ServeProcess, control_request
from smartcard.Exceptions import CardConnectionException, NoCardException
from smartcard.System import readers

from conformance.pcsc import wait_for_card
from conformance.stack import Pcscd, free_port, reader_name

pytestmark = pytest.mark.interop

READER = reader_name(0)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WORKBENCH_LINE = re.compile(r"^workbench: (http://127\.0\.0\.1:(\d+)/#token=(\S+))$", re.M)
SELECT_JPKI = "00A4040C0AD392F000260100000001"
AUTH_PIN = "1234"  # the default persona's (never shown anywhere)


class Served:
    def __init__(self, process: ServeProcess, url: str, port: int, token: str, pki: int) -> None:
        self.process, self.url, self.port, self.token, self.pki_port = (
            process,
            url,
            port,
            token,
            pki,
        )

    def status(self) -> dict[str, Any]:
        code, body = control_request(self.port, "GET", "/status")
        assert code == 200, body
        card: dict[str, Any] = body["cards"][0]
        return card

    def post(self, path: str, body: object) -> Any:
        code, answer = control_request(self.port, "POST", path, body, token=self.token)
        assert code == 200, answer
        return answer

    def pki_state(self) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.pki_port}/control") as response:
            return json.loads(response.read())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("workbench")
    reports = work / "reports" / "card-suite"
    reports.mkdir(parents=True)
    (reports / "report.html").write_text("<h1>Card suite report</h1>")
    pki_port = free_port()
    with Pcscd.ensure(work):
        args = [
            "--ui",
            "--control",
            "127.0.0.1:0",
            "--pki",
            f"127.0.0.1:{pki_port}",
            "--reports",
            str(work / "reports"),
            "--persona",
            "default",
            "--state",
            str(work / "state.json"),
        ]
        with ServeProcess(args, work) as process:
            found = process.wait_for_stdout(WORKBENCH_LINE)
            wait_for_card(READER, True, 20)
            yield Served(process, found.group(1), int(found.group(2)), found.group(3), pki_port)
            assert process.stop() == 0, process.output()
            assert AUTH_PIN not in process.stdout() + process.stderr()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path="/usr/bin/chromium",
            args=CHROMIUM_ARGS,
            headless=True,
            accept_downloads=True,
        )
        context.set_default_timeout(10_000)
        yield context
        context.close()


@pytest.fixture
def page(served: Served, browser: BrowserContext) -> Iterator[Page]:
    card = served.status()
    if not card["inserted"]:
        served.post("/cards/0/insert", {})
        wait_for_card(READER, True, 20)
    if card["persona"] != "default" or card["state"] is not None:
        served.post("/cards/0/persona", {"persona": "default"})
    served.post("/cards/0/pins/auth", {"remaining": 3})
    served.post("/pki", {"now": None, "ocsp": "normal", "crl": "normal"})
    tab = browser.new_page()
    tab.goto(served.url)
    expect(tab.locator("#token-state")).to_have_text("token: ok")
    yield tab
    tab.close()


def _connect() -> Any:
    reader = next(r for r in readers() if str(r) == READER)
    connection = reader.createConnection()
    connection.connect()
    return connection


def _send(connection: Any, hex_apdu: str) -> int:
    _data, sw1, sw2 = connection.transmit(list(bytes.fromhex(hex_apdu)))
    return int(sw1) << 8 | int(sw2)


def _release(connection: Any) -> None:
    try:
        connection.disconnect()
        connection.release()
    except (CardConnectionException, NoCardException):
        pass


def test_the_page_shows_the_card_and_a_live_trace(served: Served, page: Page) -> None:
    card = page.locator("#card-0")
    expect(card.locator('[data-field="persona"]')).to_have_text("default")
    expect(card.locator('[data-field="atr"]')).to_have_text("3B E0 00 FF 81 31 FE 45 14")
    expect(card.locator('[data-field="inserted"]')).to_have_text("inserted")
    expect(page.locator("#pin-0-jpki\\/0018")).to_have_text("3")
    assert "#token=" not in page.url  # the token left the address bar
    connection = _connect()
    try:
        assert _send(connection, SELECT_JPKI) == 0x9000
        assert _send(connection, "00A4020C020018") == 0x9000
        assert _send(connection, "0020008004" + AUTH_PIN.encode().hex()) == 0x9000
        expect(card.locator('[data-field="application"]')).to_contain_text("JPKI")
    finally:
        _release(connection)
    rows = page.locator("#trace-rows tr.command")
    expect(rows.filter(has_text="SELECT by AID").last).to_be_visible()
    verify = rows.filter(has_text="VERIFY").last
    expect(verify).to_contain_text("00 20 00 80 04 ** ** ** **")
    expect(verify).to_contain_text("9000")
    content = page.content()
    assert "31 32 33 34" not in content and "31323334" not in content


def test_remove_with_a_click_and_the_client_fails(served: Served, page: Page) -> None:
    connection = _connect()
    try:
        assert _send(connection, SELECT_JPKI) == 0x9000
        page.click("#remove-0")
        expect(page.locator('#card-0 [data-field="inserted"]')).to_have_text("REMOVED")
        wait_for_card(READER, False, 10)
        with pytest.raises((CardConnectionException, NoCardException)):
            _send(connection, SELECT_JPKI)
    finally:
        _release(connection)
    expect(page.locator("#trace-rows tr.event").filter(has_text="removed").last).to_be_attached()
    page.click("#insert-0")
    expect(page.locator('#card-0 [data-field="inserted"]')).to_have_text("inserted")
    wait_for_card(READER, True, 20)


def test_an_armed_removal_hits_the_next_verify(served: Served, page: Page) -> None:
    page.select_option("#arm-ins-0", "20")
    page.click("#arm-0")
    expect(page.locator('#card-0 [data-field="armed"]')).to_have_text(
        "removal on INS 20 (after processing)"
    )
    connection = _connect()
    try:
        assert _send(connection, SELECT_JPKI) == 0x9000
        with pytest.raises((CardConnectionException, NoCardException)):
            _send(connection, "00200080")
    finally:
        _release(connection)
    expect(page.locator('#card-0 [data-field="inserted"]')).to_have_text("REMOVED")


def test_a_counter_set_on_the_page_shows_in_pkcs15_tool(served: Served, page: Page) -> None:
    page.select_option("#pin-key-0", "jpki/0018")
    page.fill("#pin-remaining-0", "1")
    page.click("#set-pin-0")
    expect(page.locator("#pin-0-jpki\\/0018")).to_have_text("1")
    listing = subprocess.run(
        ["pkcs15-tool", "--reader", "0", "--list-pins"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    auth = listing.split("PIN [User Authentication PIN]", 1)[1].split("PIN [", 1)[0]
    assert re.search(r"Tries left\s*:\s*1\n", auth), listing
    sign = listing.split("PIN [Digital Signature PIN]", 1)[1]
    assert re.search(r"Tries left\s*:\s*5\n", sign), listing


def test_switch_persona_and_save_and_load_a_state(
    served: Served, page: Page, tmp_path: Path
) -> None:
    page.select_option("#persona-0", "under15")
    page.click("#switch-0")
    expect(page.locator('#card-0 [data-field="persona"]')).to_have_text("under15")
    assert served.status()["persona"] == "under15"
    page.select_option("#pin-key-0", "jpki/001B")
    page.fill("#pin-remaining-0", "2")
    page.click("#set-pin-0")
    expect(page.locator("#pin-0-jpki\\/001B")).to_have_text("2")
    saved = tmp_path / "under15.json"
    page.fill("#save-path-0", str(saved))
    page.click("#save-0")
    expect(page.locator("#message")).to_have_text("slot 0: save done")
    assert json.loads(saved.read_text())["pins"]["jpki/001B"]["remaining"] == 2
    with page.expect_download() as download:
        page.click("#download-0")
    document = json.loads(Path(download.value.path()).read_text())
    assert document["card"]["persona"] == "under15"
    page.select_option("#persona-0", "default")
    page.click("#switch-0")
    expect(page.locator('#card-0 [data-field="persona"]')).to_have_text("default")
    page.select_option("#persona-0", "under15")
    page.fill("#persona-state-0", str(saved))
    page.click("#switch-0")
    expect(page.locator("#pin-0-jpki\\/001B")).to_have_text("2")
    expect(page.locator('#card-0 [data-field="state"]')).to_have_text(str(saved))


def test_pki_clock_and_modes_from_the_page(served: Served, page: Page) -> None:
    link = page.locator("#pki h2 a")  # where the PKI serves OCSP and the CRLs
    expect(link).to_have_text(f"http://127.0.0.1:{served.pki_port}")
    page.fill("#pki-now", "2031-05-06T07:08:09Z")
    page.select_option("#pki-ocsp", "unavailable")
    page.select_option("#pki-crl", "stale")
    page.click("#pki-apply")
    expect(page.locator("#pki-clock")).to_have_text("2031-05-06T07:08:09Z")
    state = served.pki_state()  # the PKI's own HTTP status
    assert state["clock"]["fixed"] == "2031-05-06T07:08:09Z"
    assert (state["ocsp"], state["crl"]) == ("unavailable", "stale")
    connection = http.client.HTTPConnection("127.0.0.1", served.pki_port, timeout=10)
    connection.request("GET", "/crl/auth-g3.crl")
    assert connection.getresponse().status == 200
    connection.request("POST", "/ocsp", body=b"x")
    assert connection.getresponse().status == 503  # OCSP unavailable


def test_filter_pause_and_export(served: Served, page: Page) -> None:
    page.click("#trace-clear")
    connection = _connect()
    try:
        _send(connection, SELECT_JPKI)
        _send(connection, "00A4020C020018")
        _send(connection, "00200080")
        expect(page.locator("#trace-rows tr.command").filter(has_text="VERIFY")).to_have_count(1)
        page.click("#trace-pause")
        _send(connection, "00200080")
        time.sleep(1.0)
        expect(page.locator("#trace-rows tr.command").filter(has_text="VERIFY")).to_have_count(1)
        expect(page.locator("#trace-count")).to_contain_text("paused (2 waiting)")
        page.click("#trace-pause")
        expect(page.locator("#trace-rows tr.command").filter(has_text="VERIFY")).to_have_count(2)
    finally:
        _release(connection)
    page.select_option("#trace-command", "VERIFY")
    page.fill("#trace-sw", "63")
    with page.expect_download() as download:
        page.click("#trace-export")
    lines = Path(download.value.path()).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["direction"] for r in records] == ["command", "response"] * 2
    assert all(r["apdu"].startswith("00 20") for r in records[::2])
    assert {r["sw"] for r in records[1::2]} == {"63C3"}
    for record in records:
        assert set(record) >= {"time", "slot", "direction", "apdu"}
    page.fill("#trace-text", "no such thing")
    expect(page.locator("#trace-rows tr:not(.hidden)")).to_have_count(0)


def test_the_reports_open_from_the_page(served: Served, page: Page) -> None:
    link = page.locator("#reports a").first
    expect(link).to_have_text("card-suite")
    with page.context.expect_page() as opened:
        link.click()
    report = opened.value
    expect(report.locator("h1")).to_have_text("Card suite report")
    report.close()


def test_a_post_without_the_token_is_refused(served: Served) -> None:
    code, body = control_request(served.port, "POST", "/cards/0/remove", {}, token="")
    assert code == 403 and "X-Mynasim-Token" in body["error"]
    assert served.status()["inserted"] is True


ATTACK = """<!doctype html><title>attack</title><script>
const target = "http://127.0.0.1:%d";
const results = [];
async function attempt(name, run) {
  try {
    const r = await run();
    results.push(name + ":" + (r.type === "opaque" ? "opaque" : r.status));
  }
  catch (error) { results.push(name + ":blocked"); }
}
(async () => {
  await attempt("json", () => fetch(target + "/cards/0/remove", {method: "POST",
    headers: {"Content-Type": "application/json"}, body: "{}"}));
  await attempt("simple", () => fetch(target + "/cards/0/remove", {method: "POST",
    mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: "{}"}));
  await attempt("pins", () => fetch(target + "/cards/0/pins/auth", {method: "POST",
    mode: "no-cors", body: JSON.stringify({remaining: 0})}));
  await attempt("token-guess", () => fetch(target + "/cards/0/remove", {method: "POST",
    headers: {"X-Mynasim-Token": "guess"}, body: "{}"}));
  await attempt("read", () => fetch(target + "/status"));
  document.title = "done " + results.join(" ");
})();
</script>"""


def test_a_page_of_another_origin_cannot_drive_the_card(
    served: Served, browser: BrowserContext
) -> None:
    html = (ATTACK % served.port).encode()

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            pass

    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    tab = browser.new_page()
    try:
        tab.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
        expect(tab).to_have_title(re.compile("^done "), timeout=15_000)
        title = tab.title()
    finally:
        tab.close()
        evil.shutdown()
        evil.server_close()
    assert "simple:opaque" in title  # this POST reached the endpoint (and was refused)
    assert "read:blocked" in title  # no CORS: the status cannot be read either
    card = served.status()
    assert card["inserted"] is True, title
    assert card["pins"]["jpki/0018"]["remaining"] == 3, title
