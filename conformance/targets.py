"""Targets of the card conformance suite: what `--card-target` names.

    inprocess[:PERSONA]        a fresh VirtualCard per test (state restored by construction)
    pcsc:READER-SUBSTRING      a card in a PC/SC reader (ours behind pcscd, or a real one)

A target declares a persona: the PINs, data and applications the suite may expect (for an
in-process card the one it was made from; for a reader, `--card-persona`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conformance.channel import CardChannel

if TYPE_CHECKING:
    from simulator.personalization.persona import Persona

PHONE_TOKENS = frozenset({"JPKIAPGPSETOKEN", "JPKIAPIOSTOKEN"})


class TargetError(ValueError):
    """A --card-target cannot be understood or reached."""


def capabilities_of(persona: Persona) -> frozenset[str]:
    """What a card made from `persona` carries; tests `requires(...)` these."""
    caps = {"jpki", "auth_certificate"}
    caps.add("sign_certificate" if persona.sign.certificate is not None else "no_sign_certificate")
    caps.add("phone_token" if persona.token_label in PHONE_TOKENS else "plastic_card")
    if persona.card_info is not None:
        caps.add("card_info")
    # section 4.3: a re-SELECT of the current application keeps its status, or (the persona's
    # [card] reselect_clears_status, the old logout-by-reselect) clears it
    clears = persona.reselect_clears_status
    caps.add("reselect_clears_status" if clears else "reselect_keeps_status")
    return frozenset(caps)


@dataclass
class Target:
    id: str
    kind: str  # "inprocess" | "pcsc"
    persona: Persona
    virtual: bool  # a simulated card: destructive tests always run, state is restored
    opener: Callable[[Target], CardChannel] = field(repr=False)
    closer: Callable[[], None] = field(default=lambda: None, repr=False)
    restorer: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def capabilities(self) -> frozenset[str]:
        return capabilities_of(self.persona)

    def open(self) -> CardChannel:
        return self.opener(self)

    def close(self) -> None:
        self.closer()

    def restore(self) -> None:
        if self.restorer is not None:
            self.restorer()


def _inprocess(persona_ref: str) -> Target:
    from simulator import VirtualCard, load_persona

    persona = load_persona(persona_ref)
    holder: dict[str, Any] = {}

    def opener(target: Target) -> CardChannel:
        card = VirtualCard(target.persona)  # fresh: memory state, nothing spent
        holder["card"] = card
        atr = card.power_on()

        def reset() -> bytes:
            card.power_off()
            return card.power_on()

        return CardChannel(card.transmit, reset, atr)

    return Target(f"inprocess:{persona.name}", "inprocess", persona, True, opener)


def _pcsc(reader: str, persona_ref: str, control: str | None) -> Target:
    from simulator import load_persona

    persona = load_persona(persona_ref)
    state: dict[str, Any] = {}

    def opener(target: Target) -> CardChannel:
        from conformance.pcsc import open_reader

        connection, transmit, reset = open_reader(reader)
        state["connection"] = connection
        return CardChannel(transmit, reset, reset())

    def closer() -> None:
        connection = state.pop("connection", None)
        if connection is not None:
            connection.disconnect()
            connection.release()

    restorer = None if control is None else (lambda: _restore_served(control))
    return Target(f"pcsc:{reader}", "pcsc", persona, control is not None, opener, closer, restorer)


def _restore_served(control: str) -> None:
    """A served mynasim card: put every PIN's counter back to its limit."""
    from simulator.service.ctl import call

    for card in call(control, "GET", "/status")["cards"]:
        for key, pin in card["pins"].items():
            if pin["remaining"] != pin["max"]:
                call(
                    control, "POST", f"/cards/{card['slot']}/pins/{key}", {"remaining": pin["max"]}
                )


def parse_target(spec: str, persona: str = "default", control: str | None = None) -> Target:
    kind, _, rest = spec.partition(":")
    if kind == "inprocess":
        return _inprocess(rest or persona)
    if kind == "pcsc" and rest:
        return _pcsc(rest, persona, control)
    raise TargetError(
        f"--card-target {spec!r}: expected inprocess[:PERSONA] or pcsc:READER-SUBSTRING"
    )
