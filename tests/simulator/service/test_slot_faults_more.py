"""More response faults of a served card: `skip` (target the n-th matching command), `der`,
`chain61` (61xx + GET RESPONSE answered by the slot), `wrong-le` (6Cxx), and the armed removal
with `skip`; in-process (slot 0 talks to a fake vpcd peer; no pcscd)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import test_control_endpoint as endpoint
import test_slot_controls as controls
import test_trace_and_options as traces

from simulator.cli import main
from simulator.personalization.persona import Persona
from simulator.service.slot import CardSlot, corrupt_der, der_length_octets

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
SELECT_JPKI = controls.SELECT_JPKI
READ_ALL = controls.READ_ALL
SELECT_AUTH_CERT = bytes.fromhex("00A4020C02000A")
READ_HEAD = bytes.fromhex("00B0000004")


def read(offset: int, length: int) -> bytes:
    return bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, length & 0xFF])


def get_response(le: int) -> bytes:
    return bytes([0x00, 0xC0, 0x00, 0x00, le & 0xFF])


def at_auth_certificate(link: traces.MiniVpcd) -> None:
    assert link.exchange(SELECT_JPKI) == b"\x90\x00"
    assert link.exchange(SELECT_AUTH_CERT) == b"\x90\x00"


# -- skip --------------------------------------------------------------------------------


def test_skip_targets_the_nth_matching_command(
    link: traces.MiniVpcd, port: int, slots: list[CardSlot], seen_by_card: list[bytes]
) -> None:
    at_auth_certificate(link)
    body = arm(port, ins="read-binary", kind="flip", skip=2)
    assert body["faults"] == [{"ins": "B0", "kind": "flip", "skip": 2, "remaining": 1}]
    answers = [link.exchange(read(256 * n, 0)) for n in range(4)]
    truth = seen_by_card[-4:]
    assert answers[0] == truth[0] and answers[1] == truth[1] and answers[3] == truth[3]
    assert answers[2] != truth[2] and answers[2][:-3] == truth[2][:-3]  # the 3rd: last bit
    assert answers[2][-3] == truth[2][-3] ^ 0x01
    assert slots[0].status()["faults"] == []


def test_skip_counts_down_in_the_status(link: traces.MiniVpcd, port: int) -> None:
    arm(port, ins="A4", kind="sw", sw="6A82", skip=2)
    assert link.exchange(SELECT_JPKI) == b"\x90\x00"
    faults = request(port, "GET", "/status")[1]["cards"][0]["faults"]
    assert faults == [{"ins": "A4", "kind": "sw", "sw": "6A82", "skip": 1, "remaining": 1}]
    assert link.exchange(SELECT_JPKI) == b"\x90\x00"
    assert link.exchange(SELECT_JPKI) == b"\x6a\x82"
    assert link.exchange(SELECT_JPKI) == b"\x90\x00"


def test_each_fault_counts_its_own_skip(link: traces.MiniVpcd, port: int) -> None:
    arm(port, ins="A4", kind="sw", sw="6A82")  # the 1st
    arm(port, ins="A4", kind="flip", skip=1)  # the 2nd: the 1st counted, though not its own
    arm(port, ins="A4", kind="sw", sw="6F00", skip=1, times=2)  # 2nd taken by flip: 3rd, 4th
    answers = [link.exchange(SELECT_JPKI) for _ in range(5)]
    assert answers == [b"\x6a\x82", b"\x90\x01", b"\x6f\x00", b"\x6f\x00", b"\x90\x00"]


def test_an_armed_removal_can_skip(
    link: traces.MiniVpcd, port: int, slots: list[CardSlot], trace_path: Path
) -> None:
    at_auth_certificate(link)
    status, body = request(port, "POST", "/cards/0/remove", {"ins": "B0", "skip": 1})
    assert status == 200 and body["armed_removal"] == {"ins": "B0", "when": "after", "skip": 1}
    assert link.exchange(READ_HEAD)[-2:] == b"\x90\x00"
    assert slots[0].status()["armed_removal"] == {"ins": "B0", "when": "after"}
    link.send(READ_HEAD)
    assert link.sock is not None and link.sock.recv(1) == b""  # the 2nd: torn
    assert "armed removal on INS B0 (after processing)" in events(trace_path)


@pytest.mark.parametrize("skip", [-1, 65536, 1.0, "1", True, None])
def test_bad_skips_are_400(port: int, slots: list[CardSlot], skip: Any) -> None:
    body = {"ins": "2A", "kind": "flip", "skip": skip}
    status, answer = request(port, "POST", "/cards/0/faults", body)
    assert status == 400 and "skip must be an integer 0-65535" in answer["error"]
    status, answer = request(port, "POST", "/cards/0/remove", {"ins": "2A", "skip": skip})
    assert status == 400 and "skip must be an integer 0-65535" in answer["error"]
    card = slots[0].status()
    assert (card["faults"], card["armed_removal"], card["inserted"]) == ([], None, True)


# -- der ---------------------------------------------------------------------------------


def test_der_breaks_the_outer_length_of_a_certificate(
    link: traces.MiniVpcd, port: int, seen_by_card: list[bytes], trace_path: Path
) -> None:
    at_auth_certificate(link)
    arm(port, ins="B0", kind="der", times=2)
    head = link.exchange(READ_HEAD)
    assert seen_by_card[-1][:2] == b"\x30\x82" and head == b"\x30\x82\xff\xff\x90\x00"
    whole = link.exchange(READ_ALL)
    truth = seen_by_card[-1]
    assert whole[:4] == b"\x30\x82\xff\xff" and whole[4:] == truth[4:]
    assert "fault: der on INS B0" in events(trace_path)


def test_der_inverts_the_first_byte_of_data_that_is_not_der(
    link: traces.MiniVpcd, port: int, seen_by_card: list[bytes], default_persona: Persona
) -> None:
    login(link, default_persona)
    arm(port, ins="sign", kind="der")
    signature = link.exchange(SIGN)
    truth = seen_by_card[-1]
    assert signature == bytes([truth[0] ^ 0xFF]) + truth[1:]


@pytest.mark.parametrize(
    ("data", "broken"),
    [
        ("30 82 06 6F 30 82", "30 82 FF FF 30 82"),
        ("30 81 90 02", "30 81 FF 02"),
        ("30 83 01 00 00 AA", "30 83 FF FF FF AA"),
        ("30 03 02 01 05", "30 7F 02 01 05"),
        ("31 7F 00", "31 7E 00"),
        ("A0 00", "A0 7F"),
        ("7F 21 82 01 00 AA", "7F 21 82 FF FF AA"),  # a two-byte tag (CV certificate)
        ("04 02 01 02", "FB 02 01 02"),  # primitive: not taken for a structure
        ("30 80 00 00", "CF 80 00 00"),  # indefinite length: not DER
        ("30 85 01 02 03 04 05", "CF 85 01 02 03 04 05"),
        ("30 82 01", "CF 82 01"),  # the length octets are cut off
        ("30", "CF"),
        ("FF FF FF", "00 FF FF"),  # filler
        ("4A 50 4B 49", "B5 50 4B 49"),  # "JPKI": text
    ],
)
def test_corrupt_der(data: str, broken: str) -> None:
    assert corrupt_der(bytes.fromhex(data)) == bytes.fromhex(broken)


def test_der_length_octets() -> None:
    assert der_length_octets(bytes.fromhex("30 82 06 6F")) == (1, 3)
    assert der_length_octets(bytes.fromhex("7F 4E 81 80")) == (2, 2)
    assert der_length_octets(bytes.fromhex("3F FF FF FF FF 01 00")) is None  # tag too long
    assert der_length_octets(b"") is None and corrupt_der(b"") == b""


# -- chain61 -------------------------------------------------------------------------------


def test_chain61_withholds_the_data_until_get_response(
    link: traces.MiniVpcd,
    port: int,
    slots: list[CardSlot],
    seen_by_card: list[bytes],
    default_persona: Persona,
    trace_path: Path,
) -> None:
    login(link, default_persona)
    arm(port, ins="2A", kind="chain61")
    assert link.exchange(SIGN) == b"\x61\x00"  # 256 bytes
    truth = seen_by_card[-1]
    processed = len(seen_by_card)
    status = slots[0].status()
    assert status["withheld"] == {"ins": "2A", "bytes": 256} and status["faults"] == []
    assert link.exchange(get_response(0)) == truth
    assert len(seen_by_card) == processed  # the card never saw the GET RESPONSE
    assert slots[0].status()["withheld"] is None
    assert link.exchange(get_response(0))[-2:] != b"\x90\x00"  # no chain: the card's answer
    assert "fault: chain61 on INS 2A" in events(trace_path)

    def responses_to_get_response() -> list[str | None]:
        records = traces.read_trace(trace_path)  # written just after each answer is sent
        pairs = itertools.pairwise(records)
        return [b["apdu"] for a, b in pairs if a.get("apdu") == "00 C0 00 00 00"]

    controls.wait_for(lambda: len(responses_to_get_response()) == 2)
    assert responses_to_get_response()[0] == truth.hex(" ").upper()  # the trace shows them


def test_chain61_gives_pieces_of_le_bytes(
    link: traces.MiniVpcd, port: int, seen_by_card: list[bytes]
) -> None:
    at_auth_certificate(link)
    arm(port, ins="B0", kind="chain61")
    assert link.exchange(read(0, 16)) == b"\x61\x10"
    truth = seen_by_card[-1]
    first = link.exchange(get_response(5))
    assert first == truth[:5] + b"\x61\x0b"
    second = link.exchange(get_response(0x0B))
    assert second == truth[5:16] + b"\x90\x00"


def test_chain61_over_256_bytes_says_00_until_the_last_piece(
    link: traces.MiniVpcd, port: int, seen_by_card: list[bytes]
) -> None:
    at_auth_certificate(link)
    arm(port, ins="B0", kind="chain61")
    assert link.exchange(READ_ALL) == b"\x61\x00"
    truth = seen_by_card[-1]
    size = len(truth) - 2
    assert size > 512
    data = b""
    answer = b"\x61\x00"
    while answer[-2] == 0x61:
        left = size - len(data)
        answer = link.exchange(get_response(answer[-1]))
        data += answer[:-2]
        if answer[-2] == 0x61:
            assert answer[-1] == (0 if left - 256 >= 256 else left - 256)
    assert data + answer[-2:] == truth
    extended = bytes.fromhex("00C00000000000")  # an extended Le also works
    arm(port, ins="B0", kind="chain61")
    assert link.exchange(READ_ALL) == b"\x61\x00"
    assert link.exchange(extended) == truth


def test_chain61_keeps_the_chain_for_a_bad_get_response_and_ends_it_for_another_command(
    link: traces.MiniVpcd, port: int, slots: list[CardSlot], seen_by_card: list[bytes]
) -> None:
    at_auth_certificate(link)
    arm(port, ins="B0", kind="chain61", times=2)
    assert link.exchange(READ_HEAD) == b"\x61\x04"
    truth = seen_by_card[-1]
    assert link.exchange(bytes.fromhex("00C0000104")) == b"\x6a\x86"  # P1-P2 not 00 00
    assert link.exchange(bytes.fromhex("00C00000")) == b"\x67\x00"  # no Le
    assert link.exchange(bytes.fromhex("00C0000001AA04")) == b"\x67\x00"  # a body
    assert link.exchange(get_response(4)) == truth
    assert link.exchange(READ_HEAD) == b"\x61\x04"
    assert link.exchange(SELECT_AUTH_CERT) == b"\x90\x00"  # another command: to the card
    assert slots[0].status()["withheld"] is None
    assert link.exchange(get_response(4)) == seen_by_card[-1]  # the card's own answer
    assert seen_by_card[-1][-2:] != b"\x90\x00"


def test_a_removal_drops_a_chain(link: traces.MiniVpcd, port: int, slots: list[CardSlot]) -> None:
    at_auth_certificate(link)
    arm(port, ins="B0", kind="chain61")
    assert link.exchange(READ_HEAD) == b"\x61\x04"
    assert request(port, "POST", "/cards/0/remove")[0] == 200
    assert slots[0].status()["withheld"] is None


@pytest.mark.parametrize("end", ["reset", "power-off", "clear", "persona", "ctl-reset"])
def test_power_reset_clear_and_persona_drop_a_chain(
    link: traces.MiniVpcd, port: int, slots: list[CardSlot], end: str
) -> None:
    at_auth_certificate(link)
    arm(port, ins="B0", kind="chain61")
    assert link.exchange(READ_HEAD) == b"\x61\x04"
    assert slots[0].status()["withheld"] is not None
    if end == "reset":
        link.send(b"\x02")
    elif end == "power-off":
        link.send(b"\x00")
        link.send(b"\x01")
    elif end == "clear":
        assert request(port, "POST", "/cards/0/faults/clear")[0] == 200
    elif end == "persona":
        assert request(port, "POST", "/cards/0/persona", {"persona": "expired"})[0] == 200
    else:
        assert request(port, "POST", "/cards/0/reset")[0] == 200
    answer = link.exchange(get_response(4))  # answered after the control bytes were served
    assert slots[0].status()["withheld"] is None
    assert answer[-2:] != b"\x90\x00" and len(answer) == 2


def test_data_kinds_leave_a_response_without_data_alone(
    link: traces.MiniVpcd, port: int, slots: list[CardSlot], trace_path: Path
) -> None:
    for kind in ("chain61", "wrong-le", "der"):
        arm(port, ins="A4", kind=kind)
        assert link.exchange(SELECT_JPKI) == b"\x90\x00"
        assert slots[0].status()["faults"] == []  # used up all the same
        assert f"fault: {kind} on INS A4 not applicable (no data): unchanged" in events(trace_path)
    assert slots[0].status()["withheld"] is None


# -- wrong-le ------------------------------------------------------------------------------


def test_wrong_le_answers_6cxx_and_the_resent_command_gets_the_card_answer(
    link: traces.MiniVpcd,
    port: int,
    seen_by_card: list[bytes],
    default_persona: Persona,
    trace_path: Path,
) -> None:
    at_auth_certificate(link)
    arm(port, ins="B0", kind="wrong-le")
    assert link.exchange(read(0, 0)) == b"\x6c\x00"  # 256 bytes there
    truth = seen_by_card[-1]
    assert link.exchange(read(0, 0)) == truth
    arm(port, ins="B0", kind="wrong-le")
    assert link.exchange(READ_HEAD) == b"\x6c\x04"
    assert link.exchange(READ_HEAD) == seen_by_card[-1]
    login(link, default_persona)
    arm(port, ins="2A", kind="wrong-le")
    assert link.exchange(SIGN) == b"\x6c\x00"
    first = seen_by_card[-1]
    assert link.exchange(SIGN) == seen_by_card[-1] == first  # processed again, same answer
    assert "fault: wrong-le on INS 2A" in events(trace_path)


def test_wrong_le_cannot_say_more_than_256_bytes(
    link: traces.MiniVpcd, port: int, seen_by_card: list[bytes], trace_path: Path
) -> None:
    at_auth_certificate(link)
    arm(port, ins="B0", kind="wrong-le")
    assert link.exchange(READ_ALL) == seen_by_card[-1]  # extended: unchanged
    assert (
        "fault: wrong-le on INS B0 not applicable (more than 256 data bytes): unchanged"
        in events(trace_path)
    )


# -- mynasim ctl ---------------------------------------------------------------------------


def test_ctl_fault_new_kinds_and_skip(
    port: int, slots: list[CardSlot], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = endpoint.ctl(capsys, port, "fault", "--ins", "b0", "--chain61", "--skip", "2")
    assert (code, err) == (0, "")
    assert (
        "  fault armed on INS B0: chain61 (1 more time, after 2 more matching commands)"
        in out.splitlines()
    )
    code, out, _ = endpoint.ctl(capsys, port, "fault", "--ins", "2A", "--wrong-le", "--skip", "1")
    assert "  fault armed on INS 2A: wrong-le (1 more time, after 1 more matching command)" in (
        out.splitlines()
    )
    code, out, _ = endpoint.ctl(capsys, port, "fault", "--ins", "B0", "--der", "--times", "0")
    assert "  fault armed on INS B0: der (until cleared)" in out.splitlines()
    assert [(f["kind"], f.get("skip", 0)) for f in slots[0].status()["faults"]] == [
        ("chain61", 2),
        ("wrong-le", 1),
        ("der", 0),
    ]
    code, out, err = endpoint.ctl(capsys, port, "fault", "--ins", "2A", "--flip", "--skip", "-1")
    assert (code, out) == (2, "") and "skip must be an integer 0-65535" in err


def test_ctl_status_shows_a_withheld_chain_and_a_skipping_removal(
    link: traces.MiniVpcd, port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    at_auth_certificate(link)
    arm(port, ins="B0", kind="chain61")
    assert link.exchange(READ_HEAD) == b"\x61\x04"
    request(port, "POST", "/cards/0/remove", {"ins": "2A", "when": "before", "skip": 3})
    code, out, _ = endpoint.ctl(capsys, port, "status")
    assert code == 0
    lines = out.splitlines()
    assert "  chain61: 4 bytes of the INS B0 response wait for GET RESPONSE" in lines
    assert "  removal armed on INS 2A (before processing, after 3 more matching commands)" in lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ins", "2A", "--der", "--chain61"], "not allowed with argument"),
        (["--ins", "2A", "--wrong-le", "--flip"], "not allowed with argument"),
        (["--clear", "--skip", "1"], "--clear takes no --ins or --times (nor --skip)"),
        (["--ins", "2A", "--der", "--skip", "x"], "invalid int value"),
    ],
)
def test_ctl_fault_new_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["ctl", "--control", "127.0.0.1:1", "fault", *args])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage: mynasim ctl fault" in err and message in err
