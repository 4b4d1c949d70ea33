"""BER-TLV as the card writes it.

Tags are kept as the integer of their raw bytes (`0xFF20`, `0xDF21`, `0x7F21`, `0x5F4E`).
Lengths are written the card's way: one byte below 128, `82 HH LL` from 128 up
(never `81 xx`, see jpki-card-reference.md section 3). Decoding accepts every
definite form (`81`, `82`, `83`, `84`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

FILLER = 0xFF


class TlvError(ValueError):
    """The bytes are not well-formed BER-TLV."""


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    value: bytes

    def encode(self) -> bytes:
        return encode_tag(self.tag) + encode_length(len(self.value)) + self.value


def encode_tag(tag: int) -> bytes:
    if tag < 0:
        raise ValueError(f"negative tag {tag}")
    raw = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    _check_tag_bytes(raw)
    return raw


def _check_tag_bytes(raw: bytes) -> None:
    multi = raw[0] & 0x1F == 0x1F
    if not multi and len(raw) != 1:
        raise ValueError(f"tag {raw.hex()}: first byte does not announce more tag bytes")
    if multi and len(raw) < 2:
        raise ValueError(f"tag {raw.hex()}: high-tag form needs further bytes")
    for i, b in enumerate(raw[1:], start=1):
        last = i == len(raw) - 1
        if bool(b & 0x80) == last:
            raise ValueError(f"tag {raw.hex()}: bad continuation bit in byte {i}")


def encode_length(n: int) -> bytes:
    if n < 0:
        raise ValueError(f"negative length {n}")
    if n < 0x80:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\x82" + n.to_bytes(2, "big")
    if n <= 0xFFFFFF:
        return b"\x83" + n.to_bytes(3, "big")
    raise ValueError(f"length {n} too large")


def decode_tag(data: bytes, offset: int = 0) -> tuple[int, int]:
    """Return (tag, offset after the tag)."""
    if offset >= len(data):
        raise TlvError(f"missing tag at offset {offset}")
    end = offset + 1
    if data[offset] & 0x1F == 0x1F:
        while True:
            if end >= len(data):
                raise TlvError(f"truncated tag at offset {offset}")
            end += 1
            if not data[end - 1] & 0x80:
                break
            if end - offset > 4:
                raise TlvError(f"tag at offset {offset} longer than 4 bytes")
    return int.from_bytes(data[offset:end], "big"), end


def decode_length(data: bytes, offset: int) -> tuple[int, int]:
    """Return (length, offset after the length field)."""
    if offset >= len(data):
        raise TlvError(f"missing length at offset {offset}")
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    count = first & 0x7F
    if count == 0 or count > 4:
        raise TlvError(f"unsupported length form {first:02X} at offset {offset}")
    end = offset + 1 + count
    if end > len(data):
        raise TlvError(f"truncated length at offset {offset}")
    return int.from_bytes(data[offset + 1 : end], "big"), end


def decode_one(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """Decode one TLV at `offset`; return it and the offset just after it."""
    tag, pos = decode_tag(data, offset)
    length, pos = decode_length(data, pos)
    end = pos + length
    if end > len(data):
        raise TlvError(
            f"tag {tag:X} at offset {offset}: {length} bytes announced, {len(data) - pos} present"
        )
    return Tlv(tag, bytes(data[pos:end])), end


def iter_tlv(data: bytes, *, stop_at_filler: bool = True) -> Iterator[Tlv]:
    """Decode consecutive TLVs. With `stop_at_filler`, a tail of only FF (or 00) bytes
    ends the sequence, as it does after the objects in the card's EFs."""
    pos = 0
    while pos < len(data):
        rest = data[pos:]
        if stop_at_filler and (rest.count(FILLER) == len(rest) or not any(rest)):
            return
        tlv, pos = decode_one(data, pos)
        yield tlv


def decode_all(data: bytes, *, stop_at_filler: bool = True) -> list[Tlv]:
    return list(iter_tlv(data, stop_at_filler=stop_at_filler))


def encode_all(items: list[Tlv]) -> bytes:
    return b"".join(item.encode() for item in items)
