"""The per-run control token: where it lives, and how `mynasim ctl` finds and sends it."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator import VirtualCard, load_persona
from simulator.cli import build_parser, main
from simulator.service import control_token
from simulator.service.control import ControlServer
from simulator.service.control_token import (
    RuntimeDirError,
    ensure_runtime_dir,
    new_token,
    runtime_dir,
    token_path,
    write_token,
)
from simulator.service.ctl import token_for
from simulator.service.slot import CardSlot


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "run"
    monkeypatch.setenv("MYNASIM_RUNTIME_DIR", str(folder))
    monkeypatch.delenv("MYNASIM_TOKEN", raising=False)
    return folder


@pytest.fixture
def served(runtime: Path) -> Iterator[ControlServer]:
    slot = CardSlot(0, VirtualCard(load_persona("default")), "127.0.0.1", 1)
    server = ControlServer([slot], "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()
    slot.card.close()


def test_runtime_dir_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MYNASIM_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1234")
    assert runtime_dir() == Path("/run/user/1234/mynasim")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert runtime_dir() == Path(f"/tmp/mynasim-{os.getuid()}")  # noqa: S108 - the default


def test_the_runtime_dir_is_created_private(runtime: Path) -> None:
    path = write_token(4242, "abc")
    assert path == runtime / "control-4242.token"
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "abc\n"
    assert not [p for p in runtime.iterdir() if p.name.endswith(".tmp")]


def test_an_open_runtime_dir_is_refused(runtime: Path) -> None:
    runtime.mkdir(mode=0o755)
    runtime.chmod(0o755)
    with pytest.raises(RuntimeDirError, match="open to other users"):
        ensure_runtime_dir()


def test_a_symlinked_runtime_dir_is_refused(runtime: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    runtime.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RuntimeDirError, match="not a folder"):
        ensure_runtime_dir()


def test_ctl_finds_the_token_by_itself(
    served: ControlServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert token_path(served.port).exists()
    assert main(["ctl", "--control", f"127.0.0.1:{served.port}", "remove"]) == 0
    assert "REMOVED" in capsys.readouterr().out
    assert served.slots[0].client.inserted is False


def test_ctl_without_the_token_is_refused_with_a_clear_message(
    served: ControlServer, capsys: pytest.CaptureFixture[str]
) -> None:
    token_path(served.port).unlink()
    assert main(["ctl", "--control", f"127.0.0.1:{served.port}", "remove"]) == 2
    err = capsys.readouterr().err
    assert "needs the run's token in the X-Mynasim-Token header" in err
    assert served.slots[0].client.inserted is True
    assert main(["ctl", "--control", f"127.0.0.1:{served.port}", "status"]) == 0  # GET: fine


def test_token_option_and_environment_override_the_file(
    served: ControlServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    where = ["ctl", "--control", f"127.0.0.1:{served.port}"]
    assert main([*where, "--token", "wrong", "reset"]) == 2
    assert "403" not in capsys.readouterr().out
    assert main([*where, "--token", served.token, "reset"]) == 0
    monkeypatch.setenv("MYNASIM_TOKEN", "wrong-too")
    assert main([*where, "reset"]) == 2
    monkeypatch.setenv("MYNASIM_TOKEN", served.token)
    token_path(served.port).unlink()
    assert main([*where, "reset"]) == 0


def test_tokens_are_random_hex_that_no_command_line_takes_for_an_option() -> None:
    """A run printed a token starting with `-`, and `mynasim ctl --token TOKEN` failed."""
    tokens = {new_token() for _ in range(2000)}
    assert len(tokens) == 2000
    assert all(re.fullmatch(r"[0-9a-f]{48}", token) for token in tokens)
    for token in list(tokens)[:20]:
        args = build_parser().parse_args(["ctl", "--token", token, "status"])
        assert args.token == token


def test_the_token_is_never_sent_off_this_host(
    runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_token(35970, "secret-token")
    assert token_for("http://127.0.0.1:35970") == "secret-token"
    assert token_for("127.0.0.1:35970") == "secret-token"
    assert token_for("http://localhost:35970") == "secret-token"
    assert token_for("http://[::1]:35970") == "secret-token"
    assert token_for("http://example.com:35970") is None
    assert token_for("http://192.168.1.2:35970") is None
    monkeypatch.setenv("MYNASIM_TOKEN", "from-env")
    assert token_for("http://10.0.0.1:35970") is None
    assert token_for("http://127.0.0.1:1") == "from-env"


def test_remove_token_keeps_another_runs_file(runtime: Path) -> None:
    write_token(5, "theirs")
    control_token.remove_token(5, "mine")
    assert token_path(5).read_text() == "theirs\n"
    control_token.remove_token(5, "theirs")
    assert not token_path(5).exists()


def test_ctl_remove_with_skip(served: ControlServer, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["ctl", "--control", f"127.0.0.1:{served.port}"]
    assert main([*where, "remove", "--on-ins", "B0", "--skip", "2"]) == 0
    assert "removal armed on INS B0 (after processing, after 2 more matching commands)" in (
        capsys.readouterr().out
    )
