"""pytest plugin of mynasim's card conformance suite (entry point `pytest11: mynasim`).

Light to import: only pytest and the standard library at load time; the simulator and
pyscard are imported when a target is opened.

    pytest --pyargs conformance.suites --card-target inprocess
    pytest --pyargs conformance.suites --card-target "pcsc:Virtual PCD 00 00" --destructive-ok

Markers (registered here, enforced with --strict-markers):
    spec(ID, section)     the test's stable ID (e.g. JPKI-PIN-003) and reference section
    requires(*caps)       capabilities the target's persona must declare, else NOT APPLICABLE
    destructive           spends or blocks a try: on a real card only with --destructive-ok
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conformance.channel import CardChannel
    from conformance.targets import Target

NOT_APPLICABLE = "NOT APPLICABLE"
NEEDS_DESTRUCTIVE_OK = "DESTRUCTIVE (needs --destructive-ok)"
_TARGETS_KEY = pytest.StashKey[list["Target"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mynasim", "mynasim card conformance")
    group.addoption(
        "--card-target", action="append", default=[], metavar="TARGET",
        help="card under test: inprocess[:PERSONA] or pcsc:READER-SUBSTRING (repeatable; "
        "default inprocess)",
    )  # fmt: skip
    group.addoption(
        "--card-persona", default="default", metavar="NAME|PATH",
        help="what the card under test holds (PINs, data, applications); default: default",
    )  # fmt: skip
    group.addoption(
        "--card-control", default=None, metavar="URL",
        help="control endpoint of a served mynasim card (pcsc targets): its counters are "
        "restored after destructive tests",
    )  # fmt: skip
    group.addoption(
        "--destructive-ok", action="store_true",
        help="run tests that spend or block PIN tries on real cards (a blocked PIN needs a "
        "trip to the city office)",
    )  # fmt: skip
    group.addoption(
        "--conformance-report", default=None, metavar="DIR",
        help="write the conformance reports (JUnit XML, JSON lines, HTML) into DIR",
    )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spec(id, section): stable conformance test ID")
    config.addinivalue_line("markers", "requires(*capabilities): NOT APPLICABLE unless declared")
    config.addinivalue_line("markers", "destructive: spends or blocks PIN tries")


def _targets(config: pytest.Config) -> list[Target]:
    if _TARGETS_KEY not in config.stash:
        from conformance.targets import TargetError, parse_target

        specs = config.getoption("--card-target") or ["inprocess"]
        persona = config.getoption("--card-persona")
        control = config.getoption("--card-control")
        try:
            config.stash[_TARGETS_KEY] = [parse_target(s, persona, control) for s in specs]
        except TargetError as error:
            raise pytest.UsageError(str(error)) from None
    return config.stash[_TARGETS_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Catalogue tests (those with a `spec` marker) run once per target."""
    if metafunc.definition.get_closest_marker("spec") is None:
        return
    if "target" not in metafunc.fixturenames:
        return
    targets = _targets(metafunc.config)
    metafunc.parametrize("target", targets, ids=[t.id for t in targets], indirect=True)


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Target:
    """The target of this test run (parametrized per --card-target)."""
    chosen: Target = request.param
    return chosen


@pytest.fixture
def card(target: Target, request: pytest.FixtureRequest) -> Iterator[CardChannel]:
    """A power-cycled channel to the target's card; state restored after the test."""
    channel = target.open()
    request.node.stash[_CHANNEL_KEY] = channel
    try:
        channel.reset()
        yield channel
    finally:
        target.close()
        if request.node.get_closest_marker("destructive") is not None:
            target.restore()


@pytest.fixture
def persona(target: Target) -> Any:
    """The persona the target declares (PIN values, expected data)."""
    return target.persona


_CHANNEL_KEY = pytest.StashKey["CardChannel"]()


def pytest_runtest_setup(item: pytest.Item) -> None:
    callspec = getattr(item, "callspec", None)
    if callspec is None or "target" not in callspec.params:
        return
    chosen: Target = callspec.params["target"]
    for marker in item.iter_markers("requires"):
        missing = set(marker.args) - chosen.capabilities
        if missing:
            pytest.skip(f"{NOT_APPLICABLE}: {chosen.id} declares no {', '.join(sorted(missing))}")
    if item.get_closest_marker("destructive") and not chosen.virtual:
        if not item.config.getoption("--destructive-ok"):
            pytest.skip(NEEDS_DESTRUCTIVE_OK)


def spec_of(item: pytest.Item) -> tuple[str, str] | None:
    """(test ID, reference section) of a catalogue test."""
    marker = item.get_closest_marker("spec")
    if marker is None:
        return None
    section = marker.kwargs.get("section", marker.args[1] if len(marker.args) > 1 else "")
    return str(marker.args[0]), str(section)


def channel_of(item: pytest.Item) -> CardChannel | None:
    return item.stash.get(_CHANNEL_KEY, None)
