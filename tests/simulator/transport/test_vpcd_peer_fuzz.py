"""The card against a hostile vpcd peer (issue 8, item 4): bad frames, random byte streams,
half-closed and silent sockets, connect/close loops.

After each: the card logs what was wrong with the frame (one ERROR line, the exact detail),
drops that connection, connects again, serves a well-formed session, and its state is
unharmed. In-process: a CardSlot (serve's own wiring, a non-strict card) against the fake
vpcd of test_vpcd_transport, many random streams. Process-level: a real `mynasim serve`
child with a state file and a control endpoint (no pcscd: the test is vpcd), the hand-made
cases and a handful of random streams; its stderr, GET /status and a restart on the same
state file are checked.

What the card should do with a stream is worked out here by an independent reading of the
framing (`predict`) and a reference card fed the same frames.
"""

from __future__ import annotations

import logging
import re
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
import test_vpcd_transport as transport
from hypothesis import example, given, settings
from hypothesis import strategies as st
from serve_process import ServeProcess, control_request

from simulator import VirtualCard
from simulator.personalization.persona import Persona
from simulator.service.slot import CardSlot
from simulator.transport.vpcd import FRAME_TIMEOUT, MAX_FRAME, FrameError, read_frame

FakeVpcd = transport.FakeVpcd
VpcdConnection = transport.VpcdConnection
vpcd = transport.vpcd  # the fixture: a fake vpcd listening on a free port
LOG_NAME = transport.LOG_NAME
SELECT_JPKI = bytes.fromhex(transport.SELECT_JPKI)
SELECT_AUTH = bytes.fromhex("00A4020C020018")
STATUS_QUERY = bytes.fromhex("00200080")
IN_PROCESS_FRAME_TIMEOUT = 0.3
KNOWN = "(known: 00 power off, 01 power on, 02 reset, 04 ATR)"


def frame(payload: bytes) -> bytes:
    return struct.pack("!H", len(payload)) + payload


# -- what the card should do: an independent reading of the stream ----------------------------


@dataclass
class Expected:
    replies: list[bytes]  # the frames the card answers, in order
    problem: str | None  # the bad frame's description as logged; None: the stream just ends


def predict(stream: bytes, card: VirtualCard, frame_timeout: float | None = None) -> Expected:
    """Feed `stream` (what the peer sends before it closes, half-closes or - with
    `frame_timeout` - goes silent) to `card` as the vicc should; what comes back."""
    card.power_off()  # a new connection: the served card starts unpowered
    replies: list[bytes] = []
    at = 0

    def cut(got: int, what: str) -> str:
        if frame_timeout is not None:
            return f"frame stalled: nothing more came for {frame_timeout:g} s after {got} of {what}"
        return f"frame cut off: connection closed after {got} of {what}"

    while at < len(stream):
        if len(stream) - at < 2:
            return Expected(replies, cut(1, "the 2 length bytes"))
        (length,) = struct.unpack("!H", stream[at : at + 2])
        payload = stream[at + 2 : at + 2 + length]
        at += 2 + length
        if length == 0:
            return Expected(replies, "empty frame (length 0)")
        if len(payload) < length:
            return Expected(replies, cut(len(payload), f"its {length} payload bytes"))
        if length == 1:
            code = payload[0]
            if code == 0x04:
                replies.append(card.atr)
            elif code == 0x01:
                card.power_on()
            elif code == 0x02:
                card.reset()
            elif code == 0x00:
                card.power_off()
            else:
                return Expected(replies, f"unknown control byte {code:02X} {KNOWN}")
            continue
        if not card.powered:
            card.power_on()  # an APDU without power-up: implicit power-on
        replies.append(card.transmit(payload))
    return Expected(replies, None)  # whole frames only: no problem, the peer just ends it


def same_reply(got: bytes, want: bytes, command: bytes | None) -> bool:
    if command is not None and len(command) >= 4 and command[:2] == b"\x00\x84":
        return len(got) == len(want) and got[-2:] == want[-2:]  # GET CHALLENGE: random
    return got == want


