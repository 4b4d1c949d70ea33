"""The `mynasim` command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulator.cli import main


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_demo_runs_and_shows_the_lockout() -> None:
    result = run("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "ATR 3B E0 00 FF 81 31 FE 45 14" in out
    assert "63C3 (verification failed, 3 tries left)" in out
    assert "the signature verifies" in out
    assert "6982 (security status not satisfied)" in out
    assert "63C0 (verification failed, 0 tries left)" in out
    assert "6984 (reference data blocked)" in out
    assert "31 32 33 34" not in out and "41 42 43 31 32 33" not in out  # PINs redacted


def test_apdu_from_arguments() -> None:
    result = run("apdu", "00A4040C0AD392F000260100000001", "00A4020C02000A", "00B0000004")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "ATR 3B E0 00 FF 81 31 FE 45 14"
    assert lines[2] == "< 9000 (success)"
    assert lines[-1].startswith("< 30 82 ") and lines[-1].endswith("9000 (success)")


def test_apdu_from_stdin_with_comments_reset_and_redaction() -> None:
    script = """# select, verify, reset
    00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01
    00A4020C020018
    0020008004 31323334   # the PIN
    reset
    00200080
    zz
    """
    result = run("apdu", stdin=script)
    assert result.returncode == 1  # the bad line
    assert "> 00 20 00 80 04 ** ** ** **" in result.stdout
    assert "31 32 33 34" not in result.stdout + result.stderr
    assert "reset: ATR" in result.stdout
    assert "6986" in result.stdout  # after reset no EF is current
    assert "APDU 7 is not hex" in result.stderr


def test_apdu_state_file_keeps_the_counter(tmp_path: Path) -> None:
    state = tmp_path / "card.json"
    args = ("apdu", "--state", str(state), "00A4040C0AD392F000260100000001", "00A4020C020018")
    run(*args, "0020008004" + b"0000".hex())
    result = run(*args, "00200080")
    assert "63C2" in result.stdout


def test_trace_logs_are_redacted() -> None:
    result = run("apdu", "--trace", "00A4040C0AD392F000260100000001", "0020009804 31323334")
    assert "TRAFFIC > 00 20 00 98 04 ** ** ** **" in result.stderr
    assert "31 32 33 34" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("demo", "--persona", "nobody"), "unknown persona 'nobody'"),
        (("apdu", "--state", "/nonexistent/dir/s.json"), "does not exist"),
    ],
)
def test_bad_input_gives_a_clear_message(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["apdu", "--no-such-flag"])
    assert info.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_personalize_check_is_up_to_date() -> None:
    result = run("personalize", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout
