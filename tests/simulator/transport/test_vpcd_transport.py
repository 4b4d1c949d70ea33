"""The vicc side of the vpcd protocol, against a fake vpcd (a listening socket on port 0).

The fake vpcd frames messages itself (not with the code under test), so a framing bug on
one side cannot hide behind the same bug on the other.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from card_helpers import JPKI_AID
from hypothesis import example, given
from hypothesis import strategies as st
from peer_framing import receive_frame

from simulator import VirtualCard
from simulator.personalization.persona import Persona
from simulator.service.slot import CardSlot
from simulator.transport.vpcd import (
    MAX_FRAME,
    FrameError,
    FrameHandler,
    PeerClosed,
    VpcdClient,
    read_frame,
    recv_exact,
    write_frame,
)

TIMEOUT = 5.0
SELECT_JPKI = "00A4040C0A" + JPKI_AID.hex()
DIGEST_INFO = "3031300D060960864801650304020105000420" + "11" * 32
SIGN = f"802A008033{DIGEST_INFO}00"
LOG_NAME = "simulator.transport.vpcd"


def wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


# -- the fake vpcd ----------------------------------------------------------------------


class VpcdConnection:
    """The vpcd end of one connection, with its own framing."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.settimeout(TIMEOUT)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, payload: bytes) -> None:
        self.sock.sendall(struct.pack("!H", len(payload)) + payload)

    def recv(self) -> bytes:
        return receive_frame(self.sock)

    def atr(self) -> bytes:
        self.send(b"\x04")
        return self.recv()

    def control(self, code: int) -> None:
        self.send(bytes([code]))

    def apdu(self, apdu: str | bytes) -> tuple[bytes, int]:
        self.send(bytes.fromhex(apdu) if isinstance(apdu, str) else apdu)
        response = self.recv()
        assert len(response) >= 2, response.hex()
        return response[:-2], int.from_bytes(response[-2:], "big")

    def sw(self, apdu: str | bytes) -> int:
        return self.apdu(apdu)[1]

    def expect_eof(self) -> None:
        """The card closed the connection without sending anything more."""
        assert self.sock.recv(1) == b""

    def close(self) -> None:
        self.sock.close()


class FakeVpcd:
    def __init__(self, port: int = 0) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(4)
        self.port: int = self.listener.getsockname()[1]
        self.connections: list[VpcdConnection] = []

    def accept(self, timeout: float = TIMEOUT) -> VpcdConnection:
        self.listener.settimeout(timeout)
        sock, _ = self.listener.accept()
        connection = VpcdConnection(sock)
        self.connections.append(connection)
        return connection

    def close(self) -> None:
        for connection in self.connections:
            connection.close()
        self.listener.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    server = FakeVpcd()
    yield server
    server.close()


@pytest.fixture
def clients() -> Iterator[list[VpcdClient]]:
    started: list[VpcdClient] = []
    yield started
    for client in started:
        client.stop()


@pytest.fixture
def make_client(
    default_persona: Persona, clients: list[VpcdClient]
) -> Callable[..., tuple[VpcdClient, VirtualCard]]:
    def make(
        port: int, *, reinsert_delay: float = 2.0, max_backoff: float = 0.05
    ) -> tuple[VpcdClient, VirtualCard]:
        card = VirtualCard(default_persona)
        client = VpcdClient(
            FrameHandler(card),
            "127.0.0.1",
            port,
            name="test card",
            reinsert_delay=reinsert_delay,
            max_backoff=max_backoff,
        )
        client.start()
        clients.append(client)
        return client, card

    return make


@pytest.fixture
def link(
    vpcd: FakeVpcd, make_client: Callable[..., tuple[VpcdClient, VirtualCard]]
) -> tuple[VpcdConnection, VpcdClient, VirtualCard]:
    client, card = make_client(vpcd.port)
    return vpcd.accept(), client, card


