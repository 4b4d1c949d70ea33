"""The conformance reports: JUnit XML properties, JSON lines, HTML (pytester)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

AUTH_PIN_HEX = "31323334"  # the default persona's authentication PIN "1234"

CATALOGUE = f"""
import pytest

AID = "00A4040C0AD392F000260100000001"

@pytest.mark.spec("T-PIN-001", section="4.2")
def test_verify_then_fail(card):
    '''The auth PIN opens the key, then a <deliberate> failure

    More lines of the docstring are not in the title.
    '''
    assert card.send(AID).sw == 0x9000
    assert card.send("00A4020C020018").sw == 0x9000
    assert card.send("0020008004{AUTH_PIN_HEX}").sw == 0x9000
    assert False, "deliberate <b>failure</b> & more"

@pytest.mark.spec("T-PIN-002", section="4.2")
def test_passes(card):
    assert card.send(AID).sw == 0x9000

@pytest.mark.spec("T-SIGN-001", section="3.1")
@pytest.mark.requires("sign_certificate")
def test_needs_sign_certificate(card):
    pass

def test_not_in_the_catalogue():
    pass
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(CATALOGUE)
    return pytester.runpytest(
        "--card-target", "inprocess", "--card-target", "inprocess:under15",
        "--conformance-report", "out", *args,
    )  # fmt: skip


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_three_reports_are_written(pytester: pytest.Pytester) -> None:
    result = _run(pytester)
    result.assert_outcomes(passed=4, failed=2, skipped=1)
    out = pytester.path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "report.html", "report.jsonl"]


def test_no_reports_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CATALOGUE)
    pytester.runpytest()
    assert not (pytester.path / "out").exists()
    assert not list(pytester.path.glob("*.xml"))


def test_junit_properties(pytester: pytest.Pytester) -> None:
    _run(pytester)
    root = ET.parse(pytester.path / "out" / "junit.xml").getroot()  # noqa: S314 (ours)
    cases = {case.get("name"): case for case in root.iter("testcase")}
    props = {
        name: {p.get("name"): p.get("value") for p in case.iter("property")}
        for name, case in cases.items()
    }
    assert props["test_verify_then_fail[inprocess:default]"] == {
        "spec_id": "T-PIN-001",
        "title": "The auth PIN opens the key, then a <deliberate> failure",
        "section": "4.2",
        "target": "inprocess:default",
        "verdict": "FAIL",
    }
    assert props["test_needs_sign_certificate[inprocess:under15]"]["verdict"] == "NOT APPLICABLE"
    assert props["test_passes[inprocess:under15]"]["verdict"] == "PASS"
    assert props["test_passes[inprocess:under15]"]["title"] == "passes"  # no docstring
    assert props["test_not_in_the_catalogue"] == {}  # untouched


def test_explicit_junitxml_wins(pytester: pytest.Pytester) -> None:
    _run(pytester, "--junitxml", "elsewhere.xml")
    assert (pytester.path / "elsewhere.xml").exists()
    assert not (pytester.path / "out" / "junit.xml").exists()
    assert (pytester.path / "out" / "report.jsonl").exists()


def test_json_lines(pytester: pytest.Pytester) -> None:
    _run(pytester)
    header, *records = _jsonl(pytester.path / "out" / "report.jsonl")
    assert header["type"] == "run"
    assert [t["id"] for t in header["targets"]] == ["inprocess:default", "inprocess:under15"]
    personas = {p["name"]: p["checksum"] for p in header["personas"]}
    assert set(personas) == {"default", "under15"}
    assert all(len(checksum) == 64 for checksum in personas.values())
    for name in ("mynasim", "pytest", "python", "cryptography"):
        assert header["versions"][name]
    assert header["started"] and header["finished"]
    assert header["counts"] == {"PASS": 3, "FAIL": 2, "NOT APPLICABLE": 1}

    assert len(records) == 6  # the test without `spec` is not in the catalogue
    keys = {"type", "id", "title", "section", "nodeid", "target", "verdict", "duration"}
    keys |= {"message"}
    assert all(keys | {"transcript"} == set(r) for r in records)
    failed = next(
        r for r in records if r["id"] == "T-PIN-001" and r["target"] == "inprocess:default"
    )
    assert failed["verdict"] == "FAIL"
    assert failed["section"] == "4.2"
    assert failed["title"] == "The auth PIN opens the key, then a <deliberate> failure"
    assert failed["nodeid"] == "test_json_lines.py::test_verify_then_fail[inprocess:default]"
    assert "deliberate <b>failure</b> & more" in failed["message"]
    assert failed["duration"] >= 0
    transcript = failed["transcript"]
    assert transcript[0].startswith("-- reset, ATR ")
    assert "> 00 20 00 80 04 ** ** ** **" in transcript
    assert "< 9000 (success)" in transcript


