"""Fixtures for the real PC/SC stack: pcscd + vsmartcard-vpcd + `mynasim serve`.

In CI (CI=true) a missing pcscd or pyscard is an error, never a skip: these tests must run
there. On a developer machine without them the tests are skipped with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    from conformance.pcsc import PcscUnavailableError
    from conformance.stack import Pcscd, ServedCard
except ImportError as exc:  # pyscard (the pcsc extra) is missing
    if os.environ.get("CI"):
        raise
    pytest.skip(f"pyscard not installed: {exc}", allow_module_level=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.interop)


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    try:
        daemon = Pcscd.ensure(tmp_path_factory.mktemp("pcscd"))
    except PcscUnavailableError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    yield daemon
    daemon.stop()


@pytest.fixture
def served(pcscd: Pcscd, tmp_path: Path) -> Iterator[ServedCard]:
    """The default persona served in slot 0 (reader "Virtual PCD 00 00"), with a state file."""
    card = ServedCard(["default"], tmp_path, states=[tmp_path / "state.json"])
    with card:
        yield card
