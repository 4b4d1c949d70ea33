"""What the fuzzer knows about a card, written from the reference, not read from the card.

`CardFacts.of(persona)` builds, from a persona and `jpki-card-reference.md` (sections 2,
3.1-3.5, 4.1, 15.5) plus the choices in `simulator/BEHAVIOUR.md`:

- every application with its EFs: kind (transparent, record, PIN, key, blocked key) and the
  credentials that open it (None: never readable; empty: free);
- every PIN: its application, key reference, state key, right value and retry limit;
- whether a re-SELECT of the current application clears its security status (section 4.3:
  no, unless the persona's ``[card] reselect_clears_status``);
- the file contents the card serves (so that a PIN value inside a certificate's UTCTime
  is told apart from a leaked PIN);
- the secrets that must never leave the card: 16-byte windows of every private key's d, p,
  q, dp, dq, qinv and of its PKCS#8 DER, and the public keys (a signature is not a leak).

Nothing here looks inside a VirtualCard: the oracle stays independent of the model it checks.
(The one card-side helper used, the token-info layout builder of section 8, only tells which
bytes EF 0006 holds; access rules never come from the card.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from simulator.applets.token_info import build_token_info
from simulator.personalization.persona import Persona, PinSpec

WINDOW = 16  # a leak is any 16 consecutive bytes of a secret
FILLER_ROOM = 4096  # certificate EFs: DER then FF filler of an unknown length (section 3)
PHONE_TOKENS = frozenset({"JPKIAPGPSETOKEN", "JPKIAPIOSTOKEN"})  # section 3.1, 12

JPKI_AID = bytes.fromhex("D392F000260100000001")
TEXT_AID = bytes.fromhex("D3921000310001010408")
SURFACE_AID = bytes.fromhex("D3921000310001010402")
JUKI_AID = bytes.fromhex("D3921000310001010401")
COMMON_AID = bytes.fromhex("D3921000310001010100")
ISD_AID = bytes.fromhex("A0000001510000")
MY_NUMBER_AIDS = (JPKI_AID, TEXT_AID, SURFACE_AID, JUKI_AID, COMMON_AID)
UNKNOWN_EF_CONTENT = b"\xff" * 16  # text 0008, surface 0006, JPKI 0009 (section 3.2, 3.3)


class Kind(Enum):
    BINARY = "binary"
    RECORD = "record"
    PIN = "pin"
    KEY = "key"
    BLOCKED = "blocked"  # a key reference blocked for good (text 0012)


@dataclass(frozen=True)
class Ef:
    """An EF of an application. `needs`: the key references of which any one opens it
    (empty: free; None: never readable/usable by any cardholder credential)."""

    fid: int
    kind: Kind
    needs: frozenset[int] | None = frozenset()
    content: bytes = b""  # transparent EFs (filler allowance included) or record 1..n joined
    records: tuple[bytes, ...] = ()

    @property
    def sfi(self) -> int:
        return self.fid & 0x1F

    @property
    def protected(self) -> bool:
        return self.needs is None or bool(self.needs)


@dataclass(frozen=True)
class PinFact:
    key: str  # the state key, e.g. "jpki/0018"
    app: str
    ref: int
    spec: PinSpec = field(repr=False)

    @property
    def value(self) -> bytes:
        return self.spec.value

    @property
    def max_tries(self) -> int:
        return self.spec.max_tries


@dataclass(frozen=True)
class App:
    name: str
    aid: bytes
    efs: dict[int, Ef]
    pins: dict[int, PinFact]  # by key reference (= PIN EF FID)
    change_ins: tuple[int, int] | None  # (CLA, INS) that changes PINs here, if any

    def ef_by_sfi(self, sfi: int) -> Ef | None:
        for ef in self.efs.values():
            if ef.sfi == sfi:
                return ef
        return None


@dataclass(frozen=True)
class KeyMaterial:
    name: str
    key: rsa.RSAPrivateKey = field(repr=False)


@dataclass
class CardFacts:
    persona: Persona = field(repr=False)
    apps: dict[bytes, App]
    mf_objects: dict[int, bytes]
    keys: tuple[KeyMaterial, ...] = field(repr=False)
    secret_windows: frozenset[bytes] = field(repr=False)
    public_numbers: tuple[tuple[int, int], ...] = field(repr=False)  # (n, e) of each key
    public_contents: tuple[bytes, ...] = field(repr=False)  # files readable with no credential
    clean_contents: tuple[bytes, ...] = field(repr=False)  # contents holding no secret window

    @classmethod
    def of(cls, persona: Persona) -> CardFacts:
        apps = _apps(persona)
        mf_objects = {} if persona.card_info is None else dict(persona.card_info.mf_objects)
        keys = _keys(persona)
        windows = frozenset(w for k in keys for w in _secret_windows(k.key))
        publics = [
            ef.content for app in apps.values() for ef in app.efs.values() if not ef.protected
        ]
        publics += list(mf_objects.values())
        contents = [ef.content for app in apps.values() for ef in app.efs.values() if ef.content]
        contents += list(mf_objects.values())
        clean = tuple(c for c in contents if not any(w in windows for w in _all_windows(c)))
        return cls(
            persona=persona,
            apps=apps,
            mf_objects=mf_objects,
            keys=keys,
            secret_windows=windows,
            public_numbers=tuple(
                (k.key.public_key().public_numbers().n, k.key.public_key().public_numbers().e)
                for k in keys
            ),
            public_contents=tuple(c for c in publics if c),
            clean_contents=clean,
        )

    @property
    def name(self) -> str:
        return self.persona.name

    @property
    def reselect_clears_status(self) -> bool:
        """Section 4.3: a re-SELECT of the current application keeps its security status,
        unless the persona's [card] reselect_clears_status says it clears it."""
        return self.persona.reselect_clears_status

    def pins(self) -> list[PinFact]:
        return [pin for app in self.apps.values() for pin in app.pins.values()]

    def app_by_name(self, name: str) -> App | None:
        for app in self.apps.values():
            if app.name == name:
                return app
        return None

    def all_contents(self) -> list[bytes]:
        """Every file content and GET DATA object the card serves, protected ones too."""
        out = [ef.content for app in self.apps.values() for ef in app.efs.values() if ef.content]
        return out + list(self.mf_objects.values())


