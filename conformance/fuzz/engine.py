"""The fuzzing engine: card sessions, budget, behaviours, corpus, findings and their scripts.

A `Session` is one fresh card (its own state file in a scratch folder, strict mode) with
one `Checker`; every action goes through `Session.step`. The `Fuzzer` owns what a run
shares: the personas' facts, the budget (seconds, APDUs), the behaviours seen (selected
application, INS, SW), the corpus, and the findings, de-duplicated by (invariant, INS, SW),
minimised and written as scripts that `mynasim apdu` replays.

Output (progress, summary, finding lines) carries counts and names only, never a PIN
value; the scripts themselves do (they are the reproduction).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conformance.fuzz.actions import (
    POWER_CYCLE,
    Action,
    ScriptError,
    action_line,
    format_script,
    parse_script,
)
from conformance.fuzz.facts import CardFacts
from conformance.fuzz.invariants import INVARIANTS, Checker, SessionModel, Violation
from simulator import VirtualCard
from simulator.personalization.persona import Persona
from simulator.state import StateFileStore

CardFactory = Callable[[Persona, Path], VirtualCard]
Behaviour = tuple[str, int, int]  # (selected application, INS, SW)
MINIMISE_SECONDS = 20.0
MINIMISE_RUNS = 3000
SCRIPT_SUFFIX = ".apdus"


def strict_card(persona: Persona, state: Path) -> VirtualCard:
    """`VirtualCard.from_persona(persona, state=state, strict=True)` for a loaded persona."""
    store = StateFileStore(state, VirtualCard.identity_of(persona))
    return VirtualCard(persona, store, strict=True)


def scratch_root() -> Path | None:
    """The shared-memory folder when there is one (state files are fsynced on every try),
    else the system default."""
    shm = Path("/dev/shm")  # noqa: S108 - a private mkdtemp folder is made inside
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


@dataclass(frozen=True)
class PersonaRef:
    """A persona and how `mynasim apdu --persona` names it (built-in name or file path)."""

    label: str
    persona: Persona


class Session:
    """One fresh card and its checker."""

    def __init__(self, facts: CardFacts, scratch: Path, factory: CardFactory, number: int):
        self.facts = facts
        self.state = scratch / f"card-{number}.json"
        self.card = factory(facts.persona, self.state)
        self.card.power_on()
        pins = list(self.card.pins().items())
        self.checker = Checker(
            facts,
            lambda: {key: pin.remaining for key, pin in pins},
            state_file=self.state,
            identity=VirtualCard.identity_of(facts.persona),
            scratch=scratch,
        )
        self.actions: list[Action] = []
        self.notes: list[str | None] = []
        self.new_behaviour_at = -1  # index of the last action that showed a new behaviour
        self.closed = False

    @property
    def model(self) -> SessionModel:
        return self.checker.model

    def step(self, action: Action) -> tuple[list[Violation], Behaviour | None]:
        app = self.checker.model.app_name
        response: bytes | None = None
        error: BaseException | None = None
        try:
            if isinstance(action, bytes):
                response = self.card.transmit(action)
            else:
                if action == POWER_CYCLE:
                    self.card.power_off()
                self.card.power_on()
        except Exception as exc:  # the invariant: strict mode must never raise
            error = exc
        self.actions.append(action)
        violations = self.checker.check(action, response, error)
        behaviour: Behaviour | None = None
        if error is not None:
            self.notes.append(f"raised {type(error).__name__}")
        elif isinstance(action, bytes) and response is not None and len(response) >= 2:
            sw = int.from_bytes(response[-2:], "big")
            self.notes.append(f"{sw:04X}")
            behaviour = (app, action[1] if len(action) > 1 else -1, sw)
        else:
            self.notes.append(None)
        return violations, behaviour

    def close(self) -> list[Violation]:
        """The end-of-sequence state-file check; then release and remove the card's files."""
        if self.closed:
            return []
        self.closed = True
        violations = self.checker.check_state_file()
        try:
            self.card.close()
        except Exception as exc:  # a card that cannot close is a finding, not a crash
            violations.append(Violation("exception", None, None, "close() returns", repr(exc)))
        for path in self.state.parent.glob(f"*{self.state.name}*"):
            path.unlink(missing_ok=True)
        return violations


