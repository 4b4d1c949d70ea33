"""`mynasim rp-check`: run relying-party scenarios against software and write the reports.

    mynasim rp-check --rp reference                      # the project's reference RP
    mynasim rp-check --command 'my-login --reader {reader} --nonce {challenge}' --flow login
    mynasim rp-check --python mypkg.rp:login --flow login --scenario RP-PIN --scenario RP-REV-005
    mynasim rp-check --list                              # the scenario catalogue

Progress goes to stdout, one line per scenario and flow; the reports (JUnit XML, JSON lines,
HTML, in the card suite's format, transcripts with PIN data redacted) go to --report DIR.
Exit status: 0 when no scenario failed, 1 otherwise, 2 for bad arguments or a stack that
cannot start.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.html_report import write_html
from conformance.report import (
    FAILING,
    HTML_NAME,
    JSONL_NAME,
    JUNIT_NAME,
    NOT_APPLICABLE,
    REPORT_FORMAT,
    VERDICTS,
    Result,
    count_verdicts,
    summary_line,
    tool_versions,
    write_jsonl,
)
from conformance.rp.adapters import (
    AdapterError,
    CommandAdapter,
    FlowCommands,
    PythonAdapter,
    load_callable,
)
from conformance.rp.context import FLOWS, Adapter, Flow
from conformance.rp.scenarios import CATALOGUE, Scenario, select

DEFAULT_REPORT_DIR = Path("rp-report")


@dataclass
class SoftwareUnderTest:
    adapter: Adapter
    kind: str  # "command" | "python" | "pkcs11" | "built-in"
    flows: tuple[Flow, ...]
    description: str


def builtin(name: str) -> SoftwareUnderTest:
    """A relying party the project ships or knows: reference[:MUTANT], reference-cli,
    and the third-party ones of `conformance.rp.thirdparty`."""
    from conformance.rp import thirdparty
    from conformance.rp.mutants import MUTANTS

    base, _, mutant = name.partition(":")
    if base == "reference":
        from conformance.rp.reference import relying_party

        if mutant and mutant not in MUTANTS:
            raise AdapterError(f"no mutant {mutant!r}; mutants: {', '.join(MUTANTS)}")
        adapter = PythonAdapter(relying_party(mutant or None), name=name)
        text = f"mutant {mutant}: {MUTANTS[mutant]}" if mutant else "the reference relying party"
        return SoftwareUnderTest(adapter, "built-in", FLOWS, text)
    if base == "reference-cli" and not mutant:
        command = [sys.executable, "-m", "conformance.rp.reference", *REFERENCE_CLI_ARGS]
        adapter_cli = CommandAdapter(command, pin_via="env", name=name)
        return SoftwareUnderTest(adapter_cli, "command", FLOWS, "the reference RP as a command")
    party = thirdparty.THIRD_PARTY.get(name)
    if party is None:
        known = ["reference", "reference:MUTANT", "reference-cli", *thirdparty.THIRD_PARTY]
        raise AdapterError(f"no built-in relying party {name!r}; known: {', '.join(known)}")
    missing = party.missing()
    if missing:
        raise AdapterError(f"{name} needs {', '.join(missing)}, which is not installed")
    party_adapter: Adapter = party.adapter()
    return SoftwareUnderTest(party_adapter, "command", tuple(party.flows), party.description)


REFERENCE_CLI_ARGS = (
    "{flow}",
    "--reader",
    "{reader}",
    "--now",
    "{now}",
    "--auth-roots",
    "{auth_roots}",
    "--sign-roots",
    "{sign_roots}",
    "--challenge",
    "{challenge}",
    "--data",
    "{data_file}",
)


def software_from_args(args: argparse.Namespace) -> SoftwareUnderTest:
    given = [
        name
        for name in ("rp", "command_template", "python", "pkcs11")
        if getattr(args, name) is not None
    ]
    if len(given) != 1:
        raise AdapterError("say what to test: one of --rp, --command, --python or --pkcs11")
    if args.rp is not None:
        software = builtin(args.rp)
        if args.flows:
            software.flows = tuple(f for f in software.flows if f in args.flows)
        return software
    if args.command_template is not None:
        return _commands(pair_commands(args.software_order), args.pin_via)
    if not args.flows:
        raise AdapterError("say which flow the software implements: --flow login and/or sign")
    flows: tuple[Flow, ...] = tuple(dict.fromkeys(args.flows))
    if args.python is not None:
        adapter: Adapter = PythonAdapter(load_callable(args.python), name=args.python)
        return SoftwareUnderTest(adapter, "python", flows, args.python)
    from conformance.rp.pkcs11 import Pkcs11Adapter

    adapter = Pkcs11Adapter(load_callable(args.pkcs11))
    return SoftwareUnderTest(adapter, "pkcs11", flows, args.pkcs11)


FLOW_PREFIX = re.compile(r"(login|sign)=(.*)", re.DOTALL)


def pair_commands(order: Sequence[tuple[str, str]]) -> dict[Flow, str]:
    """The command template of each flow, from --flow and --command in the order given.

    A ``--command FLOW=TEMPLATE`` is for that flow, wherever it stands. A plain ``--command
    TEMPLATE`` is for the --flow options given since the previous plain --command, less the
    flows a FLOW= command names; the first and only plain --command may also come before its
    --flow options (``--command T --flow login --flow sign``). Two templates for one flow, a
    flow without a template and a template without a flow are usage errors: a run must never
    test another program than the user named."""
    templates: dict[Flow, str] = {}
    for kind, value in order:
        prefixed = FLOW_PREFIX.match(value) if kind == "command" else None
        if prefixed:
            _assign(templates, [_as_flow(prefixed[1])], prefixed[2])
    named_by_prefix = set(templates)
    plain = [value for kind, value in order if kind == "command" and not FLOW_PREFIX.match(value)]
    named: list[Flow] = []  # every --flow, for the check at the end
    group: list[Flow] = []  # the --flow options since the previous plain --command
    leading: str | None = None  # a plain --command before any --flow
    for kind, value in order:
        if kind == "flow":
            group.append(_as_flow(value))
            named.append(group[-1])
        elif FLOW_PREFIX.match(value):
            continue
        elif group:
            _assign(templates, [f for f in group if f not in named_by_prefix] or group, value)
            group = []
        elif len(plain) == 1:
            leading = value
        else:
            raise AdapterError(
                f"--command {_short_template(value)} has no --flow before it: write "
                "--flow login --command TEMPLATE --flow sign --command TEMPLATE, or "
                "--command login=TEMPLATE --command sign=TEMPLATE"
            )
    if leading is not None:
        if not group:
            raise AdapterError("say which flow the command implements: --flow login and/or sign")
        _assign(templates, [f for f in group if f not in named_by_prefix] or group, leading)
    missing = [flow for flow in dict.fromkeys(named) if flow not in templates]
    if missing:
        raise AdapterError(
            f"no command for the {missing[0]} flow: write --flow {missing[0]} --command "
            f"TEMPLATE (or --command {missing[0]}=TEMPLATE)"
        )
    return {flow: templates[flow] for flow in FLOWS if flow in templates}


def _as_flow(text: str) -> Flow:
    for flow in FLOWS:
        if text == flow:
            return flow
    raise AdapterError(f"no flow {text!r}: the flows are {', '.join(FLOWS)}")


def _assign(templates: dict[Flow, str], flows: Sequence[Flow], template: str) -> None:
    for flow in dict.fromkeys(flows):
        if flow in templates:
            raise AdapterError(
                f"two commands for the {flow} flow ({_short_template(templates[flow])} and "
                f"{_short_template(template)}): give one --command per flow"
            )
        templates[flow] = template


def _short_template(template: str) -> str:
    return repr(template if len(template) <= 40 else template[:37] + "...")


def _commands(templates: dict[Flow, str], pin_via: str) -> SoftwareUnderTest:
    flows = tuple(templates)
    distinct = dict.fromkeys(templates.values())
    if len(distinct) == 1:
        template = next(iter(distinct))
        adapter = CommandAdapter(template, pin_via=pin_via)
        return SoftwareUnderTest(adapter, "command", flows, template)
    commands = {flow: CommandAdapter(t, pin_via=pin_via) for flow, t in templates.items()}
    description = "; ".join(f"{flow}: {template}" for flow, template in templates.items())
    return SoftwareUnderTest(FlowCommands(commands), "command", flows, description)


# -------------------------------------------------------------------------------- running


def run_scenarios(
    software: SoftwareUnderTest,
    scenarios: Sequence[Scenario],
    workdir: Path,
    *,
    timeout: float,
    out: Callable[[str], None] = print,
) -> list[Result]:
    from conformance.rp.harness import RpWorld, not_applicable

    jobs = [(s, f) for s in scenarios for f in s.flows if f in software.flows]
    results: list[Result] = []
    width = len(str(len(jobs)))
    done = 0
    with RpWorld(workdir, timeout=timeout, log=lambda text: out(f"  {text}")) as world:
        for scenario in scenarios:
            flows = [f for f in scenario.flows if f in software.flows]
            if not flows:
                skipped = not_applicable(scenario, software.adapter.name, software.flows)
                results.append(skipped.result())
                continue
            for flow in flows:
                done += 1
                run = world.run(software.adapter, scenario, flow)
                result = run.result()
                results.append(result)
                index = f"[{done:>{width}}/{len(jobs)}]"
                label = f"{scenario.id} {flow:<5} {scenario.title}"
                out(f"{index} {label:<62.62} {result.verdict} ({run.duration:.1f} s)")
                if result.verdict in FAILING:
                    for line in result.message.splitlines():
                        out(f"      {line}")
    return results


def write_reports(
    report_dir: Path,
    software: SoftwareUnderTest,
    results: Sequence[Result],
    *,
    started: dt.datetime,
    finished: dt.datetime,
    options: dict[str, Any],
    exit_status: int,
) -> None:
    from simulator.personalization.persona import load_persona

    report_dir.mkdir(parents=True, exist_ok=True)
    counts = count_verdicts(results)
    personas = sorted({scenario_persona(r.spec_id) for r in results})
    header = {
        "type": "run",
        "format": REPORT_FORMAT,
        "tool": "mynasim relying-party conformance",
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "targets": [
            {
                "id": software.adapter.name,
                "kind": software.kind,
                "virtual": True,
                "description": software.description,
                "flows": list(software.flows),
            }
        ],
        "personas": [{"name": name, "checksum": load_persona(name).checksum} for name in personas],
        "options": options,
        "versions": tool_versions(),
        "exit_status": exit_status,
        "counts": {verdict: counts[verdict] for verdict in VERDICTS if counts[verdict]},
        "total": len(results),
    }
    write_jsonl(report_dir / JSONL_NAME, header, results)
    write_html(report_dir / HTML_NAME, header, results)
    write_junit(report_dir / JUNIT_NAME, software.adapter.name, results)


def scenario_persona(spec_id: str) -> str:
    from conformance.rp.scenarios import BY_ID

    return BY_ID[spec_id].persona


def write_junit(path: Path, name: str, results: Sequence[Result]) -> None:
    counts = count_verdicts(results)
    suite = ET.Element(
        "testsuite",
        name=f"mynasim rp-check: {name}",
        tests=str(len(results)),
        failures=str(counts["FAIL"]),
        errors=str(counts["ERROR"]),
        skipped=str(counts[NOT_APPLICABLE]),
        time=f"{sum(r.duration for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"rp.{result.spec_id}",
            name=result.nodeid,
            time=f"{result.duration:.3f}",
        )
        properties = ET.SubElement(case, "properties")
        for key, value in (
            ("spec_id", result.spec_id),
            ("section", result.section),
            ("target", result.target or ""),
            ("verdict", result.verdict),
        ):
            ET.SubElement(properties, "property", name=key, value=value)
        if result.verdict == "FAIL":
            ET.SubElement(
                case, "failure", message=result.message.splitlines()[0]
            ).text = result.message
        elif result.verdict == "ERROR":
            ET.SubElement(
                case, "error", message=result.message.splitlines()[0]
            ).text = result.message
        elif result.verdict == NOT_APPLICABLE:
            ET.SubElement(case, "skipped", message=result.message)
        ET.SubElement(case, "system-out").text = "\n".join(result.transcript)
    ET.indent(suite)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


# ------------------------------------------------------------------------------------ CLI


def add_rp_check_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "rp-check",
        help="run relying-party scenarios against software and write reports",
        description="Serve the virtual card through pcscd, play each scenario (persona, PIN "
        "tries, PKI clock and failures, faults), run the software under test once per step "
        "as the user would, judge it with the oracles (evidence from the card, outcome, PIN "
        "budget, data minimisation, identity, tearing) and write JUnit XML, JSON lines and "
        "HTML reports. Exit status 0 when no scenario failed, 1 otherwise, 2 for bad arguments.",
    )  # fmt: skip
    add_software_arguments(parser)
    parser.add_argument(
        "--scenario", dest="scenarios", action="append", default=[], metavar="ID",
        help="a scenario ID or prefix (RP-PIN-003, RP-REV); repeatable; default all",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=seconds_argument, default=30.0, metavar="SECONDS",
        help="time the software gets per step (default 30)",
    )  # fmt: skip
    parser.add_argument(
        "--report", type=Path, default=DEFAULT_REPORT_DIR, metavar="DIR",
        help=f"report directory (default: ./{DEFAULT_REPORT_DIR})",
    )  # fmt: skip
    parser.add_argument(
        "--workdir", type=Path, default=None, metavar="DIR",
        help="where step files, logs and the APDU trace go (default: a temporary folder)",
    )  # fmt: skip
    parser.add_argument("--list", action="store_true", help="print the scenario catalogue")
    parser.add_argument("--list-rps", action="store_true", help="print the built-in RPs")
    return parser


class _InOrder(argparse.Action):
    """Collects --flow and --command values, and their order (a --command pairs with the
    --flow options before it: `pair_commands`)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        kind = "flow" if self.dest == "flows" else "command"
        namespace.software_order = [*(namespace.software_order or []), (kind, values)]
        if kind == "flow":
            namespace.flows = [*(namespace.flows or []), values]
        else:
            namespace.command_template = [*(namespace.command_template or []), values]


