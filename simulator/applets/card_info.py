"""券面事項入力補助AP (text AP, card-info input support), AID D3 92 10 00 31 00 01 01 04 08.

EFs (jpki-card-reference.md sections 3.2, 4, 11, 15.5):
  0001 My Number, 17 bytes physical (PIN 0011 or 照合番号A 0014)
  0002 basic 4 information (PIN 0011 or 照合番号B 0015)
  0003 integrity record, 0006 session-key public key, 0007 signed AP key (0011, 0014 or 0015)
  0004 CV certificate, 0005 AP basic info (free)
  0008 unknown, 16 x FF (free: mynasim's choice)
  0011 PIN (4 digits, 3 tries; CHANGE REFERENCE DATA after VERIFY)
  0012 key reference blocked as issued (63C0 to the query, 6984 to VERIFY)
  0013 the AP's own key: signs `80 2A 00 00` with no credential
  0014 照合番号A (12 digits)   0015 照合番号B (14 digits)   (printed on the card: not changeable)

Secure messaging is not offered: CLA 08/0C are refused by the card, and SET SESSION KEY
(`80 AE`) answers 6982 until the PIN is verified, then 6A80 (the simulator holds no private
half of the EF 0006 key, so no delivered session key ever decrypts).
"""

from __future__ import annotations

from typing import ClassVar

from simulator.apdu.command import CommandApdu
from simulator.apdu.errors import CardError
from simulator.apdu.sw import StatusWord
from simulator.applets.base import PROPRIETARY, Applet, Session, command
from simulator.applets.registry import register
from simulator.applets.signing import compute_signature
from simulator.fs.nodes import (
    BlockedKeyFile,
    DedicatedFile,
    ElementaryFile,
    KeyFile,
    PinFile,
    TransparentFile,
)
from simulator.personalization.card_data import TextApData
from simulator.personalization.persona import Persona, PinSpec
from simulator.security.conditions import ALWAYS, AnyVerified
from simulator.security.pin import DIGITS_4, DIGITS_12, DIGITS_14, Pin, PinFormat
from simulator.state.records import PinStore

AID = bytes.fromhex("D3921000310001010408")

EF_MY_NUMBER = 0x0001
EF_BASIC_FOUR = 0x0002
EF_INTEGRITY = 0x0003
EF_CV_CERTIFICATE = 0x0004
EF_BASIC_INFO = 0x0005
EF_SESSION_KEY = 0x0006
EF_AP_KEY_RECORD = 0x0007
EF_UNKNOWN_8 = 0x0008
PIN = 0x0011
BLOCKED_KEY = 0x0012
AP_KEY = 0x0013
PIN_A = 0x0014
PIN_B = 0x0015

UNKNOWN_EF_CONTENT = b"\xff" * 16  # text 0008 and surface 0006, as MC read them
OWN_KEY_SCHEME = 0x00  # `80 2A 00 00`: PKCS#1 v1.5 over the data as given


def card_pin(
    key: str,
    ref: int,
    spec: PinSpec,
    fmt: PinFormat,
    store: PinStore,
    *,
    changeable: bool = True,
) -> PinFile:
    """A PIN EF from a persona's PinSpec; `key` names its counter in the state store."""
    pin = Pin(
        key,
        ref,
        spec.value,
        max_tries=spec.max_tries,
        initial_remaining=spec.remaining,
        value_format=fmt,
        store=store,
        changeable=changeable,
    )
    return PinFile(ref, pin)


class OwnKeyApplet(Applet):
    """A 券面 application whose own key signs `80 2A 00 00` with no credential (§10).

    P2 = 00 names the application's key; 80 (current EF) and 80|SFI are accepted too.
    Only P1 = 00 (the data as given, 1-245 bytes) exists; other P1: 6A86.
    """

    own_key_fid: ClassVar[int]

    @command(0x2A, cla=PROPRIETARY)
    def compute_digital_signature(self, cmd: CommandApdu, session: Session) -> bytes:
        if cmd.p1 != OWN_KEY_SCHEME:
            raise CardError(StatusWord.INCORRECT_P1_P2)
        key_file = self.own_key() if cmd.p2 == 0x00 else self.key_file(cmd.p2, session)
        if not key_file.use.satisfied(session.status):
            raise CardError(StatusWord.SECURITY_STATUS_NOT_SATISFIED)
        return compute_signature(key_file.key, OWN_KEY_SCHEME, cmd.data)

    def own_key(self) -> KeyFile:
        ef = self.df.file(self.own_key_fid)
        if not isinstance(ef, KeyFile):
            raise CardError(StatusWord.COMMAND_INCOMPATIBLE_WITH_FILE)
        return ef


def build_text_df(data: TextApData, store: PinStore) -> DedicatedFile:
    pin_or_a = AnyVerified.of(PIN, PIN_A)
    pin_or_b = AnyVerified.of(PIN, PIN_B)
    any_key = AnyVerified.of(PIN, PIN_A, PIN_B)
    files: list[ElementaryFile] = [
        TransparentFile(EF_MY_NUMBER, data.my_number, pin_or_a),
        TransparentFile(EF_BASIC_FOUR, data.basic_four, pin_or_b),
        TransparentFile(EF_INTEGRITY, data.integrity, any_key),
        TransparentFile(EF_CV_CERTIFICATE, data.cv_certificate, ALWAYS),
        TransparentFile(EF_BASIC_INFO, data.basic_info, ALWAYS),
        TransparentFile(EF_SESSION_KEY, data.session_key, any_key),
        TransparentFile(EF_AP_KEY_RECORD, data.ap_key_record, any_key),
        TransparentFile(EF_UNKNOWN_8, UNKNOWN_EF_CONTENT, ALWAYS),
        card_pin("text/0011", PIN, data.pin, DIGITS_4, store),
        BlockedKeyFile(BLOCKED_KEY),
        KeyFile(AP_KEY, data.ap_key, ALWAYS),
        card_pin("text/0014", PIN_A, data.pin_a, DIGITS_12, store, changeable=False),
        card_pin("text/0015", PIN_B, data.pin_b, DIGITS_14, store, changeable=False),
    ]
    return DedicatedFile(AID, files)


class TextApplet(OwnKeyApplet):
    name = "text"
    own_key_fid = AP_KEY

    def session_key_refusal(self, session: Session) -> StatusWord:
        """6982 until the 4-digit PIN is verified (照合番号A/B do not do), then 6A80: no
        session key delivered to this simulator ever decrypts."""
        if not session.status.is_verified(PIN):
            return StatusWord.SECURITY_STATUS_NOT_SATISFIED
        return StatusWord.WRONG_DATA


@register
def build_text(persona: Persona, store: PinStore) -> TextApplet | None:
    if persona.card_info is None:
        return None
    return TextApplet(build_text_df(persona.card_info.text, store))
