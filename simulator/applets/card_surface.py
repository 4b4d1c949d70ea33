"""券面AP (券面事項確認AP, card-surface confirmation), AID D3 92 10 00 31 00 01 01 04 02.

EFs (jpki-card-reference.md sections 3.3, 4, 11, 15.5):
  0001 age-verification record (birth-date key 0011 only)
  0002 card face (照合番号B 0012 or 照合番号A 0013)
  0003 AP basic info, 0004 CV certificate (free)
  0005 rendered My Number (照合番号A 0013 only)
  0006 unknown, 16 x FF (照合番号A or B, as measured by MC)
  0011 birth-date key (era YYMMDD, 6 digits)  0012 照合番号B  0013 照合番号A
       (all three printed on the card: not changeable)
  001A the AP's own key: signs `80 2A 00 00` with no credential

SET SESSION KEY (`80 AE`) answers 66F1: no key delivery is configured here.
"""

from __future__ import annotations

from simulator.apdu.sw import StatusWord
from simulator.applets.base import NO_KEY_DELIVERY, Session
from simulator.applets.card_info import UNKNOWN_EF_CONTENT, OwnKeyApplet, card_pin
from simulator.applets.registry import register
from simulator.fs.nodes import DedicatedFile, ElementaryFile, KeyFile, TransparentFile
from simulator.personalization.card_data import SurfaceApData
from simulator.personalization.persona import Persona
from simulator.security.conditions import ALWAYS, AnyVerified
from simulator.security.pin import DIGITS_6, DIGITS_12, DIGITS_14
from simulator.state.records import PinStore

AID = bytes.fromhex("D3921000310001010402")

EF_AGE_RECORD = 0x0001
EF_CARD_FACE = 0x0002
EF_BASIC_INFO = 0x0003
EF_CV_CERTIFICATE = 0x0004
EF_MY_NUMBER_IMAGE = 0x0005
EF_UNKNOWN_6 = 0x0006
BIRTH_KEY = 0x0011
PIN_B = 0x0012
PIN_A = 0x0013
AP_KEY = 0x001A


def build_surface_df(data: SurfaceApData, store: PinStore) -> DedicatedFile:
    a_or_b = AnyVerified.of(PIN_A, PIN_B)
    files: list[ElementaryFile] = [
        TransparentFile(EF_AGE_RECORD, data.age_record, AnyVerified.of(BIRTH_KEY)),
        TransparentFile(EF_CARD_FACE, data.card_face, a_or_b),
        TransparentFile(EF_BASIC_INFO, data.basic_info, ALWAYS),
        TransparentFile(EF_CV_CERTIFICATE, data.cv_certificate, ALWAYS),
        TransparentFile(EF_MY_NUMBER_IMAGE, data.my_number_image, AnyVerified.of(PIN_A)),
        TransparentFile(EF_UNKNOWN_6, UNKNOWN_EF_CONTENT, a_or_b),
        card_pin("surface/0011", BIRTH_KEY, data.birth_key, DIGITS_6, store, changeable=False),
        card_pin("surface/0012", PIN_B, data.pin_b, DIGITS_14, store, changeable=False),
        card_pin("surface/0013", PIN_A, data.pin_a, DIGITS_12, store, changeable=False),
        KeyFile(AP_KEY, data.ap_key, ALWAYS),
    ]
    return DedicatedFile(AID, files)


class SurfaceApplet(OwnKeyApplet):
    name = "surface"
    own_key_fid = AP_KEY

    def session_key_refusal(self, session: Session) -> StatusWord:
        return NO_KEY_DELIVERY


@register
def build_surface(persona: Persona, store: PinStore) -> SurfaceApplet | None:
    if persona.card_info is None:
        return None
    return SurfaceApplet(build_surface_df(persona.card_info.surface, store))
