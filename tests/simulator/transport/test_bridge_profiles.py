"""What public clients send, replayed through every front-end profile of the bridge.

The APDU scripts are those of jpki-card-reference.md sections 5-6 (OpenSC card-jpki.c with
the foreign-AID probes of the drivers OpenSC tries first, jpki/myna, TRET, nfcpy_mynacard,
a card-info reader with its MF-level GET DATA). Each command's answer through a profile must
be the card's own answer (a reference VirtualCard fed the same commands) except where the
phone OS answers or refuses itself (phone-path.md sections 2-3): android-hce's 6F00 before
the first SELECT and 6A82 for unregistered AIDs, ios-corenfc's automatic SELECT and its
missing-entitlement refusal, the 261-byte transceive limit. The phone tokens (personas
android and ios) show EF 000A only after VERIFY of the auth PIN, and sign through every
profile with a signature that verifies against the certificate.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from bridge_helpers import (
    COMMON_AP,
    JPKI,
    JUKI_AP,
    SURFACE_AP,
    TEXT_AP,
    TRET_AIDS,
    running_bridge,
    send_json,
    session,
    sw,
    tx,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from websockets.sync.client import ClientConnection

from simulator.card import VirtualCard

PROFILES = ("raw", "android-isodep", "android-hce", "ios-corenfc")
MY_NUMBER_AIDS = [JPKI, TEXT_AP, SURFACE_AP, JUKI_AP, COMMON_AP]
SELECT_JPKI = "00A4040C0A" + JPKI
ISD_SELECT = "00A4040C07A0000001510000"  # GlobalPlatform ISD
PIV_PROBE = "00A404000BA00000030800001000010000"  # OpenSC's PIV driver probe
OPENPGP_PROBE = "00A4040006D2760001240100"  # OpenSC's OpenPGP driver probe
SHA256_PREFIX = bytes.fromhex("3031300D060960864801650304020105000420")

CLIENTS: dict[str, list[str]] = {
    # OpenSC: foreign-AID probes of the earlier drivers, then card-jpki.c's match, the
    # 4-byte length read of EF 000A, chunked READ BINARY, PIN info (empty VERIFY) on 0018
    "opensc": [
        PIV_PROBE, OPENPGP_PROBE, SELECT_JPKI, "00A4020C02000A", "00B0000004",
        "00B00000FF", "00B000FF00", "00A4020C020018", "00200080", "00A4020C02001B",
        "00200080",
    ],
    # jpki/myna (Rust): token label, 7-byte header read, the rest from offset 7
    "jpki-myna": [
        SELECT_JPKI, "00A4020C020006", "00B0000020", "00A4020C02000A", "00B0000007",
        "00B0000700", "00B0010700",
    ],
    # a card-info reader: MF-level GET DATA right after the tap, the ISD SELECT, then the
    # text AP (PIN status query, no value sent)
    "card-info": [
        "00CA5F5100", ISD_SELECT, "00CA004500", "00A4040C0A" + TEXT_AP, "00A4020C020011",
        "00200080", "00A4040C0A" + SURFACE_AP, "00A4020C020013", "00200080",
    ],
    # TRET (iOS): token read of 20 bytes and the PIN status of JPKI and 住基
    "tret": [
        SELECT_JPKI, "00A4020C020006", "00B0000014", "00A4020C020018", "00200080",
        "00A4040C0A" + COMMON_AP, "00A4020C02001C", "00200080",
    ],
    # nfcpy_mynacard: the whole certificate in one extended-Le READ BINARY
    "nfcpy": [SELECT_JPKI, "00A4020C02000A", "00B00000000000"],
}  # fmt: skip


def _select_aid(apdu: bytes) -> bytes | None:
    """The AID of a SELECT by AID as AOSP's findSelectAid sees it (at least 5 bytes)."""
    if len(apdu) < 10 or apdu[:3] != b"\x00\xa4\x04" or apdu[4] >= 0x80:
        return None
    return apdu[5 : 5 + apdu[4]] if len(apdu) >= 5 + apdu[4] else None


