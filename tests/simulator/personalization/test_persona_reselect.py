"""The persona's ``[card] reselect_clears_status`` (issue 16 item 7): false by default (a
re-SELECT of the current application keeps its security status, reference section 4.3),
true brings back the old logout-by-reselect; a clear error for a bad value."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator import VirtualCard
from simulator.personalization.persona import (
    PersonaError,
    builtin_personas,
    fixtures_root,
    load_persona,
)

ANCHOR = 'token_serial = "0000000099000001"     # 16 characters, unique per persona\n'
JPKI = "00A4040C0AD392F000260100000001"
SIGN_WITH_AUTH_KEY = "802A00973331300D060960864801650304020105000420" + "22" * 32 + "00"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("reselect") / "fixtures"
    shutil.copytree(fixtures_root(), root)
    yield root


def persona_with(tree: Path, line: str) -> Path:
    """A copy of the default persona (next to it: its relative paths hold) with `line`
    added to its [card] table."""
    text = (tree / "personas" / "default.toml").read_text(encoding="utf-8")
    assert ANCHOR in text
    path = tree / "personas" / "variant.toml"
    path.write_text(text.replace(ANCHOR, ANCHOR + line + "\n", 1), encoding="utf-8")
    return path


def _status_after_reselect(path: Path | str) -> int:
    with VirtualCard.from_persona(path) as card:
        card.power_on()
        assert card.transmit(bytes.fromhex(JPKI))[-2:] == b"\x90\x00"
        assert card.transmit(bytes.fromhex("0020009804" + b"1234".hex()))[-2:] == b"\x90\x00"
        card.transmit(bytes.fromhex(JPKI))
        sw = card.transmit(bytes.fromhex(SIGN_WITH_AUTH_KEY))[-2:]
        return int.from_bytes(sw, "big")


def test_every_builtin_persona_keeps_the_status_on_reselect() -> None:
    for name in builtin_personas():
        assert load_persona(name).reselect_clears_status is False, name
    assert _status_after_reselect("default") == 0x9000


@pytest.mark.parametrize(("value", "sw"), [("true", 0x6982), ("false", 0x9000)])
def test_the_option_decides(tree: Path, value: str, sw: int) -> None:
    path = persona_with(tree, f"reselect_clears_status = {value}")
    assert load_persona(path).reselect_clears_status is (value == "true")
    assert _status_after_reselect(path) == sw


@pytest.mark.parametrize("value", ['"yes"', "1", "[true]"])
def test_a_bad_value_names_the_field(tree: Path, value: str) -> None:
    path = persona_with(tree, f"reselect_clears_status = {value}")
    with pytest.raises(PersonaError, match=r"card\.reselect_clears_status: must be true or false"):
        load_persona(path)
