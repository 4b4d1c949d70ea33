"""What the card-info applications hold (issue 5): the physical bytes of every EF, the
applications' own keys, and their PINs, as the card serves them.

The personalization step builds these from a persona (holder data, images, issuer keys);
the applets (`simulator.applets.card_info`, `card_surface`, `registry`) only serve them.
Layouts: jpki-card-reference.md sections 3.2-3.5 and 9.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import rsa

from .persona import PinSpec


@dataclass(frozen=True)
class TextApData:
    """券面事項入力補助AP, AID D3 92 10 00 31 00 01 01 04 08."""

    # EF 0001: FF 10 0C <12 digits> FF FF (17 bytes, physical); the digits are 照合番号A
    my_number: bytes = field(repr=False)
    basic_four: bytes  # EF 0002: FF 20 ... (DF21 offsets, DF22-DF25) + FF filler
    integrity: bytes  # EF 0003: FF 30 82 01 4B {DF31, DF32, DF33} (336 bytes)
    cv_certificate: bytes  # EF 0004: 7F 21 82 02 33 ... (568 bytes)
    basic_info: bytes  # EF 0005: FF 40 82 00 9F ... + filler (>= 256 bytes)
    session_key: bytes  # EF 0006: A1 82 01 09 {90 03 01 00 01, 91 82 01 00 <n>}
    ap_key_record: bytes  # EF 0007: FF 50 82 02 13 {DF51 key, DF52 signature}
    ap_key: rsa.RSAPrivateKey = field(repr=False)  # key 0013: signs 80 2A 00 00, no credential
    pin: PinSpec  # 0011: 4 digits, 3 tries
    pin_a: PinSpec  # 0014: 照合番号A, the 12-digit My Number
    pin_b: PinSpec  # 0015: 照合番号B, 14 digits (printed birth YYMMDD + expiry YYYY + code)


@dataclass(frozen=True)
class SurfaceApData:
    """券面AP (券面事項確認AP), AID D3 92 10 00 31 00 01 01 04 02."""

    age_record: bytes  # EF 0001: FF 10 82 02 1E {DF11 birth, DF12 key, DF13 signature}
    card_face: bytes  # EF 0002: FF 20 82 HH LL {DF21 offsets, DF22 ... DF2A}
    basic_info: bytes  # EF 0003: FF 30 {DF31 ... DF35}
    cv_certificate: bytes  # EF 0004
    my_number_image: bytes  # EF 0005: FF 40 {DF41 PNG, DF42 key, DF43 signature}
    ap_key: rsa.RSAPrivateKey = field(repr=False)  # key 001A: signs 80 2A 00 00
    birth_key: PinSpec  # 0011: printed birth date, era YYMMDD
    pin_b: PinSpec  # 0012: 照合番号B
    pin_a: PinSpec  # 0013: 照合番号A


@dataclass(frozen=True)
class RegistryApData:
    """The common AP (…01 01 00) and the 住基AP (…01 04 01): record-structured EFs."""

    common_record: bytes  # 0100 EF 0001 record 1: 01 1C serial(15) municipality(5) expiry(8)
    key_reference: bytes  # EF 0002 of both APs (16 bytes)
    internal_auth_key: rsa.RSAPrivateKey = field(repr=False)  # 0100 key 0019
    common_pin: PinSpec  # 0100 EF 001C: 4 digits, 3 tries
    juki_pin: PinSpec  # 0401 EF 001C: 4 digits, 3 tries


@dataclass(frozen=True)
class CardInfo:
    """Everything of a card that is not JPKI. None on a persona means the card (e.g. a
    smartphone token) carries none of these applications."""

    text: TextApData
    surface: SurfaceApData
    registry: RegistryApData
    mf_objects: dict[int, bytes]  # MF-level GET DATA objects by P1P2: 0042, 0045, 0066, 00F0, ...