def commands_of(stream: bytes) -> list[bytes | None]:
    """The frames of `stream` that get an answer, for same_reply (None: an ATR request)."""
    out: list[bytes | None] = []
    at = 0
    while at + 2 <= len(stream):
        (length,) = struct.unpack("!H", stream[at : at + 2])
        payload = stream[at + 2 : at + 2 + length]
        at += 2 + length
        if length == 0 or len(payload) < length:
            break
        if length == 1:
            if payload[0] == 0x04:
                out.append(None)
            continue
        out.append(payload)
    return out


def split_frames(data: bytes) -> list[bytes]:
    frames: list[bytes] = []
    at = 0
    while at < len(data):
        assert len(data) - at >= 2, f"the card sent half a length field: {data[at:].hex()}"
        (length,) = struct.unpack("!H", data[at : at + 2])
        assert len(data) - at - 2 >= length, "the card sent a frame cut short"
        frames.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    return frames


# -- the peer's moves -------------------------------------------------------------------------


def send_quietly(conn: VpcdConnection, data: bytes) -> None:
    """Send; the card may have hung up already (a bad frame earlier in the stream)."""
    try:
        conn.send_raw(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def read_to_end(conn: VpcdConnection, timeout: float) -> bytes:
    """Everything the card sends until it closes the connection."""
    conn.sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = conn.sock.recv(65536)
        except ConnectionResetError:  # it closed with our bytes unread: all it sent came
            return data
        if not chunk:
            return data
        data += chunk


def play(conn: VpcdConnection, stream: bytes, ending: str, timeout: float) -> bytes | None:
    """Send `stream`, then: "close" the socket, "shut_wr" (half-close) it, or "wait" with
    it open. What the card sent until it closed; None after "close" (nothing to read)."""
    send_quietly(conn, stream)
    if ending == "close":
        conn.close()
        return None
    if ending == "shut_wr":
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    return read_to_end(conn, timeout)


class Problems(Protocol):
    def new(self) -> list[tuple[str, str]]:
        """(level, message) of the WARNING and ERROR lines logged since the last call."""
        ...


class CaplogProblems:
    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.seen = 0

    def new(self) -> list[tuple[str, str]]:
        records = self.caplog.records[self.seen :]
        self.seen += len(records)
        return [(r.levelname, r.getMessage()) for r in records if r.levelno >= logging.WARNING]


class ServeProblems:
    def __init__(self, serve: ServeProcess) -> None:
        self.serve = serve
        self.seen = 0

    def new(self) -> list[tuple[str, str]]:
        lines = self.serve.log_lines("WARNING", "ERROR", "CRITICAL")
        fresh, self.seen = lines[self.seen :], len(lines)
        return [(line.split(" ", 3)[2], line.split(" ", 3)[3]) for line in fresh]


def check_problems(problems: Problems, expected: Expected, ending: str) -> None:
    """One ERROR naming the bad frame, or nothing for a stream that just ends. After a
    full close the card may instead find the socket gone while answering (one WARNING)."""
    lines = problems.new()
    problem = expected.problem
    malformed = [
        message for level, message in lines
        if level == "ERROR" and "malformed frame from vpcd, closing the connection" in message
    ]  # fmt: skip
    lost = [m for level, m in lines if level == "WARNING" and "connection to vpcd lost" in m]
    if ending == "close" and expected.replies:
        assert len(malformed) + len(lost) == len(lines) <= 1, lines
        if malformed:
            assert problem is not None and malformed[0].endswith(": " + problem), lines
        return
    if problem is None:
        assert lines == [], lines
    else:
        assert len(lines) == 1 and len(malformed) == 1, (lines, problem)
        assert malformed[0].endswith(": " + problem), (lines, problem)


def check_replies(received: bytes | None, expected: Expected, stream: bytes) -> None:
    if received is None:  # closed by the peer: nothing was read
        return
    replies = split_frames(received)
    commands = commands_of(stream)
    assert len(replies) == len(expected.replies), (replies, expected.replies)
    for got, want, command in zip(replies, expected.replies, commands, strict=False):
        assert same_reply(got, want, command), (command, got.hex(), want.hex())


def session(conn: VpcdConnection, atr: bytes, auth_left: int) -> None:
    """A well-formed session: ATR, power on, SELECT JPKI, the auth PIN's counter."""
    assert conn.atr() == atr
    conn.control(0x01)
    assert conn.sw(SELECT_JPKI) == 0x9000
    assert conn.sw(SELECT_AUTH) == 0x9000
    assert conn.sw(STATUS_QUERY) == 0x63C0 | auth_left


# -- hand-made bad frames ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    ending: str  # "close", "shut_wr" or "wait" (the socket stays open)


CASES = [
    Case("1-byte-header-then-close", b"\x00", "close"),
    Case("1-byte-header-then-shut-wr", b"\x00", "shut_wr"),
    Case("length-then-close", b"\x00\x10", "close"),
    Case("length-ffff-no-payload-close", b"\xff\xff", "close"),
    Case("length-ffff-no-payload-shut-wr", b"\xff\xff", "shut_wr"),
    Case("length-ffff-partial-close", b"\xff\xff" + bytes(1000), "close"),
    Case("length-ffff-partial-shut-wr", b"\xff\xff" + bytes(1000), "shut_wr"),
    Case("short-frame-shut-wr", b"\x00\x05\x00\xa4", "shut_wr"),
    Case("zero-length", b"\x00\x00", "wait"),
    Case("zero-length-then-more", b"\x00\x00" + frame(b"\x04"), "wait"),
    Case("control-03", frame(b"\x03"), "wait"),
    Case("control-05", frame(b"\x05"), "wait"),
    Case("control-ff", frame(b"\xff"), "wait"),
    Case("atr-then-control-80-then-atr", frame(b"\x04") + frame(b"\x80") + frame(b"\x04"), "wait"),
    Case("apdus-then-cut", frame(SELECT_JPKI) + frame(SELECT_AUTH) + b"\x00\x04\x00", "shut_wr"),
    Case("1-byte-header-then-silence", b"\x00", "wait"),
    Case("length-ffff-partial-then-silence", b"\xff\xff" + bytes(10), "wait"),
    Case("apdu-cut-then-silence", b"\x00\x05\x00\x20\x00", "wait"),
]
STALLS = {case.name for case in CASES if case.name.endswith("silence")}
# each stall takes FRAME_TIMEOUT (5 s) at process level: one is enough there
PROCESS_CASES = [c for c in CASES if c.name not in STALLS - {"length-ffff-partial-then-silence"}]
GOOD_FRAMES = [  # not bad frames: answered, the connection lives on
    frame(b"\x00\x20"),
    frame(b"\x00\xa4\x04"),
    frame(b"\xff\xff\xff"),
    frame(bytes(MAX_FRAME)),  # the largest frame there is: an APDU, answered 6700
    frame(b"\x04") + frame(b"\x02") + frame(b"\x00") + frame(SELECT_JPKI),
]


@pytest.fixture
def slot(vpcd: FakeVpcd, default_persona: Persona) -> Iterator[CardSlot]:
    """Slot 0 as serve wires it (non-strict card), the frame timeout made short."""
    card = VirtualCard(default_persona, strict=False)
    served = CardSlot(0, card, "127.0.0.1", vpcd.port, reinsert_delay=0.05)
    served.client.max_backoff = 0.05
    served.client.frame_timeout = IN_PROCESS_FRAME_TIMEOUT
    served.client.start()
    yield served
    served.client.stop()


@pytest.fixture
def problems(caplog: pytest.LogCaptureFixture) -> CaplogProblems:
    caplog.set_level(logging.INFO, logger=LOG_NAME)
    return CaplogProblems(caplog)


@pytest.fixture
def reference(default_persona: Persona) -> VirtualCard:
    return VirtualCard(default_persona, strict=False)


def counters(card: VirtualCard) -> dict[str, int]:
    return {key: pin.remaining for key, pin in card.pins().items()}


def run_case(
    peer: FakeVpcd,
    card_atr: bytes,
    stream: bytes,
    ending: str,
    reference: VirtualCard,
    problems: Problems,
    frame_timeout: float,
) -> Expected:
    """One hostile connection, then the card must come back; returns what was predicted."""
    conn = peer.accept()
    stall = ending == "wait"
    expected = predict(stream, reference, frame_timeout if stall else None)
    if stall and expected.problem is None:
        raise AssertionError("a 'wait' case must hold a bad frame (the card would wait)")
    received = play(conn, stream, ending, timeout=frame_timeout + 10)
    check_replies(received, expected, stream)
    again = peer.accept()  # the card connects again (after logging: one thread does both)
    check_problems(problems, expected, ending)
    reference.power_off()
    session(again, card_atr, reference.pins()["jpki/0018"].remaining)
    again.close()
    return expected


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_a_bad_frame_is_logged_and_the_card_comes_back(
    vpcd: FakeVpcd, slot: CardSlot, problems: CaplogProblems, reference: VirtualCard, case: Case
) -> None:
    before = counters(slot.card)
    expected = run_case(
        vpcd, slot.card.atr, case.data, case.ending, reference, problems,
        IN_PROCESS_FRAME_TIMEOUT,
    )  # fmt: skip
    assert expected.problem is not None  # every case holds a bad frame
    assert ("stalled" in expected.problem) == (case.name in STALLS)
    assert counters(slot.card) == before
    wait_for_reconnect(slot)


def wait_for_reconnect(slot: CardSlot) -> None:
    transport.wait_for(lambda: slot.client.connected)
    assert slot.client._thread is not None and slot.client._thread.is_alive()


@pytest.mark.parametrize("data", GOOD_FRAMES, ids=lambda d: f"{len(d)}-bytes")
def test_short_and_huge_apdu_frames_are_answered_and_the_connection_lives(
    vpcd: FakeVpcd, slot: CardSlot, problems: CaplogProblems, reference: VirtualCard, data: bytes
) -> None:
    conn = vpcd.accept()
    expected = predict(data, reference)
    assert expected.problem is None
    conn.send_raw(data)
    replies = [conn.recv() for _ in expected.replies]
    assert replies == expected.replies
    assert all(reply in (b"\x67\x00", b"\x90\x00", slot.card.atr) for reply in replies)
    session(conn, slot.card.atr, 3)  # the same connection
    assert problems.new() == []


def test_exact_messages_for_each_bad_frame_kind() -> None:
    """read_frame's own words (regression: the half-header close read as '1 bytes into a
    2-byte read' and a stalled frame hung the card for good)."""
    cases = [
        (b"\x00", None, "frame cut off: connection closed after 1 of the 2 length bytes"),
        (b"\x00\x10", None, "frame cut off: connection closed after 0 of its 16 payload bytes"),
        (b"\xff\xff" + bytes(7), None,
         "frame cut off: connection closed after 7 of its 65535 payload bytes"),
        (b"\x00\x00", None, "empty frame (length 0)"),
        (b"\x00", 0.05,
         "frame stalled: nothing more came for 0.05 s after 1 of the 2 length bytes"),
        (b"\x00\x03\x00\xa4", 0.05,
         "frame stalled: nothing more came for 0.05 s after 2 of its 3 payload bytes"),
    ]  # fmt: skip
    for sent, stall, message in cases:
        ours, peer = socket.socketpair()
        with ours, peer:
            peer.sendall(sent)
            if stall is None:
                peer.shutdown(socket.SHUT_WR)
            ours.settimeout(transport.TIMEOUT)
            started = time.monotonic()
            with pytest.raises(FrameError) as caught:
                read_frame(ours, stall)
            assert str(caught.value) == message
            assert time.monotonic() - started < 2.0
            assert ours.gettimeout() == transport.TIMEOUT  # the wait between frames is back


def test_a_silent_peer_is_waited_for_between_frames(
    vpcd: FakeVpcd, slot: CardSlot, problems: CaplogProblems
) -> None:
    """The frame timeout runs inside a frame only: an idle vpcd keeps its card."""
    conn = vpcd.accept()
    time.sleep(IN_PROCESS_FRAME_TIMEOUT * 3)
    assert slot.client.connected
    session(conn, slot.card.atr, 3)
    conn.send_raw(b"\x00")  # half a length field, then the rest after a pause that fits
    time.sleep(IN_PROCESS_FRAME_TIMEOUT / 3)
    conn.send_raw(b"\x01\x04")
    assert conn.recv() == slot.card.atr
    assert problems.new() == []


def test_rapid_connect_close_loops(
    vpcd: FakeVpcd, slot: CardSlot, problems: CaplogProblems
) -> None:
    for _ in range(50):
        vpcd.accept().close()
    session(vpcd.accept(), slot.card.atr, 3)
    assert problems.new() == []  # an orderly close is no problem (INFO only)
    assert slot.client._thread is not None and slot.client._thread.is_alive()


# -- random streams ----------------------------------------------------------------------------

VALID_APDUS = [  # well-formed, state-neutral commands, so the streams get somewhere
    SELECT_JPKI,
    SELECT_AUTH,
    bytes.fromhex("00A4020C02001B"),
    STATUS_QUERY,
    bytes.fromhex("00A4020C02000A"),  # the auth certificate EF
    bytes.fromhex("00B0000010"),
    bytes.fromhex("0084000008"),  # GET CHALLENGE
    bytes.fromhex("00A4000000"),
]
chunks = st.one_of(
    st.sampled_from([0x00, 0x01, 0x02, 0x04]).map(lambda code: frame(bytes([code]))),
    st.integers(0, 255).map(lambda code: frame(bytes([code]))),  # unknown ones too
    st.sampled_from(VALID_APDUS).map(frame),
    st.binary(min_size=2, max_size=40).map(frame),  # random APDUs, 2-3 bytes included
    st.just(b"\x00\x00"),  # an empty frame
    st.binary(max_size=6),  # loose bytes: the framing goes astray from here
    st.binary(max_size=64).map(lambda tail: b"\xff\xff" + tail),  # a huge length, cut
)
streams = st.lists(chunks, max_size=12).map(b"".join)
endings = st.sampled_from(["shut_wr", "close"])


def test_random_streams_in_process(
    vpcd: FakeVpcd, slot: CardSlot, problems: CaplogProblems, reference: VirtualCard
) -> None:
    before = counters(slot.card)
    kinds: set[str] = set()

    @settings(max_examples=300)  # about 5 ms each
    @given(stream=streams, ending=endings)
    @example(stream=frame(b"\x04") + frame(b"\x01") + frame(SELECT_JPKI), ending="shut_wr")
    @example(stream=frame(b"\x04") + b"\x00\x00" + frame(SELECT_JPKI), ending="shut_wr")
    @example(stream=b"\x00\x02\x00", ending="close")
    def check(stream: bytes, ending: str) -> None:
        expected = run_case(
            vpcd, slot.card.atr, stream, ending, reference, problems, IN_PROCESS_FRAME_TIMEOUT
        )
        kinds.add(re.sub(r"( [0-9A-F]{2})? \(.*|:.*", "", expected.problem or "clean end"))
        assert counters(slot.card) == counters(reference)

    check()
    assert counters(slot.card) == before  # state-neutral streams leave the counters alone
    wait_for_reconnect(slot)
    assert {"clean end", "frame cut off", "empty frame", "unknown control byte"} <= kinds, kinds


# -- a real serve process -----------------------------------------------------------------------


@dataclass
class Served:
    serve: ServeProcess
    peer: FakeVpcd
    state: Path
    control: int
    pins: dict[str, Any]  # GET /status pins at the start
    problems: ServeProblems
    reference: VirtualCard

    def status(self) -> dict[str, Any]:
        code, body = control_request(self.control, "GET", "/status")
        assert code == 200, body
        card: dict[str, Any] = body["cards"][0]
        return card

    def check_alive_and_unharmed(self) -> None:
        assert self.serve.alive(), self.serve.output()
        status = self.status()
        assert status["pins"] == self.pins, status["pins"]


def start_serve(peer: FakeVpcd, state: Path, folder: Path, name: str) -> ServeProcess:
    return ServeProcess(
        ["--persona", "default", "--state", str(state), "--vpcd", f"127.0.0.1:{peer.port}",
         "--control", "127.0.0.1:0"],
        folder,
        name=name,
    )  # fmt: skip


def drain(peer: FakeVpcd) -> None:
    peer.listener.setblocking(False)
    try:
        while True:
            try:
                stale, _ = peer.listener.accept()
            except BlockingIOError:
                return
            stale.close()
    finally:
        peer.listener.setblocking(True)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, default_persona: Persona) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("hostile-peer")
    state = folder / "card.json"
    peer = FakeVpcd()
    serve = start_serve(peer, state, folder, "serve")
    try:
        control = serve.control_port()
        code, body = control_request(control, "GET", "/status")
        assert code == 200, body
        pins = body["cards"][0]["pins"]
        assert pins["jpki/0018"]["remaining"] == 3
        reference = VirtualCard(default_persona, strict=False)
        yield Served(serve, peer, state, control, pins, ServeProblems(serve), reference)
    finally:
        if serve.alive():
            serve.kill()
        peer.close()


