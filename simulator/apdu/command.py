"""Command APDUs (ISO/IEC 7816-4 cases 1-4, short and extended length).

`le` is None when the command carries no Le field; otherwise it is the number of
bytes asked for, with the encodings `00` = 256 (short) and `00 00` = 65536 (extended)
already resolved.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.apdu.errors import MalformedApduError

SHORT_MAX = 256
EXTENDED_MAX = 65536


@dataclass(frozen=True, slots=True)
class CommandApdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    extended: bool = False

    def __post_init__(self) -> None:
        if self.extended and not self.data and self.le is None:
            object.__setattr__(self, "extended", False)  # case 1 has no length fields
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise ValueError(f"{name} must be one byte, got {value}")
        limit = EXTENDED_MAX - 1 if self.extended else SHORT_MAX - 1
        if len(self.data) > limit:
            raise ValueError(f"{len(self.data)} data bytes do not fit an Lc field")
        if self.le is not None and not 1 <= self.le <= (
            EXTENDED_MAX if self.extended else SHORT_MAX
        ):
            raise ValueError(f"Le {self.le} out of range")

    @property
    def case(self) -> int:
        """ISO 7816-4 case: 1 (no data, no Le), 2 (Le), 3 (data), 4 (data and Le)."""
        return (3 if self.data else 1) + (self.le is not None)

    @classmethod
    def parse(cls, raw: bytes) -> CommandApdu:
        """Decode `raw`; raises MalformedApduError (answered 6700) for impossible lengths."""
        n = len(raw)
        if n < 4:
            raise MalformedApduError(f"{n} bytes is shorter than a header")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        if n == 4:
            return cls(cla, ins, p1, p2)
        b4 = raw[4]
        if n == 5:
            return cls(cla, ins, p1, p2, le=b4 or SHORT_MAX)
        if b4:
            return cls._parse_short_body(raw, b4)
        return cls._parse_extended_body(raw)

    @classmethod
    def _parse_short_body(cls, raw: bytes, lc: int) -> CommandApdu:
        n = len(raw)
        if n == 5 + lc:
            return cls(raw[0], raw[1], raw[2], raw[3], bytes(raw[5:]))
        if n == 6 + lc:
            return cls(raw[0], raw[1], raw[2], raw[3], bytes(raw[5:-1]), raw[-1] or SHORT_MAX)
        raise MalformedApduError(f"Lc={lc} does not match {n - 5} body bytes")

    @classmethod
    def _parse_extended_body(cls, raw: bytes) -> CommandApdu:
        n = len(raw)
        if n < 7:
            raise MalformedApduError(f"{n} bytes: truncated extended length field")
        word = int.from_bytes(raw[5:7], "big")
        head = raw[0], raw[1], raw[2], raw[3]
        if n == 7:
            return cls(*head, le=word or EXTENDED_MAX, extended=True)
        if word == 0:
            raise MalformedApduError("extended Lc of zero")
        if n == 7 + word:
            return cls(*head, bytes(raw[7:]), extended=True)
        if n == 9 + word:
            le = int.from_bytes(raw[-2:], "big") or EXTENDED_MAX
            return cls(*head, bytes(raw[7:-2]), le, extended=True)
        raise MalformedApduError(f"extended Lc={word} does not match {n - 7} body bytes")

    def encode(self) -> bytes:
        """The wire form; `parse(encode())` gives back an equal object."""
        out = bytearray((self.cla, self.ins, self.p1, self.p2))
        if self.extended:
            if self.data:
                out += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
            if self.le is not None:
                prefix = b"" if self.data else b"\x00"
                out += prefix + (self.le % EXTENDED_MAX).to_bytes(2, "big")
            return bytes(out)
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            out.append(self.le % SHORT_MAX)
        return bytes(out)

    @property
    def channel(self) -> int:
        """Logical channel number from the CLA (first and further interindustry classes)."""
        if self.cla & 0x40:
            return 4 + (self.cla & 0x0F)
        return self.cla & 0x03

    @property
    def secure_messaging(self) -> bool:
        """True when the CLA announces secure messaging (first interindustry class)."""
        return not self.cla & 0x40 and bool(self.cla & 0x0C)
