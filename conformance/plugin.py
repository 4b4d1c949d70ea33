"""pytest plugin of mynasim's card conformance suite (entry point `pytest11: mynasim`).

Light to import: only pytest and the standard library at load time; the simulator and
pyscard are imported when a target is opened.

    pytest --pyargs conformance.suites --card-target inprocess
    pytest --pyargs conformance.suites --card-target "pcsc:Virtual PCD 00 00" --destructive-ok

Markers (registered here, enforced with --strict-markers):
    spec(ID, section)     the test's stable ID (e.g. JPKI-PIN-003) and reference section;
                          the first line of the test's docstring is its title in the reports
    requires(*caps)       capabilities the target's persona must declare, else NOT APPLICABLE
    destructive           spends or blocks a try: on a real card only with --destructive-ok

Verdicts (per catalogue test, i.e. a test with a `spec` marker, and target): PASS, FAIL,
ERROR (setup or teardown failed), NOT APPLICABLE (a `requires` the target lacks),
SKIPPED-DESTRUCTIVE (a destructive test on a real card without --destructive-ok); rarely
SKIPPED (any other skip) and XFAIL. They go into the JUnit XML as testcase properties
(spec_id, title, section, target, verdict) and, with --conformance-report DIR, into DIR/junit.xml,
DIR/report.jsonl and DIR/report.html (`conformance.report`, `conformance.html_report`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conformance.channel import CardChannel
    from conformance.report import Result
    from conformance.targets import Target

# The relying-party scenarios as items (--rp, --rp-command, ...): conformance/rp/pytest_plugin.py
pytest_plugins = ["conformance.rp.pytest_plugin"]

NOT_APPLICABLE = "NOT APPLICABLE"
NEEDS_DESTRUCTIVE_OK = "DESTRUCTIVE (needs --destructive-ok)"
_TARGETS_KEY = pytest.StashKey[list["Target"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mynasim", "mynasim card conformance")
    group.addoption(
        "--card-target", action="append", default=[], metavar="TARGET",
        help="card under test: inprocess[:PERSONA] or pcsc:READER-SUBSTRING (repeatable; "
        "default inprocess)",
    )  # fmt: skip
    group.addoption(
        "--card-persona", default="default", metavar="NAME|PATH",
        help="what the card under test holds (PINs, data, applications); default: default",
    )  # fmt: skip
    group.addoption(
        "--card-control", default=None, metavar="URL",
        help="control endpoint of a served mynasim card (pcsc targets): its counters are "
        "restored after destructive tests",
    )  # fmt: skip
    group.addoption(
        "--destructive-ok", action="store_true",
        help="run tests that spend or block PIN tries on real cards (a blocked PIN needs a "
        "trip to the city office)",
    )  # fmt: skip
    group.addoption(
        "--conformance-report", default=None, metavar="DIR",
        help="write the conformance reports (JUnit XML, JSON lines, HTML) into DIR",
    )  # fmt: skip


@pytest.hookimpl(tryfirst=True)  # before junitxml's, which reads config.option.xmlpath
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spec(id, section): stable conformance test ID")
    config.addinivalue_line("markers", "requires(*capabilities): NOT APPLICABLE unless declared")
    config.addinivalue_line("markers", "destructive: spends or blocks PIN tries")
    config.stash[_RECORDER_KEY] = _Recorder(started=dt.datetime.now().astimezone())
    report_dir = config.getoption("--conformance-report")
    if report_dir and not getattr(config.option, "xmlpath", None) and not _is_worker(config):
        # pytest's own JUnit writer, into the report directory (an explicit --junitxml wins)
        config.option.xmlpath = str(Path(report_dir) / "junit.xml")


def _targets(config: pytest.Config) -> list[Target]:
    if _TARGETS_KEY not in config.stash:
        from conformance.targets import TargetError, parse_target

        specs = config.getoption("--card-target") or ["inprocess"]
        persona = config.getoption("--card-persona")
        control = config.getoption("--card-control")
        from simulator.personalization.persona import PersonaError

        try:
            config.stash[_TARGETS_KEY] = [parse_target(s, persona, control) for s in specs]
        except (TargetError, PersonaError) as error:
            raise pytest.UsageError(str(error)) from None
    return config.stash[_TARGETS_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Catalogue tests (those with a `spec` marker) run once per target."""
    if metafunc.definition.get_closest_marker("spec") is None:
        return
    if "target" not in metafunc.fixturenames:
        return
    targets = _targets(metafunc.config)
    metafunc.parametrize("target", targets, ids=[t.id for t in targets], indirect=True)


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Target:
    """The target of this test run (parametrized per --card-target)."""
    chosen: Target = request.param
    return chosen


@pytest.fixture
def card(target: Target, request: pytest.FixtureRequest) -> Iterator[CardChannel]:
    """A power-cycled channel to the target's card; state restored after the test."""
    channel = target.open()
    request.node.stash[_CHANNEL_KEY] = channel
    try:
        channel.reset()
        yield channel
    finally:
        target.close()
        if request.node.get_closest_marker("destructive") is not None:
            target.restore()


