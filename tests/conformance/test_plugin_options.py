"""The conformance plugin's options, test IDs and parametrization (pytester)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CATALOGUE_TEST = """
import pytest

@pytest.mark.spec("T-SEL-001", section="2")
def test_x(card):
    assert card.send("00A4040C0AD392F000260100000001").sw == 0x9000
"""


def test_options_are_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*mynasim card conformance*"])
    for option in (
        "--card-target",
        "--card-persona",
        "--card-control",
        "--destructive-ok",
        "--conformance-report",
    ):
        assert option in result.stdout.str()


def test_options_parse(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_options(pytestconfig):
            assert pytestconfig.getoption("--card-target") == ["inprocess:under15"]
            assert pytestconfig.getoption("--card-persona") == "under15"
            assert pytestconfig.getoption("--card-control") == "http://127.0.0.1:1/"
            assert pytestconfig.getoption("--destructive-ok") is True
        """
    )
    result = pytester.runpytest(
        "--card-target=inprocess:under15",
        "--card-persona=under15",
        "--card-control=http://127.0.0.1:1/",
        "--destructive-ok",
    )
    result.assert_outcomes(passed=1)


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["*spec(id, section)*", "*requires(*", "*destructive*"])


def test_default_target_id(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CATALOGUE_TEST)
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_default_target_id.py::test_x[[]inprocess:default[]]"])
    assert result.ret == 0


def test_two_targets_two_items(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CATALOGUE_TEST)
    result = pytester.runpytest(
        "-v", "--card-target", "inprocess", "--card-target", "inprocess:under15"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*::test_x[[]inprocess:default[]] PASSED*",
            "*::test_x[[]inprocess:under15[]] PASSED*",
        ]
    )


def test_bad_target_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CATALOGUE_TEST)
    result = pytester.runpytest("--card-target", "floppy:A")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--card-target 'floppy:A'*expected inprocess*"])


def test_bad_target_is_a_usage_error_without_catalogue_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain(): pass")
    result = pytester.runpytest("--card-target", "floppy:A")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_unknown_persona_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CATALOGUE_TEST)
    result = pytester.runpytest("--card-target", "inprocess:no-such-persona")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no-such-persona*"])


def test_tests_without_spec_are_untouched(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def target():
            return "mine"

        def test_plain():
            pass

        def test_own_target_fixture(target):
            assert target == "mine"

        @pytest.mark.parametrize("n", [1, 2])
        def test_parametrized(n):
            assert n in (1, 2)
        """
    )
    result = pytester.runpytest(
        "-v", "--card-target", "inprocess", "--card-target", "inprocess:under15", "-rA"
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*::test_plain PASSED*", "*::test_parametrized[[]1[]] PASSED*"])
    assert "card conformance" not in result.stdout.str()  # no verdict summary


def test_keyword_selects_by_spec_id(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        CATALOGUE_TEST
        + """

@pytest.mark.spec("T-OTHER-001", section="3")
def test_other(card):
    pass
"""
    )
    result = pytester.runpytest("-k", "T-SEL")
    result.assert_outcomes(passed=1, deselected=1)


def test_report_header_names_targets_and_persona(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CATALOGUE_TEST)
    result = pytester.runpytest("--card-target", "inprocess:under15")
    result.stdout.fnmatch_lines(
        ["card target: inprocess:under15 (virtual), persona under15 sha256 *", "mynasim *"]
    )


def test_plugin_import_is_light() -> None:
    """Loaded into every pytest run of the environment: no simulator, pyscard, hypothesis
    or cryptography at import time (HypothesisWorks/hypothesis#3140)."""
    code = (
        "import sys, conformance.plugin\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'simulator', 'smartcard', 'hypothesis', 'cryptography'})\n"
        "print(heavy)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
