"""The relying-party harness: set a scenario up on a served card, play the user, judge.

    with RpWorld(workdir) as world:
        run = world.run(adapter, BY_ID["RP-PIN-003"], "login")
        run.verdict, run.findings, run.result()

`RpWorld` owns the real stack for a whole run: pcscd (started, or the machine's reused),
`mynasim serve` (one card, reader "Virtual PCD 00 00", traced) and `mynasim pki serve` (the
OCSP responder and CRLs on 127.0.0.1:35980, where the persona certificates point). Before each
scenario the card becomes a fresh card of the scenario's persona (in place, no re-insertion),
its tries are set, faults cleared, the PKI clock and failure modes set, and the trusted roots
written; then each step runs the software once, and the step's slice of the APDU trace and the
outcome go to the oracles.
"""

from __future__ import annotations

import json
import secrets
import shlex
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from conformance.pcsc import PcscUnavailableError
from conformance.report import ERROR, FAIL, NOT_APPLICABLE, PASS, Result, shorten
from conformance.rp import documents
from conformance.rp.context import Adapter, Flow, StepContext, StepOutcome
from conformance.rp.oracles import (
    Finding,
    StepTrace,
    expected_identity,
    failures,
    judge_data_minimisation,
    judge_evidence,
    judge_identity,
    judge_identity_keys,
    judge_outcome,
    judge_pin_budget,
    judge_revocation_evidence,
    parse_trace,
    reports_identity,
    unrecognised_keys,
    unrecognised_message,
)
from conformance.rp.pkcs11 import find_opensc_module
from conformance.rp.scenarios import RIGHT_VALUES, WRONG_VALUES, Scenario, Step
from conformance.stack import Pcscd, PkiServer, ServedCard, reader_name
from simulator.personalization import Holder
from simulator.personalization.persona import (
    fixtures_root,
    load_persona,
    read_persona_document,
)

DEFAULT_TIMEOUT = 30.0
SETTLE = 0.05  # the trace line of the last response is written just after the response
SLOT = 0


class HarnessError(RuntimeError):
    """The harness itself could not set a scenario up (not a verdict on the software)."""


@dataclass
class StepRecord:
    number: int
    step: Step
    context: StepContext
    outcome: StepOutcome
    trace: StepTrace
    findings: list[Finding]
    command: str | None = None  # the command line, PIN redacted (command adapters)
    revocation_requests: dict[str, int] = field(default_factory=dict)  # during the step


@dataclass
class ScenarioRun:
    scenario: Scenario
    flow: Flow | None
    rp: str
    verdict: str
    message: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    duration: float = 0.0

    @property
    def findings(self) -> list[Finding]:
        return [finding for step in self.steps for finding in step.findings]

    def transcript(self) -> list[str]:
        lines = [f"# {self.scenario.id} {self.scenario.title} ({self.flow or 'no flow'})"]
        lines.append(f"# setup: {self.scenario.setup()}")
        for record in self.steps:
            typed = "the right value" if record.step.typed == "right" else "a wrong value"
            expect = record.step.expectation(record.context.flow)
            lines.append(f"# step {record.number}: the user types {typed}; expected: {expect}")
            if record.command:
                lines.append(f"$ {record.command}")
            lines += record.trace.lines
            outcome = record.outcome
            said = outcome.outcome + (f": {outcome.reason}" if outcome.reason else "")
            code = "" if outcome.exit_code is None else f", exit status {outcome.exit_code}"
            lines.append(f"= {said} ({outcome.duration:.2f} s{code})")
            fetched = record.revocation_requests
            if fetched:
                lines.append(
                    f"= fetched OCSP {fetched.get('ocsp', 0)}, CRL {fetched.get('crl', 0)}"
                )
            if outcome.identity:
                lines.append(f"= identity {json.dumps(outcome.identity, ensure_ascii=False)}")
            if outcome.signature is not None:
                head = outcome.signature[:8].hex(" ").upper()
                lines.append(f"= reported signature: {len(outcome.signature)} bytes, {head} ...")
            for finding in record.findings:
                lines.append(f"! {finding.line()}")
            if record.findings and failures(record.findings):
                for name, tail in (
                    ("stdout", outcome.stdout_tail),
                    ("stderr", outcome.stderr_tail),
                ):
                    lines += [f"  {name}| {line}" for line in tail.splitlines()]
        return lines

    def result(self) -> Result:
        flow = self.flow or "-"
        return Result(
            spec_id=self.scenario.id,
            section=self.scenario.title,
            nodeid=f"{self.scenario.id}[{flow}]",
            target=self.rp,
            verdict=self.verdict,
            duration=self.duration,
            message=shorten(self.message),
            transcript=self.transcript(),
        )


def trust_bundle(hierarchy: str, generations: Iterable[int], path: Path) -> Path:
    """PEM bundle of our test roots of `hierarchy` ("auth"/"sign") for the given generations."""
    pem = b""
    for generation in generations:
        der = (fixtures_root() / "pki" / "ca" / f"{hierarchy}-ca-{generation}.der").read_bytes()
        pem += x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
    path.write_bytes(pem)
    return path