def login_and_select_auth_key(conn: VpcdConnection, persona: Persona) -> None:
    assert conn.sw(SELECT_JPKI) == 0x9000
    assert conn.sw("00A4020C020018") == 0x9000
    pin = persona.auth_pin.value
    assert conn.sw(f"00200080{len(pin):02X}{pin.hex()}") == 0x9000
    assert conn.sw("00A4020C020017") == 0x9000


# -- framing ----------------------------------------------------------------------------


class OneByteReads:
    """A socket whose recv never returns more than one byte; counts the calls."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.calls = 0

    def recv(self, count: int) -> bytes:
        self.calls += 1
        return self._sock.recv(min(count, 1))

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


def test_read_frame_from_a_peer_writing_one_byte_at_a_time() -> None:
    payload = bytes(range(256)) * 3
    frame = struct.pack("!H", len(payload)) + payload
    ours, peer = socket.socketpair()
    ours.settimeout(TIMEOUT)

    def trickle() -> None:
        for index in range(len(frame)):
            peer.sendall(frame[index : index + 1])

    writer = threading.Thread(target=trickle)
    writer.start()
    reader = OneByteReads(ours)
    try:
        assert read_frame(reader) == payload  # type: ignore[arg-type]
        assert reader.calls == len(frame)  # every byte came on its own
    finally:
        writer.join(TIMEOUT)
        ours.close()
        peer.close()


def test_recv_exact_collects_split_writes() -> None:
    ours, peer = socket.socketpair()
    ours.settimeout(TIMEOUT)
    with ours, peer:
        peer.sendall(b"ab")
        done: list[bytes] = []
        reader = threading.Thread(target=lambda: done.append(recv_exact(ours, 5)))
        reader.start()
        peer.sendall(b"c")
        peer.sendall(b"de")
        reader.join(TIMEOUT)
        assert done == [b"abcde"]


@given(
    size=st.integers(min_value=1, max_value=MAX_FRAME),
    pattern=st.binary(min_size=1, max_size=64),
)
@example(size=1, pattern=b"\x04")
@example(size=2, pattern=b"\x90\x00")
@example(size=MAX_FRAME, pattern=b"\xff\x00\x01")
def test_frames_round_trip_over_a_socketpair(size: int, pattern: bytes) -> None:
    payload = (pattern * (size // len(pattern) + 1))[:size]
    ours, peer = socket.socketpair()
    ours.settimeout(TIMEOUT)
    peer.settimeout(TIMEOUT)
    with ours, peer:
        writer = threading.Thread(target=write_frame, args=(peer, payload))
        writer.start()  # a 64 KiB frame need not fit the socket buffer
        try:
            received = read_frame(ours)
        finally:
            writer.join(TIMEOUT)
        assert received == payload
        peer.sendall(b"\x00\x01\x04")  # the stream stays aligned on frame boundaries
        assert read_frame(ours) == b"\x04"


def test_write_frame_refuses_an_oversized_payload() -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        with pytest.raises(FrameError, match="65536-byte payload"):
            write_frame(ours, b"\x00" * (MAX_FRAME + 1))
        peer.setblocking(False)
        with pytest.raises(BlockingIOError):
            peer.recv(1)  # nothing at all was written


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        (b"", PeerClosed),  # an orderly close between frames
        (b"\x00", FrameError),  # half a length field
        (b"\x00\x00", FrameError),  # an empty frame
        (b"\x00\x05", FrameError),  # a length, then nothing
        (b"\x00\x05\x00\xa4", FrameError),  # a length, then part of the payload
    ],
)
def test_read_frame_tells_a_close_from_a_truncated_frame(
    sent: bytes, error: type[Exception]
) -> None:
    ours, peer = socket.socketpair()
    ours.settimeout(TIMEOUT)
    with ours:
        peer.sendall(sent)
        peer.close()
        with pytest.raises(error):
            read_frame(ours)


# -- the client against a fake vpcd ---------------------------------------------------------


def test_atr_request_is_answered_every_time(
    link: tuple[VpcdConnection, VpcdClient, VirtualCard], default_persona: Persona
) -> None:
    conn, client, _ = link
    wait_for(lambda: client.connected)
    for _ in range(10):
        assert conn.atr() == default_persona.atr
    for code in (0x01, 0x00, 0x02, 0x01):  # the ATR also comes in every power state
        conn.control(code)
        assert conn.atr() == default_persona.atr


def test_power_controls_get_no_reply(
    link: tuple[VpcdConnection, VpcdClient, VirtualCard],
) -> None:
    conn, _, card = link
    for code in (0x01, 0x02, 0x00, 0x01, 0x01, 0x02):
        conn.control(code)
        # the next frame is the APDU's answer, not a reply to the control byte
        assert conn.apdu(SELECT_JPKI) == (b"", 0x9000)
    conn.control(0x00)
    wait_for(lambda: not card.powered)
    conn.control(0x01)
    wait_for(lambda: card.powered and card.selected is None)


def test_reset_clears_the_security_status(
    link: tuple[VpcdConnection, VpcdClient, VirtualCard], default_persona: Persona
) -> None:
    conn, _, card = link
    conn.control(0x01)
    login_and_select_auth_key(conn, default_persona)
    signature, sw = conn.apdu(SIGN)
    assert (sw, len(signature)) == (0x9000, 256)
    assert conn.sw("00A4020C020017") == 0x9000
    assert conn.apdu(SIGN)[1] == 0x9000  # the security status lasts until the reset
    conn.control(0x02)
    assert conn.sw("00A4020C020017") == 0x6A82  # back at MF level: the reset reached the card
    assert conn.sw(SELECT_JPKI) == 0x9000
    assert conn.sw("00A4020C020017") == 0x9000
    assert conn.apdu(SIGN) == (b"", 0x6982)  # the PIN is needed again
    assert card.pins()["jpki/0018"].remaining == 3  # a reset keeps the counter


def test_apdus_are_answered_in_lock_step(
    link: tuple[VpcdConnection, VpcdClient, VirtualCard], default_persona: Persona
) -> None:
    conn, _, _ = link
    reference = VirtualCard(default_persona)
    reference.power_on()
    conn.control(0x01)
    apdus = [SELECT_JPKI, "00A4020C02000A"] + [f"00B0{i * 16:04X}10" for i in range(48)]
    assert len(apdus) == 50
    for apdu in apdus:
        raw = bytes.fromhex(apdu)
        conn.send(raw)
        assert conn.recv() == reference.transmit(raw)
    # a burst of commands gets its answers one by one, in order
    burst = [bytes.fromhex(f"00B0{i * 7:04X}07") for i in range(50)]
    conn.send_raw(b"".join(struct.pack("!H", len(a)) + a for a in burst))
    for raw in burst:
        assert conn.recv() == reference.transmit(raw)


def test_apdu_without_power_on_is_answered(
    link: tuple[VpcdConnection, VpcdClient, VirtualCard],
) -> None:
    conn, _, card = link
    assert not card.powered
    assert conn.apdu(SELECT_JPKI) == (b"", 0x9000)  # no 04, no 01: an HCE front end
    assert card.powered


@pytest.mark.parametrize(
    ("frame", "problem", "close_after"),
    [
        (b"\x00\x00", "empty frame", False),
        (b"\x00\x01\x03", "unknown control byte 03", False),
        (b"\x00\x10\x00\xa4\x04", "connection closed", True),  # cut off mid-payload
        (b"\x00\x10", "connection closed", True),  # cut off right after the length
    ],
)
def test_malformed_frame_ends_the_connection_and_the_card_comes_back(
    vpcd: FakeVpcd,
    make_client: Callable[..., tuple[VpcdClient, VirtualCard]],
    caplog: pytest.LogCaptureFixture,
    frame: bytes,
    problem: str,
    close_after: bool,
) -> None:
    caplog.set_level(logging.INFO, logger=LOG_NAME)
    client, card = make_client(vpcd.port)
    conn = vpcd.accept()
    assert conn.sw(SELECT_JPKI) == 0x9000
    assert conn.sw("00A4020C020018") == 0x9000
    assert conn.sw("0020008004" + b"9999".hex()) == 0x63C2  # one wrong try
    conn.send_raw(frame)
    if close_after:
        conn.close()
    else:
        conn.expect_eof()  # the card hung up
    again = vpcd.accept()  # it reconnects by itself
    errors = [r for r in caplog.records if r.name == LOG_NAME and r.levelno == logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in caplog.records]
    assert "malformed frame" in errors[0].getMessage()
    assert problem in errors[0].getMessage()
    assert again.atr() == card.atr
    assert again.sw(SELECT_JPKI) == 0x9000
    assert again.sw("00A4020C020018") == 0x9000
    assert again.sw("00200080") == 0x63C2  # the counter is what it was
    assert client.connected


def test_waits_for_vpcd_and_reconnects(
    make_client: Callable[..., tuple[VpcdClient, VirtualCard]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    default_persona: Persona,
) -> None:
    caplog.set_level(logging.INFO, logger=LOG_NAME)
    attempts: list[object] = []
    connect = socket.create_connection

    def counting_connect(*args: object, **kwargs: object) -> socket.socket:
        attempts.append(args)
        return connect(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", counting_connect)
    port = free_port()
    client, _ = make_client(port, max_backoff=0.05)
    wait_for(lambda: len(attempts) >= 4)  # several refused attempts
    assert not client.connected
    server = FakeVpcd(port)
    try:
        conn = server.accept()
        assert conn.atr() == default_persona.atr
        waiting = [r for r in caplog.records if "waiting for vpcd" in r.getMessage()]
        assert len(waiting) == 1
        assert waiting[0].levelno == logging.WARNING
        assert client.connected
        conn.close()  # vpcd hangs up (pcscd restarted): the card comes back
        again = server.accept()
        assert again.atr() == default_persona.atr
        assert len([r for r in caplog.records if "waiting for vpcd" in r.getMessage()]) == 1
    finally:
        server.close()


def test_remove_closes_and_insert_waits_the_reinsert_delay(
    vpcd: FakeVpcd, make_client: Callable[..., tuple[VpcdClient, VirtualCard]]
) -> None:
    delay = 0.3
    client, card = make_client(vpcd.port, reinsert_delay=delay)
    conn = vpcd.accept()
    assert conn.sw(SELECT_JPKI) == 0x9000
    started = time.monotonic()
    client.remove()
    conn.expect_eof()  # vpcd sees the card go
    assert not client.inserted
    client.insert()
    again = vpcd.accept()
    assert time.monotonic() - started >= delay
    assert again.atr() == card.atr
    wait_for(lambda: client.connected)
    assert client.inserted

    client.remove()
    again.expect_eof()
    wait_for(lambda: not card.powered)  # out of the reader, out of power
    with pytest.raises(TimeoutError):
        vpcd.accept(timeout=delay + 0.1)  # a removed card stays out
    client.insert()
    assert vpcd.accept().atr() == card.atr


def test_stop_is_prompt_while_connected(
    link: tuple[VpcdConnection, VpcdClient, VirtualCard],
) -> None:
    conn, client, _ = link
    wait_for(lambda: client.connected)
    started = time.monotonic()
    client.stop()
    assert time.monotonic() - started < 2.0
    assert client._thread is not None and not client._thread.is_alive()
    conn.expect_eof()


def test_stop_is_prompt_while_waiting_for_vpcd(
    make_client: Callable[..., tuple[VpcdClient, VirtualCard]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts: list[float] = []
    connect = socket.create_connection

    def counting_connect(*args: object, **kwargs: object) -> socket.socket:
        attempts.append(time.monotonic())
        return connect(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", counting_connect)
    client, _ = make_client(free_port(), max_backoff=2.0)
    wait_for(lambda: len(attempts) >= 5)  # the backoff between attempts is 0.8 s by now
    started = time.monotonic()
    client.stop()
    assert time.monotonic() - started < 0.5  # not after the backoff: at once
    assert client._thread is not None and not client._thread.is_alive()


def test_stop_is_prompt_while_removed(
    vpcd: FakeVpcd, make_client: Callable[..., tuple[VpcdClient, VirtualCard]]
) -> None:
    client, _ = make_client(vpcd.port, reinsert_delay=30.0)
    conn = vpcd.accept()
    client.remove()
    conn.expect_eof()
    client.insert()  # waiting out a long reinsert delay
    # until the card thread is blocked in that wait (Condition._waiters: CPython internals)
    wait_for(lambda: len(client._wake._waiters) > 0)  # type: ignore[attr-defined]
    started = time.monotonic()
    client.stop()
    assert time.monotonic() - started < 2.0
    assert client._thread is not None and not client._thread.is_alive()


# -- armed removal through a CardSlot --------------------------------------------------------


@pytest.fixture
def slot(vpcd: FakeVpcd, default_persona: Persona) -> Iterator[CardSlot]:
    card = VirtualCard(default_persona)
    card_slot = CardSlot(0, card, "127.0.0.1", vpcd.port, reinsert_delay=0.05)
    card_slot.client.max_backoff = 0.05
    card_slot.client.start()
    yield card_slot
    card_slot.client.stop()


@pytest.fixture
def seen_by_card(slot: CardSlot, monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every APDU the card processed, with its answer."""
    seen: list[tuple[bytes, bytes]] = []
    transmit = slot.card.transmit

    def spy(apdu: bytes) -> bytes:
        response = transmit(apdu)
        seen.append((apdu, response))
        return response

    monkeypatch.setattr(slot.card, "transmit", spy)
    return seen