def test_no_raw_pin_anywhere(pytester: pytest.Pytester) -> None:
    """Not in the transcript, nor where an assertion's introspection quotes the APDU."""
    _run(pytester)
    pytester.makepyfile(
        test_quotes_the_pin=f"""
        import pytest

        @pytest.mark.spec("T-PIN-009", section="4.2")
        def test_quotes(card):
            card.send("00A4040C0AD392F000260100000001")
            card.send("00A4020C020018")
            assert card.send("0020008004{AUTH_PIN_HEX}").sw == 0x6300
        """
    )
    result = pytester.runpytest(
        "test_quotes_the_pin.py", "--conformance-report", "out2", "--junitxml", "out2/j.xml"
    )
    result.assert_outcomes(failed=1)
    assert "** ** ** **" in (pytester.path / "out2" / "report.jsonl").read_text()
    for report in [*(pytester.path / "out").iterdir(), *(pytester.path / "out2").iterdir()]:
        text = report.read_text(encoding="utf-8")
        for shown in (AUTH_PIN_HEX, "31 32 33 34"):
            assert shown not in text, (report.name, shown)
    for jsonl in (pytester.path / "out" / "report.jsonl", pytester.path / "out2" / "report.jsonl"):
        for record in _jsonl(jsonl)[1:]:
            assert "1234" not in record["message"] + "\n".join(record["transcript"])
    assert "1234" not in (pytester.path / "out2" / "j.xml").read_text(encoding="utf-8")
    assert AUTH_PIN_HEX not in result.stdout.str()


def test_html_report(pytester: pytest.Pytester) -> None:
    _run(pytester)
    html = (pytester.path / "out" / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    # self-contained: no scripts, no external assets
    for needle in ("<script", "src=", "href=", "@import", "url("):
        assert needle not in html
    # header
    assert "inprocess:default" in html and "inprocess:under15" in html
    assert "default</code> sha256" in html and "under15</code> sha256" in html
    assert "mynasim " in html and "cryptography " in html
    # summary by area (ID up to the second dash)
    assert "<code>T-PIN</code>" in html and "<code>T-SIGN</code>" in html
    # the failure with its message and transcript, escaped
    failures = html.split("<h2>Failures and errors</h2>")[1].split("<h2>All tests</h2>")[0]
    assert "T-PIN-001" in failures
    assert "deliberate &lt;b&gt;failure&lt;/b&gt; &amp; more" in failures
    assert "<b>failure</b>" not in html
    assert "&gt; 00 20 00 80 04 ** ** ** **" in failures
    assert "&lt; 9000 (success)" in failures
    # the full list
    full = html.split("<h2>All tests</h2>")[1]
    assert full.count("<tr><td><code>T-") == 6
    assert "NOT APPLICABLE" in full
    # titles next to the IDs, escaped
    title = "The auth PIN opens the key, then a &lt;deliberate&gt; failure"
    assert "<th>Title</th>" in full
    assert f"<tr><td><code>T-PIN-001</code></td><td>{title}</td>" in full
    assert f"<code>T-PIN-001</code> {title} on" in failures
    assert "<td>passes</td>" in full  # no docstring: the function name in words


def test_html_escapes_everything() -> None:
    from conformance.html_report import render_html
    from conformance.report import Result

    evil = "<script>alert(1)</script>"
    result = Result(
        spec_id=f"X-{evil}-1", section=evil, nodeid=evil, target=evil, verdict="FAIL",
        message=evil, transcript=[evil], title=evil,
    )  # fmt: skip
    header = {
        "started": evil,
        "targets": [{"id": evil, "kind": evil, "virtual": False}],
        "personas": [{"name": evil, "checksum": evil}],
        "versions": {evil: evil},
        "options": {evil: evil},
    }
    html = render_html(header, [result])
    assert "<script" not in html
    assert "&lt;script&gt;" in html
