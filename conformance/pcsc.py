"""Host-side PC/SC helpers (pyscard): reader presence. The one conformance module that
imports pyscard (the `pcsc` extra)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from smartcard import scard


class PcscUnavailableError(RuntimeError):
    """pcscd cannot be reached, or the reader never showed the expected state."""


def _context() -> int:
    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if result != scard.SCARD_S_SUCCESS:
        raise PcscUnavailableError(f"pcscd not reachable: {scard.SCardGetErrorMessage(result)}")
    return int(context)


def reader_names() -> list[str]:
    context = _context()
    try:
        result, readers = scard.SCardListReaders(context, [])
        if result == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if result != scard.SCARD_S_SUCCESS:
            raise PcscUnavailableError(scard.SCardGetErrorMessage(result))
        return [str(name) for name in readers]
    finally:
        scard.SCardReleaseContext(context)


def card_present(reader: str) -> bool:
    context = _context()
    try:
        result, states = scard.SCardGetStatusChange(
            context, 0, [(reader, scard.SCARD_STATE_UNAWARE)]
        )
        if result != scard.SCARD_S_SUCCESS:
            return False
        return bool(states[0][1] & scard.SCARD_STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(context)


def wait_for_card(reader: str, present: bool = True, timeout: float = 10.0) -> float:
    """Wait until `reader` shows a card (or none); return the seconds it took."""
    start = time.monotonic()
    while True:
        try:
            if card_present(reader) == present:
                return time.monotonic() - start
        except PcscUnavailableError:
            pass
        if time.monotonic() - start > timeout:
            state = "a card" if present else "no card"
            raise PcscUnavailableError(f"reader {reader!r} did not show {state} in {timeout} s")
        time.sleep(0.02)


def open_reader(substring: str) -> tuple[Any, Callable[[bytes], bytes], Callable[[], bytes]]:
    """Connect to the first reader whose name contains `substring`; return the pyscard
    connection, a bytes transmit and a power-cycling reset (returns the ATR)."""
    from smartcard.CardConnection import CardConnection
    from smartcard.System import readers

    matches = [r for r in readers() if substring in str(r)]
    if not matches:
        names = ", ".join(str(r) for r in readers()) or "none"
        raise PcscUnavailableError(f"no reader matches {substring!r} (readers: {names})")
    connection = matches[0].createConnection()
    connection.connect(CardConnection.T1_protocol)

    def transmit(apdu: bytes) -> bytes:
        data, sw1, sw2 = connection.transmit(list(apdu))
        return bytes(data) + bytes((sw1, sw2))

    def reset() -> bytes:
        connection.reconnect(disposition=scard.SCARD_UNPOWER_CARD)
        return bytes(connection.getATR())

    return connection, transmit, reset
