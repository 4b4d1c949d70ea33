"""The signature faults of a served card: `empty` (a bare 9000, no signature bytes) and
`other-key` (the signature the card's other JPKI key makes over the same data); in-process
(slot 0 talks to a fake vpcd peer; no pcscd), through the control endpoint and `mynasim ctl`."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_control_endpoint as endpoint
import test_slot_controls as controls
import test_trace_and_options as traces
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from simulator import VirtualCard
from simulator.card.other_key import other_key_signature
from simulator.personalization.persona import Persona
from simulator.service.slot import CardSlot, make_fault

# fixtures of the neighbouring tests: the control endpoint, the fake vpcd, slots 0 and 1
server = endpoint.server
port = endpoint.port
vpcd = traces.vpcd
slots = controls.slots
link = controls.link
seen_by_card = controls.seen_by_card
trace_path = controls.trace_path
request = endpoint.request
arm = controls.arm
events = controls.events
login = controls.login
SIGN = controls.SIGN
DIGEST = controls.DIGEST
SELECT_JPKI = controls.SELECT_JPKI


def verifies(certificate: bytes | None, signature: bytes) -> bool:
    """Whether `signature` is the PKCS#1 v1.5 signature of DIGEST under the certificate."""
    assert certificate is not None
    key = x509.load_der_x509_certificate(certificate).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(signature, DIGEST, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    except Exception:
        return False
    return True


def sign_with_password(link: traces.MiniVpcd, persona: Persona) -> None:
    """Select JPKI, VERIFY the signing password, select the signature key: ready for SIGN."""
    assert link.exchange(SELECT_JPKI) == b"\x90\x00"
    assert link.exchange(bytes.fromhex("00A4020C02001B")) == b"\x90\x00"
    password = persona.sign_pin.value
    assert link.exchange(bytes([0, 0x20, 0, 0x80, len(password)]) + password) == b"\x90\x00"
    assert link.exchange(bytes.fromhex("00A4020C02001A")) == b"\x90\x00"


# -- empty -----------------------------------------------------------------------------------


def test_empty_answers_a_bare_9000(
    link: traces.MiniVpcd,
    port: int,
    slots: list[CardSlot],
    seen_by_card: list[bytes],
    default_persona: Persona,
    trace_path: Path,
) -> None:
    login(link, default_persona)
    body = arm(port, ins="sign", kind="empty")
    assert body["faults"] == [{"ins": "2A", "kind": "empty", "remaining": 1}]
    assert link.exchange(SIGN) == b"\x90\x00"
    assert len(seen_by_card[-1]) == 258  # the card did sign
    assert "fault: empty on INS 2A" in events(trace_path)
    assert slots[0].status()["faults"] == []
    assert verifies(default_persona.auth.certificate, link.exchange(SIGN)[:-2])  # used up


def test_empty_leaves_an_answer_without_data_alone(
    link: traces.MiniVpcd, port: int, trace_path: Path
) -> None:
    arm(port, ins="A4", kind="empty")
    assert link.exchange(SELECT_JPKI) == b"\x90\x00"
    assert "fault: empty on INS A4 not applicable (no data): unchanged" in events(trace_path)


# -- other-key -------------------------------------------------------------------------------


def test_other_key_answers_the_signature_key_for_a_login(
    link: traces.MiniVpcd,
    port: int,
    seen_by_card: list[bytes],
    default_persona: Persona,
    trace_path: Path,
) -> None:
    login(link, default_persona)  # the authentication key 0017, after its PIN only
    arm(port, ins="2A", kind="other-key")
    answer = link.exchange(SIGN)
    truth = seen_by_card[-1]
    assert len(answer) == 258 and answer[-2:] == b"\x90\x00" and answer != truth
    assert verifies(default_persona.sign.certificate, answer[:-2])
    assert not verifies(default_persona.auth.certificate, answer[:-2])
    assert verifies(default_persona.auth.certificate, truth[:-2])
    assert "fault: other-key on INS 2A" in events(trace_path)


def test_other_key_answers_the_authentication_key_for_a_signature(
    link: traces.MiniVpcd, port: int, default_persona: Persona
) -> None:
    sign_with_password(link, default_persona)  # the signature key 001A
    arm(port, ins="2A", kind="other-key")
    answer = link.exchange(SIGN)
    assert len(answer) == 258 and answer[-2:] == b"\x90\x00"
    assert verifies(default_persona.auth.certificate, answer[:-2])
    assert not verifies(default_persona.sign.certificate, answer[:-2])


def test_other_key_leaves_a_refused_signature_alone(
    link: traces.MiniVpcd, port: int, slots: list[CardSlot], trace_path: Path
) -> None:
    assert link.exchange(SELECT_JPKI) == b"\x90\x00"
    assert link.exchange(bytes.fromhex("00A4020C020017")) == b"\x90\x00"
    arm(port, ins="2A", kind="other-key")
    assert link.exchange(SIGN) == b"\x69\x82"  # no PIN: the card refused, nothing to swap
    assert "fault: other-key on INS 2A not applicable (no data): unchanged" in events(trace_path)
    assert slots[0].status()["faults"] == []


def test_other_key_signature_needs_the_jpki_key_just_used(default_persona: Persona) -> None:
    card = VirtualCard(default_persona)
    card.power_on()
    assert other_key_signature(card, SIGN) is None  # no application selected
    card.transmit(SELECT_JPKI)
    card.transmit(bytes.fromhex("00A4020C02000A"))  # a certificate, not a key
    assert other_key_signature(card, SIGN) is None
    card.transmit(bytes.fromhex("00A4020C020017"))
    assert other_key_signature(card, bytes.fromhex("00B0000004")) is None  # not a signature
    assert other_key_signature(card, SIGN[:3]) is None  # no command at all
    signature = other_key_signature(card, SIGN)  # no PIN needed: the fault plays a bad card
    assert signature is not None and verifies(default_persona.sign.certificate, signature)


# -- arming ----------------------------------------------------------------------------------


def test_other_key_is_for_compute_digital_signature_only(port: int, slots: list[CardSlot]) -> None:
    status, answer = request(port, "POST", "/cards/0/faults", {"ins": "B0", "kind": "other-key"})
    assert status == 400
    assert answer["error"] == (
        "bad fault request: other-key is for COMPUTE DIGITAL SIGNATURE (ins 2A) only, not for "
        "ins B0: it answers with the other JPKI key's signature"
    )
    assert slots[0].status()["faults"] == []
    with pytest.raises(ValueError, match="other-key is for COMPUTE DIGITAL SIGNATURE"):
        make_fault(0xA4, "other-key")
    for kind in ("empty", "other-key"):
        with pytest.raises(ValueError, match=f"length is for truncate faults only, not for {kind}"):
            make_fault(0x2A, kind, length=3)


def test_ctl_fault_arms_empty_and_other_key(
    port: int, slots: list[CardSlot], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = endpoint.ctl(capsys, port, "fault", "--ins", "sign", "--empty")
    assert (code, err) == (0, "")
    assert "  fault armed on INS 2A: empty (1 more time)" in out.splitlines()
    arguments = ("fault", "--ins", "2A", "--other-key", "--skip", "1")
    code, out, err = endpoint.ctl(capsys, port, *arguments)
    assert (code, err) == (0, "")
    assert (
        "  fault armed on INS 2A: other-key (1 more time, after 1 more matching command)"
        in out.splitlines()
    )
    assert [f["kind"] for f in slots[0].status()["faults"]] == ["empty", "other-key"]
    code, out, err = endpoint.ctl(capsys, port, "fault", "--ins", "B0", "--other-key")
    assert (code, out) == (2, "")
    assert "other-key is for COMPUTE DIGITAL SIGNATURE (ins 2A) only, not for ins B0" in err


def test_ctl_fault_help_lists_the_new_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.cli import main

    with pytest.raises(SystemExit):
        main(["ctl", "fault", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--empty answer 90 00 alone: no data at all" in text
    assert "--other-key INS 2A only: answer the signature the OTHER JPKI key" in text
    with pytest.raises(SystemExit) as exited:
        main(["ctl", "--control", "127.0.0.1:1", "fault", "--ins", "2A", "--empty", "--flip"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
