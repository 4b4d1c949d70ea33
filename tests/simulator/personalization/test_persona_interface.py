"""The persona's interface fields in ``[card]``: interface, contactless_atr, latency_ms,
max_command_bytes (issue 9): defaults that leave every existing persona as it was, and a
clear error naming the field for every bad value."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.personalization.card_interface import TYPE_B_ATRS, CardInterface
from simulator.personalization.persona import (
    PersonaError,
    builtin_personas,
    fixtures_root,
    load_persona,
)
from simulator.transport.contactless import type_b_atr

ANCHOR = 'token_serial = "0000000099000001"     # 16 characters, unique per persona\n'


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("interface") / "fixtures"
    shutil.copytree(fixtures_root(), root)
    yield root


def persona_with(tree: Path, lines: str, name: str = "variant") -> Path:
    """A copy of the default persona (next to it, so its relative paths hold) with `lines`
    added to its [card] table."""
    text = (tree / "personas" / "default.toml").read_text(encoding="utf-8")
    assert ANCHOR in text
    path = tree / "personas" / f"{name}.toml"
    path.write_text(text.replace(ANCHOR, ANCHOR + lines + "\n", 1), encoding="utf-8")
    return path


def test_every_builtin_persona_is_contact_with_the_defaults() -> None:
    for name in builtin_personas():
        interface = load_persona(name).interface
        assert interface == CardInterface(), name
        assert (interface.kind, interface.contactless_atr) == ("contact", TYPE_B_ATRS[0])
        assert (interface.latency, interface.max_command) == (0.0, None)


def test_the_fields_leave_the_rest_of_the_persona_alone(tree: Path) -> None:
    plain = load_persona("default")
    variant = load_persona(persona_with(tree, 'interface = "contact"'))
    assert variant.interface == plain.interface
    assert (variant.atr, variant.token_serial, variant.auth.certificate) == (
        plain.atr,
        plain.token_serial,
        plain.auth.certificate,
    )
    assert variant.checksum != plain.checksum  # the file differs, so does its checksum


@pytest.mark.parametrize("atr", TYPE_B_ATRS, ids=lambda atr: atr.hex().upper())
def test_contactless_with_each_known_atr(tree: Path, atr: bytes) -> None:
    path = persona_with(
        tree,
        f'interface = "contactless"\ncontactless_atr = "{atr.hex(" ").upper()}"\n'
        "latency_ms = 250\nmax_command_bytes = 261",
    )
    assert load_persona(path).interface == CardInterface("contactless", atr, 0.25, 261)


def test_any_valid_part3_type_b_atr_and_a_fractional_latency(tree: Path) -> None:
    atr = type_b_atr(bytes.fromhex("00112233"), bytes.fromhex("718171"), mbli=4)
    path = persona_with(tree, f'contactless_atr = "{atr.hex()}"\nlatency_ms = 12.5')
    interface = load_persona(path).interface
    assert interface == CardInterface("contact", atr, 0.0125, None)


BAD = [
    ('interface = "nfc"', "card.interface: must be 'contact' or 'contactless'"),
    ('interface = "Contactless"', "card.interface: must be 'contact' or 'contactless'"),
    ("interface = 1", "card.interface: must be a string"),
    ('contactless_atr = "3B E0 00 FF 81 31 FE 45 14"', "card.contactless_atr: must be hex"),
    ('contactless_atr = "3B 88 80 01 00 00 05 E0 B3 81 A1 00 7E"', "TCK must be 7F, not 7E"),
    ('contactless_atr = "3B 88 80 01 00 00 05 E0 B3 81 A1 01 7E"', "has a low nibble"),
    ('contactless_atr = "not hex"', "card.contactless_atr: must be hex"),
    ("contactless_atr = 7", "card.contactless_atr: must be a string"),
    ("latency_ms = -1", "card.latency_ms: must be 0-60000"),
    ("latency_ms = 60001", "card.latency_ms: must be 0-60000"),
    ('latency_ms = "300"', "card.latency_ms: must be a number of milliseconds"),
    ("latency_ms = true", "card.latency_ms: must be a number of milliseconds"),
    ("latency_ms = nan", "card.latency_ms: must be 0-60000"),
    ("max_command_bytes = 4", "card.max_command_bytes: must lie between 5 and 65544"),
    ("max_command_bytes = 65545", "card.max_command_bytes: must lie between 5 and 65544"),
    ('max_command_bytes = "261"', "card.max_command_bytes: must be an integer"),
    ('interfaces = "contactless"', "unknown field(s): card.interfaces"),
]


@pytest.mark.parametrize(("line", "message"), BAD, ids=[line for line, _ in BAD])
def test_bad_values_name_the_field(tree: Path, line: str, message: str) -> None:
    path = persona_with(tree, line, name="bad")
    with pytest.raises(PersonaError) as caught:
        load_persona(path)
    text = str(caught.value)
    assert str(path.resolve()) in text and message in text, text
    assert "1234" not in text.replace(str(path.resolve()), "") and "ABC123" not in text


def test_the_error_for_an_unknown_atr_lists_the_known_ones(tree: Path) -> None:
    path = persona_with(tree, 'contactless_atr = "3B 88 80 01"', name="short")
    with pytest.raises(PersonaError, match="the known ones: 3B 88 80 01 00 00 05 E0"):
        load_persona(path)