@pytest.mark.parametrize("case", PROCESS_CASES, ids=lambda case: case.name)
def test_serve_survives_a_bad_frame(served: Served, case: Case) -> None:
    started = time.monotonic()
    expected = run_case(
        served.peer, served.reference.atr, case.data, case.ending, served.reference,
        served.problems, FRAME_TIMEOUT,
    )  # fmt: skip
    assert expected.problem is not None
    if case.name in STALLS:  # the card gave up on the frame, not sooner
        assert FRAME_TIMEOUT <= time.monotonic() - started < FRAME_TIMEOUT + 5
    served.check_alive_and_unharmed()


@pytest.mark.parametrize("data", GOOD_FRAMES, ids=lambda d: f"{len(d)}-bytes")
def test_serve_answers_short_and_huge_apdu_frames(served: Served, data: bytes) -> None:
    conn = served.peer.accept()
    expected = predict(data, served.reference)
    conn.send_raw(data)
    assert [conn.recv() for _ in expected.replies] == expected.replies
    session(conn, served.reference.atr, 3)
    status = served.status()
    assert status["connected"] and status["powered"]
    assert status["selected"] == SELECT_JPKI[5:].hex().upper()
    conn.close()
    assert served.problems.new() == []
    served.check_alive_and_unharmed()


