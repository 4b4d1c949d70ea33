"""`mynasim card-check` (conformance.card_check): runs the catalogue, writes three reports."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from conformance.card_check import (
    add_card_check_parser,
    pytest_arguments,
    run_card_check,
    run_card_check_command,
)

REPORTS = ["junit.xml", "report.html", "report.jsonl"]


def _header_and_verdicts(report_dir: Path) -> tuple[dict[str, object], list[str]]:
    lines = (report_dir / "report.jsonl").read_text(encoding="utf-8").splitlines()
    header, *records = (json.loads(line) for line in lines)
    return header, [record["verdict"] for record in records]


def test_inprocess_passes_and_writes_three_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_card_check(["inprocess"], report_dir=tmp_path / "r") == 0
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == REPORTS
    _, verdicts = _header_and_verdicts(tmp_path / "r")
    assert verdicts
    assert not {"FAIL", "ERROR"} & set(verdicts)
    out = capsys.readouterr().out
    assert "card-check: " in out and " PASS" in out
    for name in REPORTS:
        assert str(tmp_path / "r" / name) in out


def test_under15_not_applicable_is_not_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_card_check(["inprocess:under15"], report_dir=tmp_path) == 0
    header, verdicts = _header_and_verdicts(tmp_path)
    assert "NOT APPLICABLE" in verdicts  # no signature certificate under 15
    assert header["targets"] == [
        {
            "id": "inprocess:under15",
            "kind": "inprocess",
            "virtual": True,
            "persona": "under15",
            "persona_checksum": header["personas"][0]["checksum"],  # type: ignore[index]
        }
    ]
    assert "NOT APPLICABLE" in capsys.readouterr().out


def test_bad_target_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_card_check(["floppy:A"], report_dir=tmp_path) == 2
    assert "--card-target 'floppy:A'" in capsys.readouterr().err
    assert not (tmp_path / "report.jsonl").exists()


def test_bad_persona_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_card_check(["inprocess"], persona="no-such", report_dir=tmp_path) == 2
    assert "no-such" in capsys.readouterr().err


def test_bad_pytest_argument_is_exit_2(tmp_path: Path) -> None:
    assert run_card_check(["inprocess"], report_dir=tmp_path, extra_args=["--no-such"]) == 2


def test_nothing_selected_is_a_failure(tmp_path: Path) -> None:
    assert run_card_check([], report_dir=tmp_path, extra_args=["-k", "NO-SUCH-ID"]) == 1


def test_selection_by_spec_id(tmp_path: Path) -> None:
    assert run_card_check([], report_dir=tmp_path, extra_args=["-k", "JPKI-SEL-001"]) == 0
    _, verdicts = _header_and_verdicts(tmp_path)
    assert verdicts == ["PASS"]


def test_pytest_arguments_are_isolated(tmp_path: Path) -> None:
    args = pytest_arguments(
        ["inprocess", "pcsc:Reader"], persona="default", report_dir=tmp_path,
        destructive_ok=True, control="http://127.0.0.1:35964", extra_args=["-x"],
    )  # fmt: skip
    assert args[:2] == ["--pyargs", "conformance.suites"]
    for expected in (["-p", "no:cacheprovider"], ["-o", "addopts="], ["--destructive-ok"]):
        assert any(args[i : i + len(expected)] == expected for i in range(len(args)))
    assert args.count("--card-target") == 2
    assert args[args.index("--junitxml") + 1] == str(tmp_path / "junit.xml")
    assert args[args.index("--card-control") + 1] == "http://127.0.0.1:35964"
    assert args[-1] == "-x"


def test_command_line(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="mynasim")
    add_card_check_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["card-check", "--target", "inprocess:under15", "--report", str(tmp_path), "--", "-q"]
    )
    assert args.targets == ["inprocess:under15"]
    assert args.persona == "default"
    assert args.destructive_ok is False and args.control is None
    assert args.pytest_args == ["-q"]
    assert run_card_check_command(args) == 0
    assert (tmp_path / "report.html").exists()

    defaults = parser.parse_args(["card-check"])
    assert defaults.targets == [] and defaults.report == Path("card-check-report")
