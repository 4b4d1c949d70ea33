"""Issue 6 done-when: `mynasim card-check` against the served card, through pcscd, passes
and writes the three reports; destructive tests run because the control endpoint lets the
suite restore the counters afterwards, and the card ends with full counters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conformance.stack import Pcscd, ServedCard


def test_card_check_through_pcscd(pcscd: Pcscd, tmp_path: Path) -> None:
    report = tmp_path / "report"
    with ServedCard(["default"], tmp_path) as served:
        result = subprocess.run(
            [sys.executable, "-m", "simulator", "card-check", "--target", "pcsc:Virtual PCD 00 00",
             "--control", served.control_url, "--report", str(report)],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        status = served.ctl("GET", "/status")["cards"][0]
        assert all(pin["remaining"] == pin["max"] for pin in status["pins"].values()), status
    assert {p.name for p in report.iterdir()} >= {"junit.xml", "report.jsonl", "report.html"}
    lines = [json.loads(line) for line in (report / "report.jsonl").read_text().splitlines()]
    tests = [line for line in lines if line.get("type") == "test"]
    assert tests and all(t["target"] == "pcsc:Virtual PCD 00 00" for t in tests)
    assert all(t["title"] for t in tests)  # each test says what it checks
    verdicts = {t["verdict"] for t in tests}
    assert "FAIL" not in verdicts and "ERROR" not in verdicts and "PASS" in verdicts
    verifies = [line for t in tests for line in t["transcript"] if line.startswith("> 00 20 00")]
    assert verifies and all(
        len(line) <= len("> 00 20 00 80") + 3 or "**" in line for line in verifies
    )
    assert "31 32 33 34" not in (report / "report.jsonl").read_text()  # the PIN, as hex