def _cert(fid: int, der: bytes, needs: frozenset[int] = frozenset()) -> Ef:
    return Ef(fid, Kind.BINARY, needs, der + b"\xff" * FILLER_ROOM)


def _flags(persona: Persona) -> bytes:
    """EF 0008: 8F per certificate present (sign, auth), then 00 (section 3.1)."""
    return (
        bytes(
            0x8F if present else 0x00
            for present in (
                persona.sign.certificate is not None,
                persona.auth.certificate is not None,
            )
        )
        + b"\x00"
    )


def _jpki(persona: Persona) -> App:
    auth_needs = frozenset({0x18}) if persona.token_label in PHONE_TOKENS else frozenset()
    efs = [
        _cert(0x0002, persona.sign.ca_certificate),
        _cert(0x000B, persona.auth.ca_certificate),
        Ef(
            0x0006,
            Kind.BINARY,
            frozenset(),
            build_token_info(persona.token_label, persona.token_serial),
        ),
        Ef(0x0008, Kind.BINARY, frozenset(), _flags(persona)),
        Ef(0x0009, Kind.BINARY, None, UNKNOWN_EF_CONTENT),
        Ef(0x0018, Kind.PIN, None),
        Ef(0x001B, Kind.PIN, None),
    ]
    if persona.sign.certificate is not None:
        efs += [_cert(0x0001, persona.sign.certificate, frozenset({0x1B}))]
        efs += [Ef(0x001A, Kind.KEY, frozenset({0x1B}))]
    if persona.auth.certificate is not None:
        efs += [_cert(0x000A, persona.auth.certificate, auth_needs)]
        efs += [Ef(0x0017, Kind.KEY, frozenset({0x18}))]
    pins = {
        0x18: PinFact("jpki/0018", "JPKI", 0x18, persona.auth_pin),
        0x1B: PinFact("jpki/001B", "JPKI", 0x1B, persona.sign_pin),
    }
    return App("JPKI", JPKI_AID, {ef.fid: ef for ef in efs}, pins, (0x00, 0x24))


