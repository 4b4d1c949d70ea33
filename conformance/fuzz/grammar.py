"""The action grammar shared by every fuzzing mode.

One grammar, three drivers: a `Chooser` answers "an integer in [low, high]" and "n bytes",
from `random.Random` (random mode), from hypothesis draws (hypothesis mode: shrinkable), or
from `atheris.FuzzedDataProvider` (coverage-guided). The grammar reads the fuzzer's model of
the card (`SessionModel`: selected application, PIN values in force) to aim at deep states:
select an application, VERIFY with the right value, read a protected EF, sign, then clear
the status and probe again.

Choices are ordered simplest first, so that hypothesis shrinks towards the first entries.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from conformance.fuzz.actions import POWER_CYCLE, RESET, Action, apdu
from conformance.fuzz.facts import ISD_AID, MY_NUMBER_AIDS, App, CardFacts, Kind, PinFact
from conformance.fuzz.invariants import SessionModel

T = TypeVar("T")


class Chooser(Protocol):
    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high] (low <= high)."""
        ...

    def raw(self, size: int) -> bytes:
        """Exactly `size` bytes."""
        ...


# ------------------------------------------------------------------------------- pools

FOREIGN_AIDS = (
    bytes.fromhex("A000000308"),  # PIV
    bytes.fromhex("D27600012401"),  # OpenPGP
    bytes.fromhex("A00000000101"),  # MUSCLE
    bytes.fromhex("A000000063504B43532D3135"),  # PKCS#15
    bytes.fromhex("A000000151"),  # the GP RID alone (not the ISD)
    bytes.fromhex("A000000151000000"),  # 8-byte GP AID
    bytes.fromhex("D392F0002601"),  # partial JPKI AID
)
SPECIAL_FIDS = (0x3F00, 0x2F10, 0x2F11, 0x001E, 0x0005, 0x0010, 0x0016, 0x0019, 0x001C, 0xFFFF)
ODD_CLAS = (
    0x01, 0x02, 0x03, 0x04, 0x08, 0x0C, 0x10, 0x20, 0x40, 0x41, 0x4F, 0x60, 0x7F,
    0x81, 0x84, 0x88, 0x8C, 0x90, 0xA0, 0xC0, 0xE0, 0xFE, 0xFF,
)  # fmt: skip
KNOWN_INS = frozenset(
    (0xA4, 0xB0, 0xB2, 0x20, 0x24, 0x2A, 0x88, 0x84, 0xCA, 0x32, 0xAE, 0xA2, 0xFC, 0xC0)
)
UNKNOWN_INS = tuple(ins for ins in range(256) if ins not in KNOWN_INS)
MF_TAGS = (0x5F51, 0x0042, 0x0045, 0x0066, 0x00F0, 0x00F2, 0x00F7, 0x00F8, 0x7F21, 0x0000, 0xFFFF)
SHORT_LES = (256, 1, 4, 7, 17, 0x20, 0xFF)
EXTENDED_LES = (65536, 256, 257, 0x800, 0x1000, 0xFFFF)
OFFSETS = (0, 1, 4, 7, 0x10, 0xFF, 0x100, 0x101, 0x600, 0x7FF, 0x800, 0x801, 0x7FFF)
DIGEST_INFO_PREFIXES = (
    bytes.fromhex("3031300d060960864801650304020105000420"),  # SHA-256
    bytes.fromhex("3021300906052b0e03021a05000414"),  # SHA-1
    bytes.fromhex("302d300d06096086480165030402040500041c"),  # SHA-224
    bytes.fromhex("3041300d060960864801650304020205000430"),  # SHA-384
    bytes.fromhex("3051300d060960864801650304020305000440"),  # SHA-512
    bytes.fromhex("302f300b0609608648016503040201" + "0420"),  # SHA-256, no NULL
)
DIGEST_SIZES = (32, 20, 28, 48, 64, 32)
KEY_FIDS = {"JPKI": (0x0017, 0x001A), "text": (0x0013,), "surface": (0x001A,), "common": (0x0019,)}
PIN_ALPHABETS = (b"0123456789", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

# ---------------------------------------------------------------------------- choosers


class RandomChooser:
    """Choices from `random.Random` (random mode: fast, reproducible by seed)."""

    def __init__(self, rng: random.Random) -> None:
        self._random = rng.random
        self._bytes = rng.randbytes

    def integer(self, low: int, high: int) -> int:
        return low + int(self._random() * (high - low + 1))

    def raw(self, size: int) -> bytes:
        return self._bytes(size)


class ProviderChooser:
    """Choices from an `atheris.FuzzedDataProvider` (or anything with its two methods);
    once the input is used up, every choice is the simplest one."""

    def __init__(self, provider: Any) -> None:
        self._provider = provider

    def integer(self, low: int, high: int) -> int:
        return int(self._provider.ConsumeIntInRange(low, high))

    def raw(self, size: int) -> bytes:
        data = bytes(self._provider.ConsumeBytes(size))
        return data + bytes(size - len(data))

    def remaining(self) -> int:
        return int(self._provider.remaining_bytes())


# ----------------------------------------------------------------------------- helpers


def pick(chooser: Chooser, items: Sequence[T]) -> T:
    return items[chooser.integer(0, len(items) - 1)]


def weighted(chooser: Chooser, table: Sequence[tuple[int, T]]) -> T:
    total = sum(weight for weight, _ in table)
    point = chooser.integer(0, total - 1)
    for weight, item in table:
        if point < weight:
            return item
        point -= weight
    return table[-1][1]  # pragma: no cover - unreachable


def chance(chooser: Chooser, percent: int) -> bool:
    """True with `percent` % probability; shrinks to False."""
    return chooser.integer(0, 99) >= 100 - percent


def some_bytes(chooser: Chooser, low: int, high: int) -> bytes:
    return chooser.raw(chooser.integer(low, high))


def _apps(facts: CardFacts) -> list[App]:
    return list(facts.apps.values())


def _app(chooser: Chooser, model: SessionModel) -> App:
    """The selected application mostly, else any the card carries."""
    if model.app is not None and not chance(chooser, 15):
        return model.app
    return pick(chooser, _apps(model.facts))


def le_field(chooser: Chooser) -> tuple[int | None, bool]:
    """(Le, extended): short values mostly, extended and none sometimes."""
    shape = weighted(chooser, ((70, "short"), (15, "extended"), (10, "none"), (5, "random")))
    if shape == "short":
        return pick(chooser, SHORT_LES), False
    if shape == "extended":
        return pick(chooser, EXTENDED_LES), True
    if shape == "none":
        return None, False
    return chooser.integer(1, 256), False


# ----------------------------------------------------------------------- commands


def select_by_aid(chooser: Chooser, model: SessionModel) -> bytes:
    kind = weighted(
        chooser, ((60, "mine"), (10, "isd"), (10, "foreign"), (15, "mutated"), (5, "random"))
    )
    if kind == "mine":
        aid = pick(chooser, MY_NUMBER_AIDS)
    elif kind == "isd":
        aid = ISD_AID
    elif kind == "foreign":
        aid = pick(chooser, FOREIGN_AIDS)
    elif kind == "mutated":
        aid = _mutate(chooser, pick(chooser, MY_NUMBER_AIDS))
    else:
        aid = some_bytes(chooser, 0, 17)
    p2 = weighted(chooser, ((85, 0x0C), (10, 0x00), (5, -1)))
    if p2 < 0:
        p2 = chooser.integer(0, 255)
    le = 256 if p2 == 0x00 and chance(chooser, 50) else None
    return apdu(0x00, 0xA4, 0x04, p2, aid, le)


def _mutate(chooser: Chooser, value: bytes) -> bytes:
    how = chooser.integer(0, 3)
    if how == 0:
        return value[: chooser.integer(0, len(value) - 1)]
    if how == 1:
        return value + chooser.raw(1)
    index = chooser.integer(0, len(value) - 1)
    flipped = value[index] ^ (1 << chooser.integer(0, 7))
    return value[:index] + bytes((flipped,)) + value[index + 1 :]


def select_ef(chooser: Chooser, model: SessionModel) -> bytes:
    kind = weighted(chooser, ((75, "known"), (15, "special"), (10, "random")))
    if kind == "known":
        fid = pick(chooser, sorted(_app(chooser, model).efs))
    elif kind == "special":
        fid = pick(chooser, SPECIAL_FIDS)
    else:
        fid = chooser.integer(0, 0xFFFF)
    p1 = weighted(chooser, ((90, 0x02), (5, 0x00), (5, -1)))
    if p1 < 0:
        p1 = chooser.integer(0, 255)
    p2 = weighted(chooser, ((85, 0x0C), (10, 0x00), (5, -1)))
    if p2 < 0:
        p2 = chooser.integer(0, 255)
    data = fid.to_bytes(2, "big")
    if chance(chooser, 5):
        data = some_bytes(chooser, 0, 4)
    return apdu(0x00, 0xA4, p1, p2, data, 256 if p2 == 0x00 and chance(chooser, 30) else None)


def _sfi(chooser: Chooser, model: SessionModel) -> int:
    if chance(chooser, 80):
        return pick(chooser, sorted(_app(chooser, model).efs)) & 0x1F
    return chooser.integer(0, 31)


def read_binary(chooser: Chooser, model: SessionModel) -> bytes:
    le, extended = le_field(chooser)
    if chance(chooser, 30):  # SFI form: P1 = 80|SFI, P2 = offset
        p1 = 0x80 | _sfi(chooser, model)
        if chance(chooser, 5):
            p1 |= 0x20 << chooser.integer(0, 1)
        p2 = pick(chooser, (0, 1, 7, 0xFF, chooser.integer(0, 255)))
    else:
        offset = pick(chooser, (*OFFSETS, chooser.integer(0, 0x7FFF)))
        p1, p2 = offset >> 8, offset & 0xFF
    data = some_bytes(chooser, 1, 4) if chance(chooser, 3) else b""
    return apdu(0x00, 0xB0, p1, p2, data, le, extended=extended)


def read_record(chooser: Chooser, model: SessionModel) -> bytes:
    record = pick(chooser, (1, 2, 0, 0xFF, chooser.integer(0, 255)))
    mode = weighted(chooser, ((80, 0x04), (10, 0x05), (10, -1)))
    if mode < 0:
        mode = chooser.integer(0, 7)
    sfi = _sfi(chooser, model) if chance(chooser, 50) else 0
    le, extended = le_field(chooser)
    return apdu(0x00, 0xB2, record, (sfi << 3) | mode, b"", le, extended=extended)


def _pin(chooser: Chooser, model: SessionModel) -> PinFact | None:
    app = _app(chooser, model)
    pins = list(app.pins.values())
    if not pins:
        return None
    current = [pin for pin in pins if pin.ref in model.current]
    if current and chance(chooser, 70):
        return pick(chooser, current)
    return pick(chooser, pins)


def _wrong_value(chooser: Chooser, right: bytes) -> bytes:
    how = chooser.integer(0, 4)
    alphabet = pick(chooser, PIN_ALPHABETS)
    if how == 0:  # same length, other characters
        value = bytes(pick(chooser, alphabet) for _ in right)
        return value if value != right else value[:-1] + (b"0" if right[-1:] != b"0" else b"1")
    if how == 1:
        return right[:-1]
    if how == 2:
        return right + bytes((pick(chooser, alphabet),))
    if how == 3:
        return right.lower() if right.lower() != right else right[::-1]
    return some_bytes(chooser, 1, 17)


def verify(chooser: Chooser, model: SessionModel) -> bytes:
    pin = _pin(chooser, model)
    ref = pin.ref if pin is not None else chooser.integer(0, 31)
    p2 = 0x80 if chance(chooser, 50) else 0x80 | ref
    if chance(chooser, 3):
        p2 = chooser.integer(0, 255)
    p1 = chooser.integer(0, 255) if chance(chooser, 3) else 0x00
    right = model.values.get(pin.key, b"") if pin is not None else b""
    kind = weighted(chooser, ((35, "right"), (30, "wrong"), (15, "query"), (15, "odd"), (5, "le")))
    if kind == "right" and right:
        return apdu(0x00, 0x20, p1, p2, right)
    if kind == "query":
        return apdu(0x00, 0x20, p1, p2)
    if kind == "le":
        return apdu(0x00, 0x20, p1, p2, b"", 256)
    if kind == "odd":
        return apdu(0x00, 0x20, p1, p2, some_bytes(chooser, 1, 20))
    return apdu(0x00, 0x20, p1, p2, _wrong_value(chooser, right or b"0000"))


def change_reference_data(chooser: Chooser, model: SessionModel) -> bytes:
    pin = _pin(chooser, model)
    ref = pin.ref if pin is not None else chooser.integer(0, 31)
    p2 = 0x80 if chance(chooser, 50) else 0x80 | ref
    app = model.app or _app(chooser, model)
    cla, ins = app.change_ins or (0x00, 0x24)
    if chance(chooser, 20):
        cla, ins = pick(chooser, ((0x00, 0x24), (0x80, 0x32)))
    p1 = 0x01 if ins == 0x24 else 0x00
    if chance(chooser, 5):
        p1 = chooser.integer(0, 255)
    kind = weighted(chooser, ((60, "valid"), (30, "invalid"), (10, "odd")))
    right = model.values.get(pin.key, b"1234") if pin is not None else b"1234"
    if kind == "valid":
        alphabet = PIN_ALPHABETS[1] if right[:1].isalpha() or len(right) > 4 else PIN_ALPHABETS[0]
        new = bytes(pick(chooser, alphabet) for _ in range(max(4, len(right))))
    elif kind == "invalid":
        new = _wrong_value(chooser, right)
    else:
        new = some_bytes(chooser, 0, 20)
    return apdu(cla, ins, p1, p2, new)


def sign_data(chooser: Chooser) -> bytes:
    kind = weighted(chooser, ((55, "digest_info"), (15, "hash"), (15, "raw"), (15, "edge")))
    if kind == "digest_info":
        index = chooser.integer(0, len(DIGEST_INFO_PREFIXES) - 1)
        digest = hashlib.sha512(chooser.raw(4)).digest()[: DIGEST_SIZES[index]]
        return DIGEST_INFO_PREFIXES[index] + digest
    if kind == "hash":
        return hashlib.sha256(chooser.raw(4)).digest()
    if kind == "raw":
        return some_bytes(chooser, 0, 64)
    return chooser.raw(pick(chooser, (0, 1, 31, 33, 245, 246, 255, 256, 300)))


def compute_digital_signature(chooser: Chooser, model: SessionModel) -> bytes:
    app = _app(chooser, model)
    keys = KEY_FIDS.get(app.name, (0x0017,))
    p2 = weighted(chooser, ((45, 0x80), (35, -1), (15, 0x00), (5, -2)))
    if p2 == -1:
        p2 = 0x80 | (pick(chooser, keys) & 0x1F)
    elif p2 == -2:
        p2 = chooser.integer(0, 255)
    p1 = weighted(chooser, ((60, 0x00), (30, -1), (10, -2)))
    p1 = chooser.integer(1, 5) if p1 == -1 else chooser.integer(6, 255) if p1 == -2 else p1
    data = sign_data(chooser)
    le = weighted(chooser, ((80, 256), (10, 0), (10, 65536)))
    return apdu(0x80, 0x2A, p1, p2, data, le or None, extended=le == 65536)


def internal_authenticate(chooser: Chooser, model: SessionModel) -> bytes:
    app = _app(chooser, model)
    keys = KEY_FIDS.get(app.name, (0x0019,))
    p2 = 0x80 | (pick(chooser, keys) & 0x1F) if chance(chooser, 70) else 0x80
    if chance(chooser, 5):
        p2 = chooser.integer(0, 255)
    p1 = chooser.integer(0, 255) if chance(chooser, 5) else 0x00
    challenge = chooser.raw(pick(chooser, (8, 16, 32, 1, 0, 255, 256, chooser.integer(0, 300))))
    return apdu(0x00, 0x88, p1, p2, challenge, 256 if chance(chooser, 60) else None)


def get_challenge(chooser: Chooser, model: SessionModel) -> bytes:
    p1p2 = 0 if chance(chooser, 90) else chooser.integer(0, 0xFFFF)
    le, extended = le_field(chooser)
    data = some_bytes(chooser, 1, 3) if chance(chooser, 3) else b""
    return apdu(0x00, 0x84, p1p2 >> 8, p1p2 & 0xFF, data, le, extended=extended)


def get_data(chooser: Chooser, model: SessionModel) -> bytes:
    tag = pick(chooser, MF_TAGS) if chance(chooser, 85) else chooser.integer(0, 0xFFFF)
    le, extended = le_field(chooser)
    cla = 0x80 if chance(chooser, 5) else 0x00
    return apdu(cla, 0xCA, tag >> 8, tag & 0xFF, b"", le, extended=extended)


def other_proprietary(chooser: Chooser, model: SessionModel) -> bytes:
    """SET SESSION KEY, SET PUBLIC IC KEY, the last-command indicator, GET RESPONSE."""
    kind = chooser.integer(0, 3)
    if kind == 0:
        return apdu(0x80, 0xAE, 0x00, 0x00, some_bytes(chooser, 0, 300), extended=True)
    if kind == 1:
        return apdu(0x80, 0xA2, chooser.integer(0, 255), chooser.integer(0, 255), chooser.raw(307))
    if kind == 2:
        return apdu(0x80, 0xFC, 0x00, 0x00)
    return apdu(0x00, 0xC0, 0x00, 0x00, b"", chooser.integer(1, 256))


COMMANDS: dict[str, Callable[[Chooser, SessionModel], bytes]] = {
    "select_by_aid": select_by_aid,
    "select_ef": select_ef,
    "read_binary": read_binary,
    "read_record": read_record,
    "verify": verify,
    "change_reference_data": change_reference_data,
    "compute_digital_signature": compute_digital_signature,
    "internal_authenticate": internal_authenticate,
    "get_challenge": get_challenge,
    "get_data": get_data,
    "other_proprietary": other_proprietary,
}


def odd_cla(chooser: Chooser, model: SessionModel) -> bytes:
    """A command of the grammar with a CLA of another class, channel or secure messaging."""
    command = pick(chooser, list(COMMANDS.values()))(chooser, model)
    return bytes((pick(chooser, ODD_CLAS),)) + command[1:]


def unknown_ins(chooser: Chooser, model: SessionModel) -> bytes:
    cla = pick(chooser, (0x00, 0x80))
    ins = pick(chooser, UNKNOWN_INS)
    data = some_bytes(chooser, 0, 8)
    le = 256 if chance(chooser, 50) else None
    return apdu(cla, ins, chooser.integer(0, 255), chooser.integer(0, 255), data, le)


def raw_bytes(chooser: Chooser, model: SessionModel | None = None) -> bytes:
    """0-300 bytes: random, or an extended-length shape whose fields may not add up."""
    shape = weighted(chooser, ((40, "random"), (30, "extended"), (30, "short")))
    if shape == "random":
        return some_bytes(chooser, 0, 300)
    head = chooser.raw(4)
    if shape == "extended":
        declared = pick(chooser, (0, 1, 2, 255, 256, 0xFFFF, chooser.integer(0, 0xFFFF)))
        body = some_bytes(chooser, 0, 290)
        le = chooser.raw(pick(chooser, (0, 2, 1, 3)))
        return head + b"\x00" + declared.to_bytes(2, "big") + body + le
    lc = chooser.integer(0, 255)
    size = pick(chooser, (lc, lc + 1, max(0, lc - 1), chooser.integer(0, 260)))
    return head + bytes((lc,)) + chooser.raw(size)


def power_event(chooser: Chooser, model: SessionModel | None = None) -> str:
    return pick(chooser, (RESET, POWER_CYCLE))


# --------------------------------------------------------------------------- flows


def _protected(app: App) -> list[int]:
    return sorted(fid for fid, ef in app.efs.items() if ef.protected and ef.needs)


def unlock_flow(chooser: Chooser, model: SessionModel) -> list[Action]:
    """Select an application, VERIFY one of its PINs with the right value, then read an EF
    or use a key it opens (the deep states: protected data, signatures)."""
    app = pick(chooser, _apps(model.facts))
    pins = list(app.pins.values())
    if not pins:
        return [apdu(0x00, 0xA4, 0x04, 0x0C, app.aid)]
    pin = pick(chooser, pins)
    opened = [fid for fid in _protected(app) if pin.ref in (app.efs[fid].needs or ())]
    right = model.values.get(pin.key, pin.value)
    actions: list[Action] = [apdu(0x00, 0xA4, 0x04, 0x0C, app.aid)]
    if chance(chooser, 50):
        actions += [apdu(0x00, 0xA4, 0x02, 0x0C, pin.ref.to_bytes(2, "big"))]
        actions += [apdu(0x00, 0x20, 0x00, 0x80, right)]
    else:
        actions += [apdu(0x00, 0x20, 0x00, 0x80 | pin.ref, right)]
    actions += _use(chooser, app, opened)
    return actions


def _use(chooser: Chooser, app: App, fids: Sequence[int]) -> list[Action]:
    """Read or sign with one of `fids` (by SELECT + P2=80, or by SFI)."""
    if not fids:
        return []
    fid = pick(chooser, fids)
    ef = app.efs[fid]
    if ef.kind is Kind.KEY:
        data = DIGEST_INFO_PREFIXES[0] + hashlib.sha256(chooser.raw(4)).digest()
        if chance(chooser, 50):
            return [
                apdu(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big")),
                apdu(0x80, 0x2A, 0x00, 0x80, data, 256),
            ]
        return [apdu(0x80, 0x2A, 0x00, 0x80 | ef.sfi, data, 256)]
    if chance(chooser, 50):
        return [
            apdu(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big")),
            apdu(0x00, 0xB0, 0, 0, b"", 256),
        ]
    return [apdu(0x00, 0xB0, 0x80 | ef.sfi, 0x00, b"", 256)]


def probe_flow(chooser: Chooser, model: SessionModel) -> list[Action]:
    """Unlock, clear the status (application SELECT of the same or another AP, the ISD,
    reset, power cycle), then try the same protected object again: it must be refused."""
    actions = unlock_flow(chooser, model)
    app = next((a for a in _apps(model.facts) if a.aid == actions[0][5:]), None)
    event = weighted(chooser, ((40, "reselect"), (20, "isd"), (20, RESET), (20, POWER_CYCLE)))
    if event == "reselect":
        actions.append(apdu(0x00, 0xA4, 0x04, 0x0C, pick(chooser, MY_NUMBER_AIDS)))
    elif event == "isd":
        actions.append(apdu(0x00, 0xA4, 0x04, 0x0C, ISD_AID))
    else:
        actions.append(event)
    if app is not None:
        if event != "reselect" or chance(chooser, 50):
            actions.append(apdu(0x00, 0xA4, 0x04, 0x0C, app.aid))
        actions += _use(chooser, app, _protected(app))
    return actions


# ---------------------------------------------------------------------- the sequence

ACTION_WEIGHTS: tuple[tuple[int, str], ...] = (
    (10, "select_by_aid"),
    (15, "select_ef"),
    (14, "read_binary"),
    (4, "read_record"),
    (8, "verify"),
    (2, "change_reference_data"),
    (5, "compute_digital_signature"),
    (2, "internal_authenticate"),
    (2, "get_challenge"),
    (3, "get_data"),
    (1, "other_proprietary"),
    (3, "odd_cla"),
    (2, "unknown_ins"),
    (4, "raw_bytes"),
    (2, "power_event"),
    (4, "unlock_flow"),
    (3, "probe_flow"),
)

ALL: dict[str, Callable[[Chooser, SessionModel], Action | list[Action]]] = {
    **COMMANDS,
    "odd_cla": odd_cla,
    "unknown_ins": unknown_ins,
    "raw_bytes": raw_bytes,
    "power_event": power_event,
    "unlock_flow": unlock_flow,
    "probe_flow": probe_flow,
}


def next_actions(chooser: Chooser, model: SessionModel) -> list[Action]:
    """The next action(s) of a sequence, given what the model knows of the card."""
    produced = ALL[weighted(chooser, ACTION_WEIGHTS)](chooser, model)
    return produced if isinstance(produced, list) else [produced]
