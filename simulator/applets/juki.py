"""The record-structured applications (jpki-card-reference.md sections 3.4, 4.4, 5, 11):

共通カードAP (common AP, 本人確認業務用領域), AID D3 92 10 00 31 00 01 01 01 00:
  0001 record EF: record 1 = `01 1C` serial(15) municipality(5) expiry(8) (free)
  0002 record EF: record 1 = the 16-byte key reference (free)
  0019 key answering INTERNAL AUTHENTICATE with no credential (sha256WithRSA)
  001C PIN, 4 digits (state key `common/001C`)
  SET SESSION KEY: 66F1

住基AP, AID D3 92 10 00 31 00 01 01 04 01:
  0002 record EF: record 1 = the same 16-byte key reference (free)
  001C PIN, 4 digits (state key `juki/001C`; its own counter)
  SET SESSION KEY: 6982, PIN or not

Both: READ RECORD (`00 B2 rec 04`, `00 B2 rec (SFI<<3|4)`), VERIFY, and the JICSAP
CHANGE KEY `80 32 00 80 Lc new` after VERIFY; CHANGE REFERENCE DATA (`00 24`) is not
there (6D00), as no client was seen changing these PINs with it.
"""

from __future__ import annotations

from simulator.apdu.command import CommandApdu
from simulator.apdu.errors import CardError
from simulator.apdu.sw import StatusWord
from simulator.applets.base import NO_KEY_DELIVERY, PROPRIETARY, Applet, Session, command
from simulator.applets.card_info import card_pin
from simulator.applets.registry import register
from simulator.fs.nodes import DedicatedFile, ElementaryFile, KeyFile, RecordFile
from simulator.personalization.card_data import RegistryApData
from simulator.personalization.persona import Persona
from simulator.security.conditions import ALWAYS
from simulator.security.pin import DIGITS_4
from simulator.state.records import PinStore

COMMON_AID = bytes.fromhex("D3921000310001010100")
JUKI_AID = bytes.fromhex("D3921000310001010401")

EF_CARD_RECORD = 0x0001
EF_KEY_REFERENCE = 0x0002
INTERNAL_AUTH_KEY = 0x0019
PIN = 0x001C


class RecordApplet(Applet):
    """What the 0100 and 0401 applications share: PINs changed by CHANGE KEY."""

    @command(0x32, cla=PROPRIETARY)
    def change_key(self, cmd: CommandApdu, session: Session) -> bytes:
        """`80 32 00 (80|80+SFI) Lc <new>`: the JICSAP CHANGE KEY, after VERIFY."""
        if cmd.p1 != 0x00:
            raise CardError(StatusWord.INCORRECT_P1_P2)
        return self.change_pin(cmd, session)

    @command(0x24)
    def change_reference_data(self, cmd: CommandApdu, session: Session) -> bytes:
        raise CardError(StatusWord.INS_NOT_SUPPORTED)


def build_common_df(data: RegistryApData, store: PinStore) -> DedicatedFile:
    files: list[ElementaryFile] = [
        RecordFile(EF_CARD_RECORD, (data.common_record,)),
        RecordFile(EF_KEY_REFERENCE, (data.key_reference,)),
        KeyFile(INTERNAL_AUTH_KEY, data.internal_auth_key, ALWAYS, internal_authenticate=True),
        card_pin("common/001C", PIN, data.common_pin, DIGITS_4, store),
    ]
    return DedicatedFile(COMMON_AID, files)


def build_juki_df(data: RegistryApData, store: PinStore) -> DedicatedFile:
    files: list[ElementaryFile] = [
        RecordFile(EF_KEY_REFERENCE, (data.key_reference,)),
        card_pin("juki/001C", PIN, data.juki_pin, DIGITS_4, store),
    ]
    return DedicatedFile(JUKI_AID, files)


class CommonApplet(RecordApplet):
    name = "common"

    def session_key_refusal(self, session: Session) -> StatusWord:
        return NO_KEY_DELIVERY


class JukiApplet(RecordApplet):
    name = "juki"  # SET SESSION KEY: the base's 6982


@register
def build_common(persona: Persona, store: PinStore) -> CommonApplet | None:
    if persona.card_info is None:
        return None
    return CommonApplet(build_common_df(persona.card_info.registry, store))


@register
def build_juki(persona: Persona, store: PinStore) -> JukiApplet | None:
    if persona.card_info is None:
        return None
    return JukiApplet(build_juki_df(persona.card_info.registry, store))
