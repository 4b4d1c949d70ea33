"""The relying-party harness on the real stack (pcscd + vpcd + `mynasim serve` + the PKI
services): the reference RP passes every scenario, every mutant is caught by its named
scenario, the command adapter and `mynasim rp-check` work end to end, and OpenSC's pkcs11-tool
and pyHanko run through the harness with their verdicts recorded."""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.report import FAIL, NOT_APPLICABLE, PASS, read_jsonl
from conformance.rp.check import builtin, write_reports
from conformance.rp.differential import (
    THIRD_PARTY_INTRO,
    THIRD_PARTY_TITLE,
    read_verdict_table,
    verdict_table,
)
from conformance.rp.harness import RpWorld, ScenarioRun
from conformance.rp.mutants import MUTANTS
from conformance.rp.scenarios import BY_ID, CATALOGUE, CATCHES
from conformance.stack import REINSERT_GAP, Pcscd

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(pcscd: Pcscd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RpWorld]:
    with RpWorld(tmp_path_factory.mktemp("rp-world"), timeout=30) as running:
        yield running


def _explain(run: ScenarioRun) -> str:
    return f"{run.scenario.id} [{run.flow}] {run.verdict}: {run.message}\n" + "\n".join(
        run.transcript()
    )


@pytest.mark.parametrize(
    ("scenario_id", "flow"),
    [(s.id, flow) for s in CATALOGUE for flow in s.flows],
)
def test_the_reference_rp_passes(world: RpWorld, scenario_id: str, flow: str) -> None:
    reference = builtin("reference").adapter
    run = world.run(reference, BY_ID[scenario_id], flow)  # type: ignore[arg-type]
    assert run.verdict == PASS, _explain(run)


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_every_mutant_is_caught_by_its_named_scenario(world: RpWorld, mutant: str) -> None:
    scenario_id, flow = CATCHES[mutant]
    run = world.run(builtin(f"reference:{mutant}").adapter, BY_ID[scenario_id], flow)
    assert run.verdict == FAIL, _explain(run)


def test_the_command_adapter_runs_the_reference_as_a_program(world: RpWorld) -> None:
    software = builtin("reference-cli")
    for scenario_id, flow in (("RP-PIN-003", "login"), ("RP-REV-001", "sign")):
        run = world.run(software.adapter, BY_ID[scenario_id], flow)  # type: ignore[arg-type]
        assert run.verdict == PASS, _explain(run)
        assert run.steps[0].command and "{" not in run.steps[0].command


