"""Command and Python adapters: placeholders, the three ways the PIN goes in, results,
hangs and crashes, and no PIN in anything they report."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from rp_helpers import step_context

from conformance.rp.adapters import (
    AdapterError,
    CommandAdapter,
    PythonAdapter,
    load_callable,
    outcome_from_output,
)
from conformance.rp.context import (
    ACCEPTED,
    ERROR,
    PLACEHOLDER_NAMES,
    REJECTED,
    StepContext,
    StepOutcome,
    result_line,
)

PY = sys.executable


def context(tmp_path: Path, pin: str = "1234", timeout: float = 20.0) -> StepContext:
    return step_context(tmp_path, pin=pin, timeout=timeout)


def script(code: str) -> list[str]:
    return [PY, "-c", code]


def test_placeholders_cover_every_name(tmp_path: Path) -> None:
    assert tuple(context(tmp_path).placeholders()) == PLACEHOLDER_NAMES


def test_pin_via_env_and_every_placeholder_in_the_environment(tmp_path: Path) -> None:
    code = (
        "import os, json; ok = os.environ['MYNASIM_PIN'] == '1234' and "
        "os.environ['MYNASIM_NOW'] == '2026-11-27T03:00:00Z' and "
        "os.environ['MYNASIM_READER'] == 'Virtual PCD 00 00'; "
        "print(json.dumps({'outcome': 'accepted' if ok else 'rejected'}))"
    )
    outcome = CommandAdapter(script(code), pin_via="env").run(context(tmp_path))
    assert outcome.outcome == ACCEPTED, outcome


def test_pin_via_stdin_is_not_in_the_environment(tmp_path: Path) -> None:
    code = (
        "import os, sys; line = sys.stdin.readline().strip(); "
        "sys.exit(0 if line == '1234' and 'MYNASIM_PIN' not in os.environ else 1)"
    )
    outcome = CommandAdapter(script(code), pin_via="stdin").run(context(tmp_path))
    assert outcome.outcome == ACCEPTED and outcome.exit_code == 0


def test_pin_via_arg_needs_the_placeholder_and_is_redacted_in_the_shown_command(
    tmp_path: Path,
) -> None:
    with pytest.raises(AdapterError, match=r"needs \{pin\}"):
        CommandAdapter([PY, "-c", "pass"], pin_via="arg")
    adapter = CommandAdapter(
        [PY, "-c", "import os, sys; sys.exit(sys.argv[1] != os.environ['WANT'])", "{pin}"],
        pin_via="arg",
        env={"WANT": "1234"},
    )
    ctx = context(tmp_path)
    assert adapter.run(ctx).outcome == ACCEPTED
    assert "1234" not in " ".join(adapter.command_line(ctx))
    assert adapter.command_line(ctx)[-1] == "****"


def test_placeholders_in_arguments(tmp_path: Path) -> None:
    adapter = CommandAdapter(
        [PY, "-c", "import sys; sys.exit(0 if sys.argv[1:] == ['login', '" + "00" + "01' ] else 3)"]
    )
    assert adapter.run(context(tmp_path)).outcome == REJECTED
    adapter = CommandAdapter(
        [PY, "-c", "import sys; print(sys.argv[1:]); sys.exit(0)", "{flow}", "{challenge}"]
    )
    outcome = adapter.run(context(tmp_path))
    assert outcome.outcome == ACCEPTED
    assert bytes(range(32)).hex() in outcome.stdout_tail


def test_an_unknown_placeholder_is_refused_at_once() -> None:
    with pytest.raises(
        AdapterError, match=r"unknown placeholder \{nonce\} in the command; known: "
    ):
        CommandAdapter("my-rp --nonce {nonce}")
    CommandAdapter(["my-rp", '{"json": {"braces": 1}}', "{now}"])  # other braces stay
    with pytest.raises(AdapterError, match="empty"):
        CommandAdapter("")
    with pytest.raises(AdapterError, match="pin_via"):
        CommandAdapter("x", pin_via="fax")


def test_the_result_line_wins_over_the_exit_status(tmp_path: Path) -> None:
    line = result_line(REJECTED, "certificate expired", {"subject": "X"})
    code = f"print('progress...'); print({line!r}); import sys; sys.exit(0)"
    outcome = CommandAdapter(script(code)).run(context(tmp_path))
    assert (outcome.outcome, outcome.reason, outcome.identity) == (
        REJECTED,
        "certificate expired",
        {"subject": "X"},
    )


@pytest.mark.parametrize(
    ("stdout", "code", "expected"),
    [
        ("", 0, ACCEPTED),
        ("", 1, REJECTED),
        ("", 127, ERROR),
        ('{"outcome": "maybe"}', 0, ERROR),
        ('{"outcome": "error", "reason": "no reader"}', 0, ERROR),
        ('{"not": "a result"}\n', 1, REJECTED),
        ("{broken json}", 0, ACCEPTED),
    ],
)
def test_outcome_from_output(stdout: str, code: int, expected: str) -> None:
    assert outcome_from_output(stdout, code).outcome == expected


def test_a_hang_is_killed_at_the_timeout(tmp_path: Path) -> None:
    adapter = CommandAdapter(script("import time; time.sleep(60)"))
    outcome = adapter.run(context(tmp_path, timeout=0.5))
    assert outcome.outcome == ERROR and outcome.extra["hung"] == 0.5
    assert outcome.duration < 10


def test_a_crash_is_reported_by_signal(tmp_path: Path) -> None:
    adapter = CommandAdapter(script("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"))
    outcome = adapter.run(context(tmp_path))
    assert outcome.outcome == ERROR and outcome.reason == "killed by SIGSEGV"
    assert outcome.extra["crashed"] is True


def test_a_missing_program_is_an_error(tmp_path: Path) -> None:
    outcome = CommandAdapter(["/nonexistent/rp"]).run(context(tmp_path))
    assert outcome.outcome == ERROR and "cannot run" in outcome.reason


def test_the_pin_never_appears_in_what_the_adapter_reports(tmp_path: Path) -> None:
    code = (
        "import os, sys, json; pin = os.environ['MYNASIM_PIN']; print('typed', pin); "
        "print('pin', pin.encode().hex(), file=sys.stderr); "
        "print(json.dumps({'outcome': 'rejected', 'reason': 'wrong PIN ' + pin}))"
    )
    outcome = CommandAdapter(script(code)).run(context(tmp_path, pin="8642"))
    everything = outcome.reason + outcome.stdout_tail + outcome.stderr_tail
    assert "8642" not in everything and "38363432" not in everything
    assert outcome.reason == "wrong PIN **"


def test_python_adapter(tmp_path: Path) -> None:
    def accept(ctx: StepContext) -> StepOutcome:
        return StepOutcome(ACCEPTED, f"saw {ctx.flow}")

    def as_dict(ctx: StepContext) -> dict[str, str]:
        return {"outcome": "rejected", "reason": "no"}

    def boom(ctx: StepContext) -> StepOutcome:
        raise RuntimeError(f"PIN {ctx.pin} refused")

    def hang(ctx: StepContext) -> StepOutcome:
        import time

        time.sleep(5)
        return StepOutcome(ACCEPTED)

    assert PythonAdapter(accept).run(context(tmp_path)).reason == "saw login"
    assert PythonAdapter(as_dict).run(context(tmp_path)).outcome == REJECTED
    failed = PythonAdapter(boom).run(context(tmp_path))
    assert failed.outcome == ERROR and failed.reason == "raised RuntimeError: PIN ** refused"
    hung = PythonAdapter(hang).run(context(tmp_path, timeout=0.2))
    assert hung.outcome == ERROR and hung.extra["hung"] == 0.2


def test_load_callable() -> None:
    assert load_callable("conformance.rp.adapters:outcome_from_output") is outcome_from_output
    with pytest.raises(AdapterError, match="module:function"):
        load_callable("nothing")
    with pytest.raises(AdapterError, match="cannot import"):
        load_callable("no_such_module_x:f")
    with pytest.raises(AdapterError, match="has no"):
        load_callable("conformance.rp.adapters:missing")


def test_rp_check_without_pyscard_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from conformance.rp import check

    def no_pyscard(*args: object, **kwargs: object) -> list[object]:
        raise ModuleNotFoundError("No module named 'smartcard'", name="smartcard")

    monkeypatch.setattr(check, "run_scenarios", no_pyscard)
    from simulator.cli import main

    assert main(["rp-check", "--rp", "reference", "--scenario", "RP-PIN-001"]) == 2
    assert "pip install 'mynasim[pcsc]'" in capsys.readouterr().err
