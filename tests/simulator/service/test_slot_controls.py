"""Persona switch and response faults of a served card: CardSlot, the control endpoint and
`mynasim ctl`, in-process (slot 0 talks to a fake vpcd peer; no pcscd)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import test_control_endpoint as endpoint
import test_trace_and_options as traces
from card_helpers import JPKI_AID, read_ef, select_jpki, tx, verify
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import VirtualCard, load_persona
from simulator.cli import main
from simulator.personalization.persona import Persona
from simulator.service.control import FAULT_FIELDS, ControlServer
from simulator.service.serve import ServeOptions, Server
from simulator.service.slot import FAULT_KINDS, CardSlot
from simulator.service.trace import TraceWriter

# fixtures and helpers of the neighbouring tests: the control endpoint and the fake vpcd
server = endpoint.server
port = endpoint.port
vpcd = traces.vpcd
request = endpoint.request
MiniVpcd = traces.MiniVpcd

TIMEOUT = 5.0
DIGEST = bytes.fromhex("11" * 32)
DIGEST_INFO = bytes.fromhex("3031300D060960864801650304020105000420") + DIGEST
SIGN = bytes.fromhex("802A0080") + bytes([len(DIGEST_INFO)]) + DIGEST_INFO + b"\x00"
SELECT_JPKI = bytes.fromhex("00A4040C0A") + JPKI_AID
READ_ALL = bytes.fromhex("00B00000000000")  # extended READ BINARY: the whole EF


def wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


@pytest.fixture
def trace_path(tmp_path: Path) -> Path:
    return tmp_path / "trace.jsonl"


@pytest.fixture
def slots(
    vpcd: traces.MiniVpcd, default_persona: Persona, trace_path: Path
) -> Iterator[list[CardSlot]]:
    """Slot 0 (default) served to the fake vpcd, with a trace; slot 1 (android) offline."""
    trace = TraceWriter(trace_path)
    group: list[CardSlot] = []
    first = CardSlot(
        0,
        VirtualCard(default_persona),
        "127.0.0.1",
        vpcd.port,
        peers=group,
        trace=trace,
        reinsert_delay=0.05,
    )
    group.append(first)
    group.append(CardSlot(1, VirtualCard(load_persona("android")), "127.0.0.1", 1, peers=group))
    group[0].client.max_backoff = 0.05
    group[0].client.start()
    yield group
    group[0].client.stop()
    for slot in group:
        slot.card.close()
    trace.close()


@pytest.fixture
def link(vpcd: traces.MiniVpcd, slots: list[CardSlot]) -> traces.MiniVpcd:
    """The fake vpcd, connected to slot 0 and the card powered."""
    vpcd.accept()
    vpcd.send(b"\x01")
    return vpcd


@pytest.fixture
def seen_by_card(slots: list[CardSlot], monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every response slot 0's card produced (before any fault), in order."""
    seen: list[bytes] = []
    card = slots[0].card
    transmit = card.transmit

    def spy(apdu: bytes) -> bytes:
        response = transmit(apdu)
        seen.append(response)
        return response

    monkeypatch.setattr(card, "transmit", spy)
    return seen


def auth_certificate(link: traces.MiniVpcd) -> bytes:
    """The DER certificate in JPKI EF 000A, read through vpcd (the filler cut off)."""
    assert link.exchange(SELECT_JPKI) == b"\x90\x00"
    assert link.exchange(bytes.fromhex("00A4020C02000A")) == b"\x90\x00"
    response = link.exchange(READ_ALL)
    assert response[-2:] == b"\x90\x00"
    return response[: 4 + int.from_bytes(response[2:4], "big")]


