"""Verdicts of the conformance plugin: PASS, FAIL, ERROR, NOT APPLICABLE, SKIPPED-DESTRUCTIVE
(pytester)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

# A non-virtual target for the destructive gate: `fakereal` is an in-process card that
# declares itself a real one (as `pcsc:...` for a card in a reader would).
FAKE_REAL_CONFTEST = """
import dataclasses

import pytest

import conformance.targets

_patch = pytest.MonkeyPatch()


def pytest_configure(config):
    real = conformance.targets.parse_target

    def parse_target(spec, persona="default", control=None):
        if spec == "fakereal":
            chosen = real("inprocess", persona, control)
            return dataclasses.replace(chosen, id="fakereal", kind="pcsc", virtual=False)
        return real(spec, persona, control)

    _patch.setattr(conformance.targets, "parse_target", parse_target)


def pytest_unconfigure(config):
    _patch.undo()
"""

CATALOGUE = """
import pytest

AID = "00A4040C0AD392F000260100000001"

@pytest.mark.spec("T-SEL-001", section="2")
def test_passes(card):
    assert card.send(AID).sw == 0x9000

@pytest.mark.spec("T-SEL-002", section="2")
def test_fails(card):
    assert card.send(AID).sw == 0x6A82

@pytest.fixture
def broken():
    raise RuntimeError("setup broke")

@pytest.mark.spec("T-ERR-001", section="9")
def test_errors(card, broken):
    pass

@pytest.mark.spec("T-SIGN-001", section="3.1")
@pytest.mark.requires("sign_certificate")
def test_needs_sign_certificate(card):
    assert card.send(AID).sw == 0x9000

@pytest.mark.spec("T-DES-001", section="4")
@pytest.mark.destructive
def test_destructive(card):
    assert card.send(AID).sw == 0x9000
"""


def _verdicts(report_dir: Path) -> dict[tuple[str, str | None], dict[str, Any]]:
    lines = (report_dir / "report.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines[1:]]
    return {(r["id"], r["target"]): r for r in records}


def test_verdicts_on_the_virtual_card(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CATALOGUE)
    result = pytester.runpytest(
        "--card-target", "inprocess", "--card-target", "inprocess:under15",
        "--conformance-report", "out",
    )  # fmt: skip
    verdicts = _verdicts(pytester.path / "out")
    got = {key: record["verdict"] for key, record in verdicts.items()}
    assert got == {
        ("T-SEL-001", "inprocess:default"): "PASS",
        ("T-SEL-001", "inprocess:under15"): "PASS",
        ("T-SEL-002", "inprocess:default"): "FAIL",
        ("T-SEL-002", "inprocess:under15"): "FAIL",
        ("T-ERR-001", "inprocess:default"): "ERROR",
        ("T-ERR-001", "inprocess:under15"): "ERROR",
        ("T-SIGN-001", "inprocess:default"): "PASS",
        ("T-SIGN-001", "inprocess:under15"): "NOT APPLICABLE",
        # a virtual card: destructive tests always run
        ("T-DES-001", "inprocess:default"): "PASS",
        ("T-DES-001", "inprocess:under15"): "PASS",
    }
    result.assert_outcomes(passed=5, failed=2, errors=2, skipped=1)
    not_applicable = verdicts["T-SIGN-001", "inprocess:under15"]
    assert not_applicable["message"].startswith("NOT APPLICABLE: inprocess:under15 declares no")
    assert "sign_certificate" in not_applicable["message"]
    assert "setup broke" in verdicts["T-ERR-001", "inprocess:default"]["message"]
    assert "assert 36864 == 27266" in verdicts["T-SEL-002", "inprocess:default"]["message"]
    result.stdout.fnmatch_lines(
        [
            "*= card conformance =*",
            "5 PASS, 2 FAIL, 2 ERROR, 1 NOT APPLICABLE",
            "FAIL T-SEL-002 [[]inprocess:default[]] *",
        ]
    )


def test_not_applicable_in_html(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CATALOGUE)
    pytester.runpytest("--card-target", "inprocess:under15", "--conformance-report", "out")
    html = (pytester.path / "out" / "report.html").read_text(encoding="utf-8")
    row = next(line for line in html.splitlines() if "T-SIGN-001" in line and "<tr>" in line)
    assert "NOT APPLICABLE" in row
    assert "PASS" not in row


def test_destructive_needs_consent_on_a_real_card(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAKE_REAL_CONFTEST)
    pytester.makepyfile(CATALOGUE)
    result = pytester.runpytest(
        "--card-target", "fakereal", "-k", "T-DES or T-SEL-001", "--conformance-report", "out",
        "-rs",
    )  # fmt: skip
    result.assert_outcomes(passed=1, skipped=1, deselected=3)
    result.stdout.fnmatch_lines(["*DESTRUCTIVE (needs --destructive-ok)*"])
    verdicts = _verdicts(pytester.path / "out")
    assert verdicts["T-DES-001", "fakereal"]["verdict"] == "SKIPPED-DESTRUCTIVE"
    assert verdicts["T-DES-001", "fakereal"]["transcript"] == []  # the card was not touched
    assert verdicts["T-SEL-001", "fakereal"]["verdict"] == "PASS"


def test_destructive_runs_with_consent(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAKE_REAL_CONFTEST)
    pytester.makepyfile(CATALOGUE)
    result = pytester.runpytest(
        "--card-target", "fakereal", "-k", "T-DES", "--destructive-ok",
        "--conformance-report", "out",
    )  # fmt: skip
    result.assert_outcomes(passed=1, deselected=4)
    assert _verdicts(pytester.path / "out")["T-DES-001", "fakereal"]["verdict"] == "PASS"


def test_teardown_failure_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def leaky():
            yield
            raise RuntimeError("teardown broke")

        @pytest.mark.spec("T-TD-001", section="1")
        def test_x(card, leaky):
            pass
        """
    )
    pytester.runpytest("--conformance-report", "out")
    record = _verdicts(pytester.path / "out")["T-TD-001", "inprocess:default"]
    assert record["verdict"] == "ERROR"
    assert record["message"].startswith("error in teardown: ")


def test_catalogue_test_without_card_has_no_target(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.spec("T-OFF-001", section="0")
        def test_offline():
            pass
        """
    )
    result = pytester.runpytest("--conformance-report", "out")
    result.assert_outcomes(passed=1)
    assert _verdicts(pytester.path / "out")["T-OFF-001", None]["verdict"] == "PASS"
