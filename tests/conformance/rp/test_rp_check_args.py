"""`mynasim rp-check`'s software options: a --command pairs with the --flow before it (or
names its flow), two templates for one flow are a usage error, relative paths resolve where
rp-check was started, and a reported signature and identity reach the outcome."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from rp_helpers import step_context

from conformance.rp.adapters import AdapterError, CommandAdapter, FlowCommands, PythonAdapter
from conformance.rp.check import add_software_arguments, software_from_args
from conformance.rp.context import ACCEPTED, ERROR, StepContext, StepOutcome

ROOT = Path(__file__).resolve().parents[3]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rp-check", exit_on_error=False)
    add_software_arguments(parser)
    return parser.parse_args(argv)


def templates(*argv: str) -> dict[str, str]:
    software = software_from_args(parse(*argv))
    adapter = software.adapter
    if isinstance(adapter, CommandAdapter):
        return {flow: " ".join(adapter.argv) for flow in software.flows}
    assert isinstance(adapter, FlowCommands)
    return {flow: " ".join(command.argv) for flow, command in adapter.commands.items()}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("--flow", "login", "--command", "a"), {"login": "a"}),
        (("--flow", "login", "--command", "a", "--flow", "sign", "--command", "b"),
         {"login": "a", "sign": "b"}),
        (("--flow", "login", "--flow", "sign", "--command", "x {flow}"),
         {"login": "x {flow}", "sign": "x {flow}"}),
        (("--command", "x", "--flow", "login", "--flow", "sign"), {"login": "x", "sign": "x"}),
        (("--command", "sign=b", "--command", "login=a"), {"login": "a", "sign": "b"}),
        (("--flow", "sign", "--command", "sign=b"), {"sign": "b"}),
        (("--flow", "login", "--flow", "sign", "--command", "login=a", "--command", "sign=b"),
         {"login": "a", "sign": "b"}),
        (("--flow", "login", "--flow", "sign", "--command", "login=a", "--command", "b"),
         {"login": "a", "sign": "b"}),
    ],
)  # fmt: skip
def test_each_command_pairs_with_its_flow(argv: tuple[str, ...], expected: dict[str, str]) -> None:
    assert templates(*argv) == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--flow", "login", "--command", "a", "--command", "b"), "has no --flow before it"),
        (("--flow", "login", "--command", "a", "--flow", "login", "--command", "b"),
         "two commands for the login flow ('a' and 'b')"),
        (("--command", "login=a", "--command", "login=b"), "two commands for the login flow"),
        (("--flow", "login", "--command", "a", "--flow", "sign"), "no command for the sign flow"),
        (("--flow", "login", "--command", "sign=b"), "no command for the login flow"),
        (("--flow", "login", "--command", "a", "--command", "login=b"),
         "two commands for the login flow"),
        (("--command", "a"), "say which flow the command implements"),
    ],
)  # fmt: skip
def test_ambiguous_commands_are_usage_errors(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(AdapterError) as caught:
        software_from_args(parse(*argv))
    assert message in str(caught.value)


def test_an_option_given_twice_is_refused_not_replaced() -> None:
    with pytest.raises(argparse.ArgumentError, match="given twice; give it once"):
        parse("--flow", "login", "--python", "a:b", "--python", "c:d")


def test_rp_check_says_what_is_wrong_and_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "rp-check", "--flow", "login", "--command", "a",
         "--flow", "login", "--command", "b"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "mynasim rp-check: error: two commands for the login flow" in done.stderr


def test_relative_paths_resolve_where_rp_check_was_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = tmp_path / "project"
    (started / "bin").mkdir(parents=True)
    program = started / "bin" / "my-login"
    program.write_text(
        '#!/bin/sh\ntest -f config/rp.toml && test -d "$1" && echo \'{"outcome": "accepted"}\'\n'
    )
    program.chmod(0o755)
    (started / "config").mkdir()
    (started / "config" / "rp.toml").write_text("")
    monkeypatch.chdir(started)
    adapter = CommandAdapter("bin/my-login {workdir}")
    monkeypatch.chdir(tmp_path)  # where the process is later does not matter
    context = step_context(tmp_path / "step", pin="1234")
    context.workdir.mkdir()
    outcome = adapter.run(context)
    assert outcome.outcome == ACCEPTED, outcome


def test_a_reported_signature_reaches_the_outcome(tmp_path: Path) -> None:
    line = '{"outcome": "accepted", "signature": "0A:0b 0c"}'
    code = f"print({line!r})"
    outcome = CommandAdapter([sys.executable, "-c", code]).run(step_context(tmp_path))
    assert outcome.signature == bytes.fromhex("0a0b0c")
    bad = CommandAdapter([sys.executable, "-c", "print('{\"outcome\": \"accepted\", "
                          "\"signature\": \"zz\"}')"]).run(step_context(tmp_path))  # fmt: skip
    assert bad.outcome == ERROR and '"signature" is not hexadecimal' in bad.reason


@pytest.mark.parametrize(
    ("template", "login", "sign"),
    [
        ("rp {challenge}", True, False),
        ("rp {challenge_file} {data_file}", True, True),
        ("rp {pdf}", False, False),
    ],
)
def test_a_command_is_held_to_the_values_its_template_names(
    template: str, login: bool, sign: bool
) -> None:
    adapter = CommandAdapter(template)
    assert (adapter.gives_message("login"), adapter.gives_message("sign")) == (login, sign)


def test_a_python_callable_always_has_the_challenge() -> None:
    def rp(context: StepContext) -> StepOutcome:
        return StepOutcome(ACCEPTED)

    assert PythonAdapter(rp).gives_message("login") and PythonAdapter(rp).gives_message("sign")
