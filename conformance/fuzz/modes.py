"""The three ways `mynasim fuzz card` drives the grammar.

- random: `random.Random(seed)` choices, fresh card per sequence, corpus entries reused as
  prefixes; the fast one, for long runs;
- hypothesis: hypothesis draws every choice, so a finding shrinks to a minimal sequence;
  runs in chunks of examples with successive seeds until the budget is spent;
- atheris: libFuzzer's coverage-guided inputs decoded into action sequences
  (`atheris.FuzzedDataProvider`); runs in a child process (libFuzzer ends its process).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance.fuzz.actions import Action
from conformance.fuzz.engine import CardFactory, Fuzzer, PersonaRef, Session, strict_card
from conformance.fuzz.grammar import Chooser, ProviderChooser, RandomChooser, next_actions
from conformance.fuzz.invariants import Violation

CORPUS_PREFIX_PERCENT = 25
HYPOTHESIS_CHUNK = 100  # examples per hypothesis run (then a new seed)
HYPOTHESIS_MAX_ACTIONS = 40
ATHERIS_MAX_LEN = 4096


def run_sequence(
    fuzzer: Fuzzer,
    session: Session,
    ref: PersonaRef,
    chooser: Chooser,
    more: Callable[[Session], bool],
    prefix: list[Action] | None = None,
) -> list[Violation]:
    """Drive one sequence: the prefix, then the grammar while `more(session)` says so.
    Returns the violations that ended it (empty when none)."""
    if prefix:
        violations = fuzzer.run_actions(session, prefix, ref)
        if violations:
            return violations
    while more(session):
        for action in next_actions(chooser, session.model):
            violations = fuzzer.step(session, action)
            if violations:
                return violations
    return []


def run_random(fuzzer: Fuzzer) -> None:
    rng = random.Random(fuzzer.options.seed)  # noqa: S311 - reproducible fuzzing, not secrets
    chooser = RandomChooser(rng)
    limit = fuzzer.options.max_actions
    while fuzzer.budget_left():
        ref = fuzzer.next_persona()
        length = 1 + int(rng.random() * limit)
        prefix: list[Action] | None = None
        own = fuzzer.corpus.get(ref.label)
        if own and rng.random() * 100 < CORPUS_PREFIX_PERCENT:
            entry = own[int(rng.random() * len(own))]
            prefix = entry[: 1 + int(rng.random() * len(entry))]
        session = fuzzer.session(ref)

        def more(s: Session, length: int = length) -> bool:
            return len(s.actions) < length and fuzzer.budget_left()

        violations = run_sequence(fuzzer, session, ref, chooser, more, prefix)
        fuzzer.end_sequence(session, ref, violations)


# ------------------------------------------------------------------------- hypothesis


class _Found(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside the hypothesis test for the finding being shrunk."""


def run_hypothesis(fuzzer: Fuzzer) -> None:
    chunk = 0
    while fuzzer.budget_left():
        _hypothesis_chunk(fuzzer, fuzzer.next_persona(), fuzzer.options.seed + chunk)
        chunk += 1


