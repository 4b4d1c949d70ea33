"""A served card in contactless mode: the slot puts a PC/SC part-3 reader in front of the card
(its ATR on GET_ATR, FF CA answered by the reader, a new PUPI per insertion and persona switch,
latency on the card's answers). Slot 0 talks to a fake vpcd peer over TCP; no pcscd."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_trace_and_options as traces
from card_helpers import JPKI_AID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peer_framing import receive_exactly

from simulator import VirtualCard
from simulator.personalization.card_interface import TYPE_B_ATRS
from simulator.personalization.persona import fixtures_root
from simulator.service.serve import ServeOptions, Server
from simulator.service.slot import CardSlot
from simulator.service.trace import TraceWriter
from simulator.transport.vpcd import GET_ATR, POWER_ON

vpcd = traces.vpcd
MiniVpcd = traces.MiniVpcd
read_trace = traces.read_trace

CONTACT_ATR = bytes.fromhex("3BE000FF8131FE4514")
SELECT_JPKI = bytes.fromhex("00A4040C0A") + JPKI_AID
GET_UID = bytes.fromhex("FFCA000000")
OK = b"\x90\x00"


def serve_slot(
    port: int, trace: TraceWriter | None = None, *, persona: str = "default", **options: Any
) -> CardSlot:
    slot = CardSlot(
        0, VirtualCard.from_persona(persona), "127.0.0.1", port, trace=trace,
        reinsert_delay=0.05, **options,
    )  # fmt: skip
    slot.client.max_backoff = 0.05
    return slot


@pytest.fixture
def contactless(vpcd: traces.MiniVpcd, tmp_path: Path) -> Iterator[tuple[CardSlot, Path]]:
    """Slot 0 served contactless (the --interface override) to the fake vpcd, traced."""
    path = tmp_path / "trace.jsonl"
    trace = TraceWriter(path)
    slot = serve_slot(vpcd.port, trace, interface="contactless")
    slot.client.start()
    vpcd.accept()
    yield slot, path
    slot.client.stop()
    slot.card.close()
    trace.close()


def test_the_reader_atr_pupi_and_the_card_behind_it(
    vpcd: traces.MiniVpcd, contactless: tuple[CardSlot, Path]
) -> None:
    slot, trace_path = contactless
    assert vpcd.exchange(bytes([GET_ATR])) == TYPE_B_ATRS[0]
    vpcd.send(bytes([POWER_ON]))
    status = slot.status()
    assert (status["interface"], status["atr"]) == ("contactless", TYPE_B_ATRS[0].hex(" ").upper())
    pupi = vpcd.exchange(GET_UID)
    assert len(pupi) == 6 and pupi[-2:] == OK
    assert pupi[:4].hex().upper() == status["uid"]
    assert vpcd.exchange(bytes.fromhex("FFCA010000")) == b"\x6a\x81"  # no ATS on Type B
    assert vpcd.exchange(SELECT_JPKI) == OK  # everything else: the card
    assert vpcd.exchange(bytes.fromhex("00CA5F5100"))[-2:] == OK  # the contact ATR, from the card
    assert vpcd.exchange(GET_UID) == pupi  # same tap, same PUPI

    slot.client.remove()  # out of the field ...
    slot.client.insert()  # ... and tapped again
    vpcd.sock = None
    vpcd.accept()
    assert traces_wait(lambda: slot.status()["uid"] != status["uid"])
    again = vpcd.exchange(GET_UID)
    assert again[-2:] == OK and again != pupi
    assert again[:4].hex().upper() == slot.status()["uid"]

    def commands() -> list[str]:
        return [r["apdu"] for r in read_trace(trace_path) if r["direction"] == "command"]

    # the pseudo-APDUs are traced like any other (the record follows the answer: wait for it)
    assert traces_wait(lambda: commands().count("FF CA 00 00 00") == 3), commands()
    records = read_trace(trace_path)
    answers = [r for r in records if r["direction"] == "response"]
    assert any(r["sw"] == "6A81" for r in answers)
    assert [r["event"] for r in records if r.get("event") == "inserted"] == ["inserted"] * 2


def traces_wait(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_a_contact_card_answers_cla_ff_itself_like_a_chip(vpcd: traces.MiniVpcd) -> None:
    slot = serve_slot(vpcd.port)
    slot.client.start()
    try:
        vpcd.accept()
        assert vpcd.exchange(bytes([GET_ATR])) == CONTACT_ATR
        vpcd.send(bytes([POWER_ON]))
        assert vpcd.exchange(GET_UID) == b"\x6e\x00"  # class not supported: from the card
        status = slot.status()
        assert (status["interface"], status["uid"]) == ("contact", None)
        assert status["atr"] == CONTACT_ATR.hex(" ").upper()
    finally:
        slot.client.stop()
        slot.card.close()


def test_a_persona_switch_is_a_new_tap() -> None:
    slot = serve_slot(1, interface="contactless")
    try:
        uids = {slot.status()["uid"]}
        for persona in ("android", "default", "under15"):
            slot.load_persona(persona)
            status = slot.status()
            assert status["interface"] == "contactless"  # the override outlives the switch
            uids.add(status["uid"])
        assert len(uids) == 4
    finally:
        slot.card.close()


def test_latency_delays_the_cards_answers_not_the_readers(vpcd: traces.MiniVpcd) -> None:
    slot = serve_slot(vpcd.port, interface="contactless")
    assert slot.reader is not None
    slot.reader.latency = 0.3
    slot.client.start()
    try:
        vpcd.accept()
        vpcd.send(bytes([POWER_ON]))
        start = time.monotonic()
        assert vpcd.exchange(SELECT_JPKI) == OK
        card_time = time.monotonic() - start
        start = time.monotonic()
        assert vpcd.exchange(GET_UID)[-2:] == OK
        reader_time = time.monotonic() - start
        assert card_time >= 0.3 > reader_time
    finally:
        slot.client.stop()
        slot.card.close()


def test_a_removal_during_the_latency_sends_no_answer(
    vpcd: traces.MiniVpcd, tmp_path: Path
) -> None:
    trace = TraceWriter(tmp_path / "trace.jsonl")
    slot = serve_slot(vpcd.port, trace, interface="contactless")
    assert slot.reader is not None
    slot.reader.latency = 5.0
    slot.client.start()
    try:
        vpcd.accept()
        vpcd.send(bytes([POWER_ON]))
        vpcd.send(SELECT_JPKI)
        time.sleep(0.2)
        start = time.monotonic()
        slot.client.remove()  # the card leaves the field before it answered
        assert vpcd.sock is not None
        with pytest.raises((EOFError, OSError)):
            receive_exactly(vpcd.sock, 2)
        assert time.monotonic() - start < 2.0
    finally:
        slot.client.stop()
        slot.card.close()
        trace.close()
    events = [r.get("event") for r in read_trace(tmp_path / "trace.jsonl")]
    assert "contactless: answer not sent (card left during the latency)" in events


def test_serve_option_and_describe(tmp_path: Path) -> None:
    server = Server(
        ServeOptions(personas=["default", "android"], states=[], control=None,
                     interface="contactless")
    )  # fmt: skip
    try:
        assert [slot.status()["interface"] for slot in server.slots] == ["contactless"] * 2
        text = "\n".join(server.describe())
        assert f"slot 1: contactless, reader ATR {TYPE_B_ATRS[0].hex(' ').upper()}" in text
    finally:
        for slot in server.slots:
            slot.card.close()
    server = Server(ServeOptions(personas=["default"], states=[], control=None))
    try:
        assert server.slots[0].status()["interface"] == "contact"
        assert "contactless" not in "\n".join(server.describe())
    finally:
        server.slots[0].card.close()


def test_a_contactless_persona_is_served_contactless_unless_overridden(tmp_path: Path) -> None:
    root = tmp_path / "fixtures"
    shutil.copytree(fixtures_root(), root)
    persona = root / "personas" / "default.toml"
    text = persona.read_text(encoding="utf-8")
    persona.write_text(
        text.replace(
            'token_serial = "0000000099000001"',
            'token_serial = "0000000099000001"\ninterface = "contactless"\n'
            f'contactless_atr = "{TYPE_B_ATRS[2].hex(" ")}"\nlatency_ms = 250\n'
            "max_command_bytes = 261",
            1,
        ),
        encoding="utf-8",
    )
    slot = serve_slot(1, persona=str(persona))
    try:
        assert slot.reader is not None
        assert (slot.reader.atr, slot.reader.latency, slot.reader.max_command) == (
            TYPE_B_ATRS[2], 0.25, 261,
        )  # fmt: skip
        assert slot.handler.control(GET_ATR) == TYPE_B_ATRS[2]
        slot.load_persona("android")  # the android persona is contact
        assert slot.reader is None and slot.handler.control(GET_ATR) == CONTACT_ATR
    finally:
        slot.card.close()
    slot = serve_slot(1, persona=str(persona), interface="contact")
    try:
        assert slot.reader is None and slot.status()["interface"] == "contact"
    finally:
        slot.card.close()


@pytest.fixture(scope="module")
def prepared() -> Iterator[CardSlot]:
    """A contactless slot (never connected) whose card has JPKI selected and the auth PIN
    verified: state that a pseudo-APDU reaching the card would disturb."""
    slot = serve_slot(1, interface="contactless")
    assert slot.handler.apdu(SELECT_JPKI) == OK
    assert slot.handler.apdu(bytes.fromhex("00A4020C020018")) == OK
    assert slot.handler.apdu(bytes.fromhex("002000800431323334")) == OK
    yield slot
    slot.card.close()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(min_size=0, max_size=270))
def test_random_cla_ff_apdus_never_reach_or_disturb_the_card(
    prepared: CardSlot, body: bytes
) -> None:
    slot = prepared
    card = slot.card
    verified = card.session.status.verified
    assert verified  # the auth PIN
    before = (card.powered, card.selected, card.session, card.session.current_ef, slot.status())
    calls: list[bytes] = []
    transmit = card.transmit
    card.transmit = lambda apdu: calls.append(apdu) or transmit(apdu)  # type: ignore[method-assign]
    try:
        response = slot.handler.apdu(b"\xff" + body)
    finally:
        del card.transmit
    assert len(response) >= 2
    assert calls == []
    after = (card.powered, card.selected, card.session, card.session.current_ef, slot.status())
    assert after == before
    assert card.session.status.verified == verified  # the PIN is still verified