@pytest.fixture
def persona(target: Target) -> Any:
    """The persona the target declares (PIN values, expected data)."""
    return target.persona


_CHANNEL_KEY = pytest.StashKey["CardChannel"]()


def pytest_runtest_setup(item: pytest.Item) -> None:
    callspec = getattr(item, "callspec", None)
    if callspec is None or "target" not in callspec.params:
        return
    chosen: Target = callspec.params["target"]
    for marker in item.iter_markers("requires"):
        missing = set(marker.args) - chosen.capabilities
        if missing:
            pytest.skip(f"{NOT_APPLICABLE}: {chosen.id} declares no {', '.join(sorted(missing))}")
    if item.get_closest_marker("destructive") and not chosen.virtual:
        if not item.config.getoption("--destructive-ok"):
            pytest.skip(NEEDS_DESTRUCTIVE_OK)


def spec_of(item: pytest.Item) -> tuple[str, str] | None:
    """(test ID, reference section) of a catalogue test."""
    marker = item.get_closest_marker("spec")
    if marker is None:
        return None
    section = marker.kwargs.get("section", marker.args[1] if len(marker.args) > 1 else "")
    return str(marker.args[0]), str(section)


def title_of(item: pytest.Item) -> str:
    """What a catalogue test checks, in one line: its docstring's first line (else its
    function name in words)."""
    function = getattr(item, "function", None)
    doc = getattr(function, "__doc__", None) or ""
    for line in doc.strip().splitlines():
        if line.strip():
            return line.strip()
    name = getattr(function, "__name__", None) or item.name.partition("[")[0]
    return name.removeprefix("test_").replace("_", " ")


def channel_of(item: pytest.Item) -> CardChannel | None:
    return item.stash.get(_CHANNEL_KEY, None)


# ------------------------------------------------------------------------------ reports


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")  # a pytest-xdist worker


@dataclass
class _Pending:
    """What the phases of one catalogue test have told so far."""

    verdict: str | None = None
    message: str = ""
    duration: float = 0.0


@dataclass
class _Recorder:
    started: dt.datetime
    results: list[Result] = field(default_factory=list)
    pending: dict[str, _Pending] = field(default_factory=dict)


_RECORDER_KEY = pytest.StashKey[_Recorder]()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """A bad --card-target is a usage error even when no catalogue test is collected."""
    if session.config.getoption("--card-target"):
        _targets(session.config)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    explicit = config.getoption("--card-target") or config.getoption("--conformance-report")
    if not explicit:
        return None
    from conformance.report import tool_versions

    lines = []
    for chosen in _targets(config):
        kind = "virtual" if chosen.virtual else "real card"
        lines.append(
            f"card target: {chosen.id} ({kind}), persona {chosen.persona.name} "
            f"sha256 {chosen.persona.checksum[:16]}"
        )
    versions = tool_versions()
    lines.append(
        f"mynasim {versions.get('mynasim', '?')}, cryptography {versions.get('cryptography', '?')}"
    )
    return lines


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    return report.longreprtext


def _advance(pending: _Pending, report: pytest.TestReport, secrets: set[bytes]) -> None:
    from conformance.report import ERROR, FAIL, PASS, XFAIL, redact_text, shorten, skip_verdict

    pending.duration += report.duration
    if report.skipped:
        if hasattr(report, "wasxfail"):
            verdict = XFAIL
            message = str(report.wasxfail)
        else:
            message = _reason(report)
            verdict = skip_verdict(
                message, not_applicable=NOT_APPLICABLE, destructive=NEEDS_DESTRUCTIVE_OK
            )
        if pending.verdict is None:
            pending.verdict, pending.message = verdict, shorten(message)
    elif report.failed:
        failed = FAIL if report.when == "call" else ERROR
        if pending.verdict in (None, PASS):
            prefix = "" if failed == FAIL else f"error in {report.when}: "
            message = redact_text(prefix + _reason(report), secrets)
            pending.verdict, pending.message = failed, shorten(message)
    elif report.when == "call" and pending.verdict is None:
        pending.verdict = PASS


_SECRETS_KEY = pytest.StashKey[set[bytes]]()


def _secrets(config: pytest.Config) -> set[bytes]:
    """The PIN values of the targets' personas (cached)."""
    if _SECRETS_KEY not in config.stash:
        from conformance.report import pin_values

        targets = config.stash.get(_TARGETS_KEY, None)
        config.stash[_SECRETS_KEY] = pin_values(targets or [])
    return config.stash[_SECRETS_KEY]


