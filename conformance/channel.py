"""The byte channel the conformance suite talks through: command APDU in, response out.

It knows nothing of the card behind it (in-process, pcscd, a real card in a reader) and
keeps a transcript for the reports, PIN data redacted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.apdu.redact import redacted_hex
from simulator.apdu.sw import describe


@dataclass(frozen=True)
class Response:
    data: bytes
    sw: int
    # the command this answers (for failure messages, shown redacted); not compared
    command: bytes = field(default=b"", repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000

    def __repr__(self) -> str:
        return f"Response(data={self.data.hex().upper() or '-'}, sw={self.sw:04X})"


@dataclass(frozen=True)
class Exchange:
    command: bytes
    response: bytes | None  # None: a reset (command holds the ATR)

    def __repr__(self) -> str:  # the command may be a VERIFY: never show its data
        return f"Exchange({' | '.join(self.lines())})"

    def lines(self) -> list[str]:
        """Transcript lines, PIN data shown as `**`."""
        if self.response is None:
            return [f"-- reset, ATR {self.command.hex(' ').upper()}"]
        sw = int.from_bytes(self.response[-2:], "big")
        data = self.response[:-2]
        shown = (
            f"{len(data)} bytes: {data[:32].hex(' ').upper()}{' ...' if len(data) > 32 else ''} "
        )
        return [f"> {redacted_hex(self.command)}", f"< {shown if data else ''}{describe(sw)}"]


@dataclass
class CardChannel:
    """A connection to a card under test."""

    transmit_bytes: Callable[[bytes], bytes] = field(repr=False)
    reset_card: Callable[[], bytes] = field(repr=False)
    atr: bytes
    # not in repr: a failing assertion prints the channel, and the raw transcript holds PINs
    transcript: list[Exchange] = field(default_factory=list, repr=False)

    def send(self, apdu: bytes | str) -> Response:
        raw = bytes.fromhex(apdu.replace(" ", "")) if isinstance(apdu, str) else apdu
        response = self.transmit_bytes(raw)
        self.transcript.append(Exchange(raw, response))
        return Response(response[:-2], int.from_bytes(response[-2:], "big"), raw)

    def reset(self) -> bytes:
        """Power-cycle the card (security status cleared, counters kept)."""
        self.atr = self.reset_card()
        self.transcript.append(Exchange(self.atr, None))
        return self.atr

    def transcript_lines(self) -> list[str]:
        return [line for exchange in self.transcript for line in exchange.lines()]