class RpWorld:
    """pcscd + one served card + the PKI services, for a run of scenarios."""

    def __init__(
        self,
        workdir: Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.workdir = workdir
        self.timeout = timeout
        self.log = log or (lambda _text: None)
        self.trace_path = workdir / "trace.jsonl"
        self.pcscd: Pcscd | None = None
        self.pki: PkiServer | None = None
        self.served: ServedCard | None = None
        self.reader = reader_name(SLOT)

    # -- the stack ------------------------------------------------------------------

    def start(self) -> RpWorld:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.pcscd = Pcscd.ensure(self.workdir)
            self.log("pcscd: " + ("started" if self.pcscd.started_here else "reused"))
            self.pki = PkiServer(self.workdir).start()
            self.log(f"PKI services: {self.pki.url}")
            self.served = ServedCard(["default"], self.workdir, trace=self.trace_path).start()
            self.log(f"card served in reader {self.reader!r}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.served is not None:
            self.served.stop()
            self.served = None
        if self.pki is not None:
            self.pki.stop()
            self.pki = None
        if self.pcscd is not None:
            self.pcscd.stop()
            self.pcscd = None

    def __enter__(self) -> RpWorld:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _card(self) -> ServedCard:
        if self.served is None:
            raise HarnessError("the world is not started")
        return self.served

    def _ctl(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._card().ctl(method, f"/cards/{SLOT}{path}" if path else "/status", body)

    def card_status(self) -> dict[str, Any]:
        status: dict[str, Any] = self._card().ctl("GET", "/status")["cards"][SLOT]
        return status

    def ensure_inserted(self) -> None:
        """Put a pulled card back, as the user would, and wait until clients see it. First
        wait until pcscd has seen it go: else the old presence would pass for the new one."""
        if self.card_status()["inserted"]:
            return
        try:
            self._card().wait_absent(SLOT, timeout=5.0)
        except PcscUnavailableError:
            pass  # pcscd never noticed; inserting is still right
        self._ctl("POST", "/insert")
        self._card().wait_present(SLOT)

    # -- a scenario -----------------------------------------------------------------

    def prepare(self, scenario: Scenario, directory: Path) -> tuple[Path, Path]:
        """Make the card, the PKI and the trust store what the scenario says."""
        if self.pki is None:
            raise HarnessError("the world is not started")
        self.ensure_inserted()
        self._ctl("POST", "/faults/clear")
        self._ctl("POST", "/persona", {"persona": scenario.persona})
        for pin, remaining in scenario.remaining.items():
            self._ctl("POST", f"/pins/{pin}", {"remaining": remaining})
        self.pki.control(now=scenario.now, ocsp=scenario.ocsp, crl=scenario.crl)
        directory.mkdir(parents=True, exist_ok=True)
        auth = trust_bundle("auth", scenario.trusted["auth"], directory / "auth-roots.pem")
        sign = trust_bundle("sign", scenario.trusted["sign"], directory / "sign-roots.pem")
        return auth, sign

    def run(self, adapter: Adapter, scenario: Scenario, flow: Flow) -> ScenarioRun:
        start = time.monotonic()
        directory = self.workdir / "runs" / f"{scenario.id}-{flow}"
        shutil.rmtree(directory, ignore_errors=True)
        run = ScenarioRun(scenario, flow, adapter.name, PASS)
        try:
            auth_roots, sign_roots = self.prepare(scenario, directory)
            persona = load_persona(scenario.persona)
            card = CardFacts(
                holder=read_persona_document(persona.path).holder,
                certificates={"login": persona.auth.certificate, "sign": persona.sign.certificate},
            )
            for number, step in enumerate(scenario.steps, 1):
                roots = (auth_roots, sign_roots)
                context = self._context(scenario, flow, number, step, directory, roots)
                run.steps.append(self._step(adapter, scenario, step, context, card))
        except HarnessError as exc:
            run.verdict, run.message = ERROR, f"harness: {exc}"
        except Exception as exc:
            run.verdict, run.message = ERROR, f"harness: {type(exc).__name__}: {exc}"
        else:
            run.verdict, run.message = _verdict(scenario, run.steps)
        finally:
            self._cleanup()
        run.duration = time.monotonic() - start
        return run

    def _context(
        self,
        scenario: Scenario,
        flow: Flow,
        number: int,
        step: Step,
        directory: Path,
        roots: tuple[Path, Path],
    ) -> StepContext:
        if self.pki is None:
            raise HarnessError("the world is not started")
        workdir = directory / f"step{number}"
        workdir.mkdir(parents=True, exist_ok=True)
        challenge = secrets.token_bytes(32)
        (workdir / "challenge.bin").write_bytes(challenge)
        data_file = workdir / "application.json"
        documents.write_application(data_file)
        pdf = workdir / "document.pdf"
        documents.write_pdf(pdf)
        values = RIGHT_VALUES if step.typed == "right" else WRONG_VALUES
        return StepContext(
            scenario=scenario.id,
            step=number,
            flow=flow,
            reader=self.reader,
            pin=values[flow],
            now=scenario.instant,
            challenge=challenge,
            workdir=workdir,
            data_file=data_file,
            pdf=pdf,
            auth_roots=roots[0],
            sign_roots=roots[1],
            pkcs11_module=find_opensc_module() or "opensc-pkcs11.so",
            pki_url=self.pki.url,
            timeout=self.timeout,
        )

    def _step(
        self,
        adapter: Adapter,
        scenario: Scenario,
        step: Step,
        context: StepContext,
        card: CardFacts,
    ) -> StepRecord:
        if step.fault is not None:
            self._ctl("POST", "/faults", step.fault.body())
        if step.removal is not None:
            self._ctl("POST", "/remove", {"ins": step.removal.ins, "when": step.removal.when})
        mark = self.trace_path.stat().st_size if self.trace_path.exists() else 0
        before = self._revocation_requests()
        outcome = adapter.run(context)
        time.sleep(SETTLE)
        fetched = {
            kind: count - before.get(kind, 0) for kind, count in self._revocation_requests().items()
        }
        trace = parse_trace(_read_records(self.trace_path, mark))
        command = None
        command_line = getattr(adapter, "command_line", None)
        if callable(command_line):
            command = shlex.join(str(arg) for arg in command_line(context))
        flow = context.flow
        findings = judge_outcome(scenario, step, flow, outcome)
        findings += judge_evidence(
            trace,
            flow,
            outcome,
            message=_message_given(adapter, context),
            certificate=card.certificates[flow],
        )
        findings += judge_pin_budget(trace, 1 if step.typed == "wrong" else 0)
        findings += judge_data_minimisation(trace, flow)
        if card.holder is not None and outcome.outcome == "accepted" and flow == "sign":
            findings += judge_identity(outcome.identity, expected_identity(card.holder))
        else:
            findings += judge_identity_keys(outcome.identity)
        findings += judge_revocation_evidence(outcome, fetched)
        self._cleanup()  # the user puts the card back; unused faults do not leak
        record = StepRecord(context.step, step, context, outcome, trace, findings, command)
        record.revocation_requests = fetched
        return record

    def _revocation_requests(self) -> dict[str, int]:
        """How many OCSP and CRL requests the PKI services have answered so far."""
        if self.pki is None:
            return {}
        counts = self.pki.control().get("requests", {})
        return {kind: int(counts.get(kind, {}).get("total", 0)) for kind in ("ocsp", "crl")}

    def _cleanup(self) -> None:
        if self.served is None:
            return
        try:
            self._ctl("POST", "/faults/clear")
            self.ensure_inserted()
        except Exception as exc:
            raise HarnessError(f"cannot put the card back: {exc}") from exc


@dataclass(frozen=True)
class CardFacts:
    """What the harness knows of the scenario's card, to judge a step by."""

    holder: Holder | None  # the basic four information (None: no signature certificate)
    certificates: Mapping[Flow, bytes | None]  # DER of each flow's certificate on the card


def _message_given(adapter: Adapter, context: StepContext) -> list[bytes] | None:
    """The value the card must sign in this step, in the forms the software was handed it:
    a login's challenge as bytes and as the hex text of `{challenge}`, a signature's document
    (`gives_message` of the adapter; an adapter that does not say is not held to one)."""
    gives = getattr(adapter, "gives_message", None)
    if not callable(gives) or not gives(context.flow):
        return None
    if context.flow == "login":
        return [context.challenge, context.challenge.hex().encode("ascii")]
    return [context.data_file.read_bytes()]


def _verdict(scenario: Scenario, steps: Sequence[StepRecord]) -> tuple[str, str]:
    failed = [f for record in steps for f in failures(record.findings)]
    if failed:
        return FAIL, "\n".join(
            f"step {record.number}: {finding.line()}"
            for record in steps
            for finding in failures(record.findings)
        )
    notes = [f"step {r.number}: {f.line()}" for r in steps for f in r.findings]
    if scenario.identity and not any(reports_identity(record.outcome.identity) for record in steps):
        unknown = [key for r in steps for key in unrecognised_keys(r.outcome.identity)]
        if unknown:
            return FAIL, "[identity] " + unrecognised_message(list(dict.fromkeys(unknown)))
        return NOT_APPLICABLE, "the software reports no identity fields: extraction not judged"
    return PASS, "\n".join(notes)


def _read_records(path: Path, offset: int) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open("rb") as trace:
        trace.seek(offset)
        data = trace.read()
    records = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("slot", SLOT) == SLOT:
            records.append(record)
    return records


def not_applicable(scenario: Scenario, rp: str, flows: Sequence[Flow]) -> ScenarioRun:
    offered = ", ".join(flows)
    needed = ", ".join(scenario.flows)
    return ScenarioRun(
        scenario,
        None,
        rp,
        NOT_APPLICABLE,
        f"the scenario is for {needed}; the software under test does {offered}",
    )
