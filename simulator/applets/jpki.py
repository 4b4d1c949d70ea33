"""公的個人認証AP (JPKI application), AID D3 92 F0 00 26 01 00 00 00 01.

EFs (jpki-card-reference.md section 3.1):
  0001 signature certificate (read needs the signing password 001B)
  0002 signature CA certificate      0006 token info (160 bytes)
  0008 which certificates exist      0009 unknown, never readable
  000A authentication certificate (free; behind 0018 on smartphone tokens)
  000B authentication CA certificate
  0017 authentication key (use needs 0018)   0018 authentication PIN (4 digits, 3 tries)
  001A signature key (use needs 001B)        001B signing password (6-16 A-Z0-9, 5 tries)
"""

from __future__ import annotations

from simulator.apdu.command import CommandApdu
from simulator.apdu.errors import CardError
from simulator.apdu.sw import StatusWord
from simulator.applets.base import PROPRIETARY, Applet, Session, command
from simulator.applets.registry import register
from simulator.applets.signing import compute_signature
from simulator.applets.token_info import build_token_info
from simulator.fs.nodes import (
    DedicatedFile,
    ElementaryFile,
    KeyFile,
    PinFile,
    TransparentFile,
    pad_to,
)
from simulator.personalization.persona import KeyPairSpec, Persona, PinSpec
from simulator.security.conditions import ALWAYS, NEVER, AccessCondition, AnyVerified
from simulator.security.pin import DIGITS_4, SIGN_PASSWORD, Pin, PinFormat
from simulator.state.records import PinStore

AID = bytes.fromhex("D392F000260100000001")

EF_SIGN_CERT = 0x0001
EF_SIGN_CA = 0x0002
EF_TOKEN_INFO = 0x0006
EF_CERT_FLAGS = 0x0008
EF_UNKNOWN_9 = 0x0009
EF_AUTH_CERT = 0x000A
EF_AUTH_CA = 0x000B
KEY_AUTH = 0x0017
PIN_AUTH = 0x0018
KEY_SIGN = 0x001A
PIN_SIGN = 0x001B

CERT_EF_SIZE = 2048  # allocated size of a certificate EF: DER, then FF filler (open question)
PRESENT = 0x8F
PHONE_TOKENS = frozenset({"JPKIAPGPSETOKEN", "JPKIAPIOSTOKEN"})


def _cert_file(fid: int, der: bytes, read: AccessCondition = ALWAYS) -> TransparentFile:
    size = max(CERT_EF_SIZE, -(-len(der) // 256) * 256)
    return TransparentFile(fid, pad_to(der, size), read)


def _pin(key: str, ref: int, spec: PinSpec, fmt: PinFormat, store: PinStore) -> PinFile:
    pin = Pin(
        key,
        ref,
        spec.value,
        max_tries=spec.max_tries,
        initial_remaining=spec.remaining,
        value_format=fmt,
        store=store,
    )
    return PinFile(ref, pin)


def _key_pair_files(
    pair: KeyPairSpec, cert_fid: int, key_fid: int, pin_ref: int, cert_read: AccessCondition
) -> list[ElementaryFile]:
    if pair.certificate is None or pair.private_key is None:
        return []
    return [
        _cert_file(cert_fid, pair.certificate, cert_read),
        KeyFile(key_fid, pair.private_key, AnyVerified.of(pin_ref)),
    ]


def build_jpki_df(persona: Persona, store: PinStore) -> DedicatedFile:
    auth_read = AnyVerified.of(PIN_AUTH) if persona.token_label in PHONE_TOKENS else ALWAYS
    flags = bytes(
        (
            PRESENT if persona.sign.certificate is not None else 0x00,
            PRESENT if persona.auth.certificate is not None else 0x00,
            0x00,
        )
    )
    files: list[ElementaryFile] = [
        *_key_pair_files(persona.sign, EF_SIGN_CERT, KEY_SIGN, PIN_SIGN, AnyVerified.of(PIN_SIGN)),
        *_key_pair_files(persona.auth, EF_AUTH_CERT, KEY_AUTH, PIN_AUTH, auth_read),
        _cert_file(EF_SIGN_CA, persona.sign.ca_certificate),
        _cert_file(EF_AUTH_CA, persona.auth.ca_certificate),
        TransparentFile(EF_TOKEN_INFO, build_token_info(persona.token_label, persona.token_serial)),
        TransparentFile(EF_CERT_FLAGS, flags),
        TransparentFile(EF_UNKNOWN_9, b"\xff" * 16, NEVER),
        _pin("jpki/0018", PIN_AUTH, persona.auth_pin, DIGITS_4, store),
        _pin("jpki/001B", PIN_SIGN, persona.sign_pin, SIGN_PASSWORD, store),
    ]
    return DedicatedFile(AID, files)


class JpkiApplet(Applet):
    name = "JPKI"

    @command(0x2A, cla=PROPRIETARY)
    def compute_digital_signature(self, cmd: CommandApdu, session: Session) -> bytes:
        """`80 2A P1 P2 Lc data 00`: P2 = 80 (key of the current EF) or 80|SFI."""
        if cmd.p1 > 0x05:
            raise CardError(StatusWord.INCORRECT_P1_P2)
        key_file = self.key_file(cmd.p2, session)
        if not key_file.use.satisfied(session.status):
            raise CardError(StatusWord.SECURITY_STATUS_NOT_SATISFIED)
        return compute_signature(key_file.key, cmd.p1, cmd.data)


@register
def build_jpki(persona: Persona, store: PinStore) -> JpkiApplet:
    return JpkiApplet(build_jpki_df(persona, store))
