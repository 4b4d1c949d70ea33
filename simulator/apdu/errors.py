"""The card-side error: a handler raises it, `VirtualCard.transmit` turns it into an SW."""

from __future__ import annotations

from simulator.apdu.sw import StatusWord


class CardError(Exception):
    """Answer the current command with `sw` (and optional response data)."""

    def __init__(self, sw: int, data: bytes = b"") -> None:
        self.sw = StatusWord(sw)
        self.data = data
        super().__init__(f"SW={self.sw.value:04X} ({self.sw.name})")


class MalformedApduError(CardError):
    """The bytes are not a valid command APDU (answered 6700)."""

    def __init__(self, reason: str) -> None:
        super().__init__(StatusWord.WRONG_LENGTH)
        self.reason = reason
        self.args = (f"malformed command APDU: {reason}",)
