"""`mynasim fuzz rp` on the real stack (pcscd + vpcd + `mynasim serve` + the PKI services on
127.0.0.1:35980): the reference relying party survives a small set of corrupted responses,
a mutant and a deliberately broken command are caught (WRONG-SUCCESS, CRASH, HANG), and the
findings keep the transcript and no PIN.

The PKI port is fixed: run these where nobody else serves it (CI, or .ci/isolated).
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.fuzz import rp
from conformance.rp.harness import RpWorld
from conformance.stack import Pcscd

PINS = ("1234", "ABC123")

# A careless login tool: prints the PIN, ignores status words, trusts lengths, and waits
# forever for data announced by 61xx / 6Cxx.
BROKEN = r"""
import os, signal, sys, time
from smartcard.CardConnection import CardConnection
from smartcard.System import readers

reader = next(r for r in readers() if os.environ["MYNASIM_READER"] in str(r))
connection = reader.createConnection()
connection.connect(CardConnection.T1_protocol)


def send(text):
    data, sw1, sw2 = connection.transmit(list(bytes.fromhex(text)))
    return bytes(data), sw1 << 8 | sw2


pin = os.environ["MYNASIM_PIN"]
print(f"debug: logging in with PIN {pin}")
send("00A4040C0AD392F000260100000001")
send("00A4020C020018")
send("00200080")
send("00200080" + f"{len(pin):02X}" + pin.encode().hex())
send("00A4020C02000A")
head, sw = send("00B0000004")
if sw >> 8 in (0x61, 0x6C):
    time.sleep(60)  # the announced data never come
if len(head) < 4:
    os.kill(os.getpid(), signal.SIGSEGV)  # trusted the length
