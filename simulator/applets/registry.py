"""Applet registry: each application module registers a builder; the card asks them all.

Adding an application never edits the card: a new module decorates its builder
with `@register` and is imported by `simulator.applets`.
"""

from __future__ import annotations

from collections.abc import Callable

from simulator.applets.base import Applet
from simulator.personalization.persona import Persona
from simulator.state.records import PinStore

AppletBuilder = Callable[[Persona, PinStore], Applet | None]

_BUILDERS: list[AppletBuilder] = []


def register(builder: AppletBuilder) -> AppletBuilder:
    _BUILDERS.append(builder)
    return builder


def build_applets(persona: Persona, store: PinStore) -> dict[bytes, Applet]:
    """Every registered application the persona's card carries, keyed by AID."""
    applets: dict[bytes, Applet] = {}
    for builder in _BUILDERS:
        applet = builder(persona, store)
        if applet is not None:
            applets[applet.aid] = applet
    return applets
