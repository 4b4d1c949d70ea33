"""VirtualCard: the in-process My Number card.

`transmit` is the only place where a CardError becomes a status word. The card
opens no sockets, starts no threads and reads no environment; transports wrap it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from simulator.apdu.command import CommandApdu
from simulator.apdu.errors import CardError
from simulator.apdu.redact import redacted_hex
from simulator.apdu.sw import StatusWord, describe
from simulator.applets import Applet, MasterFile, Session, build_applets
from simulator.fs.nodes import PinFile
from simulator.personalization.persona import Persona, load_persona
from simulator.security.pin import Pin
from simulator.state import (
    CardIdentity,
    MemoryStateStore,
    PinRecord,
    PinStore,
    StateFileStore,
)

log = logging.getLogger("simulator.card")
TRAFFIC = 5  # below DEBUG: every APDU, PIN data redacted
logging.addLevelName(TRAFFIC, "TRAFFIC")

INS_SELECT = 0xA4
INS_GET_DATA = 0xCA
# GlobalPlatform Issuer Security Domain: selecting it brings back the MF-level state
ISD_AID = bytes.fromhex("A0000001510000")
# GET DATA objects answered with an application selected too (section 3.5: the contact ATR)
AP_DATA_OBJECTS = frozenset({0x5F51})


class CardNotPoweredError(RuntimeError):
    """transmit() was called on a card that is not powered on."""


class VirtualCard:
    """A My Number card built from a persona; see README "In-process API"."""

    def __init__(self, persona: Persona, store: PinStore | None = None, *, strict: bool = True):
        self.persona = persona
        self.strict = strict
        self._store: PinStore = store if store is not None else MemoryStateStore()
        self.applets: dict[bytes, Applet] = build_applets(persona, self._store)
        card_info = persona.card_info
        self._data_objects: dict[int, bytes] = (
            {} if card_info is None else dict(card_info.mf_objects)
        )
        self._mf = MasterFile()
        self._powered = False
        self._current: Applet = self._mf
        self._session = Session()
        self._mf_reachable = False  # 00 A4 00 00 answers 9000 once an AP was selected

    @classmethod
    def from_persona(
        cls,
        persona: str | os.PathLike[str] = "default",
        *,
        state: str | os.PathLike[str] | None = None,
        strict: bool = True,
    ) -> VirtualCard:
        """A card for a persona name or file; `state` names a state file (created if absent)."""
        loaded = load_persona(persona)
        store: PinStore
        if state is None:
            store = MemoryStateStore()
        else:
            store = StateFileStore(Path(state), cls.identity_of(loaded))
        return cls(loaded, store, strict=strict)

    @staticmethod
    def identity_of(persona: Persona) -> CardIdentity:
        return CardIdentity(persona.name, persona.token_serial)

    def close(self) -> None:
        """Power off and release the state file (its lock) so another process may use it."""
        self.power_off()
        self._store.close()

    def __enter__(self) -> VirtualCard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- power -------------------------------------------------------------

    @property
    def atr(self) -> bytes:
        return self.persona.atr

    @property
    def powered(self) -> bool:
        return self._powered

    def power_on(self) -> bytes:
        """Power the card up (a cold reset if already powered); return the ATR."""
        self._powered = True
        self._enter_mf()
        return self.atr

    def reset(self) -> bytes:
        """Warm reset: security status and selection are cleared; counters are kept."""
        return self.power_on()

    def power_off(self) -> None:
        self._powered = False
        self._enter_mf()

    def _enter_mf(self) -> None:
        self._current = self._mf
        self._session = Session()
        self._mf_reachable = False

    # -- state seen from outside -----------------------------------------

    @property
    def selected(self) -> Applet | None:
        """The selected application, or None at MF level."""
        return None if self._current is self._mf else self._current

    @property
    def session(self) -> Session:
        return self._session

    def pin_records(self) -> dict[str, PinRecord]:
        """The stored record (counter, changed value as a salted digest) of every PIN whose
        state differs from the persona's, by key: what a state file holds for this card."""
        records = {key: self._store.get(key) for key in self.pins()}
        return {key: record for key, record in records.items() if record is not None}

    def pins(self) -> dict[str, Pin]:
        """Every PIN of every application, by key (e.g. ``jpki/0018``), for out-of-band
        control (test scenarios, `mynasim ctl`); never reachable through APDUs."""
        return {
            ef.pin.key: ef.pin
            for applet in self.applets.values()
            for ef in applet.df.files
            if isinstance(ef, PinFile)
        }

    # -- APDU processing ---------------------------------------------------

    def transmit(self, apdu: bytes) -> bytes:
        """Process one command APDU; return response data followed by SW1 SW2."""
        if not self._powered:
            raise CardNotPoweredError("the card is not powered: call power_on() first")
        traffic = log.isEnabledFor(TRAFFIC)
        if traffic:
            log.log(TRAFFIC, "> %s", redacted_hex(apdu))
        data, sw = self._process(apdu)
        if traffic:
            log.log(TRAFFIC, "< %s %s", data.hex(" ").upper(), describe(sw))
        return data + sw.to_bytes(2, "big")

    def _process(self, raw: bytes) -> tuple[bytes, int]:
        try:
            cmd = CommandApdu.parse(raw)
            return self._dispatch(cmd), StatusWord.OK
        except CardError as err:
            return err.data, err.sw
        except Exception:
            if self.strict:
                raise
            log.exception("internal error while processing %s", redacted_hex(raw))
            return b"", StatusWord.NO_PRECISE_DIAGNOSIS

    def _dispatch(self, cmd: CommandApdu) -> bytes:
        if cmd.cla not in (0x00, 0x80):
            raise CardError(_class_error(cmd))
        if cmd.ins == INS_SELECT and cmd.cla == 0x00:
            return self._select(cmd)
        if cmd.ins == INS_GET_DATA:
            return self._get_data(cmd)
        return self._current.handle(cmd, self._session)

    def _select(self, cmd: CommandApdu) -> bytes:
        if cmd.p1 == 0x04:
            return self._select_application(cmd)
        if cmd.p1 == 0x02:
            return self._current.select_file(cmd, self._session)
        if cmd.p1 == 0x00:
            return self._select_mf(cmd)
        raise CardError(StatusWord.INCORRECT_P1_P2)

    def _select_application(self, cmd: CommandApdu) -> bytes:
        if cmd.p2 not in (0x0C, 0x00):
            raise CardError(StatusWord.INCORRECT_P1_P2)
        if not 1 <= len(cmd.data) <= 16:
            raise CardError(StatusWord.WRONG_LENGTH)
        if cmd.data == ISD_AID:
            self._enter_mf()  # the power-on state: MF level, fresh security status
            return b""
        applet = self.applets.get(cmd.data)
        if applet is None:
            raise CardError(StatusWord.FILE_NOT_FOUND)
        if applet is self._current and not self.persona.reselect_clears_status:
            self._session.current_ef = None  # the same application: its status is kept
        else:
            self._session = Session()  # another application: the one left is cleared
        self._current = applet
        self._mf_reachable = True
        return b""  # P2=00 (FCI asked for): answered without FCI

    def _select_mf(self, cmd: CommandApdu) -> bytes:
        if cmd.data:
            raise CardError(StatusWord.FILE_NOT_FOUND)  # FID 3F00 is not selectable
        if not self._mf_reachable:
            raise CardError(StatusWord.INCORRECT_P1_P2)  # right after reset
        return b""  # answered 9000; the current DF does not change

    def _get_data(self, cmd: CommandApdu) -> bytes:
        """`00 CA P1P2 Le`: the card's data objects (section 3.5). Only at MF level (after
        power-on, reset or the ISD SELECT), except AP_DATA_OBJECTS; whole objects only."""
        if cmd.cla != 0x00:
            raise CardError(StatusWord.CLA_NOT_SUPPORTED)
        if cmd.le is None or cmd.data:
            raise CardError(StatusWord.WRONG_LENGTH)
        tag = (cmd.p1 << 8) | cmd.p2
        value = None
        if self._current is self._mf or tag in AP_DATA_OBJECTS:
            value = self._data_objects.get(tag)
        if value is None:
            raise CardError(StatusWord.REFERENCED_DATA_NOT_FOUND)
        if cmd.le < len(value):
            raise CardError(StatusWord.WRONG_LENGTH)  # clients retry with an extended Le
        return value


def _class_error(cmd: CommandApdu) -> StatusWord:
    """Why a CLA other than 00/80 is refused: channel, secure messaging, or class."""
    cla = cmd.cla
    if cla == 0xFF:
        return StatusWord.CLA_NOT_SUPPORTED
    if cmd.channel != 0:
        return StatusWord.LOGICAL_CHANNEL_NOT_SUPPORTED
    if cla & 0xF0 in (0x00, 0x80) and cla & 0x0C:
        if cmd.ins == INS_SELECT:
            return StatusWord.SECURE_MESSAGING_NOT_SUPPORTED
        return StatusWord.SM_SESSION_BROKEN
    return StatusWord.CLA_NOT_SUPPORTED
