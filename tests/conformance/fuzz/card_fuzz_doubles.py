"""Deliberately broken cards for the card-fuzzer tests: each breaks one invariant.

Import with `from card_fuzz_doubles import ...` (pytest puts this folder on sys.path, as
it does tests/ for card_helpers). A factory builds the card of every fuzzer session."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from conformance.fuzz.engine import CardFactory, strict_card
from conformance.fuzz.facts import JPKI_AID
from simulator import VirtualCard
from simulator.applets.base import Session
from simulator.personalization.persona import Persona
from simulator.security.conditions import ALWAYS

Hook = Callable[[VirtualCard, bytes, bytes], bytes]


class BrokenCard(VirtualCard):
    """A strict card whose responses (and state) a hook may spoil after the fact."""

    hook: Hook | None = None

    def transmit(self, apdu: bytes) -> bytes:
        response = super().transmit(apdu)
        return response if self.hook is None else self.hook(self, apdu, response)


def factory_with(hook: Hook) -> CardFactory:
    def build(persona: Persona, state: Path) -> VirtualCard:
        card = strict_card(persona, state)
        broken = BrokenCard(persona, card._store, strict=True)
        broken.hook = hook
        return broken

    return build


def _sw(response: bytes) -> int:
    return int.from_bytes(response[-2:], "big")


def leak_key_byte(card: VirtualCard, apdu: bytes, response: bytes) -> bytes:
    """GET CHALLENGE answers carry 16 bytes of the authentication key's d."""
    if len(apdu) > 1 and apdu[1] == 0x84 and _sw(response) == 0x9000:
        key = card.persona.auth.private_key
        assert key is not None
        d = key.private_numbers().d.to_bytes(256, "big")
        return d[100:116] + response[16:]
    return response


def leak_pin(card: VirtualCard, apdu: bytes, response: bytes) -> bytes:
    """READ BINARY answers carry the signing password after the data."""
    if len(apdu) > 1 and apdu[1] == 0xB0 and _sw(response) == 0x9000:
        return response[:-2] + card.persona.sign_pin.value + response[-2:]
    return response


def refill_counters(card: VirtualCard, apdu: bytes, response: bytes) -> bytes:
    """GET DATA refills every retry counter (a rise with no right VERIFY)."""
    if len(apdu) > 1 and apdu[1] == 0xCA:
        for pin in card.pins().values():
            pin.set_remaining(pin.max_tries)
    return response


def double_decrement(card: VirtualCard, apdu: bytes, response: bytes) -> bytes:
    """A wrong VERIFY costs two tries."""
    if len(apdu) > 5 and apdu[1] == 0x20 and _sw(response) & 0xFFF0 == 0x63C0:
        for pin in card.pins().values():
            if 0 < pin.remaining < pin.max_tries:
                pin.set_remaining(pin.remaining - 1)
    return response


def corrupt_state_file(card: VirtualCard, apdu: bytes, response: bytes) -> bytes:
    """A VERIFY leaves a damaged state file behind (as a torn write would)."""
    if len(apdu) > 5 and apdu[1] == 0x20:
        path: Path = card._store.path  # type: ignore[attr-defined]
        path.write_bytes(path.read_bytes().replace(b'"remaining"', b'"remainin"', 1))
    return response


def raise_on_challenge(card: VirtualCard, apdu: bytes, response: bytes) -> bytes:
    if len(apdu) > 1 and apdu[1] == 0x84:
        raise RuntimeError("internal error in GET CHALLENGE")
    return response


def answer_6f00(card: VirtualCard, apdu: bytes, response: bytes) -> bytes:
    if len(apdu) > 1 and apdu[1] == 0xCA:
        return b"\x6f\x00"
    return response


def open_sign_certificate(persona: Persona, state: Path) -> VirtualCard:
    """JPKI EF 0001 (the signature certificate) readable without the signing password."""
    card = strict_card(persona, state)
    df = card.applets[JPKI_AID].df
    ef = df.file(0x0001)
    opened = dataclasses.replace(ef, read=ALWAYS)  # type: ignore[type-var]
    df._by_fid[0x0001] = opened
    df._by_sfi[0x01] = opened
    return card


class KeepStatusCard(VirtualCard):
    """Every application SELECT keeps the security status (and current EF) of the
    application left (section 4.3: a SELECT of another application clears it)."""

    def _select_application(self, cmd):  # type: ignore[no-untyped-def]
        kept: Session = self._session
        out = super()._select_application(cmd)
        self._session = kept
        return out


class KeepStatusOverResetCard(VirtualCard):
    """A reset of a powered card (`power_on` again, as `mynasim apdu`'s "reset" does)
    keeps the selected application and its security status."""

    def power_on(self) -> bytes:
        if not self.powered:
            return super().power_on()
        current, session, reachable = self._current, self._session, self._mf_reachable
        atr = super().power_on()
        self._current, self._session, self._mf_reachable = current, session, reachable
        return atr


def subclass_factory(cls: type[VirtualCard]) -> CardFactory:
    def build(persona: Persona, state: Path) -> VirtualCard:
        card = strict_card(persona, state)
        return cls(persona, card._store, strict=True)

    return build


# Module-level factories (the atheris child imports a factory by its name).
key_leaking_card = factory_with(leak_key_byte)
pin_leaking_card = factory_with(leak_pin)
counter_refilling_card = factory_with(refill_counters)
double_decrementing_card = factory_with(double_decrement)
state_corrupting_card = factory_with(corrupt_state_file)
raising_card = factory_with(raise_on_challenge)
answering_6f00_card = factory_with(answer_6f00)
status_keeping_card = subclass_factory(KeepStatusCard)
status_over_reset_card = subclass_factory(KeepStatusOverResetCard)
