"""Reads for the tests' own protocol peers (a fake vpcd, the ACardEmulator replay): vpcd's
framing (2-byte big-endian length, then the payload) written here, independently of
simulator.transport.vpcd, so that a bug there cannot hide behind the same code in the peer."""

from __future__ import annotations

import socket
import struct


def receive_exactly(sock: socket.socket, count: int) -> bytes:
    """`count` bytes, however the other side splits them; EOFError when it closes first."""
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def receive_frame(sock: socket.socket) -> bytes:
    """One frame's payload."""
    (length,) = struct.unpack("!H", receive_exactly(sock, 2))
    return receive_exactly(sock, length)