def test_armed_removal_after_processing(
    vpcd: FakeVpcd,
    slot: CardSlot,
    seen_by_card: list[tuple[bytes, bytes]],
    default_persona: Persona,
) -> None:
    conn = vpcd.accept()
    slot.arm_removal(0x2A, "after")  # other commands pass untouched
    login_and_select_auth_key(conn, default_persona)
    conn.send(bytes.fromhex(SIGN))
    conn.expect_eof()  # no response frame, the card is gone
    sign = bytes.fromhex(SIGN)
    processed = [response for apdu, response in seen_by_card if apdu == sign]
    assert len(processed) == 1  # the card did compute the signature
    assert len(processed[0]) == 258 and processed[0][-2:] == b"\x90\x00"
    assert not slot.client.inserted
    assert slot.status()["armed_removal"] is None

    slot.client.insert()
    again = vpcd.accept()
    login_and_select_auth_key(again, default_persona)
    signature, sw = again.apdu(SIGN)  # one-shot: answered normally now
    assert (sw, len(signature)) == (0x9000, 256)
    assert signature == processed[0][:-2]


def test_armed_removal_before_processing(
    vpcd: FakeVpcd, slot: CardSlot, seen_by_card: list[tuple[bytes, bytes]]
) -> None:
    conn = vpcd.accept()
    slot.arm_removal(0x20, "before")
    assert conn.sw(SELECT_JPKI) == 0x9000
    assert conn.sw("00A4020C020018") == 0x9000
    wrong = bytes.fromhex("0020008004" + b"9999".hex())
    conn.send(wrong)
    conn.expect_eof()
    assert all(apdu[1] != 0x20 for apdu, _ in seen_by_card)  # never reached the card
    assert slot.card.pins()["jpki/0018"].remaining == 3

    slot.client.insert()
    again = vpcd.accept()
    assert again.sw(SELECT_JPKI) == 0x9000
    assert again.sw("00A4020C020018") == 0x9000
    assert again.sw("00200080") == 0x63C3  # the counter is untouched
    assert again.sw(wrong) == 0x63C2  # one-shot: this VERIFY reaches the card
    assert slot.client.inserted
