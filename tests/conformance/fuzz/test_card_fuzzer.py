"""`mynasim fuzz card` end to end: each invariant fires on a broken card, the real card stays
quiet in every mode, findings are minimal scripts that `mynasim apdu` replays, the corpus
round-trips, bad arguments exit 2, and PIN values never reach the output."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from card_fuzz_doubles import (
    answering_6f00_card,
    counter_refilling_card,
    double_decrementing_card,
    key_leaking_card,
    open_sign_certificate,
    pin_leaking_card,
    raising_card,
    state_corrupting_card,
    status_keeping_card,
    status_over_reset_card,
)

from conformance.fuzz import card as fuzz_card
from conformance.fuzz.actions import Action, parse_script
from conformance.fuzz.engine import CardFactory, Fuzzer, Options, strict_card
from conformance.fuzz.modes import atheris_available
from conformance.fuzz.personas import resolve_personas
from simulator import cli
from simulator.personalization.persona import Persona

ROOT = Path(__file__).resolve().parents[3]
SW_LINE = re.compile(r"^< .*?([0-9A-F]{4}) \([^)]*\)$")


def fuzz(
    tmp_path: Path, *options: str, factory: CardFactory = strict_card
) -> tuple[int, list[str], list[str]]:
    out: list[str] = []
    err: list[str] = []
    argv = ["--findings", str(tmp_path / "findings"), "--progress", "0.5", *options]
    args = fuzz_card.build_parser().parse_args(argv)
    status = fuzz_card.run(args, out=out.append, err=err.append, factory=factory)
    return status, out, err


def recorded(script: str) -> tuple[list[Action], list[str | None], int]:
    """The actions, the SW noted after each, and the index of the breaking action."""
    actions = parse_script(script)
    notes: list[str | None] = []
    broken = -1
    for line in script.splitlines():
        body, _, comment = line.partition("#")
        if not body.strip():
            continue
        match = re.match(r"\s*([0-9A-F]{4})\b", comment)
        notes.append(match.group(1) if match else None)
        if "broken here" in comment:
            broken = len(notes) - 1
    return actions, notes, broken


def replay_with_mynasim_apdu(
    script: str, persona: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> list[str]:
    """`mynasim apdu --persona P < script` (in-process): the status word of every APDU."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(script))
    capsys.readouterr()
    assert cli.main(["apdu", "--persona", persona]) == 0
    lines = capsys.readouterr().out.splitlines()
    return [m.group(1) for m in map(SW_LINE.match, lines) if m]


# (factory, invariant, the broken card changes only data/state, not status words)
DOUBLES = [
    pytest.param(key_leaking_card, "key-leak", True, id="key-leak"),
    pytest.param(pin_leaking_card, "pin-leak", True, id="pin-leak"),
    pytest.param(counter_refilling_card, "counter", True, id="counter-rises"),
    pytest.param(double_decrementing_card, "counter", True, id="counter-falls-by-two"),
    pytest.param(state_corrupting_card, "state-file", True, id="state-file"),
    pytest.param(raising_card, "exception", False, id="exception"),
    pytest.param(answering_6f00_card, "sw-6f00", False, id="6f00"),
    pytest.param(open_sign_certificate, "access", False, id="access"),
    pytest.param(status_keeping_card, "status-survives", False, id="status-survives-select"),
    pytest.param(status_over_reset_card, "status-survives", False, id="status-survives-reset"),
]


@pytest.mark.parametrize(("factory", "invariant", "same_sws"), DOUBLES)
def test_each_invariant_fires_on_a_broken_card(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    factory: CardFactory,
    invariant: str,
    same_sws: bool,
) -> None:
    status, out, _ = fuzz(
        tmp_path, "--mode", "random", "--seed", "3", "--apdus", "6000", factory=factory
    )
    assert status == 1
    assert any(line.startswith("finding ") and f": {invariant} " in line for line in out)
    scripts = sorted((tmp_path / "findings").glob(f"{invariant}-*.apdus"))
    assert scripts, out
    script = scripts[0].read_text()
    assert f"# invariant: {invariant} " in script and "# persona: default" in script
    assert "# expected: " in script and "# actual: " in script
    assert "# mode: random  seed: 3" in script
    actions, notes, broken = recorded(script)
    assert broken == len(actions) - 1 and len(actions) <= 8
    # minimal: without any one of its actions the finding no longer comes back
    fuzzer = Fuzzer(Options(resolve_personas("default"), findings=tmp_path / "x"), factory=factory)
    ref, key = fuzzer.options.personas[0], key_of(scripts[0])
    try:
        assert fuzzer.reproduce(actions, ref, key) is not None
        if invariant != "state-file":  # there, any one VERIFY corrupts the file
            for index in range(len(actions)):
                shorter = actions[:index] + actions[index + 1 :]
                assert not shorter or fuzzer.reproduce(shorter, ref, key) is None
    finally:
        fuzzer.close()
    # the script replays through `mynasim apdu` against the real card, status word for status word
    replayed = replay_with_mynasim_apdu(script, "default", monkeypatch, capsys)
    apdu_notes = [n for a, n in zip(actions, notes, strict=True) if isinstance(a, bytes)]
    breaking = sum(isinstance(a, bytes) for a in actions[: broken + 1]) - 1
    assert replayed[:breaking] == apdu_notes[:breaking]
    if same_sws:
        assert replayed == apdu_notes
    elif actions[broken] not in ("reset", "power-cycle"):
        assert replayed[breaking] != apdu_notes[breaking]  # the real card has no such bug