class _Once(argparse.Action):
    """An option that may be given once: a second value would silently replace the first."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, self.dest) is not None:
            raise argparse.ArgumentError(self, "given twice; give it once")
        setattr(namespace, self.dest, values)


def add_software_arguments(parser: argparse.ArgumentParser) -> None:
    """The options naming the software under test, as `software_from_args` reads them:
    --rp | --command (repeatable, one per flow) | --python | --pkcs11, --flow (repeatable)
    and --pin-via (shared by `mynasim rp-check` and `mynasim fuzz rp`)."""
    what = parser.add_argument_group("software under test (one of)")
    what.add_argument(
        "--rp", metavar="NAME", action=_Once,
        help="a built-in relying party: reference, reference:MUTANT, reference-cli, "
        "pkcs11-tool, pyhanko (see --list-rps)",
    )  # fmt: skip
    what.add_argument(
        "--command", dest="command_template", metavar="[FLOW=]TEMPLATE", action=_InOrder,
        help="a command line with {placeholders}: {reader} {pin} {flow} {now} {challenge} "
        "{challenge_file} {data_file} {pdf} {workdir} {auth_roots} {sign_roots} "
        "{pkcs11_module} {pki_url} {timeout}; each is also in the environment as "
        "MYNASIM_<NAME>. It is for the --flow options before it (or write login=TEMPLATE, "
        "sign=TEMPLATE); give one per flow for two programs. Run in the current folder",
    )  # fmt: skip
    what.add_argument(
        "--python", metavar="MODULE:FUNCTION", action=_Once,
        help="a callable (StepContext); it gets the flow as context.flow",
    )  # fmt: skip
    what.add_argument(
        "--pkcs11", metavar="MODULE:FUNCTION", action=_Once,
        help="a callable (StepContext, token) given OpenSC's PKCS#11 token for the flow",
    )  # fmt: skip
    parser.add_argument(
        "--flow", dest="flows", action=_InOrder, choices=FLOWS,
        help="the flow the software implements (repeatable): login (authentication "
        "certificate) or sign (signature certificate)",
    )  # fmt: skip
    parser.set_defaults(flows=[], software_order=[])
    parser.add_argument(
        "--pin-via", choices=("env", "stdin", "arg"), default="env",
        help="how the command gets what the user types: MYNASIM_PIN (default), one stdin "
        "line, or {pin} in the command",
    )  # fmt: skip


def seconds_argument(text: str) -> float:
    """argparse type: seconds, more than 0 and at most an hour."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 3600 seconds")
    return value


