"""Persistent card state: counters and changed PINs survive restarts; bad files are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from card_helpers import select_ef, select_jpki, tx, verify

from simulator import StateFileError, VirtualCard
from simulator.personalization.persona import Persona
from simulator.security.pin import Pin
from simulator.state import CardIdentity, MemoryStateStore, PinRecord, StateFileStore


def _open(path: Path, persona: str = "default") -> VirtualCard:
    card = VirtualCard.from_persona(persona, state=path)
    card.power_on()
    select_jpki(card)
    return card


def test_new_state_file_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    _open(path).close()
    document = json.loads(path.read_text())
    assert document["format"] == "mynasim-card-state"
    assert document["pins"]["jpki/0018"] == {"remaining": 3}
    assert document["pins"]["jpki/001B"] == {"remaining": 5}


def test_counters_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    card = _open(path)
    assert verify(card, 0x0018, b"9999") == 0x63C2
    assert verify(card, 0x001B, b"NOTIT1") == 0x63C4
    card.close()
    again = _open(path)
    select_ef(again, 0x0018)
    assert tx(again, "00200080")[1] == 0x63C2
    select_ef(again, 0x001B)
    assert tx(again, "00200080")[1] == 0x63C4


def test_lockout_survives_a_restart(tmp_path: Path, default_persona: Persona) -> None:
    path = tmp_path / "card.json"
    card = _open(path)
    for _ in range(3):
        verify(card, 0x0018, b"9999")
    card.close()
    again = _open(path)
    assert verify(again, 0x0018, default_persona.auth_pin.value) == 0x6984


def test_changed_pin_survives_and_is_not_stored_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    card = _open(path)
    verify(card, 0x001B, b"ABC123")
    assert tx(card, "002401800A" + b"QWERTY7890".hex())[1] == 0x9000
    assert b"QWERTY7890" not in path.read_bytes()
    card.close()
    again = _open(path)
    assert verify(again, 0x001B, b"ABC123") == 0x63C4
    assert verify(again, 0x001B, b"QWERTY7890") == 0x9000


def test_counter_is_durable_before_the_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anti-tearing: when the PIN is compared, the file already shows the spent try."""
    path = tmp_path / "card.json"
    card = _open(path)
    seen: list[int] = []
    original = Pin._matches

    def spy(self: Pin, record: PinRecord, candidate: bytes) -> bool:
        seen.append(json.loads(path.read_text())["pins"][self.key]["remaining"])
        return original(self, record, candidate)

    monkeypatch.setattr(Pin, "_matches", spy)
    verify(card, 0x0018, b"1234")
    verify(card, 0x0018, b"9999")
    assert seen == [2, 2]
    assert json.loads(path.read_text())["pins"]["jpki/0018"]["remaining"] == 2


def test_a_crash_during_the_comparison_keeps_the_try_spent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "card.json"
    card = _open(path)

    def power_cut(self: Pin, record: PinRecord, candidate: bytes) -> bool:
        raise KeyboardInterrupt  # the process dies between decrement and compare

    monkeypatch.setattr(Pin, "_matches", power_cut)
    with pytest.raises(KeyboardInterrupt):
        verify(card, 0x0018, b"1234")
    monkeypatch.undo()
    card.close()
    again = _open(path)
    select_ef(again, 0x0018)
    assert tx(again, "00200080")[1] == 0x63C2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "cannot be read as JSON"),
        (b"{not json", "cannot be read as JSON"),
        (b"\xff\xfe", "cannot be read as JSON"),
        (b"[]", "not a mynasim card state file"),
        (b'{"format": "something-else"}', "not a mynasim card state file"),
    ],
)
def test_unusable_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "card.json"
    path.write_bytes(content)
    with pytest.raises(StateFileError, match=message):
        VirtualCard.from_persona("default", state=path)
    assert path.read_bytes() == content  # never silently reset


def _tamper(path: Path, edit: object) -> None:
    document = json.loads(path.read_text())
    edit(document)  # type: ignore[operator]
    path.write_text(json.dumps(document))