class Oracle:
    """What the app must get through a profile: the OS's own answer or refusal where the
    OS acts, else what a reference card (same persona, same commands) answers."""

    def __init__(self, profile: str, persona: str, aids: list[str]) -> None:
        self.profile = profile
        self.aids = [bytes.fromhex(aid) for aid in aids]
        self.card = VirtualCard.from_persona(persona, strict=False)
        self.card.power_on()
        self.hce_active = False
        if profile == "ios-corenfc":  # the automatic SELECT of the listed AIDs
            for aid in self.aids:
                if self.card.transmit(b"\x00\xa4\x04\x00" + bytes([len(aid)]) + aid)[-2:] == (
                    b"\x90\x00"
                ):
                    break

    def expect(self, apdu: bytes) -> str:
        if self.profile == "android-hce":
            aid = _select_aid(apdu)
            if aid is not None and aid not in self.aids:
                return "6A82"
            if aid is not None:
                self.hce_active = True
            elif not self.hce_active:
                return "6F00"
        if self.profile == "ios-corenfc" and apdu[1:3] == b"\xa4\x04":
            if apdu[5 : 5 + apdu[4]] not in self.aids:
                return "error:missing-entitlement"
        return self.card.transmit(apdu).hex().upper()


def _answer(answer: bytes | dict[str, Any]) -> str:
    return answer.hex().upper() if isinstance(answer, bytes) else f"error:{answer['code']}"


def _hello_fields(profile: str, aids: list[str]) -> dict[str, Any]:
    return {"aids": aids} if profile in ("ios-corenfc", "android-hce") else {}


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with running_bridge(tmp_path_factory.mktemp("profiles")) as server:
        yield server


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_public_client_flows(bridge: Any, client: str, profile: str) -> None:
    aids = TRET_AIDS if client == "tret" else MY_NUMBER_AIDS
    oracle = Oracle(profile, "default", aids)
    with session(bridge.url, profile, **_hello_fields(profile, aids)) as (ws, card):
        if profile == "ios-corenfc":
            assert card["initial_selected_aid"] == aids[0]
        got = [_answer(tx(ws, apdu)) for apdu in CLIENTS[client]]
    expected = [oracle.expect(bytes.fromhex(apdu)) for apdu in CLIENTS[client]]
    assert got == expected


def test_os_level_answers_the_card_never_sees(bridge: Any) -> None:
    """The named facts, explicitly: HCE's 6F00 and 6A82, iOS's refusal."""
    with session(bridge.url, "android-hce") as (ws, _card):
        assert sw(tx(ws, "00CA5F5100")) == "6F00"  # MF GET DATA before any SELECT
        assert sw(tx(ws, ISD_SELECT)) == "6A82"  # not registered
        assert sw(tx(ws, "00CA5F5100")) == "6F00"  # still waiting for a SELECT
        assert sw(tx(ws, "00A4040C04D392F000")) == "6F00"  # a 4-byte AID is no SELECT to AOSP
        assert sw(tx(ws, SELECT_JPKI)) == "9000"
        assert sw(tx(ws, ISD_SELECT)) == "6A82"  # at any time; the JPKI AP stays selected
        assert sw(tx(ws, "00A4020C02000A")) == "9000"
        assert tx(ws, "00A404000FA000000476416E64726F6964484345") == bytes.fromhex(
            "148100009000"
        )  # the Android HCE AID: answered by the OS
    with session(bridge.url, "android-hce", aids=[TEXT_AP]) as (ws, _card):
        assert sw(tx(ws, SELECT_JPKI)) == "6A82"  # only the text AP registered
        assert sw(tx(ws, "00A4040C0A" + TEXT_AP)) == "9000"
    with session(bridge.url, "ios-corenfc", aids=[TEXT_AP, JPKI]) as (ws, card):
        assert card["initial_selected_aid"] == TEXT_AP
        assert sw(tx(ws, PIV_PROBE)) == "error:missing-entitlement"
        assert sw(tx(ws, ISD_SELECT)) == "error:missing-entitlement"
        assert sw(tx(ws, "00A4040C0A" + SURFACE_AP)) == "error:missing-entitlement"
        assert sw(tx(ws, SELECT_JPKI)) == "9000"
    with session(bridge.url, "ios-corenfc", aids=["A0000000031010", JPKI]) as (_ws, card):
        assert card["initial_selected_aid"] == JPKI  # the first listed AID answering 9000


