"""DF and EF nodes.

Transparent EFs hold their physical content, filler included. Record EFs hold
numbered records (READ RECORD only). Key and PIN files are "internal EFs": they
can be selected and referenced, never read (6981).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from simulator.apdu.errors import CardError
from simulator.apdu.sw import StatusWord
from simulator.security.conditions import ALWAYS, AccessCondition
from simulator.security.pin import Pin

FILLER = b"\xff"


def pad_to(content: bytes, size: int) -> bytes:
    """`content` followed by FF filler up to the allocated `size`."""
    if len(content) > size:
        raise ValueError(f"{len(content)} bytes do not fit an EF of {size}")
    return content + FILLER * (size - len(content))


@dataclass(frozen=True)
class ElementaryFile:
    fid: int

    @property
    def sfi(self) -> int:
        """Short EF identifier: the low 5 bits of the FID (all FIDs are 0001-001E)."""
        return self.fid & 0x1F


@dataclass(frozen=True)
class TransparentFile(ElementaryFile):
    content: bytes
    read: AccessCondition = ALWAYS


@dataclass(frozen=True)
class RecordFile(ElementaryFile):
    """A record-structured EF (0100/0401 APs): records numbered from 1, each a simple TLV."""

    records: tuple[bytes, ...]
    read: AccessCondition = ALWAYS

    def record(self, number: int) -> bytes | None:
        """Record `number` (1-based), or None when the EF has no such record."""
        if 1 <= number <= len(self.records):
            return self.records[number - 1]
        return None


@dataclass(frozen=True)
class KeyFile(ElementaryFile):
    """A private key; `use` is the condition for signing with it.

    `internal_authenticate`: the key answers INTERNAL AUTHENTICATE (0100 AP key 0019
    only); any other key refuses it (6982 while `use` is unmet, else 6985).
    """

    key: rsa.RSAPrivateKey
    use: AccessCondition
    internal_authenticate: bool = False

    def __repr__(self) -> str:
        return f"KeyFile(fid={self.fid:04X}, use={self.use!r})"


@dataclass(frozen=True)
class PinFile(ElementaryFile):
    pin: Pin


@dataclass(frozen=True)
class BlockedKeyFile(ElementaryFile):
    """A key reference blocked as issued and for good (text AP 0012): the status query
    answers 63C0, VERIFY and CHANGE REFERENCE DATA 6984. It holds no value and no
    counter, so no out-of-band reset can open it."""


class DedicatedFile:
    """An application DF, named by its AID, holding EFs."""

    def __init__(self, name: bytes, files: list[ElementaryFile]) -> None:
        self.name = name
        self._by_fid = {ef.fid: ef for ef in files}
        self._by_sfi = {ef.sfi: ef for ef in files}
        if len(self._by_fid) != len(files) or len(self._by_sfi) != len(files):
            raise ValueError(f"DF {name.hex()}: duplicate FID or SFI")

    def file(self, fid: int) -> ElementaryFile:
        ef = self._by_fid.get(fid)
        if ef is None:
            raise CardError(StatusWord.FILE_NOT_FOUND)
        return ef

    def file_by_sfi(self, sfi: int) -> ElementaryFile | None:
        return self._by_sfi.get(sfi)

    @property
    def files(self) -> list[ElementaryFile]:
        return list(self._by_fid.values())
