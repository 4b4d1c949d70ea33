"""The evidence oracle against relying parties that cheat (tests/interop/rp_cheats.py): each
claims success without really doing the flow on the card, and each must FAIL every scenario
that expects acceptance, while the reference relying party keeps passing
(test_rp_harness.py). Run as commands, as a vendor wires software in, with a relative path
to the program (resolved where the harness was started)."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.report import FAIL, PASS, read_jsonl
from conformance.rp.adapters import CommandAdapter
from conformance.rp.check import REFERENCE_CLI_ARGS
from conformance.rp.context import Flow
from conformance.rp.harness import RpWorld, ScenarioRun
from conformance.rp.reference import SHA256_DIGEST_INFO
from conformance.rp.scenarios import ACCEPT, BY_ID, CATALOGUE, RIGHT_VALUES
from conformance.stack import REINSERT_GAP, Pcscd
from simulator import VirtualCard

ROOT = Path(__file__).resolve().parents[2]
CHEATS = ("always-accept", "certificate-only", "fixed-value", "replay", "wrong-pin")
ACCEPT_JOBS = [
    (scenario.id, flow)
    for scenario in CATALOGUE
    for flow in scenario.flows
    if any(step.expectation(flow) == ACCEPT for step in scenario.steps)
]


def earlier_signature(flow: Flow) -> bytes:
    """What the default card signed for another challenge: what a replaying cheat keeps."""
    card = VirtualCard.from_persona("default")
    card.power_on()
    pin, key = ("0018", "0017") if flow == "login" else ("001B", "001A")
    value = RIGHT_VALUES[flow].encode()
    for apdu in (
        bytes.fromhex("00A4040C0AD392F000260100000001"),
        bytes.fromhex("00A4020C02" + pin),
        bytes.fromhex("00200080") + bytes([len(value)]) + value,
        bytes.fromhex("00A4020C02" + key),
    ):
        assert card.transmit(apdu)[-2:] == b"\x90\x00"
    data = SHA256_DIGEST_INFO + hashlib.sha256(b"an earlier challenge").digest()
    response = card.transmit(bytes([0x80, 0x2A, 0x00, 0x80, len(data)]) + data + b"\x00")
    assert response[-2:] == b"\x90\x00"
    return response[:-2]


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory) -> dict[Flow, Path]:
    folder = tmp_path_factory.mktemp("replays")
    files: dict[Flow, Path] = {}
    for flow in ("login", "sign"):
        files[flow] = folder / f"{flow}.hex"
        files[flow].write_text(earlier_signature(flow).hex())
    return files


def cheat_template(kind: str, replay: Path) -> list[str]:
    return [sys.executable, "tests/interop/rp_cheats.py", kind, "{flow}", "--reader",
            "{reader}", "--challenge", "{challenge}", "--data", "{data_file}",
            "--replay", str(replay)]  # fmt: skip


@pytest.fixture(scope="module")
def world(pcscd: Pcscd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RpWorld]:
    with RpWorld(tmp_path_factory.mktemp("rp-cheats"), timeout=30) as running:
        yield running


def play(world: RpWorld, kind: str, replays: dict[Flow, Path], job: tuple[str, str]) -> ScenarioRun:
    scenario_id, flow = job
    replay = replays["login" if flow == "login" else "sign"]
    adapter = CommandAdapter(cheat_template(kind, replay), cwd=ROOT)
    return world.run(adapter, BY_ID[scenario_id], flow)  # type: ignore[arg-type]


def explain(run: ScenarioRun) -> str:
    return f"{run.scenario.id}[{run.flow}] {run.verdict}: {run.message}\n" + "\n".join(
        run.transcript()
    )


@pytest.mark.parametrize("job", [("RP-PIN-001", "login"), ("RP-PIN-002", "sign")])
@pytest.mark.parametrize("kind", CHEATS)
def test_every_cheat_fails_correct_login_and_signing(
    world: RpWorld, replays: dict[Flow, Path], kind: str, job: tuple[str, str]
) -> None:
    run = play(world, kind, replays, job)
    assert run.verdict == FAIL, explain(run)
    assert "[evidence]" in run.message, explain(run)


@pytest.mark.slow
@pytest.mark.parametrize("kind", CHEATS)
def test_every_cheat_fails_every_accept_scenario(
    world: RpWorld, replays: dict[Flow, Path], kind: str
) -> None:
    passed = []
    for job in ACCEPT_JOBS:
        run = play(world, kind, replays, job)
        if run.verdict != FAIL:
            passed.append(explain(run))
            break  # one named survivor is enough to fail the test
    assert not passed, passed[0]


def test_both_flows_in_one_run_with_a_program_each(world: RpWorld, tmp_path: Path) -> None:
    """`--flow login --command A --flow sign --command B`: the login is the reference RP (as
    a command), the signature a cheat; one rp-check run judges each with its own program."""
    world.stop()  # rp-check starts its own stack (the same pcscd, reused)
    time.sleep(REINSERT_GAP)  # pcscd misses a card that comes back too soon
    try:
        login = ["python", "-m", "conformance.rp.reference", *REFERENCE_CLI_ARGS]
        sign = ["python", *cheat_template("fixed-value", tmp_path / "unused")[1:]]
        report = tmp_path / "report"
        cmd = [sys.executable, "-m", "simulator", "rp-check",
               "--flow", "login", "--command", shlex.join(login),
               "--flow", "sign", "--command", shlex.join(sign),
               "--scenario", "RP-PIN-001", "--scenario", "RP-PIN-002", "--scenario", "RP-REV-001",
               "--report", str(report)]  # fmt: skip
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=300, cwd=ROOT,
            env=dict(os.environ, PATH=path),  # "python" is this venv's
        )  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr
        _header, results = read_jsonl(report / "report.jsonl")
        verdicts = {r.nodeid: r.verdict for r in results}
        assert verdicts == {
            "RP-PIN-001[login]": PASS,
            "RP-PIN-002[sign]": FAIL,
            "RP-REV-001[login]": PASS,
            "RP-REV-001[sign]": FAIL,
        }, done.stdout
        assert "the card signed something other than the document" in done.stdout
    finally:
        time.sleep(REINSERT_GAP)
        world.start()