def _redact_longrepr(config: pytest.Config, report: pytest.TestReport) -> None:
    """A failure's traceback may quote a PIN (assertion introspection shows the channel's
    transcript, a test's literal APDU): known PIN values become `**` there too, so neither
    the terminal nor the JUnit XML shows them."""
    from conformance.report import redact_text

    secrets = _secrets(config)
    text = report.longreprtext
    redacted = redact_text(text, secrets)
    if redacted != text:
        crash = getattr(report.longrepr, "reprcrash", None)
        if dataclasses.is_dataclass(crash) and not isinstance(crash, type):
            message = redact_text(str(getattr(crash, "message", "")), secrets)
            crash = dataclasses.replace(crash, message=message)
        report.longrepr = _RedactedRepr(redacted, crash)  # type: ignore[assignment]


class _RedactedRepr:
    """A failure representation whose text had PIN values taken out (it keeps the crash
    location, for pytest's short summary and the JUnit failure message)."""

    def __init__(self, text: str, reprcrash: Any) -> None:
        self.text = text
        self.reprcrash = reprcrash

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Fold the phases of a catalogue test into its verdict; on teardown, record it and put
    spec_id, title, section, target and verdict into the report's properties (JUnit XML)."""
    report = yield
    spec = spec_of(item)
    recorder = item.config.stash.get(_RECORDER_KEY, None)
    if spec is None or recorder is None:
        return report
    from conformance.report import ERROR, Result

    pending = recorder.pending.setdefault(item.nodeid, _Pending())
    _advance(pending, report, _secrets(item.config))
    if report.failed:
        _redact_longrepr(item.config, report)
    if report.when != "teardown":
        return report
    del recorder.pending[item.nodeid]
    callspec = getattr(item, "callspec", None)
    chosen = callspec.params.get("target") if callspec is not None else None
    target_id = getattr(chosen, "id", None)
    channel = channel_of(item)
    result = Result(
        spec_id=spec[0],
        section=spec[1],
        nodeid=item.nodeid,
        target=target_id,
        verdict=pending.verdict or ERROR,
        duration=pending.duration,
        message=pending.message,
        transcript=channel.transcript_lines() if channel is not None else [],
        title=title_of(item),
    )
    recorder.results.append(result)
    report.user_properties.extend(
        [
            ("spec_id", result.spec_id),
            ("title", result.title),
            ("section", result.section),
            ("target", target_id or ""),
            ("verdict", result.verdict),
        ]
    )
    return report


def conformance_results(config: pytest.Config) -> list[Result]:
    """The verdicts recorded so far in this run (one per catalogue test and target)."""
    recorder = config.stash.get(_RECORDER_KEY, None)
    return list(recorder.results) if recorder is not None else []


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    results = conformance_results(config)
    if not results:
        return
    from conformance.report import FAILING, count_verdicts, summary_line

    terminalreporter.section("card conformance")
    terminalreporter.line(summary_line(count_verdicts(results)))
    for result in results:
        if result.verdict in FAILING:
            first = (result.message.splitlines() or [""])[0]
            terminalreporter.line(f"{result.verdict} {result.spec_id} [{result.target}] {first}")
    report_dir = config.getoption("--conformance-report")
    if report_dir and _REPORTS_WRITTEN in config.stash:
        terminalreporter.line(f"reports: {config.stash[_REPORTS_WRITTEN]}")


_REPORTS_WRITTEN = pytest.StashKey[str]()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With --conformance-report DIR: write DIR/report.jsonl and DIR/report.html (pytest's
    junitxml plugin writes DIR/junit.xml)."""
    config = session.config
    report_dir = config.getoption("--conformance-report")
    if not report_dir or _is_worker(config) or exitstatus == pytest.ExitCode.USAGE_ERROR:
        return
    from conformance.html_report import write_html
    from conformance.report import (
        HTML_NAME,
        JSONL_NAME,
        pin_values,
        redact_text,
        run_header,
        write_jsonl,
    )

    recorder = config.stash[_RECORDER_KEY]
    targets = config.stash.get(_TARGETS_KEY, None)
    if targets is None:
        try:
            targets = _targets(config)
        except pytest.UsageError:
            targets = []
    secrets = pin_values(targets)
    results = list(recorder.results)
    for result in results:
        result.message = redact_text(result.message, secrets)
    options = {
        "card_target": config.getoption("--card-target") or ["inprocess"],
        "card_persona": config.getoption("--card-persona"),
        "card_control": config.getoption("--card-control"),
        "destructive_ok": bool(config.getoption("--destructive-ok")),
    }
    header = run_header(
        targets,
        started=recorder.started,
        finished=dt.datetime.now().astimezone(),
        results=results,
        options=options,
        exit_status=int(exitstatus),
    )
    directory = Path(report_dir)
    directory.mkdir(parents=True, exist_ok=True)
    write_jsonl(directory / JSONL_NAME, header, results)
    write_html(directory / HTML_NAME, header, results)
    config.stash[_REPORTS_WRITTEN] = str(directory)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`-k JPKI-PIN` selects by test ID (and area) too."""
    for item in items:
        spec = spec_of(item)
        if spec is not None:
            item.extra_keyword_matches.add(spec[0])
