"""vpcd listen mode (VpcdListener, vicc's `--reversed` role) in-process, against a front end
that replays vsmartcard ACardEmulator's VICCEmulator (phone-path.md section 1.1).

The front end frames messages itself (not with vpcd.py), exactly as VICCEmulator does: the
2-byte big-endian length and the payload in two writes, `01` once per app process right
after connecting, the raw C-APDUs of a tap, `00` at the end of every tap; never `04`/`02`
(tests send them anyway: they must be answered). The card behind the listener is a
CardSlot's (serve's own wiring) unless a test needs a bare FrameHandler.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import struct
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vicc_front_end import (
    KNOWN,
    LOG_NAME,
    PIN_STATUS,
    SELECT_AUTH_CA,
    SELECT_AUTH_KEY,
    SELECT_AUTH_PIN,
    SELECT_JPKI,
    SELECT_SIGN_PIN,
    SIGN,
    TIMEOUT,
    FrontEnd,
    read_certificate,
    verify_apdu,
    wait_for,
)

from simulator import VirtualCard, load_persona
from simulator.personalization.persona import Persona
from simulator.service.slot import CardSlot
from simulator.transport.vpcd import Exchange, FrameHandler
from simulator.transport.vpcd_listen import (
    VpcdListener,
    ascii_qr,
    format_address,
    front_end_lines,
    front_end_uris,
    ipv4_addresses,
    ipv6_addresses,
    vicc_uri,
)

# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def slot(default_persona: Persona) -> Iterator[CardSlot]:
    """A CardSlot listening on a free loopback port, started."""
    card = VirtualCard(default_persona, strict=False)
    served = CardSlot(0, card, "127.0.0.1", 0, listen=True)
    served.client.frame_timeout = 0.5
    served.client.start()
    yield served
    served.client.stop()
    card.close()


def address(slot: CardSlot) -> tuple[str, int]:
    host, port = slot.client.address
    return host, port


@pytest.fixture
def fronts() -> Iterator[list[FrontEnd]]:
    opened: list[FrontEnd] = []
    yield opened
    for front in opened:
        front.close()


@pytest.fixture
def connect(slot: CardSlot, fronts: list[FrontEnd]) -> Callable[..., FrontEnd]:
    def make(*, power_on: bool = True) -> FrontEnd:
        front = FrontEnd(address(slot), power_on=power_on)
        fronts.append(front)
        return front

    return make


def idle(slot: CardSlot) -> None:
    """Wait until the listener serves nobody (the last front end is fully let go)."""
    wait_for(lambda: not slot.client.connected)


# -- ACardEmulator's taps --------------------------------------------------------------------


def test_a_tap_reads_the_ca_certificate_in_pieces(
    slot: CardSlot, connect: Callable[..., FrontEnd], default_persona: Persona
) -> None:
    front = connect()
    assert front.sw(SELECT_JPKI) == 0x9000
    assert front.sw(SELECT_AUTH_CA) == 0x9000
    expected = VirtualCard(default_persona)
    expected.power_on()
    assert expected.transmit(SELECT_JPKI)[-2:] == b"\x90\x00"
    assert expected.transmit(SELECT_AUTH_CA)[-2:] == b"\x90\x00"
    whole = expected.transmit(bytes.fromhex("00B00000000000"))
    certificate = read_certificate(front)
    assert len(certificate) > 1000
    assert certificate == whole[: len(certificate)]  # the EF is padded (FF) past the DER
    front.deactivate()
    wait_for(lambda: not slot.card.powered)
    assert slot.client.connected  # the app keeps its socket between taps


def test_the_next_tap_after_power_off_starts_with_a_fresh_security_state(
    slot: CardSlot, connect: Callable[..., FrontEnd], default_persona: Persona
) -> None:
    front = connect()
    pin = default_persona.auth_pin.value
    # tap 1: VERIFY the authentication PIN, then a signature with the auth key works
    assert front.sw(SELECT_JPKI) == 0x9000
    assert front.sw(SELECT_AUTH_PIN) == 0x9000
    assert front.sw(verify_apdu(pin)) == 0x9000
    assert front.sw(SELECT_AUTH_KEY) == 0x9000
    answer = front.process(SIGN)
    assert answer[-2:] == b"\x90\x00" and len(answer) == 258
    front.deactivate()
    # tap 2, no 01: the APDU powers the card up implicitly, the PIN is no longer verified
    assert front.sw(SELECT_JPKI) == 0x9000
    assert front.sw(SELECT_AUTH_KEY) == 0x9000
    assert front.sw(SIGN) == 0x6982
    front.deactivate()
    # tap 3 without even the SELECT of tap 2's application: the card starts at the MF
    assert front.sw(SELECT_AUTH_KEY) == 0x6A82


def test_power_off_alone_clears_the_verified_state(default_persona: Persona) -> None:
    """FrameHandler level: 00 then an APDU (implicit power-up) leaves no PIN verified."""
    card = VirtualCard(default_persona)
    handler = FrameHandler(card)
    handler.control(0x01)
    pin = default_persona.auth_pin.value
    for apdu in (SELECT_JPKI, SELECT_AUTH_PIN, verify_apdu(pin), SELECT_AUTH_KEY):
        assert handler.apdu(apdu)[-2:] == b"\x90\x00"
    assert handler.apdu(SIGN)[-2:] == b"\x90\x00"
    handler.control(0x00)
    assert not card.powered and card.selected is None
    # the implicit power-up leaves the card at the MF: no EF 0017 there, no verification
    assert handler.apdu(SELECT_AUTH_KEY)[-2:] == b"\x6a\x82"
    assert card.powered and card.selected is None
    for apdu in (SELECT_JPKI, SELECT_AUTH_KEY):
        assert handler.apdu(apdu)[-2:] == b"\x90\x00"
    assert card.powered
    assert handler.apdu(SIGN)[-2:] == b"\x69\x82"


def test_apdus_without_any_power_on_are_served(
    slot: CardSlot, connect: Callable[..., FrontEnd]
) -> None:
    front = connect(power_on=False)
    assert front.sw(SELECT_JPKI) == 0x9000
    assert slot.card.powered


def test_atr_and_reset_are_answered_though_the_app_never_sends_them(
    slot: CardSlot, connect: Callable[..., FrontEnd]
) -> None:
    front = connect()
    assert front.atr() == slot.card.atr
    assert front.sw(SELECT_JPKI) == 0x9000
    front.send(b"\x02")  # reset: no answer, selection gone
    assert front.sw(SELECT_AUTH_KEY) == 0x6A82
    assert front.atr() == slot.card.atr


def test_the_app_process_restarting_is_served_again(
    slot: CardSlot, connect: Callable[..., FrontEnd], default_persona: Persona
) -> None:
    first = connect()
    assert first.sw(SELECT_JPKI) == 0x9000
    assert first.sw(SELECT_AUTH_PIN) == 0x9000
    assert first.sw(verify_apdu(default_persona.auth_pin.value)) == 0x9000
    first.close()  # force-stop: the app's socket goes without a 00
    wait_for(lambda: not slot.card.powered)
    idle(slot)
    second = connect()  # the new app process: connect, 01
    assert second.sw(SELECT_JPKI) == 0x9000
    assert second.sw(SELECT_AUTH_KEY) == 0x9000
    assert second.sw(SIGN) == 0x6982  # the old process's verification died with it


# -- one front end at a time -------------------------------------------------------------------


def test_a_second_front_end_is_refused_while_the_first_keeps_working(
    slot: CardSlot, connect: Callable[..., FrontEnd], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOG_NAME)
    first = connect()
    assert first.sw(SELECT_JPKI) == 0x9000
    second = connect()
    assert second.closed_by_card()
    assert first.sw(SELECT_AUTH_CA) == 0x9000
    refused = [r for r in caplog.records if "refused a second front end" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING
    served = format_address(*first.sock.getsockname()[:2])
    assert served in refused[0].getMessage()
    first.close()
    idle(slot)
    third = connect()
    assert third.sw(SELECT_JPKI) == 0x9000


def test_a_front_end_leaving_powers_the_card_off_and_listening_goes_on(
    slot: CardSlot, connect: Callable[..., FrontEnd], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOG_NAME)
    for _ in range(3):
        front = connect()
        assert front.sw(SELECT_JPKI) == 0x9000
        assert slot.card.powered and slot.client.connected
        front.close()
        idle(slot)
        assert not slot.card.powered
    left = [r for r in caplog.records if "front end closed the connection" in r.getMessage()]
    assert len(left) == 3
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# -- remove / insert -----------------------------------------------------------------------------


def test_remove_closes_the_connection_and_refuses_until_insert(
    slot: CardSlot, connect: Callable[..., FrontEnd], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOG_NAME)
    front = connect()
    assert front.sw(SELECT_JPKI) == 0x9000
    slot.client.remove()
    assert front.closed_by_card()
    assert not slot.client.inserted
    idle(slot)
    for _ in range(2):
        assert connect().closed_by_card()
    refused = [r for r in caplog.records if "the card is removed" in r.getMessage()]
    assert len(refused) == 2
    assert slot.status()["inserted"] is False and slot.status()["connected"] is False
    slot.client.insert()
    again = connect()
    assert again.sw(SELECT_JPKI) == 0x9000
    assert slot.status()["connected"] is True


def test_an_armed_removal_pulls_the_card_from_the_front_end(
    slot: CardSlot, connect: Callable[..., FrontEnd]
) -> None:
    slot.arm_removal(0xB0, "before")
    front = connect()
    assert front.sw(SELECT_JPKI) == 0x9000
    assert front.sw(SELECT_AUTH_CA) == 0x9000
    front.send(bytes.fromhex("00B0000004"))
    assert front.closed_by_card()
    assert not slot.client.inserted
    slot.client.insert()
    idle(slot)
    assert connect().sw(SELECT_JPKI) == 0x9000


def test_a_delay_fault_gives_up_when_the_card_is_removed(
    slot: CardSlot, connect: Callable[..., FrontEnd]
) -> None:
    slot.arm_fault(0xA4, "delay", seconds=30)
    front = connect()
    front.send(SELECT_JPKI)
    wait_for(lambda: bool(slot.status()["powered"]))
    started = time.monotonic()
    threading.Timer(0.2, slot.client.remove).start()
    assert front.closed_by_card()
    assert time.monotonic() - started < 10


def test_status_names_the_listen_address(slot: CardSlot) -> None:
    status = slot.status()
    host, port = slot.client.address
    assert port != 0
    assert status["vpcd"] == f"listen {host}:{port}"
    assert status["connected"] is False and status["inserted"] is True


# -- exchanges and bad frames ----------------------------------------------------------------


def test_every_frame_is_reported_as_an_exchange(default_persona: Persona) -> None:
    card = VirtualCard(default_persona)
    seen: list[Exchange] = []
    listener = VpcdListener(FrameHandler(card), "127.0.0.1", 0, on_exchange=seen.append)
    listener.start()
    try:
        front = FrontEnd(listener.address)
        assert front.sw(SELECT_JPKI) == 0x9000
        front.deactivate()
        wait_for(lambda: len(seen) == 3)
        assert seen == [
            Exchange("control", b"\x01", None),
            Exchange("apdu", SELECT_JPKI, b"\x90\x00"),
            Exchange("control", b"\x00", None),
        ]
        front.close()
    finally:
        listener.stop()


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"\x00\x00", "empty frame (length 0)"),
        (b"\x00\x05\x00\xa4", "frame cut off: connection closed after 2 of its 5 payload bytes"),
        (b"\x00", "frame cut off: connection closed after 1 of the 2 length bytes"),
        (b"\x00\x01\x05", f"unknown control byte 05 {KNOWN}"),
        (b"\x00\x01\x03", f"unknown control byte 03 {KNOWN}"),
    ],
)
def test_a_bad_frame_is_one_error_and_the_listener_keeps_serving(
    slot: CardSlot,
    connect: Callable[..., FrontEnd],
    caplog: pytest.LogCaptureFixture,
    raw: bytes,
    detail: str,
) -> None:
    caplog.set_level(logging.INFO, LOG_NAME)
    front = connect()
    assert front.sw(SELECT_JPKI) == 0x9000
    front.sock.sendall(raw)
    if raw[:2] != b"\x00\x01":  # an unknown control byte is complete: the card acts at once
        front.sock.shutdown(socket.SHUT_WR)
    assert front.closed_by_card()
    idle(slot)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        f"slot 0 (default): malformed frame from the front end, closing the connection and "
        f"listening for the next one: {detail}"
    ]
    assert not slot.card.powered
    assert connect().sw(SELECT_JPKI) == 0x9000


def test_a_stalled_frame_is_one_error(
    slot: CardSlot, connect: Callable[..., FrontEnd], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOG_NAME)
    front = connect()
    front.sock.sendall(b"\x00\x07\x00\xa4")  # and nothing more: FRAME_TIMEOUT (0.5 s here)
    assert front.closed_by_card()
    idle(slot)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert (
        "frame stalled: nothing more came for 0.5 s after 2 of its 7 payload bytes" in (errors[0])
    )
    assert connect().sw(SELECT_JPKI) == 0x9000


# -- binding -------------------------------------------------------------------------------------


def test_a_port_in_use_is_an_error_at_start(default_persona: Persona) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        listener = VpcdListener(FrameHandler(VirtualCard(default_persona)), "127.0.0.1", port)
        with pytest.raises(OSError, match="in use"):
            listener.start()
        listener.stop()  # a listener that never started stops quietly


def test_stop_closes_the_port_and_the_connection(default_persona: Persona) -> None:
    card = VirtualCard(default_persona)
    listener = VpcdListener(FrameHandler(card), "127.0.0.1", 0)
    listener.start()
    front = FrontEnd(listener.address)
    assert front.sw(SELECT_JPKI) == 0x9000
    listener.stop()
    assert front.closed_by_card()
    assert not card.powered
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(listener.address, timeout=TIMEOUT).close()
    front.close()


def test_an_ipv6_listener_serves(default_persona: Persona) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")  # pragma: no cover
    listener = VpcdListener(FrameHandler(VirtualCard(default_persona)), "::1", 0)
    listener.start()
    try:
        assert listener.where.startswith("[::1]:")
        front = FrontEnd(listener.address)
        assert front.sw(SELECT_JPKI) == 0x9000
        front.close()
    finally:
        listener.stop()


# -- what serve prints ---------------------------------------------------------------------------


def test_vicc_uris_for_a_named_host() -> None:
    assert vicc_uri("127.0.0.1", 35963) == "vicc://127.0.0.1:35963"
    assert vicc_uri("fe80::1", 35964) == "vicc://[fe80::1]:35964"
    assert front_end_uris("192.168.1.20", 35963) == ["vicc://192.168.1.20:35963"]
    assert front_end_lines("127.0.0.1", 35963) == ["    front end: vicc://127.0.0.1:35963"]


def test_a_wildcard_bind_lists_non_loopback_addresses() -> None:
    uris = front_end_uris("0.0.0.0", 35963)  # noqa: S104 - what the user typed
    assert uris == [vicc_uri(address, 35963) for address in ipv4_addresses()]
    for uri in uris:
        assert not uri.startswith("vicc://127.")
    lines = front_end_lines("0.0.0.0", 35963)  # noqa: S104
    if not uris:  # inside .ci/isolated only lo exists
        assert "no non-loopback address found" in lines[0]


def test_ipv6_addresses_keep_the_global_ones(tmp_path: Path) -> None:
    table = tmp_path / "if_inet6"
    table.write_text(
        "00000000000000000000000000000001 01 80 10 80       lo\n"
        "fe800000000000000000000000000001 02 40 20 80     eth0\n"
        "20010db8000000000000000000000042 02 40 00 80     eth0\n"
    )
    assert ipv6_addresses(table) == ["2001:db8::42"]
    assert ipv6_addresses(tmp_path / "absent") == []


# -- random frame streams ------------------------------------------------------------------------

_PIECES = st.one_of(
    st.binary(min_size=0, max_size=12),  # raw garbage
    st.integers(0, 255).map(lambda code: struct.pack("!HB", 1, code)),  # any control byte
    st.binary(min_size=2, max_size=40).map(lambda apdu: struct.pack("!H", len(apdu)) + apdu),
    st.sampled_from([SELECT_JPKI, SELECT_AUTH_PIN, SELECT_SIGN_PIN, PIN_STATUS]).map(
        lambda apdu: struct.pack("!H", len(apdu)) + apdu
    ),
    st.binary(min_size=1, max_size=8).map(  # a wrong PIN (no persona PIN is this long)
        lambda pin: struct.pack("!H", 5 + len(pin) + 9) + verify_apdu(b"\xff" * 9 + pin)
    ),
)


def delivered(stream: bytes) -> list[bytes]:
    """The frames the card acts on, read independently: up to the first bad frame."""
    frames, at = [], 0
    while at < len(stream):
        if at + 2 > len(stream):
            break
        (length,) = struct.unpack("!H", stream[at : at + 2])
        if length == 0 or at + 2 + length > len(stream):
            break
        payload = stream[at + 2 : at + 2 + length]
        if length == 1 and payload[0] not in (0, 1, 2, 4):
            break
        frames.append(payload)
        at += 2 + length
    return frames


@pytest.fixture(scope="module")
def fuzzed_slot() -> Iterator[CardSlot]:
    card = VirtualCard(load_persona("default"), strict=False)
    served = CardSlot(0, card, "127.0.0.1", 0, listen=True)
    served.client.frame_timeout = 1.0
    served.client.start()
    yield served
    served.client.stop()
    card.close()


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=12))
def test_random_frame_streams_never_kill_the_listener_nor_touch_counters(
    fuzzed_slot: CardSlot, pieces: list[bytes]
) -> None:
    slot = fuzzed_slot
    for key, pin in slot.card.pins().items():
        slot.set_remaining(key, pin.max_tries)
    before = {key: pin.remaining for key, pin in slot.card.pins().items()}
    stream = b"".join(pieces)
    idle(slot)
    with socket.create_connection(address(slot), timeout=TIMEOUT) as sock:
        sock.sendall(stream)
        with contextlib.suppress(OSError):  # the card may have closed first (a bad frame)
            sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(ConnectionResetError):
            while sock.recv(65536):
                pass
    idle(slot)
    assert slot.client._thread is not None and slot.client._thread.is_alive()
    after = {key: pin.remaining for key, pin in slot.card.pins().items()}
    verifies = sum(1 for frame in delivered(stream) if len(frame) >= 4 and frame[1] == 0x20)
    for key, left in after.items():
        assert before[key] - verifies <= left <= before[key], (key, before, after, verifies)
    if not verifies:
        assert after == before
    with socket.create_connection(address(slot), timeout=TIMEOUT) as sock:
        front = FrontEnd.__new__(FrontEnd)
        front.sock = sock
        assert front.sw(SELECT_JPKI) == 0x9000
    idle(slot)


class _FakeQr:
    """Stands in for the optional `qrcode` package (not a dependency): its QRCode API."""

    def __init__(self, border: int = 4) -> None:
        self.data = ""

    def add_data(self, data: str) -> None:
        self.data = data

    def print_ascii(self, out: io.StringIO) -> None:
        out.write(f"##{self.data}##\n#  #\n")


def test_a_qr_code_is_printed_only_when_qrcode_is_importable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "qrcode", None)  # import fails
    assert ascii_qr("vicc://127.0.0.1:35963") is None
    assert front_end_lines("127.0.0.1", 35963) == ["    front end: vicc://127.0.0.1:35963"]
    monkeypatch.setitem(sys.modules, "qrcode", types.SimpleNamespace(QRCode=_FakeQr))
    assert front_end_lines("127.0.0.1", 35963) == [
        "    front end: vicc://127.0.0.1:35963",
        "    ##vicc://127.0.0.1:35963##",
        "    #  #",
    ]
