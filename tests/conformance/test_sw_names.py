"""Status words by name in the card suite's failures, and every catalogue test's title in
the three reports (issue 16, item 3)."""

from __future__ import annotations

import ast
import json
import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path

import pytest

from conformance.card_check import run_card_check
from conformance.channel import Response
from conformance.sw import expect_not_sw, expect_sw, sw_name

pytest_plugins = ["pytester"]

SUITES = Path(__file__).resolve().parents[2] / "conformance" / "suites"


def test_sw_name() -> None:
    assert sw_name(0x63C2) == "63C2 (verification failed, 2 tries left)"
    assert sw_name(0x63C1) == "63C1 (verification failed, 1 try left)"
    assert sw_name(0x9000) == "9000 (success)"
    assert sw_name(0x6984) == "6984 (reference data blocked)"
    assert sw_name(0x6A82) == "6A82 (file or application not found)"
    assert sw_name(0x1234) == "1234 (unknown status)"  # never fails


def test_expect_sw_names_both_status_words() -> None:
    with pytest.raises(AssertionError) as failure:
        expect_sw(0x63C2, 0x9000)
    message = str(failure.value)
    assert message == "expected 9000 (success), got 63C2 (verification failed, 2 tries left)"
    assert "25538" not in message and "36864" not in message


def test_expect_sw_shows_the_command_without_the_pin() -> None:
    verify = bytes.fromhex("0020008004") + b"1234"
    with pytest.raises(AssertionError) as failure:
        expect_sw(Response(b"", 0x63C2, verify), 0x9000, 0x6982, note="auth PIN")
    message = str(failure.value)
    assert message.splitlines() == [
        "expected 9000 (success) or 6982 (security status not satisfied), "
        "got 63C2 (verification failed, 2 tries left) [auth PIN]",
        "after 00 20 00 80 04 ** ** ** **",
    ]
    assert "1234" not in message and "31 32 33 34" not in message.upper()


def test_expect_sw_passes_on_any_expected_word() -> None:
    expect_sw(Response(b"", 0x6982), 0x9000, 0x6982)
    expect_sw(0x9000, 0x9000)
    expect_not_sw(0x6A82, 0x9000)
    with pytest.raises(AssertionError, match=r"^expected anything but 9000 \(success\), got 9000"):
        expect_not_sw(Response(b"", 0x9000), 0x9000)


def test_no_bare_status_word_comparison_left_in_the_suite() -> None:
    """Every status word in conformance/suites is compared through expect_sw/expect_not_sw
    (a bare `assert x.sw == 0x9000` would fail with `assert 25538 == 36864`)."""
    offending = []
    for path in sorted(SUITES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(
                isinstance(part, ast.Attribute) and part.attr == "sw"
                for part in [node.left, *node.comparators]
            ):
                offending.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare):
                for part in [node.test.left, *node.test.comparators]:
                    if isinstance(part, ast.Constant) and part.value in (0x9000, 0x6982, 0x6984):
                        offending.append(f"{path.name}:{node.lineno}")
    # helpers may test a response's success for control flow (`sw != OK`, `Response.ok`)
    assert [o for o in offending if not o.startswith("helpers.py")] == []


def test_failing_status_word_in_the_reports(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from conformance.sw import expect_sw

        @pytest.mark.spec("T-PIN-001", section="4.2")
        def test_wrong_pin(card):
            '''A wrong PIN is accepted (it is not)'''
            card.send("00A4040C0AD392F000260100000001")
            card.send("00A4020C020018")
            expect_sw(card.send("002000800439393939"), 0x9000)
        """
    )
    result = pytester.runpytest("--card-target", "inprocess", "--conformance-report", "out")
    result.assert_outcomes(failed=1)
    shown = "expected 9000 (success), got 63C2 (verification failed, 2 tries left)"
    result.stdout.fnmatch_lines([f"*{shown}*"])
    lines = (pytester.path / "out" / "report.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[1])
    assert record["message"].startswith(f"AssertionError: {shown}")
    assert "after 00 20 00 80 04 ** ** ** **" in record["message"]
    junit = (pytester.path / "out" / "junit.xml").read_text(encoding="utf-8")
    html = (pytester.path / "out" / "report.html").read_text(encoding="utf-8")
    for text in (record["message"], junit, html, result.stdout.str()):
        assert "63C2 (verification failed, 2 tries left)" in text
        for decimal in ("25538", "36864"):
            assert decimal not in text


def _docstring_titles() -> dict[str, str]:
    """Spec ID -> first docstring line, of every catalogue test in conformance/suites."""
    titles: dict[str, str] = {}
    for path in sorted(SUITES.glob("test_*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith(
                    "mark.spec"
                ):
                    spec_id = ast.literal_eval(decorator.args[0])
                    doc = ast.get_docstring(node) or ""
                    titles[spec_id] = doc.strip().splitlines()[0] if doc.strip() else ""
    return titles


def test_every_catalogue_test_has_a_one_line_title() -> None:
    titles = _docstring_titles()
    assert len(titles) > 150
    assert [spec_id for spec_id, title in titles.items() if not title] == []


def test_card_check_reports_carry_every_title(tmp_path: Path) -> None:
    assert run_card_check(["inprocess"], report_dir=tmp_path) in (0, 1)  # verdicts aside
    titles = _docstring_titles()

    lines = (tmp_path / "report.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines[1:]]
    assert {r["id"] for r in records} == set(titles)
    for record in records:
        assert record["title"] == titles[record["id"]], record["id"]

    root = ET.parse(tmp_path / "junit.xml").getroot()  # noqa: S314 (ours)
    seen = 0
    for case in root.iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        if "spec_id" in props:
            assert props["title"] == titles[props["spec_id"]], props["spec_id"]
            seen += 1
    assert seen == len(records)

    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    for spec_id, title in titles.items():
        assert f"<tr><td><code>{spec_id}</code></td><td>{escape(title)}</td>" in html


def test_old_report_lines_without_title_still_read() -> None:
    from conformance.report import Result

    old = {"type": "test", "id": "JPKI-PIN-001", "section": "4.2", "verdict": "PASS"}
    result = Result.from_json(old)
    assert result.title == ""
    assert Result.from_json(result.to_json()) == result
    titled = Result("JPKI-PIN-001", "4.2", "n", "t", "PASS", title="The query spends nothing")
    assert Result.from_json(json.loads(json.dumps(titled.to_json()))).title == titled.title