def test_serve_waits_for_a_silent_peer_and_survives_connect_close_loops(served: Served) -> None:
    conn = served.peer.accept()
    time.sleep(1.0)  # connected, nothing sent: the card waits
    assert served.status()["connected"]
    session(conn, served.reference.atr, 3)
    conn.close()
    for _ in range(30):
        served.peer.accept().close()
    again = served.peer.accept()
    session(again, served.reference.atr, 3)
    again.close()
    assert served.problems.new() == []
    served.check_alive_and_unharmed()


@settings(max_examples=8, deadline=None)
@given(stream=streams, ending=endings)
def test_serve_random_streams(served: Served, stream: bytes, ending: str) -> None:
    run_case(
        served.peer, served.reference.atr, stream, ending, served.reference, served.problems,
        FRAME_TIMEOUT,
    )  # fmt: skip
    served.check_alive_and_unharmed()


def test_serve_state_file_is_intact_afterwards(served: Served, tmp_path: Path) -> None:
    """Last in this module: SIGTERM, then a new serve on the same state file."""
    assert served.serve.stop() == 0, served.serve.output()
    drain(served.peer)  # the stopped card's last connection, still queued
    again = start_serve(served.peer, served.state, tmp_path, "again")
    try:
        served.serve = again
        served.control = again.control_port()
        served.problems = ServeProblems(again)
        conn = served.peer.accept()
        session(conn, served.reference.atr, 3)
        served.check_alive_and_unharmed()
        conn.close()
        assert served.problems.new() == []
    finally:
        assert again.stop() == 0, again.output()