@pytest.mark.parametrize("profile", PROFILES)
def test_extended_apdus_and_the_transceive_limit(bridge: Any, profile: str) -> None:
    """An extended command (SET SESSION KEY with a 256-byte cryptogram, 263 bytes) fails in
    the app on a 261-byte phone path and reaches the card when the hello says extended."""
    long_apdu = bytes.fromhex("80AE0000000100") + bytes(256)
    assert len(long_apdu) == 263
    for extended in (False, True):
        aids = [TEXT_AP, JPKI]
        fields = {**_hello_fields(profile, aids), "extended": extended}
        with session(bridge.url, profile, **fields) as (ws, card):
            assert sw(tx(ws, "00A4040C0A" + TEXT_AP)) == "9000"
            answer = tx(ws, long_apdu)
            if profile != "raw" and not extended:
                assert card["max_transceive"] == 261
                assert sw(answer) == "error:transceive-too-long"
                assert sw(tx(ws, bytes(4) + bytes(257))) != "error:transceive-too-long"  # 261
            else:
                assert card["max_transceive"] == 65544
                assert isinstance(answer, bytes)  # the card's own answer
                reference = VirtualCard.from_persona("default", strict=False)
                reference.power_on()
                reference.transmit(bytes.fromhex("00A4040C0A" + TEXT_AP))
                assert answer == reference.transmit(long_apdu)
            too_long = bytes(4) + bytes(65541)
            assert sw(tx(ws, too_long)) == "error:transceive-too-long"  # 65545 > 65544


# ------------------------------------------------------------------------ phone tokens


def _read_ef(ws: ClientConnection, fid: str) -> tuple[str, bytes]:
    """Select an EF and read it whole the OpenSC way (4-byte DER header, then 256-byte
    chunks): (status word of the first read, the data)."""
    assert sw(tx(ws, "00A4020C02" + fid)) == "9000"
    head = tx(ws, "00B0000004")
    assert isinstance(head, bytes)
    if head[-2:] != b"\x90\x00":
        return head[-2:].hex().upper(), b""
    size = int.from_bytes(head[2:4], "big") + 4
    data = bytearray()
    while len(data) < size:
        chunk = tx(ws, "00B0" + len(data).to_bytes(2, "big").hex() + "00")
        assert isinstance(chunk, bytes) and chunk[-2:] == b"\x90\x00", chunk
        data += chunk[:-2]
    return "9000", bytes(data[:size])


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(
    ("persona", "label"), [("android", "JPKIAPGPSETOKEN"), ("ios", "JPKIAPIOSTOKEN")]
)
def test_phone_token_through_the_profile(
    bridge: Any, profile: str, persona: str, label: str
) -> None:
    aids = [JPKI]
    with session(bridge.url, profile, persona=persona, **_hello_fields(profile, aids)) as (
        ws,
        card,
    ):
        assert card["persona"] == persona
        assert sw(tx(ws, SELECT_JPKI)) == "9000"
        assert sw(tx(ws, "00A4020C020006")) == "9000"
        token = tx(ws, "00B0000020")
        assert isinstance(token, bytes) and token[:-2].rstrip(b" \x00").decode() == label
        assert _read_ef(ws, "000A")[0] == "6982"  # the auth certificate is behind the PIN
        assert sw(tx(ws, "00A4020C020018")) == "9000"
        assert sw(tx(ws, "002000800431323334")) == "9000"
        status, der = _read_ef(ws, "000A")
        assert status == "9000"
        certificate = x509.load_der_x509_certificate(der)
        message = f"bridge {profile} {persona}".encode()
        digest_info = SHA256_PREFIX + hashlib.sha256(message).digest()
        assert sw(tx(ws, "00A4020C020017")) == "9000"
        signature = tx(ws, "802A0080" + f"{len(digest_info):02X}" + digest_info.hex() + "00")
        assert isinstance(signature, bytes) and signature[-2:] == b"\x90\x00"
        key = certificate.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        key.verify(signature[:-2], message, padding.PKCS1v15(), hashes.SHA256())
        # a new tap forgets the PIN: the certificate is hidden again
        assert send_json(ws, {"type": "insert"})["type"] == "card"
        assert sw(tx(ws, SELECT_JPKI)) == "9000"
        assert _read_ef(ws, "000A")[0] == "6982"


def test_report_of_a_phone_token_session(tmp_path: Path) -> None:
    with running_bridge(tmp_path) as server:
        with session(server.url, "ios-corenfc", persona="ios", aids=TRET_AIDS) as (ws, card):
            tx(ws, "00A4020C020018")
            tx(ws, "002000800431323334")
    html = tmp_path / "reports" / f"{card['session']}.html"
    deadline = time.monotonic() + 10
    while not html.exists():  # written when the server has seen the connection end
        assert time.monotonic() < deadline, "no HTML report"
        time.sleep(0.05)
    text = html.read_text()
    assert "ios-corenfc" in text and "00 20 00 80 04 ** ** ** **" in text
    assert "31 32 33 34" not in text and "phone OS &gt;" in text  # the automatic SELECT
