"""A pyscard `CardConnection` onto an in-process VirtualCard.

pyscard client code (transmit, getATR, observers, error checking chains) runs
unchanged against the virtual card, with no reader and no pcscd:

    from simulator import VirtualCard
    from simulator.transport.pyscard import VirtualCardConnection
    connection = VirtualCardConnection(VirtualCard.from_persona("default"))
    connection.connect()
    data, sw1, sw2 = connection.transmit([0x00, 0xA4, 0x04, 0x0C, 0x0A, *aid])

This is the only module of the simulator that imports pyscard (`pcsc` extra).
"""

from __future__ import annotations

from typing import Any

from smartcard.CardConnection import CardConnection
from smartcard.Exceptions import CardConnectionException

from simulator.card import VirtualCard

READER_NAME = "mynasim in-process reader"


class VirtualCardConnection(CardConnection):  # type: ignore[misc]
    """pyscard connection whose card is a VirtualCard in this process (T=1)."""

    def __init__(self, card: VirtualCard, reader: str = READER_NAME) -> None:
        super().__init__(reader)
        self.card = card
        self._connected = False

    def connect(
        self, protocol: int | None = None, mode: Any = None, disposition: Any = None
    ) -> None:
        if protocol is not None and not protocol & CardConnection.T1_protocol:
            raise CardConnectionException(f"the virtual card speaks T=1 only, not {protocol:#x}")
        super().connect(protocol, mode, disposition)
        self.card.power_on()
        self._connected = True

    def reconnect(
        self, protocol: int | None = None, mode: Any = None, disposition: Any = None
    ) -> None:
        super().reconnect(protocol, mode, disposition)
        self.card.reset()
        self._connected = True

    def disconnect(self) -> None:
        super().disconnect()
        if self._connected:
            self.card.power_off()
        self._connected = False

    def getATR(self) -> list[int]:  # noqa: N802 - pyscard's name
        self._require_connection()
        return list(self.card.atr)

    def getProtocol(self) -> int:  # noqa: N802 - pyscard's name
        return int(CardConnection.T1_protocol)

    def doTransmit(  # noqa: N802 - pyscard's name
        self, command: list[int], protocol: int | None = None
    ) -> tuple[list[int], int, int]:
        self._require_connection()
        response = self.card.transmit(bytes(command))
        return list(response[:-2]), response[-2], response[-1]

    def doControl(self, controlCode: int, command: list[int] | None = None) -> list[int]:  # noqa: N802, N803
        raise CardConnectionException("the in-process reader has no control codes")

    def doGetAttrib(self, attribId: int) -> list[int]:  # noqa: N802, N803
        raise CardConnectionException("the in-process reader has no attributes")

    def _require_connection(self) -> None:
        if not self._connected:
            raise CardConnectionException("not connected: call connect() first")