def print_catalogue(out: Callable[[str], None] = print) -> None:
    for scenario in CATALOGUE:
        out(f"{scenario.id}  {scenario.title}  [{', '.join(scenario.flows)}]")
        out(f"    purpose: {scenario.purpose}")
        out(f"    setup:   {scenario.setup()}")
        out(f"    user:    {scenario.user}")
        for number, step in enumerate(scenario.steps, 1):
            expects = "; ".join(
                f"{flow} {step.expect[flow]} ({step.reason(flow)})" for flow in scenario.flows
            )
            out(f"    step {number}: {step.typed} value -> {expects}")


def print_rps(out: Callable[[str], None] = print) -> None:
    from conformance.rp import thirdparty
    from conformance.rp.mutants import MUTANTS

    out("reference        the project's reference relying party (login and sign)")
    out("reference-cli    the same, run as a command (python -m conformance.rp.reference)")
    for name, text in MUTANTS.items():
        out(f"reference:{name:<24} {text}")
    for name, party in thirdparty.THIRD_PARTY.items():
        missing = party.missing()
        state = f" (needs {', '.join(missing)})" if missing else ""
        out(f"{name:<16} {party.description}{state}")


def run_rp_check_command(args: argparse.Namespace) -> int:
    if args.list:
        print_catalogue()
        return 0
    if args.list_rps:
        print_rps()
        return 0
    try:
        software = software_from_args(args)
        scenarios = select(args.scenarios)
    except (AdapterError, ValueError) as exc:
        print(f"mynasim rp-check: error: {exc}", file=sys.stderr)
        return 2
    print(f"mynasim rp-check: {software.adapter.name} ({software.description})")
    print(f"  flows: {', '.join(software.flows)}; scenarios: {len(scenarios)}")
    started = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory(prefix="mynasim-rp-") as temporary:
        workdir = args.workdir or Path(temporary)
        try:
            results = run_scenarios(software, scenarios, workdir, timeout=args.timeout)
        except ImportError as exc:
            print(
                f"mynasim rp-check: error: {exc.name or exc} is not installed; the PC/SC path "
                "needs pyscard: pip install 'mynasim[pcsc]' (and pcscd, vsmartcard-vpcd)",
                file=sys.stderr,
            )
            return 2
        except Exception as exc:
            print(f"mynasim rp-check: error: the test stack did not start: {exc}", file=sys.stderr)
            return 2
    finished = dt.datetime.now(dt.UTC)
    counts = count_verdicts(results)
    status = 1 if any(counts[v] for v in FAILING) else 0
    options = {
        "scenarios": ",".join(args.scenarios) or "all",
        "timeout": args.timeout,
        "pin_via": args.pin_via if software.kind == "command" else "-",
    }
    write_reports(
        args.report,
        software,
        results,
        started=started,
        finished=finished,
        options=options,
        exit_status=status,
    )
    print(f"mynasim rp-check: {summary_line(counts)}")
    print(f"  JUnit XML:   {args.report / JUNIT_NAME}")
    print(f"  JSON lines:  {args.report / JSONL_NAME}")
    print(f"  HTML:        {args.report / HTML_NAME}")
    return status
