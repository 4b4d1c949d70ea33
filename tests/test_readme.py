"""The README's commands and code are the real ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_two_setup_commands_and_ci_runs_the_second() -> None:
    setup = [block.strip() for block in _blocks("sh")[:2]]
    assert "mynasim demo" in setup[0]
    for package in ("pcscd", "vsmartcard-vpcd", "opensc", "swig", "libpcsclite-dev"):
        assert package in setup[1]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert setup[1] in ci_lines


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_examples_run(index: int) -> None:
    pytest.importorskip("smartcard")
    exec(compile(_blocks("python")[index], f"README.md python block {index}", "exec"), {})  # noqa: S102
