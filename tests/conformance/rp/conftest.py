"""Fixtures of the reference relying-party tests: the revocation server on 127.0.0.1:35980
(where the persona certificates' OCSP and CRL URLs point), the trusted roots, and cards.

The port is fixed, so these tests must run where nobody else serves it: in CI, or inside
`.ci/isolated` on a shared development machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography import x509
from rp_helpers import REFERENCE, Pki, utc_text

from simulator.personalization import fixtures_root, load_authorities
from simulator.revocation import (
    PKI_PORT,
    Clock,
    RevocationDatabase,
    RevocationServer,
    RevocationService,
)


@pytest.fixture(scope="session")
def roots() -> dict[str, list[x509.Certificate]]:
    """All three generations of each hierarchy, as a test-mode relying party trusts them."""
    authorities = load_authorities(fixtures_root())
    return {
        hierarchy: [ca.certificate for ca in authorities if ca.hierarchy == hierarchy]
        for hierarchy in ("auth", "sign")
    }


@pytest.fixture(scope="module")  # not longer: tests/interop serve this port themselves
def revocation_service() -> Iterator[RevocationService]:
    service = RevocationService(
        RevocationDatabase.from_fixtures(fixtures_root()), clock=Clock(REFERENCE)
    )
    try:
        server = RevocationServer(service, "127.0.0.1", PKI_PORT)
    except OSError as error:
        pytest.fail(
            f"port {PKI_PORT} is taken ({error}): run these tests in a private network "
            "namespace (.ci/isolated) or where nothing else serves it"
        )
    server.start()
    yield service
    server.stop()


@pytest.fixture
def pki(
    revocation_service: RevocationService, roots: dict[str, list[x509.Certificate]]
) -> Iterator[Pki]:
    """The revocation server at the reference date in normal mode, before and after."""
    normal = {"now": utc_text(REFERENCE), "ocsp": "normal", "crl": "normal"}
    revocation_service.control_post({**normal, "responder": "delegated"})
    yield Pki(revocation_service, roots)
    revocation_service.control_post({**normal, "responder": "delegated"})