@dataclass
class Finding:
    violation: Violation
    persona: str
    actions: list[Action]
    notes: list[str | None]
    index: int  # the action where the invariant broke
    path: Path | None = None
    reproduced: bool = True
    count: int = 1


@dataclass
class Options:
    personas: list[PersonaRef]
    mode: str = "random"
    seconds: float | None = 60.0
    apdus: int | None = None
    seed: int = 0
    corpus: Path | None = None
    findings: Path = Path("fuzz-findings")
    progress: float = 5.0
    max_actions: int = 200


@dataclass
class Stats:
    apdus: int = 0
    sequences: int = 0
    started: float = field(default_factory=time.monotonic)
    coverage: int | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Fuzzer:
    def __init__(
        self,
        options: Options,
        *,
        factory: CardFactory = strict_card,
        out: Callable[[str], None] = print,
    ) -> None:
        self.options = options
        self.factory = factory
        self.out = out
        self.stats = Stats()
        self.behaviours: set[Behaviour] = set()
        self.findings: dict[tuple[str, int | None, int | None], Finding] = {}
        self.corpus: dict[str, list[list[Action]]] = {}  # persona label -> sequences
        self._corpus_hashes: set[str] = set()
        self._facts: dict[str, CardFacts] = {}
        self._persona_turn = 0
        self._sessions = 0
        self._last_progress = self.stats.started
        self._scratch = Path(tempfile.mkdtemp(prefix="mynasim-fuzz-", dir=scratch_root()))

    # -- personas and sessions ---------------------------------------------------------

    def facts(self, ref: PersonaRef) -> CardFacts:
        facts = self._facts.get(ref.label)
        if facts is None:
            facts = self._facts[ref.label] = CardFacts.of(ref.persona)
        return facts

    def next_persona(self) -> PersonaRef:
        ref = self.options.personas[self._persona_turn % len(self.options.personas)]
        self._persona_turn += 1
        return ref

    def persona_ref(self, label: str) -> PersonaRef:
        for ref in self.options.personas:
            if ref.label == label or ref.persona.name == label:
                return ref
        return self.options.personas[0]

    def session(self, ref: PersonaRef) -> Session:
        self._sessions += 1
        return Session(self.facts(ref), self._scratch, self.factory, self._sessions)

    @property
    def scratch(self) -> Path:
        """The run's private scratch folder (state files, reload copies)."""
        return self._scratch

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    # -- budget and progress -------------------------------------------------------------

    def budget_left(self) -> bool:
        seconds, apdus = self.options.seconds, self.options.apdus
        if apdus is not None and self.stats.apdus >= apdus:
            return False
        return seconds is None or self.stats.elapsed() < seconds

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last_progress >= self.options.progress:
            self._last_progress = now
            self.out(self.status_line("progress"))

    def status_line(self, what: str) -> str:
        elapsed = self.stats.elapsed()
        rate = self.stats.apdus / elapsed if elapsed > 0 else 0.0
        coverage = "" if self.stats.coverage is None else f"  libFuzzer cov {self.stats.coverage:,}"
        return (
            f"{what}: {elapsed:.1f} s  {self.stats.apdus:,} APDUs  {rate:,.0f} APDUs/s  "
            f"{self.stats.sequences:,} sequences  {len(self.behaviours):,} behaviours{coverage}  "
            f"{len(self.findings)} findings"
        )

    # -- running sequences ---------------------------------------------------------------

    def run_actions(
        self, session: Session, actions: Sequence[Action], ref: PersonaRef
    ) -> list[Violation]:
        """Send `actions` on `session`; stop at the first violation (returned)."""
        for action in actions:
            violations = self.step(session, action)
            if violations:
                return violations
        return []

    def step(self, session: Session, action: Action) -> list[Violation]:
        violations, behaviour = session.step(action)
        if isinstance(action, bytes):
            self.stats.apdus += 1
        if behaviour is not None and behaviour not in self.behaviours:
            self.behaviours.add(behaviour)
            session.new_behaviour_at = len(session.actions) - 1
        self.tick()
        return violations

    def end_sequence(
        self,
        session: Session,
        ref: PersonaRef,
        violations: list[Violation],
        *,
        save_corpus: bool = True,
    ) -> None:
        """Close the session, save its corpus entry, and record every violation."""
        violations = violations + session.close()
        self.stats.sequences += 1
        if save_corpus and session.new_behaviour_at >= 0:
            self.add_corpus(ref.label, session.actions[: session.new_behaviour_at + 1])
        for violation in violations:
            self.record(violation, ref, list(session.actions))

    # -- findings ------------------------------------------------------------------------

    def record(
        self,
        violation: Violation,
        ref: PersonaRef,
        actions: list[Action],
    ) -> Finding | None:
        """A new (invariant, INS, SW) is minimised, replayed for its status words and
        saved; a known one is only counted."""
        known = self.findings.get(violation.key)
        if known is not None:
            known.count += 1
            return None
        actions = self.minimise(actions, ref, violation.key)
        finding = self.replay_finding(actions, ref, violation)
        self.findings[violation.key] = finding
        finding.path = self.save_finding(finding)
        self.out(
            f"finding {len(self.findings)}: {violation.invariant} "
            f"{_ins_text(violation.ins)} SW {_sw_text(violation.sw)} (persona {ref.label}, "
            f"{len(finding.actions)} actions) -> {finding.path}"
        )
        return finding

    def reproduce(
        self, actions: Sequence[Action], ref: PersonaRef, key: tuple[str, int | None, int | None]
    ) -> tuple[Violation, int, Session] | None:
        """Run `actions` on a fresh card; the first violation with `key`, its index, and
        the (closed) session."""
        session = self.session(ref)
        try:
            for index, action in enumerate(actions):
                violations, _ = session.step(action)
                for violation in violations:
                    if violation.key == key:
                        return violation, index, session
                if any(v.invariant == "exception" for v in violations):
                    return None
            for violation in session.close():
                if violation.key == key:
                    return violation, len(actions) - 1, session
            return None
        finally:
            session.close()

    def minimise(
        self, actions: list[Action], ref: PersonaRef, key: tuple[str, int | None, int | None]
    ) -> list[Action]:
        """Delta debugging: drop chunks of actions while the same (invariant, INS, SW)
        still breaks, then cut after the breaking action."""
        deadline = time.monotonic() + MINIMISE_SECONDS
        runs = 0

        def fails(candidate: list[Action]) -> bool:
            nonlocal runs
            runs += 1
            return bool(candidate) and self.reproduce(candidate, ref, key) is not None

        if not fails(actions):
            return actions  # not reproducible on a fresh card: keep it whole
        found = self.reproduce(actions, ref, key)
        if found is not None:
            actions = actions[: found[1] + 1]
        parts = 2
        while len(actions) >= 2 and time.monotonic() < deadline and runs < MINIMISE_RUNS:
            size = -(-len(actions) // parts)
            for start in range(0, len(actions), size):
                candidate = actions[:start] + actions[start + size :]
                if fails(candidate):
                    actions = candidate
                    parts = max(parts - 1, 2)
                    break
            else:
                if parts >= len(actions):
                    break
                parts = min(len(actions), parts * 2)
        return actions

    def replay_finding(
        self, actions: list[Action], ref: PersonaRef, violation: Violation
    ) -> Finding:
        found = self.reproduce(actions, ref, violation.key)
        if found is None:
            return Finding(violation, ref.label, actions, [None] * len(actions), len(actions) - 1,
                           reproduced=False)  # fmt: skip
        final, index, session = found
        return Finding(final, ref.label, actions[: index + 1], session.notes[: index + 1], index)

    def save_finding(self, finding: Finding) -> Path:
        violation = finding.violation
        folder = self.options.findings
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{violation.invariant}-{_ins_text(violation.ins)}-SW{_sw_text(violation.sw)}"
        path = folder / f"{name.replace(' ', '')}{SCRIPT_SUFFIX}"
        notes: list[str | None] = list(finding.notes[: len(finding.actions)])
        if 0 <= finding.index < len(notes):
            notes[finding.index] = (
                f"{notes[finding.index] or '-'}  <- {violation.invariant} broken here"
            )
        header = [
            "mynasim fuzz card finding (a replayable script: one APDU in hex per line)",
            f"invariant: {violation.invariant} ({INVARIANTS.get(violation.invariant, '')})",
            f"persona: {finding.persona}",
            f"mode: {self.options.mode}  seed: {self.options.seed}",
            f"at: action {finding.index + 1} of {len(finding.actions)} "
            f"({_ins_text(violation.ins)})",
            f"expected: {violation.expected}",
            f"actual: {violation.actual}",
            "reproduced on a fresh card: " + ("yes" if finding.reproduced else "NO (flaky)"),
            f"replay: mynasim apdu --persona {finding.persona} < {path.name}",
            "the comment after each line is the status word the card answered when recorded",
            "",
        ]
        path.write_text(format_script(finding.actions, header, notes))
        return path

    # -- corpus --------------------------------------------------------------------------

    def add_corpus(self, label: str, actions: list[Action]) -> None:
        text = "\n".join(action_line(a) for a in actions)
        digest = hashlib.sha256(f"{label}\n{text}".encode()).hexdigest()[:16]
        if digest in self._corpus_hashes or not actions:
            return
        self._corpus_hashes.add(digest)
        self.corpus.setdefault(label, []).append(actions)
        if self.options.corpus is not None:
            self.options.corpus.mkdir(parents=True, exist_ok=True)
            header = [
                "mynasim fuzz card corpus entry (reached a new behaviour)",
                f"persona: {label}",
            ]
            (self.options.corpus / f"{digest}{SCRIPT_SUFFIX}").write_text(
                format_script(actions, header)
            )

    def load_corpus(self) -> int:
        """Replay every script in the corpus folder (behaviours and invariants count);
        return how many were loaded."""
        folder = self.options.corpus
        if folder is None or not folder.is_dir():
            return 0
        loaded = 0
        for path in sorted(folder.glob(f"*{SCRIPT_SUFFIX}")):
            try:
                text = path.read_text()
                actions = parse_script(text)
            except (OSError, UnicodeDecodeError, ScriptError):
                continue
            label = _header_value(text, "persona") or self.options.personas[0].label
            ref = self.persona_ref(label)
            digest = hashlib.sha256(
                f"{ref.label}\n{chr(10).join(action_line(a) for a in actions)}".encode()
            ).hexdigest()[:16]
            self._corpus_hashes.add(digest)
            self.corpus.setdefault(ref.label, []).append(actions)
            session = self.session(ref)
            violations = self.run_actions(session, actions[: self.options.max_actions * 4], ref)
            self.end_sequence(session, ref, violations, save_corpus=False)
            loaded += 1
        return loaded

    def summary(self) -> str:
        return self.status_line("done")


def _header_value(text: str, name: str) -> str | None:
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("#"):
            break
        body = line.lstrip("#").strip()
        if body.startswith(f"{name}:"):
            return body.split(":", 1)[1].strip()
    return None


def _ins_text(ins: int | None) -> str:
    return "no-INS" if ins is None else f"INS {ins:02X}"


def _sw_text(sw: int | None) -> str:
    return "none" if sw is None else f"{sw:04X}"
