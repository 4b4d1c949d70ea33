"""The relying-party scenarios as pytest items: `mynasim rp-check` inside a pytest run.

Registered by `conformance.plugin` (entry point `pytest11: mynasim`); light to import: only
pytest and the standard library at load time, the harness when a scenario runs.

    pytest --rp reference                                         # the reference RP
    pytest --rp reference:auto-retry --rp-scenario RP-PIN-003     # a mutant: FAIL
    pytest --rp-flow login --rp-command 'my-login --reader {reader} --nonce {challenge}'
    pytest --rp-flow sign --rp-python mypkg.rp:sign --rp-scenario RP-REV --rp-report out/

When any `--rp…` option naming software is given (--rp, --rp-command, --rp-python,
--rp-pkcs11), the run holds, besides whatever test files pytest collects, one item per
scenario and flow the software does, node ID `mynasim-rp::RP-PIN-003[login]`; a scenario for
none of the software's flows is one item `mynasim-rp::RP-DATA-001[-]`, skipped as NOT
APPLICABLE. The options mean what rp-check's mean (they are translated into rp-check's
argv and read by its own parser): --rp-command [FLOW=]TEMPLATE and --rp-flow F
(repeatable), --rp-python, --rp-pkcs11, --rp NAME, --rp-pin-via, --rp-scenario ID-or-prefix
(repeatable), --rp-timeout SECONDS, --rp-report DIR.

Verdicts: PASS passes (the transcript is a report section, shown with -rP); FAIL fails with
the oracles' findings and the transcript; ERROR (the harness could not play the scenario,
or the stack did not start) is a pytest error; NOT APPLICABLE is a skip whose reason starts
with "NOT APPLICABLE". The stack (pcscd, the served card, the PKI services) starts at the
first scenario that needs it and stops when the session ends; it serves reader slot 0, so
run no other served card at the same time (and no pytest-xdist). With --rp-report DIR the
same junit.xml, report.jsonl and report.html as `mynasim rp-check --report DIR` are written
when the session ends, from the scenarios that ran.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from conformance.report import Result
    from conformance.rp.check import SoftwareUnderTest
    from conformance.rp.harness import RpWorld, ScenarioRun
    from conformance.rp.scenarios import Scenario

COLLECTOR = "mynasim-rp"
NOT_APPLICABLE = "NOT APPLICABLE"
SOFTWARE_OPTIONS = ("--rp", "--rp-command", "--rp-python", "--rp-pkcs11")
TRANSCRIPT_SECTION = "mynasim rp transcript"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mynasim-rp", "mynasim relying-party scenarios (as rp-check)")
    group.addoption(
        "--rp", dest="rp_builtin", default=None, metavar="NAME",
        help="run the scenarios against a built-in relying party: reference, "
        "reference:MUTANT, reference-cli, pkcs11-tool, pyhanko",
    )  # fmt: skip
    group.addoption(
        "--rp-command", dest="rp_commands", action="append", default=[],
        metavar="[FLOW=]TEMPLATE",
        help="...against a command line with {placeholders} (as rp-check --command); "
        "repeatable",
    )  # fmt: skip
    group.addoption(
        "--rp-flow", dest="rp_flows", action="append", default=[], metavar="login|sign",
        help="a flow the software implements (repeatable)",
    )  # fmt: skip
    group.addoption(
        "--rp-python", dest="rp_python", default=None, metavar="MODULE:FUNCTION",
        help="...against a callable given a StepContext",
    )  # fmt: skip
    group.addoption(
        "--rp-pkcs11", dest="rp_pkcs11", default=None, metavar="MODULE:FUNCTION",
        help="...against a callable given a StepContext and OpenSC's PKCS#11 token",
    )  # fmt: skip
    group.addoption(
        "--rp-pin-via", dest="rp_pin_via", default=None, metavar="env|stdin|arg",
        help="how a command gets what the user types (default env: MYNASIM_PIN)",
    )  # fmt: skip
    group.addoption(
        "--rp-scenario", dest="rp_scenarios", action="append", default=[], metavar="ID",
        help="a scenario ID or prefix (RP-PIN-003, RP-REV); repeatable; default all",
    )  # fmt: skip
    group.addoption(
        "--rp-timeout", dest="rp_timeout", default=None, metavar="SECONDS",
        help="time the software gets per step (default 30)",
    )  # fmt: skip
    group.addoption(
        "--rp-report", dest="rp_report", default=None, metavar="DIR",
        help="write rp-check's reports (junit.xml, report.jsonl, report.html) into DIR",
    )  # fmt: skip


# ------------------------------------------------------------------------- the options


class _ArgumentError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(message)


def rp_check_argv(option: argparse.Namespace) -> list[str]:
    """The pytest options as `mynasim rp-check` arguments naming the software. pytest keeps
    no order between --rp-flow and --rp-command, so: as many plain templates as flows (more
    than one) pair up in the order given, the n-th template with the n-th flow; otherwise
    every --flow comes first, then every --command (one plain template after the flows
    serves them all; FLOW=TEMPLATE names its own flow)."""
    from conformance.rp.check import FLOW_PREFIX

    argv: list[str] = []
    plain = [t for t in option.rp_commands if not FLOW_PREFIX.match(t)]
    if len(plain) > 1 and len(plain) == len(option.rp_flows):
        for flow, template in zip(option.rp_flows, plain, strict=True):
            argv += ["--flow", flow, "--command", template]
        for template in option.rp_commands:
            if FLOW_PREFIX.match(template):
                argv += ["--command", template]
    else:
        for flow in option.rp_flows:
            argv += ["--flow", flow]
        for template in option.rp_commands:
            argv += ["--command", template]
    for name, value in (
        ("--rp", option.rp_builtin),
        ("--python", option.rp_python),
        ("--pkcs11", option.rp_pkcs11),
        ("--pin-via", option.rp_pin_via),
    ):
        if value is not None:
            argv += [name, value]
    return argv


def wanted(config: pytest.Config) -> bool:
    """Whether any option names software: the run then holds the RP scenarios."""
    option = config.option
    return bool(option.rp_builtin or option.rp_commands or option.rp_python or option.rp_pkcs11)


def _options_given(config: pytest.Config) -> bool:
    option = config.option
    return wanted(config) or bool(
        option.rp_flows
        or option.rp_pin_via
        or option.rp_scenarios
        or option.rp_timeout
        or option.rp_report
    )


@dataclass
class RpSession:
    """The software under test, the scenarios, and what the session has run so far."""

    software: SoftwareUnderTest
    scenarios: list[Scenario]
    timeout: float
    report_dir: Path | None
    options: dict[str, Any]
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    results: list[Result] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    world: RpWorld | None = None
    start_error: str | None = None
    _workdir: tempfile.TemporaryDirectory[str] | None = None

    def jobs(self) -> list[tuple[Scenario, str | None]]:
        """(scenario, flow) per item; flow None: the software does none of its flows."""
        jobs: list[tuple[Scenario, str | None]] = []
        for scenario in self.scenarios:
            flows = [f for f in scenario.flows if f in self.software.flows]
            jobs += [(scenario, f) for f in flows] if flows else [(scenario, None)]
        return jobs

    def running_world(self) -> RpWorld:
        """The stack, started at the first call; a failed start is kept (not retried)."""
        if self.world is not None:
            return self.world
        if self.start_error is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="mynasim-rp-")
            try:
                from conformance.rp.harness import RpWorld

                world = RpWorld(Path(self._workdir.name), timeout=self.timeout, log=self.log.append)
                self.world = world.start()
                return self.world
            except ImportError as exc:
                self.start_error = (
                    f"{exc.name or exc} is not installed; the PC/SC path needs pyscard: pip "
                    "install 'mynasim[pcsc]' (and pcscd, vsmartcard-vpcd)"
                )
            except Exception as exc:
                self.start_error = f"the test stack did not start: {exc}"
        raise _StackError(self.start_error)

    def stop(self) -> None:
        if self.world is not None:
            self.world.stop()
            self.world = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None


class _StackError(Exception):
    pass


_SESSION_KEY = pytest.StashKey[RpSession]()


def build_session(config: pytest.Config) -> RpSession:
    """Read the options with rp-check's own parser; a bad one is a usage error."""
    from conformance.rp.adapters import AdapterError
    from conformance.rp.check import add_software_arguments, seconds_argument, software_from_args
    from conformance.rp.scenarios import select

    option = config.option
    if not wanted(config):
        raise pytest.UsageError(
            "the --rp-… options need the software under test: one of --rp, --rp-command, "
            "--rp-python or --rp-pkcs11"
        )
    parser = _Parser(prog="pytest --rp…", add_help=False)
    add_software_arguments(parser)
    try:
        software = software_from_args(parser.parse_args(rp_check_argv(option)))
        scenarios = select(list(option.rp_scenarios))
        timeout = 30.0 if option.rp_timeout is None else seconds_argument(option.rp_timeout)
    except (AdapterError, ValueError, _ArgumentError, argparse.ArgumentTypeError) as exc:
        raise pytest.UsageError(f"mynasim rp: {_option_names(str(exc))}") from None
    if not software.flows:
        raise pytest.UsageError(
            f"mynasim rp: {software.adapter.name} does none of the flows asked for "
            f"({', '.join(option.rp_flows)}): nothing would run"
        )
    options = {
        "scenarios": ",".join(option.rp_scenarios) or "all",
        "timeout": timeout,
        "pin_via": (option.rp_pin_via or "env") if software.kind == "command" else "-",
    }
    report_dir = Path(option.rp_report) if option.rp_report else None
    return RpSession(software, scenarios, timeout, report_dir, options)


