"""House rules of architecture.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import conformance
import simulator

ROOT = Path(__file__).resolve().parents[1]

# Which simulator subpackages each may import (imports point down only).
ALLOWED: dict[str, set[str]] = {
    "apdu": {"apdu"},
    "state": {"state"},
    "personalization": {"personalization"},
    "security": {"security", "apdu", "state"},
    "fs": {"fs", "apdu", "security"},
    "applets": {"applets", "apdu", "fs", "security", "state", "personalization"},
    "card": {"card", "apdu", "applets", "fs", "security", "personalization", "state"},
    "transport": {"transport", "card", "apdu", "personalization"},
    "service": {"service", "transport", "card", "apdu", "personalization", "state"},
    "revocation": {"revocation", "personalization", "service"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down(package: str) -> None:
    for path in (ROOT / "simulator" / package).rglob("*.py"):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "simulator" and len(parts) > 1:
                assert parts[1] in ALLOWED[package], f"{path.relative_to(ROOT)} imports {name}"
            assert parts[0] != "conformance", f"{path} imports the host side"


def test_pyscard_is_imported_in_one_module_only() -> None:
    users = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "simulator").rglob("*.py")
        if any(n.split(".")[0] == "smartcard" for n in _imports(path))
    ]
    assert users == ["simulator/transport/pyscard.py"]


def test_card_core_has_no_sockets_threads_or_environment() -> None:
    forbidden = {"socket", "threading", "asyncio", "subprocess"}
    for package in ("apdu", "security", "fs", "applets", "card", "state"):
        for path in (ROOT / "simulator" / package).rglob("*.py"):
            assert not _imports(path) & forbidden, path
            assert "os.environ" not in path.read_text(), path


def test_fixtures_hold_no_code() -> None:
    assert not list((ROOT / "fixtures").rglob("*.py"))


def test_packages_are_the_repository_ones() -> None:
    """`simulator` and `conformance` are also PyPI names: make sure ours are imported."""
    for module in (simulator, conformance):
        assert Path(module.__file__ or "").resolve().is_relative_to(ROOT), module
