"""The WebSocket APDU bridge's wire contract, over real WebSocket connections to a bridge in
this process (docs/phone/bridge-protocol.md): hello and card frames, lock-step, every error
code and control frame, the Origin check, the frame size limit, the hello deadline, concurrent
sessions on their own cards, traces, and fuzzed frame sequences that must never hurt the
server or another session."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from bridge_helpers import (
    JPKI,
    hello,
    records,
    running_bridge,
    send_json,
    session,
    sw,
    tx,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from conformance.rp.oracles import parse_trace
from simulator.card import VirtualCard
from simulator.transport.bridge import MAX_FRAME, SessionCard, parse_hello, parse_ws_url

SELECT_JPKI = "00A4040C0A" + JPKI
SELECT_AUTH_PIN = "00A4020C020018"
WRONG_PIN = "002000800439393939"
RIGHT_PIN = "002000800431323334"
PIN_QUERY = "00200080"
SELECT_AUTH_KEY = "00A4020C020017"
# 80 2A 00 80 Lc DigestInfo(SHA-256 of 32 zero bytes... any 32 bytes) Le
SIGN = "802A008033" + "3031300D060960864801650304020105000420" + "11" * 32 + "00"
HEX_UPPER = set("0123456789ABCDEF")


@pytest.fixture
def bridge(tmp_path: Path):  # type: ignore[no-untyped-def]
    with running_bridge(tmp_path) as server:
        yield server


# ------------------------------------------------------------------------ hello and card


@pytest.mark.parametrize(
    ("profile", "fields", "interface", "atr", "limit"),
    [
        ("raw", {}, "contact", "3BE000FF8131FE4514", 65544),
        ("android-isodep", {}, "contactless-b", "3B888001000005E0B381A1007F", 261),
        ("android-hce", {}, "contactless-a", "3B80800101", 261),
        ("ios-corenfc", {"aids": [JPKI]}, "contactless-b", "3B888001000005E0B381A1007F", 261),
    ],
)
def test_card_frame_fields(
    bridge: Any, profile: str, fields: dict[str, Any], interface: str, atr: str, limit: int
) -> None:
    with session(bridge.url, profile, **fields) as (_ws, card):
        assert set(card) == {
            "type", "version", "session", "profile", "persona", "interface", "atr", "uid",
            "max_transceive", "extended", "initial_selected_aid",
        }  # fmt: skip
        assert card["version"] == 1 and card["profile"] == profile
        assert card["persona"] == "default" and card["session"].startswith("b")
        assert (card["interface"], card["atr"], card["max_transceive"]) == (interface, atr, limit)
        assert card["extended"] is (profile == "raw")
        if interface == "contact":
            assert card["uid"] is None
        else:
            assert len(card["uid"]) == 8 and set(card["uid"]) <= HEX_UPPER
        if interface == "contactless-a":
            assert card["uid"].startswith("08")
        expected_aid = JPKI if profile == "ios-corenfc" else None
        assert card["initial_selected_aid"] == expected_aid


def test_uid_is_new_on_every_tap(bridge: Any) -> None:
    with session(bridge.url, "android-isodep", extended=True) as (ws, card):
        assert card["max_transceive"] == 65544 and card["extended"] is True
        uids = {card["uid"]}
        for _ in range(5):
            again = send_json(ws, {"type": "insert"})
            assert again["type"] == "card" and again["session"] == card["session"]
            uids.add(again["uid"])
        assert len(uids) == 6


def test_session_ids_are_unique(bridge: Any) -> None:
    seen = set()
    for _ in range(3):
        with session(bridge.url, "raw") as (_ws, card):
            seen.add(card["session"])
    assert len(seen) == 3


def test_hello_persona_and_default(tmp_path: Path) -> None:
    from simulator.personalization.persona import builtin_personas
    from simulator.service.bridge_session import own_cards

    cards = own_cards("android", builtin_personas())
    with running_bridge(tmp_path, cards, default_persona="android") as server:
        with session(server.url, "raw") as (_ws, card):
            assert card["persona"] == "android"
        with session(server.url, "raw", persona="ios") as (_ws, card):
            assert card["persona"] == "ios"


def test_the_personas_latency_delays_every_answer_of_the_card(tmp_path: Path) -> None:
    import shutil

    from simulator.personalization import fixtures_root
    from simulator.personalization.persona import builtin_personas
    from simulator.service.bridge_session import own_cards

    root = tmp_path / "fixtures"
    shutil.copytree(fixtures_root(), root)
    persona = root / "personas" / "default.toml"
    text = persona.read_text(encoding="utf-8")
    anchor = 'token_serial = "0000000099000001"'
    persona.write_text(text.replace(anchor, anchor + "\nlatency_ms = 300", 1), encoding="utf-8")
    cards = own_cards(str(persona), builtin_personas())
    with running_bridge(tmp_path, cards, default_persona=str(persona)) as server:
        with session(server.url, "android-isodep") as (ws, _card):
            start = time.monotonic()
            ws.send(bytes.fromhex(SELECT_JPKI))
            assert ws.recv() == b"\x90\x00"
            assert time.monotonic() - start >= 0.3  # the card's answer came 300 ms late
        with session(server.url, "android-hce", persona="default") as (ws, _card):
            start = time.monotonic()
            ws.send(bytes.fromhex("00B0000004"))  # answered by the OS (6F00): no card delay
            assert ws.recv() == b"\x6f\x00"
            ws.send(bytes.fromhex(SELECT_JPKI))  # a persona without latency
            assert ws.recv() == b"\x90\x00"
            assert time.monotonic() - start < 0.3


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        ({"type": "hello", "version": 1, "profile": "windows-phone"}, "profile"),
        ({"type": "hello", "version": 2, "profile": "raw"}, "version"),
        ({"type": "hello", "version": 1}, "profile"),
        ({"type": "hello", "version": 1, "profile": "raw", "persona": "no-such"}, "persona"),
        ({"type": "hello", "version": 1, "profile": "raw", "persona": "/etc/passwd"}, "persona"),
        ({"type": "hello", "version": 1, "profile": "ios-corenfc"}, "aids"),
        ({"type": "hello", "version": 1, "profile": "ios-corenfc", "aids": []}, "aids"),
        ({"type": "hello", "version": 1, "profile": "ios-corenfc", "aids": ["D392ZZ"]}, "AID"),
        ({"type": "hello", "version": 1, "profile": "android-hce", "aids": ["D392"]}, "AID"),
        ({"type": "hello", "version": 1, "profile": "raw", "polling": "AB"}, "polling"),
        ({"type": "hello", "version": 1, "profile": "raw", "extended": "yes"}, "extended"),
        ({"type": "remove"}, "hello"),
        ([1, 2, 3], "hello"),
    ],
)
def test_bad_hello_gets_protocol_error_and_may_retry(
    bridge: Any, frame: object, words: str
) -> None:
    with connect(bridge.url) as ws:
        ws.send(json.dumps(frame))
        answer = json.loads(ws.recv(timeout=10))
        assert answer["type"] == "error" and answer["code"] == "protocol"
        assert words in answer["message"]
        assert hello(ws, "raw")["type"] == "card"  # the same connection goes on


def test_binary_and_garbage_before_hello(bridge: Any) -> None:
    with connect(bridge.url) as ws:
        ws.send(bytes.fromhex(SELECT_JPKI))
        assert json.loads(ws.recv(timeout=10))["code"] == "protocol"
        ws.send("{not json")
        assert json.loads(ws.recv(timeout=10))["code"] == "protocol"
        ws.send("[" * 60000)  # deeply nested JSON: RecursionError inside json
        assert json.loads(ws.recv(timeout=10))["code"] == "protocol"
        assert hello(ws, "raw")["type"] == "card"


def test_no_hello_in_time_closes(tmp_path: Path) -> None:
    with running_bridge(tmp_path, hello_timeout=0.5) as server:
        with connect(server.url) as ws:
            started = time.monotonic()
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=10)
            assert time.monotonic() - started < 5
            assert ws.close_code == 1008


@pytest.mark.parametrize(
    ("profile", "polling"),
    [("android-isodep", ["A"]), ("android-hce", ["B"]), ("ios-corenfc", []), ("raw", ["F"])],
)
def test_no_tag_for_a_polling_mask_without_the_interface(
    bridge: Any, profile: str, polling: list[str]
) -> None:
    fields: dict[str, Any] = {"polling": polling}
    if profile == "ios-corenfc":
        fields["aids"] = [JPKI]
    with connect(bridge.url) as ws:
        answer = hello(ws, profile, **fields)
        if profile == "raw":  # a contact card is not polled: always there
            assert answer["type"] == "card"
            return
        assert answer["type"] == "error" and answer["code"] == "no-tag", answer
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.close_code == 1000


def test_no_tag_on_ios_when_no_listed_aid_answers(bridge: Any) -> None:
    with connect(bridge.url) as ws:
        answer = hello(ws, "ios-corenfc", aids=["A000000308000010000100", "A0000000031010"])
        assert answer["code"] == "no-tag"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.close_code == 1000


# ------------------------------------------------------------------ APDUs and lock-step


def test_lock_step_answers_in_order(bridge: Any) -> None:
    """Pipelined frames of every kind: exactly one answer each, in order."""
    with session(bridge.url, "android-isodep") as (ws, _card):
        frames: list[str | bytes] = [
            bytes.fromhex(SELECT_JPKI),
            json.dumps({"type": "apdu", "hex": SELECT_AUTH_PIN}),
            bytes.fromhex(PIN_QUERY),
            b"\x00\xa4",
            json.dumps({"type": "nonsense"}),
            bytes.fromhex("00A4020C02000A"),
            json.dumps({"type": "reset"}),
            bytes.fromhex(PIN_QUERY),
        ] * 5
        for frame in frames:
            ws.send(frame)
        answers = [ws.recv(timeout=10) for _ in frames]
        expected = ["9000", "rapdu:9000", "63C3", "malformed", "bad-control", "9000", "reset"]
        expected.append("6986")  # after a reset: MF level, no current EF: VERIFY has no PIN
        for index, answer in enumerate(answers):
            if isinstance(answer, bytes):
                got = answer[-2:].hex().upper()
            else:
                frame = json.loads(answer)
                got = {"rapdu": f"rapdu:{frame.get('hex', '')[-4:]}", "reset": "reset"}.get(
                    frame["type"], frame.get("code")
                )
            assert got == expected[index % 8], (index, answer)
        with pytest.raises(TimeoutError):  # never an unsolicited frame
            ws.recv(timeout=0.3)


def test_error_codes(bridge: Any) -> None:
    with session(bridge.url, "ios-corenfc", aids=[JPKI]) as (ws, _card):
        assert tx(ws, "00A4") == {
            "type": "error", "code": "malformed",
            "message": "2-byte command: an APDU has at least 4 bytes",
        }  # fmt: skip
        assert sw(tx(ws, b"")) == "error:malformed"
        long_apdu = bytes.fromhex("80AE0000000100") + bytes(256)
        assert sw(tx(ws, long_apdu)) == "error:transceive-too-long"
        assert sw(tx(ws, long_apdu[:261])) != "error:transceive-too-long"
        assert sw(tx(ws, "00A4040C07A0000001510000")) == "error:missing-entitlement"
        assert sw(tx(ws, "00A4040C0A" + JPKI)) == "9000"
        assert send_json(ws, {"type": "remove"}) == {"type": "removed"}
        assert sw(tx(ws, SELECT_JPKI)) == "error:tag-lost"
        assert send_json(ws, {"type": "reset"})["code"] == "tag-lost"
        assert send_json(ws, {"type": "apdu", "hex": SELECT_JPKI})["code"] == "tag-lost"


def test_control_frames(bridge: Any) -> None:
    with session(bridge.url, "raw") as (ws, card):
        assert sw(tx(ws, SELECT_JPKI)) == "9000"
        assert sw(tx(ws, SELECT_AUTH_PIN)) == "9000"
        assert sw(tx(ws, RIGHT_PIN)) == "9000"
        assert sw(tx(ws, SELECT_AUTH_KEY)) == "9000"
        assert sw(tx(ws, SIGN)) == "9000"  # verified
        assert send_json(ws, {"type": "reset"}) == {"type": "reset", "atr": card["atr"]}
        assert sw(tx(ws, SELECT_JPKI)) == "9000"
        assert sw(tx(ws, SELECT_AUTH_KEY)) == "9000"
        assert sw(tx(ws, SIGN)) == "6982"  # a warm reset drops the security state
        assert sw(tx(ws, SELECT_AUTH_PIN)) == "9000"
        assert sw(tx(ws, RIGHT_PIN)) == "9000"
        assert send_json(ws, {"type": "remove"}) == {"type": "removed"}
        assert send_json(ws, {"type": "remove"}) == {"type": "removed"}  # idempotent
        again = send_json(ws, {"type": "insert"})
        assert again["type"] == "card" and again["atr"] == card["atr"]
        assert sw(tx(ws, SELECT_JPKI)) == "9000"
        assert sw(tx(ws, SELECT_AUTH_KEY)) == "9000"
        assert sw(tx(ws, SIGN)) == "6982"  # a new tap: fresh security state
        rapdu = send_json(ws, {"type": "apdu", "hex": "00 A4 02 0C 02 0 0 0A"})
        assert rapdu == {"type": "rapdu", "hex": "9000"}
        rapdu = send_json(ws, {"type": "apdu", "hex": "00B0000004"})
        assert rapdu["hex"].startswith("3082") and rapdu["hex"].endswith("9000")
        for bad in (
            {"type": "apdu", "hex": "XYZ"},
            {"type": "apdu", "hex": "0A0"},
            {"type": "apdu"},
            {"type": "apdu", "hex": 5},
            {"type": "hello", "version": 1, "profile": "raw"},
            {"type": "dance"},
            {"no": "type"},
        ):
            assert send_json(ws, bad)["code"] == "bad-control", bad
        ws.send("not json")
        assert json.loads(ws.recv(timeout=10))["code"] == "bad-control"
        assert sw(tx(ws, "00A4020C02000A")) == "9000"  # the session went on


def test_insert_while_inserted_is_a_new_tap(bridge: Any) -> None:
    with session(bridge.url, "android-hce") as (ws, _card):
        assert sw(tx(ws, SELECT_JPKI)) == "9000"
        assert sw(tx(ws, "00A4020C02000A")) == "9000"
        assert send_json(ws, {"type": "insert"})["type"] == "card"
        assert sw(tx(ws, "00A4020C02000A")) == "6F00"  # HCE: SELECT by AID first again


# ------------------------------------------------------------------ Origin and frame size


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "https://127.0.0.1.evil.example", "http://10.0.0.1:8000"]
)
def test_foreign_origin_is_refused(bridge: Any, origin: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(bridge.url, origin=origin)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize(
    "origin",
    [None, "null", "http://localhost:3000", "https://127.0.0.1", "http://[::1]:8080",
     "http://LOCALHOST"],
)  # fmt: skip
def test_local_origins_are_allowed(bridge: Any, origin: str | None) -> None:
    with connect(bridge.url, origin=origin) as ws:  # type: ignore[arg-type]
        assert hello(ws, "raw")["type"] == "card"


def test_two_origin_headers_are_refused(bridge: Any) -> None:
    with pytest.raises(InvalidStatus):
        connect(bridge.url, additional_headers=[("Origin", "null"), ("Origin", "http://x")])


@pytest.mark.parametrize("before_hello", [True, False])
def test_oversize_frame_closes_1009(bridge: Any, before_hello: bool) -> None:
    with connect(bridge.url, max_size=None) as ws, session(bridge.url, "raw") as (other, _c):
        if not before_hello:
            hello(ws, "raw")
        ws.send(bytes(MAX_FRAME + 1))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.close_code == 1009
        assert sw(tx(other, SELECT_JPKI)) == "9000"  # the other session is untouched
    with session(bridge.url, "raw") as (ws, _card):  # so is the server
        assert len(tx(ws, bytes(4) + bytes(MAX_FRAME - 4))) >= 2  # the limit itself: fine


def test_too_many_sessions_get_503(tmp_path: Path) -> None:
    with running_bridge(tmp_path, max_sessions=2) as server:
        with session(server.url, "raw"), session(server.url, "raw"):
            with pytest.raises(InvalidStatus) as refused:
                connect(server.url)
            assert refused.value.response.status_code == 503
        with session(server.url, "raw") as (ws, _card):
            assert sw(tx(ws, SELECT_JPKI)) == "9000"


# ------------------------------------------------------------------ sessions and cards


def _spend(url: str, profile: str, wrong: int, barrier: threading.Barrier) -> list[str]:
    fields = {"aids": [JPKI]} if profile == "ios-corenfc" else {}
    with session(url, profile, **fields) as (ws, _card):
        barrier.wait(timeout=30)  # every session open at once
        words = [sw(tx(ws, SELECT_JPKI)), sw(tx(ws, SELECT_AUTH_PIN))]
        words += [sw(tx(ws, WRONG_PIN)) for _ in range(wrong)]
        barrier.wait(timeout=30)  # every session has spent its tries
        words.append(sw(tx(ws, PIN_QUERY)))
        return words


def test_concurrent_sessions_each_have_their_own_card(bridge: Any) -> None:
    profiles = ["raw", "android-isodep", "android-hce", "ios-corenfc", "raw", "android-hce"]
    barrier = threading.Barrier(len(profiles))
    with ThreadPoolExecutor(len(profiles)) as pool:
        futures = [
            pool.submit(_spend, bridge.url, profile, index % 3, barrier)
            for index, profile in enumerate(profiles)
        ]
        results = [future.result(timeout=60) for future in futures]
    for index, words in enumerate(results):
        wrong = index % 3
        expected = ["9000", "9000"] + [f"63C{2 - n}" for n in range(wrong)] + [f"63C{3 - wrong}"]
        assert words == expected, (index, words)


def test_shared_card_sessions_see_each_others_tries(tmp_path: Path) -> None:
    card = VirtualCard.from_persona("default", strict=False)
    lock = threading.Lock()

    def shared(_persona: str) -> SessionCard:
        return SessionCard(lambda: card, lambda: card.persona.name, lock=lock, slot=0)

    with running_bridge(tmp_path, shared) as server:
        with session(server.url, "raw") as (first, _a):
            for word in (SELECT_JPKI, SELECT_AUTH_PIN, WRONG_PIN):
                tx(first, word)
        with session(server.url, "android-isodep") as (second, _b):
            tx(second, SELECT_JPKI)
            tx(second, SELECT_AUTH_PIN)
            assert sw(tx(second, PIN_QUERY)) == "63C2"
    assert card.pins()["jpki/0018"].remaining == 2
    assert card.powered  # a shared card stays powered for its reader when a tap ends
    trace = records(tmp_path / "trace.jsonl")
    assert {record["slot"] for record in trace} == {0}


def test_client_vanishing_mid_session(bridge: Any) -> None:
    for _ in range(10):
        with connect(bridge.url) as ws:
            hello(ws, "raw")
            ws.send(bytes.fromhex(SELECT_JPKI))  # and gone before the answer
            ws.socket.close()
    deadline = time.monotonic() + 10
    while bridge.sessions() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bridge.sessions() == 0
    with session(bridge.url, "raw") as (ws, _card):
        assert sw(tx(ws, SELECT_JPKI)) == "9000"


# ------------------------------------------------------------------------------ traces


def test_trace_records_and_session_reports(tmp_path: Path) -> None:
    with running_bridge(tmp_path) as server:
        with session(server.url, "android-hce") as (ws, card):
            tx(ws, "00CA5F5100")  # before any SELECT: 6F00 from the OS
            tx(ws, SELECT_JPKI)
            tx(ws, SELECT_AUTH_PIN)
            tx(ws, RIGHT_PIN)
            tx(ws, "00A4")  # malformed
            send_json(ws, {"type": "remove"})
        sid = card["session"]
        deadline = time.monotonic() + 10
        while not (tmp_path / "reports" / f"{sid}.html").exists():
            assert time.monotonic() < deadline, "no HTML report"
            time.sleep(0.05)
    trace = records(tmp_path / "trace.jsonl")
    own = records(tmp_path / "reports" / f"{sid}.jsonl")
    assert own == [record for record in trace if record.get("session") == sid]
    assert all(record["slot"] is None for record in own)
    text = (tmp_path / "trace.jsonl").read_text() + (
        tmp_path / "reports" / f"{sid}.html"
    ).read_text()
    assert "31 32 33 34" not in text and "31323334" not in text  # PIN redacted everywhere
    commands = [r["apdu"] for r in own if r["direction"] == "command"]
    assert commands[0] == "00 CA 5F 51 00" and "00 20 00 80 04 ** ** ** **" in commands
    answered_by_os = [r for r in own if r["direction"] == "response" and r.get("origin") == "os"]
    assert [r["sw"] for r in answered_by_os] == ["6F00"]
    events = [r["event"] for r in own if r["direction"] == "event"]
    assert events[0].startswith("session start: profile android-hce")
    assert events[1].startswith("inserted: contactless-a")
    assert any(e.startswith("refused: malformed") for e in events)
    assert "removed (control)" in events and events[-1].startswith("session end")
    steps = parse_trace(own)  # the RP oracles read these records like a slot's
    assert [e.sw for e in steps.exchanges] == [0x6F00, 0x9000, 0x9000, 0x9000]
    html = (tmp_path / "reports" / f"{sid}.html").read_text()
    assert f"mynasim bridge session {sid}" in html and "android-hce" in html
    assert "phone OS" in html and "refused: malformed" in html


def test_report_numbering_continues_in_an_existing_folder(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "b7.jsonl").write_text("")
    from simulator.service.bridge_session import BridgeTraces

    assert BridgeTraces(None, tmp_path / "reports").first_session() == 8


# ------------------------------------------------------------------------------ parsing


def test_parse_ws_url() -> None:
    assert parse_ws_url("ws://127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_ws_url("ws://[::1]:8765/") == ("::1", 8765)
    assert parse_ws_url("ws://0.0.0.0:0") == ("0.0.0.0", 0)  # noqa: S104 - parsing only
    for bad in ("wss://127.0.0.1:1", "http://127.0.0.1:1", "ws://:8765", "ws://host",
                "127.0.0.1:8765", "ws://h:99999", "ws://h:1/path", "ws://u@h:1"):  # fmt: skip
        with pytest.raises(ValueError, match="--bridge"):
            parse_ws_url(bad)


def test_parse_hello_defaults() -> None:
    parsed = parse_hello({"type": "hello", "profile": "android-hce", "polling": ["a"]})
    assert parsed.persona is None and parsed.reader.polling == frozenset({"A"})
    assert parsed.reader.aids is None and parsed.reader.extended is False


# ------------------------------------------------------------------------------ fuzzing

_controls = st.sampled_from(
    [{"type": t} for t in ("remove", "insert", "reset", "hello", "x")]
    + [{"type": "apdu", "hex": SELECT_JPKI}, {"type": "apdu", "hex": "0"}]
)
_frames = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=60),
    _controls.map(json.dumps),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=10,
    ).map(json.dumps),
    st.sampled_from([bytes.fromhex(SELECT_JPKI), bytes.fromhex(PIN_QUERY), b"\x00\xa4"]),
    st.text(alphabet="0123456789abcdefABCDEF xyz", max_size=20).map(
        lambda text: json.dumps({"type": "apdu", "hex": text})
    ),
)
_any = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
_hellos = st.fixed_dictionaries(
    {
        "type": st.just("hello"),
        "profile": st.sampled_from(["raw", "android-isodep", "android-hce", "ios-corenfc", "x"]),
    },
    optional={
        "version": st.sampled_from([1, 2, True, "1"]),
        "persona": st.sampled_from(["default", "android", "ios", "../x", ""]) | _any,
        "aids": st.lists(st.sampled_from([JPKI, "D392", "A0000001510000", "zz"]) | _any),
        "polling": st.lists(st.sampled_from(["A", "B", "b", "F", "Q"]) | _any, max_size=3),
        "extended": _any,
    },
).map(json.dumps)
_first = st.one_of(_hellos, _frames)


@pytest.fixture(scope="module")
def fuzz_bridge(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with running_bridge(tmp_path_factory.mktemp("fuzz")) as server:
        with session(server.url, "raw") as (bystander, _card):
            yield server, bystander


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=_first, frames=st.lists(_frames, max_size=12), vanish=st.booleans())
def test_fuzzed_frame_sequences(
    fuzz_bridge: Any,
    caplog: pytest.LogCaptureFixture,
    first: str | bytes,
    frames: list[str | bytes],
    vanish: bool,
) -> None:
    server, bystander = fuzz_bridge
    with connect(server.url, max_size=None) as ws:
        for frame in [first, *frames]:
            ws.send(frame)
            try:
                answer = ws.recv(timeout=10)
            except ConnectionClosed:  # no-tag ends a session with a clean close
                assert ws.close_code == 1000
                break
            if isinstance(answer, str):  # every text answer is one of the contract's frames
                assert json.loads(answer)["type"] in ("card", "error", "removed", "reset", "rapdu")
        if vanish:
            ws.socket.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # the server and the bystander session are unharmed
    assert sw(tx(bystander, SELECT_JPKI)) == "9000"
    with session(server.url, "android-hce") as (fresh, _card):
        assert sw(tx(fresh, SELECT_JPKI)) == "9000"
