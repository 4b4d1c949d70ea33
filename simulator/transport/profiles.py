"""Phone-OS front ends: what the operating system between an app and the card does.

The WebSocket bridge (`simulator.transport.bridge`) hands every tap and every command APDU of
a session to one profile. A profile decides, like the phone's NFC stack would, whether a tag
is seen at all (`tap`: the interface, ATR, UID and size limit the app gets, or `NoTag`), and
for each command whether it reaches the card, is answered by the OS itself (a binary R-APDU
the card never sees), or fails in the app with an error (`Refused`: the contract's error
codes). The facts are those of /work/shared/docs/phone-path.md (sections cited per class);
the wire contract is docs/phone/bridge-protocol.md.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from simulator.transport.contactless import new_pupi

# The five My Number card applications (phone-path.md, scope; jpki-card-reference.md section 2).
MY_NUMBER_AIDS: tuple[bytes, ...] = tuple(
    bytes.fromhex(aid)
    for aid in (
        "D392F000260100000001",  # JPKI
        "D3921000310001010408",  # 券面事項入力補助 (text)
        "D3921000310001010402",  # 券面 (surface)
        "D3921000310001010401",  # 住基
        "D3921000310001010100",  # common
    )
)
SHORT_MAX = 261  # IsoDep.getMaxTransceiveLength() without extended-length support (section 2.1)
EXTENDED_MAX = 65544  # 4 header + 3 Lc + 65535 data + 2 Le: the largest ISO 7816-4 command
HCE_ATR = bytes.fromhex("3B80800101")  # a PC/SC reader's ATR for an HCE phone (section 2.3)
TECHNOLOGIES = frozenset({"A", "B", "F", "V"})  # NFC technologies a reader may poll
INTERFACES = ("contact", "contactless-a", "contactless-b")
OS_ANSWER_UNKNOWN = bytes.fromhex("6F00")  # AOSP HostEmulationManager.UNKNOWN_ERROR
OS_ANSWER_NO_AID = bytes.fromhex("6A82")  # AOSP HostEmulationManager.AID_NOT_FOUND
ANDROID_HCE_AID = bytes.fromhex("A000000476416E64726F6964484345")
ANDROID_HCE_ANSWER = bytes.fromhex("148100009000")  # AOSP ANDROID_HCE_RESPONSE


class Refused(Exception):  # noqa: N818 - the app's call fails: an error frame, not a bug
    """The command fails in the app before (or instead of) reaching the card: the bridge
    answers with an error frame carrying `code` (the contract's error codes)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NoTag(Exception):  # noqa: N818 - an outcome: the reader never sees a tag
    """The reader would never discover this tag: the bridge sends the `no-tag` error."""


@dataclass(frozen=True)
class Reader:
    """What the hello says about the reading side (the phone and its app)."""

    polling: frozenset[str] = frozenset({"A", "B"})  # technologies the reader polls
    extended: bool = False  # the reading device carries extended-length APDUs
    aids: tuple[bytes, ...] | None = None  # iOS select-identifiers / HCE registered AIDs


@dataclass(frozen=True)
class Presence:
    """What the app learns about a tag on discovery (the contract's card frame)."""

    interface: str
    atr: bytes
    uid: bytes | None
    max_transceive: int
    extended: bool
    initial_selected_aid: bytes | None = None


class CardLink(Protocol):
    """The card of a session as a profile sees it (the bridge traces every call)."""

    @property
    def atr(self) -> bytes:
        """The card's own ATR (its persona's)."""
        ...

    @property
    def interface(self) -> str:
        """The card's own interface: one of INTERFACES."""
        ...

    @property
    def contactless_atr(self) -> bytes:
        """The ATR a PC/SC part-3 reader builds from this card's ATQB (Type B)."""
        ...

    def transmit(self, apdu: bytes, *, by_os: bool = False) -> bytes:
        """Send a command to the card; `by_os`: the OS itself sends it (iOS's SELECTs)."""
        ...

    def os_answer(self, apdu: bytes, response: bytes) -> bytes:
        """Record that the OS answered `apdu` itself with `response`, and return it."""
        ...


def select_aid(apdu: bytes, *, min_length: int = 1) -> bytes | None:
    """The AID of a SELECT by DF name (`00 A4 04 P2 Lc AID ...`), or None for anything else.
    Lc from 80 up is not an AID length (AOSP reads it as a negative Java byte)."""
    if len(apdu) < 5 or apdu[0] != 0x00 or apdu[1] != 0xA4 or apdu[2] != 0x04:
        return None
    length = apdu[4]
    if length >= 0x80 or len(apdu) < 5 + length or length < min_length:
        return None
    return apdu[5 : 5 + length]


class Profile:
    """One front end, one instance per session. `tap` on every discovery (hello, insert),
    `transceive` for every command APDU, `reset` on a warm reset."""

    name: ClassVar[str]
    needs_aids: ClassVar[bool] = False  # the hello must list AIDs
    uses_aids: ClassVar[bool] = False  # the hello's AID list means something

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.presence: Presence | None = None

    # -- discovery -------------------------------------------------------------------

    def tap(self, card: CardLink) -> Presence:
        """A new tap of a freshly powered card: what the app sees, or NoTag."""
        presence = self.present(card)
        letter = {"contactless-a": "A", "contactless-b": "B"}.get(presence.interface)
        if letter is not None and letter not in self.reader.polling:
            polled = "+".join(sorted(self.reader.polling)) or "nothing"
            raise NoTag(
                f"the tag answers only NFC-{letter} and the reader polls {polled}: "
                "it is never discovered"
            )
        presence = self.discovered(card, presence)
        self.presence = presence
        return presence

    def present(self, card: CardLink) -> Presence:
        raise NotImplementedError

    def discovered(self, card: CardLink, presence: Presence) -> Presence:
        """What the OS does right after discovery (iOS: its automatic SELECTs)."""
        return presence

    def reset(self) -> None:
        """A warm reset of the card (the OS's own state is kept unless a profile says so)."""

    # -- commands --------------------------------------------------------------------

    def transceive(self, apdu: bytes, card: CardLink) -> bytes:
        """The response the app gets (card or OS), or Refused with the app's error."""
        if len(apdu) < 4:
            raise Refused("malformed", f"{len(apdu)}-byte command: an APDU has at least 4 bytes")
        limit = self.presence.max_transceive if self.presence else EXTENDED_MAX
        if len(apdu) > limit:
            raise Refused(
                "transceive-too-long",
                f"{len(apdu)}-byte command exceeds the {limit}-byte transceive limit"
                + ("" if self.reader.extended else " (hello extended=false)"),
            )
        return self.exchange(apdu, card)

    def exchange(self, apdu: bytes, card: CardLink) -> bytes:
        return card.transmit(apdu)

    def _limit(self) -> tuple[int, bool]:
        return (EXTENDED_MAX, True) if self.reader.extended else (SHORT_MAX, False)


def _contactless_uid(interface: str) -> bytes | None:
    if interface == "contactless-b":
        return new_pupi()
    if interface == "contactless-a":
        return b"\x08" + secrets.token_bytes(3)  # random UID (ISO 14443-3: first byte 08)
    return None


class RawProfile(Profile):
    """Nothing between the app and the card: the persona's own interface and ATR, no size
    limit below the largest extended APDU (65544 bytes), every command to the card."""

    name = "raw"

    def present(self, card: CardLink) -> Presence:
        interface = card.interface
        atr = card.contactless_atr if interface == "contactless-b" else card.atr
        return Presence(interface, atr, _contactless_uid(interface), EXTENDED_MAX, True)


class AndroidIsoDepProfile(Profile):
    """An Android app reading the real card (ISO 14443 Type B) with `IsoDep`
    (phone-path.md section 2.1-2.2).

    - The card answers only NFC-B: an app whose `enableReaderMode` flags lack
      `FLAG_READER_NFC_B` never discovers it (polling without "B": no-tag).
    - `IsoDep.getMaxTransceiveLength()` is 261 unless the device config raises it and
      `isExtendedLengthApduSupported()` says so (AOSP commit 5d5dd8a; hello extended=true:
      65544); a longer `transceive` throws IOException ("transceive-too-long").
    - UID: the PUPI from ATQB, random on every tap; ATR: the contactless ATR a PC/SC reader
      builds from the ATQB (the persona's contactless ATR, by default the first of
      `contactless.TYPE_B_ATRS`). Every command reaches the card unchanged.
    """

    name = "android-isodep"

    def present(self, card: CardLink) -> Presence:
        limit, extended = self._limit()
        return Presence("contactless-b", card.contactless_atr, new_pupi(), limit, extended)


class AndroidHceProfile(Profile):
    """The card presented by an Android phone with host card emulation (HCE), as
    ACardEmulator-style apps do (phone-path.md sections 0.2-0.3, 1.1, 2.1, 2.3).

    - HCE is ISO-DEP over NFC-A only (AOSP `hce.jd`, RoutingManager): interface
      contactless-a, a reader polling without "A" never sees it (no-tag); a PC/SC reader shows
      ATR 3B 80 80 01 01 (nfc-pcsc issue 65); the UID is random per tap, first byte 08.
    - AOSP `HostEmulationManager.onHostEmulationData`: a SELECT by AID is `00 A4 04 P2 Lc`
      with an AID of at least 5 bytes (`findSelectAid`). Until one resolves to a registered
      AID, any other command gets `6F00` from the OS ("Dropping non-select APDU in
      STATE_W4_SELECT"). A SELECT of an AID no service registered gets `6A82` from the OS,
      at any time, and the active service stays; the HCE AID A0000004 76416E64726F6964484345
      is answered `14 81 00 00 90 00` by the OS. The card sees none of these.
    - Registered AIDs: the hello's `aids`, by default the five My Number AIDs; exact match.
    - The reading side caps commands at 261 bytes unless it carries extended APDUs.
    - A warm reset (control frame) counts as a new activation: SELECT first again.
    """

    name = "android-hce"
    uses_aids = True

    def __init__(self, reader: Reader) -> None:
        super().__init__(reader)
        self.registered = frozenset(reader.aids if reader.aids else MY_NUMBER_AIDS)
        self.active = False  # STATE_XFER: a registered AID was selected in this tap

    def present(self, card: CardLink) -> Presence:
        self.active = False
        limit, extended = self._limit()
        return Presence(
            "contactless-a", HCE_ATR, _contactless_uid("contactless-a"), limit, extended
        )

    def reset(self) -> None:
        self.active = False

    def exchange(self, apdu: bytes, card: CardLink) -> bytes:
        aid = select_aid(apdu, min_length=5)
        if aid is not None:
            if aid == ANDROID_HCE_AID:
                return card.os_answer(apdu, ANDROID_HCE_ANSWER)
            if aid not in self.registered:
                return card.os_answer(apdu, OS_ANSWER_NO_AID)
            self.active = True
            return card.transmit(apdu)
        if not self.active:
            return card.os_answer(apdu, OS_ANSWER_UNKNOWN)
        return card.transmit(apdu)


class IosCoreNfcProfile(Profile):
    """An iPhone app reading the card with `NFCTagReaderSession(pollingOption: .iso14443)`
    (phone-path.md section 3).

    - It polls ISO 14443 A and B, and on discovery sends a SELECT for each AID of the app's
      `com.apple.developer.nfc.readersession.iso7816.select-identifiers`, in order; the first
      answered 9000 becomes `initialSelectedAID`; if none is, the app never hears of the tag
      (no-tag). The exact SELECT form is not public (section 8, question 1): the bridge sends
      `00 A4 04 00 Lc AID` without Le, traced as sent by the OS.
    - A SELECT by AID of an AID not in the list fails in the app with "Missing required
      entitlement" (react-native-nfc-manager 272, flutter_nfc_kit 172): error
      "missing-entitlement", the card never sees it.
    - Interface: the real card (Type B, PUPI random per tap, contactless ATR); commands
      capped at 261 bytes unless the hello says extended.
    """

    name = "ios-corenfc"
    needs_aids = True
    uses_aids = True

    def __init__(self, reader: Reader) -> None:
        super().__init__(reader)
        self.aids: tuple[bytes, ...] = reader.aids or ()

    def present(self, card: CardLink) -> Presence:
        limit, extended = self._limit()
        return Presence("contactless-b", card.contactless_atr, new_pupi(), limit, extended)

    def discovered(self, card: CardLink, presence: Presence) -> Presence:
        for aid in self.aids:
            response = card.transmit(b"\x00\xa4\x04\x00" + bytes([len(aid)]) + aid, by_os=True)
            if response[-2:] == b"\x90\x00":
                return Presence(
                    presence.interface, presence.atr, presence.uid, presence.max_transceive,
                    presence.extended, aid,
                )  # fmt: skip
        raise NoTag(
            f"none of the {len(self.aids)} listed AIDs answered 9000 to the automatic SELECT: "
            "iOS does not report the tag"
        )

    def exchange(self, apdu: bytes, card: CardLink) -> bytes:
        if not apdu[0] & 0x80 and apdu[1] == 0xA4 and apdu[2] == 0x04:
            body = apdu[5 : 5 + apdu[4]] if len(apdu) > 4 else b""
            if body not in self.aids:
                raise Refused(
                    "missing-entitlement",
                    f"SELECT of AID {body.hex().upper() or '(none)'}, which is not in the "
                    "app's select-identifiers list",
                )
        return card.transmit(apdu)


PROFILES: dict[str, type[Profile]] = {
    profile.name: profile
    for profile in (RawProfile, AndroidIsoDepProfile, AndroidHceProfile, IosCoreNfcProfile)
}


def make_profile(name: str, reader: Reader) -> Profile:
    """A fresh profile for one session; ValueError names the known ones."""
    profile = PROFILES.get(name)
    if profile is None:
        raise ValueError(f"unknown profile {name!r}; profiles: {', '.join(PROFILES)}")
    if profile.needs_aids and not reader.aids:
        raise ValueError(f"profile {name} needs 'aids': the app's select-identifier list")
    return profile(reader)


def profile_names() -> Sequence[str]:
    return tuple(PROFILES)
