"""The applet base: command dispatch and the commands every application shares.

A subclass declares its handlers with `@command(ins, cla=...)`; the table is built
once per class. Handlers return the response data (status 9000) or raise CardError.

Shared: READ BINARY, READ RECORD, VERIFY, CHANGE REFERENCE DATA, GET CHALLENGE,
INTERNAL AUTHENTICATE and SET SESSION KEY (which every application refuses in its own
way, `session_key_refusal`). SELECT and GET DATA belong to the card.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import ClassVar, TypeVar

from simulator.apdu.command import CommandApdu
from simulator.apdu.errors import CardError
from simulator.apdu.sw import StatusWord, retries_remaining
from simulator.applets.signing import compute_signature
from simulator.fs.nodes import (
    BlockedKeyFile,
    DedicatedFile,
    ElementaryFile,
    KeyFile,
    PinFile,
    RecordFile,
    TransparentFile,
)
from simulator.security.pin import Pin
from simulator.security.status import SecurityStatus

ISO = 0x00
PROPRIETARY = 0x80
MAX_PIN_DATA = 16  # VERIFY data field, 1-16 bytes (JICSAP 6.4.9)
SHA256_DIGEST_INFO_SCHEME = 0x03  # `80 2A` P1 03: SHA-256(data) -> DigestInfo -> PKCS#1 v1.5
NO_KEY_DELIVERY = StatusWord(0x66F1)  # SET SESSION KEY where no key delivery is configured
READ_RECORD_P1 = 0x04  # READ RECORD P2 b3-b1: read the record numbered P1
READ_RECORDS_FROM_P1 = 0x05  # ... records P1 to the last (not supported: 6A81)

Handler = Callable[["Applet", CommandApdu, "Session"], bytes]
H = TypeVar("H", bound=Callable[..., bytes])


class Session:
    """Volatile state of one DF selection: security status and current EF."""

    __slots__ = ("current_ef", "status")

    def __init__(self) -> None:
        self.status = SecurityStatus()
        self.current_ef: ElementaryFile | None = None


def command(ins: int, cla: int = ISO) -> Callable[[H], H]:
    """Register the decorated method as the handler of (CLA class, INS)."""

    def mark(func: H) -> H:
        func.__dict__["_apdu_key"] = (cla, ins)
        return func

    return mark


class Applet:
    """An application: a DF plus the commands it answers."""

    name: ClassVar[str] = "applet"
    _handlers: ClassVar[dict[tuple[int, int], Handler]] = {}
    _known_ins: ClassVar[frozenset[int]] = frozenset()

    def __init__(self, df: DedicatedFile) -> None:
        self.df = df

    @property
    def aid(self) -> bytes:
        return self.df.name

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[tuple[int, int], Handler] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                key = getattr(value, "_apdu_key", None)
                if key is not None:
                    table[key] = value
        cls._handlers = table
        cls._known_ins = frozenset(ins for _, ins in table)

    def handle(self, cmd: CommandApdu, session: Session) -> bytes:
        handler = self._handlers.get((cmd.cla, cmd.ins))
        if handler is None:
            if cmd.ins in self._known_ins:
                raise CardError(StatusWord.CLA_NOT_SUPPORTED)
            raise CardError(StatusWord.INS_NOT_SUPPORTED)
        return handler(self, cmd, session)

    # -- EF addressing ---------------------------------------------------

    def current_file(self, session: Session) -> ElementaryFile:
        if session.current_ef is None:
            raise CardError(StatusWord.COMMAND_NOT_ALLOWED_NO_CURRENT_EF)
        return session.current_ef

    def referenced_file(self, p2: int, session: Session) -> ElementaryFile:
        """P2 = 80 (the current EF) or 80|SFI, as VERIFY, CHANGE REFERENCE DATA and
        COMPUTE DIGITAL SIGNATURE use it."""
        if p2 == 0x80:
            return self.current_file(session)
        if p2 & 0xE0 != 0x80 or p2 & 0x1F == 0x1F:
            raise CardError(StatusWord.INCORRECT_P1_P2)
        ef = self.df.file_by_sfi(p2 & 0x1F)
        if ef is None:
            raise CardError(StatusWord.REFERENCED_DATA_NOT_FOUND)
        return ef

    def pin_file(self, p2: int, session: Session) -> PinFile:
        ef = self.referenced_file(p2, session)
        if isinstance(ef, BlockedKeyFile):
            raise CardError(StatusWord.REFERENCE_DATA_BLOCKED)
        if not isinstance(ef, PinFile):
            raise CardError(StatusWord.COMMAND_INCOMPATIBLE_WITH_FILE)
        return ef

    def key_file(self, p2: int, session: Session) -> KeyFile:
        ef = self.referenced_file(p2, session)
        if not isinstance(ef, KeyFile):
            raise CardError(StatusWord.COMMAND_INCOMPATIBLE_WITH_FILE)
        return ef

    # -- ISO commands ------------------------------------------------------

    def select_file(self, cmd: CommandApdu, session: Session) -> bytes:
        """SELECT EF by FID (P1=02); called by the card, which owns SELECT."""
        if cmd.p2 not in (0x0C, 0x00):
            raise CardError(StatusWord.INCORRECT_P1_P2)
        if len(cmd.data) != 2:
            raise CardError(StatusWord.WRONG_LENGTH)
        session.current_ef = self.df.file(int.from_bytes(cmd.data, "big"))
        return b""

    @command(0xB0)
    def read_binary(self, cmd: CommandApdu, session: Session) -> bytes:
        if cmd.le is None:
            raise CardError(StatusWord.WRONG_LENGTH)
        if cmd.p1 & 0x80:
            if cmd.p1 & 0x60:
                raise CardError(StatusWord.INCORRECT_P1_P2)
            ef = self.df.file_by_sfi(cmd.p1 & 0x1F)
            if ef is None:
                raise CardError(StatusWord.FILE_NOT_FOUND)
            session.current_ef = ef
            offset = cmd.p2
        else:
            ef = self.current_file(session)
            offset = (cmd.p1 << 8) | cmd.p2
        if not isinstance(ef, TransparentFile):
            raise CardError(StatusWord.COMMAND_INCOMPATIBLE_WITH_FILE)
        if not ef.read.satisfied(session.status):
            raise CardError(StatusWord.SECURITY_STATUS_NOT_SATISFIED)
        if offset >= len(ef.content):
            raise CardError(StatusWord.WRONG_P1_P2)
        return ef.content[offset : offset + cmd.le]

    @command(0xB2)
    def read_record(self, cmd: CommandApdu, session: Session) -> bytes:
        """`00 B2 <rec> 04 Le` (current EF) or `00 B2 <rec> (SFI<<3|4) Le`."""
        if cmd.le is None:
            raise CardError(StatusWord.WRONG_LENGTH)
        mode, sfi = cmd.p2 & 0x07, cmd.p2 >> 3
        if mode == READ_RECORDS_FROM_P1:
            raise CardError(StatusWord.FUNCTION_NOT_SUPPORTED)
        if mode != READ_RECORD_P1 or sfi == 0x1F or cmd.p1 in (0x00, 0xFF):
            raise CardError(StatusWord.INCORRECT_P1_P2)  # no record pointer: P1 00 refused
        if sfi:
            found = self.df.file_by_sfi(sfi)
            if found is None:
                raise CardError(StatusWord.FILE_NOT_FOUND)
            session.current_ef = ef = found
        else:
            ef = self.current_file(session)
        if not isinstance(ef, RecordFile):
            raise CardError(StatusWord.COMMAND_INCOMPATIBLE_WITH_FILE)
        if not ef.read.satisfied(session.status):
            raise CardError(StatusWord.SECURITY_STATUS_NOT_SATISFIED)
        record = ef.record(cmd.p1)
        if record is None:
            raise CardError(StatusWord.RECORD_NOT_FOUND)
        if cmd.le < len(record):
            raise CardError(StatusWord.WRONG_LENGTH)  # whole records only
        return record

    @command(0x20)
    def verify(self, cmd: CommandApdu, session: Session) -> bytes:
        if cmd.p1 != 0x00:
            raise CardError(StatusWord.INCORRECT_P1_P2)
        ef = self.referenced_file(cmd.p2, session)
        if isinstance(ef, BlockedKeyFile):
            if not cmd.data:
                raise CardError(retries_remaining(0))
            if len(cmd.data) > MAX_PIN_DATA:
                raise CardError(StatusWord.WRONG_LENGTH)
            raise CardError(StatusWord.REFERENCE_DATA_BLOCKED)
        if not isinstance(ef, PinFile):
            raise CardError(StatusWord.COMMAND_INCOMPATIBLE_WITH_FILE)
        pin = ef.pin
        if not cmd.data:
            raise CardError(pin.status_word())  # the status query spends no try
        if len(cmd.data) > MAX_PIN_DATA:
            raise CardError(StatusWord.WRONG_LENGTH)
        session.status.revoke(pin.reference)
        pin.verify(cmd.data)
        session.status.grant(pin.reference)
        return b""

    @command(0x24)
    def change_reference_data(self, cmd: CommandApdu, session: Session) -> bytes:
        if cmd.p1 != 0x01:
            raise CardError(StatusWord.INCORRECT_P1_P2)
        return self.change_pin(cmd, session)

    def change_pin(self, cmd: CommandApdu, session: Session) -> bytes:
        """Set the PIN named by P2 (80 or 80|SFI) to the data field, after VERIFY in this
        session; shared by CHANGE REFERENCE DATA and the JICSAP CHANGE KEY (`80 32`)."""
        pin: Pin = self.pin_file(cmd.p2, session).pin
        if not cmd.data or len(cmd.data) > MAX_PIN_DATA:
            raise CardError(StatusWord.WRONG_LENGTH)
        if not session.status.is_verified(pin.reference):
            raise CardError(StatusWord.SECURITY_STATUS_NOT_SATISFIED)
        pin.change(cmd.data)
        return b""

    @command(0x88)
    def internal_authenticate(self, cmd: CommandApdu, session: Session) -> bytes:
        """`00 88 00 (80|SFI) Lc challenge 00`: sha256WithRSA over a 1-255 byte challenge,
        by a key made for it; other keys: 6982 while their condition is unmet, else 6985."""
        if cmd.p1 != 0x00:
            raise CardError(StatusWord.INCORRECT_P1_P2)
        key_file = self.key_file(cmd.p2, session)
        if not key_file.internal_authenticate:
            if not key_file.use.satisfied(session.status):
                raise CardError(StatusWord.SECURITY_STATUS_NOT_SATISFIED)
            raise CardError(StatusWord.CONDITIONS_OF_USE_NOT_SATISFIED)
        return compute_signature(key_file.key, SHA256_DIGEST_INFO_SCHEME, cmd.data)

    @command(0xAE, cla=PROPRIETARY)
    def set_session_key(self, cmd: CommandApdu, session: Session) -> bytes:
        """`80 AE 00 00 Lc(ext) <RSA-OAEP ciphertext>`: mynasim opens no secure-messaging
        session, so every application refuses it, each with its card's status word."""
        raise CardError(self.session_key_refusal(session))

    def session_key_refusal(self, session: Session) -> StatusWord:
        """JPKI and 住基AP: 6982 (a key delivery is configured; no credential opens it)."""
        return StatusWord.SECURITY_STATUS_NOT_SATISFIED

    @command(0x84)
    def get_challenge(self, cmd: CommandApdu, session: Session) -> bytes:
        if cmd.p1 or cmd.p2:
            raise CardError(StatusWord.INCORRECT_P1_P2)
        if cmd.le is None or cmd.data:
            raise CardError(StatusWord.WRONG_LENGTH)
        if cmd.extended:
            raise CardError(StatusWord.CONDITIONS_OF_USE_NOT_SATISFIED)
        return secrets.token_bytes(cmd.le)


class MasterFile(Applet):
    """The MF context: no application selected (after power-on, reset)."""

    name = "MF"

    def __init__(self) -> None:
        super().__init__(DedicatedFile(b"", []))

    def session_key_refusal(self, session: Session) -> StatusWord:
        return StatusWord.INS_NOT_SUPPORTED  # no application command at MF level