def test_edited_file_fails_its_checksum(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    _open(path).close()
    _tamper(path, lambda d: d["pins"]["jpki/0018"].update(remaining=3 - 1))
    before = path.read_bytes()
    with pytest.raises(StateFileError, match="damaged"):
        VirtualCard.from_persona("default", state=path)
    assert path.read_bytes() == before


def test_future_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    _open(path).close()
    _tamper(path, lambda d: d.update(version=99))
    with pytest.raises(StateFileError, match="version 99"):
        VirtualCard.from_persona("default", state=path)


def test_foreign_state_file_is_refused(tmp_path: Path, default_persona: Persona) -> None:
    path = tmp_path / "card.json"
    StateFileStore(path, CardIdentity("someone-else", "9999999999999999")).close()
    with pytest.raises(StateFileError, match="belongs to another card"):
        VirtualCard.from_persona("default", state=path)


def test_counter_above_the_limit_is_refused(tmp_path: Path, default_persona: Persona) -> None:
    path = tmp_path / "card.json"
    store = StateFileStore(path, VirtualCard.identity_of(default_persona))
    store.put("jpki/0018", PinRecord(9))
    store.close()
    with pytest.raises(StateFileError, match="more than its limit"):
        VirtualCard.from_persona("default", state=path)


def test_bad_record_is_refused(tmp_path: Path, default_persona: Persona) -> None:
    path = tmp_path / "card.json"
    store = StateFileStore(path, VirtualCard.identity_of(default_persona))
    store.put("jpki/0018", PinRecord(2))
    store.close()
    document = json.loads(path.read_text())
    document["pins"]["jpki/0018"]["remaining"] = "two"
    document.pop("sha256")
    from simulator.state.store import _checksum

    document["sha256"] = _checksum(document)
    path.write_text(json.dumps(document))
    with pytest.raises(StateFileError, match="bad record"):
        VirtualCard.from_persona("default", state=path)


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StateFileError, match="does not exist"):
        VirtualCard.from_persona("default", state=tmp_path / "nope" / "card.json")


def test_no_temporary_files_left(tmp_path: Path) -> None:
    card = _open(tmp_path / "card.json")
    for _ in range(3):
        verify(card, 0x001B, b"WRONG1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json", "card.json.lock"]


def test_memory_store_round_trip() -> None:
    store = MemoryStateStore()
    assert store.get("x") is None
    store.put("x", PinRecord(1))
    assert store.get("x") == PinRecord(1)


def test_one_process_at_a_time(tmp_path: Path) -> None:
    """Two cards on one state file could lose a spent try: the second is refused."""
    path = tmp_path / "card.json"
    first = _open(path)
    with pytest.raises(StateFileError, match="in use by another card"):
        VirtualCard.from_persona("default", state=path)
    first.close()
    with VirtualCard.from_persona("default", state=path) as second:
        second.power_on()
        select_jpki(second)
        assert verify(second, 0x0018, b"1234") == 0x9000


def test_the_lock_is_released_when_the_process_dies(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    code = (
        "import os, sys; from simulator import VirtualCard; "
        f"VirtualCard.from_persona('default', state={str(path)!r}); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    VirtualCard.from_persona("default", state=path).close()


def test_a_closed_store_refuses_writes(tmp_path: Path, default_persona: Persona) -> None:
    store = StateFileStore(tmp_path / "card.json", VirtualCard.identity_of(default_persona))
    store.close()
    with pytest.raises(StateFileError, match="closed"):
        store.put("jpki/0018", PinRecord(1))


def test_leftovers_of_a_killed_writer_are_removed_and_no_one_elses(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    _open(path).close()
    ours = [tmp_path / ".card.json.a1b2c3d4.tmp", tmp_path / ".card.json.x_9z0k7m.tmp"]
    others = [
        tmp_path / ".card.json.x.a1b2c3d4.tmp",  # a temp file of "card.json.x"
        tmp_path / ".card.json.short.tmp",
        tmp_path / "card.json.lock",
    ]
    for leftover in [*ours, *others]:
        leftover.write_bytes(b"{partial")
    card = _open(path)
    assert [p.exists() for p in ours] == [False, False]
    assert all(p.exists() for p in others)
    select_ef(card, 0x0018)
    assert tx(card, "00200080")[1] == 0x63C3  # the state itself is untouched