def _card_info_apps(persona: Persona) -> list[App]:
    info = persona.card_info
    if info is None:
        return []
    text, surface, registry = info.text, info.surface, info.registry
    pin, pin_a, pin_b = 0x11, 0x14, 0x15
    text_efs = [
        Ef(0x0001, Kind.BINARY, frozenset({pin, pin_a}), text.my_number),
        Ef(0x0002, Kind.BINARY, frozenset({pin, pin_b}), text.basic_four),
        Ef(0x0003, Kind.BINARY, frozenset({pin, pin_a, pin_b}), text.integrity),
        Ef(0x0004, Kind.BINARY, frozenset(), text.cv_certificate),
        Ef(0x0005, Kind.BINARY, frozenset(), text.basic_info),
        Ef(0x0006, Kind.BINARY, frozenset({pin, pin_a, pin_b}), text.session_key),
        Ef(0x0007, Kind.BINARY, frozenset({pin, pin_a, pin_b}), text.ap_key_record),
        Ef(0x0008, Kind.BINARY, frozenset(), UNKNOWN_EF_CONTENT),
        Ef(0x0011, Kind.PIN, None),
        Ef(0x0012, Kind.BLOCKED, None),
        Ef(0x0013, Kind.KEY, frozenset()),
        Ef(0x0014, Kind.PIN, None),
        Ef(0x0015, Kind.PIN, None),
    ]
    text_pins = {
        pin: PinFact("text/0011", "text", pin, text.pin),
        pin_a: PinFact("text/0014", "text", pin_a, text.pin_a),
        pin_b: PinFact("text/0015", "text", pin_b, text.pin_b),
    }
    birth, s_b, s_a = 0x11, 0x12, 0x13
    surface_efs = [
        Ef(0x0001, Kind.BINARY, frozenset({birth}), surface.age_record),
        Ef(0x0002, Kind.BINARY, frozenset({s_a, s_b}), surface.card_face),
        Ef(0x0003, Kind.BINARY, frozenset(), surface.basic_info),
        Ef(0x0004, Kind.BINARY, frozenset(), surface.cv_certificate),
        Ef(0x0005, Kind.BINARY, frozenset({s_a}), surface.my_number_image),
        Ef(0x0006, Kind.BINARY, frozenset({s_a, s_b}), UNKNOWN_EF_CONTENT),
        Ef(0x0011, Kind.PIN, None),
        Ef(0x0012, Kind.PIN, None),
        Ef(0x0013, Kind.PIN, None),
        Ef(0x001A, Kind.KEY, frozenset()),
    ]
    surface_pins = {
        birth: PinFact("surface/0011", "surface", birth, surface.birth_key),
        s_b: PinFact("surface/0012", "surface", s_b, surface.pin_b),
        s_a: PinFact("surface/0013", "surface", s_a, surface.pin_a),
    }
    key_ref = Ef(
        0x0002, Kind.RECORD, frozenset(), registry.key_reference, (registry.key_reference,)
    )
    common_efs = [
        Ef(0x0001, Kind.RECORD, frozenset(), registry.common_record, (registry.common_record,)),
        key_ref,
        Ef(0x0019, Kind.KEY, frozenset()),
        Ef(0x001C, Kind.PIN, None),
    ]
    juki_efs = [key_ref, Ef(0x001C, Kind.PIN, None)]
    return [
        App("text", TEXT_AID, {e.fid: e for e in text_efs}, text_pins, (0x00, 0x24)),
        App("surface", SURFACE_AID, {e.fid: e for e in surface_efs}, surface_pins, None),
        App(
            "common",
            COMMON_AID,
            {e.fid: e for e in common_efs},
            {0x1C: PinFact("common/001C", "common", 0x1C, registry.common_pin)},
            (0x80, 0x32),
        ),
        App(
            "juki",
            JUKI_AID,
            {e.fid: e for e in juki_efs},
            {0x1C: PinFact("juki/001C", "juki", 0x1C, registry.juki_pin)},
            (0x80, 0x32),
        ),
    ]


def _apps(persona: Persona) -> dict[bytes, App]:
    apps = [_jpki(persona), *_card_info_apps(persona)]
    return {app.aid: app for app in apps}


def _keys(persona: Persona) -> tuple[KeyMaterial, ...]:
    keys: list[KeyMaterial] = []
    for name, key in (("auth", persona.auth.private_key), ("sign", persona.sign.private_key)):
        if key is not None:
            keys.append(KeyMaterial(name, key))
    if persona.card_info is not None:
        keys.append(KeyMaterial("text", persona.card_info.text.ap_key))
        keys.append(KeyMaterial("surface", persona.card_info.surface.ap_key))
        keys.append(KeyMaterial("common", persona.card_info.registry.internal_auth_key))
    return tuple(keys)


def _be(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def windows(secret: bytes, size: int = WINDOW) -> set[bytes]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def _all_windows(content: bytes) -> Iterator[bytes]:
    return (content[i : i + WINDOW] for i in range(len(content) - WINDOW + 1))


def _secret_windows(key: rsa.RSAPrivateKey) -> set[bytes]:
    """16-byte windows of d, p, q, dp, dq, qinv and of the PKCS#8 DER from d onwards (the
    DER before d is the public modulus and exponent, which certificates carry)."""
    numbers = key.private_numbers()
    parts = [numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp]
    out: set[bytes] = set()
    for part in parts:
        out |= windows(_be(part))
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    d = _be(numbers.d)
    start = der.find(d)
    if start < 0:  # pragma: no cover - d is always in the DER
        raise ValueError("private exponent not found in the PKCS#8 encoding")
    out |= windows(der[max(0, start - WINDOW // 2) :])
    return out
