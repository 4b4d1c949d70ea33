"""The phone path (issue 9): what the card adds to a round trip, against an echo card in the
same process and the same run.

    python benchmarks/phone.py [--quick] [--json FILE]

- bridge: one WebSocket session per card on `simulator.transport.bridge` (the server
  `mynasim serve --bridge` runs), per APDU, for SELECT EF 000A and READ BINARY of 256 bytes:
  the default persona's card against the sized echo card (benchmarks/echo_card.py: Le bytes
  + 9000, so both move the same bytes), each under the `raw` and `android-isodep` profiles;
  batches alternate card and echo, medians; the ratio is what the card (and, between the
  two profiles, the profile) adds to the WebSocket round trip;
- listen mode: the same through `VpcdListener` (`mynasim serve --listen`), the client
  playing ACardEmulator (vpcd frames over TCP), card against echo card;
- certificate read under `android-isodep` as a phone app does it (SELECT EF, 4-byte
  header, pieces of at most 256 bytes): reported in milliseconds, for a sense of how far
  the bridge is from a reader's transceive timeout.

Both servers and the client share one process, pinned to one core: across two cores a
round trip took either ~20 or ~110 us at random, per connection (a thread woken on the other
core), which swamped what the card adds; on one core card and echo are measured alike.
No target: the numbers are for the report.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import struct
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from echo_card import EchoCard  # noqa: E402
from websockets.sync.client import ClientConnection, connect  # noqa: E402

from simulator import VirtualCard  # noqa: E402
from simulator.transport.bridge import BridgeServer, SessionCard  # noqa: E402
from simulator.transport.vpcd import POWER_ON, FrameHandler  # noqa: E402
from simulator.transport.vpcd_listen import VpcdListener  # noqa: E402

SELECT_JPKI = bytes.fromhex("00A4040C0AD392F000260100000001")
SELECT_EF = bytes.fromhex("00A4020C02000A")
READ_256 = bytes.fromhex("00B0000000")
READ_HEADER = bytes.fromhex("00B0000004")
Send = Callable[[bytes], bytes]


def _factory(card: Any, name: str) -> Callable[[str], SessionCard]:
    return lambda _persona: SessionCard(current=lambda: card, persona=lambda: name)


@contextmanager
def _bridge(card: Any, name: str, profile: str) -> Iterator[Send]:
    server = BridgeServer("127.0.0.1", 0, _factory(card, name))
    server.start()
    try:
        with connect(server.url, compression=None) as ws:
            yield _session(ws, name, profile)
    finally:
        server.stop()


def _session(ws: ClientConnection, name: str, profile: str) -> Send:
    """Open the tap (hello) and return the APDU sender of the session."""
    ws.send(json.dumps({"type": "hello", "version": 1, "profile": profile}))
    answer = json.loads(ws.recv())
    if answer.get("type") != "card":
        raise RuntimeError(f"{name}: the bridge refused the hello: {answer}")

    def send(apdu: bytes) -> bytes:
        ws.send(apdu)
        response = ws.recv()
        if isinstance(response, str):
            raise RuntimeError(f"{name}: error frame {response}")
        return response

    return send


def _recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise RuntimeError("the listener closed the connection")
        data += chunk
    return data


@contextmanager
def _listener(card: Any, name: str) -> Iterator[Send]:
    listener = VpcdListener(FrameHandler(card), "127.0.0.1", 0, name=name)
    listener.start()
    sock = socket.create_connection(listener.address, timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.sendall(struct.pack("!HB", 1, POWER_ON))  # ACardEmulator: 01 once, then APDUs

        def send(apdu: bytes) -> bytes:
            sock.sendall(struct.pack("!H", len(apdu)) + apdu)
            (length,) = struct.unpack("!H", _recv_exact(sock, 2))
            return _recv_exact(sock, length)

        yield send
    finally:
        sock.close()
        listener.stop()


def _timed(send: Send, apdu: bytes, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        send(apdu)
        times.append(time.perf_counter() - start)
    return times


def _compare(card: Send, echo: Send, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    card(SELECT_JPKI)
    for label, apdu in (("select_ef", SELECT_EF), ("read_binary_256", READ_256)):
        card_times: list[float] = []
        echo_times: list[float] = []
        for _ in range(rounds):
            card_times += _timed(card, apdu, 50)
            echo_times += _timed(echo, apdu, 50)
        card_us = statistics.median(card_times) * 1e6
        echo_us = statistics.median(echo_times) * 1e6
        out[label] = {
            "card_median_us": round(card_us, 1),
            "echo_median_us": round(echo_us, 1),
            "ratio": round(card_us / echo_us, 3),
        }
    return out


def _certificate_read(send: Send, reads: int) -> dict[str, Any]:
    send(SELECT_JPKI)
    times = []
    size = 0
    for _ in range(reads):
        start = time.perf_counter()
        send(SELECT_EF)
        head = send(READ_HEADER)
        size = int.from_bytes(head[2:4], "big") + 4
        done = 0
        while done < size:
            piece = min(256, size - done)
            done += len(send(bytes([0, 0xB0, done >> 8, done & 0xFF, piece & 0xFF]))) - 2
        times.append(time.perf_counter() - start)
    return {"certificate_bytes": size, "median_ms": round(statistics.median(times) * 1e3, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rounds = 3 if args.quick else 20
    results: dict[str, Any] = {}
    card = VirtualCard.from_persona("default", strict=False)
    echo = EchoCard(sized=True)
    try:
        for profile in ("raw", "android-isodep"):
            with (
                _bridge(card, "default", profile) as card_send,
                _bridge(echo, "echo", profile) as echo_send,
            ):
                results[f"bridge_{profile}"] = _compare(card_send, echo_send, rounds)
                if profile == "android-isodep":
                    reads = 5 if args.quick else 30
                    results["certificate_read_android_isodep"] = _certificate_read(card_send, reads)
            print(f"bridge {profile}: {results[f'bridge_{profile}']}", flush=True)
        print(f"certificate read: {results['certificate_read_android_isodep']}", flush=True)
        with _listener(card, "default") as card_send, _listener(echo, "echo") as echo_send:
            results["listen"] = _compare(card_send, echo_send, rounds)
        print(f"listen mode: {results['listen']}", flush=True)
    finally:
        card.close()
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