def key_of(script: Path) -> tuple[str, int | None, int | None]:
    """The (invariant, INS, SW) a finding's file name carries: INVARIANT-INSxx-SWxxxx."""
    match = re.fullmatch(
        r"(.+)-(?:INS([0-9A-F]{2})|no-INS)-SW([0-9A-F]{4}|none)\.apdus", script.name
    )
    assert match, script.name
    ins, sw = match.group(2), match.group(3)
    return (
        match.group(1),
        None if ins is None else int(ins, 16),
        None if sw == "none" else int(sw, 16),
    )


def test_a_finding_replays_through_the_mynasim_command(tmp_path: Path) -> None:
    """The real command line, as a user runs it: `python -m simulator apdu < FILE`."""
    status, _, _ = fuzz(tmp_path, "--mode", "random", "--seed", "3", "--apdus", "3000",
                        factory=key_leaking_card)  # fmt: skip
    assert status == 1
    script = next((tmp_path / "findings").glob("key-leak-*.apdus"))
    assert f"# replay: mynasim apdu --persona default < {script.name}" in script.read_text()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with script.open() as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "simulator", "apdu", "--persona", "default"],
            stdin=stdin, capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    replayed = [m.group(1) for m in map(SW_LINE.match, done.stdout.splitlines()) if m]
    actions, notes, _ = recorded(script.read_text())
    assert replayed == [n for a, n in zip(actions, notes, strict=True) if isinstance(a, bytes)]


def test_hypothesis_mode_shrinks_a_finding(tmp_path: Path) -> None:
    # an APDU budget, not seconds: with seed 1 the finding comes within about 2,500 APDUs
    # whatever the machine's speed (a 5 s budget missed it on a slower CI machine)
    status, out, _ = fuzz(tmp_path, "--apdus", "4000", "--seed", "1", factory=status_keeping_card)
    assert status == 1, out
    assert out[0].startswith("mynasim fuzz card: mode hypothesis, persona default, seed 1")
    script = next((tmp_path / "findings").glob("status-survives-*.apdus")).read_text()
    actions, _, _ = recorded(script)
    assert len(actions) <= 5  # SELECT, VERIFY, SELECT again, (SELECT EF,) read or sign
    assert "# mode: hypothesis  seed: 1" in script


@pytest.mark.skipif(
    not atheris_available() and not os.environ.get("CI"),  # in CI a missing atheris fails
    reason="atheris is not installed (the fuzz extra)",
)
def test_atheris_mode_finds_and_stays_quiet(tmp_path: Path) -> None:
    status, out, _ = fuzz(tmp_path / "broken", "--mode", "atheris", "--apdus", "500",
                          "--seed", "4", factory=raising_card)  # fmt: skip
    assert status == 1, out
    assert list((tmp_path / "broken" / "findings").glob("exception-INS84-*.apdus"))
    status, out, _ = fuzz(tmp_path / "real", "--mode", "atheris", "--seconds", "2", "--seed", "4")
    assert status == 0, out
    assert re.search(r"^done: .* libFuzzer cov [\d,]+  0 findings$", out[-1]), out[-1]


def test_the_real_card_stays_quiet_in_random_mode(tmp_path: Path) -> None:
    status, out, _ = fuzz(tmp_path, "--mode", "random", "--apdus", "20000", "--seed", "1")
    assert status == 0, out
    assert re.match(r"done: [\d.]+ s  20,\d{3} APDUs  [\d,]+ APDUs/s  .*  0 findings$", out[-1])
    assert not list((tmp_path / "findings").iterdir())


def test_the_real_card_stays_quiet_in_hypothesis_mode(tmp_path: Path) -> None:
    status, out, _ = fuzz(tmp_path, "--seconds", "3", "--seed", "1")
    assert status == 0, out
    assert out[-1].startswith("done: ") and out[-1].endswith(" 0 findings")


def test_every_builtin_persona_stays_quiet(tmp_path: Path) -> None:
    status, out, _ = fuzz(tmp_path, "--mode", "random", "--persona", "all", "--apdus", "12000",
                          "--seed", "2", "--max-actions", "60")  # fmt: skip
    assert status == 0, out
    assert "persona all (" in out[0]


