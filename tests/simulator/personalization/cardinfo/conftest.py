"""RSA-2048 test keys, generated once per session (no committed keys)."""

from __future__ import annotations

import pytest
from cardinfo_test_keys import CardInfoKeys, generate_keys


@pytest.fixture(scope="session")
def cardinfo_keys() -> CardInfoKeys:
    return generate_keys()