def _option_names(message: str) -> str:
    """rp-check's messages name its options; here they are spelt --rp-…."""
    for plain, ours in (
        ("--command", "--rp-command"),
        ("--python", "--rp-python"),
        ("--pkcs11", "--rp-pkcs11"),
        ("--flow", "--rp-flow"),
        ("--pin-via", "--rp-pin-via"),
        ("--scenario", "--rp-scenario"),
    ):
        message = message.replace(plain, ours)
    return message


def rp_session(config: pytest.Config) -> RpSession | None:
    """This run's RP state (None when no RP option was given)."""
    return config.stash.get(_SESSION_KEY, None)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if _options_given(config):
        config.stash[_SESSION_KEY] = build_session(config)


# ------------------------------------------------------------------------- collection


class RpScenarios(pytest.Collector):
    """The synthetic collector of the scenario items (no file behind it)."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        state = rp_session(self.config)
        if state is None:
            return []
        items: list[pytest.Item | pytest.Collector] = []
        for scenario, flow in state.jobs():
            name = f"{scenario.id}[{flow or '-'}]"
            items.append(
                RpScenarioItem.from_parent(
                    self, name=name, nodeid=f"{self.nodeid}::{name}", scenario=scenario, flow=flow
                )
            )
        return items

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, COLLECTOR


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """The session collects the scenario collector next to the test files it found."""
    report = yield
    if isinstance(collector, pytest.Session) and report.passed:
        if rp_session(collector.config) is not None:
            scenarios = RpScenarios.from_parent(collector, name=COLLECTOR, nodeid=COLLECTOR)
            report.result.append(scenarios)
    return report


class RpScenarioFailedError(Exception):
    """A scenario's FAIL verdict: the findings, then the transcript."""


