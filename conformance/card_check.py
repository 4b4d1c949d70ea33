"""`mynasim card-check`: run the card conformance catalogue and write its three reports.

    mynasim card-check                                    the virtual card (inprocess)
    mynasim card-check --target inprocess:under15
    mynasim card-check --target "pcsc:Virtual PCD 00 00" --persona default
    mynasim card-check --target "pcsc:SCR3310" --destructive-ok      (a real card: careful)
    mynasim card-check -- -k JPKI-SEL -x                   extra pytest arguments after --

Exit status: 0 when no test FAILed or ERRORed (NOT APPLICABLE and SKIPPED-DESTRUCTIVE are
not failures), 1 otherwise (also when nothing ran), 2 for bad arguments.

pytest is needed (the `test` extra); it is imported when the check runs, not before.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

DEFAULT_REPORT_DIR = Path("card-check-report")
_PYTEST_USAGE_ERROR = 4
_PYTEST_NO_TESTS = 5


def _error(message: str) -> int:
    print(f"mynasim card-check: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _check_targets(targets: Sequence[str], persona: str, control: str | None) -> str | None:
    """None, or why a target spec or the persona cannot be used (nothing is opened)."""
    from conformance.targets import TargetError, parse_target
    from simulator.personalization.persona import PersonaError

    for spec in targets:
        try:
            parse_target(spec, persona, control)
        except (TargetError, PersonaError) as error:
            return str(error)
    return None


def pytest_arguments(
    targets: Sequence[str],
    *,
    persona: str,
    report_dir: Path,
    destructive_ok: bool,
    control: str | None,
    extra_args: Sequence[str],
) -> list[str]:
    """The pytest command line of a card check (isolated from any project's pytest config)."""
    package_root = Path(__file__).resolve().parent.parent  # holds conformance/
    args = [
        "--pyargs",
        "conformance.suites",
        "-p",
        "no:cacheprovider",
        # no ini file of the current directory or of our repository applies ...
        "-c",
        os.devnull,
        "-o",
        "addopts=",
        # ... and node IDs read conformance/suites/test_x.py::test_y[target]
        "--rootdir",
        str(package_root),
        "--strict-markers",
        # `conformance` itself is imported already (we are in it): nothing to rewrite there
        "-W",
        "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning",
        "-rfE",
        "--junitxml",
        str(report_dir / "junit.xml"),
        "--conformance-report",
        str(report_dir),
        "--card-persona",
        persona,
    ]
    for target in targets:
        args += ["--card-target", target]
    if control is not None:
        args += ["--card-control", control]
    if destructive_ok:
        args.append("--destructive-ok")
    args += list(extra_args)
    return args


def run_card_check(
    targets: list[str],
    *,
    persona: str = "default",
    report_dir: Path,
    destructive_ok: bool = False,
    control: str | None = None,
    extra_args: Sequence[str] = (),
) -> int:
    """Run the catalogue against `targets` (default: inprocess), write report_dir/junit.xml,
    report.jsonl and report.html, print where they are and the verdict counts.

    Returns 0 (nothing FAILed/ERRORed), 1 (something did, or nothing ran) or 2 (bad
    arguments)."""
    try:
        import pytest
    except ImportError:
        return _error("needs pytest: pip install 'mynasim[test]'")
    from conformance import plugin
    from conformance.report import (
        FAILING,
        HTML_NAME,
        JSONL_NAME,
        JUNIT_NAME,
        count_verdicts,
        read_jsonl,
        summary_line,
    )

    targets = list(targets) or ["inprocess"]
    problem = _check_targets(targets, persona, control)
    if problem is not None:
        return _error(problem)
    report_dir = Path(report_dir).resolve()
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return _error(f"cannot create the report directory {report_dir}: {error}")
    jsonl = report_dir / JSONL_NAME
    jsonl.unlink(missing_ok=True)  # never summarise a previous run's report

    args = pytest_arguments(
        targets,
        persona=persona,
        report_dir=report_dir,
        destructive_ok=destructive_ok,
        control=control,
        extra_args=extra_args,
    )
    # The plugin normally arrives through its pytest11 entry point; pass it by hand only
    # where entry points are switched off (registering it twice is an error).
    plugins: list[Any] = [plugin] if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") else []
    status = int(pytest.main(args, plugins=plugins))
    if status == _PYTEST_USAGE_ERROR:
        return _error("pytest rejected the arguments (see above)")
    if not jsonl.exists():
        print(f"mynasim card-check: no report written (pytest exit status {status})")
        return EXIT_FAILED

    _, results = read_jsonl(jsonl)
    counts = count_verdicts(results)
    print()
    print(f"card-check: {summary_line(counts)}")
    for result in results:
        if result.verdict in FAILING:
            first = (result.message.splitlines() or [""])[0]
            print(f"  {result.verdict} {result.spec_id} [{result.target}] {first}")
    print(f"  JUnit XML:   {report_dir / JUNIT_NAME}")
    print(f"  JSON lines:  {jsonl}")
    print(f"  HTML:        {report_dir / HTML_NAME}")
    if status == _PYTEST_NO_TESTS or not results:
        print("mynasim card-check: no catalogue test ran", file=sys.stderr)
        return EXIT_FAILED
    if status != 0 or any(counts[verdict] for verdict in FAILING):
        return EXIT_FAILED
    return EXIT_OK


# ------------------------------------------------------------------------------ CLI


def add_card_check_parser(sub: Any) -> argparse.ArgumentParser:
    """Add `card-check` to the `mynasim` subcommands (`sub`: from add_subparsers())."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "card-check",
        help="run the card conformance suite against a card and write reports",
        description="Run mynasim's card conformance catalogue against one or more cards and "
        "write JUnit XML, JSON lines and HTML reports. Exit status 0 when no test failed "
        "(NOT APPLICABLE and skipped destructive tests are not failures), 1 otherwise, "
        "2 for bad arguments. Extra pytest arguments go after `--`.",
    )  # fmt: skip
    parser.add_argument(
        "--target", dest="targets", action="append", default=[], metavar="TARGET",
        help="card under test: inprocess[:PERSONA] or pcsc:READER-SUBSTRING (repeatable; "
        "default inprocess)",
    )  # fmt: skip
    parser.add_argument(
        "--persona", default="default", metavar="NAME|PATH",
        help="what the card under test holds (pcsc targets, and inprocess without :PERSONA); "
        "default: default",
    )  # fmt: skip
    parser.add_argument(
        "--report", type=Path, default=DEFAULT_REPORT_DIR, metavar="DIR",
        help=f"report directory (default: ./{DEFAULT_REPORT_DIR})",
    )  # fmt: skip
    parser.add_argument(
        "--destructive-ok", action="store_true",
        help="on a real card, also run tests that spend or block PIN tries (a blocked PIN "
        "needs a trip to the city office)",
    )  # fmt: skip
    parser.add_argument(
        "--control", default=None, metavar="URL",
        help="control endpoint of a served mynasim card: its PIN counters are restored "
        "after destructive tests",
    )  # fmt: skip
    parser.add_argument(
        "pytest_args", nargs="*", metavar="-- PYTEST-ARG",
        help="extra pytest arguments, e.g. -- -k JPKI-PIN -x",
    )  # fmt: skip
    return parser


def run_card_check_command(args: argparse.Namespace) -> int:
    return run_card_check(
        list(args.targets),
        persona=args.persona,
        report_dir=args.report,
        destructive_ok=args.destructive_ok,
        control=args.control,
        extra_args=list(args.pytest_args),
    )
