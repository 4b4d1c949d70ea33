"""The pytest form of the relying-party scenarios on the real stack: `pytest --rp …` in a
subprocess (in an empty directory, so that only the scenario items are collected) gives one
item per scenario and flow, the verdicts of `mynasim rp-check`, its exit status and its
three reports."""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from conformance.report import FAIL, PASS, read_jsonl
from conformance.stack import REINSERT_GAP, Pcscd

SECRETS = ("9999", "1234", "ABC123", "WRONG1")


def run_pytest(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # a card served by an earlier test in reader slot 0 may just have gone: pcscd misses a
    # card that comes back too soon (the run serves its own)
    time.sleep(REINSERT_GAP)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=workdir)


def test_a_mutant_fails_its_scenario_with_rp_check_reports(pcscd: Pcscd, tmp_path: Path) -> None:
    report = tmp_path / "report"
    done = run_pytest(
        tmp_path, "-v", "--rp", "reference:auto-retry",
        "--rp-scenario", "RP-PIN-003", "--rp-scenario", "RP-PIN-001", "--rp-report", str(report),
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    for line in (
        "mynasim-rp::RP-PIN-001[login] PASSED",
        "mynasim-rp::RP-PIN-003[login] FAILED",
        "mynasim-rp::RP-PIN-003[sign] FAILED",
    ):
        assert line in output, output
    assert "again by itself after a wrong-PIN answer" in output  # the finding, in the failure
    assert "1 PASS, 2 FAIL" in output
    header, results = read_jsonl(report / "report.jsonl")
    assert header["tool"] == "mynasim relying-party conformance"
    assert header["exit_status"] == 1
    assert {r.nodeid: r.verdict for r in results} == {
        "RP-PIN-001[login]": PASS,
        "RP-PIN-003[login]": FAIL,
        "RP-PIN-003[sign]": FAIL,
    }
    suite = ET.parse(report / "junit.xml").getroot()  # noqa: S314 - our own file
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "2", "0")
    assert "again by itself" in (report / "report.html").read_text(encoding="utf-8")
    for name in ("report.jsonl", "junit.xml", "report.html"):
        text = (report / name).read_text(encoding="utf-8")
        for secret in SECRETS:
            assert secret not in text, (name, secret)
    for secret in ("ABC123", "WRONG1"):
        assert secret not in output


def test_the_reference_rp_passes(pcscd: Pcscd, tmp_path: Path) -> None:
    done = run_pytest(tmp_path, "--rp", "reference", "--rp-scenario", "RP-PIN-001")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