class RpScenarioItem(pytest.Item):
    """One scenario in one flow (flow None: NOT APPLICABLE to the software)."""

    def __init__(self, *, scenario: Scenario, flow: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.flow = flow
        self.run: ScenarioRun | None = None
        self.extra_keyword_matches.update({scenario.id, flow or "-"})

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.scenario.id} [{self.flow or '-'}] {self.scenario.title}"

    def _state(self) -> RpSession:
        state = rp_session(self.config)
        if state is None:  # pragma: no cover - items exist only with a session
            raise RuntimeError("no mynasim RP session")
        return state

    def _record(self, result: Result) -> None:
        self._state().results.append(result)
        self.user_properties.extend(
            [
                ("spec_id", result.spec_id),
                ("section", result.section),
                ("target", result.target or ""),
                ("flow", self.flow or "-"),
                ("verdict", result.verdict),
            ]
        )

    def setup(self) -> None:
        """Play the scenario here, so that a harness ERROR is a pytest error."""
        state = self._state()
        software = state.software
        try:
            if self.flow is None:
                from conformance.rp.harness import not_applicable

                run = not_applicable(self.scenario, software.adapter.name, software.flows)
            else:
                world = state.running_world()
                run = world.run(software.adapter, self.scenario, self.flow)  # type: ignore[arg-type]
        except (_StackError, ImportError) as exc:
            message = str(exc) if isinstance(exc, _StackError) else _missing(exc)
            self._record(self._error_result(message))
            pytest.fail(message, pytrace=False)
        self.run = run
        result = run.result()
        self._record(result)
        if result.verdict == "ERROR":
            pytest.fail(_explain(result.message, result.transcript), pytrace=False)
        if result.verdict == NOT_APPLICABLE:
            pytest.skip(f"{NOT_APPLICABLE}: {result.message}")

    def _error_result(self, message: str) -> Result:
        from conformance.report import ERROR, Result

        return Result(
            spec_id=self.scenario.id,
            section=self.scenario.title,
            nodeid=f"{self.scenario.id}[{self.flow or '-'}]",
            target=self._state().software.adapter.name,
            verdict=ERROR,
            message=message,
        )

    def runtest(self) -> None:
        if self.run is None:  # pragma: no cover - setup always sets it or raises
            raise RuntimeError("the scenario did not run")
        result = self.run.result()
        if result.verdict == "FAIL":
            raise RpScenarioFailedError(_explain(result.message, result.transcript))
        self.add_report_section("call", TRANSCRIPT_SECTION, "\n".join(result.transcript))

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> Any:
        if isinstance(excinfo.value, RpScenarioFailedError):
            return _FailureRepr(str(excinfo.value), self.nodeid)
        return super().repr_failure(excinfo, style)


