"""The pytest form of the relying-party scenarios (conformance/rp/pytest_plugin.py), without
pcscd: the options and rp-check's parser behind them, usage errors, the collected node IDs,
the verdict mapping and the reports (the stack replaced by a fake world that answers each
scenario with a chosen verdict). tests/interop/test_rp_pytest_run.py runs the real stack."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import ClassVar

import pytest

from conformance.report import ERROR, FAIL, NOT_APPLICABLE, PASS, read_jsonl
from conformance.rp import pytest_plugin
from conformance.rp.harness import RpWorld, ScenarioRun
from conformance.rp.scenarios import Scenario

pytest_plugins = ["pytester"]

SOFTWARE = """
def login(context):
    return {"outcome": "accepted"}
"""


def _options(**given: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "rp_builtin": None,
        "rp_commands": [],
        "rp_flows": [],
        "rp_python": None,
        "rp_pkcs11": None,
        "rp_pin_via": None,
    }
    values.update(given)
    return argparse.Namespace(**values)


def test_options_become_rp_check_arguments_flows_first() -> None:
    argv = pytest_plugin.rp_check_argv(
        _options(
            rp_commands=["login=a {reader}", "b"],
            rp_flows=["login", "sign"],
            rp_pin_via="stdin",
        )
    )
    assert argv == [
        "--flow", "login", "--flow", "sign",
        "--command", "login=a {reader}", "--command", "b",
        "--pin-via", "stdin",
    ]  # fmt: skip
    assert pytest_plugin.rp_check_argv(_options(rp_builtin="reference:auto-retry")) == [
        "--rp",
        "reference:auto-retry",
    ]
    # two programs: the n-th --rp-command is the n-th --rp-flow's
    two = pytest_plugin.rp_check_argv(_options(rp_commands=["a", "b"], rp_flows=["sign", "login"]))
    assert two == ["--flow", "sign", "--command", "a", "--flow", "login", "--command", "b"]
    python = pytest_plugin.rp_check_argv(_options(rp_python="m:f", rp_flows=["sign"]))
    assert python == ["--flow", "sign", "--python", "m:f"]
    assert pytest_plugin.rp_check_argv(_options(rp_pkcs11="m:f")) == ["--pkcs11", "m:f"]


def test_options_are_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*mynasim relying-party scenarios*"])
    for option in (
        "--rp-command",
        "--rp-flow",
        "--rp-python",
        "--rp-pkcs11",
        "--rp-pin-via",
        "--rp-scenario",
        "--rp-timeout",
        "--rp-report",
    ):
        assert option in result.stdout.str()


def test_one_item_per_scenario_and_flow(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--collect-only", "-q", "--rp", "reference",
        "--rp-scenario", "RP-PIN-003", "--rp-scenario", "RP-DATA-001",
    )  # fmt: skip
    assert result.ret == 0
    lines = [line for line in result.stdout.lines if line.startswith("mynasim-rp::")]
    assert lines == [
        "mynasim-rp::RP-PIN-003[login]",
        "mynasim-rp::RP-PIN-003[sign]",
        "mynasim-rp::RP-DATA-001[sign]",
    ]
    assert "3 tests collected" in result.stdout.str()


def test_a_scenario_for_no_flow_of_the_software_is_one_item(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--collect-only", "-q", "--rp", "reference", "--rp-flow", "login",
        "--rp-scenario", "RP-PIN-003", "--rp-scenario", "RP-DATA-001",
    )  # fmt: skip
    assert result.ret == 0
    lines = [line for line in result.stdout.lines if line.startswith("mynasim-rp::")]
    assert lines == ["mynasim-rp::RP-PIN-003[login]", "mynasim-rp::RP-DATA-001[-]"]


def test_the_items_join_the_test_files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_own():\n    pass\n")
    result = pytester.runpytest(
        "--collect-only", "-q", "--rp", "reference", "--rp-scenario", "RP-PIN-001"
    )
    result.stdout.fnmatch_lines(
        ["test_the_items_join_the_test_files.py::test_own", "mynasim-rp::RP-PIN-001[[]login[]]"]
    )


def test_without_rp_options_nothing_is_added(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_own():\n    pass\n")
    result = pytester.runpytest("--collect-only", "-q")
    assert "mynasim-rp" not in result.stdout.str()
    assert result.ret == 0


def test_keyword_selects_by_scenario_and_flow(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--collect-only", "-q", "--rp", "reference", "--rp-scenario", "RP-PIN-00",
        "-k", "RP-PIN-003 and sign",
    )  # fmt: skip
    lines = [line for line in result.stdout.lines if line.startswith("mynasim-rp::")]
    assert lines == ["mynasim-rp::RP-PIN-003[sign]"]


def test_nothing_selected_is_not_success(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--rp", "reference", "--rp-scenario", "RP-PIN-001",
        "-k", "no-such-scenario",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--rp-scenario", "RP-PIN"], "need the software under test"),
        (["--rp", "reference", "--rp-scenario", "RP-NOPE"], "no scenario matches 'RP-NOPE'"),
        (["--rp", "reference:no-such-bug"], "no mutant 'no-such-bug'"),
        (["--rp", "no-such-rp"], "no built-in relying party 'no-such-rp'"),
        (["--rp-command", "true"], "--rp-flow"),
        (["--rp-command", "rp {nonce}", "--rp-flow", "login"], "unknown placeholder {nonce}"),
        (["--rp-python", "m:f", "--rp", "reference"], "one of --rp, --rp-command"),
        (["--rp", "reference", "--rp-flow", "both"], "invalid choice: 'both'"),
        (["--rp-command", "t", "--rp-flow", "login", "--rp-pin-via", "mail"], "invalid choice"),
        (["--rp", "reference", "--rp-timeout", "0"], "more than 0"),
        (["--rp", "reference", "--rp-timeout", "soon"], "not a number: 'soon'"),
        (["--rp-python", "no_such_module_here:f", "--rp-flow", "login"], "no_such_module_here"),
        (["--rp", "pyhanko", "--rp-flow", "login"], "does none of the flows"),
    ],
)
def test_bad_options_are_usage_errors(
    pytester: pytest.Pytester, arguments: list[str], message: str
) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", *arguments)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    assert message in result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


# -- running, with the stack replaced ---------------------------------------------------------


class FakeWorld:
    """Stands in for the stack: each scenario gets the verdict of VERDICTS[scenario ID]."""

    VERDICTS: ClassVar[dict[str, str]] = {}
    starts: ClassVar[int] = 0


def _fake_start(self: RpWorld) -> RpWorld:
    FakeWorld.starts += 1
    return self


def _fake_run(self: RpWorld, adapter: object, scenario: Scenario, flow: str) -> ScenarioRun:
    verdict = FakeWorld.VERDICTS[scenario.id]
    message = {FAIL: "step 1: pin-budget FAIL: it tried again", ERROR: "harness: broke"}
    return ScenarioRun(
        scenario,
        flow,  # type: ignore[arg-type]
        getattr(adapter, "name", "?"),
        verdict,
        message.get(verdict, "no identity reported" if verdict == NOT_APPLICABLE else ""),
    )


@pytest.fixture
def fake_world(monkeypatch: pytest.MonkeyPatch) -> type[FakeWorld]:
    monkeypatch.setattr(RpWorld, "start", _fake_start)
    monkeypatch.setattr(RpWorld, "run", _fake_run)
    FakeWorld.starts = 0
    return FakeWorld


def test_verdicts_map_to_outcomes_and_reports(
    pytester: pytest.Pytester, fake_world: type[FakeWorld], tmp_path: Path
) -> None:
    fake_world.VERDICTS = {
        "RP-PIN-001": PASS,
        "RP-PIN-003": FAIL,
        "RP-PIN-004": ERROR,
        "RP-DATA-002": NOT_APPLICABLE,
    }
    pytester.makepyfile(rp_software=SOFTWARE)
    pytester.syspathinsert()
    report = tmp_path / "report"
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-v", "-rA",
        "--rp-python", "rp_software:login", "--rp-flow", "login",
        "--rp-scenario", "RP-PIN-001", "--rp-scenario", "RP-PIN-003",
        "--rp-scenario", "RP-PIN-004", "--rp-scenario", "RP-DATA-001",
        "--rp-report", str(report),
    )  # fmt: skip
    output = result.stdout.str()
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert fake_world.starts == 1  # one stack for the session
    result.stdout.fnmatch_lines(
        [
            "*mynasim-rp::RP-PIN-001[[]login[]] PASSED*",
            "*mynasim-rp::RP-PIN-003[[]login[]] FAILED*",
            "*mynasim-rp::RP-PIN-004[[]login[]] ERROR*",
            "*mynasim-rp::RP-DATA-001[[]-[]] SKIPPED*",
        ]
    )
    assert "FAILED mynasim-rp::RP-PIN-003[login] - step 1: pin-budget FAIL" in output
    assert "# RP-PIN-003 " in output  # the transcript is in the failure
    result.stdout.fnmatch_lines(["ERROR mynasim-rp::RP-PIN-004[[]login[]] - *harness: broke"])
    assert "NOT APPLICABLE: the scenario is for sign" in output
    assert "mynasim rp transcript" in output  # -rP shows a pass's transcript
    assert "Traceback" not in output
    result.stdout.fnmatch_lines(["*mynasim relying-party scenarios*", "*1 PASS, 1 FAIL*"])

    header, results = read_jsonl(report / "report.jsonl")
    assert header["tool"] == "mynasim relying-party conformance"
    assert header["exit_status"] == 1 and header["targets"][0]["id"] == "rp_software:login"
    assert {r.nodeid: r.verdict for r in results} == {
        "RP-PIN-001[login]": PASS,
        "RP-PIN-003[login]": FAIL,
        "RP-PIN-004[login]": ERROR,
        "RP-DATA-001[-]": NOT_APPLICABLE,
    }
    suite = ET.parse(report / "junit.xml").getroot()  # noqa: S314 - our own file
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "1")
    assert "RP-PIN-003" in (report / "report.html").read_text(encoding="utf-8")


def test_a_not_applicable_run_is_a_skip(
    pytester: pytest.Pytester, fake_world: type[FakeWorld], tmp_path: Path
) -> None:
    fake_world.VERDICTS = {"RP-DATA-002": NOT_APPLICABLE}
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-rs", "--rp", "reference", "--rp-scenario", "RP-DATA-002",
        "--rp-report", str(tmp_path),
    )  # fmt: skip
    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.OK
    assert "NOT APPLICABLE: no identity reported" in result.stdout.str()
    lines = (tmp_path / "report.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["exit_status"] == 0
    assert json.loads(lines[1])["verdict"] == NOT_APPLICABLE


def test_a_stack_that_does_not_start_is_an_error_per_item(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    attempts = []

    def refuse(self: RpWorld) -> RpWorld:
        attempts.append(1)
        raise RuntimeError("pcscd is not installed")

    monkeypatch.setattr(RpWorld, "start", refuse)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--rp", "reference", "--rp-scenario", "RP-PIN-001",
        "--rp-scenario", "RP-PIN-003", "--rp-report", str(tmp_path),
    )  # fmt: skip
    result.assert_outcomes(errors=3)
    assert attempts == [1]  # tried once, not once per item
    assert result.stdout.str().count("the test stack did not start: pcscd is not installed") >= 3
    assert "Traceback" not in result.stdout.str()
    _, results = read_jsonl(tmp_path / "report.jsonl")
    assert [r.verdict for r in results] == [ERROR, ERROR, ERROR]


def test_plugin_import_is_light() -> None:
    """Loaded into every pytest run of the environment (by conformance.plugin): pytest and
    the standard library only until an RP option is given."""
    code = (
        "import sys, conformance.rp.pytest_plugin\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'simulator', 'smartcard', 'hypothesis', 'cryptography'} or m.startswith("
        "('conformance.rp.', 'conformance.report')) and m != 'conformance.rp.pytest_plugin')\n"
        "print(heavy)\n"
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