def _hypothesis_chunk(fuzzer: Fuzzer, ref: PersonaRef, chunk_seed: int) -> None:
    """One hypothesis run of HYPOTHESIS_CHUNK examples. The first new (invariant, INS, SW)
    becomes the target that hypothesis shrinks; others seen meanwhile are minimised by
    delta debugging afterwards."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
    from hypothesis import strategies as st
    from hypothesis.errors import HypothesisException

    from conformance.fuzz.strategies import HypothesisChooser

    target: list[tuple[str, int | None, int | None]] = []
    last: dict[str, Any] = {}
    pending: list[tuple[Violation, list[Action]]] = []

    @settings(
        max_examples=HYPOTHESIS_CHUNK,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
    )
    @seed(chunk_seed)
    @given(st.data())
    def sequence(data: Any) -> None:
        if not target and not fuzzer.budget_left():
            return
        if target and time.monotonic() > last["shrink_until"]:
            return  # enough shrinking: the best example so far goes to delta debugging
        chooser = HypothesisChooser(data)
        session = fuzzer.session(ref)

        def more(s: Session) -> bool:
            return len(s.actions) < HYPOTHESIS_MAX_ACTIONS and chooser.integer(0, 9) != 0

        try:
            violations = run_sequence(fuzzer, session, ref, chooser, more)
        finally:
            closing = session.close()
        violations += closing
        fuzzer.stats.sequences += 1
        if session.new_behaviour_at >= 0 and not target:
            fuzzer.add_corpus(ref.label, session.actions[: session.new_behaviour_at + 1])
        for violation in violations:
            if not target and violation.key not in fuzzer.findings:
                target.append(violation.key)
                last["shrink_until"] = time.monotonic() + _shrink_seconds(fuzzer)
            if target and violation.key == target[0]:
                last["actions"] = list(session.actions)
                last["violation"] = violation
                raise _Found
            if violation.key not in fuzzer.findings:
                pending.append((violation, list(session.actions)))

    try:
        sequence()
    except _Found:
        fuzzer.record(last["violation"], ref, last["actions"])  # and delta debugging
    except HypothesisException:  # flaky: the failure did not come back; minimise by hand
        if "violation" in last:
            fuzzer.record(last["violation"], ref, last["actions"])
    for violation, actions in pending:
        fuzzer.record(violation, ref, actions)


# ---------------------------------------------------------------------------- atheris


def _shrink_seconds(fuzzer: Fuzzer) -> float:
    """How long hypothesis may shrink one finding: a tenth of the time budget, 1-10 s."""
    budget = fuzzer.options.seconds
    return 5.0 if budget is None else min(10.0, max(1.0, budget / 10))


def atheris_available() -> bool:
    return importlib.util.find_spec("atheris") is not None


def factory_reference(factory: CardFactory) -> dict[str, str | None] | None:
    """How the atheris child finds a card factory other than the strict card: a module-level
    name (tests pass deliberately broken cards). None for the strict card."""
    if factory is strict_card:
        return None
    module = sys.modules.get(getattr(factory, "__module__", ""))
    name = None
    if module is not None:
        name = next((key for key, value in vars(module).items() if value is factory), None)
    if module is None or name is None:
        raise ValueError("--mode atheris runs in a child process: the card factory must be a "
                         "module-level name")  # fmt: skip
    file = getattr(module, "__file__", None)
    folder = None if file is None else str(Path(file).resolve().parent)
    return {"module": module.__name__, "name": name, "path": folder}


def load_factory(reference: dict[str, str | None] | None) -> CardFactory:
    """The factory `factory_reference` described (in the atheris child)."""
    if reference is None:
        return strict_card
    if reference.get("path") and reference["path"] not in sys.path:
        sys.path.insert(0, str(reference["path"]))
    module = importlib.import_module(str(reference["module"]))
    factory: CardFactory = getattr(module, str(reference["name"]))
    return factory


def run_atheris_sequence(fuzzer: Fuzzer, provider: Any) -> None:
    """One libFuzzer input: decode it into a sequence and run it."""
    chooser = ProviderChooser(provider)
    ref = fuzzer.next_persona()
    session = fuzzer.session(ref)
    limit = fuzzer.options.max_actions

    def more(s: Session) -> bool:
        return len(s.actions) < limit and chooser.remaining() > 0

    violations = run_sequence(fuzzer, session, ref, chooser, more)
    fuzzer.end_sequence(session, ref, violations)


def run_atheris(fuzzer: Fuzzer, config: dict[str, Any]) -> int:
    """Run the atheris worker in a child process; relay its progress; return its status
    (0, 1 findings, 2 the worker failed)."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    config_path = fuzzer.scratch / "atheris.json"
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "conformance.fuzz.atheris_worker", str(config_path)]
    process = subprocess.Popen(  # noqa: S603 - our own worker
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    coverage: list[int] = []
    tail: list[str] = []

    def read_errors() -> None:
        assert process.stderr is not None  # noqa: S101
        for line in process.stderr:  # libFuzzer's own lines: only the coverage is kept
            match = re.search(r"\bcov: (\d+)", line)
            if match:
                coverage.append(int(match.group(1)))
            elif "Traceback" in line or "Error" in line:
                tail.append(line.rstrip()[:200])

    reader = threading.Thread(target=read_errors, daemon=True)
    reader.start()
    done: dict[str, Any] | None = None
    findings = 0
    assert process.stdout is not None  # noqa: S101
    try:
        for line in process.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if coverage:
                fuzzer.stats.coverage = coverage[-1]
            text = str(message.get("line", ""))
            findings += text.startswith("finding ")
            if message.get("type") == "done":
                done = message
            else:
                fuzzer.out(_with_coverage(text, fuzzer.stats.coverage))
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        fuzzer.out(f"interrupted ({findings} findings saved)")
        return 1 if findings else 0
    process.wait()
    reader.join(5)
    if coverage:
        fuzzer.stats.coverage = coverage[-1]
    if done is None:
        fuzzer.out(f"atheris worker exited with status {process.returncode} before finishing")
        for line in tail[-5:]:
            fuzzer.out(f"  {line}")
        return 2
    fuzzer.out(_with_coverage(str(done.get("line", "")), fuzzer.stats.coverage))
    return 1 if done.get("findings") else 0


def _with_coverage(line: str, coverage: int | None) -> str:
    if coverage is None or "libFuzzer cov" in line or " findings" not in line:
        return line
    head, _, tail = line.rpartition("  ")
    return f"{head}  libFuzzer cov {coverage:,}  {tail}"