def _explain(message: str, transcript: Sequence[str]) -> str:
    return message.strip() + "\n\n" + "\n".join(transcript)


def _missing(exc: ImportError) -> str:
    return (
        f"{exc.name or exc} is not installed; the PC/SC path needs pyscard: pip install "
        "'mynasim[pcsc]' (and pcscd, vsmartcard-vpcd)"
    )


@dataclass(frozen=True)
class _Crash:
    """Where a FAIL is reported: pytest's short summary shows the message's first line."""

    path: str
    lineno: int
    message: str


class _FailureRepr:
    """A FAIL's representation: the findings and the transcript, no Python traceback."""

    def __init__(self, text: str, nodeid: str) -> None:
        self.text = text
        first = (text.splitlines() or ["FAIL"])[0]
        self.reprcrash = _Crash(nodeid, 0, first)

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


# ---------------------------------------------------------------------------- the end


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = rp_session(config)
    if state is None:
        return None
    software = state.software
    return [
        f"relying party under test: {software.adapter.name} ({software.description})",
        f"  flows: {', '.join(software.flows)}; scenarios: {len(state.scenarios)}",
    ]


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    state = rp_session(config)
    if state is None or not state.results:
        return
    from conformance.report import count_verdicts, summary_line

    terminalreporter.section("mynasim relying-party scenarios")
    terminalreporter.line(
        f"{state.software.adapter.name}: {summary_line(count_verdicts(state.results))}"
    )
    if state.report_dir is not None:
        terminalreporter.line(f"reports: {state.report_dir}")


@pytest.hookimpl(tryfirst=True)  # before the terminal summary, which names the reports
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the stack; with --rp-report DIR, write rp-check's three reports."""
    state = rp_session(session.config)
    if state is None:
        return
    try:
        state.stop()
    finally:
        if state.report_dir is not None and state.results:
            write_session_reports(state, state.report_dir)


def write_session_reports(state: RpSession, report_dir: Path) -> None:
    """rp-check's junit.xml, report.jsonl and report.html from the scenarios that ran."""
    from conformance.report import FAILING
    from conformance.rp.check import write_reports

    status = 1 if any(r.verdict in FAILING for r in state.results) else 0
    write_reports(
        report_dir,
        state.software,
        state.results,
        started=state.started,
        finished=dt.datetime.now(dt.UTC),
        options=state.options,
        exit_status=status,
    )
