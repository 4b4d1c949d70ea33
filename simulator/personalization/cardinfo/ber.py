"""Minimal BER-TLV writing for the card-info files, the card's way.

A private copy of the encoding rules of ``simulator.apdu.tlv`` (one length byte below 128,
``82 HH LL`` from 128 up, never ``81 xx``): the layering rules (tests/test_layering.py) let
``simulator.personalization`` import only itself, the standard library and ``cryptography``.
"""

from __future__ import annotations

FILLER = 0xFF


def length(n: int) -> bytes:
    """The card's length field: one byte below 128, ``82 HH LL`` up to 65535."""
    if n < 0:
        raise ValueError(f"negative length {n}")
    if n < 0x80:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\x82" + n.to_bytes(2, "big")
    raise ValueError(f"length {n} does not fit the card's 82 HH LL form")


def tlv(tag: bytes, value: bytes) -> bytes:
    """One TLV; ``tag`` is given as its raw bytes (e.g. ``b"\\xdf\\x21"``)."""
    return tag + length(len(value)) + value


def pad(data: bytes, allocated: int | None) -> bytes:
    """Fill ``data`` with ``FF`` up to the allocated EF size (``None``: no filler)."""
    if allocated is None:
        return data
    if allocated < len(data):
        raise ValueError(f"{len(data)} bytes do not fit an EF of {allocated} bytes")
    return data + bytes((FILLER,)) * (allocated - len(data))


def header_size(tag: bytes, value_length: int) -> int:
    """Bytes taken by the tag and length field of a TLV whose value has ``value_length`` bytes."""
    return len(tag) + len(length(value_length))


def split_outer(data: bytes, tag: bytes) -> tuple[int, bytes]:
    """Read the outer TLV of an EF written by this package: (header size, value).

    Only the forms :func:`length` writes are accepted.
    """
    if data[: len(tag)] != tag:
        raise ValueError(f"EF does not start with tag {tag.hex().upper()}")
    pos = len(tag)
    if pos >= len(data):
        raise ValueError("EF ends before the length field")
    first = data[pos]
    if first < 0x80:
        n, pos = first, pos + 1
    elif first == 0x82 and pos + 3 <= len(data):
        n, pos = int.from_bytes(data[pos + 1 : pos + 3], "big"), pos + 3
    else:
        raise ValueError(f"unsupported length form {first:02X}")
    if pos + n > len(data):
        raise ValueError("outer TLV runs past the end of the EF")
    return pos, data[pos : pos + n]


OFFSETS_TAG = b"\xdf\x21"


def with_offset_table(outer_tag: bytes, fields: list[bytes]) -> bytes:
    """``outer_tag`` around a DF21 table of big-endian u16 offsets (counted from the first
    byte of the file) of each field TLV, followed by the fields (text EF 0002, surface EF
    0002: jpki-card-reference.md sections 9.1 and 3.3)."""
    table_size = len(OFFSETS_TAG) + 1 + 2 * len(fields)
    value_length = table_size + sum(len(f) for f in fields)
    position = header_size(outer_tag, value_length) + table_size
    offsets = b""
    for field in fields:
        if position > 0xFFFF:
            raise ValueError(f"{outer_tag.hex().upper()} too large for u16 offsets")
        offsets += position.to_bytes(2, "big")
        position += len(field)
    return tlv(outer_tag, tlv(OFFSETS_TAG, offsets) + b"".join(fields))
