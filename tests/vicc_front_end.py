"""A replay of vsmartcard ACardEmulator's VICCEmulator, the reader front end of vpcd listen
mode, for the listen-mode tests (import with `from vicc_front_end import ...`).

It frames messages itself (not with simulator.transport.vpcd), as VICCEmulator does: the
2-byte big-endian length and the payload in two writes, `01` once per app process right
after connecting, the raw C-APDUs of a tap, `00` at the end of every tap; never `04`/`02`
unless a test asks (phone-path.md section 1.1).
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable

from card_helpers import JPKI_AID
from peer_framing import receive_frame

TIMEOUT = 5.0
LOG_NAME = "simulator.transport.vpcd"
SELECT_JPKI = bytes.fromhex("00A4040C0A" + JPKI_AID.hex())
SELECT_AUTH_CA = bytes.fromhex("00A4020C02000B")  # EF 000B, the authentication CA certificate
SELECT_AUTH_PIN = bytes.fromhex("00A4020C020018")
SELECT_SIGN_PIN = bytes.fromhex("00A4020C02001B")
SELECT_AUTH_KEY = bytes.fromhex("00A4020C020017")
DIGEST_INFO = "3031300D060960864801650304020105000420" + "11" * 32
SIGN = bytes.fromhex(f"802A008033{DIGEST_INFO}00")
PIN_STATUS = bytes.fromhex("00200080")  # VERIFY without data: the tries left, none spent
KNOWN = "(known: 00 power off, 01 power on, 02 reset, 04 ATR)"


def wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def verify_apdu(pin: bytes) -> bytes:
    return bytes.fromhex(f"00200080{len(pin):02X}") + pin


class FrontEnd:
    """One app process of ACardEmulator in VICC mode: its one socket, its framing."""

    def __init__(self, address: tuple[str, int], *, power_on: bool = True) -> None:
        self.sock = socket.create_connection(address, timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.power_on_failed = False
        if power_on:  # VICCEmulator's constructor: vpcdConnect(), then sendPowerOn()
            try:
                self.send(b"\x01")
            except OSError:  # a card that refused the connection may have closed it already;
                self.power_on_failed = True  # the app catches the IOException and goes on

    def send(self, payload: bytes) -> None:
        """sendToVPCD: the length, then the payload: two writes, as the app makes them."""
        self.sock.sendall(struct.pack("!H", len(payload)))
        self.sock.sendall(payload)

    def receive(self) -> bytes:
        """receiveFromVPCD: 2 length bytes, then loop until the payload is complete."""
        return receive_frame(self.sock)

    def process(self, apdu: bytes) -> bytes:
        """processCommandApdu: one C-APDU forwarded, the response returned."""
        self.send(apdu)
        return self.receive()

    def sw(self, apdu: bytes) -> int:
        return int.from_bytes(self.process(apdu)[-2:], "big")

    def deactivate(self) -> None:
        """onDeactivated (link loss or deselect): power off; no answer comes."""
        self.send(b"\x00")

    def atr(self) -> bytes:
        self.send(b"\x04")
        return self.receive()

    def closed_by_card(self) -> bool:
        """True when the card closed the connection (EOF or reset, nothing more sent)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def read_certificate(front: FrontEnd, piece: int = 0xE0) -> bytes:
    """READ BINARY in pieces, as reader apps do: the 4-byte DER header, then the rest."""
    head = front.process(bytes.fromhex("00B0000004"))
    assert head[-2:] == b"\x90\x00", head.hex()
    header = head[:-2]
    assert header[0] == 0x30 and header[1] == 0x82, header.hex()
    total = 4 + int.from_bytes(header[2:4], "big")
    data = header
    while len(data) < total:
        count = min(piece, total - len(data))
        offset = len(data)
        answer = front.process(bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, count]))
        assert answer[-2:] == b"\x90\x00", answer.hex()
        data += answer[:-2]
    return data