def login(link: traces.MiniVpcd, persona: Persona) -> None:
    """Select JPKI, VERIFY the auth PIN, select the auth key: ready for SIGN."""
    assert link.exchange(SELECT_JPKI) == b"\x90\x00"
    assert link.exchange(bytes.fromhex("00A4020C020018")) == b"\x90\x00"
    pin = persona.auth_pin.value
    assert link.exchange(bytes([0, 0x20, 0, 0x80, len(pin)]) + pin) == b"\x90\x00"
    assert link.exchange(bytes.fromhex("00A4020C020017")) == b"\x90\x00"


def signature_verifies(persona: Persona, signature: bytes) -> bool:
    assert persona.auth.certificate is not None
    key = x509.load_der_x509_certificate(persona.auth.certificate).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(signature, DIGEST, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    except Exception:
        return False
    return True


def events(trace_path: Path) -> list[str]:
    return [r["event"] for r in traces.read_trace(trace_path) if r["direction"] == "event"]


def arm(port: int, slot: int = 0, **body: Any) -> dict[str, Any]:
    status, answer = request(port, "POST", f"/cards/{slot}/faults", body)
    assert status == 200, answer
    return dict(answer)


# -- persona switch -----------------------------------------------------------------------


def test_switching_persona_serves_the_other_certificate_without_reconnecting(
    link: traces.MiniVpcd, port: int, slots: list[CardSlot], trace_path: Path
) -> None:
    default, expired = load_persona("default"), load_persona("expired")
    assert default.auth.certificate != expired.auth.certificate
    assert auth_certificate(link) == default.auth.certificate
    status, body = request(port, "POST", "/cards/0/persona", {"persona": "expired"})
    assert status == 200, body
    assert (body["persona"], body["token_serial"]) == ("expired", expired.token_serial)
    assert body["inserted"] and body["connected"] and body["powered"]
    assert body["selected"] is None  # a fresh card, at MF
    assert auth_certificate(link) == expired.auth.certificate  # the same connection
    assert request(port, "GET", "/status")[1]["cards"][0]["persona"] == "expired"
    assert slots[0].client.name == "slot 0 (expired)"
    assert events(trace_path).count("inserted") == 1  # no reconnect
    assert "persona: expired" in events(trace_path)


@pytest.mark.parametrize("powered", [True, False])
def test_the_new_card_takes_the_power_state_and_fresh_security(
    port: int, slots: list[CardSlot], powered: bool
) -> None:
    old = slots[0].card
    if powered:
        old.power_on()
        select_jpki(old)
        assert verify(old, 0x0018, load_persona("default").auth_pin.value) == 0x9000
    slots[0].load_persona("under15")
    new = slots[0].card
    assert new is not old and new.persona.name == "under15"
    assert new.powered is powered
    assert slots[0].handler.card is new
    assert not old.powered  # closed
    if not powered:
        new.power_on()
    select_jpki(new)
    assert tx(new, "00A4020C020017")[1] == 0x9000
    assert tx(new, SIGN)[1] == 0x6982  # the PIN verified on the old card counts for nothing


def test_switching_clears_armed_removal_and_faults(port: int, slots: list[CardSlot]) -> None:
    assert request(port, "POST", "/cards/0/remove", {"ins": "2A"})[0] == 200
    arm(port, ins="2A", kind="flip", times=0)
    body = request(port, "POST", "/cards/0/persona", {"persona": "expired"})[1]
    assert (body["armed_removal"], body["faults"]) == (None, [])


def test_a_state_file_is_used_and_released(
    port: int, slots: list[CardSlot], tmp_path: Path
) -> None:
    state = tmp_path / "expired.json"
    status, body = request(
        port, "POST", "/cards/0/persona", {"persona": "expired", "state": str(state)}
    )
    assert status == 200, body
    assert body["state"] == str(state) and state.exists()
    card = slots[0].card
    card.power_on()
    select_jpki(card)
    assert verify(card, 0x0018, b"9999") == 0x63C2  # written through to the state file
    request(port, "POST", "/cards/0/persona", {"persona": "default"})
    assert request(port, "GET", "/status")[1]["cards"][0]["state"] is None
    with VirtualCard.from_persona("expired", state=state) as again:  # the lock was released
        assert again.pins()["jpki/0018"].remaining == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"persona": "android"}, "same identity (token serial 0000000099000003) as slot 1"),
        ({"persona": "nobody"}, "unknown persona 'nobody'"),
        ({"persona": "nobody"}, "expired"),  # the built-in names are listed
        ({"persona": "BAD_FILE"}, "invalid TOML"),
        ({}, '"persona" must be a persona name'),
        ({"persona": 3}, '"persona" must be a persona name'),
        ({"persona": ""}, '"persona" must be a persona name'),
        ({"persona": "expired", "state": 5}, '"state" must be the path of a state file'),
        ({"persona": "expired", "stat": "x"}, "unknown field 'stat'"),
        ({"persona": "expired", "state": "IN_USE"}, "IN_USE"),  # locked by this process
    ],
)
def test_a_refused_switch_is_400_and_keeps_the_old_card(
    link: traces.MiniVpcd,
    port: int,
    slots: list[CardSlot],
    tmp_path: Path,
    body: dict[str, Any],
    message: str,
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml\n")
    in_use = tmp_path / "in-use.json"
    body = {
        key: {"BAD_FILE": str(bad), "IN_USE": str(in_use)}.get(value, value)
        if isinstance(value, str)
        else value
        for key, value in body.items()
    }
    message = message.replace("IN_USE", str(in_use))
    with VirtualCard.from_persona("expired", state=in_use):
        status, answer = request(port, "POST", "/cards/0/persona", body)
    assert status == 400, answer
    assert message in answer["error"]
    assert slots[0].status()["persona"] == "default"
    assert auth_certificate(link) == load_persona("default").auth.certificate


def test_a_clash_is_checked_against_the_current_cards(port: int, slots: list[CardSlot]) -> None:
    assert request(port, "POST", "/cards/1/persona", {"persona": "ios"})[0] == 200
    assert request(port, "POST", "/cards/0/persona", {"persona": "android"})[0] == 200
    status, body = request(port, "POST", "/cards/0/persona", {"persona": "ios"})
    assert status == 400 and "slot 1 ('ios')" in body["error"]
    assert request(port, "POST", "/cards/0/persona", {"persona": "android"})[0] == 200  # itself


# -- response faults ---------------------------------------------------------------------


def test_flip_changes_one_bit_of_the_signature_and_nothing_on_the_card(
    link: traces.MiniVpcd,
    port: int,
    slots: list[CardSlot],
    seen_by_card: list[bytes],
    default_persona: Persona,
    trace_path: Path,
) -> None:
    login(link, default_persona)
    body = arm(port, ins="sign", kind="flip")
    assert body["faults"] == [{"ins": "2A", "kind": "flip", "remaining": 1}]
    before = slots[0].status()
    flipped = link.exchange(SIGN)
    true = seen_by_card[-1]
    assert flipped != true and len(flipped) == len(true) == 258
    difference = bytes(a ^ b for a, b in zip(flipped, true, strict=True))
    assert difference == bytes(255) + b"\x01\x00\x00"  # the last data byte, SW kept
    assert not signature_verifies(default_persona, flipped[:-2])
    assert signature_verifies(default_persona, true[:-2])
    after = slots[0].status()
    assert {**after, "faults": None} == {**before, "faults": None}  # the card is untouched
    assert after["faults"] == []  # times=1: used up
    again = link.exchange(SIGN)  # the next one is the card's own answer
    assert again == true and signature_verifies(default_persona, again[:-2])
    records = traces.read_trace(trace_path)
    assert "fault: flip on INS 2A" in events(trace_path)
    responses = [r["apdu"] for r in records if r["direction"] == "response"]
    assert flipped.hex(" ").upper() in responses  # the trace shows what was sent


def test_flip_without_data_flips_sw2(link: traces.MiniVpcd, port: int) -> None:
    arm(port, ins="select", kind="flip")
    assert link.exchange(SELECT_JPKI) == b"\x90\x01"
    assert link.exchange(SELECT_JPKI) == b"\x90\x00"


def test_truncate_cuts_data_and_keeps_the_sw(
    link: traces.MiniVpcd, port: int, seen_by_card: list[bytes], default_persona: Persona
) -> None:
    login(link, default_persona)
    arm(port, ins="2A", kind="truncate", length=10)
    response = link.exchange(SIGN)
    assert response == seen_by_card[-1][:246] + b"\x90\x00"
    arm(port, ins="A4", kind="truncate", length=3)  # no data: only the SW remains
    assert link.exchange(SELECT_JPKI) == b"\x90\x00"
    arm(port, ins="B0", kind="truncate", length=5000)  # more than there is
    assert link.exchange(bytes.fromhex("00A4020C02000A")) == b"\x90\x00"
    assert link.exchange(READ_ALL) == b"\x90\x00"


def test_sw_replaces_the_status_word_and_keeps_the_data(
    link: traces.MiniVpcd, port: int, seen_by_card: list[bytes], trace_path: Path
) -> None:
    assert link.exchange(SELECT_JPKI) == b"\x90\x00"
    assert link.exchange(bytes.fromhex("00A4020C02000A")) == b"\x90\x00"
    body = arm(port, ins="B0", kind="sw", sw="6f00")
    assert body["faults"] == [{"ins": "B0", "kind": "sw", "sw": "6F00", "remaining": 1}]
    response = link.exchange(READ_ALL)
    assert response == seen_by_card[-1][:-2] + b"\x6f\x00"
    assert seen_by_card[-1][-2:] == b"\x90\x00"
    assert "fault: sw 6F00 on INS B0" in events(trace_path)


def test_delay_holds_the_response_without_holding_the_card(
    link: traces.MiniVpcd,
    port: int,
    seen_by_card: list[bytes],
    default_persona: Persona,
    trace_path: Path,
) -> None:
    login(link, default_persona)
    processed = len(seen_by_card)
    delay = 1.0
    arm(port, ins="2A", kind="delay", seconds=delay)

    def timed_exchange() -> tuple[bytes, float]:
        response = link.exchange(SIGN)
        return response, time.monotonic()

    with ThreadPoolExecutor(1) as pool:
        sent = time.monotonic()
        future = pool.submit(timed_exchange)
        wait_for(lambda: len(seen_by_card) > processed)  # the card answered at once ...
        status, body = request(port, "GET", "/status")  # ... and the slot is not locked
        status_answered = time.monotonic()
        response, received = future.result(TIMEOUT)
    assert status == 200 and body["cards"][0]["faults"] == []  # used up
    assert status_answered < received
    assert received - sent >= delay
    assert response == seen_by_card[-1] and response[-2:] == b"\x90\x00"
    assert "fault: delay 1 s on INS 2A" in events(trace_path)


def _held_sign(
    link: traces.MiniVpcd, port: int, seen_by_card: list[bytes], pool: ThreadPoolExecutor
) -> Future[bytes]:
    """A SIGN whose response is held back 60 s; returns once the card has processed it."""
    arm(port, ins="2A", kind="delay", seconds=60)
    processed = len(seen_by_card)
    future = pool.submit(link.exchange, SIGN)
    wait_for(lambda: len(seen_by_card) > processed)
    return future


def test_a_removal_ends_a_delay_at_once(
    link: traces.MiniVpcd,
    port: int,
    slots: list[CardSlot],
    seen_by_card: list[bytes],
    default_persona: Persona,
    trace_path: Path,
) -> None:
    login(link, default_persona)
    with ThreadPoolExecutor(1) as pool:
        future = _held_sign(link, port, seen_by_card, pool)
        removed = time.monotonic()
        assert request(port, "POST", "/cards/0/remove")[0] == 200
        assert isinstance(future.exception(TIMEOUT), EOFError)  # closed, nothing sent
        assert time.monotonic() - removed < 2.0

    def responses() -> list[dict[str, Any]]:
        return [r for r in traces.read_trace(trace_path) if r["direction"] == "response"]

    wait_for(lambda: responses()[-1]["apdu"] is None)  # the card thread reported the exchange
    assert "fault: delayed response on INS 2A not sent (card gone)" in events(trace_path)
    assert not slots[0].client.connected


def test_stopping_ends_a_delay_at_once(
    link: traces.MiniVpcd,
    port: int,
    slots: list[CardSlot],
    seen_by_card: list[bytes],
    default_persona: Persona,
) -> None:
    login(link, default_persona)
    with ThreadPoolExecutor(1) as pool:
        future = _held_sign(link, port, seen_by_card, pool)
        stopping = time.monotonic()
        slots[0].client.stop()
        assert time.monotonic() - stopping < 2.0
        assert isinstance(future.exception(TIMEOUT), EOFError)


def test_times_zero_applies_until_cleared(link: traces.MiniVpcd, port: int) -> None:
    body = arm(port, ins="A4", kind="sw", sw="6A80", times=0)
    assert body["faults"][0]["remaining"] is None
    for _ in range(3):
        assert link.exchange(SELECT_JPKI) == b"\x6a\x80"
    assert request(port, "GET", "/status")[1]["cards"][0]["faults"][0]["remaining"] is None
    status, body = request(port, "POST", "/cards/0/faults/clear")
    assert (status, body["faults"]) == (200, [])
    assert link.exchange(SELECT_JPKI) == b"\x90\x00"


def test_faults_apply_in_arming_order_each_with_its_own_count(
    link: traces.MiniVpcd, port: int
) -> None:
    arm(port, ins="A4", kind="sw", sw="6A82", times=2)
    arm(port, ins="A4", kind="flip")
    arm(port, ins="B0", kind="sw", sw="6F00")  # another INS: untouched by SELECTs
    answers = [link.exchange(SELECT_JPKI) for _ in range(4)]
    assert answers == [b"\x6a\x82", b"\x6a\x82", b"\x90\x01", b"\x90\x00"]
    faults = request(port, "GET", "/status")[1]["cards"][0]["faults"]
    assert faults == [{"ins": "B0", "kind": "sw", "sw": "6F00", "remaining": 1}]


def test_a_short_frame_matches_no_fault(link: traces.MiniVpcd, port: int) -> None:
    arm(port, ins="A4", kind="sw", sw="6F00")
    assert link.exchange(bytes.fromhex("00A4"))[-2:] != b"\x6f\x00"  # no INS to speak of
    assert request(port, "GET", "/status")[1]["cards"][0]["faults"] != []


def test_an_armed_removal_on_the_same_ins_comes_first(
    link: traces.MiniVpcd, port: int, slots: list[CardSlot], default_persona: Persona
) -> None:
    login(link, default_persona)
    arm(port, ins="2A", kind="flip")
    assert request(port, "POST", "/cards/0/remove", {"ins": "2A", "when": "after"})[0] == 200
    link.send(SIGN)
    assert link.sock is not None and link.sock.recv(1) == b""  # torn: no response at all
    assert slots[0].status()["faults"] == [{"ins": "2A", "kind": "flip", "remaining": 1}]


def test_faults_are_per_slot(port: int, slots: list[CardSlot]) -> None:
    arm(port, slot=1, ins="2A", kind="flip")
    cards = request(port, "GET", "/status")[1]["cards"]
    assert (cards[0]["faults"], len(cards[1]["faults"])) == ([], 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "flip"}, '"ins" must be a string'),
        ({"ins": 42, "kind": "flip"}, '"ins" must be a string'),
        ({"ins": "zz", "kind": "flip"}, "INS 'zz' is neither one hex byte"),
        ({"ins": "1FF", "kind": "flip"}, "INS '1FF' is neither one hex byte"),
        ({"ins": "2A"}, '"kind" must be one of: delay, flip, truncate, sw'),
        ({"ins": "2A", "kind": "melt"}, "unknown fault kind 'melt'; kinds: delay, flip"),
        ({"ins": "2A", "kind": "delay"}, "a delay needs seconds with 0 < seconds <= 120"),
        ({"ins": "2A", "kind": "delay", "seconds": 0}, "0 < seconds <= 120, got 0"),
        ({"ins": "2A", "kind": "delay", "seconds": -1}, "0 < seconds <= 120"),
        ({"ins": "2A", "kind": "delay", "seconds": 120.5}, "0 < seconds <= 120, got 120.5"),
        ({"ins": "2A", "kind": "delay", "seconds": "2"}, "0 < seconds <= 120, got '2'"),
        ({"ins": "2A", "kind": "delay", "seconds": True}, "0 < seconds <= 120, got True"),
        ({"ins": "2A", "kind": "sw"}, "an sw fault needs sw, a status word 0000-FFFF"),
        ({"ins": "2A", "kind": "sw", "sw": "6F0"}, '"sw" must be 4 hex digits'),
        ({"ins": "2A", "kind": "sw", "sw": "6F000"}, '"sw" must be 4 hex digits'),
        ({"ins": "2A", "kind": "sw", "sw": "GG00"}, '"sw" must be 4 hex digits'),
        ({"ins": "2A", "kind": "sw", "sw": 28416}, '"sw" must be 4 hex digits'),
        ({"ins": "2A", "kind": "truncate"}, "a truncate fault needs length"),
        ({"ins": "2A", "kind": "truncate", "length": 0}, "(1-65536), got 0"),
        ({"ins": "2A", "kind": "truncate", "length": 65537}, "(1-65536), got 65537"),
        ({"ins": "2A", "kind": "truncate", "length": 2.0}, "(1-65536), got 2.0"),
        ({"ins": "2A", "kind": "flip", "times": -1}, "times must be an integer >= 0"),
        ({"ins": "2A", "kind": "flip", "times": 1.5}, "times must be an integer >= 0"),
        ({"ins": "2A", "kind": "flip", "times": None}, "times must be an integer >= 0"),
        ({"ins": "2A", "kind": "flip", "seconds": 2}, "seconds is for delay faults only"),
        ({"ins": "2A", "kind": "delay", "seconds": 1, "sw": "6F00"}, "sw is for sw faults"),
        ({"ins": "2A", "kind": "sw", "sw": "6F00", "length": 3}, "length is for truncate"),
        ({"ins": "2A", "kind": "flip", "time": 2}, "unknown field 'time'; fields: ins, kind"),
    ],
)
def test_bad_fault_requests_are_400_with_the_reason(
    port: int, slots: list[CardSlot], body: dict[str, Any], message: str
) -> None:
    status, answer = request(port, "POST", "/cards/0/faults", body)
    assert status == 400, answer
    assert answer["error"].startswith("bad fault request: ")
    assert message in answer["error"]
    assert slots[0].status()["faults"] == []


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
GOOD_FIELDS: dict[str, dict[str, Any]] = {
    "delay": {"seconds": 2.5},
    "flip": {},
    "truncate": {"length": 3},
    "sw": {"sw": "6F00"},
    "der": {},
    "chain61": {},
    "wrong-le": {},
    "empty": {},
    "other-key": {},
}