print("logged in")
"""


@pytest.fixture(scope="module")
def world(pcscd: Pcscd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RpWorld]:
    with RpWorld(tmp_path_factory.mktemp("fuzz-world"), timeout=20.0) as started:
        yield started


def fuzz(world: RpWorld, findings: Path, *argv: str) -> tuple[int, list[str], dict[str, int]]:
    lines: list[str] = []
    args = rp.build_parser().parse_args([*argv, "--findings", str(findings)])
    status = rp.run(args, out=lines.append, world=world)
    summary = json.loads((findings / "summary.json").read_text())
    return status, lines, summary["counts"]


def saved(findings: Path) -> list[dict[str, object]]:
    return [json.loads(path.read_text()) for path in sorted(findings.glob("*.finding.json"))]


def assert_no_pin(findings: Path) -> None:
    for path in findings.iterdir():
        text = path.read_text()
        for pin in PINS:
            assert pin not in text, f"{path.name} holds a PIN"


def test_the_reference_rp_survives_corrupted_certificate_and_signature(
    world: RpWorld, tmp_path: Path
) -> None:
    findings = tmp_path / "findings"
    status, lines, counts = fuzz(
        world, findings, "--rp", "reference", "--flow", "login",
        "--kinds", "flip,sw,chain61", "--steps", "read-binary#2,sign",
    )  # fmt: skip
    assert status == 0, "\n".join(lines)
    # OK also for chain61 (61xx + GET RESPONSE): the reference RP follows answers in parts
    # since fuzz rp found it FRAGILE there (38 cases) in its first run
    assert counts == {rp.OK: 6}
    assert any(line.startswith("baseline login: accepted") for line in lines)
    assert any(line.startswith("[1/6] login READ BINARY#2 (EF 000A @0004") for line in lines)
    assert saved(findings) == []
    assert_no_pin(findings)


def test_a_mutant_that_does_not_check_the_signature_is_wrong_success(
    world: RpWorld, tmp_path: Path
) -> None:
    findings = tmp_path / "findings"
    status, lines, counts = fuzz(
        world, findings, "--rp", "reference:no-signature-check", "--flow", "login",
        "--kinds", "flip", "--steps", "sign",
    )  # fmt: skip
    assert status == 1, "\n".join(lines)
    assert counts == {rp.WRONG_SUCCESS: 1}
    (document,) = saved(findings)
    assert document["why"] == (
        "accepted although COMPUTE DIGITAL SIGNATURE#1: last data bit flipped"
    )


def test_the_reference_rp_rejects_an_empty_or_other_key_signature(
    world: RpWorld, tmp_path: Path
) -> None:
    findings = tmp_path / "findings"
    status, lines, counts = fuzz(
        world, findings, "--rp", "reference", "--kinds", "empty,other-key", "--steps", "sign",
    )  # fmt: skip
    assert status == 0, "\n".join(lines)
    assert counts == {rp.OK: 4}, "\n".join(lines)  # login and sign, each kind once
    cases = json.loads((findings / "summary.json").read_text())["cases"]
    assert [(c["flow"], c["kind"], c["outcome"]) for c in cases] == [
        ("login", "empty", "rejected"),
        ("login", "other-key", "rejected"),
        ("sign", "empty", "rejected"),
        ("sign", "other-key", "rejected"),
    ]
    assert saved(findings) == []


def test_a_mutant_that_does_not_check_the_signature_accepts_another_key(
    world: RpWorld, tmp_path: Path
) -> None:
    findings = tmp_path / "findings"
    status, lines, counts = fuzz(
        world, findings, "--rp", "reference:no-signature-check", "--flow", "login",
        "--kinds", "other-key", "--steps", "sign",
    )  # fmt: skip
    assert status == 1, "\n".join(lines)
    assert counts == {rp.WRONG_SUCCESS: 1}
    (document,) = saved(findings)
    assert document["why"] == (
        "accepted although COMPUTE DIGITAL SIGNATURE#1: the signature of the other JPKI key "
        "(EF 001A) over the same data"
    )
    case = document["case"]
    assert isinstance(case, dict)
    sent, baseline = case["sent_response"], case["baseline_response"]
    assert sent.startswith("256 bytes: ") and sent.endswith(" 90 00") and sent != baseline
    assert document["reproduce"] == (
        "mynasim ctl persona default && mynasim ctl fault --ins 2A --other-key"
    )
    assert document["pin"] is None  # a callable: nothing typed on a command line
    assert_no_pin(findings)


def test_a_broken_command_crashes_hangs_and_accepts_anything(
    world: RpWorld, tmp_path: Path
) -> None:
    script = tmp_path / "broken_login.py"
    script.write_text(BROKEN)
    findings = tmp_path / "findings"
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"
    status, lines, counts = fuzz(
        world, findings, "--command", command, "--flow", "login", "--timeout", "5",
        "--kinds", "sw,truncate,flip,chain61", "--steps", "read-binary",
    )  # fmt: skip
    assert status == 1, "\n".join(lines)
    assert counts == {rp.CRASH: 1, rp.HANG: 1, rp.WRONG_SUCCESS: 2}, "\n".join(lines)
    by_kind = {d["case"]["kind"]: d for d in saved(findings)}  # type: ignore[index]
    crash, hang = by_kind["truncate"], by_kind["chain61"]
    assert (crash["class"], crash["why"]) == (rp.CRASH, "killed by SIGSEGV")
    assert crash["outcome"]["exit_code"] == -11  # type: ignore[index]
    assert (hang["class"], hang["why"]) == (rp.HANG, "no result within 5 s")
    assert by_kind["sw"]["class"] == by_kind["flip"]["class"] == rp.WRONG_SUCCESS
    stdout = by_kind["flip"]["outcome"]["stdout_tail"]  # type: ignore[index]
    assert "debug: logging in with PIN **" in stdout  # printed, redacted
    reproduce = by_kind["flip"]["reproduce"]  # the ctl line and the command line to paste
    assert isinstance(reproduce, str)
    assert reproduce.startswith(
        "mynasim ctl persona default && mynasim ctl fault --ins B0 --flip && "
        f"MYNASIM_PIN={rp.PIN_EXPANSION} MYNASIM_SCENARIO="
    )
    assert reproduce.endswith(f" MYNASIM_TIMEOUT=5 {command}")
    assert by_kind["flip"]["pin"]["variable"] == "MYNASIM_PIN"  # type: ignore[index]
    assert "> 00 20 00 80 04 ** ** ** **" in by_kind["sw"]["transcript"]  # type: ignore[operator]
    assert_no_pin(findings)
    assert any("CRASH" in line and "truncate" in line for line in lines)


def test_chain61_and_wrong_le_through_pcscd(world: RpWorld) -> None:
    """The legal responses as a PC/SC client sees them: 61xx then GET RESPONSE answered by
    the slot; 6Cxx then the command again with that Le; `skip` picks the second READ."""
    from conformance.pcsc import open_reader

    served = world.served
    assert served is not None
    served.ctl("POST", "/cards/0/persona", {"persona": "default"})
    connection, transmit, _ = open_reader(world.reader)
    try:
        assert transmit(bytes.fromhex("00A4040C0AD392F000260100000001")) == b"\x90\x00"
        assert transmit(bytes.fromhex("00A4020C02000A")) == b"\x90\x00"
        head = transmit(bytes.fromhex("00B0000004"))
        assert head[:2] == b"\x30\x82" and head[-2:] == b"\x90\x00"
        served.ctl("POST", "/cards/0/faults", {"ins": "B0", "kind": "chain61", "skip": 1})
        assert transmit(bytes.fromhex("00B0000004")) == head  # skipped
        assert transmit(bytes.fromhex("00B0000010")) == b"\x61\x10"
        first = transmit(bytes.fromhex("00C000000A"))
        assert first[:4] == head[:4] and first[-2:] == b"\x61\x06"
        rest = transmit(bytes.fromhex("00C0000006"))
        assert len(rest) == 8 and rest[-2:] == b"\x90\x00"
        served.ctl("POST", "/cards/0/faults", {"ins": "B0", "kind": "wrong-le"})
        assert transmit(bytes.fromhex("00B0000000")) == b"\x6c\x00"
        again = transmit(bytes.fromhex("00B0000000"))
        assert len(again) == 258 and again[:10] + again[-2:] == first[:-2] + b"\x90\x00"
    finally:
        connection.disconnect()
        world.ensure_inserted()
