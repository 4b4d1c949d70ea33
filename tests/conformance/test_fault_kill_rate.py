"""Kill rate of the conformance catalogue: every faulty card variant of `faults.FAULTS`
must fail at least one named catalogue test, and the unmodified card must pass them all.

Each fault runs the whole catalogue once, in-process (`pytest.main`), with a plugin that
applies the monkeypatch in `pytest_configure` and undoes it in `pytest_unconfigure`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conformance.plugin import spec_of

sys.path.insert(0, str(Path(__file__).parent))
from faults import EQUIVALENT_FAULTS, FAULTS, Fault

ROOT = Path(__file__).resolve().parents[2]


class FaultPlugin:
    """Applies one fault for the run; records the spec IDs of failing and passing tests."""

    def __init__(self, fault: Fault | None) -> None:
        self.fault = fault
        self.monkeypatch = pytest.MonkeyPatch()
        self.specs: dict[str, str] = {}
        self.failed: set[str] = set()
        self.passed = 0

    def pytest_configure(self, config: pytest.Config) -> None:
        if self.fault is not None:
            self.fault.apply(self.monkeypatch)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.monkeypatch.undo()

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            spec = spec_of(item)
            if spec is not None:
                self.specs[item.nodeid] = spec[0]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed.add(self.specs.get(report.nodeid, report.nodeid))
        elif report.passed and report.when == "call":
            self.passed += 1


def run_catalogue(fault: Fault | None) -> FaultPlugin:
    plugin = FaultPlugin(fault)
    args = [
        "--pyargs", "conformance.suites", "--card-target", "inprocess",
        "-p", "no:cacheprovider", "-q", "--no-header", "-p", "no:randomly",
        "--rootdir", str(ROOT), "-o", "addopts=",
    ]  # fmt: skip
    pytest.main(args, plugins=[plugin])
    return plugin


_KILLS: dict[str, set[str]] = {}


@pytest.fixture(scope="module")
def baseline() -> FaultPlugin:
    return run_catalogue(None)


def test_unmodified_card_passes_the_whole_catalogue(baseline: FaultPlugin) -> None:
    assert baseline.failed == set()
    assert baseline.passed >= 80


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_is_killed_by_a_named_test(fault: Fault, baseline: FaultPlugin) -> None:
    killers = run_catalogue(fault).failed
    _KILLS[fault.name] = killers
    named = {k for k in killers if not k.startswith(("conformance", "tests"))}
    assert named, f"{fault.name} ({fault.description}) survived the catalogue"


@pytest.mark.parametrize("fault", EQUIVALENT_FAULTS, ids=[f.name for f in EQUIVALENT_FAULTS])
def test_equivalent_fault_is_invisible_through_apdus(fault: Fault) -> None:
    """Documented as undetectable: the catalogue passes with it (an equivalent mutant)."""
    assert run_catalogue(fault).failed == set()


def test_kill_rate_is_100_percent(capsys: pytest.CaptureFixture[str]) -> None:
    for fault in FAULTS:
        if fault.name not in _KILLS:  # run alone (-k): measure it here
            _KILLS[fault.name] = run_catalogue(fault).failed
    killed = [f for f in FAULTS if _KILLS[f.name]]
    with capsys.disabled():
        print(f"\nfault kill rate: {len(killed)}/{len(FAULTS)}")
        for fault in FAULTS:
            ids = ", ".join(sorted(_KILLS[fault.name])) or "SURVIVED"
            print(f"  {fault.name:26} {ids}")
    assert len(killed) == len(FAULTS)
