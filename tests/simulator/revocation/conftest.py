"""Fixtures of the revocation tests: the small PKI of :mod:`revocation_pki` and a server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from revocation_pki import NORMAL, Running, SmallPki, build_pki

from simulator.revocation import Clock, RevocationServer, RevocationService


@pytest.fixture(scope="session")
def pki() -> SmallPki:
    return build_pki()


@pytest.fixture(scope="module")
def module_server(pki: SmallPki) -> Iterator[Running]:
    """One server per module (stopping one takes up to 0.5 s)."""
    service = RevocationService(pki.database(), clock=Clock())
    server = RevocationServer(service, "127.0.0.1", 0)
    server.start()
    yield Running(pki, service, server)
    server.stop()


@pytest.fixture
def running(module_server: Running) -> Iterator[Running]:
    """The module's server, at real time and in normal mode before and after the test."""
    module_server.service.control_post(dict(NORMAL))
    yield module_server
    module_server.service.control_post(dict(NORMAL))