def test_corpus_round_trip(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    status, out, _ = fuzz(tmp_path, "--mode", "random", "--apdus", "3000", "--seed", "5",
                          "--corpus", str(corpus))  # fmt: skip
    assert status == 0
    saved = sorted(corpus.glob("*.apdus"))
    assert saved
    for path in saved:
        text = path.read_text()
        assert "# persona: default" in text and parse_script(text)
    behaviours = int(re.search(r"([\d,]+) behaviours", out[-1]).group(1).replace(",", ""))  # type: ignore[union-attr]
    status, out, _ = fuzz(tmp_path, "--mode", "random", "--apdus", "1", "--seed", "6",
                          "--corpus", str(corpus))  # fmt: skip
    assert status == 0
    # a progress line may come first on a slow machine
    corpus_line = re.compile(r"^corpus: ([\d,]+) sequences replayed, ([\d,]+) behaviours$")
    loaded = next(filter(None, map(corpus_line.match, out)), None)
    assert loaded, out
    assert int(loaded.group(1).replace(",", "")) == len(saved)
    # every behaviour the first run saw is reached again by replaying what it saved
    assert int(loaded.group(2).replace(",", "")) == behaviours


def _secrets(persona: Persona) -> list[bytes]:
    values = [persona.auth_pin.value, persona.sign_pin.value]
    info = persona.card_info
    if info is not None:
        values += [info.text.pin.value, info.text.pin_a.value, info.text.pin_b.value]
        values += [info.surface.birth_key.value, info.registry.common_pin.value]
        values += [info.registry.juki_pin.value]
    return values


def test_pin_values_never_reach_the_output(
    tmp_path: Path, default_persona: Persona, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = fuzz(tmp_path, "--mode", "random", "--apdus", "4000", "--seed", "8",
                            "--progress", "0.01", factory=pin_leaking_card)  # fmt: skip
    assert status == 1
    text = "\n".join(out + err + list(capsys.readouterr())).replace(str(tmp_path), "<tmp>")
    assert sum(line.startswith("progress: ") for line in out) >= 2
    for value in _secrets(default_persona):
        for shown in (value.decode(), value.hex(), value.hex().upper()):
            assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(shown)}(?![0-9A-Za-z])", text)
    # the finding script is the reproduction: it carries the VERIFY value
    script = next((tmp_path / "findings").glob("pin-leak-*.apdus")).read_text()
    assert "0020" in script


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--seconds", "0"], "--seconds must be a positive number"),
        (["--apdus", "0"], "--apdus must be a positive integer"),
        (["--progress", "-1"], "--progress must be a positive number"),
        (["--max-actions", "0"], "--max-actions must be 1-100000"),
        (["--seed", "-5"], "--seed must not be negative"),
        (["--persona", "no-such-persona"], "unknown persona 'no-such-persona'"),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, options: list[str], message: str) -> None:
    status, out, err = fuzz(tmp_path, *options)
    assert status == 2 and not out
    assert len(err) == 1 and err[0].startswith("mynasim fuzz card: error: ") and message in err[0]


def test_findings_must_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "findings").write_text("a file")
    status, _, err = fuzz(tmp_path, "--apdus", "5")
    assert status == 2 and "is not a folder" in err[0]


def test_atheris_mode_without_atheris(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fuzz_card, "atheris_available", lambda: False)
    status, _, err = fuzz(tmp_path, "--mode", "atheris", "--apdus", "5")
    assert status == 2 and "install atheris" in err[0]


def test_argparse_errors_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, code in ((["--mode", "nope"], 2), (["--apdus", "many"], 2), (["--help"], 0)):
        with pytest.raises(SystemExit) as exit_info:
            fuzz_card.main(argv)
        assert exit_info.value.code == code
    assert "--persona NAME|PATH|all" in capsys.readouterr().out


def test_module_entry_point(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "conformance.fuzz.card", "--mode", "random", "--apdus", "300",
         "--seed", "1", "--findings", str(tmp_path / "f")],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("done: ")


def test_duplicate_findings_are_counted_once(tmp_path: Path) -> None:
    progress: Callable[[str], None] = lambda line: None  # noqa: E731
    options = Options(resolve_personas("default"), seconds=None, apdus=8000, seed=9,
                      findings=tmp_path / "f", progress=1e9)  # fmt: skip
    fuzzer = Fuzzer(options, factory=raising_card, out=progress)
    try:
        from conformance.fuzz.modes import run_random

        run_random(fuzzer)
    finally:
        fuzzer.close()
    [finding] = fuzzer.findings.values()
    assert finding.count > 1 and len(list((tmp_path / "f").iterdir())) == 1


def test_mynasim_fuzz_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command as users type it (`mynasim fuzz card ...`)."""
    argv = ["fuzz", "card", "--mode", "random", "--apdus", "300", "--seed", "1"]
    assert cli.main([*argv, "--findings", str(tmp_path / "f")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("done: ")