def test_rp_check_end_to_end(tmp_path: Path, world: RpWorld) -> None:
    world.stop()  # rp-check starts its own stack (the same pcscd, reused)
    time.sleep(REINSERT_GAP)  # pcscd misses a card that comes back too soon
    try:
        report = tmp_path / "report"
        cmd = [sys.executable, "-m", "simulator", "rp-check", "--rp", "reference:auto-retry",
               "--scenario", "RP-PIN-003", "--scenario", "RP-DATA-002",
               "--report", str(report)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert done.returncode == 1, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert any("RP-PIN-003 login" in line and line.rstrip().endswith("s)") for line in lines)
        assert "again by itself after a wrong-PIN answer" in done.stdout
        header, results = read_jsonl(report / "report.jsonl")
        assert header["tool"] == "mynasim relying-party conformance"
        verdicts = {r.nodeid: r.verdict for r in results}
        assert verdicts == {
            "RP-PIN-003[login]": FAIL,
            "RP-PIN-003[sign]": FAIL,
            "RP-DATA-002[sign]": PASS,
        }
        suite = ET.parse(report / "junit.xml").getroot()  # noqa: S314 - our own file
        assert suite.get("failures") == "2" and suite.get("tests") == "3"
        html = (report / "report.html").read_text(encoding="utf-8")
        assert "RP-PIN-003" in html and "again by itself" in html
        for name in ("report.jsonl", "junit.xml", "report.html"):
            text = (report / name).read_text(encoding="utf-8")
            for secret in ("9999", "1234", "ABC123", "WRONG1"):
                assert secret not in text, (name, secret)
    finally:
        time.sleep(REINSERT_GAP)
        world.start()


def test_rp_check_refuses_bad_arguments() -> None:
    def check(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "simulator", "rp-check", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT)

    nothing = check()
    assert nothing.returncode == 2 and "say what to test" in nothing.stderr
    no_flow = check("--command", "true")
    assert no_flow.returncode == 2 and "--flow" in no_flow.stderr
    typo = check("--rp", "reference", "--scenario", "RP-NOPE")
    assert typo.returncode == 2 and "no scenario matches 'RP-NOPE'" in typo.stderr
    bad = check("--command", "rp --nonce {nonce}", "--flow", "login")
    assert bad.returncode == 2 and "unknown placeholder {nonce}" in bad.stderr
    mutant = check("--rp", "reference:no-such-bug")
    assert mutant.returncode == 2 and "no mutant 'no-such-bug'" in mutant.stderr
    listing = check("--list")
    assert listing.returncode == 0 and listing.stdout.count("RP-") >= len(CATALOGUE)


def test_not_applicable_when_the_flow_is_not_offered(world: RpWorld) -> None:
    from conformance.rp.harness import not_applicable

    run = not_applicable(BY_ID["RP-DATA-001"], "login-only", ("login",))
    assert run.verdict == NOT_APPLICABLE and "sign" in run.message


THIRD_PARTIES = ("pkcs11-tool", "pyhanko")


@pytest.fixture(scope="module")
def third_party_runs(world: RpWorld, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    """Both third-party relying parties through every scenario of their flows; their reports
    go to $MYNASIM_RP_REPORTS/<name> (default: a temporary folder), whatever the verdicts."""
    import datetime as dt
    import os

    from conformance.rp.harness import not_applicable

    base = Path(os.environ.get("MYNASIM_RP_REPORTS") or tmp_path_factory.mktemp("rp-reports"))
    runs: dict[str, list] = {}
    for name in THIRD_PARTIES:
        software = builtin(name)
        started = dt.datetime.now(dt.UTC)
        results = []
        for scenario in CATALOGUE:
            flows = [f for f in scenario.flows if f in software.flows]
            if not flows:
                results.append(not_applicable(scenario, name, software.flows).result())
            for flow in flows:
                results.append(world.run(software.adapter, scenario, flow).result())
        write_reports(base / name, software, results, started=started,
                      finished=dt.datetime.now(dt.UTC), options={"scenarios": "all"},
                      exit_status=0)  # fmt: skip
        runs[name] = results
    return runs


@pytest.mark.parametrize("name", THIRD_PARTIES)
def test_third_party_verdicts_are_recorded_and_unchanged(
    third_party_runs: dict[str, list], name: str
) -> None:
    results = third_party_runs[name]
    errors = [r for r in results if r.verdict == "ERROR"]
    assert not errors, "\n".join(f"{r.nodeid}: {r.message}" for r in errors)
    committed = read_verdict_table(
        (ROOT / "conformance" / "rp" / "THIRD_PARTY.md").read_text(encoding="utf-8")
    )
    now = read_verdict_table(
        verdict_table(third_party_runs, title=THIRD_PARTY_TITLE, intro=THIRD_PARTY_INTRO)
    )
    changed = {
        nodeid: (committed.get((rp, nodeid)), verdict)
        for (rp, nodeid), verdict in now.items()
        if rp == name and committed.get((rp, nodeid)) != verdict
    }
    assert not changed, f"{name} behaves differently now (committed, now): {changed}"
    assert sum(1 for (rp, _), _v in committed.items() if rp == name) == len(now) // 2


def test_pkcs11_tool_facts(third_party_runs: dict[str, list]) -> None:
    """What the oracles established about OpenSC's pkcs11-tool (0.23): it signs with a good
    card, checks no certificate, and sends the PIN to a card that said it is blocked."""
    by_id = {r.nodeid: r for r in third_party_runs["pkcs11-tool"]}
    assert by_id["RP-PIN-001[login]"].verdict == PASS
    assert by_id["RP-CERT-001[login]"].verdict == FAIL
    assert "accepted although the certificate has expired" in by_id["RP-CERT-001[login]"].message
    assert "although the card said it is blocked" in by_id["RP-PIN-006[login]"].message
    assert by_id["RP-TEAR-001[login]"].verdict == PASS
