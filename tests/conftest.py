"""Shared fixtures and hypothesis profiles.

Profiles: `dev` (default, quick) and `ci` (more examples, derandomized), chosen
with `--hypothesis-profile` or the HYPOTHESIS_PROFILE environment variable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from simulator import VirtualCard, load_persona
from simulator.personalization.persona import Persona

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def default_persona() -> Persona:
    return load_persona("default")


@pytest.fixture
def card(default_persona: Persona) -> Iterator[VirtualCard]:
    """A powered default card with in-memory state."""
    virtual = VirtualCard(default_persona)
    virtual.power_on()
    yield virtual
    virtual.power_off()
