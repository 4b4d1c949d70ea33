"""The atheris child of `mynasim fuzz card --mode atheris` (libFuzzer ends its process, so
the fuzz loop runs here and the parent relays the progress).

    python -m conformance.fuzz.atheris_worker CONFIG.json

The card model (`simulator.*`) is imported under atheris instrumentation so libFuzzer sees
its coverage. With --corpus, libFuzzer's own inputs are kept in CORPUS/libfuzzer/ (the
action scripts stay in CORPUS/ itself). Writes JSON lines to stdout, {"type": "progress",
"line": ...} and finally {"type": "done", "line": ..., "findings": N}; then exits with
os._exit.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

with atheris.instrument_imports(include=["simulator"]):
    import simulator.applets
    import simulator.card  # noqa: F401

from conformance.fuzz.engine import Fuzzer, Options
from conformance.fuzz.modes import ATHERIS_MAX_LEN, load_factory, run_atheris_sequence
from conformance.fuzz.personas import resolve_personas


def _emit(kind: str, line: str, **extra: Any) -> None:
    sys.stdout.write(json.dumps({"type": kind, "line": line, **extra}) + "\n")
    sys.stdout.flush()


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    options = Options(
        personas=resolve_personas(config["persona"]),
        mode="atheris",
        seconds=config["seconds"],
        apdus=config["apdus"],
        seed=config["seed"],
        corpus=Path(config["corpus"]) if config["corpus"] else None,
        findings=Path(config["findings"]),
        progress=config["progress"],
        max_actions=config["max_actions"],
    )
    factory = load_factory(config.get("factory"))
    fuzzer = Fuzzer(options, factory=factory, out=lambda line: _emit("progress", line))
    loaded = fuzzer.load_corpus()
    if loaded:
        _emit(
            "progress",
            f"corpus: {loaded:,} sequences replayed, {len(fuzzer.behaviours):,} behaviours",
        )
    # libFuzzer's own inputs (choice bytes, not APDUs): kept across runs with --corpus
    work = (options.corpus or fuzzer.scratch) / "libfuzzer"
    work.mkdir(parents=True, exist_ok=True)

    def finish() -> None:
        fuzzer.close()
        _emit("done", fuzzer.summary(), findings=len(fuzzer.findings))
        os._exit(0)

    def one_input(data: bytes) -> None:
        if not fuzzer.budget_left():
            finish()
        run_atheris_sequence(fuzzer, atheris.FuzzedDataProvider(data))

    seed = config["seed"] % (2**31 - 1) or 1
    argv = [
        "mynasim-fuzz-card",
        f"-seed={seed}",
        f"-max_len={ATHERIS_MAX_LEN}",
        "-print_final_stats=0",
        "-rss_limit_mb=4096",
        "-timeout=120",
        str(work),
    ]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()
    finish()  # libFuzzer returned (it normally ends the process itself)


if __name__ == "__main__":
    main(sys.argv[1])