@st.composite
def spoiled_fault_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A good body with up to two fields dropped or replaced by any JSON value."""
    kind = draw(st.sampled_from(FAULT_KINDS))
    body = {"ins": draw(st.sampled_from(["2A", "sign", "b0", "0x20"])), "kind": kind}
    body.update(GOOD_FIELDS[kind], times=draw(st.integers(0, 3)))
    keys = [*FAULT_FIELDS, "extra"]
    for key in draw(st.lists(st.sampled_from(keys), max_size=2, unique=True)):
        if draw(st.booleans()):
            body.pop(key, None)
        else:
            body[key] = draw(JSON_VALUES)
    return body


FAULT_BODIES = spoiled_fault_bodies() | st.dictionaries(
    st.sampled_from([*FAULT_FIELDS, "extra"]) | st.text(max_size=4), JSON_VALUES, max_size=4
)


@settings(max_examples=300)
@given(body=FAULT_BODIES)
def test_any_fault_body_arms_a_fault_or_is_400(
    server: ControlServer, default_persona: Persona, body: dict[str, Any]
) -> None:
    slot = CardSlot(0, VirtualCard(default_persona), "127.0.0.1", 1)
    server.slots = [slot]
    try:
        status, answer = request(server.port, "POST", "/cards/0/faults", body)
    finally:
        server.slots = []
    assert status in (200, 400), answer
    assert len(slot.status()["faults"]) == (1 if status == 200 else 0)
    if status == 200:
        assert answer["faults"][0]["kind"] == body["kind"]


@given(persona=JSON_VALUES, extra=st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=2))
def test_any_persona_body_switches_or_is_400(
    server: ControlServer, default_persona: Persona, persona: Any, extra: dict[str, Any]
) -> None:
    slot = CardSlot(0, VirtualCard(default_persona), "127.0.0.1", 1)
    server.slots = [slot]
    body = {**extra, "persona": persona}
    body.pop("state", None)  # no state files created at random paths
    try:
        status, answer = request(server.port, "POST", "/cards/0/persona", body)
    finally:
        server.slots = []
        slot.card.close()
    assert status in (200, 400), answer


def test_a_deeply_nested_body_is_400(port: int) -> None:
    status, answer = request(port, "POST", "/cards/0/faults", raw=b"[" * 3000 + b"]" * 3000)
    assert status in (400, 413) and answer["error"]


def test_a_lone_surrogate_in_a_message_is_answered(port: int) -> None:
    raw = json.dumps({"persona": "\ud800x"}).encode()  # "\\ud800x" on the wire
    status, answer = request(port, "POST", "/cards/0/persona", raw=raw)
    assert status == 400 and "unknown persona" in answer["error"]


# -- CardSlot API directly ----------------------------------------------------------------


def test_arm_fault_api_and_clear(slots: list[CardSlot]) -> None:
    slot = slots[0]
    slot.arm_fault(0x2A, "delay", seconds=2.5)
    slot.arm_fault(0xB0, "truncate", length=10, times=0)
    assert slot.status()["faults"] == [
        {"ins": "2A", "kind": "delay", "seconds": 2.5, "remaining": 1},
        {"ins": "B0", "kind": "truncate", "length": 10, "remaining": None},
    ]
    with pytest.raises(ValueError, match="ins must be one byte"):
        slot.arm_fault(0x100, "flip")
    slot.clear_faults()
    assert slot.status()["faults"] == []


def test_load_persona_api_refusals(slots: list[CardSlot]) -> None:
    with pytest.raises(ValueError, match="same identity"):
        slots[0].load_persona("android")
    with pytest.raises(ValueError, match="unknown persona"):
        slots[0].load_persona("nobody")
    assert slots[0].card.persona.name == "default"
    slots[0].load_persona(load_persona("expired").path)  # a persona file by path
    assert slots[0].card.persona.name == "expired"
    assert read_ef_after_power(slots[0].card, 0x000A).startswith(b"\x30\x82")


def test_served_slots_refuse_each_others_identity() -> None:
    server = Server(ServeOptions(["default", "android"], [], control=None))
    try:
        with pytest.raises(ValueError, match=r"same identity .* as slot 1 \('android'\)"):
            server.slots[0].load_persona("android")
        server.slots[0].load_persona("expired")
        assert server.describe()[1].startswith("  slot 0: persona 'expired' (token serial")
    finally:
        server.stop()


def read_ef_after_power(card: VirtualCard, fid: int) -> bytes:
    card.power_on()
    select_jpki(card)
    return read_ef(card, fid)


# -- mynasim ctl --------------------------------------------------------------------------


def test_ctl_persona(
    port: int,
    slots: list[CardSlot],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = endpoint.ctl(capsys, port, "persona", "expired")
    assert (code, err) == (0, "")
    assert out.startswith("slot 0: persona 'expired' (token serial 0000000099000005)")
    monkeypatch.chdir(tmp_path)  # relative paths are sent absolute
    code, out, _ = endpoint.ctl(capsys, port, "persona", "under15", "--state", "s.json")
    assert code == 0 and "persona 'under15'" in out
    assert slots[0].state == tmp_path / "s.json" and (tmp_path / "s.json").exists()
    monkeypatch.chdir(load_persona("ios").path.parent)
    code, out, _ = endpoint.ctl(capsys, port, "persona", "ios.toml", "--slot", "0")
    assert code == 0 and "persona 'ios'" in out
    code, out, err = endpoint.ctl(capsys, port, "persona", "android")
    assert (code, out) == (2, "")
    assert "mynasim: error: POST /cards/0/persona: persona 'android' has the same identity" in err


def test_ctl_fault_and_clear(
    port: int, slots: list[CardSlot], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = endpoint.ctl(capsys, port, "fault", "--ins", "2A", "--delay", "2.5")
    assert (code, err) == (0, "")
    assert "  fault armed on INS 2A: delay 2.5 s (1 more time)" in out.splitlines()
    code, out, _ = endpoint.ctl(capsys, port, "fault", "--ins", "sign", "--flip", "--times", "0")
    assert "  fault armed on INS 2A: flip (until cleared)" in out.splitlines()
    code, out, _ = endpoint.ctl(
        capsys, port, "fault", "--ins", "b0", "--truncate", "7", "--times", "3"
    )
    assert "  fault armed on INS B0: truncate 7 bytes (3 more times)" in out.splitlines()
    code, out, _ = endpoint.ctl(capsys, port, "fault", "--ins", "A4", "--sw", "6A82", "--slot", "1")
    assert "  fault armed on INS A4: sw 6A82 (1 more time)" in out.splitlines()
    assert [f["kind"] for f in slots[0].status()["faults"]] == ["delay", "flip", "truncate"]
    code, out, _ = endpoint.ctl(capsys, port, "fault", "--clear")
    assert code == 0 and "fault armed" not in out
    assert slots[0].status()["faults"] == [] and len(slots[1].status()["faults"]) == 1
    code, out, err = endpoint.ctl(capsys, port, "fault", "--ins", "2A", "--sw", "6F0")
    assert (code, out) == (2, "")
    assert '"sw" must be 4 hex digits' in err
    code, _, err = endpoint.ctl(capsys, port, "fault", "--ins", "2A", "--delay", "200")
    assert code == 2 and "0 < seconds <= 120" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ins", "2A"], "one of the arguments --delay --flip --truncate --sw --clear"),
        (["--ins", "2A", "--flip", "--sw", "6F00"], "not allowed with argument"),
        (["--clear", "--flip"], "not allowed with argument"),
        (["--clear", "--ins", "2A"], "--clear takes no --ins or --times"),
        (["--clear", "--times", "2"], "--clear takes no --ins or --times"),
        (["--flip"], "--ins is required to arm a fault"),
        (["--ins", "2A", "--delay", "soon"], "invalid float value"),
        (["--ins", "2A", "--truncate", "x"], "invalid int value"),
    ],
)
def test_ctl_fault_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:  # before any request: no server needed
        main(["ctl", "--control", "127.0.0.1:1", "fault", *args])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage: mynasim ctl fault" in err and message in err
