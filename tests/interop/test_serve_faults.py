"""Persona switch and response faults of `mynasim serve`, seen through pcscd and pyscard."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from conformance.pcsc import open_reader
from conformance.stack import Pcscd, ServedCard, reader_name
from simulator import load_persona

Transmit = Callable[[bytes], bytes]
SELECT_JPKI = bytes.fromhex("00A4040C0AD392F000260100000001")
DIGEST = bytes.fromhex("5A" * 32)
DIGEST_INFO = bytes.fromhex("3031300D060960864801650304020105000420") + DIGEST
SIGN = bytes.fromhex("802A0080") + bytes([len(DIGEST_INFO)]) + DIGEST_INFO + b"\x00"
DELAY = 1.5


@pytest.fixture
def served(pcscd: Pcscd, tmp_path: Path) -> Iterator[ServedCard]:
    """The default persona in slot 0, with a trace (in memory state: nothing left behind)."""
    with ServedCard(["default"], tmp_path, trace=tmp_path / "trace.jsonl") as card:
        yield card


@pytest.fixture
def transmit(served: ServedCard) -> Iterator[Transmit]:
    connection, send, _ = open_reader(reader_name(0))
    yield send
    connection.disconnect()
    connection.release()


def auth_certificate(transmit: Transmit) -> bytes:
    """EF 000A read in 256-byte pieces (as OpenSC does), the filler cut off."""
    assert transmit(SELECT_JPKI) == b"\x90\x00"
    assert transmit(bytes.fromhex("00A4020C02000A")) == b"\x90\x00"
    head = transmit(bytes.fromhex("00B0000004"))
    assert head[-2:] == b"\x90\x00"
    size = int.from_bytes(head[2:4], "big") + 4
    der = b""
    while len(der) < size:
        chunk = min(256, size - len(der))
        response = transmit(bytes([0, 0xB0, len(der) >> 8, len(der) & 0xFF, chunk & 0xFF]))
        assert response[-2:] == b"\x90\x00"
        der += response[:-2]
    return der


def login(transmit: Transmit) -> None:
    """Select JPKI, VERIFY the auth PIN (1234), select the auth key: ready for SIGN."""
    assert transmit(SELECT_JPKI) == b"\x90\x00"
    assert transmit(bytes.fromhex("00A4020C020018")) == b"\x90\x00"
    assert transmit(bytes.fromhex("0020008004") + b"1234") == b"\x90\x00"
    assert transmit(bytes.fromhex("00A4020C020017")) == b"\x90\x00"


def verifies(signature: bytes) -> bool:
    certificate = load_persona("default").auth.certificate
    assert certificate is not None
    key = x509.load_der_x509_certificate(certificate).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(signature, DIGEST, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def trace_events(served: ServedCard) -> list[str]:
    assert served.trace is not None
    records = [json.loads(line) for line in served.trace.read_text().splitlines()]
    return [r["event"] for r in records if r["direction"] == "event"]


def test_switching_persona_shows_the_other_certificate(
    served: ServedCard, transmit: Transmit
) -> None:
    default, expired = load_persona("default"), load_persona("expired")
    assert auth_certificate(transmit) == default.auth.certificate
    status = served.ctl("POST", "/cards/0/persona", {"persona": "expired"})
    assert (status["persona"], status["inserted"], status["powered"]) == ("expired", True, True)
    assert auth_certificate(transmit) == expired.auth.certificate  # the same PC/SC connection
    cards = served.ctl("GET", "/status")["cards"]
    assert (cards[0]["persona"], cards[0]["connected"]) == ("expired", True)
    events = trace_events(served)
    assert "persona: expired" in events
    assert events.count("inserted") == 1 and "removed" not in events  # pcscd saw no removal


def test_a_delayed_signature_arrives_late_and_intact(
    served: ServedCard, transmit: Transmit
) -> None:
    login(transmit)
    served.ctl("POST", "/cards/0/faults", {"ins": "2A", "kind": "delay", "seconds": DELAY})
    started = time.monotonic()
    response = transmit(SIGN)
    elapsed = time.monotonic() - started
    assert elapsed >= DELAY
    assert response[-2:] == b"\x90\x00" and len(response) == 258
    assert verifies(response[:-2])
    assert f"fault: delay {DELAY:g} s on INS 2A" in trace_events(served)
    started = time.monotonic()
    assert transmit(SIGN)[-2:] == b"\x90\x00"  # the fault is used up
    assert time.monotonic() - started < DELAY


def test_a_flipped_signature_fails_and_the_next_one_verifies(
    served: ServedCard, transmit: Transmit
) -> None:
    login(transmit)
    status = served.ctl("POST", "/cards/0/faults", {"ins": "sign", "kind": "flip"})
    assert status["faults"] == [{"ins": "2A", "kind": "flip", "remaining": 1}]
    flipped = transmit(SIGN)
    assert flipped[-2:] == b"\x90\x00" and len(flipped) == 258
    assert not verifies(flipped[:-2])
    again = transmit(SIGN)  # PKCS#1 v1.5 is deterministic: the same signature, unflipped
    assert again[-2:] == b"\x90\x00"
    assert verifies(again[:-2])
    assert bytes(a ^ b for a, b in zip(flipped, again, strict=True)) == bytes(255) + b"\x01\0\0"
    assert served.ctl("GET", "/status")["cards"][0]["faults"] == []
