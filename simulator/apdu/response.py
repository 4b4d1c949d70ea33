"""Response APDUs: data followed by SW1 SW2."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.apdu.sw import StatusWord


@dataclass(frozen=True, slots=True)
class ResponseApdu:
    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def status(self) -> StatusWord:
        return StatusWord(self.sw)

    def encode(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    @classmethod
    def parse(cls, raw: bytes) -> ResponseApdu:
        if len(raw) < 2:
            raise ValueError(f"a response APDU needs at least SW1 SW2, got {len(raw)} bytes")
        return cls(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))
