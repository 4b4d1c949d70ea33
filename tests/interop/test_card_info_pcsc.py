"""Issue 5 done-when, through pcscd: the basic 4 info and the My Number with the PIN and with
照合番号A/B, the card face with A or B, refusals with the reference's status words, and the
data verifying with the test issuer keys (conformance/card_info_verify.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from smartcard.System import readers

from conformance.card_info_verify import (
    verify_basic_four,
    verify_card_face,
    verify_cv_certificate,
    verify_my_number_ef,
)
from conformance.stack import Pcscd, ServedCard
from simulator.personalization import load_persona
from simulator.personalization.persona import fixtures_root

TEXT_AP = "D3921000310001010408"
SURFACE_AP = "D3921000310001010402"
JPKI_AP = "D392F000260100000001"


@pytest.fixture
def reader(pcscd: Pcscd, tmp_path: Path) -> Iterator[Any]:
    with ServedCard(["default"], tmp_path):
        connection = next(r for r in readers() if str(r) == "Virtual PCD 00 00").createConnection()
        connection.connect()
        yield connection
        connection.disconnect()
        connection.release()


def _test_key(name: str) -> rsa.RSAPublicKey:
    pem = (fixtures_root() / "pki" / "keys" / f"{name}.pem").read_bytes()
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key()


def tx(connection: Any, hex_apdu: str) -> tuple[bytes, int]:
    data, sw1, sw2 = connection.transmit(list(bytes.fromhex(hex_apdu)))
    return bytes(data), sw1 << 8 | sw2


def select(connection: Any, aid: str) -> None:
    assert tx(connection, f"00A4040C0A{aid}")[1] == 0x9000


def verify(connection: Any, fid: str, value: bytes) -> int:
    assert tx(connection, f"00A4020C02{fid}")[1] == 0x9000
    return tx(connection, f"00200080{len(value):02X}{value.hex()}")[1]


def read(connection: Any, fid: str) -> tuple[bytes, int]:
    assert tx(connection, f"00A4020C02{fid}")[1] == 0x9000
    return tx(connection, "00B00000000000")


def leave_and_return(connection: Any, aid: str) -> None:
    """Select another application and come back: that clears the status (reference §4.3;
    re-selecting the same application keeps it)."""
    select(connection, JPKI_AP)
    select(connection, aid)


def test_text_ap_with_the_pin_and_with_a_and_b(reader: Any) -> None:
    info = load_persona("default").card_info
    assert info is not None
    select(reader, TEXT_AP)
    assert read(reader, "0001") == (b"", 0x6982)
    assert verify(reader, "0011", b"1234") == 0x9000
    number, sw = read(reader, "0001")
    assert sw == 0x9000 and verify_my_number_ef(number).number == info.text.pin_a.value.decode()
    basic, sw = read(reader, "0002")
    assert sw == 0x9000 and verify_basic_four(basic).name == "試験　花子"
    select(reader, TEXT_AP)  # re-selecting the same application keeps the status (§4.3)
    assert read(reader, "0001")[1] == 0x9000
    leave_and_return(reader, TEXT_AP)  # another application and back: nothing verified
    assert read(reader, "0001") == (b"", 0x6982)
    assert verify(reader, "0014", info.text.pin_a.value) == 0x9000  # 照合番号A
    assert read(reader, "0001")[1] == 0x9000
    assert read(reader, "0002") == (b"", 0x6982)  # A does not open the basic 4 info
    leave_and_return(reader, TEXT_AP)
    assert verify(reader, "0015", info.text.pin_b.value) == 0x9000  # 照合番号B
    assert read(reader, "0002")[1] == 0x9000
    assert read(reader, "0001") == (b"", 0x6982)


def test_card_face_with_a_or_b(reader: Any) -> None:
    info = load_persona("default").card_info
    assert info is not None
    select(reader, SURFACE_AP)
    assert read(reader, "0002") == (b"", 0x6982)
    assert verify(reader, "0013", info.surface.pin_a.value) == 0x9000  # 照合番号A
    face, sw = read(reader, "0002")
    assert sw == 0x9000
    cv, sw = read(reader, "0004")  # the issuer's CV certificate, free to read
    issuer = verify_cv_certificate(cv, _test_key("cv-surface-ca")).subject_public_key
    assert verify_card_face(face, issuer).birth_date.isoformat() == "1985-08-20"
    assert read(reader, "0005")[1] == 0x9000  # the My Number image: A only
    leave_and_return(reader, SURFACE_AP)
    assert verify(reader, "0012", info.surface.pin_b.value) == 0x9000  # 照合番号B
    assert read(reader, "0002")[0] == face
    assert read(reader, "0005") == (b"", 0x6982)


def test_the_text_ap_pin_locks(reader: Any) -> None:
    select(reader, TEXT_AP)
    assert [verify(reader, "0011", b"9999") for _ in range(3)] == [0x63C2, 0x63C1, 0x63C0]
    assert verify(reader, "0011", b"1234") == 0x6984
    assert tx(reader, "00200080")[1] == 0x63C0
