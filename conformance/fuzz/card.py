"""`mynasim fuzz card`: structure-aware fuzzing of the card model, in-process.

    mynasim fuzz card [--mode hypothesis|random|atheris] [--persona NAME|PATH|all]
                      [--seconds N] [--apdus N] [--seed N] [--corpus DIR]
                      [--findings DIR] [--progress SECONDS] [--max-actions N]
    python -m conformance.fuzz.card ...   (the same, before `mynasim fuzz` is wired)

Sequences of APDUs and power events run against fresh strict-mode cards (each with its own
state file); every response is checked against the invariants of
`conformance.fuzz.invariants`. Each new (invariant, INS, SW) is minimised and saved in the
findings folder as a script that `mynasim apdu --persona P < FILE` replays.
Exit status: 0 no finding, 1 findings, 2 bad arguments (or a fuzzer that cannot start).
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from conformance.fuzz.engine import CardFactory, Fuzzer, Options, strict_card
from conformance.fuzz.modes import (
    atheris_available,
    factory_reference,
    run_atheris,
    run_hypothesis,
    run_random,
)
from conformance.fuzz.personas import resolve_personas
from simulator.personalization.persona import PersonaError

MODES = ("hypothesis", "random", "atheris")
DEFAULT_SECONDS = 60.0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode", choices=MODES, default="hypothesis",
        help="hypothesis (default: findings shrink to minimal sequences), random (fast, for "
        "long runs) or atheris (coverage-guided; needs `pip install atheris`)",
    )  # fmt: skip
    parser.add_argument(
        "--persona", default="default", metavar="NAME|PATH|all",
        help="a built-in persona, a persona .toml file, or 'all' to cycle through every "
        "built-in persona (default: default)",
    )  # fmt: skip
    parser.add_argument(
        "--seconds", type=float, metavar="N",
        help=f"stop after N seconds (default {DEFAULT_SECONDS:.0f} unless --apdus is given)",
    )  # fmt: skip
    parser.add_argument(
        "--apdus", type=int, metavar="N", help="stop after N APDUs (whichever limit comes first)"
    )
    parser.add_argument("--seed", type=int, metavar="N", help="random seed (default: a new one)")
    parser.add_argument(
        "--corpus", type=Path, metavar="DIR",
        help="load action sequences from DIR at start; save those that reach a new "
        "behaviour (selected application, INS, SW) there",
    )  # fmt: skip
    parser.add_argument(
        "--findings", type=Path, default=Path("fuzz-findings"), metavar="DIR",
        help="where minimal replayable scripts of findings go (default: ./fuzz-findings)",
    )  # fmt: skip
    parser.add_argument(
        "--progress", type=float, default=5.0, metavar="SECONDS",
        help="seconds between progress lines (default 5)",
    )  # fmt: skip
    parser.add_argument(
        "--max-actions", type=int, default=200, metavar="N",
        help="longest action sequence on one card in random and atheris modes (default 200)",
    )  # fmt: skip


def _usage_error(message: str, err: Callable[[str], None]) -> int:
    err(f"mynasim fuzz card: error: {message}")
    return EXIT_USAGE


def run(
    args: argparse.Namespace,
    *,
    out: Callable[[str], None] | None = None,
    err: Callable[[str], None] | None = None,
    factory: CardFactory = strict_card,
) -> int:
    """Run the fuzzer; 0 no finding, 1 findings, 2 bad arguments. `factory` builds the card
    of every session (tests pass a deliberately broken one)."""
    emit = out or (lambda line: print(line, flush=True))
    warn = err or (lambda line: print(line, file=sys.stderr, flush=True))
    problem = _check_arguments(args)
    if problem:
        return _usage_error(problem, warn)
    if args.mode == "atheris" and not atheris_available():
        return _usage_error(
            "--mode atheris needs atheris: install atheris (pip install atheris)", warn
        )
    if args.mode == "hypothesis":
        try:
            import hypothesis  # noqa: F401
        except ImportError:
            return _usage_error("--mode hypothesis needs hypothesis: pip install hypothesis", warn)
    try:
        personas = resolve_personas(args.persona)
    except PersonaError as exc:
        return _usage_error(str(exc), warn)
    findings: Path = args.findings
    try:
        findings.mkdir(parents=True, exist_ok=True)
        if args.corpus is not None:
            args.corpus.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _usage_error(f"cannot create {exc.filename}: {exc.strerror}", warn)
    seconds = args.seconds if args.seconds is not None else (
        None if args.apdus is not None else DEFAULT_SECONDS
    )  # fmt: skip
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    options = Options(
        personas=personas,
        mode=args.mode,
        seconds=seconds,
        apdus=args.apdus,
        seed=seed,
        corpus=args.corpus,
        findings=findings,
        progress=args.progress,
        max_actions=args.max_actions,
    )
    budget = " and ".join(
        part
        for part in (
            None if seconds is None else f"{seconds:g} s",
            None if args.apdus is None else f"{args.apdus} APDUs",
        )
        if part
    )
    names = args.persona if args.persona != "all" else f"all ({len(personas)})"
    emit(
        f"mynasim fuzz card: mode {args.mode}, persona {names}, seed {seed}, "
        f"budget {budget}, findings in {findings}"
    )
    fuzzer = Fuzzer(options, factory=factory, out=emit)
    try:
        if args.mode == "atheris":
            try:
                reference = factory_reference(factory)
            except ValueError as exc:
                return _usage_error(str(exc), warn)
            return _run_atheris(fuzzer, args, seconds, seed, reference)
        loaded = fuzzer.load_corpus()
        if loaded:
            emit(f"corpus: {loaded:,} sequences replayed, {len(fuzzer.behaviours):,} behaviours")
        if args.mode == "random":
            run_random(fuzzer)
        else:
            run_hypothesis(fuzzer)
    except KeyboardInterrupt:
        emit("interrupted")
    finally:
        fuzzer.close()
    emit(fuzzer.summary())
    return EXIT_FINDINGS if fuzzer.findings else 0


def _run_atheris(
    fuzzer: Fuzzer,
    args: argparse.Namespace,
    seconds: float | None,
    seed: int,
    factory: dict[str, str | None] | None,
) -> int:
    config = {
        "factory": factory,
        "persona": args.persona,
        "seconds": seconds,
        "apdus": args.apdus,
        "seed": seed,
        "corpus": None if args.corpus is None else str(args.corpus.resolve()),
        "findings": str(args.findings.resolve()),
        "progress": args.progress,
        "max_actions": args.max_actions,
    }
    return run_atheris(fuzzer, config)


def _check_arguments(args: argparse.Namespace) -> str | None:
    if args.seconds is not None and not args.seconds > 0:
        return f"--seconds must be a positive number, got {args.seconds:g}"
    if args.apdus is not None and args.apdus <= 0:
        return f"--apdus must be a positive integer, got {args.apdus}"
    if not args.progress > 0:
        return f"--progress must be a positive number of seconds, got {args.progress:g}"
    if not 1 <= args.max_actions <= 100_000:
        return f"--max-actions must be 1-100000, got {args.max_actions}"
    if args.seed is not None and args.seed < 0:
        return f"--seed must not be negative, got {args.seed}"
    if args.findings.exists() and not args.findings.is_dir():
        return f"--findings {args.findings} is not a folder"
    if args.corpus is not None and args.corpus.exists() and not args.corpus.is_dir():
        return f"--corpus {args.corpus} is not a folder"
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mynasim fuzz card",
        description="Fuzz the card model in-process (invariants on every APDU).",
    )
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
